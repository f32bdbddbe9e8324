// NVML ops: the device's figures and field values (from the backend, the
// host's real NVML) and the guest's own process list (from the region's
// stats, which the host alone writes).
#include <algorithm>

#include "dispatch.h"
#include "vgpu/stats.h"

namespace vgpu::host {

namespace {
constexpr int32_t kNvmlNotSupported = 3;  // NVML_ERROR_NOT_SUPPORTED

// Whether a session has made any call beyond asking about the device.
bool used_device(const SlotStats& x) {
  for (size_t op = 1; op < kOpCount; ++op) {
    switch (static_cast<Op>(op)) {
      case Op::Hello: case Op::Bye: case Op::DeviceInfo: case Op::MemGetInfo:
      case Op::NvmlQuery: case Op::NvmlProcesses: case Op::NvmlFieldValues: case Op::NvmlP2PStatus:
        continue;
      default:
        if (x.calls[op].load(std::memory_order_relaxed) != 0) return true;
    }
  }
  return x.mem_held.load(std::memory_order_relaxed) != 0;
}
}  // namespace

// The backend's figures (a backend without NVML: every one refused), then
// the memory the guest is to see: its quota where one is set, else the
// board's total as NVML reports it, else (no NVML) the backend's total.
Status on_NvmlQuery(Call& c, const NvmlQueryReq& r, NvmlRep& out) {
  out = {};
  if (c.s.be->nvml_query(r.flags, &out) != st::kOk) {
    const int32_t why = out.status != 0 ? out.status : kNvmlNotSupported;
    const int32_t device = out.device;
    out = {};
    out.status = why;
    out.device = device;
    for (NvmlValue& v : out.fig) v.status = why;
    for (NvmlText& t : out.text) t.status = why;
  }
  NvmlValue& total = out.fig[static_cast<uint32_t>(NvmlFig::kMemTotal)];
  NvmlValue& reserved = out.fig[static_cast<uint32_t>(NvmlFig::kMemReserved)];
  uint64_t free_bytes = 0, device_total = 0;
  const bool have_nvml_total = total.status == 0;
  if (!have_nvml_total && c.s.be->mem_get_info(&free_bytes, &device_total) == st::kOk) {
    total = {0, 0, device_total};
    reserved = {0, 0, 0};
  }
  if (c.s.mem_quota && total.status == 0 && c.s.mem_quota < total.value) {
    total.value = c.s.mem_quota;  // a quota is the guest's whole device, as DeviceInfo's total_mem
    reserved = {0, 0, 0};
  }
  return st::kOk;
}

Status on_NvmlP2PStatus(Call& c, const NvmlP2PStatusReq& r, NvmlP2PStatusRep& out) {
  if (r.caps_index >= kNvmlP2PCapsIndexCount) return st::kInvalidValue;
  return c.s.be->nvml_p2p_status(r.caps_index, &out);
}

Status on_NvmlFieldValues(Call& c, const NvmlFieldValuesReq& r, NvmlFieldValuesRep& out) {
  if (r.count > kNvmlMaxFields) return st::kInvalidValue;
  return c.s.be->nvml_field_values(r, &out);
}

// A region is one guest (one VM), each of its slots one of that guest's
// processes. The session knows every slot's block of the region's stats file
// (Session::region_stats, set by the worker from the region's own layout;
// every figure there was written by the host, never by a guest). Without a
// stats file only the session's own block is known.
Status on_NvmlProcesses(Call& c, const Empty&, NvmlProcessesRep& out) {
  out = {};
  const SlotStats* first = c.s.region_stats;
  uint32_t slots = c.s.region_slots;
  if (first == nullptr) {
    if (c.s.stats == nullptr) return st::kOk;  // nothing known of any process
    first = c.s.stats;
    slots = 1;
  }
  for (uint32_t i = 0; i < slots && out.count < kNvmlMaxProcesses; ++i) {
    const SlotStats& x = first[i];
    // A slot is listed while a worker serves it, its guest has said hello,
    // and it has used the device: a process that only asks NVML (nvidia-smi,
    // a monitor) is no GPU process, as NVIDIA's lists do not show it.
    if (x.active.load(std::memory_order_acquire) == 0) continue;
    const uint32_t pid = x.guest_pid.load(std::memory_order_relaxed);
    if (pid == 0 || !used_device(x)) continue;
    out.proc[out.count++] = {pid, 0, x.mem_held.load(std::memory_order_relaxed)};
  }
  return st::kOk;
}

}  // namespace vgpu::host
