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
#include <vector>

#include "backend.h"
#include "handles.h"
#include "vgpu/region.h"
#include "vgpu/stats.h"

namespace vgpu::host {

struct Session {
  Backend* be = nullptr;
  uint32_t slot = 0;
  SlotCtl* ctl = nullptr;
  std::byte* arena = nullptr;
  uint64_t arena_bytes = 0;
  uint64_t device_arena_base = 0;  // arena's first byte as a device address (0: not mapped)
  SlotStats* stats = nullptr;
  bool trace = false;

  HandleTable handles;
  std::vector<Native> per_thread_streams;  // by channel, created on first use
  Status async_error = st::kOk;            // first unreported error of a posted call
  bool bye = false;                        // the guest said goodbye

  // Image being uploaded by BlobAppend records, then loaded by ModuleLoad.
  // An image may be at most max_image_bytes (BlobAppend allocates its whole
  // size up front); tests that feed hostile records lower the limit.
  std::vector<std::byte> blob;
  uint64_t max_image_bytes = uint64_t(1) << 30;
  std::unordered_map<std::string, Handle> module_by_hash;

  // Device memory the session holds (cuMemAlloc and cuMemCreate), for quota
  // and status. VMM handles carry their size in the handle table.
  std::map<DevPtr, uint64_t> allocations;
  std::map<DevPtr, uint64_t> reservations;  // VMM address ranges
  std::map<DevPtr, uint64_t> mappings;      // VMM mapped ranges
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
  void count(std::atomic<uint64_t> SlotStats::*field, uint64_t n = 1) {
    if (stats) (stats->*field).fetch_add(n, std::memory_order_relaxed);
  }

  // Releases every object the guest left behind (streams, events, modules,
  // graphs, cuBLAS handles, memory), newest first.
  void release_all();
};

}  // namespace vgpu::host
