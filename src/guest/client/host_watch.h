// Is the host daemon alive? Judged by the region header's host heartbeat,
// which a live vgpu-hostd stores every ~100 ms: a value that has not moved
// for a while means the daemon is gone (killed, or never started), whatever
// the header's host_state still says (a SIGKILLed daemon leaves kReady).
//
// The guest trusts the host, so there is nothing to check in the value; all
// that matters is whether it changes. Works the same in a VM, where the
// daemon's pid means nothing.
#pragma once

#include <atomic>
#include <cstdint>

#include "vgpu/region.h"

namespace vgpu::guest {

class HostWatch {
 public:
  // A running guest's calls fail once the heartbeat has been still this
  // long. With the beat every 100 ms and the watch sampling every
  // kSampleMs, a guest learns of the daemon's death within about
  // kRunningStaleMs + 100 + kSampleMs = 750 ms; the margin to a period a
  // loaded machine may stall a live daemon for is what keeps it from firing
  // on a slow but living host.
  static constexpr uint32_t kRunningStaleMs = 600;
  static constexpr uint32_t kSampleMs = 50;
  // A starting guest gives up on a region whose heartbeat has not moved for
  // this long (a dead daemon's region file, or no daemon yet).
  static constexpr uint32_t kStartStaleMs = 1000;
  // A gap between two samples longer than this means the watcher was late.
  static constexpr uint32_t kLateMs = 250;

  HostWatch(const RegionHeader* h, uint64_t now_ms) : h_(h), last_(load()), since_(now_ms), sampled_(now_ms) {}

  // Samples the heartbeat; returns how long it has been still, in ms. Time
  // this watcher itself was not running (a gap between samples longer than
  // kLateMs: this machine or VM was starved) is not held against the host:
  // the stillness is counted again from now. A starved guest learns of a
  // dead host later, but never takes a live one for dead.
  uint64_t still_ms(uint64_t now_ms) {
    const uint64_t b = load();
    if (b != last_) last_ = b, since_ = now_ms;
    else if (now_ms - sampled_ > kLateMs) since_ = now_ms;
    sampled_ = now_ms;
    return now_ms - since_;
  }

 private:
  uint64_t load() const { return h_->host_heartbeat.load(std::memory_order_acquire); }

  const RegionHeader* h_;
  uint64_t last_;
  uint64_t since_;
  uint64_t sampled_;
};

}  // namespace vgpu::guest
