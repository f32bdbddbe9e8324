// One guest process' session on the host: its backend, what it holds, its
// memory accounting and its counters. Lives in the worker process that serves
// the slot; touched only by that worker's executor thread.
//
// Ownership. The session is the one owner of everything a guest's calls make
// the backend create: streams (the per-thread ones too), events, modules and
// their functions, graphs, graph executables, cuBLAS handles, VMM handles,
// mappings and address ranges, and allocations. A handler creates an object
// through the backend and hands it to the session at once (adopt*); from then
// on the session alone destroys it: when the guest asks (release, free_*,
// unmap), when an adoption is refused, and when the session ends
// (release_all, in the one order written down there). The backends keep only
// what they need to compute with (their headers say what and why), never a
// second list of what to destroy.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "backend.h"
#include "handles.h"
#include "session_limits.h"
#include "vgpu/region.h"
#include "vgpu/stats.h"

namespace vgpu::host {

class Session {
 public:
  Session() = default;  // the default limits (tests, fuzzers)
  // A worker's session: the limits are the daemon's (WorkerOptions::limits),
  // set before the handle table is sized by them.
  explicit Session(const SessionLimits& l) : limits(l), handles_(l.handles) {}

  // ---- where the session runs: set by the worker before the first record --------
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
  uint64_t mem_quota = 0;  // 0 = none
  // An image may be at most max_image_bytes (BlobAppend allocates its whole
  // size up front); tests that feed hostile records lower the limit.
  uint64_t max_image_bytes = uint64_t(1) << 30;

  // ---- the guest's protocol state (no backend objects) -----------------------------
  // Stream capture mode (CUstreamCaptureMode) by channel, as each guest
  // thread set it (0, global, until it does), and the mode the executor
  // thread has now; dispatch() makes them agree before each record.
  std::vector<uint32_t> capture_modes;
  uint32_t executor_capture_mode = 0;
  Status async_error = st::kOk;  // first unreported error of a posted call
  bool bye = false;              // the guest said goodbye
  // Image being uploaded by BlobAppend records, then loaded by ModuleLoad.
  std::vector<std::byte> blob;

  // A session that dies releases what it still holds (release_all): the
  // backend must outlive it.
  ~Session() { release_all(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  bool arena_range(uint64_t off, uint64_t n, std::byte** out) const {
    if (off > arena_bytes || n > arena_bytes - off) return false;
    *out = arena + off;
    return true;
  }

  // ---- ids: streams, events, modules, functions, graphs, executables, cuBLAS and VMM handles
  // The object behind the guest's id `h`, if it is a live id of kind `k`
  // this session issued; nullptr for a forged, stale or mistyped one. O(1).
  const HandleTable::Entry* lookup(Kind k, Handle h) const { return handles_.find(k, h); }
  // Translates a guest stream id (the legacy and per-thread ids included:
  // a channel's per-thread stream is made on its first use); false for an
  // unknown one, or a per-thread stream the backend could not make.
  bool stream(Handle h, uint32_t channel, Native* out);
  // Hands backend object `n` of kind `k`, just created, to the session: *out
  // is its new id. With the table full, `n` is destroyed again at once (it
  // must not outlive the refused call) and the call fails as
  // over_limit(kHandles). `aux` as the kind keeps it: a VMM handle's size,
  // already charged (and given back if the adoption is refused). Modules
  // and functions have their own adopt_*.
  Status adopt(Kind k, Native n, Handle* out, uint64_t aux = 0);
  // The guest destroys id `h` of kind `k`: the session takes it back and
  // destroys its object, with the backend's answer. kInvalidHandle for an id
  // that is not a live one of kind `k` (functions go only with their
  // module). The id is gone whatever the backend answers, as a CUDA handle
  // is after a failed destroy, except a VMM handle: its memory stays held,
  // and counted, until a release succeeds. A module takes its functions and
  // its image's bytes with it.
  Status release(Kind k, Handle h);

  // ---- modules and functions --------------------------------------------------------
  // The id of the module this session already loaded from the image with
  // content hash (hi, lo), or 0: loading it again is free.
  Handle loaded_module(uint64_t hash_hi, uint64_t hash_lo) const;
  // adopt() for a module loaded from `bytes` of image with that hash; its
  // bytes count against limits.module_bytes until it is released.
  Status adopt_module(Native m, uint64_t bytes, uint64_t hash_hi, uint64_t hash_lo, Handle* out);
  uint64_t module_bytes() const { return module_bytes_; }
  // The id of backend function `fn` of module `module`: the id it already
  // has (asking again for a kernel returns the same id, as CUDA returns the
  // same CUfunction, so a client that looks its kernels up before every
  // launch holds no more ids), else a new one (kOutOfMemory as
  // over_limit(kHandles) with the table full; a function needs no
  // destroying). Its entry keeps the kernel's parameter bytes (aux) and
  // whether that layout is known (aux2).
  Status adopt_function(Handle module, Native fn, uint32_t param_bytes, bool layout_known, Handle* out);

  // ---- device memory ------------------------------------------------------------------
  // Quota accounting (mem_quota): charge before the backend allocates, so a
  // guest past its quota never makes it allocate; uncharge when a creation
  // fails. What is adopted stays charged until the session frees it.
  bool charge(uint64_t bytes) {
    if (mem_quota && (bytes > mem_quota || mem_held_ > mem_quota - bytes)) return false;
    mem_held_ += bytes;
    if (stats) {
      stats->mem_held.store(mem_held_, std::memory_order_relaxed);
      if (mem_held_ > stats->mem_peak.load(std::memory_order_relaxed))
        stats->mem_peak.store(mem_held_, std::memory_order_relaxed);
    }
    return true;
  }
  void uncharge(uint64_t bytes) {
    mem_held_ -= bytes < mem_held_ ? bytes : mem_held_;
    if (stats) stats->mem_held.store(mem_held_, std::memory_order_relaxed);
  }
  uint64_t mem_held() const { return mem_held_; }

  // cuMemAlloc allocations: `bytes` already charged. A live one counts
  // against limits.handles (allocation_count()).
  void adopt_allocation(DevPtr p, uint64_t bytes) { allocations_[p] = bytes; }
  // Frees allocation `p` and gives its charge back; kInvalidValue for an
  // address that is no allocation of this session. A failed free keeps it.
  Status free_allocation(DevPtr p);
  size_t allocation_count() const { return allocations_.size(); }

  // cuMemAddressReserve ranges, counted against limits.reserved_bytes by
  // reservation_charge(size) each.
  static uint64_t reservation_charge(uint64_t size);
  uint64_t reserved_bytes() const { return reserved_bytes_; }
  void adopt_reservation(DevPtr p, uint64_t size);
  // Frees range [p, p + size), one of this session's as it was reserved
  // (kInvalidValue otherwise); mappings still inside it go with it.
  Status free_reservation(DevPtr p, uint64_t size);

  // cuMemMap mappings (their VMM handles are ids, adopt(kMemHandle)).
  void adopt_mapping(DevPtr p, uint64_t size) { mappings_[p] = size; }
  // Unmaps [p, p + size) (the backend checks the range); every mapping that
  // starts inside it is gone once that succeeds (one unmap may cover several).
  Status unmap(DevPtr p, uint64_t size);

  // What the session holds, for tests and fuzzers to look at (never to change).
  const std::map<DevPtr, uint64_t>& allocations() const { return allocations_; }
  const std::map<DevPtr, uint64_t>& reservations() const { return reservations_; }
  const std::map<DevPtr, uint64_t>& mappings() const { return mappings_; }
  size_t ids() const { return handles_.size(); }

  // A call refused for passing one of `limits`: logs which (once per limit
  // and session: a guest retrying in a loop must not flood the log) and
  // returns kOutOfMemory for the caller to return.
  enum class Limit : uint8_t { kModuleBytes, kReservedBytes, kHandles, kAllocations };
  Status over_limit(Limit which);

  void count(std::atomic<uint64_t> SlotStats::*field, uint64_t n = 1) {
    if (stats) (stats->*field).fetch_add(n, std::memory_order_relaxed);
  }

  // ---- the end ----------------------------------------------------------------------
  // What one teardown released, by what it was (release_all's steps).
  struct Released {
    uint32_t captures = 0;  // captures still open, ended (their graphs count as graphs)
    uint32_t graph_execs = 0, graphs = 0, blas = 0, events = 0, streams = 0, modules = 0;
    uint32_t mappings = 0, vmm_handles = 0, reservations = 0, allocations = 0;
    bool any() const;
    std::string text() const;  // "2 streams, 1 event, ..."; empty when none
  };
  // Releases everything the guest left behind, in the order written down in
  // session_teardown.cc, each object exactly once; then the session holds
  // nothing (its ids are never issued again). Called when the session ends;
  // safe to call again (it then releases nothing).
  Released release_all();

 private:
  // The one place that knows how each kind of id's object is destroyed:
  // release(), a refused adoption and the teardown all come here.
  Status destroy_object(Kind k, Native n);
  // Forgets module id `m`'s hash entry, functions and image bytes (`bytes`).
  void forget_module(Handle m, uint64_t bytes);
  bool holds_nothing() const;

  HandleTable handles_{limits.handles};
  std::vector<Native> per_thread_streams_;  // by channel, created on first use
  std::map<std::pair<uint64_t, uint64_t>, Handle> module_by_hash_;
  uint64_t module_bytes_ = 0;  // images loaded now (each module's size is its entry's aux)
  std::map<std::pair<Handle, Native>, Handle> function_ids_;  // (module id, backend function) -> id
  std::map<DevPtr, uint64_t> allocations_;  // cuMemAlloc: address -> bytes charged
  std::map<DevPtr, uint64_t> reservations_;  // VMM address ranges: address -> size
  std::map<DevPtr, uint64_t> mappings_;      // VMM mapped ranges: address -> size
  uint64_t reserved_bytes_ = 0;  // the reservations as limits.reserved_bytes counts them
  uint64_t mem_held_ = 0;
  uint8_t limits_logged_ = 0;  // bit per Limit
};

}  // namespace vgpu::host
