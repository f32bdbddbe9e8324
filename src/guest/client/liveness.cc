#include "liveness.h"

#include <cstdio>

namespace vgpu::guest {

bool SessionLiveness::gone() {
  if (dead() != st::kOk) return true;
  if (!header_) return false;  // not watching yet: nothing sent, nothing to end
  if (header_->session_id.load(std::memory_order_acquire) != session_id_) {
    fail(st::kDeviceUnavailable, "host daemon restarted");
  } else if (header_->host_state.load(std::memory_order_acquire) == static_cast<uint32_t>(HostState::kStopped)) {
    fail(st::kDeviceUnavailable, "host daemon stopped");
  } else if (slot_->served_token.load(std::memory_order_acquire) != token_ ||
             slot_->fatal.load(std::memory_order_acquire)) {
    fail(st::kDeviceUnavailable, "host ended this session");
  }
  return dead() != st::kOk;
}

void SessionLiveness::fail(Status s, const std::string& why) {
  Status expect = st::kOk;
  if (dead_.compare_exchange_strong(expect, s))
    std::fprintf(stderr, "vgpu: %s; GPU calls fail from now on\n", why.c_str());
}

}  // namespace vgpu::guest
