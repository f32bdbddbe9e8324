// CudaBackend: virtual memory management (cuMemAddressReserve, cuMemCreate,
// cuMemMap, cuMemSetAccess ...), as ggml's VMM pool uses it.
#include <cstring>

#include "cuda_backend.h"

namespace vgpu::host::cuda {

namespace {

// MemProp -> CUmemAllocationProp. alloc_flags packs allocFlags:
// bits 0..7 compressionType, 8..15 gpuDirectRDMACapable, 16..31 usage.
CUmemAllocationProp make_prop(const MemProp& r) {
  CUmemAllocationProp prop;
  std::memset(&prop, 0, sizeof prop);
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.requestedHandleTypes = static_cast<CUmemAllocationHandleType>(r.handle_types);
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = r.location_id;
  prop.win32HandleMetaData = nullptr;
  prop.allocFlags.compressionType = static_cast<unsigned char>(r.alloc_flags & 0xffu);
  prop.allocFlags.gpuDirectRDMACapable = static_cast<unsigned char>((r.alloc_flags >> 8) & 0xffu);
  prop.allocFlags.usage = static_cast<unsigned short>(r.alloc_flags >> 16);
  return prop;
}

}  // namespace

Status CudaBackend::va_reserve(uint64_t size, uint64_t alignment, uint64_t addr, uint64_t flags, DevPtr* out) {
  CUdeviceptr p = 0;
  CUresult r = cuMemAddressReserve(&p, size, alignment, addr, flags);
  *out = r == CUDA_SUCCESS ? p : 0;
  return to_status(r);
}

Status CudaBackend::va_free(DevPtr ptr, uint64_t size) { return to_status(cuMemAddressFree(ptr, size)); }

Status CudaBackend::mem_create(const MemProp& r, Native* out) {
  *out = 0;
  CUmemAllocationProp prop = make_prop(r);
  CUmemGenericAllocationHandle h = 0;
  CUresult res = cuMemCreate(&h, r.size, &prop, 0);
  if (res != CUDA_SUCCESS) return to_status(res);
  *out = static_cast<Native>(h);
  return st::kOk;
}

Status CudaBackend::mem_release(Native h) {
  return to_status(cuMemRelease(static_cast<CUmemGenericAllocationHandle>(h)));
}

Status CudaBackend::mem_map(DevPtr ptr, uint64_t size, uint64_t offset, Native h) {
  return to_status(cuMemMap(ptr, size, offset, static_cast<CUmemGenericAllocationHandle>(h), 0));
}

Status CudaBackend::mem_unmap(DevPtr ptr, uint64_t size) { return to_status(cuMemUnmap(ptr, size)); }

Status CudaBackend::mem_set_access(DevPtr ptr, uint64_t size, int device, uint32_t flags) {
  CUmemAccessDesc desc;
  std::memset(&desc, 0, sizeof desc);
  desc.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  desc.location.id = device;
  desc.flags = static_cast<CUmemAccess_flags>(flags);
  return to_status(cuMemSetAccess(ptr, size, &desc, 1));
}

Status CudaBackend::mem_granularity(const MemProp& r, uint32_t option, uint64_t* out) {
  CUmemAllocationProp prop = make_prop(r);
  size_t g = 0;
  CUresult res =
      cuMemGetAllocationGranularity(&g, &prop, static_cast<CUmemAllocationGranularity_flags>(option));
  *out = g;
  return to_status(res);
}

}  // namespace vgpu::host::cuda
