// Our libnvidia-ml.so.1 end to end against a real vgpu-hostd (CPU backend):
// NVML must describe the same device our libcuda does.
#include <cuda.h>
#include <gtest/gtest.h>
#include <strings.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "hostd_env.h"
#include "nvml_abi.h"

namespace {

auto* const g_env = ::testing::AddGlobalTestEnvironment(new vgpu::test::HostdEnvironment("nvml"));

class Nvml : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(nvmlInit_v2(), NVML_SUCCESS);
    ASSERT_EQ(nvmlDeviceGetHandleByIndex_v2(0, &dev_), NVML_SUCCESS);
  }
  void TearDown() override { EXPECT_EQ(nvmlShutdown(), NVML_SUCCESS); }
  nvmlDevice_t dev_ = nullptr;
};

// CUDA's view of device 0 (ASSERTs that CUDA sees it).
void cuda_device(CUdevice* d) {
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  ASSERT_EQ(cuDeviceGet(d, 0), CUDA_SUCCESS);
}

TEST_F(Nvml, CountAndIndex) {
  unsigned n = 0;
  ASSERT_EQ(nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
  EXPECT_EQ(n, 1u);
  unsigned idx = 99;
  ASSERT_EQ(nvmlDeviceGetIndex(dev_, &idx), NVML_SUCCESS);
  EXPECT_EQ(idx, 0u);
  nvmlDevice_t other;
  EXPECT_EQ(nvmlDeviceGetHandleByIndex_v2(1, &other), NVML_ERROR_INVALID_ARGUMENT);
}

TEST_F(Nvml, NameEqualsCuda) {
  CUdevice d;
  cuda_device(&d);
  char cu[256] = {}, nv[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = {};
  ASSERT_EQ(cuDeviceGetName(cu, sizeof cu, d), CUDA_SUCCESS);
  ASSERT_EQ(nvmlDeviceGetName(dev_, nv, sizeof nv), NVML_SUCCESS);
  EXPECT_STREQ(nv, cu);
  char tiny[4];
  EXPECT_EQ(nvmlDeviceGetName(dev_, tiny, sizeof tiny), NVML_ERROR_INSUFFICIENT_SIZE);
}

TEST_F(Nvml, UuidRoundTrips) {
  CUdevice d;
  cuda_device(&d);
  CUuuid u;
  ASSERT_EQ(cuDeviceGetUuid(&u, d), CUDA_SUCCESS);
  char want[64];
  const auto* b = reinterpret_cast<const unsigned char*>(u.bytes);
  std::snprintf(want, sizeof want, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
  ASSERT_EQ(nvmlDeviceGetUUID(dev_, uuid, sizeof uuid), NVML_SUCCESS);
  EXPECT_STREQ(uuid, want);
  nvmlDevice_t by_uuid = nullptr;
  ASSERT_EQ(nvmlDeviceGetHandleByUUID(uuid, &by_uuid), NVML_SUCCESS);
  EXPECT_EQ(by_uuid, dev_);
  EXPECT_EQ(nvmlDeviceGetHandleByUUID("GPU-00000000-0000-0000-0000-000000000000", &by_uuid), NVML_ERROR_NOT_FOUND);
}

// On the CPU backend (no NVML) the total is the backend's, which CUDA
// reports too; on a GPU host NVML's total is the board's (more than CUDA's,
// which leaves out what the driver reserves), as NVIDIA's NVML and CUDA differ.
TEST_F(Nvml, MemoryEqualsCuda) {
  CUdevice d;
  cuda_device(&d);
  size_t total = 0;
  ASSERT_EQ(cuDeviceTotalMem_v2(&total, d), CUDA_SUCCESS);
  nvmlMemory_t m{};
  ASSERT_EQ(nvmlDeviceGetMemoryInfo(dev_, &m), NVML_SUCCESS);
  const char* be = std::getenv("VGPU_TEST_BACKEND");
  const bool gpu = be != nullptr && std::string(be) == "cuda";
  if (gpu) {
    EXPECT_GE(m.total, total);  // the board's, reserved part included
  } else {
    EXPECT_EQ(m.total, total);
  }
  EXPECT_LE(m.free, m.total);
  EXPECT_EQ(m.used, m.total - m.free);

  // An allocation shows up as used memory.
  CUdeviceptr p;
  ASSERT_EQ(cuMemAlloc_v2(&p, 8 << 20), CUDA_SUCCESS);
  nvmlMemory_t after{};
  ASSERT_EQ(nvmlDeviceGetMemoryInfo(dev_, &after), NVML_SUCCESS);
  EXPECT_GE(after.used, m.used + (8 << 20));
  ASSERT_EQ(cuMemFree_v2(p), CUDA_SUCCESS);

  nvmlMemory_v2_t m2{};
  m2.version = nvmlMemory_v2;
  ASSERT_EQ(nvmlDeviceGetMemoryInfo_v2(dev_, &m2), NVML_SUCCESS);
  EXPECT_EQ(m2.total, m.total);
  if (!gpu) {
    EXPECT_EQ(m2.reserved, 0u);
  }
  EXPECT_EQ(m2.used, m2.total - m2.reserved - m2.free);
  m2.version = 1;
  EXPECT_EQ(nvmlDeviceGetMemoryInfo_v2(dev_, &m2), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
}

TEST_F(Nvml, PciBusIdEqualsCuda) {
  CUdevice d;
  cuda_device(&d);
  char cu[32] = {};
  ASSERT_EQ(cuDeviceGetPCIBusId(cu, sizeof cu, d), CUDA_SUCCESS);
  nvmlPciInfo_t pci{};
  ASSERT_EQ(nvmlDeviceGetPciInfo_v3(dev_, &pci), NVML_SUCCESS);
  EXPECT_EQ(strcasecmp(pci.busIdLegacy, cu), 0) << pci.busIdLegacy << " vs " << cu;
  unsigned dom, bus, devn;
  ASSERT_EQ(std::sscanf(cu, "%x:%x:%x", &dom, &bus, &devn), 3);
  EXPECT_EQ(pci.domain, dom);
  EXPECT_EQ(pci.bus, bus);
  EXPECT_EQ(pci.device, devn);
  char longform[32];
  std::snprintf(longform, sizeof longform, "%08X:%02X:%02X.0", dom, bus, devn);
  EXPECT_STREQ(pci.busId, longform);
  // Both forms, any case, find the device.
  nvmlDevice_t h = nullptr;
  ASSERT_EQ(nvmlDeviceGetHandleByPciBusId_v2(cu, &h), NVML_SUCCESS);
  EXPECT_EQ(h, dev_);
  ASSERT_EQ(nvmlDeviceGetHandleByPciBusId_v2(pci.busId, &h), NVML_SUCCESS);
  EXPECT_EQ(h, dev_);
  EXPECT_EQ(nvmlDeviceGetHandleByPciBusId_v2("0000:ff:1f.0", &h), NVML_ERROR_NOT_FOUND);
  EXPECT_EQ(nvmlDeviceGetHandleByPciBusId_v2("not a bus id", &h), NVML_ERROR_INVALID_ARGUMENT);
}

TEST_F(Nvml, ComputeCapabilityAndCudaVersionEqualCuda) {
  CUdevice d;
  cuda_device(&d);
  int cu_major = 0, cu_minor = 0, major = -1, minor = -1;
  ASSERT_EQ(cuDeviceGetAttribute(&cu_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d), CUDA_SUCCESS);
  ASSERT_EQ(cuDeviceGetAttribute(&cu_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d), CUDA_SUCCESS);
  ASSERT_EQ(nvmlDeviceGetCudaComputeCapability(dev_, &major, &minor), NVML_SUCCESS);
  EXPECT_EQ(major, cu_major);
  EXPECT_EQ(minor, cu_minor);
  int cu_version = 0, nv_version = 0;
  ASSERT_EQ(cuDriverGetVersion(&cu_version), CUDA_SUCCESS);
  ASSERT_EQ(nvmlSystemGetCudaDriverVersion_v2(&nv_version), NVML_SUCCESS);
  EXPECT_EQ(nv_version, cu_version);
}

// The host's driver version text, with NVML's buffer rules. The CPU backend's
// "driver" is vgpu's own and says so; a GPU host sends its NVML's text.
TEST_F(Nvml, DriverVersionIsTheHosts) {
  char version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  std::memset(version, 0x5a, sizeof version);
  ASSERT_EQ(nvmlSystemGetDriverVersion(version, sizeof version), NVML_SUCCESS);
  ASSERT_NE(std::memchr(version, '\0', sizeof version), nullptr) << "not terminated";
  EXPECT_STREQ(version, "vgpu-cpu");  // hostd_env.h starts the CPU backend
  const unsigned need = static_cast<unsigned>(std::strlen(version)) + 1;
  // Exactly long enough works; one byte short, or none, is INSUFFICIENT_SIZE
  // and leaves the buffer alone.
  char exact[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  ASSERT_EQ(nvmlSystemGetDriverVersion(exact, need), NVML_SUCCESS);
  EXPECT_STREQ(exact, version);
  char short_buf[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  std::memset(short_buf, 0x5a, sizeof short_buf);
  EXPECT_EQ(nvmlSystemGetDriverVersion(short_buf, need - 1), NVML_ERROR_INSUFFICIENT_SIZE);
  EXPECT_EQ(static_cast<unsigned char>(short_buf[0]), 0x5a);
  EXPECT_EQ(nvmlSystemGetDriverVersion(short_buf, 0), NVML_ERROR_INSUFFICIENT_SIZE);
  EXPECT_EQ(nvmlSystemGetDriverVersion(nullptr, sizeof version), NVML_ERROR_INVALID_ARGUMENT);
}

// The host NVML's own version: the CPU backend has no NVML, so it is
// refused (not invented); argument checks come first, as NVML's do.
TEST_F(Nvml, NvmlVersionIsRefusedWithoutAHostNvml) {
  char version[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE];
  EXPECT_EQ(nvmlSystemGetNVMLVersion(version, sizeof version), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(nvmlSystemGetNVMLVersion(nullptr, sizeof version), NVML_ERROR_INVALID_ARGUMENT);
}

TEST(NvmlLifecycle, VersionsNeedInit) {
  char version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  EXPECT_EQ(nvmlSystemGetDriverVersion(version, sizeof version), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(nvmlSystemGetNVMLVersion(version, sizeof version), NVML_ERROR_UNINITIALIZED);
}

// What the guest cannot know is refused, never made up.
TEST_F(Nvml, UnknownFiguresAreRefused) {
  unsigned v = 0;
  EXPECT_EQ(nvmlDeviceGetMinorNumber(dev_, &v), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(nvmlDeviceGetClockInfo(dev_, 0, &v), NVML_ERROR_NOT_SUPPORTED);
  // The CPU backend has no NVML figures.
  nvmlUtilization_t u{};
  EXPECT_EQ(nvmlDeviceGetUtilizationRates(dev_, &u), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(nvmlDeviceGetTemperature(dev_, NVML_TEMPERATURE_GPU, &v), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(nvmlDeviceGetPowerUsage(dev_, &v), NVML_ERROR_NOT_SUPPORTED);
  EXPECT_STREQ(nvmlErrorString(NVML_ERROR_NOT_SUPPORTED), "Not Supported");
}

TEST(NvmlLifecycle, ReferenceCountedInit) {
  unsigned n = 0;
  EXPECT_EQ(nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
  ASSERT_EQ(nvmlInit_v2(), NVML_SUCCESS);
  ASSERT_EQ(nvmlInit(), NVML_SUCCESS);
  ASSERT_EQ(nvmlShutdown(), NVML_SUCCESS);
  EXPECT_EQ(nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);  // one init still holds
  ASSERT_EQ(nvmlShutdown(), NVML_SUCCESS);
  EXPECT_EQ(nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
}

// Run by CTest with CUDA_VISIBLE_DEVICES=-1: CUDA sees no device, NVML (like
// NVIDIA's) still enumerates the host's.
TEST(NvmlVisibleDevices, IgnoresCudaVisibleDevices) {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  if (v == nullptr || std::string(v) != "-1") GTEST_SKIP() << "needs CUDA_VISIBLE_DEVICES=-1";
  EXPECT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
  ASSERT_EQ(nvmlInit_v2(), NVML_SUCCESS);
  unsigned n = 0;
  ASSERT_EQ(nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(nvmlShutdown(), NVML_SUCCESS);
}

}  // namespace
