// Allocation, copies and memsets. Arena offsets are checked against the
// slot's arena; device addresses are checked by the backend.
#include "dispatch.h"

namespace vgpu::host {

Status on_MemAlloc(Call& c, const MemAllocReq& r, DevPtrRep& out) {
  if (r.bytes == 0) return st::kInvalidValue;
  // Without a quota only the device bounds the bytes, not how many small
  // allocations the host keeps track of.
  if (c.s.allocation_count() >= c.s.limits.handles) return c.s.over_limit(Session::Limit::kAllocations);
  if (!c.s.charge(r.bytes)) return st::kOutOfMemory;
  Status s = c.s.be->mem_alloc(r.bytes, &out.ptr);
  if (s != st::kOk) {
    c.s.uncharge(r.bytes);
    return s;
  }
  c.s.adopt_allocation(out.ptr, r.bytes);
  return st::kOk;
}

Status on_MemFree(Call& c, const MemFreeReq& r, Empty&) { return c.s.free_allocation(r.ptr); }

Status on_MemcpyHtoD(Call& c, const MemcpyHtoDReq& r, Empty&) {
  Native stream;
  std::byte* src;
  if (!c.s.stream(r.stream, c.channel, &stream)) return st::kInvalidHandle;
  if (!c.s.arena_range(r.src, r.bytes, &src)) return st::kInvalidValue;
  Status s = c.s.be->copy_htod(r.dst, src, r.bytes, stream);
  if (s != st::kOk) return s;
  c.s.count(&SlotStats::bytes_htod, r.bytes);
  // The guest reuses its staging chunk once told: only after the DMA is done.
  return c.wants_completion() ? c.defer_until_stream(stream) : st::kOk;
}

Status on_MemcpyDtoH(Call& c, const MemcpyDtoHReq& r, Empty&) {
  Native stream;
  std::byte* dst;
  if (!c.s.stream(r.stream, c.channel, &stream)) return st::kInvalidHandle;
  if (!c.s.arena_range(r.dst, r.bytes, &dst)) return st::kInvalidValue;
  Status s = c.s.be->copy_dtoh(dst, r.src, r.bytes, stream);
  if (s != st::kOk) return s;
  c.s.count(&SlotStats::bytes_dtoh, r.bytes);
  return c.wants_completion() ? c.defer_until_stream(stream) : st::kOk;
}

Status on_MemcpyDtoD(Call& c, const MemcpyDtoDReq& r, Empty&) {
  Native stream;
  if (!c.s.stream(r.stream, c.channel, &stream)) return st::kInvalidHandle;
  Status s = c.s.be->copy_dtod(r.dst, r.src, r.bytes, stream);
  if (s == st::kOk && c.wants_completion()) return c.defer_until_stream(stream);
  return s;
}

namespace {
// Bytes a pitched 2-D area spans: pitch * (height - 1) + width, overflow-checked.
bool span_2d(uint64_t pitch, uint64_t width, uint64_t height, uint64_t* out) {
  if (height == 0 || width == 0) {
    *out = 0;
    return true;
  }
  if (width > pitch) return false;
  if (height - 1 > 0 && pitch > (UINT64_MAX - width) / (height - 1)) return false;
  *out = pitch * (height - 1) + width;
  return true;
}
}  // namespace

Status on_Memcpy2D(Call& c, const Memcpy2DReq& r, Empty&) {
  Native stream;
  if (!c.s.stream(r.stream, c.channel, &stream)) return st::kInvalidHandle;
  uint64_t dst = r.dst, src = r.src, extent;
  std::byte* host;
  switch (static_cast<CopyKind>(r.kind)) {
    case CopyKind::kHtoD:
      if (!span_2d(r.spitch, r.width, r.height, &extent) || !c.s.arena_range(r.src, extent, &host))
        return st::kInvalidValue;
      src = reinterpret_cast<uint64_t>(host);
      c.s.count(&SlotStats::bytes_htod, r.width * r.height);
      break;
    case CopyKind::kDtoH:
      if (!span_2d(r.dpitch, r.width, r.height, &extent) || !c.s.arena_range(r.dst, extent, &host))
        return st::kInvalidValue;
      dst = reinterpret_cast<uint64_t>(host);
      c.s.count(&SlotStats::bytes_dtoh, r.width * r.height);
      break;
    case CopyKind::kDtoD:
      break;
    default:
      return st::kInvalidValue;
  }
  Status s = c.s.be->copy_2d(static_cast<CopyKind>(r.kind), dst, r.dpitch, src, r.spitch, r.width, r.height, stream);
  if (s == st::kOk && c.wants_completion()) return c.defer_until_stream(stream);
  return s;
}

Status on_Memset(Call& c, const MemsetReq& r, Empty&) {
  Native stream;
  if (!c.s.stream(r.stream, c.channel, &stream)) return st::kInvalidHandle;
  if (r.elem_bytes != 1 && r.elem_bytes != 2 && r.elem_bytes != 4) return st::kInvalidValue;
  Status s = c.s.be->memset(r.dst, r.value, r.elem_bytes, r.count, stream);
  if (s == st::kOk && c.wants_completion()) return c.defer_until_stream(stream);
  return s;
}

}  // namespace vgpu::host
