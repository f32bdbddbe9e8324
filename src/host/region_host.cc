#include "region_host.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

namespace vgpu::host {

RegionHost::RegionHost(const RegionView& view, uint64_t session_id, std::string name)
    : view_(view),
      fields_(header_fields_for(view.config(), view.layout())),
      session_id_(session_id),
      name_(std::move(name)),
      slots_(view.slot_count()) {}

void RegionHost::beat(HostState state) {
  RegionHeader* h = view_.header();
  write_header(h, fields_);
  h->session_id.store(session_id_, std::memory_order_relaxed);
  std::atomic_ref<uint32_t>(h->host_pid).store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
  h->host_state.store(static_cast<uint32_t>(state), std::memory_order_release);
  // Stored, not incremented: the host never reads back a word the guest can write.
  h->host_heartbeat.store(++beats_, std::memory_order_release);
}

bool RegionHost::idle() const {
  return std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.worker == 0; });
}

bool RegionHost::spend(uint32_t s, uint64_t now_ms) {
  Slot& sl = slots_[s];
  if (sl.refilled_ms == 0) sl.refilled_ms = now_ms;
  sl.tokens = std::min(kBurst, sl.tokens + double(now_ms - sl.refilled_ms) * kPerSecond / 1000.0);
  sl.refilled_ms = now_ms;
  if (sl.tokens < 1) {
    if (!sl.throttled_told)
      std::fprintf(stderr, "vgpu-hostd: %s slot %u: its guest cycles the slot faster than %g times a second; "
                   "served more slowly\n", name_.c_str(), s, kPerSecond);
    sl.throttled_told = true;
    return false;
  }
  if (sl.tokens >= kBurst - 1) sl.throttled_told = false;  // calm again: a new episode is worth a line
  sl.tokens -= 1;
  return true;
}

void RegionHost::wipe(uint32_t s) {
  const SlotView sv = view_.slot(s);
  // The state word (the slot's first) is not zeroed with the rest: 0 is
  // kFree, and a guest may claim the slot the moment it reads so, before the
  // wipe is done and its kFree store undoes the claim.
  static_assert(offsetof(SlotCtl, state) == 0);
  sv.ctl->state.store(static_cast<uint32_t>(SlotState::kClosing), std::memory_order_relaxed);
  constexpr size_t kState = sizeof(sv.ctl->state);
  std::memset(sv.control.data() + kState, 0, sv.control.size() - kState);
  std::atomic_thread_fence(std::memory_order_release);
  sv.ctl->state.store(static_cast<uint32_t>(SlotState::kFree), std::memory_order_release);
}

void RegionHost::serve(uint64_t now, const std::function<pid_t(uint32_t)>& start) {
  for (uint32_t s = 0; s < view_.slot_count(); ++s) {
    Slot& sl = slots_[s];
    if (sl.worker) continue;  // the worker watches its own slot
    SlotCtl* ctl = view_.slot(s).ctl;
    const uint32_t state = ctl->state.load(std::memory_order_acquire);  // once; the value below is this one
    if (state == static_cast<uint32_t>(SlotState::kFree)) {
      sl.claiming_since = 0;
      continue;
    }
    if (state == static_cast<uint32_t>(SlotState::kClaiming)) {
      // A guest that died between claiming and filling in its claim.
      if (!sl.claiming_since) sl.claiming_since = now;
      if (now - sl.claiming_since > kClaimingMs && spend(s, now)) wipe(s), sl.claiming_since = 0;
      continue;
    }
    sl.claiming_since = 0;
    if (!spend(s, now)) continue;
    if (state == static_cast<uint32_t>(SlotState::kClaimed)) {
      if (const pid_t id = start(s); id > 0) sl.worker = id;
    } else {
      // kClosing or kServing with no worker (its worker is gone), or a value
      // outside the protocol: back to free.
      wipe(s);
    }
  }
}

void RegionHost::worker_exited(uint32_t s) {
  slots_[s].worker = 0;
  wipe(s);  // one wipe per worker, already paid for by its start
}

}  // namespace vgpu::host
