// CudaBackend on a real GPU, through the Backend interface only: the module
// libvgpu-backend-cuda.so is dlopen'ed by path (VGPU_CUDA_BACKEND_PATH) and
// created with its one export, as vgpu-hostd does (cuda_backend_module.h).
// Without a GPU (no driver, no device) every test skips with the reason.
//
// All calls come from the test's main thread, as they would from a session's
// executor thread. Synchronisation goes through fences, polled.
#include <cublas_v2.h>
#include <cuda.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "backend.h"
#include "cuda_backend_module.h"
#include "vgpu/ops.h"
#include "vgpu/status.h"

#ifndef VGPU_TEST_FATBIN
#define VGPU_TEST_FATBIN ""
#endif

namespace vgpu::host {
namespace {

constexpr uint64_t kHostBytes = 64ull << 20;

class CudaBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Backend* b = test::open_cuda_backend(&skip_);
    if (!b) return;
    host_ = static_cast<std::byte*>(std::aligned_alloc(4096, kHostBytes));
    if (Status s = b->register_host(host_, kHostBytes, &host_dev_); s != st::kOk) {
      skip_ = "register_host failed with status " + std::to_string(s);
      delete b;
      std::free(host_);
      host_ = nullptr;
      return;
    }
    be_ = b;
  }

  static void TearDownTestSuite() {
    delete be_;  // unregisters the host range
    be_ = nullptr;
    std::free(host_);
    host_ = nullptr;
    // The module stays loaded, as in the daemon.
  }

  void SetUp() override {
    if (!be_) GTEST_SKIP() << skip_;
  }

  // Everything enqueued on `stream` (or on all streams) so far is done.
  static Status sync(Native stream, bool all = false) {
    uint64_t f = 0;
    if (Status s = be_->fence_create(stream, all, &f); s != st::kOk) return s;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    Status s;
    while ((s = be_->fence_poll(f)) == st::kNotReady) {
      if (std::chrono::steady_clock::now() > deadline) break;
      sched_yield();
    }
    be_->fence_release(f);
    return s;
  }

  template <class T = std::byte>
  static T* host(uint64_t offset) {
    return reinterpret_cast<T*>(host_ + offset);
  }

  static std::vector<char> read_file(const char* path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  static inline Backend* be_ = nullptr;
  static inline std::string skip_;
  static inline std::byte* host_ = nullptr;
  static inline uint64_t host_dev_ = 0;
};

TEST_F(CudaBackendTest, DescribesTheDevice) {
  EXPECT_EQ(be_->kind(), BackendKind::kCuda);
  EXPECT_GE(be_->driver_version(), 12000);
  EXPECT_GE(be_->device_count(), 1);
  DeviceInfoRep info;
  ASSERT_EQ(be_->device_info(0, &info), st::kOk);
  EXPECT_GT(std::strlen(info.name), 0u);
  EXPECT_GT(std::strlen(info.pci_bus_id), 0u);
  EXPECT_GT(info.total_mem, 1ull << 30);
  EXPECT_GE(info.attr[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR], 7);
  EXPECT_GT(info.attr[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT], 0);
  EXPECT_EQ(info.attr[CU_DEVICE_ATTRIBUTE_WARP_SIZE], 32);
  bool uuid_set = false;
  for (uint8_t b : info.uuid) uuid_set |= b != 0;
  EXPECT_TRUE(uuid_set);
  EXPECT_EQ(be_->device_info(be_->device_count(), &info), st::kInvalidDevice);

  uint64_t free_bytes = 0, total = 0;
  ASSERT_EQ(be_->mem_get_info(&free_bytes, &total), st::kOk);
  EXPECT_GT(free_bytes, 0u);
  EXPECT_LE(free_bytes, total);
  EXPECT_NE(host_dev_, 0u);  // the registered range is device-mapped
  std::printf("device: %s (%s), driver %d\n", info.name, info.pci_bus_id, be_->driver_version());
}

// The backend's tensor map is the one the driver encodes for the same arguments.
TEST_F(CudaBackendTest, TensorMapsMatchTheDriver) {
  DevPtr a = 0;
  ASSERT_EQ(be_->mem_alloc(1 << 20, &a), st::kOk);
  TensorMapReq r{};
  r.kind = kTensorMapTiled;
  r.data_type = CU_TENSOR_MAP_DATA_TYPE_FLOAT32;
  r.rank = 2;
  r.global_address = a;
  r.global_dim[0] = r.global_dim[1] = 256;
  r.global_strides[0] = 256 * 4;
  r.box_dim[0] = r.box_dim[1] = 64;
  r.element_strides[0] = r.element_strides[1] = 1;
  uint64_t ours[16] = {};
  ASSERT_EQ(be_->tensor_map_encode(r, ours), st::kOk);
  // NVIDIA's libcuda, which the backend loaded (this test does not link it).
  using Encode = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                              const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                              CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  void* drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(drv, nullptr);
  auto encode = reinterpret_cast<Encode>(dlsym(drv, "cuTensorMapEncodeTiled"));
  ASSERT_NE(encode, nullptr);
  CUtensorMap native{};
  ASSERT_EQ(encode(&native, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, reinterpret_cast<void*>(a), r.global_dim,
                                   r.global_strides, r.box_dim, r.element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                   CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_NONE,
                                   CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
            CUDA_SUCCESS);
  EXPECT_EQ(std::memcmp(ours, &native, sizeof native), 0);
  r.box_dim[0] = 512;  // larger than the hardware allows: the driver's refusal comes back
  EXPECT_NE(be_->tensor_map_encode(r, ours), st::kOk);
  EXPECT_EQ(be_->mem_free(a), st::kOk);
  dlclose(drv);
}

TEST_F(CudaBackendTest, CopiesRoundTripThroughRegisteredMemory) {
  constexpr uint64_t n = 4 << 20;
  auto* src = host<uint32_t>(0);
  auto* dst = host<uint32_t>(n);
  for (uint64_t i = 0; i < n / 4; ++i) src[i] = static_cast<uint32_t>(i * 2654435761u);
  std::memset(dst, 0, n);

  DevPtr a = 0, b = 0;
  ASSERT_EQ(be_->mem_alloc(n, &a), st::kOk);
  ASSERT_EQ(be_->mem_alloc(n, &b), st::kOk);
  Native s = 0;
  ASSERT_EQ(be_->stream_create(CU_STREAM_NON_BLOCKING, 0, &s), st::kOk);
  ASSERT_EQ(be_->copy_htod(a, src, n, s), st::kOk);
  ASSERT_EQ(be_->copy_dtod(b, a, n, s), st::kOk);
  ASSERT_EQ(be_->copy_dtoh(dst, b, n, s), st::kOk);
  ASSERT_EQ(sync(s), st::kOk);
  EXPECT_EQ(std::memcmp(src, dst, n), 0);
  EXPECT_EQ(be_->stream_query(s), st::kOk);

  // The same on the legacy stream.
  std::memset(dst, 0, n);
  ASSERT_EQ(be_->copy_dtoh(dst, a, n, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(sync(kNativeLegacyStream), st::kOk);
  EXPECT_EQ(std::memcmp(src, dst, n), 0);

  EXPECT_EQ(be_->stream_destroy(s), st::kOk);
  EXPECT_EQ(be_->mem_free(a), st::kOk);
  EXPECT_EQ(be_->mem_free(b), st::kOk);
  EXPECT_NE(be_->mem_free(0x1234), st::kOk);
}

TEST_F(CudaBackendTest, Memsets) {
  constexpr uint64_t n = 4096;
  DevPtr d = 0;
  ASSERT_EQ(be_->mem_alloc(n, &d), st::kOk);
  ASSERT_EQ(be_->memset(d, 0xAB, 1, n, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be_->memset(d + 1024, 0x1234, 2, 256, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be_->memset(d + 2048, 0xDEADBEEFu, 4, 256, kNativeLegacyStream), st::kOk);
  EXPECT_EQ(be_->memset(d, 0, 3, 1, kNativeLegacyStream), st::kInvalidValue);
  auto* out = host<uint8_t>(0);
  ASSERT_EQ(be_->copy_dtoh(out, d, n, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(sync(kNativeLegacyStream), st::kOk);
  for (uint64_t i = 0; i < 1024; ++i) ASSERT_EQ(out[i], 0xAB) << i;
  for (uint64_t i = 0; i < 256; ++i) {
    uint16_t v;
    std::memcpy(&v, out + 1024 + 2 * i, 2);
    ASSERT_EQ(v, 0x1234) << i;
  }
  for (uint64_t i = 0; i < 256; ++i) {
    uint32_t v;
    std::memcpy(&v, out + 2048 + 4 * i, 4);
    ASSERT_EQ(v, 0xDEADBEEFu) << i;
  }
  for (uint64_t i = 3072; i < n; ++i) ASSERT_EQ(out[i], 0xAB) << i;
  EXPECT_EQ(be_->mem_free(d), st::kOk);
}

TEST_F(CudaBackendTest, Copies2D) {
  constexpr uint64_t width = 48, height = 10, spitch = 64, dpitch = 128;
  auto* src = host<uint8_t>(0);
  auto* dst = host<uint8_t>(1 << 20);
  for (uint64_t i = 0; i < spitch * height; ++i) src[i] = static_cast<uint8_t>(i * 7 + 1);
  std::memset(dst, 0, width * height);
  DevPtr d = 0;
  ASSERT_EQ(be_->mem_alloc(dpitch * height, &d), st::kOk);
  ASSERT_EQ(be_->memset(d, 0, 1, dpitch * height, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be_->copy_2d(CopyKind::kHtoD, d, dpitch, reinterpret_cast<uint64_t>(src), spitch, width, height,
                         kNativeLegacyStream),
            st::kOk);
  ASSERT_EQ(be_->copy_2d(CopyKind::kDtoH, reinterpret_cast<uint64_t>(dst), width, d, dpitch, width, height,
                         kNativeLegacyStream),
            st::kOk);
  ASSERT_EQ(sync(kNativeLegacyStream), st::kOk);
  for (uint64_t y = 0; y < height; ++y)
    for (uint64_t x = 0; x < width; ++x) ASSERT_EQ(dst[y * width + x], src[y * spitch + x]) << y << "," << x;
  EXPECT_EQ(be_->copy_2d(static_cast<CopyKind>(9), d, dpitch, d, dpitch, width, height, kNativeLegacyStream),
            st::kInvalidValue);
  EXPECT_EQ(be_->mem_free(d), st::kOk);
}

TEST_F(CudaBackendTest, EventsAndFences) {
  Native s1 = 0, s2 = 0, e0 = 0, e1 = 0;
  ASSERT_EQ(be_->stream_create(CU_STREAM_NON_BLOCKING, 0, &s1), st::kOk);
  ASSERT_EQ(be_->stream_create(0, 0, &s2), st::kOk);
  ASSERT_EQ(be_->event_create(CU_EVENT_DEFAULT, &e0), st::kOk);
  ASSERT_EQ(be_->event_create(CU_EVENT_DEFAULT, &e1), st::kOk);
  constexpr uint64_t n = 64 << 20;
  DevPtr d = 0;
  ASSERT_EQ(be_->mem_alloc(n, &d), st::kOk);

  ASSERT_EQ(be_->event_record(e0, s1, 0), st::kOk);
  for (int i = 0; i < 8; ++i) ASSERT_EQ(be_->memset(d, i, 4, n / 4, s1), st::kOk);
  ASSERT_EQ(be_->event_record(e1, s1, 0), st::kOk);
  ASSERT_EQ(be_->stream_wait_event(s2, e1, 0), st::kOk);
  ASSERT_EQ(be_->memset(d, 0x11, 1, 16, s2), st::kOk);
  ASSERT_EQ(sync(s2), st::kOk);
  EXPECT_EQ(be_->event_query(e1), st::kOk);  // s2 waited for it
  float ms = -1.f;
  ASSERT_EQ(be_->event_elapsed(e0, e1, &ms), st::kOk);
  EXPECT_GE(ms, 0.f);

  // A fence over every stream.
  ASSERT_EQ(be_->memset(d, 1, 4, n / 4, s1), st::kOk);
  ASSERT_EQ(be_->memset(d, 2, 4, n / 4, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(sync(0, /*all=*/true), st::kOk);
  EXPECT_EQ(be_->stream_query(s1), st::kOk);
  EXPECT_EQ(be_->stream_query(s2), st::kOk);
  EXPECT_EQ(be_->stream_query(kNativeLegacyStream), st::kOk);

  // Not ready while work is queued behind a long chain, then ready.
  uint64_t f = 0;
  for (int i = 0; i < 32; ++i) ASSERT_EQ(be_->memset(d, i, 4, n / 4, s1), st::kOk);
  ASSERT_EQ(be_->fence_create(s1, false, &f), st::kOk);
  Status first = be_->fence_poll(f);
  EXPECT_TRUE(first == st::kNotReady || first == st::kOk) << first;
  while (be_->fence_poll(f) == st::kNotReady) sched_yield();
  EXPECT_EQ(be_->fence_poll(f), st::kOk);
  be_->fence_release(f);
  EXPECT_EQ(be_->fence_poll(f), st::kInvalidHandle);
  be_->fence_release(f);  // twice: harmless

  // Many fences: events and map nodes are recycled.
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(sync(i % 2 ? s1 : s2, i % 7 == 0), st::kOk) << i;

  EXPECT_EQ(be_->event_destroy(e0), st::kOk);
  EXPECT_EQ(be_->event_destroy(e1), st::kOk);
  EXPECT_EQ(be_->stream_destroy(s1), st::kOk);
  EXPECT_EQ(be_->stream_destroy(s2), st::kOk);
  EXPECT_EQ(be_->mem_free(d), st::kOk);
}

// Device answers: the device stores a value into registered host memory
// once the stream's earlier work is done, and not before.
TEST_F(CudaBackendTest, StreamWriteValueLandsAfterTheWork) {
  constexpr uint64_t n = 64 << 20;
  DevPtr d = 0;
  ASSERT_EQ(be_->mem_alloc(n, &d), st::kOk);
  const uint64_t off = kHostBytes - 64;
  auto* word = reinterpret_cast<std::atomic<uint64_t>*>(host_ + off);
  for (Native stream : {Native{0}, kNativeLegacyStream}) {
    Native s = stream;
    if (!s) {
      ASSERT_EQ(be_->stream_create(CU_STREAM_NON_BLOCKING, 0, &s), st::kOk);
    }
    word->store(0);
    for (int i = 1; i <= 16; ++i) ASSERT_EQ(be_->memset(d, i, 4, n / 4, s), st::kOk);
    ASSERT_EQ(be_->stream_write_value(s, host_dev_ + off, 4242), st::kOk);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (word->load(std::memory_order_acquire) != 4242 && std::chrono::steady_clock::now() < deadline)
      sched_yield();
    ASSERT_EQ(word->load(), 4242u);
    // Stored after the last memset finished: the device holds its value.
    uint32_t last = 0;
    ASSERT_EQ(be_->copy_dtoh(&last, d + n - 4, 4, s), st::kOk);
    ASSERT_EQ(sync(s), st::kOk);
    EXPECT_EQ(last, 16u);
    if (s != kNativeLegacyStream) {
      EXPECT_EQ(be_->stream_destroy(s), st::kOk);
    }
  }
  EXPECT_EQ(be_->mem_free(d), st::kOk);
}

TEST_F(CudaBackendTest, CaptureAndGraphs) {
  constexpr uint64_t n = 1 << 20;
  DevPtr d = 0;
  ASSERT_EQ(be_->mem_alloc(n, &d), st::kOk);
  Native s = 0;
  ASSERT_EQ(be_->stream_create(CU_STREAM_NON_BLOCKING, 0, &s), st::kOk);
  auto* out = host<uint8_t>(0);
  std::memset(out, 0, n);

  uint32_t cs = 99;
  uint64_t id = 0;
  ASSERT_EQ(be_->capture_status(s, &cs, &id), st::kOk);
  EXPECT_EQ(cs, CU_STREAM_CAPTURE_STATUS_NONE);
  ASSERT_EQ(be_->begin_capture(s, CU_STREAM_CAPTURE_MODE_RELAXED), st::kOk);
  ASSERT_EQ(be_->capture_status(s, &cs, &id), st::kOk);
  EXPECT_EQ(cs, CU_STREAM_CAPTURE_STATUS_ACTIVE);
  EXPECT_NE(id, 0u);
  uint64_t f = 0;
  EXPECT_EQ(be_->fence_create(s, false, &f), st::kStreamCaptureUnsupported);
  EXPECT_EQ(be_->fence_create(0, true, &f), st::kStreamCaptureUnsupported);
  ASSERT_EQ(be_->memset(d, 0x5A, 1, n, s), st::kOk);
  ASSERT_EQ(be_->copy_dtoh(out, d, n, s), st::kOk);
  Native graph = 0;
  ASSERT_EQ(be_->end_capture(s, &graph), st::kOk);
  ASSERT_NE(graph, 0u);
  ASSERT_EQ(be_->capture_status(s, &cs, &id), st::kOk);
  EXPECT_EQ(cs, CU_STREAM_CAPTURE_STATUS_NONE);
  EXPECT_EQ(out[0], 0) << "captured work must not run";

  Native exec = 0;
  ASSERT_EQ(be_->graph_instantiate(graph, 0, &exec), st::kOk);
  ASSERT_EQ(be_->graph_launch(exec, s), st::kOk);
  ASSERT_EQ(sync(s), st::kOk);
  for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], 0x5A) << i;

  int32_t result = -1;
  ASSERT_EQ(be_->graph_exec_update(exec, graph, &result), st::kOk);
  EXPECT_EQ(result, CU_GRAPH_EXEC_UPDATE_SUCCESS);
  ASSERT_EQ(be_->graph_launch(exec, s), st::kOk);
  ASSERT_EQ(sync(s), st::kOk);

  EXPECT_EQ(be_->graph_exec_destroy(exec), st::kOk);
  EXPECT_EQ(be_->graph_destroy(graph), st::kOk);
  EXPECT_EQ(be_->stream_destroy(s), st::kOk);
  EXPECT_EQ(be_->mem_free(d), st::kOk);
}

class CudaBackendModuleTest : public CudaBackendTest {
 protected:
  void SetUp() override {
    CudaBackendTest::SetUp();
    if (IsSkipped()) return;
    image_ = read_file(VGPU_TEST_FATBIN);
    if (image_.empty()) GTEST_SKIP() << "test kernels not built (no nvcc at build time): '" VGPU_TEST_FATBIN "'";
    ASSERT_EQ(be_->module_load(image_.data(), image_.size(), &module_), st::kOk);
  }
  void TearDown() override {
    if (module_) {
      EXPECT_EQ(be_->module_unload(module_), st::kOk);
    }
  }
  Native function(const char* name, std::vector<ParamSlot>* params) {
    Native fn = 0;
    Status ps = st::kUnknown;
    EXPECT_EQ(be_->module_function(module_, name, &fn, params, &ps), st::kOk) << name;
    EXPECT_EQ(ps, st::kOk) << name;
    return fn;
  }
  static LaunchReq launch_req(uint32_t grid, uint32_t block, uint32_t param_bytes) {
    LaunchReq r{};
    r.grid[0] = grid;
    r.grid[1] = r.grid[2] = 1;
    r.block[0] = block;
    r.block[1] = r.block[2] = 1;
    r.param_bytes = param_bytes;
    return r;
  }
  std::vector<char> image_;
  Native module_ = 0;
};

TEST_F(CudaBackendModuleTest, ReportsParameterLayouts) {
  std::vector<ParamSlot> p;
  ASSERT_NE(function("vgpu_test_mixed", &p), 0u);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].offset, 0u);
  EXPECT_EQ(p[0].size, 1u);
  EXPECT_EQ(p[1].offset, 8u);
  EXPECT_EQ(p[1].size, 8u);
  EXPECT_EQ(p[2].offset, 16u);
  EXPECT_EQ(p[2].size, 8u);
  EXPECT_EQ(p[3].offset, 24u);
  EXPECT_EQ(p[3].size, 4u);

  ASSERT_NE(function("vgpu_test_struct", &p), 0u);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].offset, 0u);
  EXPECT_EQ(p[0].size, 64u);
  EXPECT_EQ(p[1].offset, 64u);
  EXPECT_EQ(p[1].size, 8u);

  ASSERT_NE(function("vgpu_test_bump", &p), 0u);
  ASSERT_EQ(p.size(), 1u);

  Native fn = 0;
  Status ps = st::kOk;
  EXPECT_EQ(be_->module_function(module_, "no_such_kernel", &fn, &p, &ps), st::kNotFound);
}

// cuModuleEnumerateFunctions' names: every kernel of the test image, each
// one cuModuleGetFunction finds (the guest asks for them by name).
TEST_F(CudaBackendModuleTest, ListsTheModulesKernels) {
  std::vector<std::string> names;
  ASSERT_EQ(be_->module_functions(module_, &names), st::kOk);
  for (const char* k : {"vgpu_test_mixed", "vgpu_test_struct", "vgpu_test_add_one", "vgpu_test_bump"})
    EXPECT_NE(std::find(names.begin(), names.end(), k), names.end()) << k;
  std::vector<ParamSlot> p;
  for (const std::string& n : names) EXPECT_NE(function(n.c_str(), &p), 0u) << n;
}

TEST_F(CudaBackendModuleTest, LaunchesWithPackedParameters) {
  std::vector<ParamSlot> p;
  Native fn = function("vgpu_test_mixed", &p);
  ASSERT_EQ(p.size(), 4u);
  constexpr int n = 1000;
  DevPtr out = 0;
  ASSERT_EQ(be_->mem_alloc(n * sizeof(float), &out), st::kOk);
  Native s = 0;
  ASSERT_EQ(be_->stream_create(CU_STREAM_NON_BLOCKING, 0, &s), st::kOk);

  alignas(16) unsigned char params[64] = {};
  const char c = 3;
  const double d = 0.5;
  const int count = n;
  std::memcpy(params + p[0].offset, &c, sizeof c);
  std::memcpy(params + p[1].offset, &d, sizeof d);
  std::memcpy(params + p[2].offset, &out, sizeof out);
  std::memcpy(params + p[3].offset, &count, sizeof count);
  const uint32_t bytes = p[3].offset + p[3].size;
  LaunchReq r = launch_req((n + 127) / 128, 128, bytes);
  ASSERT_EQ(be_->launch(fn, r, s, params, bytes), st::kOk);
  auto* h = host<float>(0);
  ASSERT_EQ(be_->copy_dtoh(h, out, n * sizeof(float), s), st::kOk);
  ASSERT_EQ(sync(s), st::kOk);
  for (int i = 0; i < n; ++i) ASSERT_FLOAT_EQ(h[i], static_cast<float>(0.5 * i) + 3.f) << i;

  // A by-value struct.
  Native fs = function("vgpu_test_struct", &p);
  ASSERT_EQ(p.size(), 2u);
  float big[16];
  for (int i = 0; i < 16; ++i) big[i] = static_cast<float>(i) - 4.f;
  alignas(16) unsigned char sp[128] = {};
  std::memcpy(sp + p[0].offset, big, sizeof big);
  std::memcpy(sp + p[1].offset, &out, sizeof out);
  const uint32_t sbytes = p[1].offset + p[1].size;
  r = launch_req(1, 32, sbytes);
  ASSERT_EQ(be_->launch(fs, r, kNativeLegacyStream, sp, sbytes), st::kOk);
  ASSERT_EQ(be_->copy_dtoh(h, out, 16 * sizeof(float), kNativeLegacyStream), st::kOk);
  ASSERT_EQ(sync(kNativeLegacyStream), st::kOk);
  for (int i = 0; i < 16; ++i) ASSERT_FLOAT_EQ(h[i], big[i] * 2.f) << i;

  // Programmatic stream serialization (PDL) is accepted; unknown flags are refused.
  r = launch_req((n + 127) / 128, 128, bytes);
  r.flags = kLaunchProgrammaticSerialization;
  EXPECT_EQ(be_->launch(fn, r, s, params, bytes), st::kOk);
  r.flags = 0x80;
  EXPECT_EQ(be_->launch(fn, r, s, params, bytes), st::kNotSupported);
  ASSERT_EQ(sync(s), st::kOk);

  EXPECT_EQ(be_->stream_destroy(s), st::kOk);
  EXPECT_EQ(be_->mem_free(out), st::kOk);
}

TEST_F(CudaBackendModuleTest, KernelsReachRegisteredHostMemory) {
  std::vector<ParamSlot> p;
  Native fn = function("vgpu_test_add_one", &p);
  ASSERT_EQ(p.size(), 2u);
  constexpr int n = 4096;
  constexpr uint64_t off = 8 << 20;
  auto* v = host<int>(off);
  for (int i = 0; i < n; ++i) v[i] = i;
  const uint64_t dev = host_dev_ + off;
  alignas(16) unsigned char params[16] = {};
  std::memcpy(params + p[0].offset, &dev, sizeof dev);
  std::memcpy(params + p[1].offset, &n, sizeof n);
  LaunchReq r = launch_req(n / 256, 256, 12);
  ASSERT_EQ(be_->launch(fn, r, kNativeLegacyStream, params, 12), st::kOk);
  ASSERT_EQ(sync(kNativeLegacyStream), st::kOk);
  for (int i = 0; i < n; ++i) ASSERT_EQ(v[i], i + 1) << i;
}

TEST_F(CudaBackendModuleTest, GlobalsAttributesOccupancy) {
  DevPtr g = 0;
  uint64_t bytes = 0;
  ASSERT_EQ(be_->module_global(module_, "vgpu_test_counter", &g, &bytes), st::kOk);
  EXPECT_NE(g, 0u);
  EXPECT_EQ(bytes, 4 * sizeof(int));
  EXPECT_EQ(be_->module_global(module_, "no_such_global", &g, &bytes), st::kNotFound);
  ASSERT_EQ(be_->module_global(module_, "vgpu_test_counter", &g, &bytes), st::kOk);

  std::vector<ParamSlot> p;
  Native fn = function("vgpu_test_bump", &p);
  ASSERT_EQ(be_->memset(g, 0, 4, 4, kNativeLegacyStream), st::kOk);
  const int by = 3;
  alignas(16) unsigned char params[8] = {};
  std::memcpy(params, &by, sizeof by);
  LaunchReq r = launch_req(10, 64, 4);
  ASSERT_EQ(be_->launch(fn, r, kNativeLegacyStream, params, 4), st::kOk);
  auto* h = host<int>(0);
  ASSERT_EQ(be_->copy_dtoh(h, g, 16, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(sync(kNativeLegacyStream), st::kOk);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h[i], 10 * 16 * by) << i;

  int v = 0;
  ASSERT_EQ(be_->func_get_attribute(fn, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, &v), st::kOk);
  EXPECT_GT(v, 0);
  ASSERT_EQ(be_->func_set_attribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 64 * 1024), st::kOk);
  ASSERT_EQ(be_->func_get_attribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, &v), st::kOk);
  EXPECT_EQ(v, 64 * 1024);
  int blocks = 0;
  ASSERT_EQ(be_->occupancy_max_blocks(fn, 128, 0, 0, &blocks), st::kOk);
  EXPECT_GT(blocks, 0);
  uint64_t smem = 0;
  ASSERT_EQ(be_->occupancy_available_smem(fn, 1, 128, &smem), st::kOk);
  EXPECT_GE(smem, 64u * 1024);  // at least the limit set above
  OccupancyClustersReq q{};
  q.grid[0] = 8, q.grid[1] = q.grid[2] = 1;
  q.block[0] = 128, q.block[1] = q.block[2] = 1;
  q.cluster[0] = 2, q.cluster[1] = q.cluster[2] = 1;
  q.query = kOccupancyMaxActiveClusters;
  int v2 = 0;
  ASSERT_EQ(be_->occupancy_clusters(fn, q, &v2), st::kOk);
  EXPECT_GT(v2, 0);
  q.query = kOccupancyMaxPotentialClusterSize;
  ASSERT_EQ(be_->occupancy_clusters(fn, q, &v2), st::kOk);
  EXPECT_GE(v2, 1);
}

TEST_F(CudaBackendTest, RefusesBadImages) {
  Native m = 0;
  const uint32_t wrapper[4] = {0x466243B1u, 1, 0, 0};
  EXPECT_EQ(be_->module_load(wrapper, sizeof wrapper, &m), st::kInvalidImage);
  struct {
    uint32_t magic = 0xBA55ED50u;
    uint16_t version = 1;
    uint16_t header_size = 16;
    uint64_t fat_size = 1 << 20;  // claims more than it has
  } fat;
  EXPECT_EQ(be_->module_load(&fat, sizeof fat, &m), st::kInvalidImage);
}

// Column-major reference: C = alpha * A(m x k) * B(k x n) + beta * C.
void ref_sgemm(int m, int n, int k, float alpha, const float* a, const float* b, float beta, float* c) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double acc = 0;
      for (int l = 0; l < k; ++l) acc += static_cast<double>(a[i + l * m]) * b[l + j * k];
      c[i + j * m] = static_cast<float>(alpha * acc + beta * c[i + j * m]);
    }
}

TEST_F(CudaBackendTest, SgemmMatchesTheCpu) {
  constexpr int m = 37, n = 29, k = 23, batch = 3;
  constexpr float alpha = 1.5f, beta = -0.5f;
  const uint64_t sa = m * k, sb = k * n, sc = m * n;
  std::vector<float> a(sa * batch), b(sb * batch), c(sc * batch), ref;
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 37) % 17) / 8.f - 1.f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 11) % 13) / 6.f - 1.f;
  for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<float>(i % 5) - 2.f;
  ref = c;
  for (int i = 0; i < batch; ++i)
    ref_sgemm(m, n, k, alpha, a.data() + i * sa, b.data() + i * sb, beta, ref.data() + i * sc);

  DevPtr da = 0, db = 0, dc = 0;
  ASSERT_EQ(be_->mem_alloc(a.size() * 4, &da), st::kOk);
  ASSERT_EQ(be_->mem_alloc(b.size() * 4, &db), st::kOk);
  ASSERT_EQ(be_->mem_alloc(c.size() * 4, &dc), st::kOk);
  Native s = 0;
  ASSERT_EQ(be_->stream_create(CU_STREAM_NON_BLOCKING, 0, &s), st::kOk);
  auto upload = [&](DevPtr d, const std::vector<float>& v, uint64_t off) {
    std::memcpy(host(off), v.data(), v.size() * 4);
    ASSERT_EQ(be_->copy_htod(d, host(off), v.size() * 4, s), st::kOk);
  };
  upload(da, a, 0);
  upload(db, b, 1 << 20);
  upload(dc, c, 2 << 20);

  Native h = 0;
  ASSERT_EQ(be_->blas_create(&h), st::kOk);
  GemmReq r{};
  r.batch_kind = kGemmSingle;
  r.transa = CUBLAS_OP_N;
  r.transb = CUBLAS_OP_N;
  r.m = m;
  r.n = n;
  r.k = k;
  r.a_type = r.b_type = r.c_type = CUDA_R_32F;
  r.compute_type = CUBLAS_COMPUTE_32F_PEDANTIC;
  r.algo = CUBLAS_GEMM_DEFAULT;
  r.lda = m;
  r.ldb = k;
  r.ldc = m;
  r.batch_count = 1;
  r.a = da;
  r.b = db;
  r.c = dc;
  std::memcpy(r.alpha, &alpha, 4);
  std::memcpy(r.beta, &beta, 4);
  int bs = -1;
  ASSERT_EQ(be_->blas_gemm(h, s, r, &bs), st::kOk);
  EXPECT_EQ(bs, CUBLAS_STATUS_SUCCESS);

  // Batches 1 and 2 strided, in device pointer mode with a user workspace.
  DevPtr scalars = 0, ws = 0;
  ASSERT_EQ(be_->mem_alloc(256, &scalars), st::kOk);
  ASSERT_EQ(be_->mem_alloc(4 << 20, &ws), st::kOk);
  const float sc2[2] = {alpha, beta};
  std::memcpy(host(3 << 20), sc2, sizeof sc2);
  ASSERT_EQ(be_->copy_htod(scalars, host(3 << 20), sizeof sc2, s), st::kOk);
  GemmReq rs = r;
  rs.batch_kind = kGemmStrided;
  rs.batch_count = batch - 1;
  rs.a = da + sa * 4;
  rs.b = db + sb * 4;
  rs.c = dc + sc * 4;
  rs.stride_a = static_cast<int64_t>(sa);
  rs.stride_b = static_cast<int64_t>(sb);
  rs.stride_c = static_cast<int64_t>(sc);
  rs.s.pointer_mode = 1;
  rs.s.workspace = ws;
  rs.s.workspace_bytes = 4 << 20;
  const uint64_t pa = scalars, pb = scalars + 4;
  std::memcpy(rs.alpha, &pa, 8);
  std::memcpy(rs.beta, &pb, 8);
  ASSERT_EQ(be_->blas_gemm(h, s, rs, &bs), st::kOk);
  EXPECT_EQ(bs, CUBLAS_STATUS_SUCCESS);

  auto* out = host<float>(4 << 20);
  ASSERT_EQ(be_->copy_dtoh(out, dc, c.size() * 4, s), st::kOk);
  ASSERT_EQ(sync(s), st::kOk);
  for (size_t i = 0; i < c.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-3f * (1.f + std::fabs(ref[i]))) << i;

  // Batched (arrays of pointers) recomputes batch 0 from the original C.
  std::vector<float> c0(c.begin(), c.begin() + sc);
  upload(dc, c0, 2 << 20);
  const uint64_t ptrs[3] = {da, db, dc};
  DevPtr dptrs = 0;
  ASSERT_EQ(be_->mem_alloc(sizeof ptrs, &dptrs), st::kOk);
  std::memcpy(host(5 << 20), ptrs, sizeof ptrs);
  ASSERT_EQ(be_->copy_htod(dptrs, host(5 << 20), sizeof ptrs, s), st::kOk);
  GemmReq rb = r;
  rb.batch_kind = kGemmBatched;
  rb.a = dptrs;
  rb.b = dptrs + 8;
  rb.c = dptrs + 16;
  ASSERT_EQ(be_->blas_gemm(h, s, rb, &bs), st::kOk);
  EXPECT_EQ(bs, CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(be_->copy_dtoh(out, dc, sc * 4, s), st::kOk);
  ASSERT_EQ(sync(s), st::kOk);
  for (uint64_t i = 0; i < sc; ++i) ASSERT_NEAR(out[i], ref[i], 1e-3f * (1.f + std::fabs(ref[i]))) << i;

  // Level 1: dot of A's first column with itself, result to the host.
  BlasL12Req l{};
  l.routine = static_cast<uint32_t>(BlasL12::kSdot);
  l.n = m;
  l.incx = l.incy = 1;
  l.x = l.y = da;
  float dot = 0.f;
  ASSERT_EQ(be_->blas_l12(h, s, l, &dot, &bs), st::kOk);
  EXPECT_EQ(bs, CUBLAS_STATUS_SUCCESS);
  double want = 0;
  for (int i = 0; i < m; ++i) want += static_cast<double>(a[i]) * a[i];
  EXPECT_NEAR(dot, want, 1e-3 * (1 + want));
  // DotEx with the float types, as the guest sends them; then types whose
  // result would not fit the reply (a complex double: 16 bytes), refused
  // before cuBLAS could write it.
  l.routine = static_cast<uint32_t>(BlasL12::kDotEx);
  l.types = CUDA_R_32F | CUDA_R_32F << 8 | CUDA_R_32F << 16 | CUDA_R_32F << 24;
  float dot_ex = 0.f;
  ASSERT_EQ(be_->blas_l12(h, s, l, &dot_ex, &bs), st::kOk);
  EXPECT_EQ(bs, CUBLAS_STATUS_SUCCESS);
  EXPECT_NEAR(dot_ex, want, 1e-3 * (1 + want));
  l.types = CUDA_C_64F | CUDA_C_64F << 8 | CUDA_C_64F << 16 | CUDA_C_64F << 24;
  ASSERT_EQ(be_->blas_l12(h, s, l, &dot_ex, &bs), st::kOk);
  EXPECT_EQ(bs, CUBLAS_STATUS_NOT_SUPPORTED);

  bs = -1;
  GemmReq bad = r;
  bad.batch_kind = 7;
  ASSERT_EQ(be_->blas_gemm(h, s, bad, &bs), st::kOk);
  EXPECT_EQ(bs, CUBLAS_STATUS_INVALID_VALUE);

  EXPECT_EQ(be_->blas_destroy(h), st::kOk);
  EXPECT_EQ(be_->stream_destroy(s), st::kOk);
  for (DevPtr d : {da, db, dc, scalars, ws, dptrs}) EXPECT_EQ(be_->mem_free(d), st::kOk);
}

TEST_F(CudaBackendTest, VirtualMemory) {
  MemProp r{};
  r.location_id = 0;
  r.handle_types = CU_MEM_HANDLE_TYPE_NONE;
  uint64_t gran = 0;
  ASSERT_EQ(be_->mem_granularity(r, CU_MEM_ALLOC_GRANULARITY_MINIMUM, &gran), st::kOk);
  ASSERT_GT(gran, 0u);
  const uint64_t size = 2 * gran;
  r.size = size;

  DevPtr va = 0;
  ASSERT_EQ(be_->va_reserve(4 * size, 0, 0, 0, &va), st::kOk);
  ASSERT_NE(va, 0u);
  Native mh = 0;
  ASSERT_EQ(be_->mem_create(r, &mh), st::kOk);
  ASSERT_EQ(be_->mem_map(va, size, 0, mh), st::kOk);
  ASSERT_EQ(be_->mem_set_access(va, size, 0, CU_MEM_ACCESS_FLAGS_PROT_READWRITE), st::kOk);

  auto* src = host<uint32_t>(0);
  auto* dst = host<uint32_t>(size);
  for (uint64_t i = 0; i < size / 4; ++i) src[i] = static_cast<uint32_t>(i ^ 0x9E3779B9u);
  std::memset(dst, 0, size);
  ASSERT_EQ(be_->copy_htod(va, src, size, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be_->copy_dtoh(dst, va, size, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(sync(kNativeLegacyStream), st::kOk);
  EXPECT_EQ(std::memcmp(src, dst, size), 0);

  EXPECT_EQ(be_->mem_unmap(va, size), st::kOk);
  EXPECT_EQ(be_->mem_release(mh), st::kOk);
  EXPECT_EQ(be_->va_free(va, 4 * size), st::kOk);
}

TEST_F(CudaBackendTest, Nvml) {
  NvmlRep rep;
  Status s = be_->nvml_query(kNvmlWithPcieThroughput, &rep);
  if (s != st::kOk) GTEST_SKIP() << "NVML not available on this host (nvml status " << rep.status << ")";
  auto fig = [&](NvmlFig f) { return rep.fig[static_cast<uint32_t>(f)]; };
  ASSERT_EQ(fig(NvmlFig::kGpuUtil).status, 0);
  EXPECT_LE(fig(NvmlFig::kGpuUtil).value, 100u);
  EXPECT_LE(fig(NvmlFig::kMemUtil).value, 100u);
  ASSERT_EQ(fig(NvmlFig::kMemTotal).status, 0);
  EXPECT_GT(fig(NvmlFig::kMemTotal).value, 0u);
  if (fig(NvmlFig::kTemperature).status == 0) {
    EXPECT_LT(fig(NvmlFig::kTemperature).value, 150u);
    EXPECT_GT(fig(NvmlFig::kTemperature).value, 0u);
  }
  // Each figure is its NVML call's value, never the zero it started as
  // (these once were read before the call, and all came back 0).
  for (NvmlFig f : {NvmlFig::kMaxClockSm, NvmlFig::kEnforcedPowerLimit, NvmlFig::kPowerLimit, NvmlFig::kPcieWidth,
                    NvmlFig::kPcieGen, NvmlFig::kBar1Total}) {
    if (fig(f).status == 0) {
      EXPECT_GT(fig(f).value, 0u) << "figure " << static_cast<uint32_t>(f);
    }
  }
  std::printf("NVML: util %llu%% mem %llu%% temp %llu C power %llu mW total %llu B\n",
              (unsigned long long)fig(NvmlFig::kGpuUtil).value, (unsigned long long)fig(NvmlFig::kMemUtil).value,
              (unsigned long long)fig(NvmlFig::kTemperature).value, (unsigned long long)fig(NvmlFig::kPower).value,
              (unsigned long long)fig(NvmlFig::kMemTotal).value);
}

}  // namespace
}  // namespace vgpu::host
