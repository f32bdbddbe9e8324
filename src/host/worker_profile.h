// Where a worker's time goes, per op: how long dispatch ran (the host's cost
// of issuing the call) and, for calls answered later (a synchronise waiting
// for the device), how long the answer was owed. Off unless --profile
// (VGPU_PROFILE=1): two clock reads per record are not free on the hot path.
// Printed to stderr when the session ends; that table is how a benchmark miss
// is traced to the host's issue cost, the device or the wait.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include "vgpu/ops.h"

namespace vgpu::host {

class WorkerProfile {
 public:
  static uint64_t now_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }

  void dispatched(uint16_t op, uint64_t ns) { add(run_[op], ns); }
  void answered(uint16_t op, uint64_t ns) { add(wait_[op], ns); }
  // Time from one record's end to the next record's start while records kept
  // coming (the loop's own overhead plus waiting for the guest).
  void gap(uint64_t ns) { add(gap_, ns); }

  void print(const char* who) const {
    std::fprintf(stderr, "vgpu-hostd: %s profile (per op: count, dispatch mean/max us, answer-wait mean us)\n", who);
    for (size_t k = 0; k < kOpCount; ++k) {
      const Acc& r = run_[k];
      if (r.n == 0) continue;
      const Acc& w = wait_[k];
      std::fprintf(stderr, "  %-24s %10llu  %9.3f %9.1f  %9.3f\n", op_name(static_cast<uint16_t>(k)),
                   static_cast<unsigned long long>(r.n), mean_us(r), r.max / 1e3, mean_us(w));
    }
    std::fprintf(stderr, "  %-24s %10llu  %9.3f %9.1f\n", "(gap between records)", static_cast<unsigned long long>(gap_.n),
                 mean_us(gap_), gap_.max / 1e3);
  }

 private:
  struct Acc {
    uint64_t n = 0, total = 0, max = 0;
  };
  static void add(Acc& a, uint64_t ns) {
    ++a.n;
    a.total += ns;
    a.max = std::max(a.max, ns);
  }
  static double mean_us(const Acc& a) { return a.n ? double(a.total) / double(a.n) / 1e3 : 0.0; }

  std::array<Acc, kOpCount> run_{}, wait_{};
  Acc gap_;
};

}  // namespace vgpu::host
