// Driver-API tests through the real guest libcuda.so.1 and the real
// vgpu-hostd on the CPU backend (one daemon for the whole binary, see
// daemon_fixture.h). This process is the guest: it links our libcuda.so.1.
#include <cuda.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "session_check.h"
#include "vgpu/stats.h"

// cuDeviceComputeCapability / cuDeviceGetProperties are deprecated but still exported and used.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

VGPU_E2E_GLOBAL_DAEMON();

namespace {

using vgpu::e2e::DaemonEnvironment;

#define CU_OK(x) ASSERT_EQ(CUDA_SUCCESS, (x)) << #x
#define CU_EXPECT_OK(x) EXPECT_EQ(CUDA_SUCCESS, (x)) << #x

std::vector<unsigned char> pattern(size_t n, uint64_t seed) {
  std::vector<unsigned char> v(n);
  std::mt19937_64 g(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t x = g();
    std::memcpy(&v[i], &x, 8);
  }
  for (; i < n; ++i) v[i] = static_cast<unsigned char>(g());
  return v;
}

// First differing byte, for readable failures.
::testing::AssertionResult same_bytes(const void* a, const void* b, size_t n) {
  if (std::memcmp(a, b, n) == 0) return ::testing::AssertionSuccess();
  auto* x = static_cast<const unsigned char*>(a);
  auto* y = static_cast<const unsigned char*>(b);
  size_t k = 0;
  while (x[k] == y[k]) ++k;
  return ::testing::AssertionFailure() << "bytes differ at " << k << " of " << n << ": " << int(x[k]) << " vs "
                                       << int(y[k]);
}

class Driver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(CUDA_SUCCESS, cuInit(0));
    ASSERT_EQ(CUDA_SUCCESS, cuDeviceGet(&dev_, 0));
    ASSERT_EQ(CUDA_SUCCESS, cuDevicePrimaryCtxRetain(&ctx_, dev_));
    ASSERT_EQ(CUDA_SUCCESS, cuCtxSetCurrent(ctx_));
  }
  void SetUp() override {
    ASSERT_NE(ctx_, nullptr);
    // Each test starts on a clean session: nothing sticky from an earlier one.
    CU_OK(cuCtxSetCurrent(ctx_));
    CU_OK(cuCtxSynchronize());
  }
  void TearDown() override {
    vgpu::e2e::expect_session_works();  // whatever a test did
  }
  static inline CUdevice dev_ = 0;
  static inline CUcontext ctx_ = nullptr;
};

// ---- init and device queries ------------------------------------------------------

TEST_F(Driver, LibraryIsOurs) {
  // The test links our libcuda.so.1, not NVIDIA's.
  EXPECT_NE(nullptr, dlsym(RTLD_DEFAULT, "vgpu_guest_marker"));
  Dl_info info{};
  ASSERT_NE(0, dladdr(reinterpret_cast<void*>(&cuInit), &info));
  EXPECT_NE(nullptr, std::strstr(info.dli_fname, "libcuda.so.1")) << info.dli_fname;
}

// Tensor maps are encoded by the host's driver (NVIDIA's format): the CPU
// backend has none and refuses; arguments the guest must read are checked
// here first. The encoding itself: CudaBackendTest.TensorMapsMatchTheDriver.
TEST_F(Driver, TensorMapsGoToTheHostsDriver) {
  CUdeviceptr p = 0;
  CU_OK(cuMemAlloc(&p, 1 << 20));
  CUtensorMap m{};
  const cuuint64_t dims[2] = {256, 256}, strides[1] = {256 * 4};
  const cuuint32_t box[2] = {64, 64}, elem[2] = {1, 1};
  auto tiled = [&](cuuint32_t rank, CUtensorMap* out) {
    return cuTensorMapEncodeTiled(out, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, rank, reinterpret_cast<void*>(p), dims, strides,
                                  box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                                  CU_TENSOR_MAP_L2_PROMOTION_NONE, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  };
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, tiled(2, &m));  // CPU backend
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, tiled(0, &m));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, tiled(6, &m));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, tiled(2, nullptr));
  const int corner[1] = {0};
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE,
            cuTensorMapEncodeIm2col(&m, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, reinterpret_cast<void*>(p), dims, strides,
                                    corner, corner, 1, 1, elem, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                    CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_NONE,
                                    CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));  // im2col needs rank >= 3
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuTensorMapReplaceAddress(&m, reinterpret_cast<void*>(p)));
  CU_OK(cuMemFree(p));
}

TEST_F(Driver, InitAndVersion) {
  EXPECT_EQ(CUDA_SUCCESS, cuInit(0));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuInit(1));
  int v = 0;
  CU_OK(cuDriverGetVersion(&v));
  EXPECT_GE(v, 12000);
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuDriverGetVersion(nullptr));
}

TEST_F(Driver, DeviceQueriesAgree) {
  int n = 0;
  CU_OK(cuDeviceGetCount(&n));
  ASSERT_EQ(1, n);
  CUdevice d;
  CU_OK(cuDeviceGet(&d, 0));
  EXPECT_EQ(CUDA_ERROR_INVALID_DEVICE, cuDeviceGet(&d, 1));
  EXPECT_EQ(CUDA_ERROR_INVALID_DEVICE, cuDeviceGet(&d, -1));

  char name[256] = {};
  CU_OK(cuDeviceGetName(name, sizeof name, 0));
  EXPECT_GT(std::strlen(name), 0u);
  char shortname[4] = {};
  CU_OK(cuDeviceGetName(shortname, sizeof shortname, 0));
  EXPECT_EQ(std::string(name).substr(0, 3), std::string(shortname));
  EXPECT_EQ(CUDA_ERROR_INVALID_DEVICE, cuDeviceGetName(name, sizeof name, 1));

  int major = 0, minor = 0, amajor = 0, aminor = 0;
  CU_OK(cuDeviceComputeCapability(&major, &minor, 0));
  CU_OK(cuDeviceGetAttribute(&amajor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0));
  CU_OK(cuDeviceGetAttribute(&aminor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0));
  EXPECT_EQ(major, amajor);
  EXPECT_EQ(minor, aminor);
  EXPECT_GE(major, 1);

  int warp = 0, sms = 0, tpb = 0, vmm = 0;
  CU_OK(cuDeviceGetAttribute(&warp, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0));
  CU_OK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  CU_OK(cuDeviceGetAttribute(&tpb, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 0));
  CU_OK(cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0));
  EXPECT_EQ(32, warp);
  EXPECT_GT(sms, 0);
  EXPECT_GT(tpb, 0);
  EXPECT_EQ(1, vmm);
  int dummy;
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuDeviceGetAttribute(&dummy, static_cast<CUdevice_attribute>(100000), 0));
  EXPECT_EQ(CUDA_ERROR_INVALID_DEVICE, cuDeviceGetAttribute(&dummy, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 3));

  CUdevprop prop{};
  CU_OK(cuDeviceGetProperties(&prop, 0));
  EXPECT_EQ(tpb, prop.maxThreadsPerBlock);
  EXPECT_EQ(warp, prop.SIMDWidth);

  // Total memory: the device's and the context's view agree.
  size_t total = 0, free_b = 0, total2 = 0;
  CU_OK(cuDeviceTotalMem(&total, 0));
  CU_OK(cuMemGetInfo(&free_b, &total2));
  EXPECT_GT(total, 0u);
  EXPECT_EQ(total, total2);
  EXPECT_LE(free_b, total);

  // UUID: both entry points, and not all zero.
  CUuuid u1{}, u2{};
  CU_OK(cuDeviceGetUuid(&u1, 0));
  CU_OK(cuDeviceGetUuid_v2(&u2, 0));
  EXPECT_EQ(0, std::memcmp(u1.bytes, u2.bytes, 16));
  EXPECT_TRUE(std::any_of(u1.bytes, u1.bytes + 16, [](char c) { return c != 0; }));

  // PCI id: the string and the attributes describe the same place.
  char bus[32] = {};
  CU_OK(cuDeviceGetPCIBusId(bus, sizeof bus, 0));
  int dom = -1, busn = -1, devn = -1;
  CU_OK(cuDeviceGetAttribute(&dom, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, 0));
  CU_OK(cuDeviceGetAttribute(&busn, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 0));
  CU_OK(cuDeviceGetAttribute(&devn, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, 0));
  unsigned pd = 0, pb = 0, pdev = 0, pf = 0;
  ASSERT_EQ(4, std::sscanf(bus, "%x:%x:%x.%x", &pd, &pb, &pdev, &pf)) << bus;
  EXPECT_EQ(static_cast<unsigned>(dom), pd);
  EXPECT_EQ(static_cast<unsigned>(busn), pb);
  EXPECT_EQ(static_cast<unsigned>(devn), pdev);
  CUdevice byid = -1;
  CU_OK(cuDeviceGetByPCIBusId(&byid, bus));
  EXPECT_EQ(0, byid);
  EXPECT_EQ(CUDA_ERROR_INVALID_DEVICE, cuDeviceGetByPCIBusId(&byid, "0123:45:67.0"));
}

// cuda.h names it only under CUDA_API_PER_THREAD_DEFAULT_STREAM.
extern "C" CUresult CUDAAPI cuStreamGetId_ptsz(CUstream, unsigned long long*);

// cuStreamGetId: each stream its own id, stable while it lives and never
// given again; the legacy stream one id, each thread's per-thread stream its
// own.
TEST_F(Driver, StreamIdsAreUnique) {
  CUstream a = nullptr, b = nullptr;
  ASSERT_EQ(cuStreamCreate(&a, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  unsigned long long ia = 0, ia2 = 0, ib = 0, legacy = 0, legacy0 = 0, pt = 0, pt2 = 0, other_pt = 0;
  ASSERT_EQ(cuStreamGetId(a, &ia), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamGetId(a, &ia2), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamGetId(b, &ib), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamGetId(CU_STREAM_LEGACY, &legacy), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamGetId(nullptr, &legacy0), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamGetId(CU_STREAM_PER_THREAD, &pt), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamGetId_ptsz(nullptr, &pt2), CUDA_SUCCESS);
  CUcontext ctx = nullptr;
  ASSERT_EQ(cuCtxGetCurrent(&ctx), CUDA_SUCCESS);
  std::thread([&] {
    EXPECT_EQ(cuCtxSetCurrent(ctx), CUDA_SUCCESS);  // a new thread has no current context
    EXPECT_EQ(cuStreamGetId(CU_STREAM_PER_THREAD, &other_pt), CUDA_SUCCESS);
  }).join();
  EXPECT_EQ(ia, ia2);
  EXPECT_EQ(legacy, legacy0);
  EXPECT_EQ(pt, pt2);
  const std::vector<unsigned long long> ids = {ia, ib, legacy, pt, other_pt};
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t j = i + 1; j < ids.size(); ++j) EXPECT_NE(ids[i], ids[j]) << i << " " << j;
  ASSERT_EQ(cuStreamDestroy(a), CUDA_SUCCESS);
  CUstream c = nullptr;
  ASSERT_EQ(cuStreamCreate(&c, 0), CUDA_SUCCESS);
  unsigned long long ic = 0;
  ASSERT_EQ(cuStreamGetId(c, &ic), CUDA_SUCCESS);
  EXPECT_NE(ic, ia) << "a destroyed stream's id was given again";
  EXPECT_EQ(cuStreamGetId(b, nullptr), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuStreamGetId(a, &ic), CUDA_ERROR_INVALID_HANDLE);  // destroyed
  ASSERT_EQ(cuStreamDestroy(b), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamDestroy(c), CUDA_SUCCESS);
}

TEST_F(Driver, Contexts) {
  CUcontext cur = nullptr;
  CU_OK(cuCtxGetCurrent(&cur));
  EXPECT_EQ(ctx_, cur);
  CUdevice d = -1;
  CU_OK(cuCtxGetDevice(&d));
  EXPECT_EQ(0, d);
  unsigned flags = 0;
  int active = 0;
  CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  EXPECT_EQ(1, active);

  CUcontext mine = nullptr;
  CU_OK(cuCtxCreate(&mine, nullptr, 0, 0));  // CUDA 13: cuCtxCreate_v4
  CU_OK(cuCtxGetCurrent(&cur));
  EXPECT_EQ(mine, cur);
  CUdeviceptr p;
  CU_OK(cuMemAlloc(&p, 1000));  // same session, same address space
  CU_OK(cuCtxDestroy(mine));
  CU_OK(cuCtxSetCurrent(ctx_));
  CU_OK(cuMemFree(p));
  EXPECT_EQ(CUDA_ERROR_INVALID_CONTEXT, cuCtxDestroy(ctx_));  // the primary one is released, not destroyed
}

// CU_CTX_SCHED_BLOCKING_SYNC: a thread waiting for the device sleeps instead
// of spinning (the default, like CUDA's for a process with few contexts).
// A 256 MiB memset on the CPU backend keeps the host busy for milliseconds;
// the waiting thread's CPU time during the synchronise shows how it waited.
TEST_F(Driver, BlockingSyncSleepsWhileWaiting) {
  CU_OK(cuDevicePrimaryCtxSetFlags(0, CU_CTX_SCHED_BLOCKING_SYNC));
  unsigned flags = 0;
  int active = 0;
  CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  EXPECT_EQ(unsigned(CU_CTX_SCHED_BLOCKING_SYNC), flags);
  constexpr size_t kBytes = 256u << 20;
  CUdeviceptr p;
  CU_OK(cuMemAlloc(&p, kBytes));
  CUstream s;
  CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  auto cpu_now = [] {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
  };
  auto wall_now = [] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  double cpu = 0, wall = 0;
  for (int i = 0; i < 4; ++i) {
    CU_OK(cuMemsetD8Async(p, static_cast<unsigned char>(i), kBytes, s));
    const double c0 = cpu_now(), w0 = wall_now();
    CU_OK(cuStreamSynchronize(s));
    cpu += cpu_now() - c0;
    wall += wall_now() - w0;
  }
  unsigned char b = 0;
  CU_OK(cuMemcpyDtoH(&b, p + kBytes - 1, 1));
  EXPECT_EQ(3, b);
  CU_OK(cuDevicePrimaryCtxSetFlags(0, 0));  // back to the default for the other tests
  CU_OK(cuStreamDestroy(s));
  CU_OK(cuMemFree(p));
  if (wall < 20) GTEST_SKIP() << "the host finished the memsets in " << wall << " ms: too fast to tell";
  EXPECT_LT(cpu, wall / 2) << "the waiting thread used " << cpu << " ms of CPU in " << wall << " ms";
}

// ---- memory ---------------------------------------------------------------------------

TEST_F(Driver, AllocFree) {
  size_t free0 = 0, total = 0;
  CU_OK(cuMemGetInfo(&free0, &total));
  CUdeviceptr p = 0;
  CU_OK(cuMemAlloc(&p, 10u << 20));
  EXPECT_NE(0u, p);
  size_t free1 = 0;
  CU_OK(cuMemGetInfo(&free1, &total));
  EXPECT_LE(free1 + (10u << 20), free0);
  CUdeviceptr base = 0;
  size_t size = 0;
  CU_OK(cuMemGetAddressRange(&base, &size, p + 12345));
  EXPECT_EQ(p, base);
  EXPECT_EQ(10u << 20, size);
  CU_OK(cuMemFree(p));
  EXPECT_NE(CUDA_SUCCESS, cuMemFree(p)) << "double free accepted";
  EXPECT_NE(CUDA_SUCCESS, cuMemFree(0x12345000)) << "free of a pointer never allocated accepted";
  // NVIDIA's static runtime (inside cuBLAS, cuFFT, ...) makes its context
  // current with cudaFree(0), which comes here; the driver frees 0 as a no-op.
  EXPECT_EQ(CUDA_SUCCESS, cuMemFree(0));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuMemAlloc(&p, 0));
  EXPECT_EQ(CUDA_ERROR_OUT_OF_MEMORY, cuMemAlloc(&p, total + (1ull << 30)));
  size_t free2 = 0;
  CU_OK(cuMemGetInfo(&free2, &total));
  EXPECT_EQ(free0, free2);
}

// CU_POINTER_ATTRIBUTE_BUFFER_ID (cuFFT asks it of its plan's buffers): one
// number per allocation, the same for every byte of it, never reissued.
TEST_F(Driver, BufferIdsNameAllocations) {
  CUdeviceptr a = 0, b = 0;
  CU_OK(cuMemAlloc(&a, 1 << 16));
  CU_OK(cuMemAlloc(&b, 4096));
  unsigned long long ia = 0, ia2 = 0, ib = 0;
  CU_OK(cuPointerGetAttribute(&ia, CU_POINTER_ATTRIBUTE_BUFFER_ID, a));
  CU_OK(cuPointerGetAttribute(&ia2, CU_POINTER_ATTRIBUTE_BUFFER_ID, a + 12345));
  CU_OK(cuPointerGetAttribute(&ib, CU_POINTER_ATTRIBUTE_BUFFER_ID, b));
  EXPECT_NE(0u, ia);
  EXPECT_EQ(ia, ia2);
  EXPECT_NE(ia, ib);
  CUpointer_attribute attrs[] = {CU_POINTER_ATTRIBUTE_BUFFER_ID};
  unsigned long long got = 0;
  void* data[] = {&got};
  CU_OK(cuPointerGetAttributes(1, attrs, data, b + 1));
  EXPECT_EQ(ib, got);
  CU_OK(cuMemFree(a));
  CUdeviceptr c = 0;
  CU_OK(cuMemAlloc(&c, 1 << 16));  // may well reuse a's address, never its id
  unsigned long long ic = 0;
  CU_OK(cuPointerGetAttribute(&ic, CU_POINTER_ATTRIBUTE_BUFFER_ID, c));
  EXPECT_NE(ia, ic);
  EXPECT_NE(ib, ic);
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuPointerGetAttribute(&ic, CU_POINTER_ATTRIBUTE_BUFFER_ID, 0x12345000));
  CU_OK(cuMemFree(b));
  CU_OK(cuMemFree(c));
}

// Sizes: tiny, odd, page edges, and around the 2 MiB staging chunk (and 4 of them).
const size_t kSizes[] = {1,
                         2,
                         3,
                         31,
                         32,
                         33,
                         4095,
                         4096,
                         4097,
                         65537,
                         (1u << 20) - 1,
                         (2u << 20) - 1,
                         2u << 20,
                         (2u << 20) + 1,
                         (4u << 20) + 3,
                         (6u << 20) - 5,
                         (8u << 20) + 1,
                         (10u << 20) + 13,
                         64u << 20};

class Copies : public Driver, public ::testing::WithParamInterface<size_t> {};

TEST_P(Copies, PageableSyncAndAsync) {
  const size_t n = GetParam();
  const auto in = pattern(n, n);
  std::vector<unsigned char> out(n, 0);
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, n));
  CU_OK(cuMemcpyHtoD(d, in.data(), n));
  CU_OK(cuMemcpyDtoH(out.data(), d, n));
  ASSERT_TRUE(same_bytes(in.data(), out.data(), n));

  CUstream s;
  CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  const auto in2 = pattern(n, n + 1);
  std::vector<unsigned char> out2(n, 0);
  CU_OK(cuMemcpyHtoDAsync(d, in2.data(), n, s));
  CU_OK(cuMemcpyDtoHAsync(out2.data(), d, n, s));
  CU_OK(cuStreamSynchronize(s));
  ASSERT_TRUE(same_bytes(in2.data(), out2.data(), n));
  CU_OK(cuStreamDestroy(s));

  // Unaligned host pointer and device offset.
  if (n > 8) {
    std::vector<unsigned char> out3(n, 0);
    CU_OK(cuMemcpyHtoD(d + 3, in.data() + 1, n - 5));
    CU_OK(cuMemcpyDtoH(out3.data() + 1, d + 3, n - 5));
    ASSERT_TRUE(same_bytes(in.data() + 1, out3.data() + 1, n - 5));
  }
  CU_OK(cuMemFree(d));
}

// Pinned memory comes from the slot's arena (64 MiB here, half of it kept for
// copy staging), so these sizes stop at 10 MiB (two buffers of it).
class PinnedCopies : public Driver, public ::testing::WithParamInterface<size_t> {};

TEST_P(PinnedCopies, SyncAndAsync) {
  const size_t n = GetParam();
  void* hin = nullptr;
  void* hout = nullptr;
  CU_OK(cuMemAllocHost(&hin, n));
  CU_OK(cuMemAllocHost(&hout, n));
  const auto in = pattern(n, 7 * n);
  std::memcpy(hin, in.data(), n);
  std::memset(hout, 0, n);
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, n));
  CU_OK(cuMemcpyHtoD(d, hin, n));
  CU_OK(cuMemcpyDtoH(hout, d, n));
  ASSERT_TRUE(same_bytes(in.data(), hout, n));

  CUstream s;
  CU_OK(cuStreamCreate(&s, 0));
  std::memset(hout, 0, n);
  const auto in2 = pattern(n, 7 * n + 1);
  std::memcpy(hin, in2.data(), n);
  CU_OK(cuMemcpyHtoDAsync(d, hin, n, s));
  CU_OK(cuMemcpyDtoHAsync(hout, d, n, s));
  CU_OK(cuStreamSynchronize(s));
  ASSERT_TRUE(same_bytes(in2.data(), hout, n));
  CU_OK(cuStreamDestroy(s));
  CU_OK(cuMemFree(d));
  CU_OK(cuMemFreeHost(hin));
  CU_OK(cuMemFreeHost(hout));
}

// Unified addressing: pinned memory is a device address too. XLA zeroes and
// reads back a check word in pinned memory with the driver's memset and copy.
TEST_F(Driver, PinnedMemoryServesAsADeviceAddress) {
  void* h = nullptr;
  CU_OK(cuMemAllocHost(&h, 4096));
  CUdeviceptr mapped = 0;
  if (cuMemHostGetDevicePointer(&mapped, h, 0) == CUDA_ERROR_NOT_SUPPORTED) {
    CU_OK(cuMemFreeHost(h));
    GTEST_SKIP() << "this backend has no device-mapped host memory (the CPU backend)";
  }
  const auto hp = reinterpret_cast<CUdeviceptr>(h);
  // The worker maps the slot at this process' address for it (the daemon is
  // on this machine): the device address is the pointer itself.
  EXPECT_EQ(mapped, hp);
  auto* w = static_cast<uint32_t*>(h);
  std::fill(w, w + 1024, 0xffffffffu);
  CUstream s;
  CU_OK(cuStreamCreate(&s, 0));
  CU_OK(cuMemsetD32Async(hp, 0x11223344u, 4, s));
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, 64));
  CU_OK(cuMemsetD32Async(d, 0x55667788u, 16, s));
  CU_OK(cuMemcpyDtoDAsync(hp + 64, d, 64, s));
  uint32_t back[4] = {};
  CU_OK(cuMemcpyDtoHAsync(back, hp, sizeof back, s));
  CU_OK(cuStreamSynchronize(s));
  for (uint32_t v : back) EXPECT_EQ(0x11223344u, v);
  EXPECT_EQ(0xffffffffu, w[4]) << "the memset went past its end";
  for (int i = 16; i < 32; ++i) EXPECT_EQ(0x55667788u, w[i]) << i;
  CU_OK(cuMemFree(d));
  CU_OK(cuStreamDestroy(s));
  CU_OK(cuMemFreeHost(h));
}

TEST_P(Copies, DeviceToDevice) {
  const size_t n = GetParam();
  const auto in = pattern(n, 3 * n);
  std::vector<unsigned char> out(n, 0);
  CUdeviceptr a, b, c;
  CU_OK(cuMemAlloc(&a, n));
  CU_OK(cuMemAlloc(&b, n));
  CU_OK(cuMemAlloc(&c, n));
  CU_OK(cuMemcpyHtoD(a, in.data(), n));
  CU_OK(cuMemcpyDtoD(b, a, n));
  CUstream s;
  CU_OK(cuStreamCreate(&s, 0));
  CU_OK(cuMemcpyDtoDAsync(c, b, n, s));
  CU_OK(cuMemcpyDtoHAsync(out.data(), c, n, s));
  CU_OK(cuStreamSynchronize(s));
  ASSERT_TRUE(same_bytes(in.data(), out.data(), n));
  // Unified cuMemcpy classifies each side.
  std::vector<unsigned char> out2(n, 0);
  CU_OK(cuMemcpy(reinterpret_cast<CUdeviceptr>(out2.data()), c, n));
  ASSERT_TRUE(same_bytes(in.data(), out2.data(), n));
  CU_OK(cuStreamDestroy(s));
  for (CUdeviceptr p : {a, b, c}) CU_OK(cuMemFree(p));
}

INSTANTIATE_TEST_SUITE_P(Sizes, Copies, ::testing::ValuesIn(kSizes),
                         [](const ::testing::TestParamInfo<size_t>& i) { return "b" + std::to_string(i.param); });
INSTANTIATE_TEST_SUITE_P(Sizes, PinnedCopies, ::testing::ValuesIn(kSizes, kSizes + sizeof(kSizes) / sizeof(kSizes[0]) - 1),
                         [](const ::testing::TestParamInfo<size_t>& i) { return "b" + std::to_string(i.param); });

TEST_F(Driver, Memsets) {
  const size_t n = (3u << 20) + 40;  // bytes
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, n));
  std::vector<unsigned char> out(n), want(n);
  CU_OK(cuMemsetD8(d, 0x11, n));
  std::fill(want.begin(), want.end(), 0x11);
  CU_OK(cuMemsetD8(d + 5, 0xab, 1001));
  std::fill(want.begin() + 5, want.begin() + 5 + 1001, 0xab);
  CU_OK(cuMemsetD16(d + 2048, 0xbeef, 777));
  for (size_t i = 0; i < 777; ++i) want[2048 + 2 * i] = 0xef, want[2048 + 2 * i + 1] = 0xbe;
  CU_OK(cuMemsetD32(d + 8192, 0x01020304u, (2u << 20) / 4 + 3));  // across a staging chunk's worth
  for (size_t i = 0; i < (2u << 20) / 4 + 3; ++i) {
    want[8192 + 4 * i] = 4, want[8192 + 4 * i + 1] = 3, want[8192 + 4 * i + 2] = 2, want[8192 + 4 * i + 3] = 1;
  }
  CU_OK(cuMemcpyDtoH(out.data(), d, n));
  ASSERT_TRUE(same_bytes(want.data(), out.data(), n));

  CUstream s;
  CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CU_OK(cuMemsetD8Async(d + n - 7, 0x77, 7, s));
  CU_OK(cuMemsetD16Async(d + 100, 0x1234, 3, s));
  CU_OK(cuMemsetD32Async(d + 4096, 0xcafef00du, 16, s));
  CU_OK(cuStreamSynchronize(s));
  std::fill(want.end() - 7, want.end(), 0x77);
  for (size_t i = 0; i < 3; ++i) want[100 + 2 * i] = 0x34, want[101 + 2 * i] = 0x12;
  for (size_t i = 0; i < 16; ++i) {
    want[4096 + 4 * i] = 0x0d, want[4097 + 4 * i] = 0xf0, want[4098 + 4 * i] = 0xfe, want[4099 + 4 * i] = 0xca;
  }
  CU_OK(cuMemcpyDtoH(out.data(), d, n));
  ASSERT_TRUE(same_bytes(want.data(), out.data(), n));
  CU_OK(cuStreamDestroy(s));
  CU_OK(cuMemFree(d));
}

TEST_F(Driver, Copies2D) {
  const size_t w = 301, h = 37, spitch = 333, dpitch = 512;
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, dpitch * h));
  CU_OK(cuMemsetD8(d, 0, dpitch * h));
  const auto src = pattern(spitch * h, 99);

  // Pageable HtoD into a pitched device area.
  CUDA_MEMCPY2D c{};
  c.srcMemoryType = CU_MEMORYTYPE_HOST;
  c.srcHost = src.data();
  c.srcPitch = spitch;
  c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  c.dstDevice = d;
  c.dstPitch = dpitch;
  c.WidthInBytes = w;
  c.Height = h;
  CU_OK(cuMemcpy2D(&c));
  std::vector<unsigned char> flat(dpitch * h);
  CU_OK(cuMemcpyDtoH(flat.data(), d, flat.size()));
  for (size_t y = 0; y < h; ++y) {
    ASSERT_TRUE(same_bytes(src.data() + y * spitch, flat.data() + y * dpitch, w)) << "row " << y;
    for (size_t x = w; x < dpitch; ++x) ASSERT_EQ(0, flat[y * dpitch + x]) << "padding written, row " << y;
  }

  // DtoD with an offset, then pageable DtoH.
  CUdeviceptr d2;
  CU_OK(cuMemAlloc(&d2, dpitch * h));
  CUDA_MEMCPY2D dd{};
  dd.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  dd.srcDevice = d;
  dd.srcPitch = dpitch;
  dd.srcXInBytes = 1;
  dd.srcY = 2;
  dd.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  dd.dstDevice = d2;
  dd.dstPitch = dpitch;
  dd.WidthInBytes = w - 1;
  dd.Height = h - 2;
  CU_OK(cuMemcpy2D(&dd));
  std::vector<unsigned char> back(128 * (h - 2), 0);
  CUDA_MEMCPY2D dh{};
  dh.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  dh.srcDevice = d2;
  dh.srcPitch = dpitch;
  dh.dstMemoryType = CU_MEMORYTYPE_HOST;
  dh.dstHost = back.data();
  dh.dstPitch = 128;
  dh.WidthInBytes = 100;
  dh.Height = h - 2;
  CU_OK(cuMemcpy2D(&dh));
  for (size_t y = 0; y < h - 2; ++y)
    ASSERT_TRUE(same_bytes(src.data() + (y + 2) * spitch + 1, back.data() + y * 128, 100)) << "row " << y;

  // Pinned (arena) host memory: one record each way, asynchronous.
  void* pin = nullptr;
  CU_OK(cuMemAllocHost(&pin, spitch * h));
  std::memcpy(pin, src.data(), spitch * h);
  CUstream s;
  CU_OK(cuStreamCreate(&s, 0));
  CU_OK(cuMemsetD8(d2, 0, dpitch * h));
  c.srcHost = pin;
  c.dstDevice = d2;
  CU_OK(cuMemcpy2DAsync(&c, s));
  void* pout = nullptr;
  CU_OK(cuMemAllocHost(&pout, dpitch * h));
  std::memset(pout, 0, dpitch * h);
  CUDA_MEMCPY2D ph{};
  ph.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  ph.srcDevice = d2;
  ph.srcPitch = dpitch;
  ph.dstMemoryType = CU_MEMORYTYPE_HOST;
  ph.dstHost = pout;
  ph.dstPitch = dpitch;
  ph.WidthInBytes = w;
  ph.Height = h;
  CU_OK(cuMemcpy2DAsync(&ph, s));
  CU_OK(cuStreamSynchronize(s));
  for (size_t y = 0; y < h; ++y)
    ASSERT_TRUE(same_bytes(src.data() + y * spitch, static_cast<unsigned char*>(pout) + y * dpitch, w)) << "row " << y;
  CU_OK(cuStreamDestroy(s));
  CU_OK(cuMemFreeHost(pin));
  CU_OK(cuMemFreeHost(pout));
  CU_OK(cuMemFree(d));
  CU_OK(cuMemFree(d2));
}

TEST_F(Driver, OutOfRangeDevicePointers) {
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, 4096));
  unsigned char buf[64] = {};
  // Never allocated, past the end, straddling the end.
  EXPECT_NE(CUDA_SUCCESS, cuMemcpyHtoD(0x1000, buf, 16));
  EXPECT_NE(CUDA_SUCCESS, cuMemcpyDtoH(buf, 0x1000, 16));
  EXPECT_NE(CUDA_SUCCESS, cuMemcpyHtoD(d + 4096, buf, 1));
  EXPECT_NE(CUDA_SUCCESS, cuMemcpyDtoH(buf, d + 4090, 16));
  EXPECT_NE(CUDA_SUCCESS, cuMemsetD8(d + 4000, 0, 200));
  EXPECT_NE(CUDA_SUCCESS, cuMemcpyDtoD(d, d + 100, 4096));
  // A posted (asynchronous) bad copy: its error comes back at the next synchronising call,
  // once, and the one after it is clean.
  CUstream s;
  CU_OK(cuStreamCreate(&s, 0));
  EXPECT_EQ(CUDA_SUCCESS, cuMemsetD8Async(0x2000, 1, 10, s));
  EXPECT_NE(CUDA_SUCCESS, cuStreamSynchronize(s));
  EXPECT_EQ(CUDA_SUCCESS, cuStreamSynchronize(s));
  CU_OK(cuStreamDestroy(s));
  // The allocation itself still works.
  CU_OK(cuMemcpyHtoD(d, buf, 64));
  CU_OK(cuMemFree(d));
}

// ---- streams and events ------------------------------------------------------------

TEST_F(Driver, StreamOrdering) {
  CUstream s;
  CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  const size_t n = (2u << 20) + 999;
  CUdeviceptr d, e;
  CU_OK(cuMemAlloc(&d, n));
  CU_OK(cuMemAlloc(&e, n));
  // Many writes to the same place on one stream: the last one wins, and each
  // snapshot (DtoD right after its write) holds its own write.
  const int rounds = 12;
  std::vector<std::vector<unsigned char>> ins;
  std::vector<CUdeviceptr> snaps(rounds);
  for (int i = 0; i < rounds; ++i) {
    ins.push_back(pattern(n, 1000 + i));
    CU_OK(cuMemAlloc(&snaps[i], n));
  }
  for (int i = 0; i < rounds; ++i) {
    CU_OK(cuMemcpyHtoDAsync(d, ins[i].data(), n, s));
    CU_OK(cuMemcpyDtoDAsync(snaps[i], d, n, s));
    CU_OK(cuMemsetD8Async(snaps[i], static_cast<unsigned char>(i), 1, s));
  }
  CU_OK(cuMemcpyDtoDAsync(e, d, n, s));
  std::vector<unsigned char> out(n);
  CU_OK(cuMemcpyDtoHAsync(out.data(), e, n, s));
  CU_OK(cuStreamSynchronize(s));
  EXPECT_EQ(CUDA_SUCCESS, cuStreamQuery(s));
  ASSERT_TRUE(same_bytes(ins.back().data(), out.data(), n));
  for (int i = 0; i < rounds; ++i) {
    CU_OK(cuMemcpyDtoH(out.data(), snaps[i], n));
    ins[i][0] = static_cast<unsigned char>(i);
    ASSERT_TRUE(same_bytes(ins[i].data(), out.data(), n)) << "snapshot " << i;
    CU_OK(cuMemFree(snaps[i]));
  }
  CU_OK(cuStreamDestroy(s));
  CU_OK(cuMemFree(d));
  CU_OK(cuMemFree(e));
}

TEST_F(Driver, DefaultStreams) {
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, 1000));
  const auto in = pattern(1000, 5);
  std::vector<unsigned char> out(1000);
  for (CUstream s : {static_cast<CUstream>(nullptr), CU_STREAM_LEGACY, CU_STREAM_PER_THREAD}) {
    std::fill(out.begin(), out.end(), 0);
    CU_OK(cuMemcpyHtoDAsync(d, in.data(), in.size(), s));
    CU_OK(cuMemcpyDtoHAsync(out.data(), d, out.size(), s));
    CU_OK(cuStreamSynchronize(s));
    ASSERT_TRUE(same_bytes(in.data(), out.data(), in.size()));
  }
  CU_OK(cuMemFree(d));
}

TEST_F(Driver, Events) {
  CUstream s;
  CU_OK(cuStreamCreate(&s, 0));
  CUevent a, b, notiming, never;
  CU_OK(cuEventCreate(&a, CU_EVENT_DEFAULT));
  CU_OK(cuEventCreate(&b, CU_EVENT_BLOCKING_SYNC));
  CU_OK(cuEventCreate(&notiming, CU_EVENT_DISABLE_TIMING));
  CU_OK(cuEventCreate(&never, CU_EVENT_DEFAULT));
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, 4u << 20));
  CU_OK(cuEventRecord(a, s));
  CU_OK(cuMemsetD8Async(d, 1, 4u << 20, s));
  CU_OK(cuEventRecord(notiming, s));
  CU_OK(cuEventRecord(b, s));
  CU_OK(cuEventSynchronize(b));
  EXPECT_EQ(CUDA_SUCCESS, cuEventQuery(b));
  EXPECT_EQ(CUDA_SUCCESS, cuEventQuery(a));
  float ms = -1;
  CU_OK(cuEventElapsedTime(&ms, a, b));
  EXPECT_GE(ms, 0.0f);
  EXPECT_NE(CUDA_SUCCESS, cuEventElapsedTime(&ms, a, notiming)) << "timing-disabled event gave a time";
  EXPECT_NE(CUDA_SUCCESS, cuEventElapsedTime(&ms, a, never)) << "never-recorded event gave a time";
  for (CUevent e : {a, b, notiming, never}) CU_OK(cuEventDestroy(e));
  CU_OK(cuStreamDestroy(s));
  CU_OK(cuMemFree(d));
}

TEST_F(Driver, StreamWaitEventAcrossStreams) {
  CUstream s1, s2;
  CU_OK(cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
  CU_OK(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
  CUevent e;
  CU_OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
  const size_t n = (5u << 20) + 3;
  CUdeviceptr a, b;
  CU_OK(cuMemAlloc(&a, n));
  CU_OK(cuMemAlloc(&b, n));
  for (int round = 0; round < 4; ++round) {
    const auto in = pattern(n, 77 + round);
    std::vector<unsigned char> out(n, 0);
    CU_OK(cuMemcpyHtoDAsync(a, in.data(), n, s1));
    CU_OK(cuEventRecord(e, s1));
    CU_OK(cuStreamWaitEvent(s2, e, 0));
    CU_OK(cuMemcpyDtoDAsync(b, a, n, s2));
    CU_OK(cuMemcpyDtoHAsync(out.data(), b, n, s2));
    CU_OK(cuStreamSynchronize(s2));
    ASSERT_TRUE(same_bytes(in.data(), out.data(), n)) << "round " << round;
  }
  CU_OK(cuStreamSynchronize(s1));
  CU_OK(cuEventDestroy(e));
  CU_OK(cuStreamDestroy(s1));
  CU_OK(cuStreamDestroy(s2));
  CU_OK(cuMemFree(a));
  CU_OK(cuMemFree(b));
}

// ---- virtual memory management (the CPU backend does it for real) -------------------

// Host-located VMM memory cannot be the guest's (NCCL probes for it at init):
// the granularity is answered, the allocation refused as not supported, and
// nothing is left behind.
TEST_F(Driver, HostLocatedVirtualMemoryRefused) {
  for (CUmemLocationType t : {CU_MEM_LOCATION_TYPE_HOST, CU_MEM_LOCATION_TYPE_HOST_NUMA,
                              CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT}) {
    CUmemAllocationProp prop{};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = t;
    prop.location.id = 0;
    size_t gran = 0;
    CU_OK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    ASSERT_GT(gran, 0u);
    EXPECT_EQ(0u, gran % 4096);
    CUmemGenericAllocationHandle h = 0;
    EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuMemCreate(&h, gran, &prop, 0)) << "location type " << t;
  }
}

TEST_F(Driver, VirtualMemory) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  size_t gran = 0;
  CU_OK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
  ASSERT_GT(gran, 0u);
  size_t rec = 0;
  CU_OK(cuMemGetAllocationGranularity(&rec, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
  EXPECT_GE(rec, gran);

  CUdeviceptr va = 0, va2 = 0;
  CU_OK(cuMemAddressReserve(&va, 4 * gran, 0, 0, 0));
  CU_OK(cuMemAddressReserve(&va2, gran, 0, 0, 0));
  CUmemGenericAllocationHandle h1, h2;
  CU_OK(cuMemCreate(&h1, gran, &prop, 0));
  CU_OK(cuMemCreate(&h2, 2 * gran, &prop, 0));
  CU_OK(cuMemMap(va, gran, 0, h1, 0));
  CU_OK(cuMemMap(va + gran, 2 * gran, 0, h2, 0));
  CU_OK(cuMemMap(va2, gran, 0, h1, 0));  // a second view of h1
  EXPECT_NE(CUDA_SUCCESS, cuMemMap(va, gran, 0, h2, 0)) << "mapped over a mapping";

  // No access yet: copies into the range are refused.
  unsigned char one = 1;
  EXPECT_NE(CUDA_SUCCESS, cuMemcpyHtoD(va, &one, 1));

  CUmemAccessDesc acc{};
  acc.location = prop.location;
  acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  CU_OK(cuMemSetAccess(va, 3 * gran, &acc, 1));
  CU_OK(cuMemSetAccess(va2, gran, &acc, 1));

  // One copy across the boundary of the two mappings, and back.
  const size_t n = 3 * gran - 100;
  const auto in = pattern(n, 4242);
  std::vector<unsigned char> out(n, 0);
  CU_OK(cuMemcpyHtoD(va + 50, in.data(), n));
  CU_OK(cuMemcpyDtoH(out.data(), va + 50, n));
  ASSERT_TRUE(same_bytes(in.data(), out.data(), n));
  // The second view of h1 sees the same bytes.
  std::vector<unsigned char> alias(gran - 50, 0);
  CU_OK(cuMemcpyDtoH(alias.data(), va2 + 50, gran - 50));
  ASSERT_TRUE(same_bytes(in.data(), alias.data(), gran - 50));
  CU_OK(cuMemsetD32(va2, 0x55aa55aau, 4));
  unsigned char head[16];
  CU_OK(cuMemcpyDtoH(head, va, 16));
  EXPECT_EQ(0xaa, head[0]);
  EXPECT_EQ(0x55, head[15]);
  // Device-to-device between a plain allocation and a VMM range.
  CUdeviceptr plain;
  CU_OK(cuMemAlloc(&plain, gran));
  CU_OK(cuMemcpyDtoD(plain, va + gran, gran));
  std::vector<unsigned char> p2(gran);
  CU_OK(cuMemcpyDtoH(p2.data(), plain, gran));
  ASSERT_TRUE(same_bytes(in.data() + gran - 50, p2.data(), gran));
  CU_OK(cuMemFree(plain));

  // Released while mapped: the memory lives on until unmapped.
  CU_OK(cuMemRelease(h1));
  CU_OK(cuMemcpyDtoH(head, va2, 16));
  EXPECT_EQ(0xaa, head[0]);

  CU_OK(cuMemUnmap(va, gran));
  EXPECT_NE(CUDA_SUCCESS, cuMemcpyDtoH(head, va, 16)) << "read from an unmapped range";
  CU_OK(cuMemUnmap(va + gran, 2 * gran));
  CU_OK(cuMemUnmap(va2, gran));
  CU_OK(cuMemRelease(h2));
  EXPECT_NE(CUDA_SUCCESS, cuMemRelease(h2)) << "released twice";
  CU_OK(cuMemAddressFree(va, 4 * gran));
  CU_OK(cuMemAddressFree(va2, gran));
}

// ---- handle validation: forged handles are the guest's error, never the host's ----

TEST_F(Driver, ForgedStreamHandle) {
  const CUstream forged = reinterpret_cast<CUstream>(uintptr_t{0x0000beef00000010ull});
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuStreamSynchronize(forged));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuStreamQuery(forged));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuStreamDestroy(forged));
  // A destroyed stream is as good as forged.
  CUstream s;
  CU_OK(cuStreamCreate(&s, 0));
  CU_OK(cuStreamDestroy(s));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuStreamSynchronize(s));
  // Posted work on a forged stream: the error is reported by the next synchronising call.
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, 256));
  EXPECT_EQ(CUDA_SUCCESS, cuMemsetD8Async(d, 0, 256, forged));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuCtxSynchronize());
  EXPECT_EQ(CUDA_SUCCESS, cuCtxSynchronize());
  CU_OK(cuMemFree(d));
}

TEST_F(Driver, ForgedStreamInStagedAsyncCopy) {
  // A pageable async copy is staged through arena chunks; its error on a
  // forged stream must come back as an asynchronous error at the next sync
  // point, and never be charged to a later, valid copy.
  const CUstream forged = reinterpret_cast<CUstream>(uintptr_t{0x0000beef00000020ull});
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, 4096));
  std::vector<unsigned char> buf(4096, 9), out(4096, 0);
  const CUresult r = cuMemcpyHtoDAsync(d, buf.data(), buf.size(), forged);
  EXPECT_TRUE(r == CUDA_SUCCESS || r == CUDA_ERROR_INVALID_HANDLE) << r;
  const CUresult sync = cuCtxSynchronize();
  if (r == CUDA_SUCCESS) {
    EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, sync) << "async error lost";
  }
  // Later valid copies are clean, whichever staging chunk they use.
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(CUDA_SUCCESS, cuMemcpyHtoD(d, buf.data(), buf.size())) << "copy " << i;
    EXPECT_EQ(CUDA_SUCCESS, cuMemcpyDtoH(out.data(), d, out.size())) << "copy " << i;
  }
  EXPECT_EQ(buf, out);
  CU_OK(cuMemFree(d));
}

TEST_F(Driver, ForgedEventHandle) {
  const CUevent forged = reinterpret_cast<CUevent>(uintptr_t{0x0000beef00000030ull});
  float ms;
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuEventQuery(forged));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuEventSynchronize(forged));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuEventDestroy(forged));
  CUevent real;
  CU_OK(cuEventCreate(&real, 0));
  CU_OK(cuEventRecord(real, nullptr));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuEventElapsedTime(&ms, real, forged));
  CUresult r = cuStreamWaitEvent(nullptr, forged, 0);  // posted: may report at the next sync
  if (r == CUDA_SUCCESS) r = cuCtxSynchronize();
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, r);
  EXPECT_EQ(CUDA_SUCCESS, cuEventRecord(forged, nullptr));  // posted
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuCtxSynchronize());
  CU_OK(cuEventDestroy(real));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuEventQuery(real)) << "destroyed event still valid";
}

// Module and function handles are pointers to the guest library's records of
// the host's ids; forge_handles.cc makes records with ids the host never issued.
extern "C" CUmodule vgpu_e2e_forge_module(uint64_t host_id);
extern "C" CUfunction vgpu_e2e_forge_function(uint64_t host_id);
extern "C" uint64_t vgpu_e2e_function_id(CUfunction f);
extern "C" uint64_t vgpu_e2e_module_id(CUmodule m);

TEST_F(Driver, ForgedModuleAndFunctionHandles) {
  static const char ptx[] =
      ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry vgpu_e2e_kernel(.param .u64 p)\n{\n ret;\n}\n";
  CUmodule m;
  CU_OK(cuModuleLoadData(&m, ptx));
  CUfunction f;
  CU_OK(cuModuleGetFunction(&f, m, "vgpu_e2e_kernel"));
  EXPECT_EQ(CUDA_ERROR_NOT_FOUND, cuModuleGetFunction(&f, m, "no_such_kernel"));

  // A module id the host never issued (the real one with other bits).
  const CUmodule fm = vgpu_e2e_forge_module(vgpu_e2e_module_id(m) ^ 0x0000100000000000ull);
  CUfunction g;
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuModuleGetFunction(&g, fm, "vgpu_e2e_kernel"));
  CUdeviceptr gp;
  size_t gb;
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuModuleGetGlobal(&gp, &gb, fm, "x"));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuModuleUnload(fm));
  // A function id of the wrong kind (the module's id), and one never issued.
  int v;
  const uint64_t ids[] = {vgpu_e2e_module_id(m), vgpu_e2e_function_id(f) ^ 0x0000100000000000ull, 0x10};
  for (uint64_t id : ids) {
    const CUfunction ff = vgpu_e2e_forge_function(id);
    EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, ff)) << id;
    EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuFuncSetAttribute(ff, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 0)) << id;
    size_t smem = 0;
    EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuOccupancyAvailableDynamicSMemPerBlock(&smem, ff, 1, 128)) << id;
    CUlaunchConfig cfg{};
    cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = cfg.blockDimY = cfg.blockDimZ = 1;
    cfg.blockDimX = 128;
    EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuOccupancyMaxActiveClusters(&v, ff, &cfg)) << id;
    // A launch is posted: the host's refusal comes back at the next synchronising call.
    CUdeviceptr arg = 0;
    void* args[] = {&arg};
    CUresult r = cuLaunchKernel(ff, 1, 1, 1, 1, 1, 1, 0, nullptr, args, nullptr);
    if (r == CUDA_SUCCESS) r = cuCtxSynchronize();
    EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, r) << id;
  }

  // The CPU backend cannot run kernels: a launch of a real function is refused, never faked.
  CUdeviceptr arg = 0;
  void* args[] = {&arg};
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, nullptr, args, nullptr));
  // Nor are occupancy figures made up for it (NVIDIA's runtime asks them before
  // it trusts a kernel's shared memory limit; tests/gpu has the real answers).
  size_t smem = 0;
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuOccupancyAvailableDynamicSMemPerBlock(&smem, f, 1, 128));
  CUlaunchAttribute cluster{};
  cluster.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  cluster.value.clusterDim.x = 2, cluster.value.clusterDim.y = cluster.value.clusterDim.z = 1;
  CUlaunchConfig cfg{};
  cfg.gridDimX = 2, cfg.gridDimY = cfg.gridDimZ = cfg.blockDimY = cfg.blockDimZ = 1;
  cfg.blockDimX = 128;
  cfg.attrs = &cluster;
  cfg.numAttrs = 1;
  int clusters = 0;
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuOccupancyMaxActiveClusters(&clusters, f, &cfg));
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuOccupancyMaxPotentialClusterSize(&clusters, f, &cfg));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuOccupancyAvailableDynamicSMemPerBlock(nullptr, f, 1, 128));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuOccupancyMaxActiveClusters(&clusters, f, nullptr));

  CU_OK(cuModuleUnload(m));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, f))
      << "function of an unloaded module still valid";
}

// Images from files: cuModuleLoad and cuLibraryLoadFromFile (which cuDNN's
// runtime-compiled engines require of a driver) read the file in the guest.
TEST_F(Driver, ModulesAndLibrariesFromFiles) {
  static const char ptx[] =
      ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry vgpu_file_kernel()\n{\n ret;\n}\n";
  char path[] = "/tmp/vgpu-e2e-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, ptx, sizeof ptx - 1), static_cast<ssize_t>(sizeof ptx - 1));
  close(fd);
  CUmodule m = nullptr;
  CU_OK(cuModuleLoad(&m, path));
  CUfunction f = nullptr;
  CU_OK(cuModuleGetFunction(&f, m, "vgpu_file_kernel"));
  CU_OK(cuModuleUnload(m));
  CUlibrary lib = nullptr;
  CU_OK(cuLibraryLoadFromFile(&lib, path, nullptr, nullptr, 0, nullptr, nullptr, 0));
  CUkernel k = nullptr;
  CU_OK(cuLibraryGetKernel(&k, lib, "vgpu_file_kernel"));
  EXPECT_EQ(CUDA_ERROR_NOT_FOUND, cuLibraryGetKernel(&k, lib, "no_such_kernel"));
  CU_OK(cuLibraryUnload(lib));
  unlink(path);
  EXPECT_EQ(CUDA_ERROR_FILE_NOT_FOUND, cuLibraryLoadFromFile(&lib, path, nullptr, nullptr, 0, nullptr, nullptr, 0));
  EXPECT_EQ(CUDA_ERROR_FILE_NOT_FOUND, cuModuleLoad(&m, path));
}

// cuModuleEnumerateFunctions and cuLibraryEnumerateKernels (CUDA 12.4): the
// module's kernels, by the host's listing (its driver's on a GPU, the image's
// on the CPU backend), each usable as cuModuleGetFunction's and the same
// handle every time it is listed. The order is the driver's: compared as sets.
// One name is mangled, as C++ kernels' (and cuFFT's) are: the driver lists
// symbols, which cuModuleGetFunction takes back.
TEST_F(Driver, ModulesListTheirKernels) {
  static const char ptx[] =
      ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry vgpu_list_a()\n{\n ret;\n}\n"
      ".visible .entry _Z11vgpu_list_bj(.param .u32 n)\n{\n ret;\n}\n";
  CUmodule m = nullptr;
  CU_OK(cuModuleLoadData(&m, ptx));
  unsigned n = 0;
  CU_OK(cuModuleGetFunctionCount(&n, m));
  ASSERT_EQ(2u, n);
  CUfunction fns[3] = {};
  CU_OK(cuModuleEnumerateFunctions(fns, 3, m));
  EXPECT_EQ(nullptr, fns[2]) << "more handles written than the module has";
  std::vector<std::string> names;
  for (int i = 0; i < 2; ++i) {
    const char* name = nullptr;
    CU_OK(cuFuncGetName(&name, fns[i]));
    names.emplace_back(name);
    int regs = 0;  // each a function of the host's: it answers (or refuses, on the CPU backend) as one
    const CUresult r = cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, fns[i]);
    EXPECT_TRUE(r == CUDA_SUCCESS || r == CUDA_ERROR_NOT_SUPPORTED) << r;
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"_Z11vgpu_list_bj", "vgpu_list_a"}));
  CUfunction again[2] = {};
  CU_OK(cuModuleEnumerateFunctions(again, 1, m));  // at most as many as asked for
  EXPECT_EQ(fns[0], again[0]);
  EXPECT_EQ(nullptr, again[1]);
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuModuleGetFunctionCount(nullptr, m));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuModuleEnumerateFunctions(nullptr, 2, m));
  EXPECT_EQ(CUDA_ERROR_INVALID_HANDLE, cuModuleGetFunctionCount(&n, nullptr));
  CU_OK(cuModuleUnload(m));

  CUlibrary lib = nullptr;
  CU_OK(cuLibraryLoadData(&lib, ptx, nullptr, nullptr, 0, nullptr, nullptr, 0));
  CU_OK(cuLibraryGetKernelCount(&n, lib));
  EXPECT_EQ(2u, n);
  CUkernel ks[2] = {};
  CU_OK(cuLibraryEnumerateKernels(ks, 2, lib));
  const char* name = nullptr;
  CU_OK(cuKernelGetName(&name, ks[0]));
  EXPECT_TRUE(std::string(name) == "vgpu_list_a" || std::string(name) == "_Z11vgpu_list_bj") << name;
  CU_OK(cuLibraryUnload(lib));
}

TEST_F(Driver, ModuleLoadOfGarbageFails) {
  std::vector<char> garbage(4096);
  std::mt19937 g(5);
  for (auto& c : garbage) c = static_cast<char>('A' + g() % 26);  // text, but no PTX
  garbage.back() = 0;
  CUmodule m = nullptr;
  EXPECT_EQ(CUDA_ERROR_INVALID_IMAGE, cuModuleLoadData(&m, garbage.data()));
  EXPECT_NE(CUDA_SUCCESS, cuModuleLoadData(&m, ""));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuModuleLoadData(&m, nullptr));
  // The session goes on: a real (PTX) image still loads.
  static const char ptx[] = ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry k()\n{\n ret;\n}\n";
  CU_OK(cuModuleLoadData(&m, ptx));
  CU_OK(cuModuleUnload(m));
}

// A fatbin container holding one ELF entry built for `arch` only (layout as
// nvcc writes it: 16-byte header, then entries with kind, header size,
// payload size and architecture at +0x1c).
std::vector<uint64_t> one_arch_fatbin(uint32_t arch) {
  const uint32_t magic = 0xBA55ED50u, eh = 64, kind = 2;
  const uint16_t ver = 1, hsize = 16;
  const uint64_t payload = 64, fat = eh + payload;
  std::vector<uint64_t> words((16 + fat) / 8, 0);
  auto* b = reinterpret_cast<unsigned char*>(words.data());
  std::memcpy(b, &magic, 4);
  std::memcpy(b + 4, &ver, 2);
  std::memcpy(b + 6, &hsize, 2);
  std::memcpy(b + 8, &fat, 8);
  std::memcpy(b + 16, &kind, 2);
  std::memcpy(b + 16 + 4, &eh, 4);
  std::memcpy(b + 16 + 8, &payload, 8);
  std::memcpy(b + 16 + 0x1c, &arch, 4);
  return words;
}

TEST_F(Driver, LibraryWithoutCodeForThisGpuFailsOnlyWhenUsed) {
  // Lazy loading, the driver's default, as NVIDIA's runtime asks for it.
  CUmoduleLoadingMode mode{};
  CU_OK(cuModuleGetLoadingMode(&mode));
  EXPECT_EQ(CU_MODULE_LAZY_LOADING, mode);
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuModuleGetLoadingMode(nullptr));
  const auto sm75 = one_arch_fatbin(75);
  // A module is loaded at once: the error now.
  CUmodule m = nullptr;
  EXPECT_EQ(CUDA_ERROR_NO_BINARY_FOR_GPU, cuModuleLoadData(&m, sm75.data()));
  // A library loads; the error comes with its first kernel, global or module.
  CUlibrary lib = nullptr;
  CU_OK(cuLibraryLoadData(&lib, sm75.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
  CUkernel k = nullptr;
  EXPECT_EQ(CUDA_ERROR_NO_BINARY_FOR_GPU, cuLibraryGetKernel(&k, lib, "_Z1kv"));
  CUdeviceptr p = 0;
  size_t n = 0;
  EXPECT_EQ(CUDA_ERROR_NO_BINARY_FOR_GPU, cuLibraryGetGlobal(&p, &n, lib, "g"));
  EXPECT_EQ(CUDA_ERROR_NO_BINARY_FOR_GPU, cuLibraryGetModule(&m, lib));
  CU_OK(cuLibraryUnload(lib));
  // Code for this GPU (sm_90) loads both ways.
  const auto sm90 = one_arch_fatbin(90);
  CU_OK(cuLibraryLoadData(&lib, sm90.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
  CU_OK(cuLibraryGetModule(&m, lib));
  CU_OK(cuLibraryUnload(lib));
}

// ---- entry points and error texts --------------------------------------------------

TEST_F(Driver, GetProcAddressReturnsOurFunctions) {
  void* fn = nullptr;
  CUdriverProcAddressQueryResult q{};
  CU_OK(cuGetProcAddress("cuInit", &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &q));
  EXPECT_EQ(reinterpret_cast<void*>(&cuInit), fn);
  EXPECT_EQ(CU_GET_PROC_ADDRESS_SUCCESS, q);
  CU_OK(cuGetProcAddress("cuMemAlloc", &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT, nullptr));
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "cuMemAlloc_v2"), fn);
  // Calling through the pointer works.
  CUdeviceptr p = 0;
  ASSERT_EQ(CUDA_SUCCESS, reinterpret_cast<CUresult (*)(CUdeviceptr*, size_t)>(fn)(&p, 128));
  CU_OK(cuMemFree(p));
  CU_OK(cuGetProcAddress("cuStreamSynchronize", &fn, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, nullptr));
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "cuStreamSynchronize_ptsz"), fn);
  // Every returned address is inside our library.
  for (const char* name : {"cuMemcpyHtoD", "cuMemsetD8", "cuEventRecord", "cuMemCreate", "cuGetErrorString"}) {
    fn = nullptr;
    ASSERT_EQ(CUDA_SUCCESS, cuGetProcAddress(name, &fn, 13000, CU_GET_PROC_ADDRESS_DEFAULT, nullptr)) << name;
    Dl_info info{};
    ASSERT_NE(0, dladdr(fn, &info)) << name;
    EXPECT_NE(nullptr, std::strstr(info.dli_fname, "libcuda.so.1")) << name << " from " << info.dli_fname;
  }
  EXPECT_EQ(CUDA_ERROR_NOT_FOUND, cuGetProcAddress("cuNoSuchFunction", &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &q));
  EXPECT_EQ(nullptr, fn);
  EXPECT_EQ(CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND, q);
}

// PyTorch's c10::cuda::DriverAPI resolves these by version and asserts on a
// missing one; the stream store is real, TMA encoding belongs to a GPU.
// Context limits are the host context's: the CPU backend runs no kernels and
// has none, so it refuses them; bad arguments fail in the guest.
TEST_F(Driver, ContextLimitsGoToTheHost) {
  size_t v = 7;
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuCtxGetLimit(nullptr, CU_LIMIT_STACK_SIZE));
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuCtxGetLimit(&v, CU_LIMIT_STACK_SIZE));
  EXPECT_EQ(7u, v) << "a refused query leaves the output alone";
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuCtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, 1 << 20));
  void* fn = nullptr;
  CU_OK(cuGetProcAddress("cuCtxSetLimit", &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT, nullptr));
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "cuCtxSetLimit"), fn);
}

TEST_F(Driver, PyTorchDriverEntryPoints) {
  for (const char* name : {"cuDeviceGetAttribute", "cuMemAddressReserve", "cuMemRelease", "cuMemMap",
                           "cuMemAddressFree", "cuMemSetAccess", "cuMemUnmap", "cuMemCreate",
                           "cuMemGetAllocationGranularity", "cuMemExportToShareableHandle",
                           "cuMemImportFromShareableHandle", "cuMemRetainAllocationHandle",
                           "cuMemGetAllocationPropertiesFromHandle", "cuMemsetD32Async", "cuStreamWriteValue32",
                           "cuGetErrorString", "cuTensorMapEncodeTiled", "cuGreenCtxCreate"}) {
    void* fn = nullptr;
    EXPECT_EQ(CUDA_SUCCESS, cuGetProcAddress(name, &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT, nullptr)) << name;
  }
  void* fn = nullptr;
  CU_OK(cuGetProcAddress("cuStreamWriteValue32", &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT, nullptr));
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "cuStreamWriteValue32_v2"), fn);
  CUdeviceptr p = 0;
  CU_OK(cuMemAlloc(&p, 64));
  CU_OK(cuMemsetD8(p, 0, 64));
  CUstream s = nullptr;
  CU_OK(cuStreamCreate(&s, 0));
  CU_OK(cuStreamWriteValue32(s, p + 8, 0xfeedbeefu, 0));
  CU_OK(cuStreamWriteValue64(s, p + 16, 0x0123456789abcdefull, 0));
  CU_OK(cuStreamSynchronize(s));
  uint32_t w[8] = {};
  CU_OK(cuMemcpyDtoH(w, p, sizeof w));
  EXPECT_EQ(w[2], 0xfeedbeefu);
  EXPECT_EQ(w[4], 0x89abcdefu);
  EXPECT_EQ(w[5], 0x01234567u);
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuStreamWriteValue32(s, p, 1, 0x80));  // unknown flag
  CU_OK(cuStreamDestroy(s));

  CUtensorMap map{};
  const cuuint64_t dims[2] = {64, 64}, strides[1] = {64 * 4};
  const cuuint32_t box[2] = {16, 16}, estr[2] = {1, 1};
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE,
            cuTensorMapEncodeTiled(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 0, reinterpret_cast<void*>(p), dims, strides,
                                   box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                                   CU_TENSOR_MAP_L2_PROMOTION_NONE, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
  // The CPU backend has no kernel that could read one: refused, not faked.
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED,
            cuTensorMapEncodeTiled(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, reinterpret_cast<void*>(p), dims, strides,
                                   box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                                   CU_TENSOR_MAP_L2_PROMOTION_NONE, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
  CUgreenCtx g = nullptr;
  CUdevResourceDesc desc = nullptr;
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuGreenCtxCreate(&g, desc, dev_, 0));
  CU_OK(cuMemFree(p));
}

// cuFFT resolves this list of driver functions by name (dlsym) when it creates
// its first plan, and fails with CUFFT_INTERNAL_ERROR if any is missing.
TEST_F(Driver, CuFftsDriverFunctionsResolve) {
  for (const char* name :
       {"cuInit", "cuModuleLoadData", "cuModuleLoadDataEx", "cuModuleUnload", "cuModuleGetFunction",
        "cuModuleGetGlobal_v2", "cuLaunchKernel", "cuGetErrorName", "cuLinkCreate_v2", "cuLinkAddData_v2",
        "cuLinkComplete", "cuLinkDestroy", "cuFuncSetAttribute", "cuFuncGetAttribute", "cuFuncSetCacheConfig",
        "cuOccupancyMaxActiveBlocksPerMultiprocessor", "cuCtxGetCurrent", "cuCtxSetCurrent", "cuCtxSynchronize",
        "cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease", "cuEventCreate", "cuEventDestroy_v2",
        "cuEventElapsedTime", "cuEventQuery", "cuEventRecord", "cuEventSynchronize", "cuStreamWaitEvent",
        "cuCtxPushCurrent_v2", "cuCtxPopCurrent_v2", "cuCtxGetDevice", "cuDeviceGet", "cuDeviceGetAttribute",
        "cuStreamWaitValue32", "cuStreamBatchMemOp", "cuStreamGetCtx", "cuDeviceTotalMem_v2", "cuDeviceGetName",
        "cuMemGetInfo_v2", "cuGraphKernelNodeGetParams", "cuGraphExecKernelNodeSetParams", "cuGraphExecDestroy",
        "cuGraphLaunch", "cuGraphDestroy", "cuGraphInstantiate", "cuGraphGetNodes", "cuGraphNodeGetType",
        "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2", "cuMemcpy", "cuMemcpyAsync", "cuMemcpy2DAsync_v2",
        "cuMemcpy2D_v2", "cuMemcpyDtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyHtoDAsync_v2", "cuMemsetD8_v2",
        "cuMemPrefetchAsync", "cuPointerGetAttribute", "cuPointerGetAttributes", "cuGetExportTable",
        "cuStreamCreate", "cuStreamDestroy_v2", "cuStreamBeginCapture_v2", "cuStreamEndCapture",
        "cuStreamIsCapturing", "cuStreamSynchronize", "cuGetErrorString", "cuCtxDisablePeerAccess",
        "cuCtxEnablePeerAccess", "cuDeviceCanAccessPeer", "cuDriverGetVersion"})
    EXPECT_NE(dlsym(RTLD_DEFAULT, name), nullptr) << name;
}

// What those answer where they cannot do the work: the errors NVIDIA's driver
// gives for the same request on one device without managed memory.
TEST_F(Driver, PeerPrefetchLinkAndLegacyInstantiate) {
  CUcontext ctx = nullptr;
  CU_OK(cuCtxGetCurrent(&ctx));
  EXPECT_EQ(CUDA_ERROR_INVALID_DEVICE, cuCtxEnablePeerAccess(ctx, 0));  // its own device is no peer
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuCtxEnablePeerAccess(ctx, 1));
  EXPECT_EQ(CUDA_ERROR_PEER_ACCESS_NOT_ENABLED, cuCtxDisablePeerAccess(ctx));
  CUdeviceptr p = 0;
  CU_OK(cuMemAlloc(&p, 4096));
  CUmemLocation here{};
  here.type = CU_MEM_LOCATION_TYPE_DEVICE;
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuMemPrefetchAsync(p, 4096, here, 0, nullptr));  // not managed memory
  CUlinkState link = nullptr;
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, cuLinkCreate(0, nullptr, nullptr, &link));
  // The CUDA 11 cuGraphInstantiate (error node, log buffer) by its exported name.
  using Legacy = CUresult (*)(CUgraphExec*, CUgraph, CUgraphNode*, char*, size_t);
  auto legacy = reinterpret_cast<Legacy>(dlsym(RTLD_DEFAULT, "cuGraphInstantiate"));
  ASSERT_NE(legacy, nullptr);
  // (The CPU backend has no capture, so no graph: both forms must give the
  // flags form's answer for one the host never issued.)
  const CUgraph bogus = reinterpret_cast<CUgraph>(uintptr_t{0x1234});
  CUgraphExec x = nullptr;
  char log[16] = "untouched";
  const CUresult want = cuGraphInstantiateWithFlags(&x, bogus, 0);
  EXPECT_NE(CUDA_SUCCESS, want);
  EXPECT_EQ(want, legacy(&x, bogus, nullptr, log, sizeof log));
  EXPECT_STREQ(log, "untouched");
  CU_OK(cuMemFree(p));
}

// cuCtxGetId: unique per context for the process's life, never reused.
TEST_F(Driver, ContextIds) {
  CUcontext cur = nullptr;
  CU_OK(cuCtxGetCurrent(&cur));
  unsigned long long a = 0, b = 0, c = 0, d = 0;
  CU_OK(cuCtxGetId(cur, &a));
  CU_OK(cuCtxGetId(nullptr, &d));  // the current one
  EXPECT_EQ(a, d);
  CUcontext x = nullptr, y = nullptr;
  CU_OK(cuCtxCreate(&x, nullptr, 0, dev_));
  CU_OK(cuCtxGetId(x, &b));
  CU_OK(cuCtxDestroy(x));
  CU_OK(cuCtxCreate(&y, nullptr, 0, dev_));
  CU_OK(cuCtxGetId(y, &c));
  CU_OK(cuCtxDestroy(y));
  EXPECT_NE(a, b);
  EXPECT_NE(b, c) << "an id came back after its context was destroyed";
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuCtxGetId(cur, nullptr));
  CU_OK(cuCtxSetCurrent(cur));
}

// cuStreamWaitValue32/64: forwarded as stream work. The CPU backend runs
// stream work as it arrives, so a condition that already holds lets the
// stream go on and one that does not is refused (it would never be met).
TEST_F(Driver, StreamWaitValue) {
  CUdeviceptr p = 0;
  CU_OK(cuMemAlloc(&p, 64));
  CU_OK(cuMemsetD8(p, 0, 64));
  CUstream s = nullptr;
  CU_OK(cuStreamCreate(&s, 0));
  CU_OK(cuStreamWriteValue32(s, p, 7, 0));
  CU_OK(cuStreamWaitValue32(s, p, 5, CU_STREAM_WAIT_VALUE_GEQ));
  CU_OK(cuStreamWaitValue32(s, p, 7, CU_STREAM_WAIT_VALUE_EQ));
  CU_OK(cuStreamWaitValue32(s, p, 2, CU_STREAM_WAIT_VALUE_AND));
  CU_OK(cuStreamWriteValue64(s, p + 8, 0x100000000ull, 0));
  CU_OK(cuStreamWaitValue64(s, p + 8, 0x100000000ull, CU_STREAM_WAIT_VALUE_EQ));
  CU_OK(cuStreamSynchronize(s));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuStreamWaitValue32(s, p, 1, 0x80));  // unknown flag
  // Never met: refused, reported at the next synchronising call.
  CUresult r = cuStreamWaitValue32(s, p, 8, CU_STREAM_WAIT_VALUE_EQ);
  if (r == CUDA_SUCCESS) r = cuStreamSynchronize(s);
  EXPECT_EQ(CUDA_ERROR_NOT_SUPPORTED, r);
  CU_OK(cuStreamDestroy(s));
  CU_OK(cuMemFree(p));
}

TEST_F(Driver, ErrorStrings) {
  const char* s = nullptr;
  CU_OK(cuGetErrorName(CUDA_ERROR_INVALID_HANDLE, &s));
  EXPECT_STREQ("CUDA_ERROR_INVALID_HANDLE", s);
  CU_OK(cuGetErrorString(CUDA_ERROR_INVALID_HANDLE, &s));
  EXPECT_STREQ("invalid resource handle", s);
  CU_OK(cuGetErrorName(CUDA_SUCCESS, &s));
  EXPECT_STREQ("CUDA_SUCCESS", s);
  CU_OK(cuGetErrorString(CUDA_ERROR_OUT_OF_MEMORY, &s));
  EXPECT_STREQ("out of memory", s);
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuGetErrorName(static_cast<CUresult>(123456), &s));
  EXPECT_EQ(CUDA_ERROR_INVALID_VALUE, cuGetErrorString(static_cast<CUresult>(123456), &s));
}

// ---- many threads: more than the slot's channels, so some share one ---------------

TEST_F(Driver, ManyThreadsCopyConcurrently) {
  const int threads = 12;  // channels per slot: 8 (7 own + 1 shared)
  std::atomic<int> failures{0};
  std::vector<std::string> why(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      auto fail = [&](const std::string& w) {
        why[t] = w;
        failures.fetch_add(1);
      };
      if (cuCtxSetCurrent(ctx_) != CUDA_SUCCESS) return fail("cuCtxSetCurrent");
      CUstream s;
      if (cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS) return fail("cuStreamCreate");
      const size_t max = (t % 3 == 0) ? (3u << 20) + 11 : 70000;
      CUdeviceptr d;
      if (cuMemAlloc(&d, max) != CUDA_SUCCESS) return fail("cuMemAlloc");
      for (int i = 0; i < 12; ++i) {
        const size_t n = 1 + (static_cast<size_t>(t) * 7919 + static_cast<size_t>(i) * 104729) % max;
        const auto in = pattern(n, static_cast<uint64_t>(t) * 1000 + i);
        std::vector<unsigned char> out(n, 0);
        CUresult r;
        if (i % 2) {
          r = cuMemcpyHtoDAsync(d, in.data(), n, s);
          if (r == CUDA_SUCCESS) r = cuMemcpyDtoHAsync(out.data(), d, n, s);
          if (r == CUDA_SUCCESS) r = cuStreamSynchronize(s);
        } else {
          r = cuMemcpyHtoD(d, in.data(), n);
          if (r == CUDA_SUCCESS) r = cuMemcpyDtoH(out.data(), d, n);
        }
        if (r != CUDA_SUCCESS) return fail("copy " + std::to_string(i) + " size " + std::to_string(n) + " -> " + std::to_string(r));
        if (in != out) return fail("data mismatch, copy " + std::to_string(i));
      }
      if (cuMemFree(d) != CUDA_SUCCESS) return fail("cuMemFree");
      if (cuStreamDestroy(s) != CUDA_SUCCESS) return fail("cuStreamDestroy");
    });
  }
  for (auto& t : ts) t.join();
  for (int t = 0; t < threads; ++t) EXPECT_TRUE(why[t].empty()) << "thread " << t << ": " << why[t];
  EXPECT_EQ(0, failures.load());
}

// ---- the host's counters see this guest ------------------------------------------

TEST_F(Driver, HostStatsCountThisGuest) {
  vgpu::e2e::StatsView st;
  std::string err;
  ASSERT_TRUE(st.open(DaemonEnvironment::daemon().stats_path(), &err)) << err;
  const int slot = st.slot_of_guest(getpid());
  ASSERT_GE(slot, 0) << "no active stats slot for this process";
  const auto& s = st.slot(static_cast<uint32_t>(slot));
  EXPECT_EQ(static_cast<uint32_t>(vgpu::BackendKind::kCpu), s.backend.load());
  const uint64_t htod0 = s.bytes_htod.load(), dtoh0 = s.bytes_dtoh.load();
  const uint64_t held0 = s.mem_held.load();
  CUdeviceptr d;
  CU_OK(cuMemAlloc(&d, 3u << 20));
  EXPECT_EQ(held0 + (3u << 20), s.mem_held.load());
  std::vector<unsigned char> buf(1u << 20, 1);
  CU_OK(cuMemcpyHtoD(d, buf.data(), buf.size()));
  CU_OK(cuMemcpyDtoH(buf.data(), d, 4096));
  EXPECT_EQ(htod0 + (1u << 20), s.bytes_htod.load());
  EXPECT_EQ(dtoh0 + 4096, s.bytes_dtoh.load());
  EXPECT_GE(s.mem_peak.load(), held0 + (3u << 20));
  CU_OK(cuMemFree(d));
  EXPECT_EQ(held0, s.mem_held.load());
  EXPECT_GT(s.calls[static_cast<size_t>(vgpu::Op::MemAlloc)].load(), 0u);
}

}  // namespace
