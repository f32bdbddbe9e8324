// Waiting without burning a core, and waking without a lost wake-up.
//
// A waiter spins (cheapest when the answer is microseconds away), then yields,
// then sleeps on a futex word ("doorbell") with a bounded timeout. Before
// sleeping it raises `need_wakeup`, issues a full fence and checks its
// condition once more; a waker publishes its work, issues a full fence, and
// rings the doorbell only if `need_wakeup` is raised (io_uring's SQPOLL
// protocol). Either the waiter sees the work on its re-check, or the waker
// sees the flag: no interleaving loses both.
//
// Memory ordering: the two seq_cst fences order "flag store -> condition load"
// in the waiter against "work store -> flag load" in the waker (a Dekker pair).
// Doorbell increments are release, doorbell loads acquire.
//
// Futexes are shared (not FUTEX_PRIVATE) so they work between processes that
// map the same file. Inside a VM a futex cannot reach the host, so every sleep
// is bounded (`WaitPolicy::max_sleep_us`): the waiter falls back to polling at
// that period, and an ivshmem doorbell interrupt can later replace the futex
// without changing callers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include <sched.h>

namespace vgpu {

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint32_t timeout_us);
void futex_wake_all(std::atomic<uint32_t>* word);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

struct WaitPolicy {
  uint32_t spin_iters = 20000;  // ~tens of microseconds of pause loops
  uint32_t yield_iters = 200;
  uint32_t max_sleep_us = 1000;
  // When nonzero, the spin phase lasts this long by the clock instead of
  // spin_iters loops: a waiter that should behave like CUDA's spinning
  // synchronise (the default for a process with fewer contexts than CPUs)
  // keeps spinning through waits of milliseconds, where a sleep's wake-up
  // (tens of microseconds in a VM) would be paid on every synchronise.
  uint32_t spin_us = 0;
};

// Waker side: call after publishing work the sleeper may be waiting for.
inline void wake_if_needed(std::atomic<uint32_t>* need_wakeup, std::atomic<uint32_t>* doorbell) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (need_wakeup->load(std::memory_order_relaxed)) {
    doorbell->fetch_add(1, std::memory_order_release);
    futex_wake_all(doorbell);
  }
}

// Waits until ready() is true or give_up() is true (checked after each sleep).
// Returns ready()'s final value.
template <class Ready, class GiveUp>
bool wait_until(Ready&& ready, GiveUp&& give_up, std::atomic<uint32_t>* need_wakeup,
                std::atomic<uint32_t>* doorbell, const WaitPolicy& p = {}) {
  if (p.spin_us) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(p.spin_us);
    for (uint32_t i = 1;; ++i) {
      if (ready()) return true;
      cpu_relax();
      if (i % 256 == 0 && std::chrono::steady_clock::now() >= until) break;  // a clock read per ~256 polls
    }
  } else {
    for (uint32_t i = 0; i < p.spin_iters; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
  }
  for (uint32_t i = 0; i < p.yield_iters; ++i) {
    if (ready()) return true;
    sched_yield();
  }
  for (;;) {
    const uint32_t bell = doorbell->load(std::memory_order_acquire);
    need_wakeup->store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ready()) {
      need_wakeup->store(0, std::memory_order_relaxed);
      return true;
    }
    futex_wait(doorbell, bell, p.max_sleep_us);
    need_wakeup->store(0, std::memory_order_relaxed);
    if (ready()) return true;
    if (give_up()) return false;
  }
}

}  // namespace vgpu
