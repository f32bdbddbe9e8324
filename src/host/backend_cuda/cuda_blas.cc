// CudaBackend: cuBLAS. One real cublasHandle_t per guest handle; the guest
// sends the handle's state (stream, math mode, workspace, pointer mode) with
// every call and we apply only what changed since the last call on that
// handle, so a steady stream of GEMMs costs one cuBLAS call each.
//
// cuBLAS runs on the CUDA runtime, which adopts the context current on the
// calling thread: the device's primary context that init() made current on
// the executor thread, so its allocations and streams are ours.
#include <cstring>

#include "cuda_backend.h"

namespace vgpu::host::cuda {

namespace {
// CUstream and cudaStream_t are the same type (struct CUstream_st*); the
// legacy default stream is 0x1 in both APIs.
inline cudaStream_t to_rt(CUstream s) { return s; }
}  // namespace

CudaBackend::BlasCache* CudaBackend::blas_cache(Native h) {
  auto it = blas_.find(from_native<cublasHandle_t>(h));
  return it == blas_.end() ? nullptr : &it->second;
}

Status CudaBackend::blas_create(Native* out) {
  *out = 0;
  cublasHandle_t h = nullptr;
  cublasStatus_t s = cublasCreate(&h);
  if (s != CUBLAS_STATUS_SUCCESS) {
    log("cublasCreate failed: %s (%d)", cublasGetStatusName(s), static_cast<int>(s));
    // Not a CUresult: report it as the closest driver status.
    return s == CUBLAS_STATUS_ALLOC_FAILED ? st::kOutOfMemory : st::kNotInitialized;
  }
  blas_.emplace(h, BlasCache{});
  *out = to_native(h);
  return st::kOk;
}

Status CudaBackend::blas_destroy(Native h) {
  auto ch = from_native<cublasHandle_t>(h);
  auto it = blas_.find(ch);
  if (it == blas_.end()) return st::kInvalidHandle;
  cublasStatus_t s = cublasDestroy(ch);
  blas_.erase(it);
  return s == CUBLAS_STATUS_SUCCESS ? st::kOk : st::kUnknown;
}

// Order matters: cublasSetStream resets the workspace to cuBLAS's default
// pool, so the stream goes first and a user workspace is (re)applied after.
// Guest workspace 0/0 means "the default pool" (what the guest has after
// cublasCreate or cublasSetStream); getting back to it from a user workspace
// is done with cublasSetStream on the current stream.
cublasStatus_t CudaBackend::blas_apply(cublasHandle_t h, BlasCache& c, CUstream stream, const BlasState& s,
                                       uint32_t pointer_mode) {
  cublasStatus_t r;
  if (c.stream != stream) {
    if ((r = cublasSetStream(h, to_rt(stream))) != CUBLAS_STATUS_SUCCESS) return r;
    c.stream = stream;
    c.workspace = 0;
    c.workspace_bytes = 0;
  }
  if (c.workspace != s.workspace || c.workspace_bytes != s.workspace_bytes) {
    if (s.workspace == 0 && s.workspace_bytes == 0)
      r = cublasSetStream(h, to_rt(stream));
    else
      r = cublasSetWorkspace(h, reinterpret_cast<void*>(static_cast<uintptr_t>(s.workspace)),
                             static_cast<size_t>(s.workspace_bytes));
    if (r != CUBLAS_STATUS_SUCCESS) return r;
    c.workspace = s.workspace;
    c.workspace_bytes = s.workspace_bytes;
  }
  if (c.math_mode != s.math_mode) {
    if ((r = cublasSetMathMode(h, static_cast<cublasMath_t>(s.math_mode))) != CUBLAS_STATUS_SUCCESS) return r;
    c.math_mode = s.math_mode;
  }
  if (c.pointer_mode != pointer_mode) {
    if ((r = cublasSetPointerMode(h, pointer_mode ? CUBLAS_POINTER_MODE_DEVICE : CUBLAS_POINTER_MODE_HOST)) !=
        CUBLAS_STATUS_SUCCESS)
      return r;
    c.pointer_mode = pointer_mode;
  }
  return CUBLAS_STATUS_SUCCESS;
}

// Hot path (decode issues many GEMMs): no allocation, no logging.
Status CudaBackend::blas_gemm(Native h, Native stream, const GemmReq& r, int* blas_status) {
  BlasCache* c = blas_cache(h);
  if (c == nullptr) {
    *blas_status = CUBLAS_STATUS_NOT_INITIALIZED;
    return st::kInvalidHandle;
  }
  if (r.s.pointer_mode > 1) {
    *blas_status = CUBLAS_STATUS_INVALID_VALUE;
    return st::kOk;
  }
  auto ch = from_native<cublasHandle_t>(h);
  cublasStatus_t s = blas_apply(ch, *c, to_cu_stream(stream), r.s, r.s.pointer_mode);
  if (s != CUBLAS_STATUS_SUCCESS) {
    *blas_status = s;
    return st::kOk;
  }

  // Host pointer mode: alpha/beta are the compute type's scalar (half for
  // CUBLAS_COMPUTE_16F, float for 32F*, double for 64F, int for 32I, the
  // complex pair for complex C types) as the guest packed them; cuBLAS reads
  // them during the call, so a local aligned copy will do. Device pointer
  // mode: the first 8 bytes are device addresses.
  alignas(16) unsigned char alpha[16], beta[16];
  const void* pa;
  const void* pb;
  if (r.s.pointer_mode == 0) {
    std::memcpy(alpha, r.alpha, sizeof alpha);
    std::memcpy(beta, r.beta, sizeof beta);
    pa = alpha;
    pb = beta;
  } else {
    uint64_t da = 0, db = 0;
    std::memcpy(&da, r.alpha, sizeof da);
    std::memcpy(&db, r.beta, sizeof db);
    pa = reinterpret_cast<const void*>(static_cast<uintptr_t>(da));
    pb = reinterpret_cast<const void*>(static_cast<uintptr_t>(db));
  }

  const auto ta = static_cast<cublasOperation_t>(r.transa);
  const auto tb = static_cast<cublasOperation_t>(r.transb);
  const auto at = static_cast<cudaDataType>(r.a_type);
  const auto bt = static_cast<cudaDataType>(r.b_type);
  const auto ct = static_cast<cudaDataType>(r.c_type);
  const auto comp = static_cast<cublasComputeType_t>(r.compute_type);
  const auto algo = static_cast<cublasGemmAlgo_t>(r.algo);
  auto ptr = [](DevPtr p) { return reinterpret_cast<void*>(static_cast<uintptr_t>(p)); };

  switch (r.batch_kind) {
    case kGemmSingle:
      s = cublasGemmEx(ch, ta, tb, r.m, r.n, r.k, pa, ptr(r.a), at, r.lda, ptr(r.b), bt, r.ldb, pb, ptr(r.c), ct,
                       r.ldc, comp, algo);
      break;
    case kGemmStrided:
      s = cublasGemmStridedBatchedEx(ch, ta, tb, r.m, r.n, r.k, pa, ptr(r.a), at, r.lda, r.stride_a, ptr(r.b), bt,
                                     r.ldb, r.stride_b, pb, ptr(r.c), ct, r.ldc, r.stride_c, r.batch_count, comp,
                                     algo);
      break;
    case kGemmBatched:
      s = cublasGemmBatchedEx(ch, ta, tb, r.m, r.n, r.k, pa, static_cast<const void* const*>(ptr(r.a)), at, r.lda,
                              static_cast<const void* const*>(ptr(r.b)), bt, r.ldb, pb,
                              static_cast<void* const*>(ptr(r.c)), ct, r.ldc, r.batch_count, comp, algo);
      break;
    default:
      s = CUBLAS_STATUS_INVALID_VALUE;
      break;
  }
  *blas_status = s;
  return st::kOk;
}

Status CudaBackend::blas_trsm_batched(Native h, Native stream, const TrsmBatchedReq& r, int* blas_status) {
  BlasCache* c = blas_cache(h);
  if (c == nullptr) {
    *blas_status = CUBLAS_STATUS_NOT_INITIALIZED;
    return st::kInvalidHandle;
  }
  auto ch = from_native<cublasHandle_t>(h);
  // alpha travels by value: host pointer mode whatever the guest's mode is.
  cublasStatus_t s = blas_apply(ch, *c, to_cu_stream(stream), r.s, 0);
  if (s == CUBLAS_STATUS_SUCCESS) {
    const float alpha = r.alpha;
    s = cublasStrsmBatched(ch, static_cast<cublasSideMode_t>(r.side), static_cast<cublasFillMode_t>(r.uplo),
                           static_cast<cublasOperation_t>(r.trans), static_cast<cublasDiagType_t>(r.diag), r.m, r.n,
                           &alpha, reinterpret_cast<const float* const*>(static_cast<uintptr_t>(r.a)), r.lda,
                           reinterpret_cast<float* const*>(static_cast<uintptr_t>(r.b)), r.ldb, r.batch_count);
  }
  *blas_status = s;
  return st::kOk;
}

Status CudaBackend::blas_l12(Native h, Native stream, const BlasL12Req& r, float* value, int* blas_status) {
  if (value) *value = 0.f;
  BlasCache* c = blas_cache(h);
  if (c == nullptr) {
    *blas_status = CUBLAS_STATUS_NOT_INITIALIZED;
    return st::kInvalidHandle;
  }
  auto ch = from_native<cublasHandle_t>(h);
  auto f = [](DevPtr p) { return reinterpret_cast<float*>(static_cast<uintptr_t>(p)); };
  const auto routine = static_cast<BlasL12>(r.routine);
  // Only the result of Sdot/Snrm2/DotEx may live on the device (at r.a);
  // alpha and beta travel by value.
  const bool device_result =
      (routine == BlasL12::kSdot || routine == BlasL12::kSnrm2 || routine == BlasL12::kDotEx) && r.s.pointer_mode == 1;
  cublasStatus_t s = blas_apply(ch, *c, to_cu_stream(stream), r.s, device_result ? 1 : 0);
  if (s != CUBLAS_STATUS_SUCCESS) {
    *blas_status = s;
    return st::kOk;
  }
  const float alpha = r.alpha, beta = r.beta;
  float host_result = 0.f;
  float* result = device_result ? f(r.a) : &host_result;
  switch (routine) {
    case BlasL12::kSaxpy:
      s = cublasSaxpy(ch, r.n, &alpha, f(r.x), r.incx, f(r.y), r.incy);
      break;
    case BlasL12::kSscal:
      s = cublasSscal(ch, r.n, &alpha, f(r.x), r.incx);
      break;
    case BlasL12::kSdot:
      s = cublasSdot(ch, r.n, f(r.x), r.incx, f(r.y), r.incy, result);
      break;
    case BlasL12::kSnrm2:
      s = cublasSnrm2(ch, r.n, f(r.x), r.incx, result);
      break;
    case BlasL12::kSgemv:
      s = cublasSgemv(ch, static_cast<cublasOperation_t>(r.trans), r.m, r.n, &alpha, f(r.a), r.lda, f(r.x), r.incx,
                      &beta, f(r.y), r.incy);
      break;
    case BlasL12::kDotEx: {
      // The result in its own type (cuBLAS checks the combination); in host
      // pointer mode its bytes travel in the reply's float, unconverted.
      auto type = [&](int i) { return static_cast<cudaDataType>((r.types >> (8 * i)) & 0xff); };
      // The guest names the types: only real types of at most 4 bytes (what
      // the reply carries, and all our cublasDotEx sends), float execution.
      // cuBLAS itself would accept complex doubles and write 16 bytes here.
      auto small_real = [](cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF; };
      if (!small_real(type(0)) || !small_real(type(1)) || !small_real(type(2)) || type(3) != CUDA_R_32F) {
        s = CUBLAS_STATUS_NOT_SUPPORTED;
        break;
      }
      alignas(8) unsigned char bytes[8] = {};
      void* out = device_result ? reinterpret_cast<void*>(static_cast<uintptr_t>(r.a)) : bytes;
      s = cublasDotEx(ch, r.n, f(r.x), type(0), r.incx, f(r.y), type(1), r.incy, out, type(2), type(3));
      if (!device_result) std::memcpy(&host_result, bytes, sizeof host_result);
      break;
    }
    default:
      s = CUBLAS_STATUS_INVALID_VALUE;
      break;
  }
  if (!device_result && value && s == CUBLAS_STATUS_SUCCESS) std::memcpy(value, &host_result, sizeof host_result);
  *blas_status = s;
  return st::kOk;
}

}  // namespace vgpu::host::cuda
