// libcublasLt.so.13 / .12: handles, versions and status strings. The
// descriptors are in lt_desc.cc, heuristics and matmuls in lt_matmul.cc;
// every other cublasLt* entry point (algo enumeration and configuration,
// matrix transforms, emulation descriptors, logging) is refused with
// CUBLAS_STATUS_NOT_SUPPORTED by the generated stubs (refusals.cmake).
// cuBLASLt shares cuBLAS's version numbers.
#include "guest_marker.h"
#include "lt.h"
#include "status_text.h"

#if VGPU_BLAS_FLAVOUR == 13
#define VGPU_LT_MAJOR CUBLAS_VER_MAJOR
#define VGPU_LT_MINOR CUBLAS_VER_MINOR
#define VGPU_LT_PATCH CUBLAS_VER_PATCH
#define VGPU_LT_CUDART 13000
#elif VGPU_BLAS_FLAVOUR == 12
#define VGPU_LT_MAJOR 12
#define VGPU_LT_MINOR 9
#define VGPU_LT_PATCH 1
#define VGPU_LT_CUDART 12090
#else
#error "VGPU_BLAS_FLAVOUR must be 12 or 13"
#endif

VGPU_DEFINE_GUEST_MARKER();

extern "C" {

// The host's cuBLASLt handle is made on the session's first heuristic or
// matmul (one per session); creating ours checks that there is a host.
cublasStatus_t CUBLASWINAPI cublasLtCreate(cublasLtHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (vgpu::guest::blas::client() == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  *handle = new cublasLtContext{vgpu::guest::blaslt::kHandleMagic};
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtDestroy(cublasLtHandle_t handle) {
  if (handle == nullptr || handle->magic != vgpu::guest::blaslt::kHandleMagic) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->magic = 0;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

size_t CUBLASWINAPI cublasLtGetVersion(void) {
  return VGPU_LT_MAJOR * 10000 + VGPU_LT_MINOR * 100 + VGPU_LT_PATCH;
}

size_t CUBLASWINAPI cublasLtGetCudartVersion(void) { return VGPU_LT_CUDART; }

cublasStatus_t CUBLASWINAPI cublasLtGetProperty(libraryPropertyType type, int* value) {
  if (value == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  switch (type) {
    case MAJOR_VERSION: *value = VGPU_LT_MAJOR; return CUBLAS_STATUS_SUCCESS;
    case MINOR_VERSION: *value = VGPU_LT_MINOR; return CUBLAS_STATUS_SUCCESS;
    case PATCH_LEVEL: *value = VGPU_LT_PATCH; return CUBLAS_STATUS_SUCCESS;
  }
  return CUBLAS_STATUS_INVALID_VALUE;
}

const char* CUBLASWINAPI cublasLtGetStatusName(cublasStatus_t status) { return vgpu::guest::blas::status_name(status); }
const char* CUBLASWINAPI cublasLtGetStatusString(cublasStatus_t status) {
  return vgpu::guest::blas::status_string(status);
}

}  // extern "C"
