// The host's side of one region's control plane, as the supervisor runs it:
// the header it re-asserts with every heartbeat, and each slot's life cycle
// (a worker started for a claim, the slot wiped when its worker is gone).
//
// Trust: everything here is computed from the host's own RegionView (its
// config) and session id. Of the region's bytes it reads only each slot's
// state word, once per pass, and acts on the value it read; a value outside
// the protocol heals the slot (wiped back to kFree) rather than steering the
// host. What a guest can make it do is bounded per slot: every wipe and every
// worker start spends one of the slot's tokens (kBurst, refilled at kPerSecond),
// so a guest that flips its state word in a loop, or claims and abandons its
// slot, costs a few memsets and forks a second, never a busy supervisor, and
// other slots and regions are served on every pass regardless.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vgpu/region_view.h"

namespace vgpu::host {

class RegionHost {
 public:
  static constexpr double kBurst = 16;      // wipes + worker starts a slot may have at once
  static constexpr double kPerSecond = 8;   // and then, per second
  static constexpr uint64_t kClaimingMs = 5000;  // kClaiming longer than this: the claimer died

  // `name` names the region in log lines.
  RegionHost(const RegionView& view, uint64_t session_id, std::string name);

  const RegionView& view() const { return view_; }

  // The heartbeat (every ~100 ms): re-asserts the header fields the host
  // owns (magic, version, geometry, session id, host pid, `state`) and
  // publishes the next heartbeat value, the host's own count.
  void beat(HostState state);

  // One pass over the slots that have no worker: frees abandoned claims and
  // leftover states, and calls `start(slot)` for each new claim; `start`
  // returns the worker's id (> 0), or 0 if it could not start one (then the
  // slot's fatal word says so and the guest gives up).
  void serve(uint64_t now_ms, const std::function<pid_t(uint32_t)>& start);

  // The worker of slot `s` is gone: the slot is wiped for the next guest.
  void worker_exited(uint32_t s);

  pid_t worker(uint32_t s) const { return slots_[s].worker; }
  bool idle() const;

  // Back to a free slot: control block and rings zeroed (the arena needs no
  // clearing: the next guest formats it). Only with no worker running.
  void wipe(uint32_t s);

 private:
  struct Slot {
    pid_t worker = 0;
    uint64_t claiming_since = 0;
    double tokens = kBurst;
    uint64_t refilled_ms = 0;
    bool throttled_told = false;
  };
  // Spends one of slot s's tokens; false (logged once per episode) if none is left.
  bool spend(uint32_t s, uint64_t now_ms);

  RegionView view_;
  HeaderFields fields_;
  uint64_t session_id_;
  uint64_t beats_ = 0;
  std::string name_;
  std::vector<Slot> slots_;
};

}  // namespace vgpu::host
