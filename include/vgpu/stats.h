// Live counters the host publishes for the status tool (vgpu-smi).
//
// The daemon creates /dev/shm/vgpu-NAME.stats (mode 0600, host-only: guests
// never map it, so they cannot forge it) next to each region file. Each
// guest slot has one SlotStats block, written only by the worker serving
// that slot and read by anyone who maps the file.
//
// Memory ordering: single writer per block; counters are relaxed atomics
// (a reader may see a call counted before its bytes, which is fine for a
// status display). `generation` is bumped when a new session starts in the
// slot so a reader can tell sessions apart.
#pragma once

#include <atomic>
#include <cstdint>

#include "vgpu/ops.h"

namespace vgpu {

inline constexpr uint64_t kStatsMagic = 0x5354415455504756ull;  // "VGPUSTAT"
inline constexpr uint32_t kStatsVersion = 2;

struct alignas(64) SlotStats {
  std::atomic<uint64_t> generation;
  std::atomic<uint32_t> active;      // 1 while a worker serves the slot
  std::atomic<uint32_t> guest_pid;   // as the guest reported it
  std::atomic<uint32_t> worker_pid;
  std::atomic<uint32_t> backend;     // BackendKind
  std::atomic<uint64_t> started_unix_ms;
  std::atomic<uint64_t> mem_held;    // device bytes the session holds now
  std::atomic<uint64_t> mem_peak;
  std::atomic<uint64_t> mem_quota;   // 0 = no quota
  std::atomic<uint32_t> mps;         // 1: the worker is an MPS client (shares the GPU's context)
  std::atomic<uint32_t> sm_percent;  // its MPS SM share, 1-100 (0: all)
  std::atomic<uint64_t> mps_mem_limit;  // device memory MPS allows it (0: none)
  std::atomic<uint64_t> bytes_htod;
  std::atomic<uint64_t> bytes_dtoh;
  std::atomic<uint64_t> launches;
  std::atomic<uint64_t> gemms;
  std::atomic<uint64_t> graph_launches;
  std::atomic<uint64_t> errors;
  std::atomic<uint64_t> records;
  std::atomic<uint64_t> calls[kOpCount];
  std::atomic<uint64_t> op_errors[kOpCount];
};

struct StatsHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t slot_count;
  uint32_t op_count;  // kOpCount of the daemon that wrote it
  uint32_t daemon_pid;
  std::atomic<uint64_t> heartbeat;
  char region_path[256];
};

inline SlotStats* stats_slot(void* base, uint32_t slot) {
  auto* p = static_cast<char*>(base) + ((sizeof(StatsHeader) + 63) / 64) * 64;
  return reinterpret_cast<SlotStats*>(p) + slot;
}
inline uint64_t stats_file_bytes(uint32_t slots) {
  return ((sizeof(StatsHeader) + 63) / 64) * 64 + uint64_t(slots) * sizeof(SlotStats);
}

}  // namespace vgpu
