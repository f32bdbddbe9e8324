// Device memory, copies, memsets, pinned host memory (carved from the arena,
// or ordinary memory when it does not fit), pointer attributes and virtual
// memory management.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "driver.h"

namespace vgpu::guest {

namespace {
std::mutex g_ranges_mu;
// Device allocations and VMM mappings: each range's size, and its buffer id
// (CU_POINTER_ATTRIBUTE_BUFFER_ID: unique in the process, never reissued).
struct DeviceRange {
  size_t bytes;
  unsigned long long id;
};
std::map<CUdeviceptr, DeviceRange> g_ranges;
unsigned long long g_next_buffer_id = 1;
struct HostAlloc {
  size_t bytes;        // as asked
  size_t mapped;       // 0: arena memory; else the length mmap'ed for the fallback
  unsigned int flags;  // as asked
};
std::mutex g_host_mu;
std::map<void*, HostAlloc> g_host_allocs;  // pinned host memory we handed out

// Said once per process, so users know why those copies are slower; each
// further fallback only with VGPU_DEBUG.
void note_pinned_fallback(size_t n, uint64_t arena_bytes) {
  static std::atomic<bool> said{false};
  if (!said.exchange(true)) {
    std::fprintf(stderr,
                 "vgpu: pinned host allocation of %zu bytes does not fit this process' shared arena (%llu bytes); "
                 "using ordinary memory: copies from and to it are staged (slower than pinned), and it has no device "
                 "address. A larger arena (vgpu-hostd --arena-mb) keeps pinned memory zero-copy.\n",
                 n, static_cast<unsigned long long>(arena_bytes));
  } else {
    debug_log("pinned host allocation of %zu bytes outside the arena (staged copies)", n);
  }
}
}  // namespace

void note_device_range(CUdeviceptr p, size_t n) {
  std::lock_guard lk(g_ranges_mu);
  g_ranges[p] = DeviceRange{n, g_next_buffer_id++};
}
void forget_device_range(CUdeviceptr p) {
  std::lock_guard lk(g_ranges_mu);
  g_ranges.erase(p);
}
bool is_device_pointer(CUdeviceptr p, CUdeviceptr* base, size_t* size, unsigned long long* buffer_id) {
  std::lock_guard lk(g_ranges_mu);
  auto it = g_ranges.upper_bound(p);
  if (it == g_ranges.begin()) return false;
  --it;
  if (p - it->first >= it->second.bytes) return false;
  if (base) *base = it->first;
  if (size) *size = it->second.bytes;
  if (buffer_id) *buffer_id = it->second.id;
  return true;
}

void* host_alloc(size_t n, unsigned int flags) {
  Client& c = Client::get();
  const size_t want = n ? n : 1;
  void* p = c.arena_alloc_pinned(want);
  size_t mapped = 0;
  if (!p) {
    // Real CUDA pins any size the machine can; we cannot grow the shared
    // region, so memory of our own stands in. Not for a device-mapped
    // allocation: its promise, a device address, needs the arena.
    if (flags & CU_MEMHOSTALLOC_DEVICEMAP) {
      log_unsupported("cuMemHostAlloc(DEVICEMAP) larger than the arena can hold");
      return nullptr;
    }
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (want > SIZE_MAX - page) return nullptr;
    mapped = (want + page - 1) / page * page;
    void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    p = m;
    note_pinned_fallback(n, c.arena().bytes());
  }
  std::lock_guard lk(g_host_mu);
  g_host_allocs[p] = HostAlloc{n, mapped, flags};
  return p;
}
bool host_free(void* p) {
  HostAlloc a{};
  {
    std::lock_guard lk(g_host_mu);
    auto it = g_host_allocs.find(p);
    if (it == g_host_allocs.end()) return false;
    a = it->second;
    g_host_allocs.erase(it);
  }
  if (a.mapped) munmap(p, a.mapped);
  else Client::get().arena().deallocate(p);
  return true;
}
bool find_host_alloc(const void* p, HostAllocInfo* out) {
  std::lock_guard lk(g_host_mu);
  auto it = g_host_allocs.upper_bound(const_cast<void*>(p));
  if (it == g_host_allocs.begin()) return false;
  --it;
  const auto* base = static_cast<const char*>(it->first);
  if (static_cast<const char*>(p) >= base + (it->second.bytes ? it->second.bytes : 1)) return false;
  if (out) *out = HostAllocInfo{it->first, it->second.bytes, it->second.flags, it->second.mapped == 0};
  return true;
}

// Unified addressing (the host reports it, as the driver does): a pointer to
// pinned host memory is also a device address, and callers use it so (XLA
// zeroes and reads back its autotuner's check word in pinned memory with
// cuMemsetD32Async / cuMemcpyDtoHAsync). Our pinned memory is the arena, which
// the host has device-mapped at another address: the device side of a copy or
// memset that is arena memory travels as that address.
CUdeviceptr device_side(Client* c, CUdeviceptr p, size_t n) {
  const auto* h = reinterpret_cast<const void*>(p);
  return c->hello().host_arena_base && c->in_arena(h, n) ? c->device_address_of(h) : p;
}

}  // namespace vgpu::guest

using namespace vgpu;
using namespace vgpu::guest;

CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!p || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  DevPtrRep rep{};
  Status s = c->call<Op::MemAlloc>(MemAllocReq{bytes}, &rep);
  if (s != st::kOk) return to_cu(s);
  *p = rep.ptr;
  note_device_range(rep.ptr, bytes);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocPitch_v2(CUdeviceptr* p, size_t* pitch, size_t width, size_t height, unsigned int elem) {
  if (!pitch || (elem != 4 && elem != 8 && elem != 16)) return CUDA_ERROR_INVALID_VALUE;
  const size_t align = 512;  // CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT of current GPUs is 32; 512 is safe
  *pitch = (width + align - 1) / align * align;
  return cuMemAlloc_v2(p, *pitch * height);
}

CUresult CUDAAPI cuMemFree_v2(CUdeviceptr p) {
  VGPU_DRIVER_OR_RETURN(c);
  // Freeing 0 does nothing and succeeds, as with NVIDIA's driver: its static
  // runtime's cudaFree(0), the idiom that makes a context current, comes here,
  // and cublasCreate, cufftPlan*, curandCreateGenerator and cusolverDnCreate
  // fail with "not initialized" if it does not succeed.
  if (p == 0) return CUDA_SUCCESS;
  Status s = c->call<Op::MemFree>(MemFreeReq{p});
  if (s == st::kOk) {
    forget_device_range(p);
    pool_forget(p);
  }
  return to_cu(s);
}

CUresult CUDAAPI cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
  VGPU_DRIVER_OR_RETURN(c);
  MemGetInfoRep rep{};
  Status s = c->call<Op::MemGetInfo>(Empty{}, &rep);
  if (s != st::kOk) return to_cu(s);
  if (free_bytes) *free_bytes = rep.free_bytes;
  if (total_bytes) *total_bytes = rep.total_bytes;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemGetAddressRange_v2(CUdeviceptr* base, size_t* size, CUdeviceptr p) {
  VGPU_DRIVER_OR_RETURN(c);
  CUdeviceptr b;
  size_t n;
  if (!is_device_pointer(p, &b, &n)) return CUDA_ERROR_NOT_FOUND;
  if (base) *base = b;
  if (size) *size = n;
  return CUDA_SUCCESS;
}

// ---- copies -------------------------------------------------------------------
CUresult CUDAAPI cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
  VGPU_DRIVER_OR_RETURN(c);
  if (n && !src) return CUDA_ERROR_INVALID_VALUE;
  return to_cu(c->copy_htod(device_side(c, dst, n), src, n, kStreamLegacy, true));
}
CUresult CUDAAPI cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  if (n && !src) return CUDA_ERROR_INVALID_VALUE;
  return to_cu(c->copy_htod(device_side(c, dst, n), src, n, stream_id(s), false));
}
CUresult CUDAAPI cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
  VGPU_DRIVER_OR_RETURN(c);
  if (n && !dst) return CUDA_ERROR_INVALID_VALUE;
  return to_cu(c->copy_dtoh(dst, device_side(c, src, n), n, kStreamLegacy, true));
}
CUresult CUDAAPI cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  if (n && !dst) return CUDA_ERROR_INVALID_VALUE;
  return to_cu(c->copy_dtoh(dst, device_side(c, src, n), n, stream_id(s), false));
}
CUresult CUDAAPI cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  VGPU_DRIVER_OR_RETURN(c);
  // Synchronous with respect to the host for the legacy stream, as CUDA's is.
  Status s = c->post<Op::MemcpyDtoD>(MemcpyDtoDReq{device_side(c, dst, n), device_side(c, src, n), n, kStreamLegacy});
  if (s != st::kOk) return to_cu(s);
  return sync_result(c, c->call<Op::StreamSynchronize>(StreamSynchronizeReq{kStreamLegacy}));
}
CUresult CUDAAPI cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->post<Op::MemcpyDtoD>(MemcpyDtoDReq{device_side(c, dst, n), device_side(c, src, n), n, stream_id(s)}));
}

// Unified copies: classify each side by where the pointer lives.
CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  const bool dd = is_device_pointer(dst), sd = is_device_pointer(src);
  auto* hdst = reinterpret_cast<void*>(dst);
  auto* hsrc = reinterpret_cast<const void*>(src);
  if (dd && sd) return cuMemcpyDtoDAsync_v2(dst, src, n, s);
  if (dd) return cuMemcpyHtoDAsync_v2(dst, hsrc, n, s);
  if (sd) return cuMemcpyDtoHAsync_v2(hdst, src, n, s);
  std::memmove(hdst, hsrc, n);  // host to host
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  VGPU_DRIVER_OR_RETURN(c);
  const bool dd = is_device_pointer(dst), sd = is_device_pointer(src);
  if (dd && sd) return cuMemcpyDtoD_v2(dst, src, n);
  if (dd) return cuMemcpyHtoD_v2(dst, reinterpret_cast<const void*>(src), n);
  if (sd) return cuMemcpyDtoH_v2(reinterpret_cast<void*>(dst), src, n);
  std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext, CUdeviceptr src, CUcontext, size_t n, CUstream s) {
  return cuMemcpyDtoDAsync_v2(dst, src, n, s);  // one device: a peer copy is a device copy
}
CUresult CUDAAPI cuMemcpyPeer(CUdeviceptr dst, CUcontext, CUdeviceptr src, CUcontext, size_t n) {
  return cuMemcpyDtoD_v2(dst, src, n);
}

// 2-D copies: device-device go straight through; a host side must be arena
// memory (pinned) for one record, otherwise each row is staged.
CUresult memcpy2d(const CUDA_MEMCPY2D* p, CUstream s, bool sync) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  auto host_of = [](CUmemorytype t, const void* h, CUdeviceptr d) -> const void* {
    return t == CU_MEMORYTYPE_HOST ? h : (t == CU_MEMORYTYPE_UNIFIED && !is_device_pointer(d) ? reinterpret_cast<const void*>(d) : nullptr);
  };
  auto dev_of = [](CUmemorytype t, CUdeviceptr d) -> CUdeviceptr {
    return t == CU_MEMORYTYPE_DEVICE || (t == CU_MEMORYTYPE_UNIFIED && is_device_pointer(d)) ? d : 0;
  };
  if (p->srcMemoryType == CU_MEMORYTYPE_ARRAY || p->dstMemoryType == CU_MEMORYTYPE_ARRAY) VGPU_REFUSE("cuMemcpy2D with CUDA arrays");
  const void* hsrc = host_of(p->srcMemoryType, p->srcHost, p->srcDevice);
  const void* hdst = host_of(p->dstMemoryType, p->dstHost, p->dstDevice);
  const CUdeviceptr dsrc = dev_of(p->srcMemoryType, p->srcDevice) + p->srcXInBytes + p->srcY * p->srcPitch;
  const CUdeviceptr ddst = dev_of(p->dstMemoryType, p->dstDevice) + p->dstXInBytes + p->dstY * p->dstPitch;
  const Handle sid = stream_id(s);
  if (p->WidthInBytes == 0 || p->Height == 0) return CUDA_SUCCESS;
  Status st = st::kOk;
  if (!hsrc && !hdst) {
    st = c->post<Op::Memcpy2D>(Memcpy2DReq{uint32_t(CopyKind::kDtoD), 0, ddst, p->dstPitch, dsrc, p->srcPitch, p->WidthInBytes, p->Height, sid});
  } else if (hsrc && !hdst) {
    auto* base = static_cast<const char*>(hsrc) + p->srcXInBytes + p->srcY * p->srcPitch;
    const size_t span = p->srcPitch * (p->Height - 1) + p->WidthInBytes;
    if (c->in_arena(base, span)) {
      st = c->post<Op::Memcpy2D>(Memcpy2DReq{uint32_t(CopyKind::kHtoD), 0, ddst, p->dstPitch, c->arena_off(base), p->srcPitch, p->WidthInBytes, p->Height, sid});
    } else {
      for (size_t y = 0; y < p->Height && st == st::kOk; ++y)
        st = c->copy_htod(ddst + y * p->dstPitch, base + y * p->srcPitch, p->WidthInBytes, sid, false);
    }
  } else if (!hsrc && hdst) {
    auto* base = static_cast<char*>(const_cast<void*>(hdst)) + p->dstXInBytes + p->dstY * p->dstPitch;
    const size_t span = p->dstPitch * (p->Height - 1) + p->WidthInBytes;
    if (c->in_arena(base, span)) {
      st = c->post<Op::Memcpy2D>(Memcpy2DReq{uint32_t(CopyKind::kDtoH), 0, c->arena_off(base), p->dstPitch, dsrc, p->srcPitch, p->WidthInBytes, p->Height, sid});
    } else {
      for (size_t y = 0; y < p->Height && st == st::kOk; ++y)
        st = c->copy_dtoh(base + y * p->dstPitch, dsrc + y * p->srcPitch, p->WidthInBytes, sid, true);
    }
  } else {
    auto* d = static_cast<char*>(const_cast<void*>(hdst)) + p->dstXInBytes + p->dstY * p->dstPitch;
    auto* sp = static_cast<const char*>(hsrc) + p->srcXInBytes + p->srcY * p->srcPitch;
    for (size_t y = 0; y < p->Height; ++y) std::memmove(d + y * p->dstPitch, sp + y * p->srcPitch, p->WidthInBytes);
  }
  if (st != st::kOk || !sync) return to_cu(st);
  return sync_result(c, c->call<Op::StreamSynchronize>(StreamSynchronizeReq{sid}));
}
CUresult CUDAAPI cuMemcpy2D_v2(const CUDA_MEMCPY2D* p) { return memcpy2d(p, nullptr, true); }
CUresult CUDAAPI cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D* p) { return memcpy2d(p, nullptr, true); }
CUresult CUDAAPI cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D* p, CUstream s) { return memcpy2d(p, s, false); }

// ---- memsets --------------------------------------------------------------------
namespace {
CUresult memset_impl(CUdeviceptr dst, uint32_t value, uint32_t elem, size_t count, CUstream s, bool sync) {
  VGPU_DRIVER_OR_RETURN(c);
  Status st = c->post<Op::Memset>(MemsetReq{device_side(c, dst, count * elem), value, elem, count, stream_id(s)});
  if (st != st::kOk || !sync) return to_cu(st);
  return sync_result(c, c->call<Op::StreamSynchronize>(StreamSynchronizeReq{stream_id(s)}));
}
}  // namespace
CUresult CUDAAPI cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) { return memset_impl(d, v, 1, n, nullptr, true); }
CUresult CUDAAPI cuMemsetD16_v2(CUdeviceptr d, unsigned short v, size_t n) { return memset_impl(d, v, 2, n, nullptr, true); }
CUresult CUDAAPI cuMemsetD32_v2(CUdeviceptr d, unsigned int v, size_t n) { return memset_impl(d, v, 4, n, nullptr, true); }
CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream s) { return memset_impl(d, v, 1, n, s, false); }
CUresult CUDAAPI cuMemsetD16Async(CUdeviceptr d, unsigned short v, size_t n, CUstream s) { return memset_impl(d, v, 2, n, s, false); }
CUresult CUDAAPI cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream s) { return memset_impl(d, v, 4, n, s, false); }

// ---- pinned host memory: carved from the arena (or, beyond it, see host_alloc) ----------
CUresult CUDAAPI cuMemHostAlloc(void** pp, size_t bytes, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!pp) return CUDA_ERROR_INVALID_VALUE;
  if ((flags & CU_MEMHOSTALLOC_DEVICEMAP) && !c->hello().host_arena_base) VGPU_REFUSE("cuMemHostAlloc(DEVICEMAP) on a backend without device-mapped host memory");
  void* p = host_alloc(bytes, flags);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  *pp = p;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemAllocHost_v2(void** pp, size_t bytes) { return cuMemHostAlloc(pp, bytes, 0); }
CUresult CUDAAPI cuMemFreeHost(void* p) {
  VGPU_DRIVER_OR_RETURN(c);
  return host_free(p) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
CUresult CUDAAPI cuMemHostGetDevicePointer_v2(CUdeviceptr* pdev, void* p, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!pdev || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (!c->in_arena(p, 1)) {
    if (find_host_alloc(p, nullptr)) VGPU_REFUSE("cuMemHostGetDevicePointer on pinned memory that did not fit the arena");
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!c->hello().host_arena_base) VGPU_REFUSE("cuMemHostGetDevicePointer on a backend without device-mapped host memory");
  *pdev = c->device_address_of(p);
  return CUDA_SUCCESS;
}
// Every context of the process shares one session, so all our pinned memory
// is portable; the other flags are the caller's.
CUresult CUDAAPI cuMemHostGetFlags(unsigned int* flags, void* p) {
  VGPU_DRIVER_OR_RETURN(c);
  HostAllocInfo a{};
  if (!flags || !find_host_alloc(p, &a)) return CUDA_ERROR_INVALID_VALUE;
  *flags = a.flags | CU_MEMHOSTALLOC_PORTABLE;
  return CUDA_SUCCESS;
}

// Pointer attributes, as far as the guest knows them: our device allocations
// and VMM mappings, and pinned host memory we handed out (arena or not).
// Refused rather than guessed: the context (every guest context shares one
// host context), range attributes of device memory (a VMM mapping's range is
// not its reservation's), and the boolean attributes, whose width the
// documentation leaves open (writing an int into a caller's bool would
// overrun it).
CUresult CUDAAPI cuPointerGetAttribute(void* data, CUpointer_attribute attr, CUdeviceptr ptr) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!data) return CUDA_ERROR_INVALID_VALUE;
  HostAllocInfo h{};
  unsigned long long buffer_id = 0;
  const bool dev = is_device_pointer(ptr, nullptr, nullptr, &buffer_id);
  const bool host = !dev && find_host_alloc(reinterpret_cast<const void*>(ptr), &h);
  if (!dev && !host) return CUDA_ERROR_INVALID_VALUE;  // not memory CUDA knows, as CUDA answers
  switch (attr) {
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
      // A number for the allocation, unique in the process (cuFFT asks it of
      // its plan's device buffers). Pinned host memory has none here.
      if (!dev) break;
      *static_cast<unsigned long long*>(data) = buffer_id;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
      *static_cast<unsigned int*>(data) = dev ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
      if (dev) {
        *static_cast<CUdeviceptr*>(data) = ptr;
        return CUDA_SUCCESS;
      }
      // Arena memory has one where the host mapped the arena; the rest is refused there.
      return cuMemHostGetDevicePointer_v2(static_cast<CUdeviceptr*>(data), reinterpret_cast<void*>(ptr), 0);
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
      if (dev) return CUDA_ERROR_INVALID_VALUE;  // device memory has no host address
      *static_cast<void**>(data) = reinterpret_cast<void*>(ptr);
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
      *static_cast<int*>(data) = 0;  // the session's one device is the guest's ordinal 0
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
      if (dev) break;
      *static_cast<CUdeviceptr*>(data) = reinterpret_cast<CUdeviceptr>(h.base);
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
      if (dev) break;
      *static_cast<size_t*>(data) = h.bytes;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
      // The handle types this memory could be exported as: none, since the
      // guest exports no memory (cuMemExportToShareableHandle and IPC are
      // refused across the VM boundary). XLA asks before it tries.
      if (!dev) break;
      *static_cast<unsigned int*>(data) = CU_MEM_HANDLE_TYPE_NONE;  // 4 bytes, as the driver writes
      return CUDA_SUCCESS;
    default:
      break;
  }
  log_unsupported(("cuPointerGetAttribute(attribute " + std::to_string(static_cast<int>(attr)) +
                   (dev ? ", device memory)" : ", host memory)")).c_str());
  return CUDA_ERROR_NOT_SUPPORTED;
}
// Registering arbitrary guest memory for DMA is impossible across the VM
// boundary; copies from it already work (staged), so only the mapped form,
// which promises device access, is refused.
CUresult CUDAAPI cuMemHostRegister_v2(void* p, size_t bytes, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!p || !bytes) return CUDA_ERROR_INVALID_VALUE;
  if (flags & (CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_IOMEMORY)) VGPU_REFUSE("cuMemHostRegister(DEVICEMAP)");
  VGPU_REFUSE("cuMemHostRegister");
}
CUresult CUDAAPI cuMemHostRegister(void* p, size_t bytes, unsigned int flags) { return cuMemHostRegister_v2(p, bytes, flags); }
CUresult CUDAAPI cuMemHostUnregister(void*) { VGPU_REFUSE("cuMemHostUnregister"); }

CUresult CUDAAPI cuMemAllocManaged(CUdeviceptr*, size_t, unsigned int) { VGPU_REFUSE("cuMemAllocManaged"); }
// Prefetching moves managed memory; with managed allocations refused there is
// none, and the driver answers a prefetch of other memory with INVALID_VALUE.
CUresult CUDAAPI cuMemPrefetchAsync(CUdeviceptr, size_t, CUdevice, CUstream) {
  VGPU_DRIVER_OR_RETURN(c);
  return CUDA_ERROR_INVALID_VALUE;
}
CUresult CUDAAPI cuMemPrefetchAsync_ptsz(CUdeviceptr p, size_t n, CUdevice d, CUstream s) {
  return cuMemPrefetchAsync(p, n, d, s);
}
CUresult CUDAAPI cuMemPrefetchAsync_v2(CUdeviceptr p, size_t n, CUmemLocation, unsigned int, CUstream s) {
  return cuMemPrefetchAsync(p, n, 0, s);
}
CUresult CUDAAPI cuMemPrefetchAsync_v2_ptsz(CUdeviceptr p, size_t n, CUmemLocation l, unsigned int f, CUstream s) {
  return cuMemPrefetchAsync_v2(p, n, l, f, s);
}

// ---- virtual memory management --------------------------------------------------------
CUresult CUDAAPI cuMemAddressReserve(CUdeviceptr* p, size_t size, size_t align, CUdeviceptr addr, unsigned long long flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!p || !size) return CUDA_ERROR_INVALID_VALUE;
  DevPtrRep rep{};
  Status s = c->call<Op::MemAddressReserve>(AddressReserveReq{size, align, addr, flags}, &rep);
  if (s == st::kOk) *p = rep.ptr;
  return to_cu(s);
}
CUresult CUDAAPI cuMemAddressFree(CUdeviceptr p, size_t size) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->call<Op::MemAddressFree>(MemAddressFreeReq{p, size}));
}
namespace {
// Host-located VMM memory (CU_MEM_LOCATION_TYPE_HOST*): pinned memory of the
// guest's machine that the GPU could map. The guest's memory is not the
// host's, so it cannot be; cuMemCreate refuses it, which callers survive:
// NCCL probes with one such allocation and then uses cuMemHostAlloc (arena
// memory here) instead. The probe asks for the granularity first and treats
// a failure there as fatal, so that question is answered (see below).
bool host_location(const CUmemAllocationProp* prop) {
  return prop && (prop->location.type == CU_MEM_LOCATION_TYPE_HOST ||
                  prop->location.type == CU_MEM_LOCATION_TYPE_HOST_NUMA ||
                  prop->location.type == CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT);
}
bool prop_req(const CUmemAllocationProp* prop, size_t size, MemProp* r) {
  if (!prop || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE) return false;
  *r = MemProp{size, prop->location.id, static_cast<uint32_t>(prop->requestedHandleTypes),
               static_cast<uint32_t>(prop->allocFlags.compressionType) |
                   (static_cast<uint32_t>(prop->allocFlags.gpuDirectRDMACapable) << 8) |
                   (static_cast<uint32_t>(prop->allocFlags.usage) << 16),
               0};
  return true;
}
}  // namespace
CUresult CUDAAPI cuMemCreate(CUmemGenericAllocationHandle* h, size_t size, const CUmemAllocationProp* prop, unsigned long long flags) {
  VGPU_DRIVER_OR_RETURN(c);
  MemCreateReq r{};
  if (h && flags == 0 && host_location(prop) && prop->type == CU_MEM_ALLOCATION_TYPE_PINNED)
    VGPU_REFUSE("cuMemCreate of host-located memory (CU_MEM_LOCATION_TYPE_HOST*)");
  if (!h || flags != 0 || !prop_req(prop, size, &r.prop)) return CUDA_ERROR_INVALID_VALUE;
  if (!device_info_of(prop->location.id)) return CUDA_ERROR_INVALID_DEVICE;
  r.prop.location_id = 0;  // the host's served device
  HandleRep rep{};
  Status s = c->call<Op::MemCreate>(r, &rep);
  if (s == st::kOk) *h = rep.handle;
  return to_cu(s);
}
CUresult CUDAAPI cuMemRelease(CUmemGenericAllocationHandle h) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->call<Op::MemRelease>(MemReleaseReq{h}));
}
CUresult CUDAAPI cuMemMap(CUdeviceptr p, size_t size, size_t offset, CUmemGenericAllocationHandle h, unsigned long long flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  Status s = c->call<Op::MemMap>(MemMapReq{p, size, offset, h});
  if (s == st::kOk) note_device_range(p, size);
  return to_cu(s);
}
CUresult CUDAAPI cuMemUnmap(CUdeviceptr p, size_t size) {
  VGPU_DRIVER_OR_RETURN(c);
  Status s = c->call<Op::MemUnmap>(MemUnmapReq{p, size});
  if (s == st::kOk) forget_device_range(p);
  return to_cu(s);
}
CUresult CUDAAPI cuMemSetAccess(CUdeviceptr p, size_t size, const CUmemAccessDesc* desc, size_t count) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!desc || count == 0) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < count; ++i) {
    if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE || !device_info_of(desc[i].location.id)) return CUDA_ERROR_INVALID_DEVICE;
    Status s = c->call<Op::MemSetAccess>(MemSetAccessReq{p, size, 0, static_cast<uint32_t>(desc[i].flags)});
    if (s != st::kOk) return to_cu(s);
  }
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemGetAllocationGranularity(size_t* g, const CUmemAllocationProp* prop, CUmemAllocationGranularity_flags option) {
  VGPU_DRIVER_OR_RETURN(c);
  MemGranularityReq r{};
  if (g && host_location(prop) && prop->type == CU_MEM_ALLOCATION_TYPE_PINNED) {
    // Answered with the device's granularity (the host's served device): a
    // multiple of every page size, so any size rounded to it is one the real
    // driver would accept; the allocation itself is then refused by cuMemCreate.
    CUmemAllocationProp dev = *prop;
    dev.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    dev.location.id = 0;
    if (!prop_req(&dev, 0, &r.prop)) return CUDA_ERROR_INVALID_VALUE;
  } else {
    if (!g || !prop_req(prop, 0, &r.prop)) return CUDA_ERROR_INVALID_VALUE;
    if (!device_info_of(prop->location.id)) return CUDA_ERROR_INVALID_DEVICE;
  }
  r.prop.location_id = 0;
  r.option = static_cast<uint32_t>(option);
  IntRep rep{};
  Status s = c->call<Op::MemGranularity>(r, &rep);
  if (s == st::kOk) *g = static_cast<size_t>(rep.value);
  return to_cu(s);
}
