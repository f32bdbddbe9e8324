// Handles, their guest-local configuration, versions and status strings.
#include "blas.h"
#include "guest_marker.h"
#include "status_text.h"

VGPU_DEFINE_GUEST_MARKER();

using namespace vgpu;
using namespace vgpu::guest;
using blas::valid;

extern "C" {

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  Client* c = blas::client();
  if (c == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  HandleRep rep{};
  Status s = c->call<Op::BlasCreate>(Empty{}, &rep);
  if (s != st::kOk) return s == st::kOutOfMemory ? CUBLAS_STATUS_ALLOC_FAILED : CUBLAS_STATUS_NOT_INITIALIZED;
  auto* h = new cublasContext{};
  h->magic = blas::kMagic;
  h->host = rep.handle;
  h->stream = nullptr;
  h->workspace = nullptr;
  h->workspace_bytes = 0;
  h->math_mode = CUBLAS_DEFAULT_MATH;
  h->pointer_mode = CUBLAS_POINTER_MODE_HOST;
  h->atomics_mode = CUBLAS_ATOMICS_NOT_ALLOWED;
  *handle = h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  Status s = Client::get().call<Op::BlasDestroy>(BlasDestroyReq{handle->host});
  handle->magic = 0;
  delete handle;
  return blas::from_status(s);
}

// ---- configuration: kept here, sent with every call ----------------------------
cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  // As NVIDIA's: setting the stream puts the handle back on the default workspace.
  handle->workspace = nullptr;
  handle->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* stream) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (stream == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  // cuBLAS requires 256-byte alignment of a user workspace.
  if (workspace != nullptr && reinterpret_cast<uintptr_t>(workspace) % 256 != 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (workspace == nullptr && bytes != 0) return CUBLAS_STATUS_INVALID_VALUE;
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  const unsigned m = static_cast<unsigned>(mode);
  switch (m & ~static_cast<unsigned>(CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)) {
    case CUBLAS_DEFAULT_MATH:
    case CUBLAS_TENSOR_OP_MATH:
    case CUBLAS_PEDANTIC_MATH:
    case CUBLAS_TF32_TENSOR_OP_MATH:
    case 4:  // CUBLAS_FP32_EMULATED_BF16X9_MATH
    case 8:  // CUBLAS_FP64_EMULATED_FIXEDPOINT_MATH
      break;
    default:
      return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->math_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->math_mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t* mode) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->pointer_mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetAtomicsMode(cublasHandle_t handle, cublasAtomicsMode_t mode) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_ATOMICS_NOT_ALLOWED && mode != CUBLAS_ATOMICS_ALLOWED) return CUBLAS_STATUS_INVALID_VALUE;
  handle->atomics_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetAtomicsMode(cublasHandle_t handle, cublasAtomicsMode_t* mode) {
  if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->atomics_mode;
  return CUBLAS_STATUS_SUCCESS;
}

// ---- versions ------------------------------------------------------------------------
cublasStatus_t CUBLASWINAPI cublasGetVersion_v2(cublasHandle_t, int* version) {
  if (version == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *version = VGPU_BLAS_MAJOR * 10000 + VGPU_BLAS_MINOR * 100 + VGPU_BLAS_PATCH;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasGetProperty(libraryPropertyType type, int* value) {
  if (value == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  switch (type) {
    case MAJOR_VERSION: *value = VGPU_BLAS_MAJOR; return CUBLAS_STATUS_SUCCESS;
    case MINOR_VERSION: *value = VGPU_BLAS_MINOR; return CUBLAS_STATUS_SUCCESS;
    case PATCH_LEVEL: *value = VGPU_BLAS_PATCH; return CUBLAS_STATUS_SUCCESS;
  }
  return CUBLAS_STATUS_INVALID_VALUE;
}

size_t CUBLASWINAPI cublasGetCudartVersion(void) { return VGPU_BLAS_CUDART; }

// ---- status strings (NVIDIA's wording) -------------------------------------------------
const char* CUBLASWINAPI cublasGetStatusName(cublasStatus_t status) { return blas::status_name(status); }
const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) { return blas::status_string(status); }

}  // extern "C"
