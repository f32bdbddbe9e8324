// Is the host daemon alive? Judged by the region header's host heartbeat,
// which a live vgpu-hostd stores every ~100 ms: a value that has not moved
// for a while means the daemon is gone (killed, or never started), whatever
// the header's host_state still says (a SIGKILLed daemon leaves kReady).
//
// The guest trusts the host, so there is nothing to check in the value; all
// that matters is whether it changes. Works the same in a VM, where the
// daemon's pid means nothing.
#pragma once

#include <signal.h>

#include <atomic>
#include <cerrno>
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

  // A heartbeat still this long means the host is gone, whatever else says.
  static constexpr uint32_t kHardStaleMs = 5000;

  // `same_host`: the region is a file this machine's daemon serves (not an
  // ivshmem BAR), so the header's host_pid names a process here.
  HostWatch(const RegionHeader* h, uint64_t now_ms, bool same_host)
      : h_(h), same_host_(same_host), last_(load()), since_(now_ms), sampled_(now_ms) {}

  // Whether the host is gone: its heartbeat has been still for more than
  // `stale_ms`. On the same machine a heartbeat that stalled while the
  // daemon's process still exists is a daemon starved of CPU (a loaded
  // machine), not a dead one, up to kHardStaleMs; a killed daemon's pid is
  // gone at once. In a VM the heartbeat is all there is.
  bool gone(uint64_t now_ms, uint32_t stale_ms) {
    const uint64_t still = still_ms(now_ms);
    if (still <= stale_ms) return false;
    if (still > kHardStaleMs || !same_host_) return true;
    const auto pid = static_cast<pid_t>(std::atomic_ref<uint32_t>(const_cast<uint32_t&>(h_->host_pid)).load());
    return pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH);
  }

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
  bool same_host_;
  uint64_t last_;
  uint64_t since_;
  uint64_t sampled_;
};

}  // namespace vgpu::guest
