// The earliest error a posted call met and nobody has been told of yet: CUDA
// reports an asynchronous error at the next synchronising call, and so do we
// (the host returns it with a later completion, Completion::async_error).
//
// Memory ordering: acq_rel on both sides; the first error noted wins (a CAS
// from kOk), and reading it clears it.
#pragma once

#include <atomic>

#include "vgpu/status.h"

namespace vgpu::guest {

class AsyncErrors {
 public:
  // The earliest error not yet reported, cleared by reading (kOk if none).
  Status take() { return first_.exchange(st::kOk, std::memory_order_acq_rel); }
  // Keeps `s` unless an earlier error is still waiting; kOk is ignored.
  void note(Status s) {
    Status expected = st::kOk;
    if (s != st::kOk) first_.compare_exchange_strong(expected, s, std::memory_order_acq_rel);
  }

 private:
  std::atomic<Status> first_{st::kOk};
};

}  // namespace vgpu::guest
