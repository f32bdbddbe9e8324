#include "wait_mode.h"

#include <unistd.h>

#include <algorithm>

namespace vgpu::guest {

WaitTuning::WaitTuning()
    : max_long_spinners_(static_cast<uint32_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN) - 1))) {}

WaitPolicy WaitTuning::begin_wait(bool* long_spin) {
  WaitPolicy p;  // the default: spin briefly, yield, then sleep
  *long_spin = false;
  switch (mode()) {
    case WaitMode::kSpin:
      // Spin long only where spinning cannot slow the answer down: with a
      // GPU host and fewer spinning threads than CPUs, as CUDA's AUTO mode
      // spins only with fewer contexts than CPUs.
      if (gpu_host_) {
        if (long_spinners_.fetch_add(1, std::memory_order_relaxed) < max_long_spinners_) {
          p.spin_us = kSpinWaitUs;
          *long_spin = true;
        } else {
          long_spinners_.fetch_sub(1, std::memory_order_relaxed);
        }
      }
      break;
    case WaitMode::kYield: p.spin_iters = 2000, p.yield_iters = 1u << 30; break;
    case WaitMode::kBlock: p.spin_iters = 2000, p.yield_iters = 0; break;
  }
  return p;
}

}  // namespace vgpu::guest
