// What real monitors ask our libnvidia-ml.so.1, against a real vgpu-hostd
// (CPU backend; VGPU_TEST_BACKEND=cuda for the GPU): the list of entry points
// each consumer calls and whether each is answered or refused, the guest's
// process list, nvidia-smi's export table, event sets and field values.
#include <cuda.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hostd_env.h"
#include "nvml_abi.h"

extern "C" {
typedef struct nvmlEventSet_st* nvmlEventSet_t;
nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t* set);
nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set);
nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, void* data, unsigned int timeoutms);
nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, nvmlEventSet_t set);
nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long* types);
}

namespace {

auto* const g_env = ::testing::AddGlobalTestEnvironment(new vgpu::test::HostdEnvironment("nvml-monitors"));

bool on_gpu() {
  const char* be = std::getenv("VGPU_TEST_BACKEND");
  return be != nullptr && std::string(be) == "cuda";
}

// kReal: answered on every backend (from the device description, the
// session, the guest itself). kHost: from the host's real NVML: answered on
// a GPU host, refused on the CPU backend. kRefused: refused everywhere.
enum Kind { kReal, kHost, kRefused };
struct Entry {
  const char* consumer;
  const char* name;
  Kind kind;
};

// What each consumer calls (from their sources and nvidia-smi's imports).
const Entry kEntries[] = {
    // nvidia-smi (the default table, -L, -q, --query-gpu, --query-compute-apps, -l)
    {"nvidia-smi", "nvmlInternalGetExportTable", kReal},
    {"nvidia-smi", "nvmlInit_v2", kReal},
    {"nvidia-smi", "nvmlInitWithFlags", kReal},
    {"nvidia-smi", "nvmlSystemGetDriverVersion", kReal},
    {"nvidia-smi", "nvmlSystemGetCudaDriverVersion_v2", kReal},
    {"nvidia-smi", "nvmlDeviceGetCount_v2", kReal},
    {"nvidia-smi", "nvmlDeviceGetHandleByIndex_v2", kReal},
    {"nvidia-smi", "nvmlDeviceGetName", kReal},
    {"nvidia-smi", "nvmlDeviceGetUUID", kReal},
    {"nvidia-smi", "nvmlDeviceGetPciInfo_v3", kReal},
    {"nvidia-smi", "nvmlDeviceGetMemoryInfo_v2", kReal},
    {"nvidia-smi", "nvmlEventSetCreate", kReal},
    {"nvidia-smi", "nvmlDeviceGetSupportedEventTypes", kReal},
    {"nvidia-smi", "nvmlEventSetWait_v2", kReal},
    {"nvidia-smi", "nvmlEventSetFree", kReal},
    {"nvidia-smi", "nvmlDeviceIsMigDeviceHandle", kReal},
    {"nvidia-smi", "nvmlSystemGetProcessName", kReal},
    {"nvidia-smi", "nvmlDeviceGetPersistenceMode", kHost},
    {"nvidia-smi", "nvmlDeviceGetDisplayActive", kHost},
    {"nvidia-smi", "nvmlDeviceGetDisplayMode", kHost},
    {"nvidia-smi", "nvmlDeviceGetEccMode", kHost},
    {"nvidia-smi", "nvmlDeviceGetTotalEccErrors", kHost},
    {"nvidia-smi", "nvmlDeviceGetFanSpeed", kHost},
    {"nvidia-smi", "nvmlDeviceGetTemperature", kHost},
    {"nvidia-smi", "nvmlDeviceGetTemperatureThreshold", kHost},
    {"nvidia-smi", "nvmlDeviceGetPerformanceState", kHost},
    {"nvidia-smi", "nvmlDeviceGetPowerUsage", kHost},
    {"nvidia-smi", "nvmlDeviceGetEnforcedPowerLimit", kHost},
    {"nvidia-smi", "nvmlDeviceGetPowerManagementLimit", kHost},
    {"nvidia-smi", "nvmlDeviceGetPowerManagementLimitConstraints", kHost},
    {"nvidia-smi", "nvmlDeviceGetPowerManagementDefaultLimit", kHost},
    {"nvidia-smi", "nvmlDeviceGetUtilizationRates", kHost},
    {"nvidia-smi", "nvmlDeviceGetComputeMode", kHost},
    {"nvidia-smi", "nvmlDeviceGetMigMode", kHost},
    {"nvidia-smi", "nvmlDeviceGetMaxMigDeviceCount", kHost},
    {"nvidia-smi", "nvmlDeviceGetBrand", kHost},
    {"nvidia-smi", "nvmlDeviceGetArchitecture", kHost},
    {"nvidia-smi", "nvmlDeviceGetSerial", kHost},
    {"nvidia-smi", "nvmlDeviceGetVbiosVersion", kHost},
    {"nvidia-smi", "nvmlDeviceGetBoardPartNumber", kHost},
    {"nvidia-smi", "nvmlDeviceGetInforomVersion", kHost},
    {"nvidia-smi", "nvmlDeviceGetInforomImageVersion", kHost},
    {"nvidia-smi", "nvmlDeviceGetBAR1MemoryInfo", kHost},
    {"nvidia-smi", "nvmlDeviceGetClockInfo", kHost},
    {"nvidia-smi", "nvmlDeviceGetMaxClockInfo", kHost},
    {"nvidia-smi", "nvmlDeviceGetApplicationsClock", kHost},
    {"nvidia-smi", "nvmlDeviceGetDefaultApplicationsClock", kHost},
    {"nvidia-smi", "nvmlDeviceGetCurrentClocksThrottleReasons", kHost},
    {"nvidia-smi", "nvmlDeviceGetCurrPcieLinkGeneration", kHost},
    {"nvidia-smi", "nvmlDeviceGetCurrPcieLinkWidth", kHost},
    {"nvidia-smi", "nvmlDeviceGetMaxPcieLinkGeneration", kHost},
    {"nvidia-smi", "nvmlDeviceGetMaxPcieLinkWidth", kHost},
    {"nvidia-smi", "nvmlDeviceGetGpuMaxPcieLinkGeneration", kHost},
    {"nvidia-smi", "nvmlDeviceGetPcieThroughput", kHost},
    {"nvidia-smi", "nvmlDeviceGetPcieReplayCounter", kHost},
    {"nvidia-smi", "nvmlDeviceGetRetiredPagesPendingStatus", kHost},
    {"nvidia-smi", "nvmlDeviceGetAccountingMode", kHost},
    {"nvidia-smi", "nvmlDeviceGetPciInfoExt", kHost},  // 580's PCI section and pci.bus_id
    {"nvidia-smi", "nvmlDeviceGetTemperatureV", kHost},
    {"nvidia-smi", "nvmlDeviceGetClock", kHost},
    {"nvidia-smi", "nvmlDeviceGetMinorNumber", kRefused},  // the guest has no /dev/nvidiaN
    {"nvidia-smi", "nvmlDeviceGetVirtualizationMode", kRefused},
    {"nvidia-smi", "nvmlDeviceGetAccountingPids", kRefused},
    {"nvidia-smi", "nvmlDeviceGetSamples", kRefused},
    {"nvidia-smi", "nvmlDeviceGetConfComputeProtectedMemoryUsage", kRefused},
    {"nvidia-smi", "nvmlDeviceSetPersistenceMode", kRefused},  // settings are the host's
    {"nvidia-smi", "nvmlDeviceSetComputeMode", kRefused},
    {"nvidia-smi", "nvmlDeviceSetPowerManagementLimit", kRefused},
    // pynvml (nvidia-ml-py): its common calls
    {"pynvml", "nvmlInitWithFlags", kReal},
    {"pynvml", "nvmlSystemGetNVMLVersion", kHost},
    {"pynvml", "nvmlDeviceGetHandleByUUID", kReal},
    {"pynvml", "nvmlDeviceGetHandleByPciBusId_v2", kReal},
    {"pynvml", "nvmlDeviceGetMemoryInfo", kReal},
    {"pynvml", "nvmlDeviceGetComputeRunningProcesses_v3", kReal},
    {"pynvml", "nvmlDeviceGetGraphicsRunningProcesses_v3", kReal},
    {"pynvml", "nvmlDeviceGetMPSComputeRunningProcesses_v3", kReal},
    {"pynvml", "nvmlDeviceGetCudaComputeCapability", kReal},
    {"pynvml", "nvmlDeviceGetTotalEnergyConsumption", kHost},
    {"pynvml", "nvmlDeviceGetClock", kHost},
    // PyTorch (torch.cuda.utilization, memory_usage, temperature, power_draw,
    // clock_rate, list_gpu_processes, device_memory_used; the allocator's OOM message)
    {"PyTorch", "nvmlDeviceGetHandleByPciBusId_v2", kReal},
    {"PyTorch", "nvmlDeviceGetComputeRunningProcesses", kReal},
    {"PyTorch", "nvmlDeviceGetComputeRunningProcesses_v2", kReal},
    {"PyTorch", "nvmlDeviceGetUtilizationRates", kHost},
    {"PyTorch", "nvmlDeviceGetTemperature", kHost},
    {"PyTorch", "nvmlDeviceGetPowerUsage", kHost},
    {"PyTorch", "nvmlDeviceGetClockInfo", kHost},
    {"PyTorch", "nvmlDeviceGetMemoryInfo", kReal},
    // JAX / XLA (NVLink and PCIe probing for collectives, MIG detection)
    {"JAX/XLA", "nvmlDeviceGetCurrPcieLinkGeneration", kHost},
    {"JAX/XLA", "nvmlDeviceGetCurrPcieLinkWidth", kHost},
    {"JAX/XLA", "nvmlDeviceGetFieldValues", kHost},
    {"JAX/XLA", "nvmlDeviceGetMigMode", kHost},
    {"JAX/XLA", "nvmlDeviceGetNvLinkState", kRefused},
    {"JAX/XLA", "nvmlDeviceGetNvLinkRemotePciInfo_v2", kRefused},
    {"JAX/XLA", "nvmlDeviceGetP2PStatus", kHost},
    // NCCL (ncclNvmlEnsureInitialized: READ and WRITE of every device pair; init fails without)
    {"NCCL", "nvmlDeviceGetCudaComputeCapability", kReal},
    {"NCCL", "nvmlDeviceGetP2PStatus", kHost},
    // Ollama (discovery)
    {"Ollama", "nvmlInit_v2", kReal},
    {"Ollama", "nvmlSystemGetDriverVersion", kReal},
    {"Ollama", "nvmlDeviceGetHandleByUUID", kReal},
    {"Ollama", "nvmlDeviceGetMemoryInfo", kReal},
    {"Ollama", "nvmlDeviceGetMemoryInfo_v2", kReal},
    {"Ollama", "nvmlShutdown", kReal},
    // A DCGM-exporter-like monitor (per-device gauges each scrape)
    {"monitor", "nvmlDeviceGetUtilizationRates", kHost},
    {"monitor", "nvmlDeviceGetTemperature", kHost},
    {"monitor", "nvmlDeviceGetPowerUsage", kHost},
    {"monitor", "nvmlDeviceGetTotalEnergyConsumption", kHost},
    {"monitor", "nvmlDeviceGetClockInfo", kHost},
    {"monitor", "nvmlDeviceGetMemoryInfo", kReal},
    {"monitor", "nvmlDeviceGetPcieThroughput", kHost},
    {"monitor", "nvmlDeviceGetTotalEccErrors", kHost},
    {"monitor", "nvmlDeviceGetCurrentClocksEventReasons", kHost},
    {"monitor", "nvmlDeviceGetFieldValues", kHost},
    {"monitor", "nvmlDeviceGetComputeRunningProcesses_v3", kReal},
    {"monitor", "nvmlDeviceGetProcessUtilization", kRefused},  // per-process shares include other guests
    {"monitor", "nvmlDeviceGetEncoderUtilization", kRefused},
    {"monitor", "nvmlDeviceGetDecoderUtilization", kRefused},
};

class Monitors : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(nvmlInit_v2(), NVML_SUCCESS);
    ASSERT_EQ(nvmlDeviceGetHandleByIndex_v2(0, &dev_), NVML_SUCCESS);
  }
  void TearDown() override { EXPECT_EQ(nvmlShutdown(), NVML_SUCCESS); }
  nvmlDevice_t dev_ = nullptr;
};

// Every listed entry point is exported (a consumer that resolves it loads).
TEST(MonitorList, EveryEntryPointIsExported) {
  for (const Entry& e : kEntries)
    EXPECT_NE(dlsym(RTLD_DEFAULT, e.name), nullptr) << e.consumer << " calls " << e.name;
}

// The refused ones answer NOT_SUPPORTED for any arguments (they are
// refused before reading them).
TEST_F(Monitors, RefusedOnesAnswerNotSupported) {
  for (const Entry& e : kEntries) {
    if (e.kind != kRefused) continue;
    auto* fn = reinterpret_cast<int (*)(nvmlDevice_t, void*, void*, void*)>(dlsym(RTLD_DEFAULT, e.name));
    ASSERT_NE(fn, nullptr) << e.name;
    unsigned long long a[64] = {}, b[64] = {}, c[64] = {};
    EXPECT_EQ(fn(dev_, a, b, c), NVML_ERROR_NOT_SUPPORTED) << e.consumer << ": " << e.name;
  }
}

// The host-NVML figures, typed: answered on a GPU host, refused (with
// NOT_SUPPORTED) on the CPU backend, never a made-up success.
TEST_F(Monitors, HostFiguresAreRealOrRefused) {
  const nvmlReturn_t want = on_gpu() ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
  unsigned v = 0, w = 0;
  int i = 0, j = 0;
  unsigned long long ull = 0;
  nvmlUtilization_t u{};
  EXPECT_EQ(nvmlDeviceGetUtilizationRates(dev_, &u), want);
  EXPECT_EQ(nvmlDeviceGetTemperature(dev_, NVML_TEMPERATURE_GPU, &v), want);
  EXPECT_EQ(nvmlDeviceGetPowerUsage(dev_, &v), want);
  EXPECT_EQ(nvmlDeviceGetClockInfo(dev_, NVML_CLOCK_SM, &v), want);
  EXPECT_EQ(nvmlDeviceGetMaxClockInfo(dev_, NVML_CLOCK_MEM, &v), want);
  EXPECT_EQ(nvmlDeviceGetClock(dev_, NVML_CLOCK_GRAPHICS, NVML_CLOCK_ID_CURRENT, &v), want);
  EXPECT_EQ(nvmlDeviceGetPerformanceState(dev_, &i), want);
  EXPECT_EQ(nvmlDeviceGetCurrPcieLinkGeneration(dev_, &v), want);
  EXPECT_EQ(nvmlDeviceGetCurrPcieLinkWidth(dev_, &v), want);
  EXPECT_EQ(nvmlDeviceGetMaxPcieLinkGeneration(dev_, &v), want);
  EXPECT_EQ(nvmlDeviceGetPowerManagementLimit(dev_, &v), want);
  EXPECT_EQ(nvmlDeviceGetEnforcedPowerLimit(dev_, &v), want);
  EXPECT_EQ(nvmlDeviceGetTotalEnergyConsumption(dev_, &ull), want);
  EXPECT_EQ(nvmlDeviceGetComputeMode(dev_, &i), want);
  EXPECT_EQ(nvmlDeviceGetBrand(dev_, &i), want);
  char serial[96];
  const nvmlReturn_t sr = nvmlDeviceGetSerial(dev_, serial, sizeof serial);
  EXPECT_TRUE(sr == want || (on_gpu() && sr == NVML_ERROR_NOT_SUPPORTED)) << sr;  // some boards have none
  nvmlBAR1Memory_t bar1{};
  EXPECT_EQ(nvmlDeviceGetBAR1MemoryInfo(dev_, &bar1), want);
  // ECC and MIG modes exist on data-centre boards only: the host's answer either way.
  const nvmlReturn_t ecc = nvmlDeviceGetEccMode(dev_, &i, &j);
  const nvmlReturn_t mig = nvmlDeviceGetMigMode(dev_, &v, &w);
  if (!on_gpu()) {
    EXPECT_EQ(ecc, NVML_ERROR_NOT_SUPPORTED);
    EXPECT_EQ(mig, NVML_ERROR_NOT_SUPPORTED);
  }
  // Versioned and by-id forms nvidia-smi 580 calls.
  nvmlTemperature_t t{};
  t.version = nvmlTemperature_v1;
  t.sensorType = NVML_TEMPERATURE_GPU;
  EXPECT_EQ(nvmlDeviceGetTemperatureV(dev_, &t), want);
  nvmlPciInfoExt_t px{};
  px.version = nvmlPciInfoExt_v1;
  const nvmlReturn_t pxr = nvmlDeviceGetPciInfoExt(dev_, &px);
  EXPECT_EQ(pxr, want);
  const nvmlReturn_t boost = nvmlDeviceGetClock(dev_, NVML_CLOCK_SM, NVML_CLOCK_ID_CUSTOMER_BOOST_MAX, &v);
  EXPECT_TRUE(boost == want || (on_gpu() && boost == NVML_ERROR_NOT_SUPPORTED)) << boost;
  if (on_gpu()) {
    // The host's figures are its NVML's values, not zeros (a value read before its call was).
    unsigned x = 0;
    EXPECT_EQ(nvmlDeviceGetMaxClockInfo(dev_, NVML_CLOCK_SM, &x), NVML_SUCCESS);
    EXPECT_GT(x, 0u);
    x = 0;
    EXPECT_EQ(nvmlDeviceGetEnforcedPowerLimit(dev_, &x), NVML_SUCCESS);
    EXPECT_GT(x, 0u);
    x = 0;
    EXPECT_EQ(nvmlDeviceGetCurrPcieLinkWidth(dev_, &x), NVML_SUCCESS);
    EXPECT_GT(x, 0u);
    EXPECT_EQ(t.temperature > 0, true) << t.temperature;
    nvmlPciInfo_t pci{};
    ASSERT_EQ(nvmlDeviceGetPciInfo_v3(dev_, &pci), NVML_SUCCESS);
    EXPECT_STREQ(px.busId, pci.busId);
    EXPECT_EQ(px.pciDeviceId, pci.pciDeviceId);
    EXPECT_EQ(px.version, nvmlPciInfoExt_v1);
  }
  EXPECT_EQ(nvmlDeviceGetTemperatureV(dev_, nullptr), NVML_ERROR_INVALID_ARGUMENT);
  t.version = 0;
  EXPECT_EQ(nvmlDeviceGetTemperatureV(dev_, &t), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  t.version = nvmlTemperature_v1;
  t.sensorType = NVML_TEMPERATURE_COUNT;
  EXPECT_EQ(nvmlDeviceGetTemperatureV(dev_, &t), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvmlDeviceGetPciInfoExt(dev_, nullptr), NVML_ERROR_INVALID_ARGUMENT);
  px.version = 0;
  EXPECT_EQ(nvmlDeviceGetPciInfoExt(dev_, &px), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  EXPECT_EQ(nvmlDeviceGetClock(dev_, 9, NVML_CLOCK_ID_CUSTOMER_BOOST_MAX, &v), NVML_ERROR_INVALID_ARGUMENT);
  if (on_gpu() && u.gpu <= 100) std::printf("host NVML: util %u%%\n", u.gpu);
  // Bad arguments are the caller's error on every backend.
  EXPECT_EQ(nvmlDeviceGetClockInfo(dev_, 7, &v), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvmlDeviceGetPowerUsage(dev_, nullptr), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvmlDeviceGetPowerUsage(reinterpret_cast<nvmlDevice_t>(&v), &v), NVML_ERROR_INVALID_ARGUMENT);
}

// Our handles are whole devices; NVML answers so on every backend.
TEST_F(Monitors, HandlesAreNotMigDevices) {
  unsigned is_mig = 7;
  ASSERT_EQ(nvmlDeviceIsMigDeviceHandle(dev_, &is_mig), NVML_SUCCESS);
  EXPECT_EQ(is_mig, 0u);
}

TEST_F(Monitors, FieldValuesAreTheHostsOrRefused) {
  nvmlFieldValue_t f[2] = {};
  f[0].fieldId = NVML_FI_DEV_ECC_CURRENT;
  f[1].fieldId = NVML_FI_DEV_POWER_INSTANT;
  const nvmlReturn_t r = nvmlDeviceGetFieldValues(dev_, 2, f);
  if (!on_gpu()) {
    EXPECT_EQ(r, NVML_ERROR_NOT_SUPPORTED);
    return;
  }
  ASSERT_EQ(r, NVML_SUCCESS);
  EXPECT_EQ(f[0].fieldId, unsigned(NVML_FI_DEV_ECC_CURRENT));  // each with its own status
  EXPECT_EQ(f[1].fieldId, unsigned(NVML_FI_DEV_POWER_INSTANT));
}

// The device with itself, as NCCL asks at init: the host NVML's answer on a
// GPU host, refused (NOT_SUPPORTED) where the host has none; bad arguments
// refused in the guest (the host checks the index again: handlers_nvml_test).
TEST_F(Monitors, P2PStatusOfTheDeviceWithItselfIsTheHosts) {
  for (nvmlGpuP2PCapsIndex_t i : {NVML_P2P_CAPS_INDEX_READ, NVML_P2P_CAPS_INDEX_WRITE}) {
    // A value the host never sends where it has no NVML: it must stay.
    nvmlGpuP2PStatus_t st = NVML_P2P_STATUS_DISABLED_BY_REGKEY;
    const nvmlReturn_t r = nvmlDeviceGetP2PStatus(dev_, dev_, i, &st);
    if (!on_gpu()) {
      EXPECT_EQ(r, NVML_ERROR_NOT_SUPPORTED);
      EXPECT_EQ(st, NVML_P2P_STATUS_DISABLED_BY_REGKEY);
      continue;
    }
    ASSERT_EQ(r, NVML_SUCCESS) << "caps index " << i;
    EXPECT_LE(static_cast<int>(st), static_cast<int>(NVML_P2P_STATUS_UNKNOWN));
  }
  nvmlGpuP2PStatus_t st;
  EXPECT_EQ(nvmlDeviceGetP2PStatus(dev_, dev_, NVML_P2P_CAPS_INDEX_READ, nullptr), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvmlDeviceGetP2PStatus(dev_, dev_, NVML_P2P_CAPS_INDEX_UNKNOWN, &st), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvmlDeviceGetP2PStatus(dev_, nullptr, NVML_P2P_CAPS_INDEX_READ, &st), NVML_ERROR_INVALID_ARGUMENT);
}

// The process list: this process, once it holds device memory, with its pid
// and the bytes its session holds; NVML's INSUFFICIENT_SIZE protocol.
TEST_F(Monitors, OwnProcessIsListedWithItsMemory) {
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  CUdevice d;
  CUcontext ctx;
  ASSERT_EQ(cuDeviceGet(&d, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&ctx, d), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
  CUdeviceptr p;
  ASSERT_EQ(cuMemAlloc(&p, 24 << 20), CUDA_SUCCESS);

  unsigned n = 0;
  ASSERT_EQ(nvmlDeviceGetComputeRunningProcesses_v3(dev_, &n, nullptr), NVML_ERROR_INSUFFICIENT_SIZE);
  ASSERT_EQ(n, 1u);
  nvmlProcessInfo_t info[4] = {};
  n = 4;
  ASSERT_EQ(nvmlDeviceGetComputeRunningProcesses_v3(dev_, &n, info), NVML_SUCCESS);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(info[0].pid, unsigned(getpid()));
  EXPECT_GE(info[0].usedGpuMemory, 24ull << 20);
  EXPECT_EQ(info[0].gpuInstanceId, ~0u);
  nvmlProcessInfo_v1_t v1[2] = {};
  n = 2;
  ASSERT_EQ(nvmlDeviceGetComputeRunningProcesses(dev_, &n, v1), NVML_SUCCESS);
  EXPECT_EQ(v1[0].pid, unsigned(getpid()));
  EXPECT_EQ(v1[0].usedGpuMemory, info[0].usedGpuMemory);
  n = 4;
  EXPECT_EQ(nvmlDeviceGetGraphicsRunningProcesses_v3(dev_, &n, info), NVML_SUCCESS);
  EXPECT_EQ(n, 0u);  // no graphics in a remoted guest

  char name[256] = {};
  ASSERT_EQ(nvmlSystemGetProcessName(static_cast<unsigned>(getpid()), name, sizeof name), NVML_SUCCESS);
  EXPECT_NE(std::string(name).find("nvml_monitors_e2e_test"), std::string::npos) << name;

  // The memory NVML counts as used includes what the process holds.
  nvmlMemory_t m{};
  ASSERT_EQ(nvmlDeviceGetMemoryInfo(dev_, &m), NVML_SUCCESS);
  EXPECT_GE(m.used, 24ull << 20);
  ASSERT_EQ(cuMemFree(p), CUDA_SUCCESS);
  EXPECT_EQ(cuDevicePrimaryCtxRelease(d), CUDA_SUCCESS);
}

// nvidia-smi's first question: the table it checks versions by. Slot 81
// gives a device's handle, unknown slots and tables are refused.
TEST_F(Monitors, NvidiaSmiExportTable) {
  const unsigned char smi_id[16] = {0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e,
                                    0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4};
  const void* table = nullptr;
  ASSERT_EQ(nvmlInternalGetExportTable(&table, smi_id), NVML_SUCCESS);
  const auto* slots = static_cast<const uintptr_t*>(table);
  EXPECT_GE(slots[0], 216 * sizeof(uintptr_t));  // its size covers the slots nvidia-smi calls
  using Slot = nvmlReturn_t (*)(uintptr_t, void*, uintptr_t, void*);
  nvmlDevice_t h = nullptr;
  ASSERT_EQ(reinterpret_cast<Slot>(slots[81])(0, &h, 0x22, nullptr), NVML_SUCCESS);
  EXPECT_EQ(h, dev_);
  unsigned x = 0;
  EXPECT_EQ(reinterpret_cast<Slot>(slots[100])(reinterpret_cast<uintptr_t>(dev_), &x, 0, nullptr),
            NVML_ERROR_NOT_SUPPORTED);
  unsigned char other[16] = {1};
  EXPECT_EQ(nvmlInternalGetExportTable(&table, other), NVML_ERROR_NOT_SUPPORTED);
}

// nvidia-smi creates an event set and registers the supported types it
// wants (none here); a wait on it times out, as no event can come.
TEST_F(Monitors, EventSetIsRealAndReceivesNothing) {
  nvmlEventSet_t set = nullptr;
  ASSERT_EQ(nvmlEventSetCreate(&set), NVML_SUCCESS);
  unsigned long long types = ~0ull;
  ASSERT_EQ(nvmlDeviceGetSupportedEventTypes(dev_, &types), NVML_SUCCESS);
  EXPECT_EQ(types, 0u);
  EXPECT_EQ(nvmlDeviceRegisterEvents(dev_, 0, set), NVML_SUCCESS);
  EXPECT_EQ(nvmlDeviceRegisterEvents(dev_, 8, set), NVML_ERROR_NOT_SUPPORTED);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(nvmlEventSetWait_v2(set, nullptr, 50), NVML_ERROR_TIMEOUT);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
  EXPECT_EQ(nvmlEventSetFree(set), NVML_SUCCESS);
}

}  // namespace
