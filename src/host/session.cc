#include "session.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dispatch.h"

namespace vgpu::host {

Status Session::over_limit(Limit which) {
  const uint8_t bit = uint8_t(1u << static_cast<unsigned>(which));
  if (!(limits_logged_ & bit)) {
    limits_logged_ |= bit;
    struct Text {
      const char* what;
      uint64_t n;
      const char* unit;
    };
    const Text t =
        which == Limit::kModuleBytes     ? Text{"module images", limits.module_bytes >> 20, " MiB (VGPU_MAX_MODULE_MB)"}
        : which == Limit::kReservedBytes ? Text{"reserved address space", limits.reserved_bytes >> 20,
                                                " MiB (VGPU_MAX_RESERVE_MB)"}
        : which == Limit::kHandles       ? Text{"live handles", limits.handles, " (VGPU_MAX_HANDLES)"}
                                         : Text{"live allocations", limits.handles, " (VGPU_MAX_HANDLES)"};
    std::fprintf(stderr,
                 "vgpu-hostd: slot %u (worker pid %d): the guest reached its limit of %llu%s for %s; such calls "
                 "fail with out of memory (logged once)\n",
                 slot, getpid(), static_cast<unsigned long long>(t.n), t.unit, t.what);
  }
  return vgpu::st::kOutOfMemory;
}

bool Session::stream(Handle h, uint32_t channel, Native* out) {
  if (h == kStreamLegacy || h == kStreamLegacyAlt) {
    *out = kNativeLegacyStream;
    return true;
  }
  if (h == kStreamPerThread) {
    // Each guest thread (channel) has its own per-thread default stream; like
    // CUDA's, it is a blocking stream (it synchronises with the legacy one).
    if (channel >= per_thread_streams_.size()) per_thread_streams_.resize(channel + 1, 0);
    if (!per_thread_streams_[channel] && be->stream_create(0, 0, &per_thread_streams_[channel]) != st::kOk) return false;
    *out = per_thread_streams_[channel];
    return true;
  }
  const auto* e = handles_.find(Kind::kStream, h);
  if (!e) return false;
  *out = e->native;
  return true;
}

Status Call::defer_until_stream(Native stream, bool all_streams) {
  Status st = s.be->fence_create(stream, all_streams, &fence);
  if (st == vgpu::st::kOk) has_fence = true;
  return st;
}

// ---- ids -----------------------------------------------------------------------------

Status Session::destroy_object(Kind k, Native n) {
  switch (k) {
    case Kind::kStream: return be->stream_destroy(n);
    case Kind::kEvent: return be->event_destroy(n);
    case Kind::kModule: return be->module_unload(n);
    case Kind::kFunction: return st::kOk;  // lives and dies with its module
    case Kind::kGraph: return be->graph_destroy(n);
    case Kind::kGraphExec: return be->graph_exec_destroy(n);
    case Kind::kBlas: return be->blas_destroy(n);
    case Kind::kMemHandle: return be->mem_release(n);
  }
  return st::kInvalidHandle;
}

Status Session::adopt(Kind k, Native n, Handle* out, uint64_t aux) {
  if (handles_.add(out, k, n, aux)) return st::kOk;
  destroy_object(k, n);
  if (k == Kind::kMemHandle) uncharge(aux);
  return over_limit(Limit::kHandles);
}

Status Session::release(Kind k, Handle h) {
  if (k == Kind::kFunction) return st::kInvalidHandle;
  if (k == Kind::kMemHandle) {
    const HandleTable::Entry* e = handles_.find(k, h);
    if (!e) return st::kInvalidHandle;
    const uint64_t charged = e->aux;
    const Status s = be->mem_release(e->native);
    if (s == st::kOk) {
      uncharge(charged);
      handles_.erase(k, h);
    }
    return s;
  }
  HandleTable::Entry obj;
  if (!handles_.take(k, h, &obj)) return st::kInvalidHandle;
  if (k == Kind::kModule) forget_module(h, obj.aux);
  return destroy_object(k, obj.native);
}

// ---- modules and functions --------------------------------------------------------------

Handle Session::loaded_module(uint64_t hash_hi, uint64_t hash_lo) const {
  auto it = module_by_hash_.find({hash_hi, hash_lo});
  return it != module_by_hash_.end() && handles_.find(Kind::kModule, it->second) ? it->second : 0;
}

Status Session::adopt_module(Native m, uint64_t bytes, uint64_t hash_hi, uint64_t hash_lo, Handle* out) {
  if (Status s = adopt(Kind::kModule, m, out, bytes)) return s;
  module_bytes_ += bytes;
  module_by_hash_[{hash_hi, hash_lo}] = *out;
  return st::kOk;
}

void Session::forget_module(Handle m, uint64_t bytes) {
  module_bytes_ -= std::min(bytes, module_bytes_);
  for (auto it = module_by_hash_.begin(); it != module_by_hash_.end(); ++it) {
    if (it->second == m) {
      module_by_hash_.erase(it);
      break;
    }
  }
  // Its kernels go with it, as in CUDA: their ids now fail as invalid
  // handles instead of reaching the backend with a function it has freed.
  for (auto it = function_ids_.lower_bound({m, 0}); it != function_ids_.end() && it->first.first == m;) {
    handles_.erase(Kind::kFunction, it->second);
    it = function_ids_.erase(it);
  }
}

Status Session::adopt_function(Handle module, Native fn, uint32_t param_bytes, bool layout_known, Handle* out) {
  const auto key = std::make_pair(module, fn);
  if (auto it = function_ids_.find(key); it != function_ids_.end() && handles_.find(Kind::kFunction, it->second)) {
    *out = it->second;
    return st::kOk;
  }
  if (!handles_.add(out, Kind::kFunction, fn, param_bytes, layout_known)) return over_limit(Limit::kHandles);
  function_ids_[key] = *out;
  return st::kOk;
}

// ---- device memory ------------------------------------------------------------------------

Status Session::free_allocation(DevPtr p) {
  auto it = allocations_.find(p);
  if (it == allocations_.end()) return st::kInvalidValue;
  const Status s = be->mem_free(p);
  if (s == st::kOk) {
    uncharge(it->second);
    allocations_.erase(it);
  }
  return s;
}

// Rounded up to 2 MiB, the VMM granularity (CUDA's and the CPU backend's),
// so that many tiny reservations cannot slip under the limit. `size` is at
// most the limit (the caller checks that first).
uint64_t Session::reservation_charge(uint64_t size) {
  constexpr uint64_t kGranularity = uint64_t(2) << 20;
  return (size + kGranularity - 1) / kGranularity * kGranularity;
}

void Session::adopt_reservation(DevPtr p, uint64_t size) {
  // emplace: a backend handing out a live range twice must not skew the count.
  if (reservations_.emplace(p, size).second) reserved_bytes_ += reservation_charge(size);
}

namespace {
// Forgets the ranges of `m` that start in [p, p + size); the guest names
// both, so the end saturates instead of wrapping below p.
void forget_ranges(std::map<DevPtr, uint64_t>& m, DevPtr p, uint64_t size) {
  const DevPtr end = size > ~DevPtr{0} - p ? ~DevPtr{0} : p + size;
  m.erase(m.lower_bound(p), m.lower_bound(end));
}
}  // namespace

Status Session::free_reservation(DevPtr p, uint64_t size) {
  auto it = reservations_.find(p);
  if (it == reservations_.end() || it->second != size) return st::kInvalidValue;
  const Status s = be->va_free(p, size);
  if (s == st::kOk) {
    // A freed range has no mappings left: the backend dropped them with it
    // (the CPU backend does) or refused to free it.
    forget_ranges(mappings_, p, size);
    reserved_bytes_ -= std::min(reservation_charge(it->second), reserved_bytes_);
    reservations_.erase(it);
  }
  return s;
}

Status Session::unmap(DevPtr p, uint64_t size) {
  const Status s = be->mem_unmap(p, size);
  if (s == st::kOk) forget_ranges(mappings_, p, size);
  return s;
}

}  // namespace vgpu::host
