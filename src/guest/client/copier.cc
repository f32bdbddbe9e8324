#include "copier.h"

#include <sched.h>

#include <algorithm>
#include <cstring>

namespace vgpu::guest {

namespace {
constexpr size_t kParallelMin = 512u << 10;  // below this, threads cost more than they save
}

ParallelCopier::ParallelCopier(unsigned want) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  threads_ = std::clamp(want, 1u, std::max(1u, cores / 2));
}

ParallelCopier::~ParallelCopier() {
  {
    std::lock_guard lk(job_mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : pool_) t.join();
}

void ParallelCopier::copy(void* dst, const void* src, size_t n) {
  if (threads_ <= 1 || n < kParallelMin) {
    std::memcpy(dst, src, n);
    return;
  }
  std::lock_guard one(mu_);
  if (pool_.empty())
    for (unsigned i = 1; i < threads_; ++i) pool_.emplace_back([this, i] { worker(i); });
  const size_t part = (n / threads_ + 63) & ~size_t(63);
  {
    std::lock_guard lk(job_mu_);
    dst_ = static_cast<char*>(dst);
    src_ = static_cast<const char*>(src);
    n_ = n;
    pending_.store(threads_ - 1, std::memory_order_relaxed);
    ++generation_;
  }
  cv_.notify_all();
  std::memcpy(dst, src, std::min(part, n));  // the caller's share: part 0
  while (pending_.load(std::memory_order_acquire) != 0) sched_yield();
}

void ParallelCopier::worker(unsigned index) {
  uint64_t seen = 0;
  for (;;) {
    char* d;
    const char* s;
    size_t n;
    {
      std::unique_lock lk(job_mu_);
      cv_.wait(lk, [&] { return generation_ != seen || stop_; });
      if (stop_) return;
      seen = generation_;
      d = dst_, s = src_, n = n_;
    }
    const size_t part = (n / threads_ + 63) & ~size_t(63);
    const size_t off = std::min(n, part * index);
    const size_t len = index + 1 == threads_ ? n - off : std::min(part, n - off);
    if (len) std::memcpy(d + off, s + off, len);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace vgpu::guest
