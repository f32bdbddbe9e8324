// One guest process' session on the host: its backend, the ids it holds,
// its memory accounting and its counters. Lives in the worker process that
// serves the slot; touched only by that worker's executor thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend.h"
#include "handles.h"
#include "session_limits.h"
#include "vgpu/region.h"
#include "vgpu/stats.h"

namespace vgpu::host {

struct Session {
  Session() = default;  // the default limits (tests, fuzzers)
  // A worker's session: the limits are the daemon's (WorkerOptions::limits),
  // set before the handle table is sized by them.
  explicit Session(const SessionLimits& l) : limits(l), handles(l.handles) {}

  Backend* be = nullptr;
  uint32_t slot = 0;
  SlotCtl* ctl = nullptr;
  std::byte* arena = nullptr;
  uint64_t arena_bytes = 0;
  uint64_t device_arena_base = 0;  // arena's first byte as a device address (0: not mapped)
  SlotStats* stats = nullptr;
  // Every slot's stats of this region (the host-only stats file, written by
  // the workers, never by a guest), for NVML's process list: region_slots
  // blocks from region_stats. Null/0 where there is no stats file (tests,
  // fuzzers): then only this session's own block is known.
  const SlotStats* region_stats = nullptr;
  uint32_t region_slots = 0;
  bool trace = false;

  SessionLimits limits;
  HandleTable handles{limits.handles};
  std::vector<Native> per_thread_streams;  // by channel, created on first use
  // Stream capture mode (CUstreamCaptureMode) by channel, as each guest
  // thread set it (0, global, until it does), and the mode the executor
  // thread has now; dispatch() makes them agree before each record.
  std::vector<uint32_t> capture_modes;
  uint32_t executor_capture_mode = 0;
  Status async_error = st::kOk;            // first unreported error of a posted call
  bool bye = false;                        // the guest said goodbye

  // Image being uploaded by BlobAppend records, then loaded by ModuleLoad.
  // An image may be at most max_image_bytes (BlobAppend allocates its whole
  // size up front); tests that feed hostile records lower the limit.
  std::vector<std::byte> blob;
  uint64_t max_image_bytes = uint64_t(1) << 30;
  std::unordered_map<std::string, Handle> module_by_hash;
  uint64_t module_bytes = 0;  // images loaded now (each module's size is its entry's aux)
  // The id given for each (module id, backend function): asking again for a
  // kernel returns the same id, as CUDA returns the same CUfunction, so a
  // client that looks its kernels up before every launch holds no more ids.
  std::map<std::pair<Handle, Native>, Handle> function_ids;

  // Device memory the session holds (cuMemAlloc and cuMemCreate), for quota
  // and status. VMM handles carry their size in the handle table.
  std::map<DevPtr, uint64_t> allocations;
  std::map<DevPtr, uint64_t> reservations;  // VMM address ranges
  std::map<DevPtr, uint64_t> mappings;      // VMM mapped ranges
  uint64_t reserved_bytes = 0;  // the reservations as limits.reserved_bytes counts them
  uint64_t mem_held = 0;
  uint64_t mem_quota = 0;  // 0 = none

  // Translates a guest stream id; false for an unknown one.
  bool stream(Handle h, uint32_t channel, Native* out);

  bool arena_range(uint64_t off, uint64_t n, std::byte** out) const {
    if (off > arena_bytes || n > arena_bytes - off) return false;
    *out = arena + off;
    return true;
  }

  bool charge(uint64_t bytes) {
    if (mem_quota && (bytes > mem_quota || mem_held > mem_quota - bytes)) return false;
    mem_held += bytes;
    if (stats) {
      stats->mem_held.store(mem_held, std::memory_order_relaxed);
      if (mem_held > stats->mem_peak.load(std::memory_order_relaxed)) stats->mem_peak.store(mem_held, std::memory_order_relaxed);
    }
    return true;
  }
  void uncharge(uint64_t bytes) {
    mem_held -= bytes < mem_held ? bytes : mem_held;
    if (stats) stats->mem_held.store(mem_held, std::memory_order_relaxed);
  }
  // A call refused for passing one of `limits`: logs which (once per limit
  // and session: a guest retrying in a loop must not flood the log) and
  // returns kOutOfMemory for the caller to return.
  enum class Limit : uint8_t { kModuleBytes, kReservedBytes, kHandles, kAllocations };
  Status over_limit(Limit which);

  // Gives the backend object `n` an id in *out. With the table full, `n` is
  // destroyed again by `destroy(n)` (it must not outlive the refused call)
  // and the call fails as over_limit(kHandles).
  template <class Destroy>
  Status adopt(Handle* out, Kind k, Native n, Destroy&& destroy, uint64_t aux = 0) {
    if (handles.add(out, k, n, aux)) return vgpu::st::kOk;
    destroy(n);
    return over_limit(Limit::kHandles);
  }

  void count(std::atomic<uint64_t> SlotStats::*field, uint64_t n = 1) {
    if (stats) (stats->*field).fetch_add(n, std::memory_order_relaxed);
  }

  // Releases every object the guest left behind (streams, events, modules,
  // graphs, cuBLAS handles, memory), newest first.
  void release_all();

 private:
  uint8_t limits_logged_ = 0;  // bit per Limit
};

}  // namespace vgpu::host
