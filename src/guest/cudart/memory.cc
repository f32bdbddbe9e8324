// Memory: device allocations, pinned host memory (carved from the arena),
// registered host ranges, copies of every cudaMemcpyKind, memsets, pointer
// attributes, symbols.
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "runtime.h"

namespace vgpu::cudart {

using vgpu::guest::Client;

namespace {
std::mutex g_mu;
std::set<CUdeviceptr>* g_device = new std::set<CUdeviceptr>;  // cudaMalloc*'s, for cudaDeviceReset
struct HostRange {
  size_t bytes;
  unsigned flags;
};
std::map<void*, HostRange>* g_pinned = new std::map<void*, HostRange>;      // cudaHostAlloc'ed (arena or not)
std::map<void*, HostRange>* g_registered = new std::map<void*, HostRange>;  // cudaHostRegister'ed

// The entry of `m` whose range holds p, if any.
std::map<void*, HostRange>::iterator containing(std::map<void*, HostRange>& m, const void* p) {
  auto it = m.upper_bound(const_cast<void*>(p));
  if (it == m.begin()) return m.end();
  --it;
  const auto* base = static_cast<const char*>(it->first);
  if (static_cast<const char*>(p) < base + (it->second.bytes ? it->second.bytes : 1)) return it;
  return m.end();
}

bool is_dev(const void* p) { return vgpu::guest::is_device_pointer(reinterpret_cast<CUdeviceptr>(p)); }

// cudaMemcpyDefault: where each side lives (unified addressing as CUDA
// would see it: our device allocations are device memory, the rest host).
cudaMemcpyKind classify(void* dst, const void* src) {
  const bool dd = is_dev(dst), sd = is_dev(src);
  if (dd && sd) return cudaMemcpyDeviceToDevice;
  if (dd) return cudaMemcpyHostToDevice;
  if (sd) return cudaMemcpyDeviceToHost;
  return cudaMemcpyHostToHost;
}

CUdeviceptr dptr(const void* p) { return reinterpret_cast<CUdeviceptr>(p); }

cudaError_t memset_impl(void* p, int value, size_t n, cudaStream_t s, bool async) {
  VGPU_RT_INIT();
  if (n == 0) return cudaSuccess;
  // Like CUDA, the synchronous memset does not wait for the device when it
  // writes device memory we know; an unknown pointer is checked by the host
  // at once (synchronously) so a bad one is reported by this very call.
  CUresult r = cuMemsetD8Async(dptr(p), static_cast<unsigned char>(value), n, cu(s));
  if (r == CUDA_SUCCESS && !async && !is_dev(p)) r = cuStreamSynchronize(cu(s));
  return record_cu(r);
}

cudaError_t memset2d_impl(void* p, size_t pitch, int value, size_t width, size_t height, cudaStream_t s, bool async) {
  VGPU_RT_INIT();
  if (width == 0 || height == 0) return cudaSuccess;
  if (width > pitch && height > 1) return record(cudaErrorInvalidValue);
  CUresult r = CUDA_SUCCESS;
  if (width == pitch || height == 1) {
    r = cuMemsetD8Async(dptr(p), static_cast<unsigned char>(value), width * height, cu(s));
  } else {
    for (size_t y = 0; y < height && r == CUDA_SUCCESS; ++y)
      r = cuMemsetD8Async(dptr(p) + y * pitch, static_cast<unsigned char>(value), width, cu(s));
  }
  if (r == CUDA_SUCCESS && !async && !is_dev(p)) r = cuStreamSynchronize(cu(s));
  return record_cu(r);
}

cudaError_t copy2d(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                   cudaMemcpyKind kind, cudaStream_t s, bool async) {
  VGPU_RT_INIT();
  if (width == 0 || height == 0) return cudaSuccess;
  if ((width > dpitch || width > spitch) && height > 1) return record(cudaErrorInvalidPitchValue);
  if (kind == cudaMemcpyDefault) kind = classify(dst, src);
  CUDA_MEMCPY2D c{};
  c.WidthInBytes = width;
  c.Height = height;
  c.srcPitch = spitch;
  c.dstPitch = dpitch;
  switch (kind) {
    case cudaMemcpyHostToHost:
      // Ordered after the stream's earlier work, like CUDA's.
      if (CUresult r = cuStreamSynchronize(cu(s))) return record_cu(r);
      for (size_t y = 0; y < height; ++y)
        std::memmove(static_cast<char*>(dst) + y * dpitch, static_cast<const char*>(src) + y * spitch, width);
      return cudaSuccess;
    case cudaMemcpyHostToDevice:
      c.srcMemoryType = CU_MEMORYTYPE_HOST, c.srcHost = src;
      c.dstMemoryType = CU_MEMORYTYPE_DEVICE, c.dstDevice = dptr(dst);
      break;
    case cudaMemcpyDeviceToHost:
      c.srcMemoryType = CU_MEMORYTYPE_DEVICE, c.srcDevice = dptr(src);
      c.dstMemoryType = CU_MEMORYTYPE_HOST, c.dstHost = dst;
      break;
    case cudaMemcpyDeviceToDevice:
      c.srcMemoryType = CU_MEMORYTYPE_DEVICE, c.srcDevice = dptr(src);
      c.dstMemoryType = CU_MEMORYTYPE_DEVICE, c.dstDevice = dptr(dst);
      break;
    default:
      return record(cudaErrorInvalidMemcpyDirection);
  }
  return record_cu(async ? cuMemcpy2DAsync_v2(&c, cu(s)) : cuMemcpy2D_v2(&c));
}

// Symbols: the device side of a registered __device__/__constant__ variable.
cudaError_t symbol_range(const void* symbol, size_t count, size_t offset, CUdeviceptr* out) {
  CUdeviceptr base = 0;
  size_t size = 0;
  if (cudaError_t e = symbol_address(symbol, &base, &size)) return e;
  if (offset > size || count > size - offset) return cudaErrorInvalidValue;
  *out = base + offset;
  return cudaSuccess;
}
}  // namespace

cudaError_t copy(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t s, bool async) {
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return cudaErrorInvalidValue;
  if (kind == cudaMemcpyDefault) kind = classify(dst, src);
  switch (kind) {
    case cudaMemcpyHostToHost:
      // Ordered after earlier work (a pending copy into pinned memory), like CUDA's.
      if (CUresult r = cuStreamSynchronize(cu(s))) return from_cu(r, Ctx::kStream);
      std::memmove(dst, src, n);
      return cudaSuccess;
    case cudaMemcpyHostToDevice:
      return from_cu(async ? cuMemcpyHtoDAsync_v2(dptr(dst), src, n, cu(s)) : cuMemcpyHtoD_v2(dptr(dst), src, n));
    case cudaMemcpyDeviceToHost:
      return from_cu(async ? cuMemcpyDtoHAsync_v2(dst, dptr(src), n, cu(s)) : cuMemcpyDtoH_v2(dst, dptr(src), n));
    case cudaMemcpyDeviceToDevice:
      return from_cu(async ? cuMemcpyDtoDAsync_v2(dptr(dst), dptr(src), n, cu(s))
                           : cuMemcpyDtoD_v2(dptr(dst), dptr(src), n));
    default:
      return cudaErrorInvalidMemcpyDirection;
  }
}

void reset_memory() {
  std::set<CUdeviceptr> dev;
  std::map<void*, HostRange> pinned;
  {
    std::lock_guard lk(g_mu);
    dev.swap(*g_device);
    pinned.swap(*g_pinned);
    g_registered->clear();
  }
  for (CUdeviceptr p : dev) cuMemFree_v2(p);
  for (auto& [p, r] : pinned) cuMemFreeHost(p);
}

}  // namespace vgpu::cudart

using namespace vgpu::cudart;

// ---- device memory -----------------------------------------------------------------------
VGPU_RT cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (!p) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;  // CUDA: success and NULL
  CUdeviceptr d = 0;
  if (CUresult r = cuMemAlloc_v2(&d, bytes)) return record_cu(r);
  {
    std::lock_guard lk(g_mu);
    g_device->insert(d);
  }
  *p = reinterpret_cast<void*>(d);
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaMallocPitch(void** p, size_t* pitch, size_t width, size_t height) {
  if (!p || !pitch) return record(cudaErrorInvalidValue);
  // Rows aligned as NVIDIA's runtime aligns them on current GPUs.
  constexpr size_t kAlign = 512;
  *pitch = (width + kAlign - 1) / kAlign * kAlign;
  return cudaMalloc(p, *pitch * height);
}

VGPU_RT cudaError_t cudaFree(void* p) {
  VGPU_RT_INIT();  // cudaFree(0) is the classic way to initialise the runtime
  if (!p) return cudaSuccess;
  if (CUresult r = cuMemFree_v2(dptr(p))) return record_cu(r);
  std::lock_guard lk(g_mu);
  g_device->erase(dptr(p));
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  VGPU_RT_INIT();
  return record_cu(cuMemGetInfo_v2(free_bytes, total_bytes));
}

// Stream-ordered allocation (the driver's mem_pool.cc says what is kept of
// CUDA's promises): the allocation exists at once, the free waits for the
// stream's earlier work.
namespace {
cudaError_t malloc_from(void** p, size_t bytes, cudaMemPool_t pool, cudaStream_t s) {
  if (!p) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;  // as cudaMalloc: success and NULL
  CUdeviceptr d = 0;
  const CUresult r = pool ? cuMemAllocFromPoolAsync(&d, bytes, reinterpret_cast<CUmemoryPool>(pool), cu(s))
                          : cuMemAllocAsync(&d, bytes, cu(s));
  if (r != CUDA_SUCCESS) return record_cu(r);
  {
    std::lock_guard lk(g_mu);
    g_device->insert(d);
  }
  *p = reinterpret_cast<void*>(d);
  return cudaSuccess;
}
}  // namespace
VGPU_RT cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t s) { return malloc_from(p, bytes, nullptr, s); }
VGPU_RT cudaError_t cudaMallocAsync_ptsz(void** p, size_t bytes, cudaStream_t s) {
  return malloc_from(p, bytes, nullptr, ptsz(s));
}
VGPU_RT cudaError_t cudaMallocFromPoolAsync(void** p, size_t bytes, cudaMemPool_t pool, cudaStream_t s) {
  if (!pool) return record(cudaErrorInvalidValue);
  return malloc_from(p, bytes, pool, s);
}
VGPU_RT cudaError_t cudaMallocFromPoolAsync_ptsz(void** p, size_t bytes, cudaMemPool_t pool, cudaStream_t s) {
  return cudaMallocFromPoolAsync(p, bytes, pool, ptsz(s));
}
VGPU_RT cudaError_t cudaFreeAsync(void* p, cudaStream_t s) {
  VGPU_RT_INIT();
  if (!p) return cudaSuccess;  // as cudaFree
  if (CUresult r = cuMemFreeAsync(dptr(p), cu(s))) return record_cu(r);
  std::lock_guard lk(g_mu);
  g_device->erase(dptr(p));
  return cudaSuccess;
}
VGPU_RT cudaError_t cudaFreeAsync_ptsz(void* p, cudaStream_t s) { return cudaFreeAsync(p, ptsz(s)); }

VGPU_RT cudaError_t cudaMallocManaged(void**, size_t, unsigned int) { VGPU_RT_REFUSE("cudaMallocManaged"); }
// Pitched linear memory for width x height x depth: height * depth rows of one pitch.
VGPU_RT cudaError_t cudaMalloc3D(struct cudaPitchedPtr* p, struct cudaExtent e) {
  VGPU_RT_INIT();
  if (!p) return record(cudaErrorInvalidValue);
  size_t pitch = 0;
  void* d = nullptr;
  if (cudaError_t r = cudaMallocPitch(&d, &pitch, e.width, e.height * e.depth)) return r;
  *p = cudaPitchedPtr{d, pitch, e.width, e.height};
  return cudaSuccess;
}
VGPU_RT cudaError_t cudaMallocArray(cudaArray_t*, const struct cudaChannelFormatDesc*, size_t, size_t, unsigned int) {
  VGPU_RT_REFUSE("cudaMallocArray");
}
VGPU_RT cudaError_t cudaFreeArray(cudaArray_t) { VGPU_RT_REFUSE("cudaFreeArray"); }
VGPU_RT cudaError_t cudaMemPrefetchAsync(const void*, size_t, struct cudaMemLocation, unsigned int, cudaStream_t) {
  VGPU_RT_REFUSE("cudaMemPrefetchAsync");
}
VGPU_RT cudaError_t cudaMemAdvise(const void*, size_t, enum cudaMemoryAdvise, struct cudaMemLocation) {
  VGPU_RT_REFUSE("cudaMemAdvise");
}
// Pools: cudaMemPool* values and structs are the driver's (CUmemPool_attribute,
// CUmemPoolProps, CUmemAccessDesc) by layout and number.
VGPU_RT cudaError_t cudaMemPoolCreate(cudaMemPool_t* pool, const struct cudaMemPoolProps* props) {
  if (!pool || !props) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  static_assert(sizeof(cudaMemPoolProps) == sizeof(CUmemPoolProps));
  return record_cu(cuMemPoolCreate(reinterpret_cast<CUmemoryPool*>(pool), reinterpret_cast<const CUmemPoolProps*>(props)));
}
VGPU_RT cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool) {
  VGPU_RT_INIT();
  return record_cu(cuMemPoolDestroy(reinterpret_cast<CUmemoryPool>(pool)));
}
VGPU_RT cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void* value) {
  VGPU_RT_INIT();
  return record_cu(cuMemPoolSetAttribute(reinterpret_cast<CUmemoryPool>(pool), static_cast<CUmemPool_attribute>(attr), value));
}
VGPU_RT cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void* value) {
  VGPU_RT_INIT();
  return record_cu(cuMemPoolGetAttribute(reinterpret_cast<CUmemoryPool>(pool), static_cast<CUmemPool_attribute>(attr), value));
}
VGPU_RT cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep) {
  VGPU_RT_INIT();
  return record_cu(cuMemPoolTrimTo(reinterpret_cast<CUmemoryPool>(pool), keep));
}
VGPU_RT cudaError_t cudaMemPoolSetAccess(cudaMemPool_t pool, const struct cudaMemAccessDesc* map, size_t count) {
  VGPU_RT_INIT();
  static_assert(sizeof(cudaMemAccessDesc) == sizeof(CUmemAccessDesc));
  return record_cu(cuMemPoolSetAccess(reinterpret_cast<CUmemoryPool>(pool), reinterpret_cast<const CUmemAccessDesc*>(map), count));
}
VGPU_RT cudaError_t cudaMemPoolGetAccess(enum cudaMemAccessFlags* flags, cudaMemPool_t pool, struct cudaMemLocation* location) {
  if (!flags || !location) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  CUmemAccess_flags f{};
  CUmemLocation loc{static_cast<CUmemLocationType>(location->type), location->id};
  if (CUresult r = cuMemPoolGetAccess(&f, reinterpret_cast<CUmemoryPool>(pool), &loc)) return record_cu(r);
  *flags = static_cast<cudaMemAccessFlags>(f);
  return cudaSuccess;
}

// ---- pinned host memory: carved from the arena, so copies from it move no
// bytes on the guest CPU; an allocation the arena cannot hold gets ordinary
// memory instead, whose copies are staged (libcuda's host_alloc) ----------------------------
VGPU_RT cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int flags) {
  if (!p) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  constexpr unsigned kKnown = cudaHostAllocPortable | cudaHostAllocMapped | cudaHostAllocWriteCombined;
  if (flags & ~kKnown) return record(cudaErrorInvalidValue);
  *p = nullptr;
  // cudaHostAlloc* flags are CU_MEMHOSTALLOC_* values; the driver refuses
  // Mapped when the host cannot map the arena for the device.
  if (CUresult r = cuMemHostAlloc(p, bytes, flags)) return record_cu(r);
  std::lock_guard lk(g_mu);
  (*g_pinned)[*p] = HostRange{bytes, flags};
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaHostAlloc(p, bytes, cudaHostAllocDefault); }

VGPU_RT cudaError_t cudaFreeHost(void* p) {
  VGPU_RT_INIT();
  if (!p) return cudaSuccess;
  if (CUresult r = cuMemFreeHost(p)) return record_cu(r);
  std::lock_guard lk(g_mu);
  g_pinned->erase(p);
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaHostGetFlags(unsigned int* flags, void* p) {
  if (!flags || !p) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  std::lock_guard lk(g_mu);
  if (auto it = containing(*g_pinned, p); it != g_pinned->end()) {
    *flags = it->second.flags;
    return cudaSuccess;
  }
  if (auto it = containing(*g_registered, p); it != g_registered->end()) {
    *flags = it->second.flags;
    return cudaSuccess;
  }
  return record(cudaErrorInvalidValue);
}

// Device address of pinned memory: only arena memory has one, and only when
// the host mapped the arena for its device (not on the CPU backend).
VGPU_RT cudaError_t cudaHostGetDevicePointer(void** pdev, void* p, unsigned int flags) {
  if (!pdev || flags != 0) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  {
    std::lock_guard lk(g_mu);
    if (containing(*g_registered, p) != g_registered->end())
      VGPU_RT_REFUSE("cudaHostGetDevicePointer on cudaHostRegister'ed memory (the device cannot reach guest pages)");
  }
  CUdeviceptr d = 0;
  if (CUresult r = cuMemHostGetDevicePointer_v2(&d, p, 0)) return record_cu(r);
  *pdev = reinterpret_cast<void*>(d);
  return cudaSuccess;
}

// cudaHostRegister: what is real and what is not. The device cannot reach
// arbitrary guest pages (they are not in the shared region), so nothing is
// page-locked for DMA. What registering promises a program still holds:
// cudaMemcpy/cudaMemcpyAsync from and to the range work (staged through the
// arena like pageable memory, and an async copy returns only when the source
// may be reused), cudaHostUnregister, cudaHostGetFlags and
// cudaPointerGetAttributes know the range. What it cannot give is refused:
// cudaHostRegisterMapped / IoMemory (a device address for the range), and
// cudaHostGetDevicePointer on it.
VGPU_RT cudaError_t cudaHostRegister(void* p, size_t bytes, unsigned int flags) {
  if (!p || bytes == 0) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  constexpr unsigned kKnown = cudaHostRegisterPortable | cudaHostRegisterMapped | cudaHostRegisterIoMemory |
                              cudaHostRegisterReadOnly;
  if (flags & ~kKnown) return record(cudaErrorInvalidValue);
  if (flags & cudaHostRegisterMapped) VGPU_RT_REFUSE("cudaHostRegister(cudaHostRegisterMapped)");
  if (flags & cudaHostRegisterIoMemory) VGPU_RT_REFUSE("cudaHostRegister(cudaHostRegisterIoMemory)");
  Client& c = Client::get();
  const char* last = static_cast<char*>(p) + bytes - 1;
  if (c.in_arena(p, 1) || c.in_arena(last, 1) || vgpu::guest::find_host_alloc(p, nullptr) ||
      vgpu::guest::find_host_alloc(last, nullptr))
    return record(cudaErrorHostMemoryAlreadyRegistered);  // pinned memory we handed out
  std::lock_guard lk(g_mu);
  auto next = g_registered->lower_bound(p);
  if (next != g_registered->end() && static_cast<char*>(next->first) < static_cast<char*>(p) + bytes)
    return record(cudaErrorHostMemoryAlreadyRegistered);
  if (containing(*g_registered, p) != g_registered->end()) return record(cudaErrorHostMemoryAlreadyRegistered);
  (*g_registered)[p] = HostRange{bytes, flags};
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaHostUnregister(void* p) {
  if (!p) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  std::lock_guard lk(g_mu);
  if (g_registered->erase(p) == 0) return record(cudaErrorHostMemoryNotRegistered);
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes* a, const void* p) {
  if (!a) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  // CUDA 12's struct is the first four fields of CUDA 13's (which adds reserved words).
#if VGPU_CUDART_MAJOR >= 13
  std::memset(a, 0, sizeof(*a));
#endif
  a->type = cudaMemoryTypeUnregistered;
  a->device = -2;
  a->devicePointer = nullptr;
  a->hostPointer = nullptr;
  if (is_dev(p)) {
    a->type = cudaMemoryTypeDevice;
    a->device = current_device();
    a->devicePointer = const_cast<void*>(p);
    return cudaSuccess;
  }
  // Pinned memory, whichever API allocated it. Only arena memory has a device
  // address, and only where the host mapped the arena for its device.
  Client& c = Client::get();
  if (vgpu::guest::HostAllocInfo h{}; vgpu::guest::find_host_alloc(p, &h)) {
    a->type = cudaMemoryTypeHost;
    a->device = current_device();
    a->hostPointer = const_cast<void*>(p);
    if (h.in_arena && c.hello().host_arena_base) a->devicePointer = reinterpret_cast<void*>(c.device_address_of(p));
    return cudaSuccess;
  }
  std::lock_guard lk(g_mu);
  if (containing(*g_registered, p) != g_registered->end()) {
    a->type = cudaMemoryTypeHost;
    a->device = current_device();
    a->hostPointer = const_cast<void*>(p);  // no device address: see cudaHostRegister
    return cudaSuccess;
  }
  return cudaSuccess;  // ordinary (pageable) host memory: cudaMemoryTypeUnregistered
}

// ---- copies ----------------------------------------------------------------------------------
VGPU_RT cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, enum cudaMemcpyKind kind) {
  VGPU_RT_INIT();
  return record(copy(dst, src, n, kind, nullptr, false));
}
VGPU_RT cudaError_t cudaMemcpy_ptds(void* dst, const void* src, size_t n, enum cudaMemcpyKind kind) {
  VGPU_RT_INIT();
  // Synchronous, on the per-thread stream.
  cudaError_t e = copy(dst, src, n, kind, cudaStreamPerThread, true);
  if (e == cudaSuccess) e = from_cu(cuStreamSynchronize(cu(cudaStreamPerThread)));
  return record(e);
}
VGPU_RT cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, enum cudaMemcpyKind kind, cudaStream_t s) {
  VGPU_RT_INIT();
  return record(copy(dst, src, n, kind, s, true));
}
VGPU_RT cudaError_t cudaMemcpyAsync_ptsz(void* dst, const void* src, size_t n, enum cudaMemcpyKind kind,
                                         cudaStream_t s) {
  return cudaMemcpyAsync(dst, src, n, kind, ptsz(s));
}

VGPU_RT cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                                 enum cudaMemcpyKind kind) {
  return copy2d(dst, dpitch, src, spitch, width, height, kind, nullptr, false);
}
VGPU_RT cudaError_t cudaMemcpy2D_ptds(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                                      size_t height, enum cudaMemcpyKind kind) {
  if (cudaError_t e = copy2d(dst, dpitch, src, spitch, width, height, kind, cudaStreamPerThread, true)) return e;
  return record_cu(cuStreamSynchronize(cu(cudaStreamPerThread)));
}
VGPU_RT cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                                      size_t height, enum cudaMemcpyKind kind, cudaStream_t s) {
  return copy2d(dst, dpitch, src, spitch, width, height, kind, s, true);
}
VGPU_RT cudaError_t cudaMemcpy2DAsync_ptsz(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                                           size_t height, enum cudaMemcpyKind kind, cudaStream_t s) {
  return copy2d(dst, dpitch, src, spitch, width, height, kind, ptsz(s), true);
}

// One device: a peer copy is a device-to-device copy.
VGPU_RT cudaError_t cudaMemcpyPeer(void* dst, int dst_dev, const void* src, int src_dev, size_t n) {
  VGPU_RT_INIT();
  if (!vgpu::guest::device_info_of(dst_dev) || !vgpu::guest::device_info_of(src_dev))
    return record(cudaErrorInvalidDevice);
  return record(copy(dst, src, n, cudaMemcpyDeviceToDevice, nullptr, false));
}
VGPU_RT cudaError_t cudaMemcpyPeerAsync(void* dst, int dst_dev, const void* src, int src_dev, size_t n,
                                        cudaStream_t s) {
  VGPU_RT_INIT();
  if (!vgpu::guest::device_info_of(dst_dev) || !vgpu::guest::device_info_of(src_dev))
    return record(cudaErrorInvalidDevice);
  return record(copy(dst, src, n, cudaMemcpyDeviceToDevice, s, true));
}

// ---- symbols ------------------------------------------------------------------------------------
VGPU_RT cudaError_t cudaGetSymbolAddress(void** p, const void* symbol) {
  if (!p) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  CUdeviceptr d = 0;
  size_t n = 0;
  if (cudaError_t e = symbol_address(symbol, &d, &n)) return record(e);
  *p = reinterpret_cast<void*>(d);
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaGetSymbolSize(size_t* size, const void* symbol) {
  if (!size) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  CUdeviceptr d = 0;
  if (cudaError_t e = symbol_address(symbol, &d, size)) return record(e);
  return cudaSuccess;
}

namespace {
cudaError_t to_symbol(const void* symbol, const void* src, size_t n, size_t offset, cudaMemcpyKind kind,
                      cudaStream_t s, bool async) {
  VGPU_RT_INIT();
  if (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToDevice && kind != cudaMemcpyDefault)
    return record(cudaErrorInvalidMemcpyDirection);
  CUdeviceptr d = 0;
  if (cudaError_t e = symbol_range(symbol, n, offset, &d)) return record(e);
  if (kind == cudaMemcpyDefault) kind = is_dev(src) ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice;
  return record(copy(reinterpret_cast<void*>(d), src, n, kind, s, async));
}
cudaError_t from_symbol(void* dst, const void* symbol, size_t n, size_t offset, cudaMemcpyKind kind, cudaStream_t s,
                        bool async) {
  VGPU_RT_INIT();
  if (kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice && kind != cudaMemcpyDefault)
    return record(cudaErrorInvalidMemcpyDirection);
  CUdeviceptr d = 0;
  if (cudaError_t e = symbol_range(symbol, n, offset, &d)) return record(e);
  if (kind == cudaMemcpyDefault) kind = is_dev(dst) ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost;
  return record(copy(dst, reinterpret_cast<const void*>(d), n, kind, s, async));
}
}  // namespace

VGPU_RT cudaError_t cudaMemcpyToSymbol(const void* symbol, const void* src, size_t n, size_t offset,
                                       enum cudaMemcpyKind kind) {
  return to_symbol(symbol, src, n, offset, kind, nullptr, false);
}
VGPU_RT cudaError_t cudaMemcpyToSymbol_ptds(const void* symbol, const void* src, size_t n, size_t offset,
                                            enum cudaMemcpyKind kind) {
  if (cudaError_t e = to_symbol(symbol, src, n, offset, kind, cudaStreamPerThread, true)) return e;
  return record_cu(cuStreamSynchronize(cu(cudaStreamPerThread)));
}
VGPU_RT cudaError_t cudaMemcpyFromSymbol(void* dst, const void* symbol, size_t n, size_t offset,
                                         enum cudaMemcpyKind kind) {
  return from_symbol(dst, symbol, n, offset, kind, nullptr, false);
}
VGPU_RT cudaError_t cudaMemcpyFromSymbol_ptds(void* dst, const void* symbol, size_t n, size_t offset,
                                              enum cudaMemcpyKind kind) {
  if (cudaError_t e = from_symbol(dst, symbol, n, offset, kind, cudaStreamPerThread, true)) return e;
  return record_cu(cuStreamSynchronize(cu(cudaStreamPerThread)));
}
VGPU_RT cudaError_t cudaMemcpyToSymbolAsync(const void* symbol, const void* src, size_t n, size_t offset,
                                            enum cudaMemcpyKind kind, cudaStream_t s) {
  return to_symbol(symbol, src, n, offset, kind, s, true);
}
VGPU_RT cudaError_t cudaMemcpyToSymbolAsync_ptsz(const void* symbol, const void* src, size_t n, size_t offset,
                                                 enum cudaMemcpyKind kind, cudaStream_t s) {
  return to_symbol(symbol, src, n, offset, kind, ptsz(s), true);
}
VGPU_RT cudaError_t cudaMemcpyFromSymbolAsync(void* dst, const void* symbol, size_t n, size_t offset,
                                              enum cudaMemcpyKind kind, cudaStream_t s) {
  return from_symbol(dst, symbol, n, offset, kind, s, true);
}
VGPU_RT cudaError_t cudaMemcpyFromSymbolAsync_ptsz(void* dst, const void* symbol, size_t n, size_t offset,
                                                   enum cudaMemcpyKind kind, cudaStream_t s) {
  return from_symbol(dst, symbol, n, offset, kind, ptsz(s), true);
}

// ---- memsets ---------------------------------------------------------------------------------------
VGPU_RT cudaError_t cudaMemset(void* p, int value, size_t n) { return memset_impl(p, value, n, nullptr, false); }
VGPU_RT cudaError_t cudaMemset_ptds(void* p, int value, size_t n) {
  return memset_impl(p, value, n, cudaStreamPerThread, false);
}
VGPU_RT cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t s) {
  return memset_impl(p, value, n, s, true);
}
VGPU_RT cudaError_t cudaMemsetAsync_ptsz(void* p, int value, size_t n, cudaStream_t s) {
  return memset_impl(p, value, n, ptsz(s), true);
}
VGPU_RT cudaError_t cudaMemset2D(void* p, size_t pitch, int value, size_t width, size_t height) {
  return memset2d_impl(p, pitch, value, width, height, nullptr, false);
}
VGPU_RT cudaError_t cudaMemset2D_ptds(void* p, size_t pitch, int value, size_t width, size_t height) {
  return memset2d_impl(p, pitch, value, width, height, cudaStreamPerThread, false);
}
VGPU_RT cudaError_t cudaMemset2DAsync(void* p, size_t pitch, int value, size_t width, size_t height, cudaStream_t s) {
  return memset2d_impl(p, pitch, value, width, height, s, true);
}
VGPU_RT cudaError_t cudaMemset2DAsync_ptsz(void* p, size_t pitch, int value, size_t width, size_t height,
                                           cudaStream_t s) {
  return memset2d_impl(p, pitch, value, width, height, ptsz(s), true);
}
// ---- 3-D copies and memsets of pitched linear memory --------------------------------------------
// A z-slice is one 2-D copy (positions: x in bytes, y in rows, z in slices of
// pitch * ysize bytes; extents of linear memory are in bytes too). CUDA
// arrays are refused: the guest has none. ggml's cross-device 2-D copy
// (ggml_cuda_Memcpy2DPeerAsync, in Ollama's build) is a cudaMemcpy3DPeerAsync
// of one slice.
namespace {
char* at(const cudaPitchedPtr& p, const cudaPos& pos, size_t z) {
  return static_cast<char*>(p.ptr) + (pos.z + z) * p.pitch * p.ysize + pos.y * p.pitch + pos.x;
}
cudaError_t copy3d(const cudaPitchedPtr& dp, const cudaPos& dpos, const cudaPitchedPtr& sp, const cudaPos& spos,
                   const cudaExtent& e, cudaMemcpyKind kind, cudaStream_t s, bool async) {
  for (size_t z = 0; z < e.depth; ++z)
    if (cudaError_t r = copy2d(at(dp, dpos, z), dp.pitch, at(sp, spos, z), sp.pitch, e.width, e.height, kind, s, async))
      return r;
  return cudaSuccess;
}
cudaError_t copy3d(const cudaMemcpy3DParms* p, cudaStream_t s, bool async) {
  VGPU_RT_INIT();
  if (!p) return record(cudaErrorInvalidValue);
  if (p->srcArray || p->dstArray) VGPU_RT_REFUSE("cudaMemcpy3D with CUDA arrays");
  return copy3d(p->dstPtr, p->dstPos, p->srcPtr, p->srcPos, p->extent, p->kind, s, async);
}
cudaError_t copy3d_peer(const cudaMemcpy3DPeerParms* p, cudaStream_t s, bool async) {
  VGPU_RT_INIT();
  if (!p) return record(cudaErrorInvalidValue);
  if (p->srcArray || p->dstArray) VGPU_RT_REFUSE("cudaMemcpy3DPeer with CUDA arrays");
  if (!vgpu::guest::device_info_of(p->dstDevice) || !vgpu::guest::device_info_of(p->srcDevice))
    return record(cudaErrorInvalidDevice);
  // One device: a peer copy is a device-to-device copy.
  return copy3d(p->dstPtr, p->dstPos, p->srcPtr, p->srcPos, p->extent, cudaMemcpyDeviceToDevice, s, async);
}
cudaError_t memset3d(const cudaPitchedPtr& p, int value, const cudaExtent& e, cudaStream_t s, bool async) {
  for (size_t z = 0; z < e.depth; ++z)
    if (cudaError_t r = memset2d_impl(at(p, cudaPos{0, 0, 0}, z), p.pitch, value, e.width, e.height, s, async)) return r;
  return cudaSuccess;
}
}  // namespace
VGPU_RT cudaError_t cudaMemcpy3D(const struct cudaMemcpy3DParms* p) { return copy3d(p, nullptr, false); }
VGPU_RT cudaError_t cudaMemcpy3D_ptds(const struct cudaMemcpy3DParms* p) {
  if (cudaError_t e = copy3d(p, cudaStreamPerThread, true)) return e;
  return record_cu(cuStreamSynchronize(cu(cudaStreamPerThread)));
}
VGPU_RT cudaError_t cudaMemcpy3DAsync(const struct cudaMemcpy3DParms* p, cudaStream_t s) { return copy3d(p, s, true); }
VGPU_RT cudaError_t cudaMemcpy3DAsync_ptsz(const struct cudaMemcpy3DParms* p, cudaStream_t s) {
  return copy3d(p, ptsz(s), true);
}
VGPU_RT cudaError_t cudaMemcpy3DPeer(const struct cudaMemcpy3DPeerParms* p) { return copy3d_peer(p, nullptr, false); }
VGPU_RT cudaError_t cudaMemcpy3DPeer_ptds(const struct cudaMemcpy3DPeerParms* p) {
  if (cudaError_t e = copy3d_peer(p, cudaStreamPerThread, true)) return e;
  return record_cu(cuStreamSynchronize(cu(cudaStreamPerThread)));
}
VGPU_RT cudaError_t cudaMemcpy3DPeerAsync(const struct cudaMemcpy3DPeerParms* p, cudaStream_t s) {
  return copy3d_peer(p, s, true);
}
VGPU_RT cudaError_t cudaMemcpy3DPeerAsync_ptsz(const struct cudaMemcpy3DPeerParms* p, cudaStream_t s) {
  return copy3d_peer(p, ptsz(s), true);
}
VGPU_RT cudaError_t cudaMemset3D(struct cudaPitchedPtr p, int value, struct cudaExtent e) {
  return memset3d(p, value, e, nullptr, false);
}
VGPU_RT cudaError_t cudaMemset3D_ptds(struct cudaPitchedPtr p, int value, struct cudaExtent e) {
  return memset3d(p, value, e, cudaStreamPerThread, false);
}
VGPU_RT cudaError_t cudaMemset3DAsync(struct cudaPitchedPtr p, int value, struct cudaExtent e, cudaStream_t s) {
  return memset3d(p, value, e, s, true);
}
VGPU_RT cudaError_t cudaMemset3DAsync_ptsz(struct cudaPitchedPtr p, int value, struct cudaExtent e, cudaStream_t s) {
  return memset3d(p, value, e, ptsz(s), true);
}
