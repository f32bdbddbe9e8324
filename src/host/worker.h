// A worker serves one guest slot, in its own process (forked by the daemon),
// with its own backend (its own CUDA context): a guest cannot reach another
// guest's device memory, and a crash ends only its own session. When the
// worker exits, everything the guest held on the device is released with it.
#pragma once

#include <cstdint>
#include <string>

#include "mps.h"
#include "session_limits.h"
#include "vgpu/region_view.h"
#include "vgpu/stats.h"

namespace vgpu::host {

enum class BackendChoice { kAuto, kCuda, kCpu };

struct WorkerOptions {
  BackendChoice backend = BackendChoice::kAuto;
  int device = 0;
  bool trace = false;
  bool profile = false;              // time each op's dispatch and wait; printed when the session ends
  uint64_t mem_quota = 0;            // bytes; 0 = the whole device
  uint32_t guest_timeout_ms = 5000;  // no guest heartbeat for this long ends the session
  uint32_t idle_sleep_us = 10000;    // longest sleep when idle (bounds latency without a doorbell)
  uint32_t spin_us = 2000;           // busy-poll this long after the last record before sleeping
  uint32_t housekeeping_us = 50000;  // how often the slot's state and the guest's heartbeat are looked at
  std::string region;                // the region file, for log lines
  SessionLimits limits;              // what each session may hold besides device memory
  uint64_t cpu_memory_bytes = 0;     // the CPU backend's "device memory" (0: its default, 4 GiB)
  // Sharing the GPU with other guests (mps.h): a region with strict
  // isolation keeps its guests out of MPS; sm_percent (1-100, 0 = all) is an
  // MPS client's share of the SMs.
  bool strict_isolation = false;
  uint32_t sm_percent = 0;
  // Set by the supervisor in the forked worker: whether it is an MPS client,
  // and the device memory limit MPS enforces for it (0: none).
  bool mps_client = false;
  uint64_t mps_mem_limit = 0;
};

// The device memory limit MPS is given for a guest with `quota` bytes: the
// quota (which the worker checks first, exactly) plus room for what the
// driver and libraries allocate for the worker itself (context, cuBLAS
// workspaces), which the quota does not count.
inline uint64_t mps_mem_limit_for(uint64_t quota) { return quota ? quota + (512ull << 20) : 0; }

// Serves slot `slot` of the region `view` (the host's own layout of it; the
// worker follows no offset, size or count read from the region) until the
// guest leaves, dies or misbehaves. Every guest-written word the worker reads (slot
// state, claim token, heartbeat, the completion ring's head, record headers)
// is read once and checked; a value out of range ends this session with one
// log line. Returns the process exit code (0 = guest left cleanly).
int run_worker(const RegionView& view, uint32_t slot, SlotStats* stats, const WorkerOptions& opt);

// The session itself, as run_worker runs it in the forked worker process,
// without what only a worker process does (its death signal tied to the
// daemon, its leak check before _exit). For in-process tests and fuzzers.
int serve_slot(const RegionView& view, uint32_t slot, SlotStats* stats, const WorkerOptions& opt);

}  // namespace vgpu::host
