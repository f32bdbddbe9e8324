// Session and device ops (NVML's are in handlers_nvml.cc).
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "dispatch.h"

namespace vgpu::host {

Status on_Hello(Call& c, const HelloReq& r, HelloRep& out) {
  if (r.abi != kGuestAbi || r.layout != wire_layout()) {
    std::fprintf(stderr,
                 "vgpu-hostd: slot %u (worker pid %d): refused a guest (pid %u) built for ABI %u, layouts %#llx; "
                 "this host speaks ABI %u, layouts %#llx: install matching guest libraries and daemon\n",
                 c.s.slot, getpid(), r.pid, r.abi, static_cast<unsigned long long>(r.layout), kGuestAbi,
                 static_cast<unsigned long long>(wire_layout()));
    return st::kNotSupported;
  }
  if (c.s.stats) c.s.stats->guest_pid.store(r.pid, std::memory_order_relaxed);
  out.backend = static_cast<uint32_t>(c.s.be->kind());
  out.driver_version = c.s.be->driver_version();
  out.device_count = c.s.be->device_count();
  out.host_arena_base = c.s.device_arena_base;
  c.s.be->version_texts(&out);
  return st::kOk;
}

Status on_Bye(Call& c, const Empty&, Empty&) {
  c.s.bye = true;
  return st::kOk;
}

Status on_DeviceInfo(Call& c, const DeviceInfoReq& r, DeviceInfoRep& out) {
  if (r.ordinal < 0 || r.ordinal >= c.s.be->device_count()) return st::kInvalidDevice;
  Status s = c.s.be->device_info(r.ordinal, &out);
  // A quota is the guest's whole device.
  if (s == st::kOk && c.s.mem_quota) out.total_mem = std::min(out.total_mem, c.s.mem_quota);
  return s;
}

Status on_MemGetInfo(Call& c, const Empty&, MemGetInfoRep& out) {
  Status s = c.s.be->mem_get_info(&out.free_bytes, &out.total_bytes);
  if (s == st::kOk && c.s.mem_quota) {
    out.total_bytes = std::min(out.total_bytes, c.s.mem_quota);
    const uint64_t left = c.s.mem_quota > c.s.mem_held() ? c.s.mem_quota - c.s.mem_held() : 0;
    out.free_bytes = std::min(out.free_bytes, left);
  }
  return s;
}

}  // namespace vgpu::host
