// GEMMs (single, strided batched, pointer-array batched) and trsm batched.
//
// Every GEMM flavour becomes one GemmReq: the typed routines (Sgemm, Dgemm,
// Hgemm and their batched forms, SgemmEx) are the GemmEx call with the types
// and compute type they are defined as. Arguments are checked here as cuBLAS
// checks them (CUBLAS_STATUS_INVALID_VALUE before anything is sent); the
// request is then posted, as a GEMM launch is asynchronous. A failure the host
// meets later (an unsupported type combination, a bad device address) comes
// back like a failed kernel launch, at the next synchronising CUDA call.
#include <algorithm>
#include <cstring>

#include "blas.h"

using namespace vgpu;
using namespace vgpu::guest;

namespace {

bool complex_type(int t) {
  switch (t) {
    case CUDA_C_16F: case CUDA_C_16BF: case CUDA_C_32F: case CUDA_C_64F: case CUDA_C_4I: case CUDA_C_4U:
    case CUDA_C_8I: case CUDA_C_8U: case CUDA_C_16I: case CUDA_C_16U: case CUDA_C_32I: case CUDA_C_32U:
    case CUDA_C_64I: case CUDA_C_64U:
      return true;
    default:
      return false;
  }
}

// Old code passes a cudaDataType as the compute type (cuBLAS 10's signature);
// NVIDIA's header maps it for C++ callers (cublasMigrateComputeType), binaries
// built from C pass it as it is. Both end here as the compute type cuBLAS 11+
// means, pedantic when the handle's math mode is.
bool migrate_compute(cublasHandle_t h, int* compute) {
  if (*compute >= CUBLAS_COMPUTE_16F) return true;
  const bool pedantic = (static_cast<unsigned>(h->math_mode) & 0xf) == CUBLAS_PEDANTIC_MATH;
  switch (*compute) {
    case CUDA_R_32F: case CUDA_C_32F:
      *compute = pedantic ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F; return true;
    case CUDA_R_64F: case CUDA_C_64F:
      *compute = pedantic ? CUBLAS_COMPUTE_64F_PEDANTIC : CUBLAS_COMPUTE_64F; return true;
    case CUDA_R_16F:
      *compute = pedantic ? CUBLAS_COMPUTE_16F_PEDANTIC : CUBLAS_COMPUTE_16F; return true;
    case CUDA_R_32I:
      *compute = pedantic ? CUBLAS_COMPUTE_32I_PEDANTIC : CUBLAS_COMPUTE_32I; return true;
    default:
      return false;
  }
}

// Bytes of alpha/beta: the compute type's scalar (half for 16F, float for
// 32F*, double for 64F*, int for 32I*), a pair of them for complex C; 0 if
// the compute type is not one we know.
size_t scalar_bytes(int compute, int c_type) {
  size_t b = 0;
  switch (compute) {
    case CUBLAS_COMPUTE_16F: case CUBLAS_COMPUTE_16F_PEDANTIC:
      b = 2; break;
    case CUBLAS_COMPUTE_32F: case CUBLAS_COMPUTE_32F_PEDANTIC: case CUBLAS_COMPUTE_32F_FAST_16F:
    case CUBLAS_COMPUTE_32F_FAST_16BF: case CUBLAS_COMPUTE_32F_FAST_TF32: case 78:  // _EMULATED_16BFX9
    case CUBLAS_COMPUTE_32I: case CUBLAS_COMPUTE_32I_PEDANTIC:
      b = 4; break;
    case CUBLAS_COMPUTE_64F: case CUBLAS_COMPUTE_64F_PEDANTIC: case 79:  // _EMULATED_FIXEDPOINT
      b = 8; break;
    default:
      return 0;
  }
  return complex_type(c_type) ? 2 * b : b;
}

// The compute type the typed routines (Sgemm, Dgemm, Hgemm) are defined with.
int typed_compute(cublasHandle_t h, int base, int pedantic) {
  return (static_cast<unsigned>(h->math_mode) & 0xf) == CUBLAS_PEDANTIC_MATH ? pedantic : base;
}

struct Gemm {
  uint32_t kind;
  int transa, transb, m, n, k;
  const void* alpha;
  const void* a;
  int a_type, lda;
  long long stride_a;
  const void* b;
  int b_type, ldb;
  long long stride_b;
  const void* beta;
  const void* c;
  int c_type, ldc;
  long long stride_c;
  int batch;
  int compute;
  int algo;
};

cublasStatus_t gemm(cublasHandle_t h, Gemm g) {
  if (!blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  auto op_ok = [](int t) { return t == CUBLAS_OP_N || t == CUBLAS_OP_T || t == CUBLAS_OP_C; };
  if (!op_ok(g.transa) || !op_ok(g.transb)) return CUBLAS_STATUS_INVALID_VALUE;
  if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  const int rows_a = g.transa == CUBLAS_OP_N ? g.m : g.k;
  const int rows_b = g.transb == CUBLAS_OP_N ? g.k : g.n;
  if (g.lda < std::max(1, rows_a) || g.ldb < std::max(1, rows_b) || g.ldc < std::max(1, g.m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (g.alpha == nullptr || g.beta == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (!migrate_compute(h, &g.compute)) return CUBLAS_STATUS_NOT_SUPPORTED;
  const size_t sb = scalar_bytes(g.compute, g.c_type);
  if (sb == 0) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (g.m == 0 || g.n == 0 || g.batch == 0) return CUBLAS_STATUS_SUCCESS;  // nothing to do, as cuBLAS

  GemmReq r{};
  r.s = blas::state_of(h);
  r.batch_kind = g.kind;
  r.transa = g.transa;
  r.transb = g.transb;
  r.m = g.m;
  r.n = g.n;
  r.k = g.k;
  r.a_type = g.a_type;
  r.b_type = g.b_type;
  r.c_type = g.c_type;
  r.compute_type = g.compute;
  r.algo = g.algo;
  r.lda = g.lda;
  r.ldb = g.ldb;
  r.ldc = g.ldc;
  r.batch_count = g.kind == kGemmSingle ? 1 : g.batch;
  r.a = reinterpret_cast<DevPtr>(g.a);
  r.b = reinterpret_cast<DevPtr>(g.b);
  r.c = reinterpret_cast<DevPtr>(g.c);
  r.stride_a = g.stride_a;
  r.stride_b = g.stride_b;
  r.stride_c = g.stride_c;
  if (h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
    const DevPtr pa = reinterpret_cast<DevPtr>(g.alpha), pb = reinterpret_cast<DevPtr>(g.beta);
    std::memcpy(r.alpha, &pa, sizeof pa);
    std::memcpy(r.beta, &pb, sizeof pb);
  } else {
    std::memcpy(r.alpha, g.alpha, sb);
    std::memcpy(r.beta, g.beta, sb);
  }
  return blas::from_status(Client::get().post<Op::BlasGemm>(r));
}

}  // namespace

extern "C" {

// ---- the general forms -------------------------------------------------------------
cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                         int lda, const void* B, cudaDataType Btype, int ldb, const void* beta, void* C,
                                         cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                                         cublasGemmAlgo_t algo) {
  return gemm(handle, {kGemmSingle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C,
                       Ctype, ldc, 0, 1, computeType, algo});
}

cublasStatus_t CUBLASWINAPI cublasGemmBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                                cublasOperation_t transb, int m, int n, int k, const void* alpha,
                                                const void* const Aarray[], cudaDataType Atype, int lda,
                                                const void* const Barray[], cudaDataType Btype, int ldb,
                                                const void* beta, void* const Carray[], cudaDataType Ctype, int ldc,
                                                int batchCount, cublasComputeType_t computeType,
                                                cublasGemmAlgo_t algo) {
  return gemm(handle, {kGemmBatched, transa, transb, m, n, k, alpha, Aarray, Atype, lda, 0, Barray, Btype, ldb, 0,
                       beta, Carray, Ctype, ldc, 0, batchCount, computeType, algo});
}

cublasStatus_t CUBLASWINAPI cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                                       cublasOperation_t transb, int m, int n, int k,
                                                       const void* alpha, const void* A, cudaDataType Atype, int lda,
                                                       long long int strideA, const void* B, cudaDataType Btype,
                                                       int ldb, long long int strideB, const void* beta, void* C,
                                                       cudaDataType Ctype, int ldc, long long int strideC,
                                                       int batchCount, cublasComputeType_t computeType,
                                                       cublasGemmAlgo_t algo) {
  return gemm(handle, {kGemmStrided, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB,
                       beta, C, Ctype, ldc, strideC, batchCount, computeType, algo});
}

cublasStatus_t CUBLASWINAPI cublasSgemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const float* alpha, const void* A, cudaDataType Atype,
                                          int lda, const void* B, cudaDataType Btype, int ldb, const float* beta,
                                          void* C, cudaDataType Ctype, int ldc) {
  if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  return gemm(handle, {kGemmSingle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C,
                       Ctype, ldc, 0, 1, typed_compute(handle, CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_PEDANTIC),
                       CUBLAS_GEMM_DEFAULT});
}

// ---- typed: float, double, half -------------------------------------------------------
#define VGPU_TYPED_GEMMS(P, T, DT, C, CP)                                                                          \
  cublasStatus_t CUBLASWINAPI P##_single(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, \
                                         int m, int n, int k, const T* alpha, const T* A, int lda, const T* B,      \
                                         int ldb, const T* beta, T* C_, int ldc) {                                  \
    if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;                                                 \
    return gemm(handle, {kGemmSingle, transa, transb, m, n, k, alpha, A, DT, lda, 0, B, DT, ldb, 0, beta, C_, DT,   \
                         ldc, 0, 1, typed_compute(handle, C, CP), CUBLAS_GEMM_DEFAULT});                            \
  }                                                                                                                 \
  cublasStatus_t CUBLASWINAPI P##Batched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, \
                                         int m, int n, int k, const T* alpha, const T* const Aarray[], int lda,     \
                                         const T* const Barray[], int ldb, const T* beta, T* const Carray[],        \
                                         int ldc, int batchCount) {                                                 \
    if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;                                                 \
    return gemm(handle, {kGemmBatched, transa, transb, m, n, k, alpha, Aarray, DT, lda, 0, Barray, DT, ldb, 0,      \
                         beta, Carray, DT, ldc, 0, batchCount, typed_compute(handle, C, CP), CUBLAS_GEMM_DEFAULT});  \
  }                                                                                                                 \
  cublasStatus_t CUBLASWINAPI P##StridedBatched(                                                                    \
      cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,               \
      const T* alpha, const T* A, int lda, long long int strideA, const T* B, int ldb, long long int strideB,       \
      const T* beta, T* C_, int ldc, long long int strideC, int batchCount) {                                       \
    if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;                                                 \
    return gemm(handle, {kGemmStrided, transa, transb, m, n, k, alpha, A, DT, lda, strideA, B, DT, ldb, strideB,    \
                         beta, C_, DT, ldc, strideC, batchCount, typed_compute(handle, C, CP),                      \
                         CUBLAS_GEMM_DEFAULT});                                                                     \
  }

// The single forms are renamed below to their exported names (cublasSgemm_v2,
// cublasDgemm_v2, cublasHgemm); the batched ones already carry theirs.
#define cublasSgemm_single cublasSgemm_v2
#define cublasDgemm_single cublasDgemm_v2
#define cublasHgemm_single cublasHgemm
VGPU_TYPED_GEMMS(cublasSgemm, float, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_PEDANTIC)
VGPU_TYPED_GEMMS(cublasDgemm, double, CUDA_R_64F, CUBLAS_COMPUTE_64F, CUBLAS_COMPUTE_64F_PEDANTIC)
VGPU_TYPED_GEMMS(cublasHgemm, __half, CUDA_R_16F, CUBLAS_COMPUTE_16F, CUBLAS_COMPUTE_16F_PEDANTIC)
#undef VGPU_TYPED_GEMMS

// ---- trsm batched (float) -------------------------------------------------------------
cublasStatus_t CUBLASWINAPI cublasStrsmBatched(cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo,
                                               cublasOperation_t trans, cublasDiagType_t diag, int m, int n,
                                               const float* alpha, const float* const A[], int lda,
                                               float* const B[], int ldb, int batchCount) {
  if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if ((side != CUBLAS_SIDE_LEFT && side != CUBLAS_SIDE_RIGHT) ||
      (uplo != CUBLAS_FILL_MODE_LOWER && uplo != CUBLAS_FILL_MODE_UPPER) ||
      (trans != CUBLAS_OP_N && trans != CUBLAS_OP_T && trans != CUBLAS_OP_C) ||
      (diag != CUBLAS_DIAG_NON_UNIT && diag != CUBLAS_DIAG_UNIT))
    return CUBLAS_STATUS_INVALID_VALUE;
  const int ka = side == CUBLAS_SIDE_LEFT ? m : n;
  if (m < 0 || n < 0 || batchCount < 0 || lda < std::max(1, ka) || ldb < std::max(1, m) || alpha == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;

  TrsmBatchedReq r{};
  r.s = blas::state_of(handle);
  // alpha travels by value: a device-pointer alpha is read first, in stream order.
  if (handle->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
    if (cublasStatus_t s = blas::read_device_scalar(handle, alpha, &r.alpha, sizeof r.alpha)) return s;
    r.s.pointer_mode = 0;
  } else {
    r.alpha = *alpha;
  }
  r.side = side;
  r.uplo = uplo;
  r.trans = trans;
  r.diag = diag;
  r.m = m;
  r.n = n;
  r.lda = lda;
  r.ldb = ldb;
  r.batch_count = batchCount;
  r.a = reinterpret_cast<DevPtr>(A);
  r.b = reinterpret_cast<DevPtr>(B);
  return blas::from_status(Client::get().post<Op::BlasTrsmBatched>(r));
}

}  // extern "C"
