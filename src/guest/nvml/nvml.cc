// libnvidia-ml.so.1: NVML for a guest whose GPU is the host's: the library's
// life (init, shutdown, error texts), the system's versions, enumeration,
// identity and memory. The device's other figures are in nvml_figures.cc,
// its processes in nvml_processes.cc, nvidia-smi's private table in
// nvml_export_table.cc, the refused entry points in nvml_refused.cc.
//
// Identity (name, UUID, PCI location, compute capability) comes from the
// device description our libcuda caches (DeviceInfoRep), so NVML and CUDA
// agree on every figure. Memory: the total is the board's, as the host's NVML
// reports it (more than cuMemGetInfo's total, which leaves out what the
// driver reserves, as NVIDIA's NVML and CUDA differ), or the guest's quota
// where one is set; free is Op::MemGetInfo's (quota applied, as cuMemGetInfo
// does). NVML enumerates every device the host serves and, like NVIDIA's,
// ignores CUDA_VISIBLE_DEVICES.
//
// The system's version texts (nvmlSystemGetDriverVersion,
// nvmlSystemGetNVMLVersion) are the host NVML's own, sent in the session's
// Hello reply; a host without NVML sends none and they are refused (the CPU
// backend's driver text is "vgpu-cpu", which names it and no NVIDIA driver).
// nvidia-smi compares neither with its own version; what it checks is
// nvmlInternalGetExportTable (nvml_export_table.cc).
#include <strings.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <cuda.h>

#include "guest_marker.h"
#include "nvml_internal.h"

VGPU_DEFINE_GUEST_MARKER();

using namespace vgpu;
using namespace vgpu::guest;
using namespace vgpu::guest::nvml;

namespace vgpu::guest::nvml {

nvmlDevice_st g_devices[kMaxDevices] = {};

namespace {
std::mutex g_mu;
int g_init_count = 0;  // nvmlInit / nvmlShutdown are reference counted, as NVIDIA's
std::atomic<bool> g_ready{false};

// The figures' cache: the fixed part once, the live part with its time.
std::mutex g_fig_mu;
bool g_fixed_valid = false;
NvmlRep g_rep{};
std::chrono::steady_clock::time_point g_live_at{};
bool g_live_valid = false;
bool fetch(std::chrono::steady_clock::time_point now, nvmlReturn_t* err);
}  // namespace

bool ready() { return g_ready.load(std::memory_order_acquire); }

unsigned device_count() {
  const int n = Client::get().hello().device_count;
  return n < 0 ? 0u : (static_cast<unsigned>(n) < kMaxDevices ? static_cast<unsigned>(n) : kMaxDevices);
}

const DeviceInfoRep* info_of(nvmlDevice_t d, nvmlReturn_t* err) {
  if (!ready()) {
    *err = NVML_ERROR_UNINITIALIZED;
    return nullptr;
  }
  const auto p = reinterpret_cast<uintptr_t>(d), first = reinterpret_cast<uintptr_t>(g_devices);
  if (p < first || p >= first + device_count() * sizeof(nvmlDevice_st) || (p - first) % sizeof(nvmlDevice_st)) {
    *err = NVML_ERROR_INVALID_ARGUMENT;
    return nullptr;
  }
  const DeviceInfoRep* i = Client::get().device_info(static_cast<int>(d->index));
  if (!i) *err = NVML_ERROR_GPU_IS_LOST;
  return i;
}

// One NvmlQuery answers every figure; a tool reading twenty of them in a row
// (nvidia-smi -q, a monitor's scrape) gets one sample, as NVIDIA's NVML
// answers from the driver's last sample. A session is served by one device:
// the figures are that device's, and another device's are refused.
const NvmlRep* figures(nvmlDevice_t d, nvmlReturn_t* err) {
  if (info_of(d, err) == nullptr) return nullptr;
  std::lock_guard lk(g_fig_mu);
  const auto now = std::chrono::steady_clock::now();
  if (!g_live_valid || now - g_live_at >= std::chrono::milliseconds(kLiveMaxAgeMs)) {
    if (!fetch(now, err)) return nullptr;
  }
  if (g_rep.device >= 0 && static_cast<unsigned>(g_rep.device) != d->index) {
    log_unsupported("NVML figures of a device this session is not served by");
    *err = NVML_ERROR_NOT_SUPPORTED;
    return nullptr;
  }
  return &g_rep;
}

namespace {
// Asks the host for the figures (g_fig_mu held).
bool fetch(std::chrono::steady_clock::time_point now, nvmlReturn_t* err) {
  NvmlRep rep{};
  if (Client::get().call<Op::NvmlQuery>(NvmlQueryReq{}, &rep) != st::kOk) {
    *err = NVML_ERROR_GPU_IS_LOST;
    return false;
  }
  if (g_fixed_valid) {  // keep the first answer's fixed part
    std::memcpy(rep.fig, g_rep.fig, sizeof(NvmlValue) * kNvmlLiveFirst);
    std::memcpy(rep.text, g_rep.text, sizeof rep.text);
  }
  g_rep = rep;
  g_fixed_valid = true;
  g_live_valid = true;
  g_live_at = now;
  return true;
}
}  // namespace

nvmlReturn_t figure_status(const NvmlRep& rep, NvmlFig f, const char* name) {
  const int32_t s = rep.fig[static_cast<uint32_t>(f)].status;
  if (s == NVML_SUCCESS) return NVML_SUCCESS;
  if (s == NVML_ERROR_NOT_SUPPORTED) log_unsupported(name);
  return static_cast<nvmlReturn_t>(s);
}

nvmlReturn_t copy_text(const char* text, char* out, unsigned int length) {
  if (out == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const size_t n = std::strlen(text);
  if (length < n + 1) return NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(out, text, n + 1);
  return NVML_SUCCESS;
}

void uuid_text(const DeviceInfoRep* d, char out[48]) {
  const uint8_t* u = d->uuid;
  std::snprintf(out, 48, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
                u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

}  // namespace vgpu::guest::nvml

namespace {

struct PciLoc {
  unsigned domain, bus, device, function;
};

// "[domain:]bus:device[.function]" in hex, as NVML and CUDA accept it.
bool parse_pci(const char* s, PciLoc* p) {
  unsigned a, b, c, f = 0;
  int used = 0;
  *p = {};
  if (std::sscanf(s, "%x:%x:%x%n", &a, &b, &c, &used) == 3) {
    p->domain = a, p->bus = b, p->device = c;
  } else if (std::sscanf(s, "%x:%x%n", &b, &c, &used) == 2) {
    p->bus = b, p->device = c;
  } else {
    return false;
  }
  s += used;
  if (*s == '.') {
    int more = 0;
    if (std::sscanf(s, ".%x%n", &f, &more) != 1) return false;
    s += more;
  }
  p->function = f;
  return *s == '\0';
}

PciLoc pci_of(const DeviceInfoRep* d) {
  PciLoc p{};
  if (!parse_pci(d->pci_bus_id, &p)) {
    p.domain = static_cast<unsigned>(d->attr[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID]);
    p.bus = static_cast<unsigned>(d->attr[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID]);
    p.device = static_cast<unsigned>(d->attr[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID]);
  }
  return p;
}

// A version text from the host's Hello reply. Empty means the host could not
// tell (no NVML there): refused, never made up.
template <size_t N>
nvmlReturn_t host_text(const char (&text)[N], const char* name, char* out, unsigned int length) {
  if (out == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  char copy[N + 1] = {};  // bounded even if the host's text were not terminated
  std::memcpy(copy, text, N);
  if (copy[0] == '\0') {
    log_unsupported(name);
    return NVML_ERROR_NOT_SUPPORTED;
  }
  return copy_text(copy, out, length);
}

// The guest's memory: total from the host (quota, or the board's NVML
// total; the handler decides, handlers_nvml.cc), free from MemGetInfo (the
// quota applied), reserved as the host's NVML reports it (0 under a quota).
nvmlReturn_t memory(nvmlDevice_t dev, unsigned long long* total, unsigned long long* reserved,
                    unsigned long long* free_bytes) {
  nvmlReturn_t err = NVML_SUCCESS;
  const NvmlRep* rep = figures(dev, &err);
  if (rep == nullptr) return err;
  const NvmlValue t = rep->fig[static_cast<uint32_t>(NvmlFig::kMemTotal)];
  const NvmlValue r = rep->fig[static_cast<uint32_t>(NvmlFig::kMemReserved)];
  MemGetInfoRep m{};
  if (Client::get().call<Op::MemGetInfo>(Empty{}, &m) != st::kOk) return NVML_ERROR_GPU_IS_LOST;
  *total = t.status == NVML_SUCCESS ? t.value : m.total_bytes;
  *reserved = r.status == NVML_SUCCESS && r.value < *total ? r.value : 0;
  const unsigned long long room = *total - *reserved;
  *free_bytes = m.free_bytes < room ? m.free_bytes : room;
  return NVML_SUCCESS;
}

}  // namespace

extern "C" {

// ---- init / shutdown ------------------------------------------------------------------
nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
  if (flags & ~static_cast<unsigned>(NVML_INIT_FLAG_NO_GPUS | NVML_INIT_FLAG_NO_ATTACH))
    return NVML_ERROR_INVALID_ARGUMENT;
  Client& c = Client::get();  // attaches to the host on first use
  if (c.status() != st::kOk) {
    debug_log("nvmlInit: no host: %s", c.status_text().c_str());
    return NVML_ERROR_DRIVER_NOT_LOADED;
  }
  if (device_count() == 0 && !(flags & NVML_INIT_FLAG_NO_GPUS)) return NVML_ERROR_GPU_NOT_FOUND;
  std::lock_guard lk(g_mu);
  for (unsigned i = 0; i < kMaxDevices; ++i) g_devices[i].index = i;
  ++g_init_count;
  g_ready.store(true, std::memory_order_release);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlShutdown(void) {
  std::lock_guard lk(g_mu);
  if (g_init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (--g_init_count == 0) g_ready.store(false, std::memory_order_release);
  return NVML_SUCCESS;
}

const char* nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupt request issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires restart";
    case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request.";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
    case NVML_ERROR_IN_USE: return "In use by another client";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No data";
    case NVML_ERROR_VGPU_ECC_NOT_SUPPORTED: return "The requested vgpu operation is not available on target device, because ECC is enabled";
    case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Insufficient resources";
    case NVML_ERROR_FREQ_NOT_SUPPORTED: return "Frequency not supported";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    case NVML_ERROR_DEPRECATED: return "Deprecated";
    case NVML_ERROR_NOT_READY: return "Not ready";
    case NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
    case NVML_ERROR_INVALID_STATE: return "Invalid state";
    case NVML_ERROR_UNKNOWN: return "Unknown Error";
  }
  return "Unknown Error";
}

// ---- system -------------------------------------------------------------------------------
// The host driver's version ("580.95.05"), as the host's NVML reports it
// (Ollama and nvidia-smi-like tools print it; Ollama also reads its major
// number to keep old GPUs off old drivers).
nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  return host_text(Client::get().hello().driver_version_text, "nvmlSystemGetDriverVersion", version, length);
}

// The host NVML's own version text, forwarded likewise.
nvmlReturn_t nvmlSystemGetNVMLVersion(char* version, unsigned int length) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  return host_text(Client::get().hello().nvml_version_text, "nvmlSystemGetNVMLVersion", version, length);
}

// The CUDA version the host's driver supports (cuDriverGetVersion there).
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int* v) {
  if (v == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  *v = Client::get().hello().driver_version;
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int* v) { return nvmlSystemGetCudaDriverVersion(v); }

// ---- enumeration --------------------------------------------------------------------------
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *count = device_count();
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetCount(unsigned int* count) { return nvmlDeviceGetCount_v2(count); }

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  if (device == nullptr || index >= device_count()) return NVML_ERROR_INVALID_ARGUMENT;
  *device = &g_devices[index];
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t* device) {
  return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char* uuid, nvmlDevice_t* device) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  if (uuid == nullptr || device == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  for (unsigned i = 0; i < device_count(); ++i) {
    const DeviceInfoRep* d = Client::get().device_info(static_cast<int>(i));
    if (!d) continue;
    char text[48];
    uuid_text(d, text);
    if (strcasecmp(text, uuid) == 0) {
      *device = &g_devices[i];
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char* bus_id, nvmlDevice_t* device) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  PciLoc want{};
  if (bus_id == nullptr || device == nullptr || !parse_pci(bus_id, &want)) return NVML_ERROR_INVALID_ARGUMENT;
  for (unsigned i = 0; i < device_count(); ++i) {
    const DeviceInfoRep* d = Client::get().device_info(static_cast<int>(i));
    if (!d) continue;
    const PciLoc have = pci_of(d);
    if (have.domain == want.domain && have.bus == want.bus && have.device == want.device &&
        want.function == 0) {
      *device = &g_devices[i];
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}
nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char* bus_id, nvmlDevice_t* device) {
  return nvmlDeviceGetHandleByPciBusId_v2(bus_id, device);
}

// ---- identity -------------------------------------------------------------------------------
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t dev, char* name, unsigned int length) {
  VGPU_NVML_DEVICE(d, dev);
  return copy_text(d->name, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t dev, char* uuid, unsigned int length) {
  VGPU_NVML_DEVICE(d, dev);
  char text[48];
  uuid_text(d, text);
  return copy_text(text, uuid, length);
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t dev, unsigned int* index) {
  VGPU_NVML_DEVICE(d, dev);
  (void)d;
  if (index == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *index = dev->index;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t dev, unsigned int* minor) {
  VGPU_NVML_DEVICE(d, dev);
  (void)d;
  if (minor == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  log_unsupported("nvmlDeviceGetMinorNumber");  // the guest has no /dev/nvidiaN
  return NVML_ERROR_NOT_SUPPORTED;
}

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t dev, int* major, int* minor) {
  VGPU_NVML_DEVICE(d, dev);
  if (major == nullptr || minor == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *major = d->attr[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR];
  *minor = d->attr[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR];
  return NVML_SUCCESS;
}

// PCI location as CUDA reports it, in NVML's formats; the PCI device/vendor
// and subsystem ids are the host NVML's (0 where the host has no NVML: the
// CPU backend is no PCI device).
nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t dev, nvmlPciInfo_t* pci) {
  VGPU_NVML_DEVICE(d, dev);
  if (pci == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const PciLoc p = pci_of(d);
  std::memset(pci, 0, sizeof *pci);
  std::snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.0", p.domain & 0xffffu, p.bus & 0xffu,
                p.device & 0xffu);
  std::snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.0", p.domain, p.bus & 0xffu, p.device & 0xffu);
  pci->domain = p.domain;
  pci->bus = p.bus;
  pci->device = p.device;
  nvmlReturn_t err = NVML_SUCCESS;
  if (const NvmlRep* rep = figures(dev, &err)) {
    const NvmlValue id = rep->fig[static_cast<uint32_t>(NvmlFig::kPciDeviceId)];
    const NvmlValue sub = rep->fig[static_cast<uint32_t>(NvmlFig::kPciSubsystemId)];
    if (id.status == NVML_SUCCESS) pci->pciDeviceId = static_cast<unsigned>(id.value);
    if (sub.status == NVML_SUCCESS) pci->pciSubSystemId = static_cast<unsigned>(sub.value);
  }
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t dev, nvmlPciInfo_t* pci) { return nvmlDeviceGetPciInfo_v3(dev, pci); }

// The location as nvmlDeviceGetPciInfo_v3's; the ids and the class codes are
// the host NVML's, and without them (the CPU backend) the call is refused:
// no field of it is made up.
nvmlReturn_t nvmlDeviceGetPciInfoExt(nvmlDevice_t dev, nvmlPciInfoExt_t* pci) {
  VGPU_NVML_DEVICE(d, dev);
  (void)d;
  if (pci == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (pci->version != nvmlPciInfoExt_v1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  nvmlReturn_t err = NVML_SUCCESS;
  const NvmlRep* rep = figures(dev, &err);
  if (rep == nullptr) return err;
  for (NvmlFig f : {NvmlFig::kPciDeviceId, NvmlFig::kPciSubsystemId, NvmlFig::kPciBaseClass, NvmlFig::kPciSubClass})
    if (nvmlReturn_t r = figure_status(*rep, f, "nvmlDeviceGetPciInfoExt")) return r;
  nvmlPciInfo_t base{};
  if (nvmlReturn_t r = nvmlDeviceGetPciInfo_v3(dev, &base)) return r;
  const auto fig = [rep](NvmlFig f) { return static_cast<unsigned>(rep->fig[static_cast<uint32_t>(f)].value); };
  const unsigned version = pci->version;
  std::memset(pci, 0, sizeof *pci);
  pci->version = version;
  pci->domain = base.domain;
  pci->bus = base.bus;
  pci->device = base.device;
  pci->pciDeviceId = fig(NvmlFig::kPciDeviceId);
  pci->pciSubSystemId = fig(NvmlFig::kPciSubsystemId);
  pci->baseClass = fig(NvmlFig::kPciBaseClass);
  pci->subClass = fig(NvmlFig::kPciSubClass);
  std::memcpy(pci->busId, base.busId, sizeof pci->busId);
  return NVML_SUCCESS;
}

// The oldest entry point's structure ends after the integers (a 16-byte bus
// id, then domain, bus, device, pciDeviceId, pciSubSystemId): fill only those.
nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t dev, nvmlPciInfo_t* pci) {
  if (pci == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlPciInfo_t full{};
  nvmlReturn_t r = nvmlDeviceGetPciInfo_v3(dev, &full);
  if (r == NVML_SUCCESS) std::memcpy(pci, &full, offsetof(nvmlPciInfo_t, busId));
  return r;
}

// ---- memory ---------------------------------------------------------------------------------
// As NVIDIA's: v1's used is total - free (what the driver reserves counted
// as used), v2's leaves the reserved part out.
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t dev, nvmlMemory_t* mem) {
  if (mem == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned long long total = 0, reserved = 0, free_bytes = 0;
  if (nvmlReturn_t r = memory(dev, &total, &reserved, &free_bytes)) return r;
  mem->total = total;
  mem->free = free_bytes;
  mem->used = total - free_bytes;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t dev, nvmlMemory_v2_t* mem) {
  if (mem == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (mem->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  unsigned long long total = 0, reserved = 0, free_bytes = 0;
  if (nvmlReturn_t r = memory(dev, &total, &reserved, &free_bytes)) return r;
  mem->total = total;
  mem->reserved = reserved;
  mem->free = free_bytes;
  mem->used = total - reserved - free_bytes;
  return NVML_SUCCESS;
}

}  // extern "C"

