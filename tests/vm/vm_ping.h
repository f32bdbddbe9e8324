// A test-only echo between vm_probe (guest) and vm_region_host (host stand-in),
// used to prove that the guest's writes reach the host and to measure the raw
// guest<->host cache-line round trip through the ivshmem BAR.
//
// It lives in the last page of the last slot's arena: vm_region_host never
// serves slots, so nothing else uses those bytes. (A real vgpu-hostd does not
// answer pings; vm_probe then reports "no echo" and skips the round trip.)
#pragma once

#include <atomic>
#include <cstdint>

#include "vgpu/region_view.h"

namespace vgpu::vmtest {

struct PingPage {
  alignas(kLineSpacing) std::atomic<uint64_t> ping;  // guest writes a new value
  alignas(kLineSpacing) std::atomic<uint64_t> pong;  // host copies ping here
};

inline PingPage* ping_page(const RegionView& v) {
  const SlotView last = v.slot(v.slot_count() - 1);
  return reinterpret_cast<PingPage*>(last.arena.data() + last.arena.size() - kPage);
}

}  // namespace vgpu::vmtest
