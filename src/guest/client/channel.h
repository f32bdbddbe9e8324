// One guest thread's channel: its command ring producer, completion ring
// consumer and reply buffer, and waiting for its completions.
//
// A Channel is used by one thread at a time (its owner, or whichever thread
// holds its mutex when several threads share it: see ChannelPool and
// CallLease). It knows nothing of Client: what the channels of one process
// share (the session's liveness, the sequence every record takes its number
// from, the earliest asynchronous error, how threads wait) is handed to it as
// a ChannelShared.
//
// Memory ordering: records and completions as ring.h says; sleeping and
// waking as wait.h says. `seq` is taken with a relaxed fetch_add after the
// ring space is reserved; the record's release-store publish orders it for
// the host. The device's answer (device_seq) is loaded with acquire.
//
// Trust: this is the guest's end, which trusts the host; what it must never
// do is write into a region whose session has ended (the host restarted, or
// handed the slot to another guest): every send, and every wait round,
// checks the liveness first.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "async_errors.h"
#include "liveness.h"
#include "vgpu/ops.h"
#include "vgpu/region.h"
#include "vgpu/region_view.h"
#include "vgpu/ring.h"
#include "vgpu/status.h"
#include "wait_mode.h"

namespace vgpu::guest {

using Bytes = std::span<const std::byte>;
using MutBytes = std::span<std::byte>;

// What every channel of one process shares. One per process (the Client's);
// a test makes its own.
struct ChannelShared {
  explicit ChannelShared(SessionLiveness& l) : live(l) {}
  SessionLiveness& live;
  std::atomic<uint64_t> seq{0};  // the last record number handed out
  AsyncErrors errors;
  WaitTuning wait;
};

class Channel {
 public:
  // Records whose completions are collected later, each in its own place
  // (the staged copies: one per staging chunk, reused only once its copy is
  // done). A later caller collects the outcome of an earlier one's record.
  static constexpr uint32_t kDeferred = 4;

  // `index`: the channel's number in its slot. `shared_by_threads`: the
  // channel kept for the threads beyond one per channel, used under mu().
  Channel(const ChannelView& v, uint32_t index, SlotCtl* slot, ChannelShared& shared, bool shared_by_threads);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  uint32_t index() const { return index_; }
  bool shared_by_threads() const { return shared_by_threads_; }
  std::mutex& mu() { return mu_; }
  uint32_t max_payload() const { return prod_.max_payload(); }

  // Publishes one record (the request, then `in` inline) and returns its
  // sequence number in *seq. kInvalidValue for a payload the ring cannot
  // hold; the session's status once it has ended. A full ring is waited on.
  Status send(uint16_t op, uint16_t flags, const void* req, uint32_t req_len, Bytes in, uint64_t* seq);

  // Waits for the completion of record `seq` (sent with kFlagWantCompletion;
  // with `device_answer`, also kFlagDeviceAnswer: then the device storing
  // seq into device_seq is the answer "done, no error"). Completions of
  // other records met on the way are kept for their own waits.
  Status wait(uint64_t seq, CompletionData* out, bool device_answer = false);

  // A sync call's reply as completion `c` describes it: the reply struct
  // into `rep` (rep_len bytes at most) and any bytes after it into `extra`
  // (their count in *extra_len, when given). Never reads past the buffer.
  void read_reply(const CompletionData& c, void* rep, uint32_t rep_len, MutBytes extra, uint32_t* extra_len) const;

  // Place k (< kDeferred) now waits for record `seq`. `async`: its caller
  // has returned, so its failure is an asynchronous error (noted as soon as
  // its completion is seen) rather than a status for whoever collects it.
  void defer(uint32_t k, uint64_t seq, bool async) {
    deferred_[k] = {seq, async};
  }
  // Waits for place k's record, if any, and frees the place; returns that
  // record's status (kOk for an async one: its failure went to the
  // asynchronous errors).
  Status collect(uint32_t k);

  // Gives the channel back to the slot's pool (the owning thread exits).
  void release() { ctl_->in_use.store(0, std::memory_order_release); }

 private:
  struct Deferred {
    uint64_t seq = 0;
    bool async = false;
  };
  // Takes every completion now in the ring; true once `seq`'s is in *out.
  bool take_completions(uint64_t seq, CompletionData* out);
  // An async deferred record's failure becomes an asynchronous error.
  void absorb_async_failure(CompletionData* c);

  ChannelShared& shared_;
  ChannelCtl* ctl_;
  SlotCtl* slot_ctl_;
  RingProducer prod_;
  CplConsumer cons_;
  std::span<const std::byte> reply_;
  uint32_t index_;
  bool shared_by_threads_;
  std::mutex mu_;
  std::vector<CompletionData> stash_;  // completions taken while waiting for another
  uint64_t device_answered_ = 0;       // the last seq the device answered (see wait)
  Deferred deferred_[kDeferred];
};

}  // namespace vgpu::guest
