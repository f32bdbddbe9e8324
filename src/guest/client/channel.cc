#include "channel.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "vgpu/wait.h"

namespace vgpu::guest {

Channel::Channel(const ChannelView& v, uint32_t index, SlotCtl* slot, ChannelShared& shared, bool shared_by_threads)
    : shared_(shared),
      ctl_(v.ctl),
      slot_ctl_(slot),
      prod_(&v.ctl->cmd, v.cmd.data(), static_cast<uint32_t>(v.cmd.size())),
      cons_(&v.ctl->cpl, v.cpl.data(), static_cast<uint32_t>(v.cpl.size())),
      reply_(v.reply.data(), v.reply.size()),
      index_(index),
      shared_by_threads_(shared_by_threads) {}

Status Channel::send(uint16_t op, uint16_t flags, const void* req, uint32_t req_len, Bytes in, uint64_t* seq) {
  const uint64_t payload = uint64_t(req_len) + in.size();
  if (payload > prod_.max_payload()) return st::kInvalidValue;
  // After a host restart the region belongs to a new session (perhaps a new
  // guest in this very slot): a stale guest must not write into it.
  if (shared_.live.gone()) return shared_.live.dead();
  RecordHeader* h;
  for (uint32_t spins = 0; !(h = prod_.try_reserve(static_cast<uint32_t>(payload))); ++spins) {
    // Ring full: the host is behind. Wait for it to consume.
    if (shared_.live.gone()) return shared_.live.dead();
    if (spins < 1000) cpu_relax();
    else if (spins < 2000) sched_yield();
    else usleep(50);
  }
  auto* p = reinterpret_cast<std::byte*>(h) + sizeof(RecordHeader);
  if (req_len) std::memcpy(p, req, req_len);
  if (!in.empty()) std::memcpy(p + req_len, in.data(), in.size());
  *seq = shared_.seq.fetch_add(1, std::memory_order_relaxed) + 1;
  prod_.commit(h, op, flags, *seq);
  wake_if_needed(&slot_ctl_->need_wakeup, &slot_ctl_->doorbell);
  return st::kOk;
}

void Channel::absorb_async_failure(CompletionData* c) {
  if (c->status == st::kOk) return;
  for (const Deferred& d : deferred_) {
    if (d.seq == c->seq && d.async) {
      shared_.errors.note(c->status);
      c->status = st::kOk;
      return;
    }
  }
}

bool Channel::take_completions(uint64_t seq, CompletionData* out) {
  CompletionData c;
  while (cons_.try_take(&c)) {
    if (c.async_error) shared_.errors.note(c.async_error);
    // The host answers a device-answered record only if the device's store
    // raced its failure check: report that failure as an asynchronous error
    // rather than keep the completion forever.
    if (c.seq == device_answered_ && c.seq != seq) {
      shared_.errors.note(c.status);
      continue;
    }
    // An asynchronous staged copy's error is reported now, as an
    // asynchronous error, not later to whichever copy reuses its place.
    absorb_async_failure(&c);
    if (c.seq == seq) {
      *out = c;
      return true;
    }
    stash_.push_back(c);
  }
  return false;
}

Status Channel::wait(uint64_t seq, CompletionData* out, bool device_answer) {
  for (size_t i = 0; i < stash_.size(); ++i) {
    if (stash_[i].seq == seq) {
      *out = stash_[i];
      stash_.erase(stash_.begin() + static_cast<long>(i));
      return st::kOk;
    }
  }
  bool found = false;
  auto ready = [&] {
    if (device_answer && ctl_->device_seq.load(std::memory_order_acquire) == seq) {
      *out = CompletionData{st::kOk, seq, 0, 0, st::kOk};
      device_answered_ = seq;
      return found = true;
    }
    if (take_completions(seq, out)) return found = true;
    // Gone (host restarted, session ended): stop reading a ring that may
    // now carry another session's completions.
    return shared_.live.gone();
  };
  auto give_up = [&] { return shared_.live.gone(); };
  bool long_spin = false;
  const WaitPolicy p = shared_.wait.begin_wait(&long_spin);
  const bool ok = wait_until(ready, give_up, &ctl_->guest_need_wakeup, &ctl_->cpl_doorbell, p);
  if (long_spin) shared_.wait.end_long_spin();
  if (!ok || !found) {
    const Status d = shared_.live.dead();
    return d ? d : st::kUnknown;
  }
  return st::kOk;
}

void Channel::read_reply(const CompletionData& c, void* rep, uint32_t rep_len, MutBytes extra,
                         uint32_t* extra_len) const {
  const auto got = static_cast<uint32_t>(std::min<uint64_t>(c.reply_bytes, reply_.size()));
  if (rep_len) std::memcpy(rep, reply_.data(), std::min(rep_len, got));
  if (extra_len) {
    const auto n = got > rep_len ? static_cast<uint32_t>(std::min<uint64_t>(got - rep_len, extra.size())) : 0u;
    if (n) std::memcpy(extra.data(), reply_.data() + rep_len, n);
    *extra_len = n;
  }
}

Status Channel::collect(uint32_t k) {
  Deferred& d = deferred_[k];
  if (!d.seq) return st::kOk;
  CompletionData c{};
  const Status s = wait(d.seq, &c);
  d = {};
  return s ? s : c.status;
}

}  // namespace vgpu::guest
