// The prologue of every call, once: the session is up and still standing,
// the calling thread has its channel, and a channel several threads share
// is theirs alone until the lease ends. call<>, post<>, the copies, blob
// uploads and the goodbye all start with one.
//
// Costs what the prologue always cost: two loads, a thread_local read, and a
// mutex only on the shared channel. No allocation, no atomic read-modify-write.
#pragma once

#include <mutex>

#include "channel.h"
#include "channel_pool.h"
#include "liveness.h"
#include "vgpu/status.h"

namespace vgpu::guest {

class CallLease {
 public:
  // Whether a call may be made at all: `attached` is the client's attach
  // status (kOk once greeted), then the session's.
  static Status ready(Status attached, const SessionLiveness& live) {
    return attached != st::kOk ? attached : live.dead();
  }

  CallLease(Status attached, const SessionLiveness& live, ChannelPool* pool) : status_(ready(attached, live)) {
    if (status_ != st::kOk) return;
    ch_ = &pool->mine();
    if (ch_->shared_by_threads()) lock_ = std::unique_lock(ch_->mu());
  }
  CallLease(CallLease&&) = default;
  CallLease(const CallLease&) = delete;
  CallLease& operator=(const CallLease&) = delete;

  // kOk, or why no call can be made (then there is no channel).
  Status status() const { return status_; }
  explicit operator bool() const { return status_ == st::kOk; }
  Channel& channel() const { return *ch_; }

 private:
  Status status_;
  Channel* ch_ = nullptr;
  std::unique_lock<std::mutex> lock_;
};

}  // namespace vgpu::guest
