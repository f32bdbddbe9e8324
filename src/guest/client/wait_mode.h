// How a guest thread waits for the host's answer, from the context's
// scheduling flags (CU_CTX_SCHED_*: cuDevicePrimaryCtxSetFlags,
// cudaSetDeviceFlags, cuCtxCreate; the last one set applies to the whole
// process):
//   kSpin  (AUTO, SPIN) spins through waits of up to kSpinWaitUs, as CUDA's
//          synchronise spins for a process with fewer contexts than CPUs; a
//          sleep would add a wake-up (tens of microseconds in a VM) to every
//          synchronise that waits on the device. Only with a GPU host and
//          fewer spinning threads than CPUs; otherwise as the default below;
//   kYield (YIELD) spins briefly, then yields the CPU between polls;
//   kBlock (BLOCKING_SYNC) spins briefly, then sleeps until woken.
// The default policy (wait.h's WaitPolicy) spins ~tens of microseconds,
// yields a while, then sleeps.
//
// Memory ordering: the mode and the spinner count are relaxed: each is a
// hint about how to wait, and no data is published through them.
#pragma once

#include <atomic>
#include <cstdint>

#include "vgpu/wait.h"

namespace vgpu::guest {

enum class WaitMode : uint32_t { kSpin, kYield, kBlock };

class WaitTuning {
 public:
  static constexpr uint32_t kSpinWaitUs = 100000;

  WaitTuning();

  void set_mode(WaitMode m) { mode_.store(m, std::memory_order_relaxed); }
  WaitMode mode() const { return mode_.load(std::memory_order_relaxed); }
  // Whether the host serves a GPU (set once, from Hello, before any other
  // thread calls): the CPU backend's worker shares this machine's CPUs,
  // where a spinning waiter would slow its own answer.
  void set_gpu_host(bool v) { gpu_host_ = v; }

  // The policy for one wait. *long_spin says the wait took one of the long
  // spinners' places; it must then call end_long_spin() when done.
  WaitPolicy begin_wait(bool* long_spin);
  void end_long_spin() { long_spinners_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  std::atomic<WaitMode> mode_{WaitMode::kSpin};
  std::atomic<uint32_t> long_spinners_{0};  // threads now in a kSpinWaitUs spin
  uint32_t max_long_spinners_ = 1;          // this machine's CPUs less one, at least one
  bool gpu_host_ = false;
};

}  // namespace vgpu::guest
