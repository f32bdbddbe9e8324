// Per-session limits (SessionLimits, src/host/session.h): a guest that asks
// the host to hold more than a limit allows gets CUDA_ERROR_OUT_OF_MEMORY for
// that call, and nothing else changes: its session goes on, what it held is
// intact, the daemon lives. This process is the guest (our libcuda.so.1); the
// daemon (CPU backend, one for the binary) runs with the limits lowered
// through its environment so that a few calls reach them.
#include <cuda.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "daemon_fixture.h"
#include "session_check.h"

namespace {

constexpr uint64_t kMiB = uint64_t(1) << 20;
constexpr uint64_t kModuleLimit = 1 * kMiB;   // VGPU_MAX_MODULE_MB
constexpr uint64_t kReserveLimit = 64 * kMiB;  // VGPU_MAX_RESERVE_MB
constexpr int kHandleLimit = 64;               // VGPU_MAX_HANDLES

// Before the daemon starts (DaemonEnvironment::SetUp, in RUN_ALL_TESTS): it
// inherits this process' environment.
[[maybe_unused]] const bool limits_exported = [] {
  setenv("VGPU_MAX_MODULE_MB", std::to_string(kModuleLimit / kMiB).c_str(), 1);
  setenv("VGPU_MAX_RESERVE_MB", std::to_string(kReserveLimit / kMiB).c_str(), 1);
  setenv("VGPU_MAX_HANDLES", std::to_string(kHandleLimit).c_str(), 1);
  return true;
}();

}  // namespace

VGPU_E2E_GLOBAL_DAEMON();

namespace {

using vgpu::e2e::DaemonEnvironment;

#define CU_OK(x) ASSERT_EQ(CUDA_SUCCESS, (x)) << #x

// A PTX image of about `bytes` bytes with one kernel, `name`; the padding
// (a comment) makes images of different names differ, hence new hashes.
std::string ptx_image(const std::string& name, size_t bytes) {
  std::string s = ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry " + name + "()\n{\n ret;\n}\n// ";
  if (s.size() + 2 < bytes) s.append(bytes - s.size() - 2, 'x');
  return s + "\n";
}

class Limits : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(CUDA_SUCCESS, cuInit(0));
    CUdevice dev;
    ASSERT_EQ(CUDA_SUCCESS, cuDeviceGet(&dev, 0));
    ASSERT_EQ(CUDA_SUCCESS, cuDevicePrimaryCtxRetain(&ctx_, dev));
  }
  void SetUp() override {
    ASSERT_NE(ctx_, nullptr);
    CU_OK(cuCtxSetCurrent(ctx_));
  }
  void TearDown() override {
    // The session and the daemon outlive every refusal.
    vgpu::e2e::expect_session_works();
    EXPECT_FALSE(DaemonEnvironment::daemon().exited()) << "the daemon died";
  }
  // The daemon said which limit the guest reached.
  static bool logged(const std::string& what) {
    return vgpu::e2e::wait_until([&] { return DaemonEnvironment::daemon().log().find(what) != std::string::npos; },
                                 5000);
  }
  static inline CUcontext ctx_ = nullptr;
};

TEST_F(Limits, ModuleImagesPerSession) {
  const size_t each = 300 * 1024;  // three fit in 1 MiB, a fourth does not
  std::vector<std::string> images;
  for (int i = 0; i < 4; ++i) images.push_back(ptx_image("k" + std::to_string(i), each));
  CUmodule m[4] = {};
  for (int i = 0; i < 3; ++i) CU_OK(cuModuleLoadData(&m[i], images[i].c_str()));
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, cuModuleLoadData(&m[3], images[3].c_str()));
  EXPECT_TRUE(logged("limit of 1 MiB (VGPU_MAX_MODULE_MB) for module images"));
  // One image alone larger than the limit.
  const std::string big = ptx_image("big", 2 * kModuleLimit);
  CUmodule b = nullptr;
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, cuModuleLoadData(&b, big.c_str()));

  // Only those calls failed: the loaded modules work, a small image still fits.
  CUfunction f;
  CU_OK(cuModuleGetFunction(&f, m[0], "k0"));
  CUmodule small;
  CU_OK(cuModuleLoadData(&small, ptx_image("small", 512).c_str()));
  CU_OK(cuModuleUnload(small));

  // Unloading gives the bytes back.
  CU_OK(cuModuleUnload(m[1]));
  CU_OK(cuModuleLoadData(&m[3], images[3].c_str()));
  CU_OK(cuModuleGetFunction(&f, m[3], "k3"));
  for (int i : {0, 2, 3}) CU_OK(cuModuleUnload(m[i]));
  CU_OK(cuModuleLoadData(&b, ptx_image("again", 3 * each).c_str()));
  CU_OK(cuModuleUnload(b));
}

TEST_F(Limits, ReservedAddressSpacePerSession) {
  CUdeviceptr a = 0, b = 0, c = 0;
  CU_OK(cuMemAddressReserve(&a, 48 * kMiB, 0, 0, 0));
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, cuMemAddressReserve(&b, 32 * kMiB, 0, 0, 0));
  EXPECT_TRUE(logged("(VGPU_MAX_RESERVE_MB) for reserved address space"));
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, cuMemAddressReserve(&b, uint64_t(1) << 50, 0, 0, 0));
  CU_OK(cuMemAddressReserve(&b, 16 * kMiB, 0, 0, 0));  // exactly up to the limit
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, cuMemAddressReserve(&c, 2 * kMiB, 0, 0, 0));

  // The reserved ranges work as before: map memory into one and use it.
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  CUmemGenericAllocationHandle h;
  CU_OK(cuMemCreate(&h, 2 * kMiB, &prop, 0));
  CU_OK(cuMemMap(b, 2 * kMiB, 0, h, 0));
  CUmemAccessDesc acc{};
  acc.location = prop.location;
  acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  CU_OK(cuMemSetAccess(b, 2 * kMiB, &acc, 1));
  const uint32_t in = 0x12345678u;
  uint32_t out = 0;
  CU_OK(cuMemcpyHtoD(b + 4096, &in, 4));
  CU_OK(cuMemcpyDtoH(&out, b + 4096, 4));
  EXPECT_EQ(in, out);
  CU_OK(cuMemUnmap(b, 2 * kMiB));
  CU_OK(cuMemRelease(h));

  // Freeing gives the address space back.
  CU_OK(cuMemAddressFree(a, 48 * kMiB));
  CU_OK(cuMemAddressReserve(&a, 32 * kMiB, 0, 0, 0));
  CU_OK(cuMemAddressReserve(&c, 16 * kMiB, 0, 0, 0));
  CU_OK(cuMemAddressFree(a, 32 * kMiB));
  CU_OK(cuMemAddressFree(b, 16 * kMiB));
  CU_OK(cuMemAddressFree(c, 16 * kMiB));
}

TEST_F(Limits, LiveHandlesPerSession) {
  // Fill the table with events (the other tests leave no ids behind).
  std::vector<CUevent> events;
  CUresult r = CUDA_SUCCESS;
  while (events.size() <= 2 * kHandleLimit) {
    CUevent e;
    if ((r = cuEventCreate(&e, CU_EVENT_DEFAULT)) != CUDA_SUCCESS) break;
    events.push_back(e);
  }
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, r);
  ASSERT_EQ(size_t(kHandleLimit), events.size());
  EXPECT_TRUE(logged("limit of 64 (VGPU_MAX_HANDLES) for live handles"));

  // Every kind of new id is refused, and the refused object is not kept:
  // a VMM allocation refused an id gives its memory back.
  CUstream s;
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  size_t free0 = 0, free1 = 0, total = 0;
  CU_OK(cuMemGetInfo(&free0, &total));
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  CUmemGenericAllocationHandle h;
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, cuMemCreate(&h, 2 * kMiB, &prop, 0));
  CU_OK(cuMemGetInfo(&free1, &total));
  EXPECT_EQ(free0, free1) << "a refused cuMemCreate kept its memory";

  // The ids the guest holds still work, and so do calls that need no new id.
  CU_OK(cuEventRecord(events[0], nullptr));
  CU_OK(cuEventSynchronize(events[0]));
  CUdeviceptr p;
  CU_OK(cuMemAlloc(&p, 256));
  CU_OK(cuMemsetD8(p, 7, 256));
  CU_OK(cuMemFree(p));

  // Destroying one makes room for one.
  CU_OK(cuEventDestroy(events.back()));
  events.pop_back();
  CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUevent e;
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, cuEventCreate(&e, CU_EVENT_DEFAULT));
  CU_OK(cuStreamDestroy(s));
  for (CUevent ev : events) CU_OK(cuEventDestroy(ev));
}

TEST_F(Limits, KernelLookedUpAgainKeepsItsId) {
  // Asking for the same kernel many times holds one id, as CUDA returns one
  // CUfunction: a client that looks kernels up before each launch must not
  // run into the limit.
  CUmodule m;
  CU_OK(cuModuleLoadData(&m, ptx_image("kernel", 256).c_str()));
  for (int i = 0; i < 4 * kHandleLimit; ++i) {
    CUfunction f;
    CU_OK(cuModuleGetFunction(&f, m, "kernel")) << "lookup " << i;
  }
  CU_OK(cuModuleUnload(m));
}

TEST_F(Limits, LiveAllocationsPerSession) {
  std::vector<CUdeviceptr> ptrs;
  CUresult r = CUDA_SUCCESS;
  while (ptrs.size() <= 2 * kHandleLimit) {
    CUdeviceptr p;
    if ((r = cuMemAlloc(&p, 64)) != CUDA_SUCCESS) break;
    ptrs.push_back(p);
  }
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, r);
  ASSERT_EQ(size_t(kHandleLimit), ptrs.size());
  EXPECT_TRUE(logged("limit of 64 (VGPU_MAX_HANDLES) for live allocations"));
  // Other calls go on; freeing one makes room for one.
  CUevent e;
  CU_OK(cuEventCreate(&e, CU_EVENT_DEFAULT));
  CU_OK(cuEventDestroy(e));
  CU_OK(cuMemFree(ptrs.back()));
  CU_OK(cuMemAlloc(&ptrs.back(), 64));
  for (CUdeviceptr p : ptrs) CU_OK(cuMemFree(p));
}

}  // namespace
