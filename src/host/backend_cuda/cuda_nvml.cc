// CudaBackend: NVML for the guest's libnvidia-ml: the device's figures
// (ops.h NvmlFig, NvmlTextId), its field values, and the system's version
// texts (driver, NVML). NVML is dlopen'ed on first use, so a host without it
// (or with a broken one) fails only these calls; the rest of the backend
// never needs it.
//
// The few NVML declarations needed are its stable C ABI: every device getter
// takes the device handle first, then plain integers and out-pointers, so
// each is called through Nvml::call with its own argument types; an entry
// point this host's NVML lacks reads as NOT_SUPPORTED.
#include <dlfcn.h>

#include <cstring>
#include <string>
#include <unordered_map>

#include "cuda_backend.h"

namespace vgpu::host::cuda {

namespace {
using nvmlReturn_t = int;
struct nvmlDevice_st;
using nvmlDevice_t = nvmlDevice_st*;
constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr nvmlReturn_t NVML_ERROR_UNINITIALIZED = 1;
constexpr nvmlReturn_t NVML_ERROR_NOT_SUPPORTED = 3;
constexpr nvmlReturn_t NVML_ERROR_LIBRARY_NOT_FOUND = 12;
constexpr nvmlReturn_t NVML_ERROR_FUNCTION_NOT_FOUND = 13;
constexpr nvmlReturn_t NVML_ERROR_NOT_READY = 27;

struct Pair {  // nvmlUtilization_t, and any other two-uint out-structure
  unsigned int a, b;
};
struct Memory2 {  // nvmlMemory_v2_t
  unsigned int version;
  unsigned long long total, reserved, free, used;
};
constexpr unsigned kMemory2Version = sizeof(Memory2) | (2u << 24);
struct Bar1 {  // nvmlBAR1Memory_t
  unsigned long long total, free, used;
};
struct PciInfoExt {  // nvmlPciInfoExt_v1_t
  unsigned int version, domain, bus, device, device_id, subsystem_id, base_class, sub_class;
  char bus_id[32];
};
constexpr unsigned kPciInfoExtVersion = sizeof(PciInfoExt) | (1u << 24);
struct PciInfo {  // nvmlPciInfo_t
  char bus_id_legacy[16];
  unsigned int domain, bus, device, device_id, subsystem_id;
  char bus_id[32];
};
}  // namespace

struct CudaBackend::Nvml {
  void* lib = nullptr;
  bool initialized = false;
  // The session's device in NVML, looked up (by PCI bus id) on first use;
  // device_status is that lookup's result.
  bool device_tried = false;
  nvmlReturn_t device_status = NVML_SUCCESS;
  nvmlDevice_t device = nullptr;
  // The figures and texts that cannot change, read once (fixed_read).
  bool fixed_read = false;
  NvmlRep fixed{};
  std::unordered_map<std::string, void*> fns;  // dlsym results, nullptr for missing

  void* sym(const char* name) {
    auto [it, fresh] = fns.try_emplace(name, nullptr);
    if (fresh) it->second = dlsym(lib, name);
    return it->second;
  }
  // name(device, args...); NOT_SUPPORTED where this NVML lacks the entry point.
  template <class... A>
  nvmlReturn_t call(const char* name, A... args) {
    void* f = sym(name);
    if (f == nullptr) return NVML_ERROR_NOT_SUPPORTED;
    nvmlReturn_t r = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, A...)>(f)(device, args...);
    return r == NVML_ERROR_FUNCTION_NOT_FOUND ? NVML_ERROR_NOT_SUPPORTED : r;
  }
};

void CudaBackend::nvml_unload() {
  if (nvml_ == nullptr) return;
  if (nvml_->initialized) {
    if (auto* shutdown = reinterpret_cast<nvmlReturn_t (*)()>(nvml_->sym("nvmlShutdown"))) shutdown();
  }
  // The library stays mapped: NVML does not promise a clean dlclose.
  delete nvml_;
  nvml_ = nullptr;
}

CudaBackend::Nvml* CudaBackend::nvml_open() {
  if (nvml_tried_) return nvml_;
  nvml_tried_ = true;
  nvml_load_status_ = NVML_SUCCESS;
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    log("NVML unavailable: %s", e ? e : "dlopen(libnvidia-ml.so.1) failed");
    nvml_load_status_ = NVML_ERROR_LIBRARY_NOT_FOUND;
    return nullptr;
  }
  if (dlsym(lib, "vgpu_guest_marker") != nullptr) {
    log("NVML unavailable: libnvidia-ml.so.1 on the daemon's library path is the vgpu GUEST library");
    nvml_load_status_ = NVML_ERROR_LIBRARY_NOT_FOUND;
    dlclose(lib);
    return nullptr;
  }
  auto* n = new Nvml;
  n->lib = lib;
  auto* init = reinterpret_cast<nvmlReturn_t (*)()>(n->sym("nvmlInit_v2"));
  if (init == nullptr || n->sym("nvmlShutdown") == nullptr) {
    log("NVML unavailable: libnvidia-ml.so.1 lacks nvmlInit_v2 / nvmlShutdown");
    nvml_load_status_ = NVML_ERROR_FUNCTION_NOT_FOUND;
    delete n;
    return nullptr;
  }
  if (nvmlReturn_t r = init(); r != NVML_SUCCESS) {
    log("nvmlInit_v2 failed: %d", r);
    nvml_load_status_ = r;
    delete n;
    return nullptr;
  }
  n->initialized = true;
  nvml_ = n;
  return nvml_;
}

// NVML's own texts, forwarded as they are. Each is read on its own: a host
// NVML without one of the calls leaves that text empty, and the guest
// refuses just that call.
void CudaBackend::version_texts(HelloRep* out) {
  out->driver_version_text[0] = '\0';
  out->nvml_version_text[0] = '\0';
  Nvml* n = nvml_open();
  if (n == nullptr) return;
  auto read = [n](const char* what, char (&dst)[kVersionTextBytes]) {
    auto* fn = reinterpret_cast<nvmlReturn_t (*)(char*, unsigned int)>(n->sym(what));
    if (fn == nullptr) {
      log("NVML: %s missing; the guest's %s is refused", what, what);
      return;
    }
    // kVersionTextBytes is NVML's own buffer size for these texts.
    if (nvmlReturn_t r = fn(dst, sizeof dst); r != NVML_SUCCESS) {
      log("%s failed: %d; the guest's %s is refused", what, r, what);
      dst[0] = '\0';
      return;
    }
    dst[sizeof dst - 1] = '\0';
  };
  read("nvmlSystemGetDriverVersion", out->driver_version_text);
  read("nvmlSystemGetNVMLVersion", out->nvml_version_text);
}

Status CudaBackend::nvml_device(Nvml** out, int32_t* nvml_status) {
  *out = nullptr;
  if (!initialized_) {  // the device's PCI bus id names the NVML device
    *nvml_status = NVML_ERROR_UNINITIALIZED;
    return st::kNotInitialized;
  }
  Nvml* n = nvml_open();
  if (n == nullptr) {
    *nvml_status = nvml_load_status_;
    return st::kNotSupported;
  }
  if (!n->device_tried) {
    n->device_tried = true;
    char bus[32] = {};
    auto* by_pci = reinterpret_cast<nvmlReturn_t (*)(const char*, nvmlDevice_t*)>(
        n->sym("nvmlDeviceGetHandleByPciBusId_v2"));
    if (by_pci == nullptr) {
      log("NVML: nvmlDeviceGetHandleByPciBusId_v2 missing; no device figures");
      n->device_status = NVML_ERROR_FUNCTION_NOT_FOUND;
    } else if (CUresult cr = cuDeviceGetPCIBusId(bus, sizeof bus - 1, dev_); cr != CUDA_SUCCESS) {
      log("NVML: no PCI bus id for the device: %s", cu_error_name(cr));
      n->device_status = NVML_ERROR_UNINITIALIZED;
    } else if (nvmlReturn_t hr = by_pci(bus, &n->device); hr != NVML_SUCCESS) {
      log("nvmlDeviceGetHandleByPciBusId_v2(%s) failed: %d", bus, hr);
      n->device_status = hr;
    }
  }
  *nvml_status = n->device_status;
  if (n->device_status != NVML_SUCCESS) return st::kNotSupported;
  *out = n;
  return st::kOk;
}

namespace {

void set(NvmlRep* r, NvmlFig f, nvmlReturn_t status, uint64_t value) {
  NvmlValue& v = r->fig[static_cast<uint32_t>(f)];
  v.status = status;
  v.value = status == NVML_SUCCESS ? value : 0;
}

// The readers take the (private) CudaBackend::Nvml as a deduced N.
// One unsigned-int getter: name(device, [selector,] &value).
template <class N, class... Sel>
void uint_fig(N& n, NvmlRep* r, NvmlFig f, const char* name, Sel... sel) {
  unsigned int v = 0;
  const nvmlReturn_t s = n.call(name, sel..., &v);  // before v is read: argument order is unspecified
  set(r, f, s, v);
}

template <class N>
void ull_fig(N& n, NvmlRep* r, NvmlFig f, const char* name) {
  unsigned long long v = 0;
  const nvmlReturn_t s = n.call(name, &v);
  set(r, f, s, v);
}

template <class N>
void pair_figs(N& n, NvmlRep* r, NvmlFig a, NvmlFig b, const char* name) {
  unsigned int x = 0, y = 0;
  nvmlReturn_t s = n.call(name, &x, &y);
  set(r, a, s, x);
  set(r, b, s, y);
}

void text(NvmlRep* r, NvmlTextId id, nvmlReturn_t status) {
  NvmlText& t = r->text[static_cast<uint32_t>(id)];
  t.status = status;
  if (status != NVML_SUCCESS) t.text[0] = '\0';
  t.text[sizeof t.text - 1] = '\0';
}

// The board's figures that cannot change while the driver is loaded.
template <class N>
void read_fixed(N& n, NvmlRep* r) {
  using F = NvmlFig;
  uint_fig(n, r, F::kBrand, "nvmlDeviceGetBrand");
  uint_fig(n, r, F::kArchitecture, "nvmlDeviceGetArchitecture");
  PciInfo pci{};
  nvmlReturn_t ps = n.call("nvmlDeviceGetPciInfo_v3", &pci);
  set(r, F::kPciDeviceId, ps, pci.device_id);
  set(r, F::kPciSubsystemId, ps, pci.subsystem_id);
  Memory2 m{};
  m.version = kMemory2Version;
  nvmlReturn_t ms = n.call("nvmlDeviceGetMemoryInfo_v2", &m);
  set(r, F::kMemTotal, ms, m.total);
  set(r, F::kMemReserved, ms, m.reserved);
  Bar1 b{};
  const nvmlReturn_t bs = n.call("nvmlDeviceGetBAR1MemoryInfo", &b);
  set(r, F::kBar1Total, bs, b.total);
  const F max_clock[] = {F::kMaxClockGraphics, F::kMaxClockSm, F::kMaxClockMem, F::kMaxClockVideo};
  for (int t = 0; t < 4; ++t) uint_fig(n, r, max_clock[t], "nvmlDeviceGetMaxClockInfo", t);
  pair_figs(n, r, F::kPowerLimitMin, F::kPowerLimitMax, "nvmlDeviceGetPowerManagementLimitConstraints");
  uint_fig(n, r, F::kPowerLimitDefault, "nvmlDeviceGetPowerManagementDefaultLimit");
  uint_fig(n, r, F::kMaxPcieGen, "nvmlDeviceGetMaxPcieLinkGeneration");
  uint_fig(n, r, F::kMaxPcieWidth, "nvmlDeviceGetMaxPcieLinkWidth");
  uint_fig(n, r, F::kGpuMaxPcieGen, "nvmlDeviceGetGpuMaxPcieLinkGeneration");
  uint_fig(n, r, F::kMemBusWidth, "nvmlDeviceGetMemoryBusWidth");
  uint_fig(n, r, F::kNumCores, "nvmlDeviceGetNumGpuCores");
  // nvmlTemperatureThresholds_t: SHUTDOWN 0, SLOWDOWN 1, MEM_MAX 2, GPU_MAX 3.
  uint_fig(n, r, F::kTempShutdown, "nvmlDeviceGetTemperatureThreshold", 0);
  uint_fig(n, r, F::kTempSlowdown, "nvmlDeviceGetTemperatureThreshold", 1);
  uint_fig(n, r, F::kTempMemMax, "nvmlDeviceGetTemperatureThreshold", 2);
  uint_fig(n, r, F::kTempGpuMax, "nvmlDeviceGetTemperatureThreshold", 3);
  uint_fig(n, r, F::kNumFans, "nvmlDeviceGetNumFans");
  uint_fig(n, r, F::kMultiGpuBoard, "nvmlDeviceGetMultiGpuBoard");
  uint_fig(n, r, F::kBoardId, "nvmlDeviceGetBoardId");
  uint_fig(n, r, F::kMaxMigDevices, "nvmlDeviceGetMaxMigDeviceCount");
  uint_fig(n, r, F::kDisplayMode, "nvmlDeviceGetDisplayMode");
  PciInfoExt px{};
  px.version = kPciInfoExtVersion;
  const nvmlReturn_t pxs = n.call("nvmlDeviceGetPciInfoExt", &px);
  set(r, F::kPciBaseClass, pxs, px.base_class);
  set(r, F::kPciSubClass, pxs, px.sub_class);
  // nvmlDeviceGetClock(type, NVML_CLOCK_ID_CUSTOMER_BOOST_MAX 3, &clock).
  const F boost[] = {F::kBoostClockGraphics, F::kBoostClockSm, F::kBoostClockMem, F::kBoostClockVideo};
  for (int t = 0; t < 4; ++t) uint_fig(n, r, boost[t], "nvmlDeviceGetClock", t, 3);

  auto str = [&](NvmlTextId id, const char* name) {
    NvmlText& t = r->text[static_cast<uint32_t>(id)];
    text(r, id, n.call(name, t.text, static_cast<unsigned>(sizeof t.text - 1)));
  };
  str(NvmlTextId::kSerial, "nvmlDeviceGetSerial");
  str(NvmlTextId::kVbios, "nvmlDeviceGetVbiosVersion");
  str(NvmlTextId::kBoardPart, "nvmlDeviceGetBoardPartNumber");
  str(NvmlTextId::kInforomImage, "nvmlDeviceGetInforomImageVersion");
  // nvmlInforomObject_t: OEM 0, ECC 1.
  auto inforom = [&](NvmlTextId id, int object) {
    NvmlText& t = r->text[static_cast<uint32_t>(id)];
    text(r, id, n.call("nvmlDeviceGetInforomVersion", object, t.text, static_cast<unsigned>(sizeof t.text - 1)));
  };
  inforom(NvmlTextId::kInforomOem, 0);
  inforom(NvmlTextId::kInforomEcc, 1);
}

// The figures that change: each read on every query.
template <class N>
void read_live(N& n, NvmlRep* r, uint32_t flags) {
  using F = NvmlFig;
  Pair u{};  // nvmlUtilization_t: one out-structure, not two out-pointers
  const nvmlReturn_t us = n.call("nvmlDeviceGetUtilizationRates", &u);
  set(r, F::kGpuUtil, us, u.a);
  set(r, F::kMemUtil, us, u.b);
  uint_fig(n, r, F::kTemperature, "nvmlDeviceGetTemperature", 0);  // NVML_TEMPERATURE_GPU
  uint_fig(n, r, F::kPower, "nvmlDeviceGetPowerUsage");
  ull_fig(n, r, F::kEnergy, "nvmlDeviceGetTotalEnergyConsumption");
  const F clock[] = {F::kClockGraphics, F::kClockSm, F::kClockMem, F::kClockVideo};
  for (int t = 0; t < 4; ++t) uint_fig(n, r, clock[t], "nvmlDeviceGetClockInfo", t);
  // nvmlClockType_t: GRAPHICS 0, MEM 2.
  uint_fig(n, r, F::kAppClockGraphics, "nvmlDeviceGetApplicationsClock", 0);
  uint_fig(n, r, F::kAppClockMem, "nvmlDeviceGetApplicationsClock", 2);
  uint_fig(n, r, F::kDefaultAppClockGraphics, "nvmlDeviceGetDefaultApplicationsClock", 0);
  uint_fig(n, r, F::kDefaultAppClockMem, "nvmlDeviceGetDefaultApplicationsClock", 2);
  uint_fig(n, r, F::kPerfState, "nvmlDeviceGetPerformanceState");
  ull_fig(n, r, F::kThrottleReasons, "nvmlDeviceGetCurrentClocksEventReasons");
  if (r->fig[static_cast<uint32_t>(F::kThrottleReasons)].status == NVML_ERROR_NOT_SUPPORTED)
    ull_fig(n, r, F::kThrottleReasons, "nvmlDeviceGetCurrentClocksThrottleReasons");  // its older name
  uint_fig(n, r, F::kFanSpeed, "nvmlDeviceGetFanSpeed");
  uint_fig(n, r, F::kPcieGen, "nvmlDeviceGetCurrPcieLinkGeneration");
  uint_fig(n, r, F::kPcieWidth, "nvmlDeviceGetCurrPcieLinkWidth");
  if (flags & kNvmlWithPcieThroughput) {
    uint_fig(n, r, F::kPcieTx, "nvmlDeviceGetPcieThroughput", 0);  // NVML_PCIE_UTIL_TX_BYTES
    uint_fig(n, r, F::kPcieRx, "nvmlDeviceGetPcieThroughput", 1);
  } else {
    set(r, F::kPcieTx, NVML_ERROR_NOT_READY, 0);  // not read this time: asked for on its own
    set(r, F::kPcieRx, NVML_ERROR_NOT_READY, 0);
  }
  uint_fig(n, r, F::kPcieReplay, "nvmlDeviceGetPcieReplayCounter");
  uint_fig(n, r, F::kPowerLimit, "nvmlDeviceGetPowerManagementLimit");
  uint_fig(n, r, F::kEnforcedPowerLimit, "nvmlDeviceGetEnforcedPowerLimit");
  uint_fig(n, r, F::kPowerMgmtMode, "nvmlDeviceGetPowerManagementMode");
  uint_fig(n, r, F::kComputeMode, "nvmlDeviceGetComputeMode");
  uint_fig(n, r, F::kPersistenceMode, "nvmlDeviceGetPersistenceMode");
  pair_figs(n, r, F::kEccCurrent, F::kEccPending, "nvmlDeviceGetEccMode");
  pair_figs(n, r, F::kMigCurrent, F::kMigPending, "nvmlDeviceGetMigMode");
  unsigned int util = 0, period = 0;
  nvmlReturn_t es = n.call("nvmlDeviceGetEncoderUtilization", &util, &period);
  set(r, F::kEncoderUtil, es, util);
  util = 0;
  es = n.call("nvmlDeviceGetDecoderUtilization", &util, &period);
  set(r, F::kDecoderUtil, es, util);
  Bar1 b{};
  const nvmlReturn_t bs = n.call("nvmlDeviceGetBAR1MemoryInfo", &b);
  set(r, F::kBar1Used, bs, b.used);
  // nvmlMemoryErrorType_t CORRECTED 0 / UNCORRECTED 1; nvmlEccCounterType_t VOLATILE 0 / AGGREGATE 1.
  const F ecc[2][2] = {{F::kEccVolatileCorrected, F::kEccAggregateCorrected},
                       {F::kEccVolatileUncorrected, F::kEccAggregateUncorrected}};
  for (int e = 0; e < 2; ++e)
    for (int c = 0; c < 2; ++c) {
      unsigned long long v = 0;
      const nvmlReturn_t s = n.call("nvmlDeviceGetTotalEccErrors", e, c, &v);
      set(r, ecc[e][c], s, v);
    }
  uint_fig(n, r, F::kRetiredPagesPending, "nvmlDeviceGetRetiredPagesPendingStatus");
  uint_fig(n, r, F::kDisplayActive, "nvmlDeviceGetDisplayActive");
  uint_fig(n, r, F::kAccountingMode, "nvmlDeviceGetAccountingMode");
}

}  // namespace

Status CudaBackend::nvml_query(uint32_t flags, NvmlRep* out) {
  std::memset(out, 0, sizeof *out);
  out->device = ordinal_;
  Nvml* n = nullptr;
  if (Status s = nvml_device(&n, &out->status); s != st::kOk) return s;
  if (!n->fixed_read) {
    read_fixed(*n, &n->fixed);
    n->fixed_read = true;
  }
  *out = n->fixed;  // the fixed part, cached; the live part overwritten below
  out->device = ordinal_;
  read_live(*n, out, flags);
  out->status = NVML_SUCCESS;
  return st::kOk;
}

// nvmlFieldValue_t's layout is NvmlFieldValue's (ops.h pins its size).
Status CudaBackend::nvml_field_values(const NvmlFieldValuesReq& r, NvmlFieldValuesRep* out) {
  std::memset(out, 0, sizeof *out);
  Nvml* n = nullptr;
  int32_t why = 0;
  if (Status s = nvml_device(&n, &why); s != st::kOk) return s;
  out->count = r.count;
  for (uint32_t i = 0; i < r.count; ++i) {
    out->v[i].field_id = r.field_id[i];
    out->v[i].scope_id = r.scope_id[i];
  }
  nvmlReturn_t s = n->call("nvmlDeviceGetFieldValues", static_cast<int>(r.count), out->v);
  if (s == NVML_ERROR_NOT_SUPPORTED) return st::kNotSupported;
  if (s != NVML_SUCCESS) return st::kUnknown;
  return st::kOk;
}

// The device with itself; NVML's code and status travel unchanged (ops.h).
Status CudaBackend::nvml_p2p_status(uint32_t caps_index, NvmlP2PStatusRep* out) {
  *out = {};
  Nvml* n = nullptr;
  int32_t why = 0;
  if (Status s = nvml_device(&n, &why); s != st::kOk) return s;
  int status = 6;  // nvmlGpuP2PStatus_t: NVML_P2P_STATUS_UNKNOWN until NVML says
  // nvmlDeviceGetP2PStatus(device1, device2, nvmlGpuP2PCapsIndex_t, nvmlGpuP2PStatus_t*); both enums are ints.
  out->nvml_return = n->call("nvmlDeviceGetP2PStatus", n->device, static_cast<int>(caps_index), &status);
  out->status = status;
  return st::kOk;
}

}  // namespace vgpu::host::cuda
