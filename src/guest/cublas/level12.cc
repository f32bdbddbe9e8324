// Level-1 and level-2 routines: Saxpy, Sscal, Sdot, Snrm2, Sgemv (single
// precision) and DotEx. One synchronous BlasL12 call each (Sdot/Snrm2 answer a value; the
// others are cheap enough that the round trip buys exact cuBLAS statuses).
//
// Scalars (alpha, beta) travel by value. In device pointer mode they are read
// from device memory first, on the handle's stream; a device-resident result
// of Sdot/Snrm2 is written by the host's cuBLAS where the caller pointed.
#include <algorithm>
#include <cstring>

#include "blas.h"

using namespace vgpu;
using namespace vgpu::guest;

namespace {

cublasStatus_t run(const BlasL12Req& r, float* host_result) {
  BlasRep rep{};
  Status s = Client::get().call<Op::BlasL12>(r, &rep);
  if (s != st::kOk) return blas::from_status(s);
  if (rep.status != CUBLAS_STATUS_SUCCESS) return static_cast<cublasStatus_t>(rep.status);
  if (host_result) *host_result = rep.value;
  return CUBLAS_STATUS_SUCCESS;
}

// alpha (and beta) by value, whatever the pointer mode.
cublasStatus_t scalars(cublasHandle_t h, const float* alpha, const float* beta, BlasL12Req& r) {
  if (h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
    if (alpha)
      if (cublasStatus_t s = blas::read_device_scalar(h, alpha, &r.alpha, sizeof r.alpha)) return s;
    if (beta)
      if (cublasStatus_t s = blas::read_device_scalar(h, beta, &r.beta, sizeof r.beta)) return s;
    r.s.pointer_mode = 0;
  } else {
    if (alpha) r.alpha = *alpha;
    if (beta) r.beta = *beta;
  }
  return CUBLAS_STATUS_SUCCESS;
}

BlasL12Req request(cublasHandle_t h, BlasL12 routine) {
  BlasL12Req r{};
  r.s = blas::state_of(h);
  r.routine = static_cast<uint32_t>(routine);
  return r;
}

}  // namespace

extern "C" {

cublasStatus_t CUBLASWINAPI cublasSaxpy_v2(cublasHandle_t handle, int n, const float* alpha, const float* x, int incx,
                                           float* y, int incy) {
  if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (alpha == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (n <= 0) return CUBLAS_STATUS_SUCCESS;
  BlasL12Req r = request(handle, BlasL12::kSaxpy);
  if (cublasStatus_t s = scalars(handle, alpha, nullptr, r)) return s;
  r.n = n;
  r.x = reinterpret_cast<DevPtr>(x);
  r.incx = incx;
  r.y = reinterpret_cast<DevPtr>(y);
  r.incy = incy;
  return run(r, nullptr);
}

cublasStatus_t CUBLASWINAPI cublasSscal_v2(cublasHandle_t handle, int n, const float* alpha, float* x, int incx) {
  if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (alpha == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (n <= 0 || incx <= 0) return CUBLAS_STATUS_SUCCESS;
  BlasL12Req r = request(handle, BlasL12::kSscal);
  if (cublasStatus_t s = scalars(handle, alpha, nullptr, r)) return s;
  r.n = n;
  r.x = reinterpret_cast<DevPtr>(x);
  r.incx = incx;
  return run(r, nullptr);
}

cublasStatus_t CUBLASWINAPI cublasSdot_v2(cublasHandle_t handle, int n, const float* x, int incx, const float* y,
                                          int incy, float* result) {
  if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (result == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  BlasL12Req r = request(handle, BlasL12::kSdot);
  r.n = n;
  r.x = reinterpret_cast<DevPtr>(x);
  r.incx = incx;
  r.y = reinterpret_cast<DevPtr>(y);
  r.incy = incy;
  if (handle->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
    r.a = reinterpret_cast<DevPtr>(result);  // the host's cuBLAS writes it there
    return run(r, nullptr);
  }
  return run(r, result);
}

// A dot product in other types (PyTorch's torch.dot and 1-D matmul of half
// and bfloat16 come here): x, y and the result in half, bfloat16 or float,
// summed in float. In host pointer mode the result comes back as its own
// bytes.
cublasStatus_t CUBLASWINAPI cublasDotEx(cublasHandle_t handle, int n, const void* x, cudaDataType xType, int incx,
                                        const void* y, cudaDataType yType, int incy, void* result,
                                        cudaDataType resultType, cudaDataType executionType) {
  if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (result == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  // The combinations NVIDIA's cuBLAS takes for real types: x, y and the result
  // of one type (half, bfloat16 or float), float execution. It refuses a float
  // result of half inputs (measured on the H200); so do we, on either backend.
  const bool real = xType == CUDA_R_32F || xType == CUDA_R_16F || xType == CUDA_R_16BF;
  if (!real || yType != xType || resultType != xType || executionType != CUDA_R_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  BlasL12Req r = request(handle, BlasL12::kDotEx);
  r.n = n;
  r.x = reinterpret_cast<DevPtr>(x);
  r.incx = incx;
  r.y = reinterpret_cast<DevPtr>(y);
  r.incy = incy;
  r.types = static_cast<uint32_t>(xType) | static_cast<uint32_t>(yType) << 8 | static_cast<uint32_t>(resultType) << 16 |
            static_cast<uint32_t>(executionType) << 24;
  if (handle->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
    r.a = reinterpret_cast<DevPtr>(result);
    return run(r, nullptr);
  }
  float bytes = 0;
  if (cublasStatus_t s = run(r, &bytes)) return s;
  std::memcpy(result, &bytes, resultType == CUDA_R_32F ? 4 : 2);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSnrm2_v2(cublasHandle_t handle, int n, const float* x, int incx, float* result) {
  if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (result == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  BlasL12Req r = request(handle, BlasL12::kSnrm2);
  r.n = n;
  r.x = reinterpret_cast<DevPtr>(x);
  r.incx = incx;
  if (handle->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
    r.a = reinterpret_cast<DevPtr>(result);
    return run(r, nullptr);
  }
  return run(r, result);
}

cublasStatus_t CUBLASWINAPI cublasSgemv_v2(cublasHandle_t handle, cublasOperation_t trans, int m, int n,
                                           const float* alpha, const float* A, int lda, const float* x, int incx,
                                           const float* beta, float* y, int incy) {
  if (!blas::valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if ((trans != CUBLAS_OP_N && trans != CUBLAS_OP_T && trans != CUBLAS_OP_C) || m < 0 || n < 0 ||
      lda < std::max(1, m) || incx == 0 || incy == 0 || alpha == nullptr || beta == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  BlasL12Req r = request(handle, BlasL12::kSgemv);
  if (cublasStatus_t s = scalars(handle, alpha, beta, r)) return s;
  r.trans = trans;
  r.m = m;
  r.n = n;
  r.a = reinterpret_cast<DevPtr>(A);
  r.lda = lda;
  r.x = reinterpret_cast<DevPtr>(x);
  r.incx = incx;
  r.y = reinterpret_cast<DevPtr>(y);
  r.incy = incy;
  return run(r, nullptr);
}

}  // extern "C"
