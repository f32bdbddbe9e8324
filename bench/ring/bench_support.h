// Support for the two-process ring benchmarks: a TSC clock, a latency
// histogram, CPU pinning, a partner process, and a shared region.
#pragma once

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "mapping.h"
#include "vgpu/region.h"
#include "vgpu/ring.h"

namespace vgpu::bench {

// ---------------------------------------------------------------- clock

// Per-iteration times of ~100 ns need a clock far cheaper than
// clock_gettime under a hypervisor: the TSC (invariant on every x86 this
// runs on), calibrated once against steady_clock.
inline uint64_t ticks() {
#if defined(__x86_64__)
  _mm_lfence();  // do not let the read drift ahead of the loads before it
  return __rdtsc();
#else
  return std::chrono::steady_clock::now().time_since_epoch().count();
#endif
}

inline double ns_per_tick() {
  static const double v = [] {
#if defined(__x86_64__)
    using clk = std::chrono::steady_clock;
    const auto t0 = clk::now();
    const uint64_t c0 = ticks();
    while (clk::now() - t0 < std::chrono::milliseconds(50)) {
    }
    const uint64_t c1 = ticks();
    const double ns = std::chrono::duration<double, std::nano>(clk::now() - t0).count();
    return ns / static_cast<double>(c1 - c0);
#else
    return 1.0;
#endif
  }();
  return v;
}

// ---------------------------------------------------------------- histogram

// Latencies in ticks: exact below 8192 ticks (a few microseconds), then 64
// sub-buckets per power of two (under 1.6% error) up to 2^40 ticks.
class Histogram {
 public:
  void add(uint64_t t) {
    ++counts_[bucket(t)];
    ++n_;
  }
  uint64_t count() const { return n_; }
  // The p-th percentile (0 < p <= 100) in nanoseconds.
  double percentile_ns(double p) const {
    if (n_ == 0) return 0;
    const uint64_t rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(n_ - 1));
    uint64_t seen = 0;
    for (size_t b = 0; b < counts_.size(); ++b) {
      seen += counts_[b];
      if (seen > rank) return static_cast<double>(lower_bound(b)) * ns_per_tick();
    }
    return static_cast<double>(lower_bound(counts_.size() - 1)) * ns_per_tick();
  }

 private:
  static constexpr unsigned kExactBits = 13;  // exact below 8192
  static constexpr unsigned kSubBits = 6;
  static constexpr size_t kBuckets = (1u << kExactBits) + (40 - kExactBits) * (1u << kSubBits);
  static size_t bucket(uint64_t t) {
    if (t < (1u << kExactBits)) return t;
    const unsigned msb = 63 - static_cast<unsigned>(__builtin_clzll(t));
    if (msb >= 40) return kBuckets - 1;
    const uint64_t sub = (t >> (msb - kSubBits)) & ((1u << kSubBits) - 1);
    return (1u << kExactBits) + (msb - kExactBits) * (1u << kSubBits) + sub;
  }
  static uint64_t lower_bound(size_t b) {
    if (b < (1u << kExactBits)) return b;
    const size_t k = b - (1u << kExactBits);
    const unsigned msb = static_cast<unsigned>(k >> kSubBits) + kExactBits;
    return (uint64_t{1} << msb) | ((k & ((1u << kSubBits) - 1)) << (msb - kSubBits));
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t n_ = 0;
};

// ---------------------------------------------------------------- processes

// The first two CPUs this process may run on, or {-1, -1} with fewer.
inline std::pair<int, int> two_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return {-1, -1};
  int found[2] = {-1, -1}, n = 0;
  for (int c = 0; c < CPU_SETSIZE && n < 2; ++c)
    if (CPU_ISSET(c, &set)) found[n++] = c;
  return n == 2 ? std::pair{found[0], found[1]} : std::pair{-1, -1};
}

inline void pin_to(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// Runs `body` in a child process pinned to the second CPU while this
// process is pinned to the first (each side owns a core, as a host worker
// and a guest vCPU would). Restores this process' affinity on join.
class Partner {
 public:
  template <class Body>
  explicit Partner(Body&& body) {
    sched_getaffinity(0, sizeof saved_, &saved_);
    const auto [mine, theirs] = two_cpus();
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ < 0) {
      std::perror("fork");
      std::abort();
    }
    if (pid_ == 0) {
      pin_to(theirs);
      body();
      _exit(0);
    }
    pin_to(mine);
  }
  ~Partner() { join(); }
  Partner(const Partner&) = delete;
  Partner& operator=(const Partner&) = delete;

  // Waits for the child; true if it exited with status 0.
  bool join() {
    if (pid_ <= 0) return ok_;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
    ok_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    sched_setaffinity(0, sizeof saved_, &saved_);
    return ok_;
  }

 private:
  pid_t pid_ = 0;
  bool ok_ = false;
  cpu_set_t saved_{};
};

// ---------------------------------------------------------------- region

// A real region in /dev/shm (one slot, one channel), unlinked at once: the
// mapping survives, and fork hands it to the partner.
class BenchRegion {
 public:
  explicit BenchRegion(uint32_t cmd_ring_bytes = 1u << 20) {
    RegionConfig c;
    c.slot_count = 1;
    c.channels_per_slot = 1;
    c.cmd_ring_bytes = cmd_ring_bytes;
    c.cpl_ring_entries = 256;
    c.reply_bytes = 64 << 10;
    c.arena_bytes = 2 << 20;
    const std::string path = (access("/dev/shm", W_OK) == 0 ? std::string("/dev/shm") : std::string("/tmp")) +
                             "/vgpu-ring-bench-" + std::to_string(getpid());
    std::string err;
    m_ = create_region_file(path, c, &err);
    unlink(path.c_str());
    if (!m_) {
      std::fprintf(stderr, "ring_benchmark: %s\n", err.c_str());
      std::abort();
    }
    const ChannelView cv = m_->view().channel(0, 0);
    ch_ = cv.ctl;
    cmd_data_ = cv.cmd.data();
    cpl_ = cv.cpl.data();
    cmd_bytes_ = c.cmd_ring_bytes;
    cpl_entries_ = c.cpl_ring_entries;
    scratch_ = m_->view().slot(0).arena.data();
  }

  RingProducer cmd_producer() const { return RingProducer(&ch_->cmd, cmd_data_, cmd_bytes_); }
  RingConsumer cmd_consumer() const { return RingConsumer(&ch_->cmd, cmd_data_, cmd_bytes_, 0); }
  CplProducer cpl_producer() const { return CplProducer(&ch_->cpl, cpl_, cpl_entries_, 0); }
  CplConsumer cpl_consumer() const { return CplConsumer(&ch_->cpl, cpl_, cpl_entries_); }
  // Shared bytes outside the rings (the slot's arena), page aligned.
  std::byte* scratch() const { return scratch_; }

 private:
  std::unique_ptr<Mapping> m_;
  ChannelCtl* ch_;
  std::byte* cmd_data_;
  Completion* cpl_;
  uint32_t cmd_bytes_, cpl_entries_;
  std::byte* scratch_;
};

}  // namespace vgpu::bench
