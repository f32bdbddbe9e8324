// This process' slot of the region and the session in it: mapping the
// region, claiming a free slot, waiting for the host's worker to serve it,
// the heartbeats both ways, what a fork()ed child may still do, and leaving.
// (The Hello that opens the session proper is a call: Client makes it once
// the slot is served.)
//
// Memory ordering: the claim is a CAS on the slot's state (kFree ->
// kClaiming: the slot is ours alone), then plain stores of the claim, then a
// release store of kClaimed, which the host's acquire load pairs with. The
// worker's echo of our token is loaded with acquire. See region.h for who
// writes which word.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config.h"
#include "liveness.h"
#include "mapping.h"
#include "vgpu/region.h"
#include "vgpu/region_view.h"
#include "vgpu/status.h"

namespace vgpu::guest {

class Slot {
 public:
  Slot();
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

  // Maps the region the configuration names, waits for a ready host, claims
  // a free slot and waits for the worker's echo of the claim. kOk, or
  // kNoDevice with *why naming the region and what went wrong.
  Status open(const GuestConfig& cfg, std::string* why);

  // Starts the thread that beats our heartbeat every ~100 ms and watches the
  // host's: still for `host_timeout_ms` (VGPU_HOST_TIMEOUT_MS), the session
  // fails. It runs until the session ends.
  void start_heartbeat(uint32_t host_timeout_ms);

  // Leaves the slot for the host to wipe (after the goodbye record) and ends
  // the session: calls fail with kDeinitialized from now on.
  void leave();
  // Whether this process is the one that claimed the slot (not a fork()ed child).
  bool claimed_here() const;

  SessionLiveness& liveness() { return live_; }
  const RegionView& view() const { return map_->view(); }
  uint32_t index() const { return index_; }
  const std::string& source() const { return map_->source(); }

 private:
  bool claim();
  void heartbeat_loop(uint32_t host_timeout_ms);

  SessionLiveness live_;
  std::unique_ptr<Mapping> map_;
  uint32_t index_ = 0;
  SlotCtl* ctl_ = nullptr;
  uint64_t session_id_ = 0;
  uint64_t token_ = 0;
  int pid_ = 0;
};

}  // namespace vgpu::guest
