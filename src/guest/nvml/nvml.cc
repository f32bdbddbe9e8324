// libnvidia-ml.so.1: NVML for a guest whose GPU is the host's.
//
// Identity (name, UUID, PCI location, compute capability) comes from the
// device description our libcuda caches (DeviceInfoRep), so NVML and CUDA
// agree on every figure; memory comes from Op::MemGetInfo (which applies the
// host's per-guest quota, as cuMemGetInfo does); utilisation, temperature and
// power come from Op::NvmlQuery, the host's own NVML, and are refused
// (NVML_ERROR_NOT_SUPPORTED, or the host NVML's error) where the host has no
// such figure. NVML enumerates every device the host serves and, like
// NVIDIA's, ignores CUDA_VISIBLE_DEVICES.
//
// The system's version texts (nvmlSystemGetDriverVersion,
// nvmlSystemGetNVMLVersion) are the host NVML's own, sent in the session's
// Hello reply; a host without NVML sends none and they are refused (the CPU
// backend's driver text is "vgpu-cpu", which names it and no NVIDIA driver).
//
// Not known to the guest, so refused rather than invented: the device's
// /dev/nvidiaN minor number, and everything in the refusal list at the end.
// In nvmlPciInfo_t,
// pciDeviceId and pciSubSystemId are not in the device description and are
// left 0 (see the note at nvmlDeviceGetPciInfo_v3).
#include <strings.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <cuda.h>

#include "client/client.h"
#include "guest_marker.h"
#include "nvml_abi.h"

VGPU_DEFINE_GUEST_MARKER();

using namespace vgpu;
using namespace vgpu::guest;

struct nvmlDevice_st {
  unsigned int index;
};

namespace {

constexpr unsigned kMaxDevices = 64;  // as many as Client::device_info serves
nvmlDevice_st g_devices[kMaxDevices] = {};
std::mutex g_mu;
int g_init_count = 0;  // nvmlInit / nvmlShutdown are reference counted, as NVIDIA's
std::atomic<bool> g_ready{false};

unsigned device_count() {
  const int n = Client::get().hello().device_count;
  return n < 0 ? 0u : (static_cast<unsigned>(n) < kMaxDevices ? static_cast<unsigned>(n) : kMaxDevices);
}

// The description of a device handle, or nullptr with *err set.
const DeviceInfoRep* info_of(nvmlDevice_t d, nvmlReturn_t* err) {
  if (!g_ready.load(std::memory_order_acquire)) {
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

#define VGPU_NVML_DEVICE(info, dev)            \
  nvmlReturn_t vgpu_err_ = NVML_SUCCESS;       \
  const DeviceInfoRep* info = info_of(dev, &vgpu_err_); \
  if (!info) return vgpu_err_

// "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as NVIDIA's NVML and CUDA_VISIBLE_DEVICES write it.
void uuid_text(const DeviceInfoRep* d, char out[48]) {
  const uint8_t* u = d->uuid;
  std::snprintf(out, 48, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
                u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

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

nvmlReturn_t copy_text(const char* text, char* out, unsigned int length) {
  if (out == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const size_t n = std::strlen(text);
  if (length < n + 1) return NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(out, text, n + 1);
  return NVML_SUCCESS;
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

nvmlReturn_t memory(nvmlDevice_t dev, unsigned long long* total, unsigned long long* free_bytes) {
  VGPU_NVML_DEVICE(info, dev);
  (void)info;
  MemGetInfoRep rep{};
  Status s = Client::get().call<Op::MemGetInfo>(Empty{}, &rep);
  if (s != st::kOk) return NVML_ERROR_GPU_IS_LOST;
  *total = rep.total_bytes;
  *free_bytes = rep.free_bytes < rep.total_bytes ? rep.free_bytes : rep.total_bytes;
  return NVML_SUCCESS;
}

// The host NVML's figures. A field is only set when the host read it, so a
// non-zero field is real; a zero one under a failed status may be a figure
// the host could not read, and is refused with the host NVML's error.
nvmlReturn_t query(nvmlDevice_t dev, NvmlRep* rep) {
  VGPU_NVML_DEVICE(info, dev);
  (void)info;
  *rep = {};
  Status s = Client::get().call<Op::NvmlQuery>(Empty{}, rep);
  if (s == st::kNotSupported) return NVML_ERROR_NOT_SUPPORTED;
  if (s != st::kOk) return NVML_ERROR_GPU_IS_LOST;
  return NVML_SUCCESS;
}

nvmlReturn_t figure(const NvmlRep& rep, bool nonzero) {
  if (rep.status == NVML_SUCCESS || nonzero) return NVML_SUCCESS;
  return static_cast<nvmlReturn_t>(rep.status);
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
  if (!g_ready.load(std::memory_order_acquire)) return NVML_ERROR_UNINITIALIZED;
  return host_text(Client::get().hello().driver_version_text, "nvmlSystemGetDriverVersion", version, length);
}

// The host NVML's own version text, forwarded likewise.
nvmlReturn_t nvmlSystemGetNVMLVersion(char* version, unsigned int length) {
  if (!g_ready.load(std::memory_order_acquire)) return NVML_ERROR_UNINITIALIZED;
  return host_text(Client::get().hello().nvml_version_text, "nvmlSystemGetNVMLVersion", version, length);
}

// The CUDA version the host's driver supports (cuDriverGetVersion there).
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int* v) {
  if (v == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (!g_ready.load(std::memory_order_acquire)) return NVML_ERROR_UNINITIALIZED;
  *v = Client::get().hello().driver_version;
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int* v) { return nvmlSystemGetCudaDriverVersion(v); }

// ---- enumeration --------------------------------------------------------------------------
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  if (!g_ready.load(std::memory_order_acquire)) return NVML_ERROR_UNINITIALIZED;
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *count = device_count();
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetCount(unsigned int* count) { return nvmlDeviceGetCount_v2(count); }

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  if (!g_ready.load(std::memory_order_acquire)) return NVML_ERROR_UNINITIALIZED;
  if (device == nullptr || index >= device_count()) return NVML_ERROR_INVALID_ARGUMENT;
  *device = &g_devices[index];
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t* device) {
  return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char* uuid, nvmlDevice_t* device) {
  if (!g_ready.load(std::memory_order_acquire)) return NVML_ERROR_UNINITIALIZED;
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
  if (!g_ready.load(std::memory_order_acquire)) return NVML_ERROR_UNINITIALIZED;
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

// PCI location as CUDA reports it, in NVML's formats. NVML also reports the
// PCI device/vendor and subsystem ids; the device description the host sends
// has neither, so both are 0 here (a known gap, not a claim about the board).
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
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t dev, nvmlPciInfo_t* pci) { return nvmlDeviceGetPciInfo_v3(dev, pci); }

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
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t dev, nvmlMemory_t* mem) {
  if (mem == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned long long total = 0, free_bytes = 0;
  nvmlReturn_t r = memory(dev, &total, &free_bytes);
  if (r != NVML_SUCCESS) return r;
  mem->total = total;
  mem->free = free_bytes;
  mem->used = total - free_bytes;
  return NVML_SUCCESS;
}

// `reserved` (memory the driver or firmware keeps) is not known to the guest:
// 0, with `used` = total - free as in the v1 structure.
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t dev, nvmlMemory_v2_t* mem) {
  if (mem == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (mem->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  unsigned long long total = 0, free_bytes = 0;
  nvmlReturn_t r = memory(dev, &total, &free_bytes);
  if (r != NVML_SUCCESS) return r;
  mem->total = total;
  mem->reserved = 0;
  mem->free = free_bytes;
  mem->used = total - free_bytes;
  return NVML_SUCCESS;
}

// ---- live figures from the host's NVML ---------------------------------------------------
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t dev, nvmlUtilization_t* u) {
  if (u == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  NvmlRep rep{};
  if (nvmlReturn_t r = query(dev, &rep)) return r;
  if (nvmlReturn_t r = figure(rep, rep.gpu_util != 0 || rep.mem_util != 0)) return r;
  u->gpu = rep.gpu_util;
  u->memory = rep.mem_util;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t dev, nvmlTemperatureSensors_t sensor, unsigned int* temp) {
  if (temp == nullptr || sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  NvmlRep rep{};
  if (nvmlReturn_t r = query(dev, &rep)) return r;
  if (nvmlReturn_t r = figure(rep, rep.temperature_c != 0)) return r;
  *temp = rep.temperature_c;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t dev, unsigned int* power) {
  if (power == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  NvmlRep rep{};
  if (nvmlReturn_t r = query(dev, &rep)) return r;
  if (nvmlReturn_t r = figure(rep, rep.power_mw != 0)) return r;
  *power = rep.power_mw;
  return NVML_SUCCESS;
}

}  // extern "C"

// ---- refused ----------------------------------------------------------------------------------
// Entry points monitoring tools and frameworks commonly import, exported so
// that they load; each logs its name once and returns NVML_ERROR_NOT_SUPPORTED.
// Declared `int name()`: correct on x86-64 for any argument list.
#define VGPU_NVML_REFUSE(n)                   \
  extern "C" int n() {                        \
    log_unsupported(#n);                      \
    return NVML_ERROR_NOT_SUPPORTED;          \
  }
VGPU_NVML_REFUSE(nvmlSystemGetProcessName)
VGPU_NVML_REFUSE(nvmlSystemGetHicVersion)
VGPU_NVML_REFUSE(nvmlSystemGetTopologyGpuSet)
VGPU_NVML_REFUSE(nvmlDeviceGetHandleBySerial)
VGPU_NVML_REFUSE(nvmlDeviceGetSerial)
VGPU_NVML_REFUSE(nvmlDeviceGetBrand)
VGPU_NVML_REFUSE(nvmlDeviceGetArchitecture)
VGPU_NVML_REFUSE(nvmlDeviceGetBoardId)
VGPU_NVML_REFUSE(nvmlDeviceGetBoardPartNumber)
VGPU_NVML_REFUSE(nvmlDeviceGetMultiGpuBoard)
VGPU_NVML_REFUSE(nvmlDeviceGetVbiosVersion)
VGPU_NVML_REFUSE(nvmlDeviceGetInforomVersion)
VGPU_NVML_REFUSE(nvmlDeviceGetInforomImageVersion)
VGPU_NVML_REFUSE(nvmlDeviceGetPciInfoExt)
VGPU_NVML_REFUSE(nvmlDeviceGetAttributes)
VGPU_NVML_REFUSE(nvmlDeviceGetAttributes_v2)
VGPU_NVML_REFUSE(nvmlDeviceGetBAR1MemoryInfo)
VGPU_NVML_REFUSE(nvmlDeviceGetMemoryBusWidth)
VGPU_NVML_REFUSE(nvmlDeviceGetNumGpuCores)
VGPU_NVML_REFUSE(nvmlDeviceGetComputeRunningProcesses)
VGPU_NVML_REFUSE(nvmlDeviceGetComputeRunningProcesses_v2)
VGPU_NVML_REFUSE(nvmlDeviceGetComputeRunningProcesses_v3)
VGPU_NVML_REFUSE(nvmlDeviceGetGraphicsRunningProcesses)
VGPU_NVML_REFUSE(nvmlDeviceGetGraphicsRunningProcesses_v2)
VGPU_NVML_REFUSE(nvmlDeviceGetGraphicsRunningProcesses_v3)
VGPU_NVML_REFUSE(nvmlDeviceGetMPSComputeRunningProcesses_v3)
VGPU_NVML_REFUSE(nvmlDeviceGetProcessUtilization)
VGPU_NVML_REFUSE(nvmlDeviceGetSamples)
VGPU_NVML_REFUSE(nvmlDeviceGetFieldValues)
VGPU_NVML_REFUSE(nvmlDeviceGetClockInfo)
VGPU_NVML_REFUSE(nvmlDeviceGetMaxClockInfo)
VGPU_NVML_REFUSE(nvmlDeviceGetClock)
VGPU_NVML_REFUSE(nvmlDeviceGetApplicationsClock)
VGPU_NVML_REFUSE(nvmlDeviceGetDefaultApplicationsClock)
VGPU_NVML_REFUSE(nvmlDeviceGetCurrentClocksThrottleReasons)
VGPU_NVML_REFUSE(nvmlDeviceGetCurrentClocksEventReasons)
VGPU_NVML_REFUSE(nvmlDeviceGetPerformanceState)
VGPU_NVML_REFUSE(nvmlDeviceGetPowerState)
VGPU_NVML_REFUSE(nvmlDeviceGetPowerManagementMode)
VGPU_NVML_REFUSE(nvmlDeviceGetPowerManagementLimit)
VGPU_NVML_REFUSE(nvmlDeviceGetPowerManagementLimitConstraints)
VGPU_NVML_REFUSE(nvmlDeviceGetPowerManagementDefaultLimit)
VGPU_NVML_REFUSE(nvmlDeviceGetEnforcedPowerLimit)
VGPU_NVML_REFUSE(nvmlDeviceGetTotalEnergyConsumption)
VGPU_NVML_REFUSE(nvmlDeviceGetTemperatureThreshold)
VGPU_NVML_REFUSE(nvmlDeviceGetTemperatureV)
VGPU_NVML_REFUSE(nvmlDeviceGetFanSpeed)
VGPU_NVML_REFUSE(nvmlDeviceGetFanSpeed_v2)
VGPU_NVML_REFUSE(nvmlDeviceGetNumFans)
VGPU_NVML_REFUSE(nvmlDeviceGetPersistenceMode)
VGPU_NVML_REFUSE(nvmlDeviceGetComputeMode)
VGPU_NVML_REFUSE(nvmlDeviceGetDisplayMode)
VGPU_NVML_REFUSE(nvmlDeviceGetDisplayActive)
VGPU_NVML_REFUSE(nvmlDeviceGetDriverModel)
VGPU_NVML_REFUSE(nvmlDeviceGetEccMode)
VGPU_NVML_REFUSE(nvmlDeviceGetTotalEccErrors)
VGPU_NVML_REFUSE(nvmlDeviceGetRetiredPages)
VGPU_NVML_REFUSE(nvmlDeviceGetRemappedRows)
VGPU_NVML_REFUSE(nvmlDeviceGetEncoderUtilization)
VGPU_NVML_REFUSE(nvmlDeviceGetDecoderUtilization)
VGPU_NVML_REFUSE(nvmlDeviceGetCurrPcieLinkGeneration)
VGPU_NVML_REFUSE(nvmlDeviceGetCurrPcieLinkWidth)
VGPU_NVML_REFUSE(nvmlDeviceGetMaxPcieLinkGeneration)
VGPU_NVML_REFUSE(nvmlDeviceGetMaxPcieLinkWidth)
VGPU_NVML_REFUSE(nvmlDeviceGetPcieThroughput)
VGPU_NVML_REFUSE(nvmlDeviceGetPcieReplayCounter)
VGPU_NVML_REFUSE(nvmlDeviceGetCpuAffinity)
VGPU_NVML_REFUSE(nvmlDeviceGetMemoryAffinity)
VGPU_NVML_REFUSE(nvmlDeviceGetTopologyCommonAncestor)
VGPU_NVML_REFUSE(nvmlDeviceGetP2PStatus)
VGPU_NVML_REFUSE(nvmlDeviceGetNvLinkState)
// PyTorch's DriverAPI requires these two to exist (it asks about NVLink peers
// for symmetric memory); a guest's GPU has no NVLink peers it could reach.
VGPU_NVML_REFUSE(nvmlDeviceGetNvLinkRemoteDeviceType)
VGPU_NVML_REFUSE(nvmlDeviceGetNvLinkRemotePciInfo_v2)
VGPU_NVML_REFUSE(nvmlDeviceGetGpuFabricInfoV)
VGPU_NVML_REFUSE(nvmlDeviceGetMigMode)
VGPU_NVML_REFUSE(nvmlDeviceGetMaxMigDeviceCount)
VGPU_NVML_REFUSE(nvmlDeviceIsMigDeviceHandle)
VGPU_NVML_REFUSE(nvmlDeviceGetMigDeviceHandleByIndex)
VGPU_NVML_REFUSE(nvmlDeviceGetDeviceHandleFromMigDeviceHandle)
VGPU_NVML_REFUSE(nvmlDeviceGetGpuInstanceId)
VGPU_NVML_REFUSE(nvmlDeviceGetComputeInstanceId)
VGPU_NVML_REFUSE(nvmlDeviceGetAccountingMode)
VGPU_NVML_REFUSE(nvmlDeviceGetGpuOperationMode)
VGPU_NVML_REFUSE(nvmlDeviceGetGspFirmwareMode)
VGPU_NVML_REFUSE(nvmlDeviceGetModuleId)
VGPU_NVML_REFUSE(nvmlDeviceGetSupportedEventTypes)
VGPU_NVML_REFUSE(nvmlDeviceRegisterEvents)
VGPU_NVML_REFUSE(nvmlEventSetCreate)
VGPU_NVML_REFUSE(nvmlEventSetWait)
VGPU_NVML_REFUSE(nvmlEventSetWait_v2)
VGPU_NVML_REFUSE(nvmlEventSetFree)
VGPU_NVML_REFUSE(nvmlDeviceSetPersistenceMode)
VGPU_NVML_REFUSE(nvmlDeviceSetComputeMode)
VGPU_NVML_REFUSE(nvmlDeviceSetPowerManagementLimit)
VGPU_NVML_REFUSE(nvmlDeviceSetApplicationsClocks)
VGPU_NVML_REFUSE(nvmlDeviceResetApplicationsClocks)
VGPU_NVML_REFUSE(nvmlDeviceSetGpuLockedClocks)
VGPU_NVML_REFUSE(nvmlDeviceResetGpuLockedClocks)
#undef VGPU_NVML_REFUSE
