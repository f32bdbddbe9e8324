// Virtual memory management (cuMemAddressReserve / cuMemCreate / cuMemMap ...),
// which ggml's memory pool uses by default.
#include "dispatch.h"

namespace vgpu::host {

Status on_MemAddressReserve(Call& c, const AddressReserveReq& r, DevPtrRep& out) {
  if (r.size == 0) return st::kInvalidValue;
  const uint64_t cap = c.s.limits.reserved_bytes;
  if (r.size > cap || Session::reservation_charge(r.size) > cap - c.s.reserved_bytes())
    return c.s.over_limit(Session::Limit::kReservedBytes);
  Status s = c.s.be->va_reserve(r.size, r.alignment, r.addr, r.flags, &out.ptr);
  if (s != st::kOk) return s;
  c.s.adopt_reservation(out.ptr, r.size);
  return st::kOk;
}

Status on_MemAddressFree(Call& c, const MemAddressFreeReq& r, Empty&) {
  return c.s.free_reservation(r.ptr, r.size);
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
  return c.s.adopt(Kind::kMemHandle, h, &out.handle, size);  // stays charged until released
}

Status on_MemRelease(Call& c, const MemReleaseReq& r, Empty&) { return c.s.release(Kind::kMemHandle, r.allocation); }

Status on_MemMap(Call& c, const MemMapReq& r, Empty&) {
  const auto* e = c.s.lookup(Kind::kMemHandle, r.allocation);
  if (!e) return st::kInvalidHandle;
  Status s = c.s.be->mem_map(r.ptr, r.size, r.offset, e->native);
  if (s == st::kOk) c.s.adopt_mapping(r.ptr, r.size);
  return s;
}

Status on_MemUnmap(Call& c, const MemUnmapReq& r, Empty&) { return c.s.unmap(r.ptr, r.size); }

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
