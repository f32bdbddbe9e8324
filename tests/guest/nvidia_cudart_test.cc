// NVIDIA's own runtime over our driver: this program links NVIDIA's
// libcudart.so.NN (from the CUDA wheels), which dlopens libcuda.so.1 and
// finds OURS (the build's RPATH names NVIDIA's folder first, then ours), and
// a real CPU-backend vgpu-hostd answers. NVIDIA's runtime asks the driver for
// its export tables (cuGetExportTable) and checks its integrity answer before
// anything else works, so every test here depends on those tables.
// Properties are compared with what OUR libcudart.so.NN reports, loaded
// beside NVIDIA's by path.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hostd_env.h"
#ifdef VGPU_TEST_HAS_KERNELS
#include "cudart_test_kernels.h"  // nvcc-built kernels, registered with NVIDIA's runtime
#endif

#ifndef VGPU_TEST_CUDART_MAJOR
#error "VGPU_TEST_CUDART_MAJOR must be defined"
#endif

namespace {

static auto* const g_env = ::testing::AddGlobalTestEnvironment(
    new vgpu::test::HostdEnvironment("nvrt" + std::to_string(VGPU_TEST_CUDART_MAJOR)));

#define ASSERT_CUDA(x)                                     \
  do {                                                     \
    cudaError_t e_ = (x);                                  \
    ASSERT_EQ(e_, cudaSuccess) << #x ": " << cudaGetErrorName(e_); \
  } while (0)

std::string path_of(const void* addr) {
  Dl_info info{};
  if (!dladdr(addr, &info) || !info.dli_fname) return {};
  char* real = realpath(info.dli_fname, nullptr);
  std::string s = real ? real : info.dli_fname;
  std::free(real);
  return s;
}
std::string real(const char* p) {
  char* r = realpath(p, nullptr);
  std::string s = r ? r : p;
  std::free(r);
  return s;
}

TEST(NvidiaRuntime, IsNvidiasOverOurDriver) {
  int n = 0;
  ASSERT_CUDA(cudaGetDeviceCount(&n));  // loads the driver
  EXPECT_EQ(path_of(reinterpret_cast<const void*>(&cudaMalloc)), real(VGPU_NVIDIA_CUDART));
  void* rt = dlopen(VGPU_NVIDIA_CUDART, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(dlsym(rt, "vgpu_guest_marker"), nullptr) << "the runtime in use is ours, not NVIDIA's";
  void* drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(drv, nullptr) << "NVIDIA's runtime loaded no libcuda.so.1";
  EXPECT_NE(dlsym(drv, "vgpu_guest_marker"), nullptr) << "libcuda.so.1 is not ours";
  dlclose(drv);
  dlclose(rt);
}

TEST(NvidiaRuntime, DeviceCountAndVersions) {
  int n = -1;
  ASSERT_CUDA(cudaGetDeviceCount(&n));
  EXPECT_EQ(n, 1);
  int drv = 0, rt = 0;
  ASSERT_CUDA(cudaDriverGetVersion(&drv));
  ASSERT_CUDA(cudaRuntimeGetVersion(&rt));
  EXPECT_EQ(rt / 1000, VGPU_TEST_CUDART_MAJOR);
  EXPECT_GE(drv, rt) << "the runtime would refuse an older driver";
  int dev = -1;
  ASSERT_CUDA(cudaSetDevice(0));
  ASSERT_CUDA(cudaGetDevice(&dev));
  EXPECT_EQ(dev, 0);
}

// Every byte of cudaDeviceProp as NVIDIA's runtime assembles it from our
// driver's answers equals what our runtime reports.
TEST(NvidiaRuntime, PropertiesEqualOurRuntimes) {
#if VGPU_TEST_CUDART_MAJOR == 12
  const char* fn = "cudaGetDeviceProperties_v2";  // CUDA 12's headers call this one
#else
  const char* fn = "cudaGetDeviceProperties";
#endif
  cudaDeviceProp theirs;
  std::memset(&theirs, 0, sizeof theirs);
  ASSERT_CUDA(cudaGetDeviceProperties(&theirs, 0));
  void* ours_lib = dlopen(VGPU_OUR_CUDART, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(ours_lib, nullptr) << dlerror();
  auto get = reinterpret_cast<cudaError_t (*)(cudaDeviceProp*, int)>(dlsym(ours_lib, fn));
  ASSERT_NE(get, nullptr);
  cudaDeviceProp ours;
  std::memset(&ours, 0, sizeof ours);
  ASSERT_EQ(get(&ours, 0), cudaSuccess);
  EXPECT_STREQ(theirs.name, ours.name);
  EXPECT_EQ(theirs.totalGlobalMem, ours.totalGlobalMem);
  EXPECT_EQ(theirs.major, ours.major);
  EXPECT_EQ(theirs.minor, ours.minor);
  EXPECT_EQ(theirs.multiProcessorCount, ours.multiProcessorCount);
  EXPECT_EQ(std::memcmp(&theirs.uuid, &ours.uuid, sizeof ours.uuid), 0);
  const auto* a = reinterpret_cast<const unsigned char*>(&theirs);
  const auto* b = reinterpret_cast<const unsigned char*>(&ours);
  std::string diff;
  for (size_t i = 0; i < sizeof ours; ++i)
    if (a[i] != b[i]) diff += " " + std::to_string(i);
  EXPECT_TRUE(diff.empty()) << "cudaDeviceProp bytes differ at offsets" << diff;
  dlclose(ours_lib);
}

std::vector<unsigned char> pattern(size_t n, unsigned seed) {
  std::vector<unsigned char> v(n);
  std::mt19937 rng(seed);
  for (auto& x : v) x = static_cast<unsigned char>(rng());
  return v;
}

TEST(NvidiaRuntime, MallocAndCopiesBothWays) {
  constexpr size_t n = (3 << 20) + 12345;  // several staging chunks, not a multiple of any
  const auto src = pattern(n, 1);
  void *d1 = nullptr, *d2 = nullptr;
  ASSERT_CUDA(cudaMalloc(&d1, n));
  ASSERT_CUDA(cudaMalloc(&d2, n));
  size_t free_b = 0, total_b = 0;
  ASSERT_CUDA(cudaMemGetInfo(&free_b, &total_b));
  EXPECT_GT(total_b, 0u);
  EXPECT_LE(free_b, total_b);
  ASSERT_CUDA(cudaMemcpy(d1, src.data(), n, cudaMemcpyHostToDevice));
  ASSERT_CUDA(cudaMemcpy(d2, d1, n, cudaMemcpyDeviceToDevice));
  std::vector<unsigned char> back(n, 0);
  ASSERT_CUDA(cudaMemcpy(back.data(), d2, n, cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::memcmp(back.data(), src.data(), n), 0);
  // cudaMemcpyDefault: the runtime asks the driver which side each pointer is on.
  ASSERT_CUDA(cudaMemset(d1, 0x5a, 4096));
  ASSERT_CUDA(cudaMemcpy(back.data(), d1, 8192, cudaMemcpyDefault));
  for (size_t i = 0; i < 4096; ++i) ASSERT_EQ(back[i], 0x5a) << i;
  EXPECT_EQ(std::memcmp(back.data() + 4096, src.data() + 4096, 4096), 0);
  cudaPointerAttributes attr{};
  ASSERT_CUDA(cudaPointerGetAttributes(&attr, d1));
  EXPECT_EQ(attr.type, cudaMemoryTypeDevice);
  EXPECT_EQ(attr.devicePointer, d1);
  ASSERT_CUDA(cudaFree(d1));
  ASSERT_CUDA(cudaFree(d2));
}

TEST(NvidiaRuntime, StreamsAndPinnedAsyncCopies) {
  constexpr size_t n = 1 << 20;
  const auto src = pattern(n, 2);
  unsigned char *h_in = nullptr, *h_out = nullptr;
  ASSERT_CUDA(cudaMallocHost(reinterpret_cast<void**>(&h_in), n));
  ASSERT_CUDA(cudaHostAlloc(reinterpret_cast<void**>(&h_out), n, cudaHostAllocDefault));
  std::memcpy(h_in, src.data(), n);
  std::memset(h_out, 0, n);
  void* d = nullptr;
  ASSERT_CUDA(cudaMalloc(&d, n));
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  ASSERT_CUDA(cudaMemcpyAsync(d, h_in, n, cudaMemcpyHostToDevice, s));
  ASSERT_CUDA(cudaMemsetAsync(d, 0x11, 100, s));
  ASSERT_CUDA(cudaMemcpyAsync(h_out, d, n, cudaMemcpyDeviceToHost, s));
  ASSERT_CUDA(cudaStreamSynchronize(s));
  EXPECT_EQ(cudaStreamQuery(s), cudaSuccess);
  for (size_t i = 0; i < 100; ++i) ASSERT_EQ(h_out[i], 0x11) << i;
  EXPECT_EQ(std::memcmp(h_out + 100, src.data() + 100, n - 100), 0);
  ASSERT_CUDA(cudaStreamDestroy(s));
  ASSERT_CUDA(cudaFree(d));
  ASSERT_CUDA(cudaFreeHost(h_in));
  ASSERT_CUDA(cudaFreeHost(h_out));
}

TEST(NvidiaRuntime, Events) {
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreate(&s));
  cudaEvent_t a = nullptr, b = nullptr;
  ASSERT_CUDA(cudaEventCreate(&a));
  ASSERT_CUDA(cudaEventCreateWithFlags(&b, cudaEventDefault));
  void* d = nullptr;
  ASSERT_CUDA(cudaMalloc(&d, 1 << 20));
  ASSERT_CUDA(cudaEventRecord(a, s));
  ASSERT_CUDA(cudaMemsetAsync(d, 0, 1 << 20, s));
  ASSERT_CUDA(cudaEventRecord(b, s));
  ASSERT_CUDA(cudaStreamWaitEvent(nullptr, b, 0));
  ASSERT_CUDA(cudaEventSynchronize(b));
  EXPECT_EQ(cudaEventQuery(b), cudaSuccess);
  float ms = -1;
  ASSERT_CUDA(cudaEventElapsedTime(&ms, a, b));
  EXPECT_GE(ms, 0.0f);
  ASSERT_CUDA(cudaDeviceSynchronize());
  ASSERT_CUDA(cudaEventDestroy(a));
  ASSERT_CUDA(cudaEventDestroy(b));
  ASSERT_CUDA(cudaStreamDestroy(s));
  ASSERT_CUDA(cudaFree(d));
}

// What frameworks ask about streams before allocating or launching.
TEST(NvidiaRuntime, StreamCaptureStatusAndPriorities) {
  int least = 1, greatest = 1;
  ASSERT_CUDA(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  EXPECT_EQ(least, 0);
  EXPECT_LE(greatest, 0);
  cudaStream_t s = nullptr;
  ASSERT_CUDA(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, greatest));
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusActive;
  unsigned long long id = 0;
  ASSERT_CUDA(cudaStreamGetCaptureInfo(s, &st, &id));
  EXPECT_EQ(st, cudaStreamCaptureStatusNone);
  st = cudaStreamCaptureStatusActive;
  ASSERT_CUDA(cudaStreamIsCapturing(nullptr, &st));
  EXPECT_EQ(st, cudaStreamCaptureStatusNone);
  int prio = 1;
  unsigned flags = 7;
  ASSERT_CUDA(cudaStreamGetPriority(s, &prio));
  EXPECT_EQ(prio, greatest);
  ASSERT_CUDA(cudaStreamGetFlags(s, &flags));
  EXPECT_EQ(flags, unsigned(cudaStreamNonBlocking));
  ASSERT_CUDA(cudaStreamGetPriority(nullptr, &prio));
  EXPECT_EQ(prio, 0);
  ASSERT_CUDA(cudaStreamDestroy(s));
  cudaStream_t clamped = nullptr;  // beyond the range: clamped, as CUDA does
  ASSERT_CUDA(cudaStreamCreateWithPriority(&clamped, cudaStreamDefault, greatest - 10));
  ASSERT_CUDA(cudaStreamGetPriority(clamped, &prio));
  EXPECT_EQ(prio, greatest);
  ASSERT_CUDA(cudaStreamGetFlags(clamped, &flags));
  EXPECT_EQ(flags, 0u);
  ASSERT_CUDA(cudaStreamDestroy(clamped));
}

#ifdef VGPU_TEST_HAS_KERNELS
bool cpu_backend() {
  const char* be = std::getenv("VGPU_TEST_BACKEND");
  return !be || !*be || std::string(be) == "cpu";
}

// NVIDIA's runtime registers an nvcc-built fatbin and loads its module
// through our driver; the launch goes our launch path: refused on the CPU
// backend (no kernels there), run and checked on a GPU.
TEST(NvidiaRuntime, NvccKernelsLoadAndLaunchThroughOurDriver) {
  cudaFunction_t f = nullptr;
  ASSERT_CUDA(cudaGetFuncBySymbol(&f, cudart_test::add_stub()));
  EXPECT_NE(f, nullptr);
  constexpr int n = 1000;
  std::vector<int> a(n), b(n), out(n, -1);
  for (int i = 0; i < n; ++i) a[i] = i, b[i] = 3 * i;
  int *da = nullptr, *db = nullptr, *dout = nullptr;
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&da), n * sizeof(int)));
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&db), n * sizeof(int)));
  ASSERT_CUDA(cudaMalloc(reinterpret_cast<void**>(&dout), n * sizeof(int)));
  ASSERT_CUDA(cudaMemcpy(da, a.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  ASSERT_CUDA(cudaMemcpy(db, b.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  cudart_test::launch_add(dout, da, db, n, nullptr);
  if (cpu_backend()) {
    EXPECT_EQ(cudaGetLastError(), cudaErrorNotSupported);
  } else {
    ASSERT_CUDA(cudaGetLastError());
    ASSERT_CUDA(cudaDeviceSynchronize());
    int bias = 0;
    ASSERT_CUDA(cudaMemcpyFromSymbol(&bias, cudart_test::bias_symbol(), sizeof bias));
    ASSERT_CUDA(cudaMemcpy(out.data(), dout, n * sizeof(int), cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] + b[i] + bias) << i;
  }
  ASSERT_CUDA(cudaFree(da));
  ASSERT_CUDA(cudaFree(db));
  ASSERT_CUDA(cudaFree(dout));
}
#endif

// Errors come back as NVIDIA's runtime maps them, and are not sticky.
TEST(NvidiaRuntime, ErrorsAreReportedAndCleared) {
  EXPECT_EQ(cudaSetDevice(7), cudaErrorInvalidDevice);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, size_t(1) << 52), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidDevice), "cudaErrorInvalidDevice");
  cudaEvent_t e = nullptr;
  ASSERT_CUDA(cudaEventCreate(&e));
  EXPECT_EQ(cudaEventQuery(e), cudaSuccess);  // never recorded: complete
  ASSERT_CUDA(cudaEventDestroy(e));
  ASSERT_CUDA(cudaMalloc(&p, 256));  // the runtime still works
  ASSERT_CUDA(cudaFree(p));
}

}  // namespace
