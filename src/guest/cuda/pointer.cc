// cuPointerGetAttributes: several attributes of a pointer at once, as
// NVIDIA's runtime asks for them in cudaPointerGetAttributes. Unlike
// cuPointerGetAttribute, a pointer CUDA does not know is no error: every
// attribute gets its empty value. Answered from the guest's own records of
// device allocations and pinned host memory.
#include <string>

#include "driver.h"

using namespace vgpu::guest;

CUresult CUDAAPI cuPointerGetAttributes(unsigned int n, CUpointer_attribute* attrs, void** data, CUdeviceptr ptr) {
  VGPU_DRIVER_OR_RETURN(c);
  if (n && (!attrs || !data)) return CUDA_ERROR_INVALID_VALUE;
  CUdeviceptr dev_base = 0;
  size_t dev_size = 0;
  unsigned long long buffer_id = 0;
  HostAllocInfo h{};
  const bool dev = is_device_pointer(ptr, &dev_base, &dev_size, &buffer_id);
  const bool host = !dev && find_host_alloc(reinterpret_cast<const void*>(ptr), &h);
  const bool known = dev || host;
  // Checked before anything is written, so a refusal leaves the outputs alone.
  for (unsigned i = 0; i < n; ++i) {
    switch (attrs[i]) {
      case CU_POINTER_ATTRIBUTE_CONTEXT:
      case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
      case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
      case CU_POINTER_ATTRIBUTE_HOST_POINTER:
      case CU_POINTER_ATTRIBUTE_IS_MANAGED:
      case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
      case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
      case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
      case CU_POINTER_ATTRIBUTE_MAPPED:
      case CU_POINTER_ATTRIBUTE_BUFFER_ID:
        break;
      default:
        log_unsupported(("cuPointerGetAttributes(attribute " + std::to_string(static_cast<int>(attrs[i])) + ")").c_str());
        return CUDA_ERROR_NOT_SUPPORTED;
    }
  }
  for (unsigned i = 0; i < n; ++i) {
    void* out = data[i];
    if (!out) continue;
    switch (attrs[i]) {
      case CU_POINTER_ATTRIBUTE_CONTEXT:
        *static_cast<CUcontext*>(out) = known ? reinterpret_cast<CUcontext>(primary_context(0)) : nullptr;
        break;
      case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *static_cast<unsigned*>(out) = dev ? CU_MEMORYTYPE_DEVICE : host ? CU_MEMORYTYPE_HOST : 0;
        break;
      case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: {
        CUdeviceptr d = dev ? ptr : 0;
        // Pinned memory in the arena has a device address; the fallback kind has none.
        if (host && h.in_arena && cuMemHostGetDevicePointer_v2(&d, reinterpret_cast<void*>(ptr), 0) != CUDA_SUCCESS)
          d = 0;
        *static_cast<CUdeviceptr*>(out) = d;
        break;
      }
      case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        *static_cast<void**>(out) = host ? reinterpret_cast<void*>(ptr) : nullptr;
        break;
      case CU_POINTER_ATTRIBUTE_IS_MANAGED:  // managed memory is refused, so none is managed
        *static_cast<int*>(out) = 0;
        break;
      case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:  // the session's one device is ordinal 0
        *static_cast<int*>(out) = known ? 0 : -2;
        break;
      case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
        *static_cast<CUdeviceptr*>(out) = dev ? dev_base : host ? reinterpret_cast<CUdeviceptr>(h.base) : 0;
        break;
      case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
        *static_cast<size_t*>(out) = dev ? dev_size : host ? h.bytes : 0;
        break;
      case CU_POINTER_ATTRIBUTE_MAPPED:
        *static_cast<int*>(out) = known ? 1 : 0;
        break;
      case CU_POINTER_ATTRIBUTE_BUFFER_ID:  // device allocations' only; 0 for the rest
        *static_cast<unsigned long long*>(out) = dev ? buffer_id : 0;
        break;
      default:
        break;
    }
  }
  return CUDA_SUCCESS;
}
