// End to end through the real pieces: a program whose kernels nvcc built
// (cudart_test_kernels.cu), linked against OUR libcudart.so.NN (not
// NVIDIA's), which goes through our libcuda.so.1 and the shared region to a
// real vgpu-hostd started here (CPU backend unless VGPU_TEST_BACKEND says
// otherwise). On the CPU backend kernels and module globals are refused;
// tests that need a GPU skip there, and run with VGPU_TEST_BACKEND=cuda.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cuda.h>  // driver-API enums for the cuPointerGetAttribute checks (the calls go through dlsym)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "cudart_test_kernels.h"
#include "daemon_fixture.h"  // tests/e2e: a real vgpu-hostd for this process
#if VGPU_TEST_CUDART_MAJOR == 12
#include "props12.h"
#endif

#ifndef VGPU_TEST_CUDART_MAJOR
#error "VGPU_TEST_CUDART_MAJOR must be defined"
#endif

namespace {

std::string g_self;     // this executable, for the subprocess checks
std::string g_backend;  // what the daemon was asked for
constexpr uint32_t kArenaMb = 64;  // each guest process' arena (pinned memory, staging), set in main()

#define ASSERT_CUDA(x) ASSERT_EQ((x), cudaSuccess) << cudaGetErrorName(x)
#define EXPECT_CUDA(x) EXPECT_EQ((x), cudaSuccess)

// The device as the runtime describes it, in this flavour's layout.
struct Props {
  char name[256];
  unsigned char uuid[16];
  size_t totalGlobalMem;
  int major, minor, multiProcessorCount, maxThreadsPerBlock, warpSize, pciBusID, pciDeviceID, pciDomainID;
  size_t sharedMemPerBlock, totalConstMem;
  int regsPerBlock, maxThreadsDim[3], maxGridSize[3], l2CacheSize, maxThreadsPerMultiProcessor;
  size_t sharedMemPerMultiprocessor, sharedMemPerBlockOptin;
  int concurrentKernels, asyncEngineCount, unifiedAddressing, memoryBusWidth, cooperativeLaunch, integrated;
  int canMapHostMemory, managedMemory, clusterLaunch;
};

template <class P>
Props copy_props(const P& p) {
  Props o{};
  std::memcpy(o.name, p.name, sizeof o.name);
  std::memcpy(o.uuid, &p.uuid, 16);
  o.totalGlobalMem = p.totalGlobalMem;
  o.major = p.major, o.minor = p.minor, o.multiProcessorCount = p.multiProcessorCount;
  o.maxThreadsPerBlock = p.maxThreadsPerBlock, o.warpSize = p.warpSize;
  o.pciBusID = p.pciBusID, o.pciDeviceID = p.pciDeviceID, o.pciDomainID = p.pciDomainID;
  o.sharedMemPerBlock = p.sharedMemPerBlock, o.totalConstMem = p.totalConstMem, o.regsPerBlock = p.regsPerBlock;
  for (int i = 0; i < 3; ++i) o.maxThreadsDim[i] = p.maxThreadsDim[i], o.maxGridSize[i] = p.maxGridSize[i];
  o.l2CacheSize = p.l2CacheSize, o.maxThreadsPerMultiProcessor = p.maxThreadsPerMultiProcessor;
  o.sharedMemPerMultiprocessor = p.sharedMemPerMultiprocessor, o.sharedMemPerBlockOptin = p.sharedMemPerBlockOptin;
  o.concurrentKernels = p.concurrentKernels, o.asyncEngineCount = p.asyncEngineCount;
  o.unifiedAddressing = p.unifiedAddressing, o.memoryBusWidth = p.memoryBusWidth;
  o.cooperativeLaunch = p.cooperativeLaunch, o.integrated = p.integrated, o.canMapHostMemory = p.canMapHostMemory;
  o.managedMemory = p.managedMemory, o.clusterLaunch = p.clusterLaunch;
  return o;
}

cudaError_t get_props(Props* out) {
#if VGPU_TEST_CUDART_MAJOR >= 13
  cudaDeviceProp p{};
  cudaError_t e = cudaGetDeviceProperties(&p, 0);
#else
  // What a CUDA 12 build calls: cudaGetDeviceProperties_v2 with CUDA 12's layout.
  // Called through the export's own type (UBSan checks calls through
  // pointers); the buffer it fills is CUDA 12's layout.
  using Fn = cudaError_t (*)(cudaDeviceProp*, int);
  static auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "cudaGetDeviceProperties_v2"));
  if (!fn) return cudaErrorSymbolNotFound;
  vgpu::cudart::DeviceProp12 p{};
  cudaError_t e = fn(reinterpret_cast<cudaDeviceProp*>(&p), 0);
#endif
  if (e == cudaSuccess) *out = copy_props(p);
  return e;
}

bool cpu_backend() {
  static const bool cpu = [] {
    Props p{};
    return get_props(&p) == cudaSuccess && std::string(p.name) == "vgpu CPU backend";
  }();
  return cpu;
}

#define SKIP_UNLESS_CPU() \
  if (!cpu_backend()) GTEST_SKIP() << "checks the CPU backend's refusals; the daemon serves a GPU"
#define SKIP_UNLESS_GPU() \
  if (cpu_backend()) GTEST_SKIP() << "needs a GPU behind vgpu-hostd (run with VGPU_TEST_BACKEND=cuda)"

std::vector<unsigned char> random_bytes(size_t n, unsigned seed) {
  std::vector<unsigned char> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

// Runs this program again as `--count-devices` with CUDA_VISIBLE_DEVICES set.
int count_devices_with(const char* visible) {
  std::string cmd = "CUDA_VISIBLE_DEVICES='" + std::string(visible) + "' '" + g_self + "' --count-devices";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return -1;
  char line[256] = {};
  int n = -1, err = -1;
  if (std::fgets(line, sizeof line, f)) std::sscanf(line, "count=%d err=%d", &n, &err);
  pclose(f);
  return n;
}

std::string uuid_string(const unsigned char* u) {
  char s[64];
  std::snprintf(s, sizeof s, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  return s;
}

int host_function_not_a_kernel(int x) { return x + 1; }
int g_plain_host_int = 7;

// ---- the library ---------------------------------------------------------------------------
TEST(Library, IsOursNotNvidias) {
  const std::string soname = "libcudart.so." + std::to_string(VGPU_TEST_CUDART_MAJOR);
  void* h = dlopen(soname.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr) << soname << " is not loaded";
  Dl_info info{};
  ASSERT_NE(dladdr(dlsym(h, "cudaMalloc"), &info), 0);
  char a[PATH_MAX], b[PATH_MAX];
  ASSERT_NE(realpath(info.dli_fname, a), nullptr);
  ASSERT_NE(realpath(VGPU_TEST_CUDART_PATH, b), nullptr);
  EXPECT_STREQ(a, b) << "cudaMalloc comes from " << info.dli_fname;
  // Our libcuda.so.1 (the vgpu client) is what it runs on.
  EXPECT_NE(dlsym(RTLD_DEFAULT, "vgpu_guest_marker"), nullptr);
  dlclose(h);
}

TEST(Library, Versions) {
  int v = 0;
  ASSERT_CUDA(cudaRuntimeGetVersion(&v));
  EXPECT_EQ(v, VGPU_TEST_CUDART_MAJOR == 13 ? 13000 : 12080);
  ASSERT_CUDA(cudaDriverGetVersion(&v));
  EXPECT_GT(v, 0);
}

// ---- registration ------------------------------------------------------------------------------
TEST(Registration, NvccBuiltKernelsAndVariablesAreRegistered) {
  cudaFunction_t f = nullptr;
  // Loads the module (its fatbin goes to the host) and the function.
  ASSERT_CUDA(cudaGetFuncBySymbol(&f, cudart_test::add_stub()));
  EXPECT_NE(f, nullptr);
  ASSERT_CUDA(cudaGetFuncBySymbol(&f, cudart_test::scale_stub()));
  const char* name = nullptr;
  ASSERT_CUDA(cudaFuncGetName(&name, cudart_test::add_stub()));
  EXPECT_NE(std::string(name).find("add_kernel"), std::string::npos) << name;
  cudaKernel_t k = nullptr;
  ASSERT_CUDA(cudaGetKernel(&k, cudart_test::add_stub()));
  EXPECT_NE(k, nullptr);
  size_t off = 0, size = 0;
  const cudaError_t pe = cudaFuncGetParamInfo(cudart_test::add_stub(), 0, &off, &size);
  if (cpu_backend()) EXPECT_EQ(pe, cudaErrorNotSupported);
  else EXPECT_EQ(pe, cudaSuccess);
  cudaGetLastError();

  // Not a kernel: refused as CUDA does, and recorded as the last error.
  EXPECT_EQ(cudaGetFuncBySymbol(&f, reinterpret_cast<const void*>(&host_function_not_a_kernel)),
            cudaErrorInvalidDeviceFunction);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDeviceFunction);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// ---- memory --------------------------------------------------------------------------------------
TEST(Memory, RoundTripsOfManySizes) {
  const size_t sizes[] = {1,      2,       3,           7,           64,          255,          4095,
                          4096,   4097,    65536 + 13,  (1u << 20) + 1, 2u << 20, (2u << 20) + 5, (8u << 20) + 3,
                          (17u << 20) + 11};
  unsigned seed = 1;
  for (size_t n : sizes) {
    SCOPED_TRACE("bytes=" + std::to_string(n));
    const auto src = random_bytes(n, seed++);
    void *d = nullptr, *d2 = nullptr;
    ASSERT_CUDA(cudaMalloc(&d, n));
    ASSERT_CUDA(cudaMalloc(&d2, n));
    ASSERT_CUDA(cudaMemcpy(d, src.data(), n, cudaMemcpyHostToDevice));
    std::vector<unsigned char> back(n, 0);
    ASSERT_CUDA(cudaMemcpy(back.data(), d, n, cudaMemcpyDeviceToHost));
    EXPECT_EQ(std::memcmp(back.data(), src.data(), n), 0);
    // Device to device, then back with cudaMemcpyDefault (pointers classified).
    ASSERT_CUDA(cudaMemcpy(d2, d, n, cudaMemcpyDeviceToDevice));
    std::vector<unsigned char> back2(n, 0);
    ASSERT_CUDA(cudaMemcpy(back2.data(), d2, n, cudaMemcpyDefault));
    EXPECT_EQ(std::memcmp(back2.data(), src.data(), n), 0);
    ASSERT_CUDA(cudaFree(d));
    ASSERT_CUDA(cudaFree(d2));
  }
}

TEST(Memory, DefaultKindAndHostToHost) {
  const auto src = random_bytes(10000, 42);
  void* d = nullptr;
  ASSERT_CUDA(cudaMalloc(&d, src.size()));
  ASSERT_CUDA(cudaMemcpy(d, src.data(), src.size(), cudaMemcpyDefault));
  std::vector<unsigned char> back(src.size()), hh(src.size());
  ASSERT_CUDA(cudaMemcpy(back.data(), d, back.size(), cudaMemcpyDefault));
  EXPECT_EQ(back, src);
  ASSERT_CUDA(cudaMemcpy(hh.data(), src.data(), hh.size(), cudaMemcpyHostToHost));
  EXPECT_EQ(hh, src);
  EXPECT_EQ(cudaMemcpy(hh.data(), d, 16, static_cast<cudaMemcpyKind>(17)), cudaErrorInvalidMemcpyDirection);
  cudaGetLastError();
  ASSERT_CUDA(cudaFree(d));
}

TEST(Memory, ZeroSizesNullAndBadPointers) {
  void* p = reinterpret_cast<void*>(0x1);
  ASSERT_CUDA(cudaMalloc(&p, 0));
  EXPECT_EQ(p, nullptr);
  EXPECT_CUDA(cudaFree(nullptr));
  EXPECT_CUDA(cudaFreeHost(nullptr));
  int on_stack = 0;
  EXPECT_NE(cudaFree(&on_stack), cudaSuccess);
  EXPECT_NE(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(Memory, PinnedMemoryAsyncCopies) {
  const size_t n = (1u << 20) + 17;
  unsigned char *a = nullptr, *b = nullptr;
  ASSERT_CUDA(cudaMallocHost(reinterpret_cast<void**>(&a), n));
  ASSERT_CUDA(cudaHostAlloc(reinterpret_cast<void**>(&b), n, cudaHostAllocPortable));
  unsigned flags = 99;
  ASSERT_CUDA(cudaHostGetFlags(&flags, b));
  EXPECT_EQ(flags, unsigned(cudaHostAllocPortable));
  const auto src = random_bytes(n, 7);
  std::memcpy(a, src.data(), n);
  std::memset(b, 0, n);
  void* d = nullptr;
  ASSERT_CUDA(cudaMalloc(&d, n));
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreate(&s));
  ASSERT_CUDA(cudaMemcpyAsync(d, a, n, cudaMemcpyHostToDevice, s));
  ASSERT_CUDA(cudaMemcpyAsync(b, d, n, cudaMemcpyDeviceToHost, s));
  ASSERT_CUDA(cudaStreamSynchronize(s));
  EXPECT_EQ(std::memcmp(b, src.data(), n), 0);

  cudaPointerAttributes at{};
  ASSERT_CUDA(cudaPointerGetAttributes(&at, a));
  EXPECT_EQ(at.type, cudaMemoryTypeHost);
  EXPECT_EQ(at.hostPointer, a);
  ASSERT_CUDA(cudaPointerGetAttributes(&at, d));
  EXPECT_EQ(at.type, cudaMemoryTypeDevice);
  EXPECT_EQ(at.devicePointer, d);
  ASSERT_CUDA(cudaPointerGetAttributes(&at, &flags));
  EXPECT_EQ(at.type, cudaMemoryTypeUnregistered);

  // Unified addressing: pinned memory's device address is its host pointer
  // (the worker maps the slot at this process' address for it; the daemon
  // runs on this machine, where that address is free in the worker).
  void* dp = nullptr;
  ASSERT_CUDA(cudaHostGetDevicePointer(&dp, a, 0));
  EXPECT_EQ(dp, a);
  void* m = nullptr;
  ASSERT_CUDA(cudaHostAlloc(&m, 4096, cudaHostAllocMapped));
  ASSERT_CUDA(cudaHostGetDevicePointer(&dp, m, 0));
  EXPECT_EQ(dp, m);
  // ... and the device reaches it there: a device-to-device copy into it.
  ASSERT_CUDA(cudaMemcpy(m, d, 64, cudaMemcpyDeviceToDevice));
  EXPECT_EQ(std::memcmp(m, src.data(), 64), 0);
  ASSERT_CUDA(cudaFreeHost(m));
  ASSERT_CUDA(cudaStreamDestroy(s));
  ASSERT_CUDA(cudaFree(d));
  ASSERT_CUDA(cudaFreeHost(a));
  ASSERT_CUDA(cudaFreeHost(b));
  EXPECT_NE(cudaFreeHost(a), cudaSuccess);  // already freed
  cudaGetLastError();
}

// ---- pinned memory the arena cannot hold -----------------------------------------------------
// Real CUDA pins any size the machine can; our pinned memory lives in the
// process' arena (kArenaMb). Beyond it the allocation still succeeds, with
// ordinary memory whose copies are staged: every API must then agree that it
// is pinned host memory, copies through it must be exact, and it frees.
template <class F>
F driver_fn(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));  // our libcuda.so.1, loaded by our libcudart
}

// cuFuncSetCacheConfig (NVIDIA's runtime and JAX call it) becomes the
// function's shared-memory carveout on the host.
TEST(Functions, CacheConfigSetsTheSharedMemoryCarveout) {
  SKIP_UNLESS_GPU();
  cudaFunction_t f = nullptr;
  ASSERT_CUDA(cudaGetFuncBySymbol(&f, cudart_test::add_stub()));
  auto set = driver_fn<CUresult (*)(CUfunction, CUfunc_cache)>("cuFuncSetCacheConfig");
  auto get = driver_fn<CUresult (*)(int*, CUfunction_attribute, CUfunction)>("cuFuncGetAttribute");
  ASSERT_TRUE(set && get);
  auto fn = reinterpret_cast<CUfunction>(f);
  int carveout = -7;
  ASSERT_EQ(set(fn, CU_FUNC_CACHE_PREFER_SHARED), CUDA_SUCCESS);
  ASSERT_EQ(get(&carveout, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, fn), CUDA_SUCCESS);
  EXPECT_EQ(carveout, 100);
  ASSERT_EQ(set(fn, CU_FUNC_CACHE_PREFER_L1), CUDA_SUCCESS);
  ASSERT_EQ(get(&carveout, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, fn), CUDA_SUCCESS);
  EXPECT_EQ(carveout, 0);
  EXPECT_EQ(set(fn, static_cast<CUfunc_cache>(9)), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(set(fn, CU_FUNC_CACHE_PREFER_NONE), CUDA_SUCCESS);
}

TEST(Memory, PinnedBeyondTheArena) {
  const size_t n = (size_t(kArenaMb) << 20) + (16u << 20) + 123;  // cannot be in the arena
  unsigned char *h = nullptr, *back = nullptr;
  ASSERT_CUDA(cudaMallocHost(reinterpret_cast<void**>(&h), n));
  ASSERT_CUDA(cudaHostAlloc(reinterpret_cast<void**>(&back), n, cudaHostAllocPortable));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(h) % 4096, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(back) % 4096, 0u);

  // What the runtime says about it.
  unsigned flags = 99;
  ASSERT_CUDA(cudaHostGetFlags(&flags, back));
  EXPECT_EQ(flags, unsigned(cudaHostAllocPortable));
  ASSERT_CUDA(cudaHostGetFlags(&flags, h + n - 1));  // any byte of the allocation
  EXPECT_EQ(flags, unsigned(cudaHostAllocDefault));
  cudaPointerAttributes at{};
  ASSERT_CUDA(cudaPointerGetAttributes(&at, h + 4096));
  EXPECT_EQ(at.type, cudaMemoryTypeHost);
  EXPECT_EQ(at.hostPointer, h + 4096);
  EXPECT_EQ(at.devicePointer, nullptr);  // no device address outside the arena, on any backend
  void* dp = nullptr;
  EXPECT_EQ(cudaHostGetDevicePointer(&dp, h, 0), cudaErrorNotSupported);  // refused, not faked
  EXPECT_EQ(cudaHostRegister(h + 8192, 4096, cudaHostRegisterDefault), cudaErrorHostMemoryAlreadyRegistered);
  EXPECT_EQ(cudaHostAlloc(&dp, n, cudaHostAllocMapped), cudaErrorMemoryAllocation);
  cudaGetLastError();

  // ... and the driver API.
  using GetAttr = CUresult (*)(void*, CUpointer_attribute, CUdeviceptr);
  using GetFlags = CUresult (*)(unsigned int*, void*);
  auto get_attr = driver_fn<GetAttr>("cuPointerGetAttribute");
  auto get_flags = driver_fn<GetFlags>("cuMemHostGetFlags");
  ASSERT_NE(get_attr, nullptr);
  ASSERT_NE(get_flags, nullptr);
  const auto inner = reinterpret_cast<CUdeviceptr>(h + 100);
  unsigned type = 0;
  ASSERT_EQ(get_attr(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, inner), CUDA_SUCCESS);
  EXPECT_EQ(type, unsigned(CU_MEMORYTYPE_HOST));
  void* hp = nullptr;
  ASSERT_EQ(get_attr(&hp, CU_POINTER_ATTRIBUTE_HOST_POINTER, inner), CUDA_SUCCESS);
  EXPECT_EQ(hp, h + 100);
  CUdeviceptr start = 0;
  size_t size = 0;
  ASSERT_EQ(get_attr(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, inner), CUDA_SUCCESS);
  ASSERT_EQ(get_attr(&size, CU_POINTER_ATTRIBUTE_RANGE_SIZE, inner), CUDA_SUCCESS);
  EXPECT_EQ(start, reinterpret_cast<CUdeviceptr>(h));
  EXPECT_EQ(size, n);
  CUdeviceptr dev_addr = 0;
  EXPECT_EQ(get_attr(&dev_addr, CU_POINTER_ATTRIBUTE_DEVICE_POINTER, inner), CUDA_ERROR_NOT_SUPPORTED);
  int plain = 0;
  EXPECT_EQ(get_attr(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, reinterpret_cast<CUdeviceptr>(&plain)),
            CUDA_ERROR_INVALID_VALUE);  // pageable memory is not CUDA's
  unsigned cu_flags = 99;
  ASSERT_EQ(get_flags(&cu_flags, h), CUDA_SUCCESS);
  EXPECT_EQ(cu_flags, unsigned(CU_MEMHOSTALLOC_PORTABLE));
  EXPECT_EQ(get_flags(&cu_flags, &plain), CUDA_ERROR_INVALID_VALUE);

  // Copies through it, both ways, synchronous and on a stream: byte-exact.
  const auto src = random_bytes(n, 2024);
  std::memcpy(h, src.data(), n);
  std::memset(back, 0, n);
  unsigned char* d = nullptr;
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&d), n));
  ASSERT_CUDA(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice));
  ASSERT_CUDA(cudaMemcpy(back, d, n, cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::memcmp(back, src.data(), n), 0);

  for (size_t i = 0; i < n; ++i) h[i] = static_cast<unsigned char>(~src[i]);
  std::memset(back, 0, n);
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreate(&s));
  ASSERT_CUDA(cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, s));
  ASSERT_CUDA(cudaMemcpyAsync(back, d, n, cudaMemcpyDefault, s));
  ASSERT_CUDA(cudaStreamSynchronize(s));
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(back[i], static_cast<unsigned char>(~src[i])) << "at " << i;

  // An unaligned piece in the middle, into the other allocation at another offset.
  const size_t off = (3u << 20) + 5, len = (5u << 20) + 77;
  ASSERT_CUDA(cudaMemcpy(d + 11, h + off, len, cudaMemcpyHostToDevice));
  std::memset(back, 0xee, n);
  ASSERT_CUDA(cudaMemcpy(back + 1, d + 11, len, cudaMemcpyDeviceToHost));
  EXPECT_EQ(back[0], 0xee);
  EXPECT_EQ(std::memcmp(back + 1, h + off, len), 0);
  EXPECT_EQ(back[len + 1], 0xee);

  ASSERT_CUDA(cudaStreamDestroy(s));
  ASSERT_CUDA(cudaFree(d));
  ASSERT_CUDA(cudaFreeHost(h));
  ASSERT_CUDA(cudaFreeHost(back));
  EXPECT_NE(cudaFreeHost(h), cudaSuccess);  // already freed
  EXPECT_EQ(get_flags(&cu_flags, h), CUDA_ERROR_INVALID_VALUE);
  cudaGetLastError();
}

// Many pinned buffers that together overflow the arena: the first ones land
// in it, the rest outside, and every copy is exact, also from a thread whose
// channel has no staging chunks yet (pinned memory may not take the arena
// bytes those need).
TEST(Memory, PinnedAllocationsOverflowingTheArena) {
  constexpr int kBufs = 6;
  const size_t n = (16u << 20) + 4099;  // 6 x 16 MiB: more than the arena holds
  std::vector<unsigned char*> pins(kBufs, nullptr);
  std::vector<std::vector<unsigned char>> want;
  for (int i = 0; i < kBufs; ++i) {
    ASSERT_CUDA(cudaHostAlloc(reinterpret_cast<void**>(&pins[i]), n, cudaHostAllocDefault)) << "buffer " << i;
    want.push_back(random_bytes(n, 300 + i));
    std::memcpy(pins[i], want[i].data(), n);
  }
  unsigned char* d = nullptr;
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&d), n * kBufs));
  std::vector<cudaError_t> errs;
  std::thread t([&] {
    // Up to the device from each buffer, then back down into the next one.
    for (int i = 0; i < kBufs; ++i) errs.push_back(cudaMemcpy(d + i * n, pins[i], n, cudaMemcpyHostToDevice));
    for (int i = 0; i < kBufs; ++i)
      errs.push_back(cudaMemcpy(pins[(i + 1) % kBufs], d + i * n, n, cudaMemcpyDeviceToHost));
  });
  t.join();
  for (size_t k = 0; k < errs.size(); ++k) EXPECT_EQ(errs[k], cudaSuccess) << "copy " << k;
  for (int i = 0; i < kBufs; ++i)
    EXPECT_EQ(std::memcmp(pins[(i + 1) % kBufs], want[i].data(), n), 0) << "buffer " << (i + 1) % kBufs;
  ASSERT_CUDA(cudaFree(d));
  for (int i = 0; i < kBufs; ++i) ASSERT_CUDA(cudaFreeHost(pins[i])) << "buffer " << i;
}

// Users are told once per process that pinned memory went outside the arena
// (with the size), so slower copies have an explanation.
TEST(Memory, PinnedFallbackIsAnnouncedOnce) {
  const std::string cmd = "'" + g_self + "' --pinned-beyond-arena 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  for (size_t k; (k = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, k);
  pclose(f);
  EXPECT_NE(out.find("pinned alloc=0,0 free=0,0"), std::string::npos) << out;
  const std::string note = "pinned host allocation of " + std::to_string((size_t(kArenaMb) + 16) << 20) + " bytes";
  const size_t at = out.find(note);
  EXPECT_NE(at, std::string::npos) << out;
  if (at != std::string::npos) {
    EXPECT_EQ(out.find("pinned host allocation", at + 1), std::string::npos) << out;
  }
}

// Stream-ordered allocation and pools (NCCL 2.28 makes a pool at every
// communicator's init; cudaMallocAsync allocators use the device's).
TEST(Memory, StreamOrderedAllocationAndPools) {
  const auto src = random_bytes(300000, 11);
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreate(&s));
  void* p = nullptr;
  ASSERT_CUDA(cudaMallocAsync(&p, src.size(), s));
  std::vector<unsigned char> back(src.size());
  ASSERT_CUDA(cudaMemcpyAsync(p, src.data(), src.size(), cudaMemcpyHostToDevice, s));
  ASSERT_CUDA(cudaMemcpyAsync(back.data(), p, back.size(), cudaMemcpyDeviceToHost, s));
  ASSERT_CUDA(cudaFreeAsync(p, s));
  ASSERT_CUDA(cudaStreamSynchronize(s));
  EXPECT_EQ(back, src);

  cudaMemPool_t def = nullptr, cur = nullptr;
  ASSERT_CUDA(cudaDeviceGetDefaultMemPool(&def, 0));
  ASSERT_CUDA(cudaDeviceGetMemPool(&cur, 0));
  EXPECT_NE(def, nullptr);
  EXPECT_EQ(cur, def);
  EXPECT_EQ(cudaDeviceGetDefaultMemPool(&def, 7), cudaErrorInvalidDevice);
  cudaGetLastError();

  cudaMemPoolProps props{};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = 0;
  cudaMemPool_t pool = nullptr;
  ASSERT_CUDA(cudaMemPoolCreate(&pool, &props));
  uint64_t threshold = ~0ull, v = 1;
  ASSERT_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  int reuse = 0, back_reuse = 1;  // an int attribute, read as an int
  ASSERT_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolReuseAllowOpportunistic, &reuse));
  ASSERT_CUDA(cudaMemPoolGetAttribute(pool, cudaMemPoolReuseAllowOpportunistic, &back_reuse));
  EXPECT_EQ(back_reuse, 0);
  ASSERT_CUDA(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &v));
  EXPECT_EQ(v, ~0ull);
  void* q = nullptr;
  ASSERT_CUDA(cudaMallocFromPoolAsync(&q, 1 << 20, pool, s));
  ASSERT_CUDA(cudaMemsetAsync(q, 0x3c, 1 << 20, s));
  ASSERT_CUDA(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &v));
  EXPECT_EQ(v, 1u << 20);
  cudaMemAccessDesc own{};
  own.location.type = cudaMemLocationTypeDevice;
  own.location.id = 0;
  own.flags = cudaMemAccessFlagsProtReadWrite;
  ASSERT_CUDA(cudaMemPoolSetAccess(pool, &own, 1));
  cudaMemAccessFlags flags = cudaMemAccessFlagsProtNone;
  cudaMemLocation loc = own.location;
  ASSERT_CUDA(cudaMemPoolGetAccess(&flags, pool, &loc));
  EXPECT_EQ(flags, cudaMemAccessFlagsProtReadWrite);
  // The device's pool becomes this one: cudaMallocAsync draws from it.
  ASSERT_CUDA(cudaDeviceSetMemPool(0, pool));
  void* r = nullptr;
  ASSERT_CUDA(cudaMallocAsync(&r, 4096, s));
  ASSERT_CUDA(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &v));
  EXPECT_EQ(v, (1u << 20) + 4096);
  ASSERT_CUDA(cudaFreeAsync(r, s));
  // Destroyed with an allocation outstanding: the allocation lives on.
  ASSERT_CUDA(cudaMemPoolDestroy(pool));
  ASSERT_CUDA(cudaDeviceGetMemPool(&cur, 0));
  EXPECT_EQ(cur, def);
  std::vector<unsigned char> b2(1 << 20);
  ASSERT_CUDA(cudaMemcpyAsync(b2.data(), q, b2.size(), cudaMemcpyDeviceToHost, s));
  ASSERT_CUDA(cudaStreamSynchronize(s));
  EXPECT_EQ(b2.front(), 0x3c);
  EXPECT_EQ(b2.back(), 0x3c);
  ASSERT_CUDA(cudaFreeAsync(q, s));
  EXPECT_NE(cudaMallocFromPoolAsync(&q, 64, pool, s), cudaSuccess);  // the pool is gone
  cudaGetLastError();

  // Refused, not faked: pools other processes could import, and host memory.
  props.handleTypes = cudaMemHandleTypePosixFileDescriptor;
  EXPECT_EQ(cudaMemPoolCreate(&pool, &props), cudaErrorNotSupported);
  props.handleTypes = cudaMemHandleTypeNone;
  props.location.type = cudaMemLocationTypeHost;
  EXPECT_EQ(cudaMemPoolCreate(&pool, &props), cudaErrorNotSupported);
  cudaGetLastError();
  ASSERT_CUDA(cudaStreamDestroy(s));
}

TEST(Memory, Memsets) {
  const size_t n = 100000;
  unsigned char* d = nullptr;
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&d), n));
  ASSERT_CUDA(cudaMemset(d, 0xab, n));
  ASSERT_CUDA(cudaMemset(d + 100, 0x11, 50));
  // cudaMemset may return before the device is done, and a non-blocking
  // stream is not ordered after the legacy stream: wait, as a real program must.
  ASSERT_CUDA(cudaDeviceSynchronize());
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  ASSERT_CUDA(cudaMemsetAsync(d + 1000, 0x22, 10, s));
  ASSERT_CUDA(cudaStreamSynchronize(s));
  std::vector<unsigned char> back(n);
  ASSERT_CUDA(cudaMemcpy(back.data(), d, n, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < n; ++i) {
    const unsigned char want = (i >= 100 && i < 150) ? 0x11 : (i >= 1000 && i < 1010) ? 0x22 : 0xab;
    ASSERT_EQ(back[i], want) << "at " << i;
  }
  // 2-D: 7 rows of 33 bytes in rows of pitch 64.
  ASSERT_CUDA(cudaMemset(d, 0, 64 * 7));
  ASSERT_CUDA(cudaMemset2D(d, 64, 0x5c, 33, 7));
  ASSERT_CUDA(cudaMemcpy(back.data(), d, 64 * 7, cudaMemcpyDeviceToHost));
  for (size_t y = 0; y < 7; ++y)
    for (size_t x = 0; x < 64; ++x) ASSERT_EQ(back[y * 64 + x], x < 33 ? 0x5c : 0) << y << "," << x;
  ASSERT_CUDA(cudaStreamDestroy(s));
  ASSERT_CUDA(cudaFree(d));
}

TEST(Memory, PitchedAnd2DCopies) {
  const size_t w = 100, h = 37;
  void* d = nullptr;
  size_t pitch = 0;
  ASSERT_CUDA(cudaMallocPitch(&d, &pitch, w, h));
  EXPECT_GE(pitch, w);
  const auto src = random_bytes(w * h, 3);
  ASSERT_CUDA(cudaMemcpy2D(d, pitch, src.data(), w, w, h, cudaMemcpyHostToDevice));
  std::vector<unsigned char> back(w * h);
  ASSERT_CUDA(cudaMemcpy2D(back.data(), w, d, pitch, w, h, cudaMemcpyDeviceToHost));
  EXPECT_EQ(back, src);
  // From pinned memory, asynchronously, into a second pitched buffer.
  unsigned char* pin = nullptr;
  ASSERT_CUDA(cudaMallocHost(reinterpret_cast<void**>(&pin), w * h));
  std::memcpy(pin, src.data(), w * h);
  void* d2 = nullptr;
  size_t pitch2 = 0;
  ASSERT_CUDA(cudaMallocPitch(&d2, &pitch2, w, h));
  ASSERT_CUDA(cudaMemcpy2DAsync(d2, pitch2, pin, w, w, h, cudaMemcpyHostToDevice, nullptr));
  ASSERT_CUDA(cudaStreamSynchronize(nullptr));  // the copy reads `pin` until then
  std::memset(pin, 0, w * h);
  ASSERT_CUDA(cudaMemcpy2DAsync(pin, w, d2, pitch2, w, h, cudaMemcpyDeviceToHost, nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  EXPECT_EQ(std::memcmp(pin, src.data(), w * h), 0);
  EXPECT_EQ(cudaMemcpy2D(back.data(), 10, d, pitch, w, h, cudaMemcpyDeviceToHost), cudaErrorInvalidPitchValue);
  cudaGetLastError();
  ASSERT_CUDA(cudaFreeHost(pin));
  ASSERT_CUDA(cudaFree(d));
  ASSERT_CUDA(cudaFree(d2));
}

// 3-D copies of pitched memory: two slices at offsets, a peer copy of one
// slice the way ggml's cross-device copy (Ollama's build) makes it, and a
// 3-D memset.
cudaExtent make_cudaExtent(size_t w, size_t h, size_t d) { return cudaExtent{w, h, d}; }
cudaPos make_cudaPos(size_t x, size_t y, size_t z) { return cudaPos{x, y, z}; }
cudaPitchedPtr make_cudaPitchedPtr(void* p, size_t pitch, size_t xsize, size_t ysize) { return cudaPitchedPtr{p, pitch, xsize, ysize}; }
TEST(Memory, ThreeDimensionalCopiesAndMemsets) {
  const size_t w = 48, h = 5, depth = 2;
  cudaPitchedPtr d{};
  ASSERT_CUDA(cudaMalloc3D(&d, make_cudaExtent(w, h, depth)));
  ASSERT_GE(d.pitch, w);
  const auto src = random_bytes(w * h * depth, 21);
  cudaMemcpy3DParms up{};
  up.srcPtr = make_cudaPitchedPtr(const_cast<unsigned char*>(src.data()), w, w, h);
  up.dstPtr = d;
  up.extent = make_cudaExtent(w, h, depth);
  up.kind = cudaMemcpyHostToDevice;
  ASSERT_CUDA(cudaMemcpy3D(&up));
  // Back, from slice 1 row 2 byte 8 on: a 16 x 3 x 1 box.
  std::vector<unsigned char> box(16 * 3, 0);
  cudaMemcpy3DParms down{};
  down.srcPtr = d;
  down.srcPos = make_cudaPos(8, 2, 1);
  down.dstPtr = make_cudaPitchedPtr(box.data(), 16, 16, 3);
  down.extent = make_cudaExtent(16, 3, 1);
  down.kind = cudaMemcpyDeviceToHost;
  ASSERT_CUDA(cudaMemcpy3DAsync(&down, nullptr));
  ASSERT_CUDA(cudaStreamSynchronize(nullptr));
  for (size_t y = 0; y < 3; ++y)
    for (size_t x = 0; x < 16; ++x) ASSERT_EQ(box[y * 16 + x], src[(1 * h + 2 + y) * w + 8 + x]) << x << "," << y;
  // A peer copy of slice 0 into a second buffer, then all of it back.
  cudaPitchedPtr e{};
  ASSERT_CUDA(cudaMalloc3D(&e, make_cudaExtent(w, h, 1)));
  cudaMemcpy3DPeerParms peer{};
  peer.srcPtr = make_cudaPitchedPtr(d.ptr, d.pitch, d.pitch, h);
  peer.dstPtr = make_cudaPitchedPtr(e.ptr, e.pitch, e.pitch, h);
  peer.extent = make_cudaExtent(w, h, 1);
  ASSERT_CUDA(cudaMemcpy3DPeerAsync(&peer, nullptr));
  std::vector<unsigned char> back(w * h);
  ASSERT_CUDA(cudaMemcpy2D(back.data(), w, e.ptr, e.pitch, w, h, cudaMemcpyDeviceToHost));
  EXPECT_TRUE(std::equal(back.begin(), back.end(), src.begin()));
  peer.dstDevice = 1;
  EXPECT_EQ(cudaMemcpy3DPeer(&peer), cudaErrorInvalidDevice);
  cudaGetLastError();
  // Memset of the second slice only.
  cudaPitchedPtr slice1 = d;
  slice1.ptr = static_cast<char*>(d.ptr) + d.pitch * h;
  ASSERT_CUDA(cudaMemset3D(slice1, 0x5a, make_cudaExtent(w, h, 1)));
  std::vector<unsigned char> all(w * h * depth);
  cudaMemcpy3DParms all_down{};
  all_down.srcPtr = d;
  all_down.dstPtr = make_cudaPitchedPtr(all.data(), w, w, h);
  all_down.extent = make_cudaExtent(w, h, depth);
  all_down.kind = cudaMemcpyDeviceToHost;
  ASSERT_CUDA(cudaMemcpy3D(&all_down));
  EXPECT_TRUE(std::equal(all.begin(), all.begin() + w * h, src.begin()));
  EXPECT_TRUE(std::all_of(all.begin() + w * h, all.end(), [](unsigned char c) { return c == 0x5a; }));
  ASSERT_CUDA(cudaFree(d.ptr));
  ASSERT_CUDA(cudaFree(e.ptr));
}

TEST(Memory, HostRegister) {
  std::vector<unsigned char> buf = random_bytes(300000, 11);
  ASSERT_CUDA(cudaHostRegister(buf.data(), buf.size(), cudaHostRegisterPortable));
  EXPECT_EQ(cudaHostRegister(buf.data() + 10, 100, 0), cudaErrorHostMemoryAlreadyRegistered);
  cudaPointerAttributes at{};
  ASSERT_CUDA(cudaPointerGetAttributes(&at, buf.data() + 5));
  EXPECT_EQ(at.type, cudaMemoryTypeHost);
  void* dp = nullptr;
  EXPECT_EQ(cudaHostGetDevicePointer(&dp, buf.data(), 0), cudaErrorNotSupported);
  // Copies from and to the registered range work.
  void* d = nullptr;
  ASSERT_CUDA(cudaMalloc(&d, buf.size()));
  ASSERT_CUDA(cudaMemcpyAsync(d, buf.data(), buf.size(), cudaMemcpyHostToDevice, nullptr));
  std::vector<unsigned char> copy = buf;
  std::memset(buf.data(), 0, buf.size());
  ASSERT_CUDA(cudaMemcpyAsync(buf.data(), d, buf.size(), cudaMemcpyDeviceToHost, nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  EXPECT_EQ(buf, copy);
  ASSERT_CUDA(cudaHostUnregister(buf.data()));
  EXPECT_EQ(cudaHostUnregister(buf.data()), cudaErrorHostMemoryNotRegistered);
  // A device mapping of guest pages cannot be given: refused.
  EXPECT_EQ(cudaHostRegister(buf.data(), buf.size(), cudaHostRegisterMapped), cudaErrorNotSupported);
  cudaGetLastError();
  ASSERT_CUDA(cudaFree(d));
}

TEST(Memory, ManagedMemoryRefused) {
  void* p = nullptr;
  EXPECT_EQ(cudaMallocManaged(&p, 4096, cudaMemAttachGlobal), cudaErrorNotSupported);
  EXPECT_EQ(cudaGetLastError(), cudaErrorNotSupported);
}

TEST(Memory, InfoAndPeerCopies) {
  size_t free_b = 0, total_b = 0;
  ASSERT_CUDA(cudaMemGetInfo(&free_b, &total_b));
  EXPECT_GT(total_b, 0u);
  EXPECT_LE(free_b, total_b);
  Props p{};
  ASSERT_CUDA(get_props(&p));
  EXPECT_EQ(p.totalGlobalMem, total_b);

  const auto src = random_bytes(5000, 5);
  void *a = nullptr, *b = nullptr;
  ASSERT_CUDA(cudaMalloc(&a, src.size()));
  ASSERT_CUDA(cudaMalloc(&b, src.size()));
  ASSERT_CUDA(cudaMemcpy(a, src.data(), src.size(), cudaMemcpyHostToDevice));
  ASSERT_CUDA(cudaMemcpyPeer(b, 0, a, 0, src.size()));
  std::vector<unsigned char> back(src.size());
  ASSERT_CUDA(cudaMemcpy(back.data(), b, back.size(), cudaMemcpyDeviceToHost));
  EXPECT_EQ(back, src);
  EXPECT_EQ(cudaMemcpyPeer(b, 1, a, 0, 16), cudaErrorInvalidDevice);
  cudaGetLastError();
  ASSERT_CUDA(cudaFree(a));
  ASSERT_CUDA(cudaFree(b));
}

// ---- streams and events -------------------------------------------------------------------------
TEST(Streams, EventsOrderWorkAcrossStreams) {
  const size_t n = 4u << 20;
  unsigned char* pin = nullptr;
  ASSERT_CUDA(cudaMallocHost(reinterpret_cast<void**>(&pin), n));
  const auto src = random_bytes(n, 21);
  std::memcpy(pin, src.data(), n);
  void *d1 = nullptr, *d2 = nullptr;
  ASSERT_CUDA(cudaMalloc(&d1, n));
  ASSERT_CUDA(cudaMalloc(&d2, n));
  cudaStream_t s1 = nullptr, s2 = nullptr;
  ASSERT_CUDA(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
  ASSERT_CUDA(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  cudaEvent_t start = nullptr, copied = nullptr, done = nullptr;
  ASSERT_CUDA(cudaEventCreate(&start));
  ASSERT_CUDA(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
  ASSERT_CUDA(cudaEventCreate(&done));
  ASSERT_CUDA(cudaEventRecord(start, s1));
  ASSERT_CUDA(cudaMemcpyAsync(d1, pin, n, cudaMemcpyHostToDevice, s1));
  ASSERT_CUDA(cudaEventRecord(copied, s1));
  ASSERT_CUDA(cudaStreamWaitEvent(s2, copied, 0));
  ASSERT_CUDA(cudaMemcpyAsync(d2, d1, n, cudaMemcpyDeviceToDevice, s2));
  ASSERT_CUDA(cudaMemsetAsync(d1, 0, n, s2));  // after the copy out of d1, in s2's order
  ASSERT_CUDA(cudaEventRecord(done, s2));
  ASSERT_CUDA(cudaEventSynchronize(done));
  EXPECT_EQ(cudaEventQuery(done), cudaSuccess);
  EXPECT_EQ(cudaStreamQuery(s2), cudaSuccess);
  float ms = -1;
  ASSERT_CUDA(cudaEventElapsedTime(&ms, start, done));
  EXPECT_GE(ms, 0.0f);
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, copied), cudaErrorInvalidResourceHandle);  // timing disabled
  cudaGetLastError();
  std::vector<unsigned char> back(n), zeros(n);
  ASSERT_CUDA(cudaMemcpy(back.data(), d2, n, cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::memcmp(back.data(), src.data(), n), 0);
  ASSERT_CUDA(cudaMemcpy(zeros.data(), d1, n, cudaMemcpyDeviceToHost));
  EXPECT_TRUE(std::all_of(zeros.begin(), zeros.end(), [](unsigned char c) { return c == 0; }));
  for (cudaEvent_t e : {start, copied, done}) ASSERT_CUDA(cudaEventDestroy(e));
  ASSERT_CUDA(cudaStreamDestroy(s1));
  ASSERT_CUDA(cudaStreamDestroy(s2));
  ASSERT_CUDA(cudaFree(d1));
  ASSERT_CUDA(cudaFree(d2));
  ASSERT_CUDA(cudaFreeHost(pin));
}

TEST(Streams, BuiltinStreamsAreRealStreams) {
  const auto src = random_bytes(70000, 8);
  void* d = nullptr;
  ASSERT_CUDA(cudaMalloc(&d, src.size()));
  for (cudaStream_t s : {static_cast<cudaStream_t>(nullptr), cudaStreamLegacy, cudaStreamPerThread}) {
    std::vector<unsigned char> back(src.size());
    ASSERT_CUDA(cudaMemcpyAsync(d, src.data(), src.size(), cudaMemcpyHostToDevice, s));
    ASSERT_CUDA(cudaMemcpyAsync(back.data(), d, back.size(), cudaMemcpyDeviceToHost, s));
    ASSERT_CUDA(cudaStreamSynchronize(s));
    EXPECT_EQ(cudaStreamQuery(s), cudaSuccess);
    EXPECT_EQ(back, src);
  }
  EXPECT_EQ(cudaStreamDestroy(cudaStreamPerThread), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
  ASSERT_CUDA(cudaFree(d));
}

// A host function runs after the stream's earlier work and before its later
// work: it sees what a copy before it brought back, and a copy after it sends
// what it wrote. The caller does not wait for it (on the GPU; the CPU backend
// runs it in the call, after the stream's work).
struct HostFnState {
  const unsigned char* in = nullptr;   // pinned: the copy before fills it
  unsigned char* out = nullptr;        // pinned: the copy after sends it
  size_t n = 0;
  std::atomic<int> calls{0};
  bool saw_input = false;
  cudaStream_t stream_seen = nullptr;
  cudaError_t status_seen = cudaErrorUnknown;
};
void host_fn_copy(void* p) {
  auto* st = static_cast<HostFnState*>(p);
  st->saw_input = st->in[0] == 0x5a && st->in[st->n - 1] == 0x5a;
  for (size_t i = 0; i < st->n; ++i) st->out[i] = static_cast<unsigned char>(st->in[i] + 1);
  st->calls.fetch_add(1);
}
void stream_callback(cudaStream_t s, cudaError_t status, void* p) {
  auto* st = static_cast<HostFnState*>(p);
  st->stream_seen = s;
  st->status_seen = status;
  st->calls.fetch_add(1);
}

TEST(Streams, HostFunctionsRunInStreamOrder) {
  const size_t n = 1 << 20;
  unsigned char *in = nullptr, *out = nullptr;
  ASSERT_CUDA(cudaMallocHost(reinterpret_cast<void**>(&in), n));
  ASSERT_CUDA(cudaMallocHost(reinterpret_cast<void**>(&out), n));
  std::memset(in, 0, n);
  std::memset(out, 0, n);
  void *a = nullptr, *b = nullptr;
  ASSERT_CUDA(cudaMalloc(&a, n));
  ASSERT_CUDA(cudaMalloc(&b, n));
  ASSERT_CUDA(cudaMemset(a, 0x5a, n));
  for (cudaStream_t s : {static_cast<cudaStream_t>(nullptr), cudaStreamPerThread}) {
    cudaStream_t mine = s;
    if (!s) {
      ASSERT_CUDA(cudaStreamCreate(&mine));  // a created stream, then the per-thread one
    }
    HostFnState st;
    st.in = in;
    st.out = out;
    st.n = n;
    std::memset(in, 0, n);
    ASSERT_CUDA(cudaMemcpyAsync(in, a, n, cudaMemcpyDeviceToHost, mine));
    ASSERT_CUDA(cudaLaunchHostFunc(mine, &host_fn_copy, &st));
    ASSERT_CUDA(cudaMemcpyAsync(b, out, n, cudaMemcpyHostToDevice, mine));
    ASSERT_CUDA(cudaStreamAddCallback(mine, &stream_callback, &st, 0));
    ASSERT_CUDA(cudaStreamSynchronize(mine));
    EXPECT_EQ(st.calls.load(), 2);
    EXPECT_TRUE(st.saw_input) << "the host function ran before the copy ahead of it";
    EXPECT_EQ(st.stream_seen, mine);
    EXPECT_EQ(st.status_seen, cudaSuccess);
    std::vector<unsigned char> back(n);
    ASSERT_CUDA(cudaMemcpy(back.data(), b, n, cudaMemcpyDeviceToHost));
    EXPECT_EQ(back.front(), 0x5b) << "the copy after the host function went before it";
    EXPECT_EQ(back.back(), 0x5b);
    if (mine != s) {
      ASSERT_CUDA(cudaStreamDestroy(mine));
    }
  }
  // Many in a row on one stream: each runs once, in order.
  static std::vector<int> order;
  order.clear();
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreate(&s));
  static int ids[64];
  for (int i = 0; i < 64; ++i) {
    ids[i] = i;
    ASSERT_CUDA(cudaLaunchHostFunc(s, [](void* p) { order.push_back(*static_cast<int*>(p)); }, &ids[i]));
  }
  ASSERT_CUDA(cudaStreamSynchronize(s));
  ASSERT_EQ(order.size(), 64u);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(order[i], i);
  // The caller does not wait for the function: it waits for a flag this
  // thread sets only after the launch returned (5 s, then it gives up).
  static std::atomic<int> go{0}, saw{-1};
  go = 0;
  ASSERT_CUDA(cudaLaunchHostFunc(s, [](void*) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!go.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    saw = go.load();
  }, nullptr));
  go = 1;
  ASSERT_CUDA(cudaStreamSynchronize(s));
  EXPECT_EQ(saw.load(), 1) << "the launch waited for its host function";
  EXPECT_EQ(cudaLaunchHostFunc(s, nullptr, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cudaStreamAddCallback(s, &stream_callback, nullptr, 1), cudaErrorInvalidValue);  // flags must be 0
  cudaGetLastError();
  ASSERT_CUDA(cudaStreamDestroy(s));
  ASSERT_CUDA(cudaFree(a));
  ASSERT_CUDA(cudaFree(b));
  ASSERT_CUDA(cudaFreeHost(in));
  ASSERT_CUDA(cudaFreeHost(out));
}

TEST(Streams, FlagsAndPriority) {
  int least = 1, greatest = 1;
  ASSERT_CUDA(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  EXPECT_EQ(least, 0);
  EXPECT_LE(greatest, 0);
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, greatest));
  unsigned flags = 0;
  int prio = 1;
  ASSERT_CUDA(cudaStreamGetFlags(s, &flags));
  EXPECT_EQ(flags, unsigned(cudaStreamNonBlocking));
  ASSERT_CUDA(cudaStreamGetPriority(s, &prio));
  EXPECT_EQ(prio, greatest);
  ASSERT_CUDA(cudaStreamDestroy(s));
  EXPECT_EQ(cudaStreamCreateWithFlags(&s, 0x40), cudaErrorInvalidValue);
  cudaGetLastError();
}

TEST(Streams, CaptureStatus) {
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreate(&s));
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusActive;
  ASSERT_CUDA(cudaStreamIsCapturing(s, &st));
  EXPECT_EQ(st, cudaStreamCaptureStatusNone);
  if (cpu_backend()) {
    // The CPU backend cannot replay kernels, so it refuses capture honestly.
    EXPECT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaErrorNotSupported);
    EXPECT_EQ(cudaGetLastError(), cudaErrorNotSupported);
  }
  ASSERT_CUDA(cudaStreamDestroy(s));
}

// The mode is the calling thread's: exchanging returns the previous one, and
// another thread still has the default (global).
TEST(Streams, CaptureModeIsPerThread) {
  cudaStreamCaptureMode m = cudaStreamCaptureModeRelaxed;
  ASSERT_CUDA(cudaThreadExchangeStreamCaptureMode(&m));
  EXPECT_EQ(m, cudaStreamCaptureModeGlobal);
  cudaStreamCaptureMode other = cudaStreamCaptureModeThreadLocal;
  std::thread([&] { ASSERT_CUDA(cudaThreadExchangeStreamCaptureMode(&other)); }).join();
  EXPECT_EQ(other, cudaStreamCaptureModeGlobal);
  // The host runs this thread's calls in relaxed mode now; they still work.
  void* p = nullptr;
  ASSERT_CUDA(cudaMalloc(&p, 256));
  ASSERT_CUDA(cudaFree(p));
  m = cudaStreamCaptureModeGlobal;
  ASSERT_CUDA(cudaThreadExchangeStreamCaptureMode(&m));
  EXPECT_EQ(m, cudaStreamCaptureModeRelaxed);
  auto bad = static_cast<cudaStreamCaptureMode>(7);
  EXPECT_EQ(cudaThreadExchangeStreamCaptureMode(&bad), cudaErrorInvalidValue);
  cudaGetLastError();
  // Node handles do not cross the wire: refused, not faked.
  size_t count = 0;
  cudaGraphNode_t nodes[2];
  EXPECT_EQ(cudaGraphGetNodes(nullptr, nodes, &count), cudaErrorNotSupported);
  cudaGetLastError();
}

// ---- symbols --------------------------------------------------------------------------------------
TEST(Symbols, CpuBackendRefusesModuleGlobals) {
  SKIP_UNLESS_CPU();
  cudaGetLastError();
  const int v = 5;
  const cudaError_t e = cudaMemcpyToSymbol(cudart_test::bias_symbol(), &v, sizeof v);
  EXPECT_NE(e, cudaSuccess);
  EXPECT_EQ(e, cudaErrorNotSupported);
  EXPECT_EQ(cudaGetLastError(), cudaErrorNotSupported);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  int out = 0;
  EXPECT_EQ(cudaMemcpyFromSymbol(&out, cudart_test::bias_symbol(), sizeof out), cudaErrorNotSupported);
  float c[cudart_test::kCoeffs] = {};
  EXPECT_EQ(cudaMemcpyToSymbolAsync(cudart_test::coeffs_symbol(), c, sizeof c, 0, cudaMemcpyHostToDevice, nullptr),
            cudaErrorNotSupported);
  void* addr = nullptr;
  EXPECT_EQ(cudaGetSymbolAddress(&addr, cudart_test::bias_symbol()), cudaErrorNotSupported);
  size_t size = 0;
  EXPECT_EQ(cudaGetSymbolSize(&size, cudart_test::coeffs_symbol()), cudaErrorNotSupported);
  cudaGetLastError();
}

TEST(Symbols, UnregisteredSymbolIsInvalid) {
  const int v = 1;
  EXPECT_EQ(cudaMemcpyToSymbol(&g_plain_host_int, &v, sizeof v), cudaErrorInvalidSymbol);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidSymbol);
  EXPECT_EQ(cudaMemcpyToSymbol(cudart_test::bias_symbol(), &v, sizeof v, 0, cudaMemcpyDeviceToHost),
            cudaErrorInvalidMemcpyDirection);
  cudaGetLastError();
}

TEST(Symbols, GpuRoundTrip) {
  SKIP_UNLESS_GPU();
  float c[cudart_test::kCoeffs];
  std::iota(c, c + cudart_test::kCoeffs, 1.0f);
  ASSERT_CUDA(cudaMemcpyToSymbol(cudart_test::coeffs_symbol(), c, sizeof c));
  float back[cudart_test::kCoeffs] = {};
  ASSERT_CUDA(cudaMemcpyFromSymbol(back, cudart_test::coeffs_symbol(), sizeof back));
  EXPECT_EQ(std::memcmp(back, c, sizeof c), 0);
  const float two = 2.0f;
  ASSERT_CUDA(cudaMemcpyToSymbol(cudart_test::coeffs_symbol(), &two, sizeof two, 3 * sizeof(float)));
  ASSERT_CUDA(cudaMemcpyFromSymbol(back, cudart_test::coeffs_symbol(), sizeof back));
  EXPECT_EQ(back[3], 2.0f);
  size_t size = 0;
  ASSERT_CUDA(cudaGetSymbolSize(&size, cudart_test::coeffs_symbol()));
  EXPECT_EQ(size, sizeof c);
  EXPECT_EQ(cudaMemcpyToSymbol(cudart_test::coeffs_symbol(), c, sizeof c, 4), cudaErrorInvalidValue);
  cudaGetLastError();
}

// ---- launches -------------------------------------------------------------------------------------
TEST(Launch, CpuBackendRefusesKernelsAndLastErrorReportsIt) {
  SKIP_UNLESS_CPU();
  int* d = nullptr;
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&d), 1024 * sizeof(int)));
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  cudart_test::launch_add(d, d, d, 1024, nullptr);  // <<<>>>: __cudaGetKernel + __cudaLaunchKernel
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorNotSupported);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorNotSupported);  // peek does not clear
  EXPECT_EQ(cudaGetLastError(), cudaErrorNotSupported);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // not sticky: cleared
  cudart_test::launch_fill(reinterpret_cast<float*>(d), 1.0f, 1024, cudaStreamPerThread);  // a template kernel
  EXPECT_EQ(cudaGetLastError(), cudaErrorNotSupported);

  int n = 1024;
  void* args[] = {&d, &d, &d, &n};
  EXPECT_EQ(cudaLaunchKernel(cudart_test::add_stub(), dim3(8), dim3(128), args, 0, nullptr), cudaErrorNotSupported);
  EXPECT_EQ(cudaLaunchCooperativeKernel(cudart_test::add_stub(), dim3(8), dim3(128), args, 0, nullptr),
            cudaErrorNotSupported);
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(8);
  cfg.blockDim = dim3(128);
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  EXPECT_EQ(cudaLaunchKernelExC(&cfg, cudart_test::add_stub(), args), cudaErrorNotSupported);
  cudaFuncAttributes fa{};
  EXPECT_EQ(cudaFuncGetAttributes(&fa, cudart_test::add_stub()), cudaErrorNotSupported);
  EXPECT_EQ(cudaFuncSetCacheConfig(cudart_test::add_stub(), cudaFuncCachePreferL1), cudaErrorNotSupported);
  // The process and the device stay usable.
  cudaGetLastError();
  ASSERT_CUDA(cudaMemset(d, 0, 16));
  ASSERT_CUDA(cudaDeviceSynchronize());
  ASSERT_CUDA(cudaFree(d));
}

TEST(Launch, ShapeAndFunctionChecks) {
  int* d = nullptr;
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&d), 64));
  cudaGetLastError();
  cudart_test::launch_too_big(d);  // 2048 threads per block
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  void* args[] = {&d};
  EXPECT_EQ(cudaLaunchKernel(reinterpret_cast<const void*>(&host_function_not_a_kernel), dim3(1), dim3(1), args, 0,
                             nullptr),
            cudaErrorInvalidDeviceFunction);
  EXPECT_EQ(cudaLaunchKernel(cudart_test::add_stub(), dim3(0), dim3(1), args, 0, nullptr),
            cudaErrorInvalidConfiguration);
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributePriority;
  attr[0].val.priority = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(1);
  cfg.blockDim = dim3(1);
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  EXPECT_EQ(cudaLaunchKernelExC(&cfg, cudart_test::add_stub(), args), cudaErrorNotSupported);
  cudaGetLastError();
  ASSERT_CUDA(cudaFree(d));
}

TEST(Launch, GpuKernelsRun) {
  SKIP_UNLESS_GPU();
  const int n = 10000;
  std::vector<int> a(n), b(n), out(n);
  std::iota(a.begin(), a.end(), 0);
  std::iota(b.begin(), b.end(), 100);
  int *da = nullptr, *db = nullptr, *dout = nullptr;
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&da), n * sizeof(int)));
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&db), n * sizeof(int)));
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&dout), n * sizeof(int)));
  ASSERT_CUDA(cudaMemcpy(da, a.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  ASSERT_CUDA(cudaMemcpy(db, b.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  const int bias = 7;
  ASSERT_CUDA(cudaMemcpyToSymbol(cudart_test::bias_symbol(), &bias, sizeof bias));
  cudart_test::launch_add(dout, da, db, n, nullptr);
  ASSERT_CUDA(cudaGetLastError());
  ASSERT_CUDA(cudaMemcpy(out.data(), dout, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] + b[i] + bias) << i;

  // Through cudaLaunchKernelExC with programmatic stream serialization (PDL).
  int nn = n;
  void* args[] = {&dout, &da, &da, &nn};
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3((n + 127) / 128);
  cfg.blockDim = dim3(128);
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  ASSERT_CUDA(cudaLaunchKernelExC(&cfg, cudart_test::add_stub(), args));
  ASSERT_CUDA(cudaMemcpy(out.data(), dout, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], 2 * a[i] + bias) << i;

  cudaFuncAttributes fa{};
  ASSERT_CUDA(cudaFuncGetAttributes(&fa, cudart_test::add_stub()));
  ASSERT_CUDA(cudaFuncSetCacheConfig(cudart_test::add_stub(), cudaFuncCachePreferShared));
  EXPECT_GT(fa.maxThreadsPerBlock, 0);
  int blocks = 0;
  ASSERT_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, cudart_test::add_stub(), 128, 0));
  EXPECT_GT(blocks, 0);
  // What NVIDIA's runtime (inside cuBLAS, cuFFT, ...) asks before it trusts a
  // kernel's shared memory: the host's real answers.
  size_t smem = 0;
  ASSERT_CUDA(cudaOccupancyAvailableDynamicSMemPerBlock(&smem, cudart_test::add_stub(), 1, 128));
  EXPECT_GT(smem, 0u);
  cudaLaunchConfig_t occ{};
  occ.gridDim = dim3(8);
  occ.blockDim = dim3(128);
  cudaLaunchAttribute cl{};
  cl.id = cudaLaunchAttributeClusterDimension;
  cl.val.clusterDim.x = 2, cl.val.clusterDim.y = cl.val.clusterDim.z = 1;
  occ.attrs = &cl;
  occ.numAttrs = 1;
  int clusters = 0, cluster_size = 0;
  ASSERT_CUDA(cudaOccupancyMaxActiveClusters(&clusters, cudart_test::add_stub(), &occ));
  EXPECT_GT(clusters, 0);
  ASSERT_CUDA(cudaOccupancyMaxPotentialClusterSize(&cluster_size, cudart_test::add_stub(), &occ));
  EXPECT_GE(cluster_size, 1);

  // Capture a kernel into a graph and replay it.
  float* x = nullptr;
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&x), n * sizeof(float)));
  float c[cudart_test::kCoeffs] = {3.0f};
  ASSERT_CUDA(cudaMemcpyToSymbol(cudart_test::coeffs_symbol(), c, sizeof c));
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  // PyTorch's pattern: a cudaMalloc during a global-mode capture, inside a
  // relaxed-mode guard, is allowed and leaves the capture intact.
  ASSERT_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  ASSERT_CUDA(cudaThreadExchangeStreamCaptureMode(&mode));
  void* during = nullptr;
  ASSERT_CUDA(cudaMalloc(&during, 1 << 20));
  ASSERT_CUDA(cudaThreadExchangeStreamCaptureMode(&mode));
  cudart_test::launch_fill(x, 2.0f, n, s);
  cudaGraph_t g0 = nullptr;
  ASSERT_CUDA(cudaStreamEndCapture(s, &g0));
  size_t nodes = 0;
  ASSERT_CUDA(cudaGraphGetNodes(g0, nullptr, &nodes));
  EXPECT_EQ(nodes, 1u);
  ASSERT_CUDA(cudaGraphDestroy(g0));
  ASSERT_CUDA(cudaFree(during));

  ASSERT_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  cudart_test::launch_fill(x, 2.0f, n, s);
  cudart_test::launch_scale(x, n, s);
  cudaGraph_t g = nullptr;
  ASSERT_CUDA(cudaStreamEndCapture(s, &g));
  ASSERT_CUDA(cudaGraphGetNodes(g, nullptr, &nodes));
  EXPECT_EQ(nodes, 2u);
  cudaGraphExec_t ge = nullptr;
  // As PyTorch instantiates.
  ASSERT_CUDA(cudaGraphInstantiateWithFlags(&ge, g, cudaGraphInstantiateFlagAutoFreeOnLaunch));
  ASSERT_CUDA(cudaGraphUpload(ge, s));  // as CuPy's Graph.upload
  ASSERT_CUDA(cudaGraphLaunch(ge, s));
  ASSERT_CUDA(cudaGraphLaunch(ge, s));
  ASSERT_CUDA(cudaStreamSynchronize(s));
  std::vector<float> xs(n);
  ASSERT_CUDA(cudaMemcpy(xs.data(), x, n * sizeof(float), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) ASSERT_EQ(xs[i], 6.0f) << i;
  cudaGraphExecUpdateResultInfo info{};
  ASSERT_CUDA(cudaGraphExecUpdate(ge, g, &info));
  EXPECT_EQ(info.result, cudaGraphExecUpdateSuccess);
  ASSERT_CUDA(cudaGraphExecDestroy(ge));
  ASSERT_CUDA(cudaGraphDestroy(g));
  ASSERT_CUDA(cudaStreamDestroy(s));
  for (void* p : {static_cast<void*>(da), static_cast<void*>(db), static_cast<void*>(dout), static_cast<void*>(x)})
    ASSERT_CUDA(cudaFree(p));
}

// ---- errors ---------------------------------------------------------------------------------------
TEST(Errors, NamesAndStrings) {
  EXPECT_STREQ(cudaGetErrorName(cudaSuccess), "cudaSuccess");
  EXPECT_STREQ(cudaGetErrorString(cudaSuccess), "no error");
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidValue), "cudaErrorInvalidValue");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorMemoryAllocation), "out of memory");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorNotSupported), "operation not supported");
  EXPECT_STREQ(cudaGetErrorName(cudaErrorIllegalAddress), "cudaErrorIllegalAddress");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorLaunchFailure), "unspecified launch failure");
  EXPECT_STREQ(cudaGetErrorName(cudaErrorUnknown), "cudaErrorUnknown");
  EXPECT_STREQ(cudaGetErrorString(static_cast<cudaError_t>(12345)), "unrecognized error code");
}

TEST(Errors, LastErrorIsPerThread) {
  cudaGetLastError();
  EXPECT_EQ(cudaSetDevice(5), cudaErrorInvalidDevice);
  cudaError_t other = cudaErrorUnknown;
  std::thread t([&] { other = cudaGetLastError(); });
  t.join();
  EXPECT_EQ(other, cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// ---- devices ----------------------------------------------------------------------------------------
TEST(Device, CountCurrentAndPeers) {
  int n = 0;
  ASSERT_CUDA(cudaGetDeviceCount(&n));
  EXPECT_EQ(n, 1);
  ASSERT_CUDA(cudaSetDevice(0));
  int dev = -1;
  ASSERT_CUDA(cudaGetDevice(&dev));
  EXPECT_EQ(dev, 0);
  EXPECT_EQ(cudaSetDevice(1), cudaErrorInvalidDevice);
  int can = 1;
  ASSERT_CUDA(cudaDeviceCanAccessPeer(&can, 0, 0));
  EXPECT_EQ(can, 0);
  EXPECT_EQ(cudaDeviceCanAccessPeer(&can, 0, 1), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaDeviceEnablePeerAccess(0, 0), cudaErrorInvalidDevice);  // itself
  EXPECT_EQ(cudaDeviceEnablePeerAccess(1, 0), cudaErrorInvalidDevice);  // no such device
  cudaGetLastError();
  ASSERT_CUDA(cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync));
  unsigned flags = 0;
  ASSERT_CUDA(cudaGetDeviceFlags(&flags));
  EXPECT_EQ(flags & cudaDeviceScheduleMask, unsigned(cudaDeviceScheduleBlockingSync));
  ASSERT_CUDA(cudaDeviceSynchronize());
  // Context limits are the host context's: set there on a GPU, refused by the
  // CPU backend (it runs no kernels whose stack they would size).
  if (cpu_backend()) {
    EXPECT_EQ(cudaDeviceSetLimit(cudaLimitStackSize, 4096), cudaErrorNotSupported);
  } else {
    ASSERT_CUDA(cudaDeviceSetLimit(cudaLimitStackSize, 4096));
    size_t v = 0;
    ASSERT_CUDA(cudaDeviceGetLimit(&v, cudaLimitStackSize));
    EXPECT_GE(v, 4096u);
  }
  cudaGetLastError();
}

TEST(Device, PropertiesMatchAttributes) {
  Props p{};
  ASSERT_CUDA(get_props(&p));
  EXPECT_GT(std::strlen(p.name), 0u);
  auto attr = [](cudaDeviceAttr a) {
    int v = -12345;
    EXPECT_EQ(cudaDeviceGetAttribute(&v, a, 0), cudaSuccess) << a;
    return v;
  };
  EXPECT_EQ(p.major, attr(cudaDevAttrComputeCapabilityMajor));
  EXPECT_EQ(p.minor, attr(cudaDevAttrComputeCapabilityMinor));
  EXPECT_EQ(p.multiProcessorCount, attr(cudaDevAttrMultiProcessorCount));
  EXPECT_EQ(p.maxThreadsPerBlock, attr(cudaDevAttrMaxThreadsPerBlock));
  EXPECT_EQ(p.warpSize, attr(cudaDevAttrWarpSize));
  EXPECT_EQ(p.pciBusID, attr(cudaDevAttrPciBusId));
  EXPECT_EQ(p.pciDeviceID, attr(cudaDevAttrPciDeviceId));
  EXPECT_EQ(p.pciDomainID, attr(cudaDevAttrPciDomainId));
  EXPECT_EQ(p.sharedMemPerBlock, size_t(attr(cudaDevAttrMaxSharedMemoryPerBlock)));
  EXPECT_EQ(p.totalConstMem, size_t(attr(cudaDevAttrTotalConstantMemory)));
  EXPECT_EQ(p.regsPerBlock, attr(cudaDevAttrMaxRegistersPerBlock));
  EXPECT_EQ(p.maxThreadsDim[0], attr(cudaDevAttrMaxBlockDimX));
  EXPECT_EQ(p.maxThreadsDim[1], attr(cudaDevAttrMaxBlockDimY));
  EXPECT_EQ(p.maxThreadsDim[2], attr(cudaDevAttrMaxBlockDimZ));
  EXPECT_EQ(p.maxGridSize[0], attr(cudaDevAttrMaxGridDimX));
  EXPECT_EQ(p.maxGridSize[1], attr(cudaDevAttrMaxGridDimY));
  EXPECT_EQ(p.maxGridSize[2], attr(cudaDevAttrMaxGridDimZ));
  EXPECT_EQ(p.l2CacheSize, attr(cudaDevAttrL2CacheSize));
  EXPECT_EQ(p.maxThreadsPerMultiProcessor, attr(cudaDevAttrMaxThreadsPerMultiProcessor));
  EXPECT_EQ(p.sharedMemPerMultiprocessor, size_t(attr(cudaDevAttrMaxSharedMemoryPerMultiprocessor)));
  EXPECT_EQ(p.sharedMemPerBlockOptin, size_t(attr(cudaDevAttrMaxSharedMemoryPerBlockOptin)));
  EXPECT_EQ(p.concurrentKernels, attr(cudaDevAttrConcurrentKernels));
  EXPECT_EQ(p.asyncEngineCount, attr(cudaDevAttrAsyncEngineCount));
  EXPECT_EQ(p.unifiedAddressing, attr(cudaDevAttrUnifiedAddressing));
  EXPECT_EQ(p.memoryBusWidth, attr(cudaDevAttrGlobalMemoryBusWidth));
  EXPECT_EQ(p.cooperativeLaunch, attr(cudaDevAttrCooperativeLaunch));
  EXPECT_EQ(p.integrated, attr(cudaDevAttrIntegrated));
  EXPECT_EQ(p.canMapHostMemory, attr(cudaDevAttrCanMapHostMemory));
  EXPECT_EQ(p.managedMemory, attr(cudaDevAttrManagedMemory));
  EXPECT_EQ(p.clusterLaunch, attr(cudaDevAttrClusterLaunch));

  char bus[64] = {};
  ASSERT_CUDA(cudaDeviceGetPCIBusId(bus, sizeof bus, 0));
  char want[64];
  std::snprintf(want, sizeof want, "%04x:%02x:%02x.0", p.pciDomainID, p.pciBusID, p.pciDeviceID);
  EXPECT_EQ(strcasecmp(bus, want), 0) << bus << " vs " << want;
  int dev = -1;
  ASSERT_CUDA(cudaDeviceGetByPCIBusId(&dev, bus));
  EXPECT_EQ(dev, 0);
  EXPECT_EQ(cudaDeviceGetAttribute(&dev, cudaDevAttrWarpSize, 1), cudaErrorInvalidDevice);
  cudaGetLastError();
}

TEST(Device, CudaVisibleDevices) {
  Props p{};
  ASSERT_CUDA(get_props(&p));
  EXPECT_EQ(count_devices_with("0"), 1);
  EXPECT_EQ(count_devices_with("1"), 0);
  EXPECT_EQ(count_devices_with("-1"), 0);
  const std::string uuid = uuid_string(p.uuid);
  EXPECT_EQ(count_devices_with(uuid.c_str()), 1) << uuid;
  std::string wrong = uuid;
  wrong[4] = wrong[4] == '0' ? '1' : '0';  // first hex digit of the UUID changed
  EXPECT_EQ(count_devices_with(wrong.c_str()), 0) << wrong;
}

TEST(Device, ResetFreesWhatTheProcessAllocated) {
  void* d = nullptr;
  void* pin = nullptr;
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaMalloc(&d, 4096));
  ASSERT_CUDA(cudaMallocHost(&pin, 4096));
  ASSERT_CUDA(cudaStreamCreate(&s));
  ASSERT_CUDA(cudaDeviceReset());
  EXPECT_NE(cudaFree(d), cudaSuccess);       // freed by the reset
  EXPECT_NE(cudaFreeHost(pin), cudaSuccess);  // likewise
  EXPECT_NE(cudaStreamDestroy(s), cudaSuccess);
  cudaGetLastError();
  // The runtime works on after a reset.
  ASSERT_CUDA(cudaMalloc(&d, 4096));
  ASSERT_CUDA(cudaMemset(d, 1, 4096));
  ASSERT_CUDA(cudaFree(d));
}

#if VGPU_TEST_CUDART_MAJOR == 12
TEST(Flavour12, LegacyGetDevicePropertiesWritesOnlyTheCuda11Prefix) {
  std::vector<unsigned char> buf(2048, 0x5a);
  ASSERT_CUDA(cudaGetDeviceProperties(reinterpret_cast<cudaDeviceProp*>(buf.data()), 0));
  Props p{};
  ASSERT_CUDA(get_props(&p));
  EXPECT_STREQ(reinterpret_cast<const char*>(buf.data()), p.name);
  for (size_t i = vgpu::cudart::kDeviceProp11Bytes; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0x5a) << i;
}

TEST(Flavour12, V2HasCuda12OnlyFields) {
  using Fn = cudaError_t (*)(cudaDeviceProp*, int);  // the export's own type; CUDA 12's layout filled
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "cudaGetDeviceProperties_v2"));
  ASSERT_NE(fn, nullptr);
  vgpu::cudart::DeviceProp12 p{};
  ASSERT_CUDA(fn(reinterpret_cast<cudaDeviceProp*>(&p), 0));
  int v = 0;
  ASSERT_CUDA(cudaDeviceGetAttribute(&v, static_cast<cudaDeviceAttr>(13), 0));  // clock rate
  EXPECT_EQ(p.clockRate, v);
  ASSERT_CUDA(cudaDeviceGetAttribute(&v, static_cast<cudaDeviceAttr>(36), 0));  // memory clock rate
  EXPECT_EQ(p.memoryClockRate, v);
  ASSERT_CUDA(cudaDeviceGetAttribute(&v, static_cast<cudaDeviceAttr>(20), 0));  // compute mode
  EXPECT_EQ(p.computeMode, v);
}
#endif

// Last in the file (gtest runs tests in order): it leaves the context broken.
TEST(ZLast, StickyErrorAfterAFault) {
  SKIP_UNLESS_GPU();
  cudaGetLastError();
  cudart_test::launch_fault();
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // the launch itself is fine
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
  // Sticky: reading the last error does not clear it, in any thread.
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorIllegalAddress);
  cudaError_t other = cudaSuccess;
  std::thread t([&] { other = cudaPeekAtLastError(); });
  t.join();
  EXPECT_EQ(other, cudaErrorIllegalAddress);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--count-devices") == 0) {
    int n = -1;
    const cudaError_t e = cudaGetDeviceCount(&n);
    std::printf("count=%d err=%d\n", n, static_cast<int>(e));
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "--pinned-beyond-arena") == 0) {
    // Two pinned allocations larger than the arena: both succeed, the
    // fallback is announced once (Memory.PinnedFallbackIsAnnouncedOnce).
    void *a = nullptr, *b = nullptr;
    const size_t n = (size_t(kArenaMb) + 16) << 20;
    const cudaError_t ea = cudaMallocHost(&a, n), eb = cudaHostAlloc(&b, n, cudaHostAllocPortable);
    const cudaError_t fa = cudaFreeHost(a), fb = cudaFreeHost(b);
    std::fflush(stderr);
    std::printf("pinned alloc=%d,%d free=%d,%d\n", int(ea), int(eb), int(fa), int(fb));
    return 0;
  }
  char self[PATH_MAX] = {};
  if (readlink("/proc/self/exe", self, sizeof self - 1) > 0) g_self = self;
  ::testing::InitGoogleTest(&argc, argv);
  unsetenv("CUDA_VISIBLE_DEVICES");
  const char* be = std::getenv("VGPU_TEST_BACKEND");
  g_backend = be && *be ? be : "cpu";
  vgpu::e2e::DaemonConfig cfg;
  cfg.backend = g_backend;
  cfg.arena_mb = kArenaMb;
  cfg.slots = 8;  // this process and the --count-devices children it starts
  vgpu::e2e::Daemon daemon(cfg);
  std::string why;
  if (!daemon.start(&why)) {
    std::fprintf(stderr, "cannot start the host daemon: %s\n", why.c_str());
    return 1;
  }
  daemon.export_env();  // VGPU_REGION, before the first CUDA call
  const int rc = RUN_ALL_TESTS();
  if (rc != 0) std::fprintf(stderr, "daemon log:\n%s\n", daemon.log().c_str());
  return rc;
}
