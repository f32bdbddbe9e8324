// Our NVML under a per-guest quota (vgpu-hostd --mem-quota-mb 256, CPU
// backend): the quota is the guest's whole device, in NVML as in CUDA.
#include <cuda.h>
#include <gtest/gtest.h>

#include "hostd_env.h"
#include "nvml_abi.h"

namespace {

constexpr unsigned long long kQuota = 256ull << 20;
auto* const g_env =
    ::testing::AddGlobalTestEnvironment(new vgpu::test::HostdEnvironment("nvml-quota", {"--mem-quota-mb", "256"}));

TEST(NvmlQuota, TotalIsTheQuotaAndFreeWhatIsLeftOfIt) {
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  CUdevice d;
  CUcontext ctx;
  ASSERT_EQ(cuDeviceGet(&d, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&ctx, d), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
  ASSERT_EQ(nvmlInit_v2(), NVML_SUCCESS);
  nvmlDevice_t dev;
  ASSERT_EQ(nvmlDeviceGetHandleByIndex_v2(0, &dev), NVML_SUCCESS);

  CUdeviceptr p;
  ASSERT_EQ(cuMemAlloc(&p, 64 << 20), CUDA_SUCCESS);
  size_t cu_free = 0, cu_total = 0;
  ASSERT_EQ(cuMemGetInfo(&cu_free, &cu_total), CUDA_SUCCESS);
  nvmlMemory_t m{};
  ASSERT_EQ(nvmlDeviceGetMemoryInfo(dev, &m), NVML_SUCCESS);
  EXPECT_EQ(m.total, kQuota);
  EXPECT_EQ(m.total, cu_total);  // the runtime and NVML agree
  EXPECT_EQ(m.free, cu_free);
  EXPECT_LE(m.free, kQuota - (64ull << 20));
  EXPECT_EQ(m.used, m.total - m.free);
  nvmlMemory_v2_t m2{};
  m2.version = nvmlMemory_v2;
  ASSERT_EQ(nvmlDeviceGetMemoryInfo_v2(dev, &m2), NVML_SUCCESS);
  EXPECT_EQ(m2.total, kQuota);
  EXPECT_EQ(m2.reserved, 0u);
  EXPECT_EQ(m2.used, m2.total - m2.free);

  // The process list counts the same bytes the quota does.
  nvmlProcessInfo_t info[2] = {};
  unsigned n = 2;
  ASSERT_EQ(nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, info), NVML_SUCCESS);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(info[0].usedGpuMemory, kQuota - m.free);

  ASSERT_EQ(cuMemFree(p), CUDA_SUCCESS);
  EXPECT_EQ(nvmlShutdown(), NVML_SUCCESS);
  EXPECT_EQ(cuDevicePrimaryCtxRelease(d), CUDA_SUCCESS);
}

}  // namespace
