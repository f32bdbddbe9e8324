// Stream-ordered allocation and memory pools (cuMemAllocAsync,
// cuMemAllocFromPoolAsync, cuMemFreeAsync, cuMemPool*), over the ordinary
// allocation of the host.
//
// What CUDA promises is kept: an allocation is usable by the stream's work
// after the call (here it exists at once), and a free happens after the
// stream's earlier work (here the call waits for the stream, then frees).
// A pool here reserves nothing beyond what is allocated from it: freed memory
// goes back to the device at once, which every release threshold allows, and
// trimming has nothing to give back. The reuse attributes permit the driver to
// hand freed memory to other streams early; never reusing is within them. A
// pool's allocations are its own for its counters (USED_MEM_*). Pools that
// another process could import (handle types), pools of host memory and peer
// access are refused: the guest sees one device, and its memory is the host's.
// NCCL 2.28 creates a pool at every communicator's init and allocates its
// launch buffers from it; PyTorch's and XLA's cudaMallocAsync allocators use
// the device's pools.
#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "driver.h"

using namespace vgpu;
using namespace vgpu::guest;

namespace {

struct Pool {
  bool is_default = false;
  bool destroyed = false;  // by cuMemPoolDestroy; forgotten once its last allocation is freed
  int reuse_follow_events = 1, reuse_opportunistic = 1, reuse_internal = 1;
  uint64_t release_threshold = 0;
  uint64_t used = 0, used_high = 0;
  std::map<CUdeviceptr, uint64_t> allocs;  // address -> bytes
};

std::mutex& mu() {
  static std::mutex& m = *new std::mutex;
  return m;
}
std::set<Pool*>& pools() {  // every live pool, the default one included
  static auto& s = *new std::set<Pool*>;
  return s;
}
std::map<CUdeviceptr, Pool*>& owner() {  // a pool allocation's pool
  static auto& m = *new std::map<CUdeviceptr, Pool*>;
  return m;
}
Pool* default_pool() {
  static Pool* p = [] {
    auto* d = new Pool;
    d->is_default = true;
    pools().insert(d);
    return d;
  }();
  return p;
}
Pool* current = nullptr;  // cuDeviceSetMemPool's; the default when null

CUmemoryPool handle(Pool* p) { return reinterpret_cast<CUmemoryPool>(p); }
// The pool of a handle, if it is one of ours and alive (under mu()).
Pool* pool_of(CUmemoryPool h) {
  auto* p = reinterpret_cast<Pool*>(h);
  return pools().count(p) && !p->destroyed ? p : nullptr;
}

void forget(Pool* p, CUdeviceptr d) {
  auto a = p->allocs.find(d);
  if (a == p->allocs.end()) return;
  p->used -= a->second;
  p->allocs.erase(a);
  if (p->destroyed && p->allocs.empty()) {
    pools().erase(p);
    delete p;
  }
}

CUresult device_ok(CUdevice dev) { return device_info_of(dev) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE; }

CUresult alloc_from(CUdeviceptr* out, size_t bytes, Pool* want, CUstream s) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  unsigned long long id = 0;
  if (CUresult r = cuStreamGetId(s, &id)) return r;  // the stream must be valid
  if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  CUdeviceptr d = 0;
  if (CUresult r = cuMemAlloc_v2(&d, bytes)) return r;
  std::lock_guard lk(mu());
  Pool* p = want ? want : current ? current : default_pool();
  p->allocs[d] = bytes;
  p->used += bytes;
  p->used_high = std::max(p->used_high, p->used);
  owner()[d] = p;
  *out = d;
  return CUDA_SUCCESS;
}

CUresult free_async(CUdeviceptr d, CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  if (d == 0) return CUDA_ERROR_INVALID_VALUE;
  if (CUresult r = cuStreamSynchronize(s)) return r;  // the stream's earlier work may still use it
  return cuMemFree_v2(d);                              // (which forgets it in its pool)
}

}  // namespace

namespace vgpu::guest {
void pool_forget(CUdeviceptr d) {
  std::lock_guard lk(mu());
  auto o = owner().find(d);
  if (o == owner().end()) return;
  Pool* p = o->second;
  owner().erase(o);
  forget(p, d);
}
}  // namespace vgpu::guest

// ---- stream-ordered allocation ---------------------------------------------------------------
CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr* d, size_t bytes, CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  return alloc_from(d, bytes, nullptr, s);
}
CUresult CUDAAPI cuMemAllocAsync_ptsz(CUdeviceptr* d, size_t bytes, CUstream s) {
  return cuMemAllocAsync(d, bytes, s ? s : CU_STREAM_PER_THREAD);
}
CUresult CUDAAPI cuMemAllocFromPoolAsync(CUdeviceptr* d, size_t bytes, CUmemoryPool pool, CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  Pool* p = nullptr;
  {
    std::lock_guard lk(mu());
    if (!(p = pool_of(pool))) return CUDA_ERROR_INVALID_VALUE;
  }
  return alloc_from(d, bytes, p, s);
}
CUresult CUDAAPI cuMemAllocFromPoolAsync_ptsz(CUdeviceptr* d, size_t bytes, CUmemoryPool pool, CUstream s) {
  return cuMemAllocFromPoolAsync(d, bytes, pool, s ? s : CU_STREAM_PER_THREAD);
}
CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr d, CUstream s) { return free_async(d, s); }
CUresult CUDAAPI cuMemFreeAsync_ptsz(CUdeviceptr d, CUstream s) { return free_async(d, s ? s : CU_STREAM_PER_THREAD); }

// ---- pools -----------------------------------------------------------------------------------
CUresult CUDAAPI cuMemPoolCreate(CUmemoryPool* out, const CUmemPoolProps* props) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  if (!out || !props) return CUDA_ERROR_INVALID_VALUE;
  if (props->allocType != CU_MEM_ALLOCATION_TYPE_PINNED) return CUDA_ERROR_INVALID_VALUE;
  if (props->location.type != CU_MEM_LOCATION_TYPE_DEVICE) VGPU_REFUSE("cuMemPoolCreate of host memory");
  if (CUresult r = device_ok(props->location.id)) return r;
  if (props->handleTypes != CU_MEM_HANDLE_TYPE_NONE) VGPU_REFUSE("cuMemPoolCreate with shareable handles");
  auto* p = new Pool;
  std::lock_guard lk(mu());
  pools().insert(p);
  *out = handle(p);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemPoolDestroy(CUmemoryPool pool) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  std::lock_guard lk(mu());
  Pool* p = pool_of(pool);
  if (!p || p->is_default) return CUDA_ERROR_INVALID_VALUE;
  if (current == p) current = nullptr;  // the device's pool is its default one again
  p->destroyed = true;  // its allocations stay valid until freed
  if (p->allocs.empty()) {
    pools().erase(p);
    delete p;
  }
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemPoolTrimTo(CUmemoryPool pool, size_t) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  std::lock_guard lk(mu());
  return pool_of(pool) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;  // nothing is held beyond what is allocated
}
CUresult CUDAAPI cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void* value) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard lk(mu());
  Pool* p = pool_of(pool);
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  // The value is an int for the reuse flags, a cuuint64_t for the byte counts.
  const auto i = [&] { return *static_cast<const int*>(value); };
  const auto u = [&] { return *static_cast<const cuuint64_t*>(value); };
  switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES: p->reuse_follow_events = i(); return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC: p->reuse_opportunistic = i(); return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES: p->reuse_internal = i(); return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: p->release_threshold = u(); return CUDA_SUCCESS;
    // The high-water marks may only be reset, to 0.
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
      if (u() != 0) return CUDA_ERROR_INVALID_VALUE;
      p->used_high = p->used;
      return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
}
CUresult CUDAAPI cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void* value) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard lk(mu());
  Pool* p = pool_of(pool);
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  auto* i = static_cast<int*>(value);
  auto* u = static_cast<cuuint64_t*>(value);
  switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES: *i = p->reuse_follow_events; return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC: *i = p->reuse_opportunistic; return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES: *i = p->reuse_internal; return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: *u = p->release_threshold; return CUDA_SUCCESS;
    // Reserved is what is allocated: nothing is kept back.
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT: *u = p->used; return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH: *u = p->used_high; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
}
// The guest's one device always reaches its own pools; there is no peer.
CUresult CUDAAPI cuMemPoolSetAccess(CUmemoryPool pool, const CUmemAccessDesc* map, size_t count) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  if (!map && count) return CUDA_ERROR_INVALID_VALUE;
  {
    std::lock_guard lk(mu());
    if (!pool_of(pool)) return CUDA_ERROR_INVALID_VALUE;
  }
  for (size_t k = 0; k < count; ++k) {
    if (map[k].location.type != CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_INVALID_VALUE;
    if (CUresult r = device_ok(map[k].location.id)) return r;
    // The owning device's access cannot be narrowed, as with NVIDIA's driver.
    if (map[k].flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE) return CUDA_ERROR_INVALID_DEVICE;
  }
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemPoolGetAccess(CUmemAccess_flags* flags, CUmemoryPool pool, CUmemLocation* location) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  if (!flags || !location) return CUDA_ERROR_INVALID_VALUE;
  {
    std::lock_guard lk(mu());
    if (!pool_of(pool)) return CUDA_ERROR_INVALID_VALUE;
  }
  if (location->type != CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_INVALID_VALUE;
  if (CUresult r = device_ok(location->id)) return r;
  *flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  return CUDA_SUCCESS;
}

// ---- the device's pools ------------------------------------------------------------------------
namespace {
// The device's default pool, or (`in_use`) the one its stream-ordered
// allocations come from now.
CUresult device_pool(CUmemoryPool* out, CUdevice dev, bool in_use) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  if (CUresult r = device_ok(dev)) return r;
  std::lock_guard lk(mu());
  *out = handle(in_use && current ? current : default_pool());
  return CUDA_SUCCESS;
}
}  // namespace
CUresult CUDAAPI cuDeviceGetDefaultMemPool(CUmemoryPool* out, CUdevice dev) { return device_pool(out, dev, false); }
CUresult CUDAAPI cuDeviceGetMemPool(CUmemoryPool* out, CUdevice dev) { return device_pool(out, dev, true); }
CUresult CUDAAPI cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool) {
  VGPU_DRIVER_OR_RETURN(c);
  (void)c;
  if (CUresult r = device_ok(dev)) return r;
  std::lock_guard lk(mu());
  Pool* p = pool_of(pool);
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  current = p->is_default ? nullptr : p;
  return CUDA_SUCCESS;
}
