// Whether this process' host session still stands, and once it does not,
// why: every call fails fast with that status from then on.
//
// The session ends when the host restarts (a new session id in the header),
// stops (host_state kStopped), or ends it (the slot's served token no longer
// ours, or a fatal code), when the heartbeat watch finds the host dead, when
// the process forks (the child's calls fail), and when the process leaves.
// The guest trusts the host, so what the header and slot say is believed;
// what matters is that a stale guest never writes into a region that now
// belongs to another session (perhaps another guest in this very slot).
//
// Memory ordering: the status is published with release (the CAS in fail())
// and read with acquire, so a thread that sees a failure also sees whatever
// the failing thread wrote before it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "vgpu/region.h"
#include "vgpu/status.h"

namespace vgpu::guest {

class SessionLiveness {
 public:
  // The session to watch, once its slot is claimed: the header's session id
  // and our claim token as the host's worker echoes them.
  void watch(const RegionHeader* header, const SlotCtl* slot, uint64_t session_id, uint64_t token) {
    header_ = header;
    slot_ = slot;
    session_id_ = session_id;
    token_ = token;
  }

  // kOk while the session stands; else the status every call now fails with.
  Status dead() const { return dead_.load(std::memory_order_acquire); }

  // True (and fail()s, once) if the host died, restarted or ended the session.
  bool gone();

  // Ends the session with `s`; the first reason is logged, later ones are not.
  void fail(Status s, const std::string& why);

  // Ends the session with `s`, silently and whatever ended it before: a
  // fork()ed child (kNotInitialized) or a process leaving (kDeinitialized).
  void end(Status s) { dead_.store(s, std::memory_order_release); }

 private:
  std::atomic<Status> dead_{st::kOk};
  const RegionHeader* header_ = nullptr;
  const SlotCtl* slot_ = nullptr;
  uint64_t session_id_ = 0;
  uint64_t token_ = 0;
};

}  // namespace vgpu::guest
