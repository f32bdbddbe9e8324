// The device's figures from the host's real NVML (ops.h NvmlFig, NvmlTextId):
// utilisation, temperature, power, energy, clocks, performance state, PCIe,
// power limits, ECC, MIG and compute modes, the board's ids and texts, and
// nvmlDeviceGetFieldValues forwarded as it is. A figure the host's NVML could
// not read is refused with that NVML's own error (NOT_SUPPORTED logged once);
// on the CPU backend every one of these is refused.
#include <cstring>

#include "nvml_internal.h"

using namespace vgpu;
using namespace vgpu::guest;
using namespace vgpu::guest::nvml;

namespace {

// The host's text `id` into out.
nvmlReturn_t text(nvmlDevice_t dev, NvmlTextId id, const char* name, char* out, unsigned int length) {
  if (out == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t err = NVML_SUCCESS;
  const NvmlRep* rep = figures(dev, &err);
  if (rep == nullptr) return err;
  const NvmlText& t = rep->text[static_cast<uint32_t>(id)];
  if (t.status != NVML_SUCCESS) {
    if (t.status == NVML_ERROR_NOT_SUPPORTED) log_unsupported(name);
    return static_cast<nvmlReturn_t>(t.status);
  }
  char copy[kNvmlTextBytes + 1] = {};  // bounded even if the host's text were not terminated
  std::memcpy(copy, t.text, kNvmlTextBytes);
  return copy_text(copy, out, length);
}

// Two figures NVML returns from one call: both or the first one's error.
template <class A, class B>
nvmlReturn_t pair(nvmlDevice_t dev, NvmlFig fa, NvmlFig fb, const char* name, A* a, B* b) {
  if (a == nullptr || b == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  A x{};
  B y{};
  if (nvmlReturn_t r = figure(dev, fa, name, &x)) return r;
  if (nvmlReturn_t r = figure(dev, fb, name, &y)) return r;
  *a = x;
  *b = y;
  return NVML_SUCCESS;
}

constexpr NvmlFig kClock[] = {NvmlFig::kClockGraphics, NvmlFig::kClockSm, NvmlFig::kClockMem, NvmlFig::kClockVideo};
constexpr NvmlFig kMaxClock[] = {NvmlFig::kMaxClockGraphics, NvmlFig::kMaxClockSm, NvmlFig::kMaxClockMem,
                                 NvmlFig::kMaxClockVideo};
constexpr NvmlFig kBoostClock[] = {NvmlFig::kBoostClockGraphics, NvmlFig::kBoostClockSm, NvmlFig::kBoostClockMem,
                                   NvmlFig::kBoostClockVideo};

// The application clocks the host reads: graphics and memory (the two NVML sets).
bool app_clock(int type, bool by_default, NvmlFig* f) {
  if (type == NVML_CLOCK_GRAPHICS) *f = by_default ? NvmlFig::kDefaultAppClockGraphics : NvmlFig::kAppClockGraphics;
  else if (type == NVML_CLOCK_MEM) *f = by_default ? NvmlFig::kDefaultAppClockMem : NvmlFig::kAppClockMem;
  else return false;
  return true;
}

}  // namespace

extern "C" {

// ---- load ----------------------------------------------------------------------------------
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t dev, nvmlUtilization_t* u) {
  if (u == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return pair(dev, NvmlFig::kGpuUtil, NvmlFig::kMemUtil, "nvmlDeviceGetUtilizationRates", &u->gpu, &u->memory);
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t dev, nvmlTemperatureSensors_t sensor, unsigned int* temp) {
  if (temp == nullptr || sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  return figure(dev, NvmlFig::kTemperature, "nvmlDeviceGetTemperature", temp);
}
// The versioned form: the GPU sensor only (the one the host reads).
nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t dev, nvmlTemperature_t* t) {
  if (t == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (t->version != nvmlTemperature_v1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  if (t->sensorType != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned int v = 0;
  if (nvmlReturn_t r = figure(dev, NvmlFig::kTemperature, "nvmlDeviceGetTemperatureV", &v)) return r;
  t->temperature = static_cast<int>(v);
  return NVML_SUCCESS;
}

// nvmlTemperatureThresholds_t: SHUTDOWN 0, SLOWDOWN 1, MEM_MAX 2, GPU_MAX 3.
nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t dev, int type, unsigned int* temp) {
  constexpr NvmlFig f[] = {NvmlFig::kTempShutdown, NvmlFig::kTempSlowdown, NvmlFig::kTempMemMax, NvmlFig::kTempGpuMax};
  if (type < 0 || type > 3) {
    log_unsupported("nvmlDeviceGetTemperatureThreshold (this threshold)");
    return NVML_ERROR_NOT_SUPPORTED;
  }
  return figure(dev, f[type], "nvmlDeviceGetTemperatureThreshold", temp);
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t dev, unsigned int* power) {
  return figure(dev, NvmlFig::kPower, "nvmlDeviceGetPowerUsage", power);
}
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t dev, unsigned long long* energy) {
  return figure(dev, NvmlFig::kEnergy, "nvmlDeviceGetTotalEnergyConsumption", energy);
}
nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t dev, int* pstate) {
  return figure(dev, NvmlFig::kPerfState, "nvmlDeviceGetPerformanceState", pstate);
}
nvmlReturn_t nvmlDeviceGetPowerState(nvmlDevice_t dev, int* pstate) {  // the deprecated name of the same
  return figure(dev, NvmlFig::kPerfState, "nvmlDeviceGetPowerState", pstate);
}
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t dev, unsigned long long* reasons) {
  return figure(dev, NvmlFig::kThrottleReasons, "nvmlDeviceGetCurrentClocksEventReasons", reasons);
}
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t dev, unsigned long long* reasons) {
  return figure(dev, NvmlFig::kThrottleReasons, "nvmlDeviceGetCurrentClocksThrottleReasons", reasons);
}
nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t dev, unsigned int* speed) {
  return figure(dev, NvmlFig::kFanSpeed, "nvmlDeviceGetFanSpeed", speed);
}
nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t dev, unsigned int* n) {
  return figure(dev, NvmlFig::kNumFans, "nvmlDeviceGetNumFans", n);
}

// ---- clocks ---------------------------------------------------------------------------------
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t dev, int type, unsigned int* clock) {
  if (type < 0 || type > 3) return NVML_ERROR_INVALID_ARGUMENT;
  return figure(dev, kClock[type], "nvmlDeviceGetClockInfo", clock);
}
nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t dev, int type, unsigned int* clock) {
  if (type < 0 || type > 3) return NVML_ERROR_INVALID_ARGUMENT;
  return figure(dev, kMaxClock[type], "nvmlDeviceGetMaxClockInfo", clock);
}
nvmlReturn_t nvmlDeviceGetApplicationsClock(nvmlDevice_t dev, int type, unsigned int* clock) {
  NvmlFig f;
  if (!app_clock(type, false, &f)) return NVML_ERROR_INVALID_ARGUMENT;
  return figure(dev, f, "nvmlDeviceGetApplicationsClock", clock);
}
nvmlReturn_t nvmlDeviceGetDefaultApplicationsClock(nvmlDevice_t dev, int type, unsigned int* clock) {
  NvmlFig f;
  if (!app_clock(type, true, &f)) return NVML_ERROR_INVALID_ARGUMENT;
  return figure(dev, f, "nvmlDeviceGetDefaultApplicationsClock", clock);
}
// The clock ids the host reads: current, application target and default
// (graphics and memory), and the customer boost maximum.
nvmlReturn_t nvmlDeviceGetClock(nvmlDevice_t dev, int type, int id, unsigned int* clock) {
  if (type < 0 || type > 3) return NVML_ERROR_INVALID_ARGUMENT;
  if (id == NVML_CLOCK_ID_CURRENT) return figure(dev, kClock[type], "nvmlDeviceGetClock", clock);
  if (id == NVML_CLOCK_ID_CUSTOMER_BOOST_MAX) return figure(dev, kBoostClock[type], "nvmlDeviceGetClock", clock);
  NvmlFig f;
  if ((id == NVML_CLOCK_ID_APP_CLOCK_TARGET || id == NVML_CLOCK_ID_APP_CLOCK_DEFAULT) &&
      app_clock(type, id == NVML_CLOCK_ID_APP_CLOCK_DEFAULT, &f))
    return figure(dev, f, "nvmlDeviceGetClock", clock);
  log_unsupported("nvmlDeviceGetClock (this clock id)");
  return NVML_ERROR_NOT_SUPPORTED;
}

// ---- PCIe -----------------------------------------------------------------------------------
nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t dev, unsigned int* gen) {
  return figure(dev, NvmlFig::kPcieGen, "nvmlDeviceGetCurrPcieLinkGeneration", gen);
}
nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t dev, unsigned int* width) {
  return figure(dev, NvmlFig::kPcieWidth, "nvmlDeviceGetCurrPcieLinkWidth", width);
}
nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t dev, unsigned int* gen) {
  return figure(dev, NvmlFig::kMaxPcieGen, "nvmlDeviceGetMaxPcieLinkGeneration", gen);
}
nvmlReturn_t nvmlDeviceGetGpuMaxPcieLinkGeneration(nvmlDevice_t dev, unsigned int* gen) {
  return figure(dev, NvmlFig::kGpuMaxPcieGen, "nvmlDeviceGetGpuMaxPcieLinkGeneration", gen);
}
nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t dev, unsigned int* width) {
  return figure(dev, NvmlFig::kMaxPcieWidth, "nvmlDeviceGetMaxPcieLinkWidth", width);
}
// nvmlPcieUtilCounter_t: TX 0, RX 1 (KB/s). A 20 ms sample on the host, so
// asked for on its own (kNvmlWithPcieThroughput), never with every figure.
nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t dev, int counter, unsigned int* value) {
  if (counter != 0 && counter != 1) return NVML_ERROR_INVALID_ARGUMENT;
  if (value == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t err = NVML_SUCCESS;
  if (figures(dev, &err) == nullptr) return err;  // the handle, and the device the session is served by
  NvmlRep rep{};
  if (Client::get().call<Op::NvmlQuery>(NvmlQueryReq{kNvmlWithPcieThroughput, 0}, &rep) != st::kOk)
    return NVML_ERROR_GPU_IS_LOST;
  const NvmlFig f = counter == 0 ? NvmlFig::kPcieTx : NvmlFig::kPcieRx;
  if (nvmlReturn_t r = figure_status(rep, f, "nvmlDeviceGetPcieThroughput")) return r;
  *value = static_cast<unsigned>(rep.fig[static_cast<uint32_t>(f)].value);
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t dev, unsigned int* value) {
  return figure(dev, NvmlFig::kPcieReplay, "nvmlDeviceGetPcieReplayCounter", value);
}

// ---- power limits and modes ---------------------------------------------------------------
nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t dev, unsigned int* limit) {
  return figure(dev, NvmlFig::kPowerLimit, "nvmlDeviceGetPowerManagementLimit", limit);
}
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t dev, unsigned int* limit) {
  return figure(dev, NvmlFig::kEnforcedPowerLimit, "nvmlDeviceGetEnforcedPowerLimit", limit);
}
nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t dev, unsigned int* limit) {
  return figure(dev, NvmlFig::kPowerLimitDefault, "nvmlDeviceGetPowerManagementDefaultLimit", limit);
}
nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t dev, unsigned int* min, unsigned int* max) {
  return pair(dev, NvmlFig::kPowerLimitMin, NvmlFig::kPowerLimitMax, "nvmlDeviceGetPowerManagementLimitConstraints",
              min, max);
}
nvmlReturn_t nvmlDeviceGetPowerManagementMode(nvmlDevice_t dev, int* mode) {
  return figure(dev, NvmlFig::kPowerMgmtMode, "nvmlDeviceGetPowerManagementMode", mode);
}
nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t dev, int* mode) {
  return figure(dev, NvmlFig::kComputeMode, "nvmlDeviceGetComputeMode", mode);
}
nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t dev, int* mode) {
  return figure(dev, NvmlFig::kPersistenceMode, "nvmlDeviceGetPersistenceMode", mode);
}
nvmlReturn_t nvmlDeviceGetDisplayMode(nvmlDevice_t dev, int* mode) {
  return figure(dev, NvmlFig::kDisplayMode, "nvmlDeviceGetDisplayMode", mode);
}
nvmlReturn_t nvmlDeviceGetDisplayActive(nvmlDevice_t dev, int* active) {
  return figure(dev, NvmlFig::kDisplayActive, "nvmlDeviceGetDisplayActive", active);
}
nvmlReturn_t nvmlDeviceGetAccountingMode(nvmlDevice_t dev, int* mode) {
  return figure(dev, NvmlFig::kAccountingMode, "nvmlDeviceGetAccountingMode", mode);
}

// ---- ECC and MIG --------------------------------------------------------------------------
nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t dev, int* current, int* pending) {
  return pair(dev, NvmlFig::kEccCurrent, NvmlFig::kEccPending, "nvmlDeviceGetEccMode", current, pending);
}
// nvmlMemoryErrorType_t CORRECTED 0 / UNCORRECTED 1; nvmlEccCounterType_t VOLATILE 0 / AGGREGATE 1.
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t dev, int error_type, int counter_type,
                                         unsigned long long* count) {
  if (error_type < 0 || error_type > 1 || counter_type < 0 || counter_type > 1) return NVML_ERROR_INVALID_ARGUMENT;
  constexpr NvmlFig f[2][2] = {{NvmlFig::kEccVolatileCorrected, NvmlFig::kEccAggregateCorrected},
                               {NvmlFig::kEccVolatileUncorrected, NvmlFig::kEccAggregateUncorrected}};
  return figure(dev, f[error_type][counter_type], "nvmlDeviceGetTotalEccErrors", count);
}
nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t dev, int* pending) {
  return figure(dev, NvmlFig::kRetiredPagesPending, "nvmlDeviceGetRetiredPagesPendingStatus", pending);
}
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t dev, unsigned int* current, unsigned int* pending) {
  return pair(dev, NvmlFig::kMigCurrent, NvmlFig::kMigPending, "nvmlDeviceGetMigMode", current, pending);
}
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t dev, unsigned int* count) {
  return figure(dev, NvmlFig::kMaxMigDevices, "nvmlDeviceGetMaxMigDeviceCount", count);
}
// Our handles are whole devices, never MIG devices: a true answer, not a guess.
nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t dev, unsigned int* is_mig) {
  VGPU_NVML_DEVICE(d, dev);
  (void)d;
  if (is_mig == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *is_mig = 0;
  return NVML_SUCCESS;
}

// ---- the board ------------------------------------------------------------------------------
nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t dev, int* brand) {
  return figure(dev, NvmlFig::kBrand, "nvmlDeviceGetBrand", brand);
}
nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t dev, unsigned int* arch) {
  return figure(dev, NvmlFig::kArchitecture, "nvmlDeviceGetArchitecture", arch);
}
nvmlReturn_t nvmlDeviceGetMemoryBusWidth(nvmlDevice_t dev, unsigned int* width) {
  return figure(dev, NvmlFig::kMemBusWidth, "nvmlDeviceGetMemoryBusWidth", width);
}
nvmlReturn_t nvmlDeviceGetNumGpuCores(nvmlDevice_t dev, unsigned int* cores) {
  return figure(dev, NvmlFig::kNumCores, "nvmlDeviceGetNumGpuCores", cores);
}
nvmlReturn_t nvmlDeviceGetMultiGpuBoard(nvmlDevice_t dev, unsigned int* multi) {
  return figure(dev, NvmlFig::kMultiGpuBoard, "nvmlDeviceGetMultiGpuBoard", multi);
}
nvmlReturn_t nvmlDeviceGetBoardId(nvmlDevice_t dev, unsigned int* id) {
  return figure(dev, NvmlFig::kBoardId, "nvmlDeviceGetBoardId", id);
}
nvmlReturn_t nvmlDeviceGetBAR1MemoryInfo(nvmlDevice_t dev, nvmlBAR1Memory_t* bar1) {
  if (bar1 == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned long long total = 0, used = 0;
  if (nvmlReturn_t r = pair(dev, NvmlFig::kBar1Total, NvmlFig::kBar1Used, "nvmlDeviceGetBAR1MemoryInfo", &total, &used))
    return r;
  bar1->bar1Total = total;
  bar1->bar1Used = used;
  bar1->bar1Free = used < total ? total - used : 0;
  return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t dev, char* out, unsigned int length) {
  return text(dev, NvmlTextId::kSerial, "nvmlDeviceGetSerial", out, length);
}
nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t dev, char* out, unsigned int length) {
  return text(dev, NvmlTextId::kVbios, "nvmlDeviceGetVbiosVersion", out, length);
}
nvmlReturn_t nvmlDeviceGetBoardPartNumber(nvmlDevice_t dev, char* out, unsigned int length) {
  return text(dev, NvmlTextId::kBoardPart, "nvmlDeviceGetBoardPartNumber", out, length);
}
nvmlReturn_t nvmlDeviceGetInforomImageVersion(nvmlDevice_t dev, char* out, unsigned int length) {
  return text(dev, NvmlTextId::kInforomImage, "nvmlDeviceGetInforomImageVersion", out, length);
}
// nvmlInforomObject_t: OEM 0, ECC 1 (the POWER object is not read).
nvmlReturn_t nvmlDeviceGetInforomVersion(nvmlDevice_t dev, int object, char* out, unsigned int length) {
  if (object == 0) return text(dev, NvmlTextId::kInforomOem, "nvmlDeviceGetInforomVersion", out, length);
  if (object == 1) return text(dev, NvmlTextId::kInforomEcc, "nvmlDeviceGetInforomVersion", out, length);
  log_unsupported("nvmlDeviceGetInforomVersion (this object)");
  return NVML_ERROR_NOT_SUPPORTED;
}

// ---- field values ---------------------------------------------------------------------------
// Forwarded to the host's nvmlDeviceGetFieldValues in batches of
// kNvmlMaxFields; each value carries that NVML's own per-field status.
nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t dev, int count, nvmlFieldValue_t* values) {
  VGPU_NVML_DEVICE(d, dev);
  (void)d;
  if (count < 0 || (count > 0 && values == nullptr)) return NVML_ERROR_INVALID_ARGUMENT;
  static_assert(sizeof(nvmlFieldValue_t) == sizeof(NvmlFieldValue));
  for (int done = 0; done < count;) {
    NvmlFieldValuesReq req{};
    req.count = static_cast<uint32_t>(count - done < static_cast<int>(kNvmlMaxFields) ? count - done : kNvmlMaxFields);
    for (uint32_t i = 0; i < req.count; ++i) {
      req.field_id[i] = values[done + i].fieldId;
      req.scope_id[i] = values[done + i].scopeId;
    }
    NvmlFieldValuesRep rep{};
    const Status s = Client::get().call<Op::NvmlFieldValues>(req, &rep);
    if (s == st::kNotSupported) {
      log_unsupported("nvmlDeviceGetFieldValues");
      return NVML_ERROR_NOT_SUPPORTED;
    }
    if (s != st::kOk || rep.count != req.count) return NVML_ERROR_UNKNOWN;
    std::memcpy(values + done, rep.v, req.count * sizeof(NvmlFieldValue));
    done += static_cast<int>(req.count);
  }
  return NVML_SUCCESS;
}

// ---- peer-to-peer status --------------------------------------------------------------------
// The guest sees one device, so both handles name it: the host's NVML answers
// for that device with itself (NCCL asks for every pair at init).
nvmlReturn_t nvmlDeviceGetP2PStatus(nvmlDevice_t device1, nvmlDevice_t device2, nvmlGpuP2PCapsIndex_t p2pIndex,
                                    nvmlGpuP2PStatus_t* p2pStatus) {
  VGPU_NVML_DEVICE(d1, device1);
  const ::vgpu::DeviceInfoRep* d2 = ::vgpu::guest::nvml::info_of(device2, &vgpu_err_);
  if (!d2) return vgpu_err_;
  if (p2pStatus == nullptr || static_cast<uint32_t>(p2pIndex) >= kNvmlP2PCapsIndexCount || d1 != d2)
    return NVML_ERROR_INVALID_ARGUMENT;
  NvmlP2PStatusRep rep{};
  const Status s = Client::get().call<Op::NvmlP2PStatus>(NvmlP2PStatusReq{static_cast<uint32_t>(p2pIndex), 0}, &rep);
  if (s == st::kNotSupported) {
    log_unsupported("nvmlDeviceGetP2PStatus (no NVML on the host)");
    return NVML_ERROR_NOT_SUPPORTED;
  }
  if (s != st::kOk) return NVML_ERROR_UNKNOWN;
  if (rep.nvml_return == NVML_SUCCESS) *p2pStatus = static_cast<nvmlGpuP2PStatus_t>(rep.status);
  return static_cast<nvmlReturn_t>(rep.nvml_return);
}

}  // extern "C"
