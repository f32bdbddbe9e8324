// Virtual memory management (cuMemAddressReserve / cuMemCreate / cuMemMap ...),
// which ggml's memory pool uses by default.
#include <algorithm>

#include "dispatch.h"

namespace vgpu::host {

namespace {
// A reservation as SessionLimits::reserved_bytes counts it: rounded up to
// 2 MiB, the VMM granularity (CUDA's and the CPU backend's), so that many
// tiny reservations cannot slip under the limit. `size` is at most the limit.
uint64_t reserve_charge(uint64_t size) {
  constexpr uint64_t kGranularity = uint64_t(2) << 20;
  return (size + kGranularity - 1) / kGranularity * kGranularity;
}
}  // namespace

Status on_MemAddressReserve(Call& c, const AddressReserveReq& r, DevPtrRep& out) {
  if (r.size == 0) return st::kInvalidValue;
  const uint64_t cap = c.s.limits.reserved_bytes;
  if (r.size > cap || reserve_charge(r.size) > cap - c.s.reserved_bytes)
    return c.s.over_limit(Session::Limit::kReservedBytes);
  Status s = c.s.be->va_reserve(r.size, r.alignment, r.addr, r.flags, &out.ptr);
  if (s != st::kOk) return s;
  // emplace: a backend handing out a live range twice must not skew the count.
  if (c.s.reservations.emplace(out.ptr, r.size).second) c.s.reserved_bytes += reserve_charge(r.size);
  return st::kOk;
}

Status on_MemAddressFree(Call& c, const MemAddressFreeReq& r, Empty&) {
  auto it = c.s.reservations.find(r.ptr);
  if (it == c.s.reservations.end() || it->second != r.size) return st::kInvalidValue;
  Status s = c.s.be->va_free(r.ptr, r.size);
  if (s == st::kOk) {
    c.s.reserved_bytes -= std::min(reserve_charge(it->second), c.s.reserved_bytes);
    c.s.reservations.erase(it);
  }
  return s;
}

Status on_MemCreate(Call& c, const MemCreateReq& r, HandleRep& out) {
  const uint64_t size = r.prop.size;
  if (size == 0) return st::kInvalidValue;
  if (!c.s.charge(size)) return st::kOutOfMemory;
  Native h;
  Status s = c.s.be->mem_create(r.prop, &h);
  if (s != st::kOk) {
    c.s.uncharge(size);
    return s;
  }
  return c.s.adopt(
      &out.handle, Kind::kMemHandle, h,
      [&](Native x) {
        c.s.be->mem_release(x);
        c.s.uncharge(size);
      },
      size);
}

Status on_MemRelease(Call& c, const MemReleaseReq& r, Empty&) {
  const auto* e = c.s.handles.find(Kind::kMemHandle, r.allocation);
  if (!e) return st::kInvalidHandle;
  const Native h = e->native;
  const uint64_t size = e->aux;
  Status s = c.s.be->mem_release(h);
  if (s == st::kOk) {
    c.s.uncharge(size);
    c.s.handles.erase(Kind::kMemHandle, r.allocation);
  }
  return s;
}

Status on_MemMap(Call& c, const MemMapReq& r, Empty&) {
  const auto* e = c.s.handles.find(Kind::kMemHandle, r.allocation);
  if (!e) return st::kInvalidHandle;
  Status s = c.s.be->mem_map(r.ptr, r.size, r.offset, e->native);
  if (s == st::kOk) c.s.mappings[r.ptr] = r.size;
  return s;
}

Status on_MemUnmap(Call& c, const MemUnmapReq& r, Empty&) {
  Status s = c.s.be->mem_unmap(r.ptr, r.size);
  if (s == st::kOk) c.s.mappings.erase(r.ptr);
  return s;
}

Status on_MemSetAccess(Call& c, const MemSetAccessReq& r, Empty&) {
  return c.s.be->mem_set_access(r.ptr, r.size, r.location_id, r.flags);
}

Status on_MemGranularity(Call& c, const MemGranularityReq& r, IntRep& out) {
  uint64_t g = 0;
  Status s = c.s.be->mem_granularity(r.prop, r.option, &g);
  out.value = static_cast<int64_t>(g);
  return s;
}

}  // namespace vgpu::host
