// What libcublas and libcublasLt share: the client they talk through, and
// the wire's statuses as cuBLAS statuses. Compiled into both libraries.
#include "blas.h"

namespace vgpu::guest::blas {

cublasStatus_t from_status(Status s) {
  switch (s) {
    case st::kOk: return CUBLAS_STATUS_SUCCESS;
    case st::kInvalidValue: return CUBLAS_STATUS_INVALID_VALUE;
    case st::kOutOfMemory: return CUBLAS_STATUS_ALLOC_FAILED;
    case st::kInvalidHandle:
    case st::kNotInitialized:
    case st::kDeinitialized:
    case st::kNoDevice:
    case st::kInvalidDevice: return CUBLAS_STATUS_NOT_INITIALIZED;
    case st::kNotSupported: return CUBLAS_STATUS_NOT_SUPPORTED;
    case st::kIllegalAddress:
    case st::kLaunchFailed:
    case st::kLaunchOutOfResources: return CUBLAS_STATUS_EXECUTION_FAILED;
    default: return CUBLAS_STATUS_INTERNAL_ERROR;
  }
}

Client* client() {
  // NVIDIA's cuBLAS initialises the CUDA runtime, which calls cuInit; without
  // a visible device (no host, or CUDA_VISIBLE_DEVICES hides it) it fails.
  if (cuInit(0) != CUDA_SUCCESS) return nullptr;
  Client& c = Client::get();
  return c.status() == st::kOk ? &c : nullptr;
}

cublasStatus_t read_device_scalar(cublasHandle_t h, const void* dptr, void* out, size_t bytes) {
  if (dptr == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  Status s = Client::get().copy_dtoh(out, reinterpret_cast<DevPtr>(dptr), bytes, reinterpret_cast<Handle>(h->stream),
                                     true);
  return s == st::kOk ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace vgpu::guest::blas
