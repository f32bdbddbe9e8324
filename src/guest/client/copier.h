// Large memcpy split across a few threads, for staged pageable copies.
//
// One thread copies ~9 GB/s; the arena DMA runs at ~55 GB/s. Pageable copies
// are staged through the arena, so the guest's memcpy is their bottleneck:
// splitting each 2 MiB chunk over a few threads lifts it. Small copies (and
// VGPU_COPY_THREADS=1) stay on the calling thread. One per process, owned by
// the staged copies (StagedCopies).
//
// Memory ordering: a job's fields are published by the release increment of
// `generation_` under the mutex; workers acknowledge with a release decrement
// of `pending_`, which the caller waits for with acquire, so the copied bytes
// are visible to the caller when copy() returns.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace vgpu::guest {

class ParallelCopier {
 public:
  // Up to `want` threads, the caller's included (VGPU_COPY_THREADS), and at
  // most half this machine's CPUs; they start on the first large copy.
  explicit ParallelCopier(unsigned want);
  ~ParallelCopier();
  ParallelCopier(const ParallelCopier&) = delete;
  ParallelCopier& operator=(const ParallelCopier&) = delete;

  void copy(void* dst, const void* src, size_t n);

 private:
  void worker(unsigned index);

  unsigned threads_ = 1;  // including the caller
  std::mutex mu_;         // one large copy at a time; guards the job
  std::mutex job_mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  bool stop_ = false;  // under job_mu_: the workers exit
  std::atomic<unsigned> pending_{0};
  char* dst_ = nullptr;
  const char* src_ = nullptr;
  size_t n_ = 0;
  std::vector<std::thread> pool_;
};

}  // namespace vgpu::guest
