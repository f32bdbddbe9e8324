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
    if (channel >= per_thread_streams.size()) per_thread_streams.resize(channel + 1, 0);
    if (!per_thread_streams[channel] && be->stream_create(0, 0, &per_thread_streams[channel]) != st::kOk) return false;
    *out = per_thread_streams[channel];
    return true;
  }
  const auto* e = handles.find(Kind::kStream, h);
  if (!e) return false;
  *out = e->native;
  return true;
}

Status Call::defer_until_stream(Native stream, bool all_streams) {
  Status st = s.be->fence_create(stream, all_streams, &fence);
  if (st == vgpu::st::kOk) has_fence = true;
  return st;
}

void Session::release_all() {
  // Dependent objects first: executables before graphs, functions with their modules.
  for (auto& [p, n] : mappings) be->mem_unmap(p, n);
  mappings.clear();
  const Kind order[] = {Kind::kGraphExec, Kind::kGraph, Kind::kBlas, Kind::kModule, Kind::kEvent, Kind::kStream,
                        Kind::kMemHandle};
  for (Kind k : order) {
    std::vector<Native> natives;
    handles.for_each([&](Handle, const HandleTable::Entry& e) {
      if (e.kind == k) natives.push_back(e.native);
    });
    for (Native n : natives) {
      switch (k) {
        case Kind::kGraphExec: be->graph_exec_destroy(n); break;
        case Kind::kGraph: be->graph_destroy(n); break;
        case Kind::kBlas: be->blas_destroy(n); break;
        case Kind::kModule: be->module_unload(n); break;
        case Kind::kEvent: be->event_destroy(n); break;
        case Kind::kStream: be->stream_destroy(n); break;
        case Kind::kMemHandle: be->mem_release(n); break;
        default: break;
      }
    }
  }
  for (Native s : per_thread_streams)
    if (s) be->stream_destroy(s);
  per_thread_streams.clear();
  for (auto& [p, n] : reservations) be->va_free(p, n);
  reservations.clear();
  for (auto& [p, n] : allocations) be->mem_free(p);
  allocations.clear();
  handles.clear();
  module_by_hash.clear();
  function_ids.clear();
  module_bytes = 0;
  reserved_bytes = 0;
  mem_held = 0;
  if (stats) stats->mem_held.store(0, std::memory_order_relaxed);
}

}  // namespace vgpu::host
