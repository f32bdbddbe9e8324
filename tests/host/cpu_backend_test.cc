// CpuBackend: memory, copies, memsets, bounds refusal, VMM aliasing, cuBLAS
// against naive references, refusals of what a CPU cannot do.
#include "cpu_backend.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace vgpu::host::cpu {

namespace {

constexpr uint64_t kMiB = 1ull << 20;

// ---- helpers ---------------------------------------------------------------------------
struct CpuBackendTest : ::testing::Test {
  CpuBackend be{256 * kMiB};
  Native blas = 0;
  void SetUp() override { ASSERT_EQ(be.blas_create(&blas), st::kOk); }

  DevPtr alloc(uint64_t n) {
    DevPtr p = 0;
    EXPECT_EQ(be.mem_alloc(n, &p), st::kOk);
    return p;
  }
  template <class T>
  DevPtr upload(const std::vector<T>& v) {
    DevPtr p = alloc(std::max<uint64_t>(1, v.size() * sizeof(T)));
    EXPECT_EQ(be.copy_htod(p, v.data(), v.size() * sizeof(T), kNativeLegacyStream), st::kOk);
    return p;
  }
  template <class T>
  std::vector<T> download(DevPtr p, size_t n) {
    std::vector<T> v(n);
    EXPECT_EQ(be.copy_dtoh(v.data(), p, n * sizeof(T), kNativeLegacyStream), st::kOk);
    return v;
  }
};

std::vector<float> randv(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

GemmReq gemm_req(Native h, int ta, int tb, int m, int n, int k, int type, int ctype, int compute, int lda, int ldb,
                 int ldc) {
  GemmReq r{};
  r.s.handle = h;
  r.batch_kind = kGemmSingle;
  r.transa = ta, r.transb = tb, r.m = m, r.n = n, r.k = k;
  r.a_type = r.b_type = type;
  r.c_type = ctype;
  r.compute_type = compute;
  r.algo = -1;
  r.lda = lda, r.ldb = ldb, r.ldc = ldc;
  r.batch_count = 1;
  return r;
}
template <class S>
void set_scalars(GemmReq& r, S alpha, S beta) {
  std::memcpy(r.alpha, &alpha, sizeof(S));
  std::memcpy(r.beta, &beta, sizeof(S));
}

// Reference: C = alpha op(A) op(B) + beta C in double, column-major.
void ref_gemm(int ta, int tb, int m, int n, int k, double alpha, const std::vector<double>& a, int lda,
              const std::vector<double>& b, int ldb, double beta, std::vector<double>& c, int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int p = 0; p < k; ++p) {
        const double av = ta == 0 ? a[i + p * lda] : a[p + i * lda];
        const double bv = tb == 0 ? b[p + j * ldb] : b[j + p * ldb];
        s += av * bv;
      }
      c[i + j * ldc] = alpha * s + (beta != 0 ? beta * c[i + j * ldc] : 0.0);
    }
}

// ---- formats -------------------------------------------------------------------------------
TEST(CpuFormats, HalfRoundTripsEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    const uint16_t back = float_to_half(f);
    if (std::isnan(f))
      EXPECT_TRUE((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0) << h;
    else
      EXPECT_EQ(back, h) << h;
  }
}

TEST(CpuFormats, HalfRoundsToNearestEven) {
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65519.0f), 0x7bff);  // below the halfway point
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);  // tie, to even: infinity
  EXPECT_EQ(float_to_half(1e10f), 0x7c00);
  EXPECT_EQ(float_to_half(-1e10f), 0xfc00);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0).
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: to even (1 + 2^-9).
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  // Subnormals: 2^-25 is half the smallest subnormal: ties to even (0).
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp: tie, to even
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), 0x0400);  // rounds up into normal
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity()), 0x7c00);
  const uint16_t nan = float_to_half(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x3ff, 0);
}

TEST(CpuFormats, Bf16) {
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(bits_f32(0x3f808000)), 0x3f80);  // tie, to even
  EXPECT_EQ(float_to_bf16(bits_f32(0x3f818000)), 0x3f82);  // tie, to even (up)
  EXPECT_EQ(float_to_bf16(bits_f32(0x3f808001)), 0x3f81);
  EXPECT_EQ(float_to_bf16(bits_f32(0x7f7fffff)), 0x7f80);  // overflow to inf
  const uint16_t nan = float_to_bf16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(bf16_to_float(nan)));
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_float(static_cast<uint16_t>(b));
    if (!std::isnan(f)) {
      EXPECT_EQ(float_to_bf16(f), b);
    }
  }
}

// ---- device ------------------------------------------------------------------------------
TEST(CpuDevice, Info) {
  CpuBackend a(1024 * kMiB), b(1024 * kMiB);
  EXPECT_EQ(a.init(0), st::kOk);
  EXPECT_EQ(a.init(1), st::kInvalidDevice);
  EXPECT_EQ(a.kind(), BackendKind::kCpu);
  EXPECT_EQ(a.driver_version(), 13000);
  EXPECT_EQ(a.device_count(), 1);
  DeviceInfoRep x{}, y{};
  ASSERT_EQ(a.device_info(0, &x), st::kOk);
  ASSERT_EQ(b.device_info(0, &y), st::kOk);
  EXPECT_STREQ(x.name, "vgpu CPU backend");
  EXPECT_STREQ(x.pci_bus_id, "0000:00:00.0");
  EXPECT_EQ(std::memcmp(x.uuid, y.uuid, 16), 0);  // stable
  EXPECT_NE(std::memcmp(x.uuid, std::vector<uint8_t>(16, 0).data(), 16), 0);
  EXPECT_EQ(x.total_mem, 1024 * kMiB);
  EXPECT_EQ(x.attr[75], 9);
  EXPECT_EQ(x.attr[76], 0);
  EXPECT_EQ(x.attr[16], 16);
  EXPECT_EQ(x.attr[10], 32);
  EXPECT_EQ(x.attr[1], 1024);
  EXPECT_EQ(x.attr[8], 49152);
  EXPECT_EQ(x.attr[97], 232448);
  EXPECT_EQ(x.attr[41], 1);
  EXPECT_EQ(x.attr[102], 1);
  EXPECT_EQ(x.attr[83], 0);
  EXPECT_EQ(a.device_info(1, &x), st::kInvalidDevice);
  uint64_t base = 1;
  EXPECT_EQ(a.register_host(nullptr, 64, &base), st::kInvalidValue);
  EXPECT_EQ(base, 0u);
  NvmlRep n{};
  EXPECT_EQ(a.nvml_query(0, &n), st::kNotSupported);
}

// Registered host memory is device-addressable at its own address (as
// pinned memory is under unified addressing): copies and memsets reach it,
// and stop at its end.
TEST(CpuDevice, RegisteredHostMemoryIsADeviceAddress) {
  CpuBackend a(64 * kMiB);
  ASSERT_EQ(a.init(0), st::kOk);
  alignas(64) static uint8_t host[4096];
  std::memset(host, 0, sizeof host);
  uint64_t base = 0;
  ASSERT_EQ(a.register_host(host, sizeof host, &base), st::kOk);
  EXPECT_EQ(base, reinterpret_cast<uint64_t>(host));
  DevPtr d = 0;
  ASSERT_EQ(a.mem_alloc(256, &d), st::kOk);
  ASSERT_EQ(a.memset(d, 0x5a, 1, 256, 0), st::kOk);
  ASSERT_EQ(a.memset(base + 16, 0x11223344u, 4, 4, 0), st::kOk);
  ASSERT_EQ(a.copy_dtod(base + 128, d, 256, 0), st::kOk);
  EXPECT_EQ(host[16], 0x44);
  EXPECT_EQ(host[31], 0x11);
  EXPECT_EQ(host[32], 0);
  EXPECT_EQ(host[128], 0x5a);
  EXPECT_EQ(host[383], 0x5a);
  EXPECT_EQ(host[384], 0);
  EXPECT_NE(a.memset(base + sizeof host - 4, 0, 4, 2, 0), st::kOk);  // runs past the registered end
  // A stream wait on it holds until another thread (the guest's) writes the
  // word; on device memory an unmet wait is refused at once (nothing else
  // writes there while this stream waits).
  Native s = 0;
  ASSERT_EQ(a.stream_create(0, 0, &s), st::kOk);
  auto* word = reinterpret_cast<uint32_t*>(host + 1024);
  __atomic_store_n(word, 0u, __ATOMIC_RELEASE);
  std::thread writer([word] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    __atomic_store_n(word, 3u, __ATOMIC_RELEASE);
  });
  EXPECT_EQ(a.stream_wait_value(s, base + 1024, 3, 4, 0 /* GEQ */), st::kOk);
  writer.join();
  EXPECT_EQ(a.stream_wait_value(s, d, 1, 4, 1 /* EQ */), st::kNotSupported);
  EXPECT_EQ(a.stream_destroy(s), st::kOk);
  EXPECT_EQ(a.mem_free(d), st::kOk);
}

// The daemon's configuration sizes the backend through its factory
// (host_config.h: --cpu-mem-mb, VGPU_CPU_MEM_MB); the backend itself never
// reads the environment, so a variable set in this process changes nothing.
TEST(CpuDevice, SizeFromItsFactoryNotTheEnvironment) {
  setenv("VGPU_CPU_MEM_MB", "123", 1);
  std::unique_ptr<Backend> sized = make_cpu_backend(7 * kMiB);
  std::unique_ptr<Backend> dflt = make_cpu_backend(0);
  CpuBackend plain;
  unsetenv("VGPU_CPU_MEM_MB");
  ASSERT_EQ(sized->init(0), st::kOk);
  ASSERT_EQ(dflt->init(0), st::kOk);
  uint64_t fr = 0, tot = 0;
  ASSERT_EQ(sized->mem_get_info(&fr, &tot), st::kOk);
  EXPECT_EQ(tot, 7 * kMiB);
  DevPtr p = 0;
  EXPECT_EQ(sized->mem_alloc(8 * kMiB, &p), st::kOutOfMemory);  // the size is the limit, not a label
  ASSERT_EQ(dflt->mem_get_info(&fr, &tot), st::kOk);
  EXPECT_EQ(tot, kDefaultQuotaMiB * kMiB);
  EXPECT_EQ(plain.quota(), kDefaultQuotaMiB * kMiB);
}

// ---- memory --------------------------------------------------------------------------------
TEST(CpuMemory, AllocationAndQuota) {
  CpuBackend be(8 * kMiB);
  uint64_t fr, tot;
  ASSERT_EQ(be.mem_get_info(&fr, &tot), st::kOk);
  EXPECT_EQ(tot, 8 * kMiB);
  EXPECT_EQ(fr, 8 * kMiB);
  DevPtr a = 0, b = 0, c = 0;
  ASSERT_EQ(be.mem_alloc(5 * kMiB, &a), st::kOk);
  EXPECT_EQ(a % 256, 0u);
  ASSERT_EQ(be.mem_get_info(&fr, &tot), st::kOk);
  EXPECT_EQ(fr, 3 * kMiB);
  EXPECT_EQ(be.mem_alloc(4 * kMiB, &b), st::kOutOfMemory);
  EXPECT_EQ(be.mem_alloc(~0ull, &b), st::kOutOfMemory);
  EXPECT_EQ(be.mem_alloc(0, &b), st::kInvalidValue);
  ASSERT_EQ(be.mem_alloc(3 * kMiB, &b), st::kOk);  // exactly the rest
  EXPECT_EQ(be.mem_alloc(1, &c), st::kOutOfMemory);
  EXPECT_EQ(be.mem_free(a + 8), st::kInvalidValue);
  EXPECT_EQ(be.mem_free(a), st::kOk);
  EXPECT_EQ(be.mem_free(a), st::kInvalidValue);  // double free
  ASSERT_EQ(be.mem_get_info(&fr, &tot), st::kOk);
  EXPECT_EQ(fr, 5 * kMiB);
  ASSERT_EQ(be.mem_alloc(17, &c), st::kOk);  // charged in 256-byte units
  EXPECT_EQ(be.used(), 3 * kMiB + 256);
  EXPECT_EQ(be.mem_free(b), st::kOk);
  EXPECT_EQ(be.mem_free(c), st::kOk);
  EXPECT_EQ(be.used(), 0u);
}

TEST_F(CpuBackendTest, CopyRoundTrips) {
  std::vector<uint8_t> src(100000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 131 + 7);
  DevPtr a = alloc(src.size()), b = alloc(src.size());
  ASSERT_EQ(be.copy_htod(a, src.data(), src.size(), kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be.copy_dtod(b, a, src.size(), kNativeLegacyStream), st::kOk);
  EXPECT_EQ(download<uint8_t>(b, src.size()), src);
  // Overlapping device-to-device copy behaves as memmove.
  ASSERT_EQ(be.copy_dtod(b + 1, b, 1000, kNativeLegacyStream), st::kOk);
  auto got = download<uint8_t>(b, 1001);
  EXPECT_EQ(got[0], src[0]);
  EXPECT_TRUE(std::equal(got.begin() + 1, got.end(), src.begin()));
  // Zero bytes: nothing to do, anywhere.
  EXPECT_EQ(be.copy_htod(a, src.data(), 0, kNativeLegacyStream), st::kOk);
  // A created stream works; an unknown one is refused.
  Native s;
  ASSERT_EQ(be.stream_create(0, 0, &s), st::kOk);
  EXPECT_EQ(be.copy_htod(a, src.data(), 10, s), st::kOk);
  EXPECT_EQ(be.copy_htod(a, src.data(), 10, 0xdead), st::kInvalidHandle);
}

TEST_F(CpuBackendTest, Copy2D) {
  // 7 rows of 10 bytes; host pitch 16, device pitch 32.
  std::vector<uint8_t> host(16 * 7);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<uint8_t>(i);
  DevPtr d = alloc(32 * 7), d2 = alloc(24 * 7);
  ASSERT_EQ(be.memset(d, 0xee, 1, 32 * 7, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be.copy_2d(CopyKind::kHtoD, d, 32, reinterpret_cast<uint64_t>(host.data()), 16, 10, 7,
                       kNativeLegacyStream),
            st::kOk);
  auto dev = download<uint8_t>(d, 32 * 7);
  for (int r = 0; r < 7; ++r)
    for (int c = 0; c < 32; ++c) EXPECT_EQ(dev[r * 32 + c], c < 10 ? host[r * 16 + c] : 0xee);
  ASSERT_EQ(be.copy_2d(CopyKind::kDtoD, d2, 24, d, 32, 10, 7, kNativeLegacyStream), st::kOk);
  std::vector<uint8_t> back(12 * 7, 0);
  ASSERT_EQ(be.copy_2d(CopyKind::kDtoH, reinterpret_cast<uint64_t>(back.data()), 12, d2, 24, 10, 7,
                       kNativeLegacyStream),
            st::kOk);
  for (int r = 0; r < 7; ++r)
    for (int c = 0; c < 10; ++c) EXPECT_EQ(back[r * 12 + c], host[r * 16 + c]);
  // Width above a pitch, and a footprint past the allocation, are refused.
  EXPECT_EQ(be.copy_2d(CopyKind::kDtoD, d2, 8, d, 32, 10, 7, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_2d(CopyKind::kDtoD, d2, 24, d, 40, 10, 7, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_2d(CopyKind::kDtoD, d2, 27, d, 32, 10, 7, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_2d(static_cast<CopyKind>(9), d2, 24, d, 32, 10, 7, kNativeLegacyStream), st::kInvalidValue);
}

TEST_F(CpuBackendTest, MemsetEveryWidth) {
  DevPtr d = alloc(64);
  ASSERT_EQ(be.memset(d, 0, 1, 64, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be.memset(d + 1, 0x1ab, 1, 5, kNativeLegacyStream), st::kOk);
  auto b = download<uint8_t>(d, 8);
  EXPECT_EQ(b, (std::vector<uint8_t>{0, 0xab, 0xab, 0xab, 0xab, 0xab, 0, 0}));
  ASSERT_EQ(be.memset(d, 0xbeef, 2, 9, kNativeLegacyStream), st::kOk);
  auto h = download<uint16_t>(d, 10);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(h[i], 0xbeef);
  EXPECT_EQ(h[9], 0);
  ASSERT_EQ(be.memset(d + 2, 0xdeadbeef, 4, 3, kNativeLegacyStream), st::kOk);  // unaligned is fine
  std::vector<uint8_t> raw = download<uint8_t>(d, 16);
  for (int i = 0; i < 3; ++i) {
    uint32_t v;
    std::memcpy(&v, raw.data() + 2 + 4 * i, 4);
    EXPECT_EQ(v, 0xdeadbeefu);
  }
  EXPECT_EQ(raw[14], 0xef);  // the 16-bit pattern, untouched
  // Patterns whose bytes are all equal (a plain byte fill inside) and ones that are not.
  ASSERT_EQ(be.memset(d + 16, 0x4141, 2, 4, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be.memset(d + 24, 0x7f7f7f7f, 4, 2, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be.memset(d + 32, 0x00004141, 4, 2, kNativeLegacyStream), st::kOk);
  raw = download<uint8_t>(d, 40);
  for (int i = 16; i < 24; ++i) EXPECT_EQ(raw[i], 0x41);
  for (int i = 24; i < 32; ++i) EXPECT_EQ(raw[i], 0x7f);
  for (int i = 32; i < 40; ++i) EXPECT_EQ(raw[i], i % 4 < 2 ? 0x41 : 0x00);
  EXPECT_EQ(be.memset(d, 0, 3, 4, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.memset(d, 0, 4, 17, kNativeLegacyStream), st::kInvalidValue);  // 68 bytes > 64
  EXPECT_EQ(be.memset(d, 0, 4, 1ull << 62, kNativeLegacyStream), st::kInvalidValue);  // overflow
}

TEST_F(CpuBackendTest, CopiesOutsideDeviceMemoryAreRefused) {
  DevPtr d = alloc(100);
  std::vector<uint8_t> buf(200, 0x5a);
  auto local = reinterpret_cast<DevPtr>(buf.data());  // host memory, not device memory
  EXPECT_EQ(be.copy_htod(d, buf.data(), 101, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_htod(d + 99, buf.data(), 2, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_htod(d + 100, buf.data(), 1, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_htod(d - 1, buf.data(), 1, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_htod(local, buf.data(), 10, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_dtoh(buf.data(), local, 10, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_dtoh(buf.data(), d, 101, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_dtod(local, d, 10, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_dtod(d, local, 10, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_dtod(d, 0, 10, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_dtod(~0ull - 4, d, 10, kNativeLegacyStream), st::kInvalidValue);  // wraps
  EXPECT_EQ(be.copy_dtoh(buf.data(), d, ~0ull, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.memset(local, 0, 1, 10, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.copy_2d(CopyKind::kHtoD, local, 10, reinterpret_cast<uint64_t>(buf.data()), 10, 10, 2,
                       kNativeLegacyStream),
            st::kInvalidValue);
  // Spanning two allocations is not one allocation.
  DevPtr e = alloc(4096), f = alloc(4096);
  const DevPtr lo = std::min(e, f);
  EXPECT_EQ(be.copy_htod(lo + 4000, buf.data(), 200, kNativeLegacyStream), st::kInvalidValue);
  // A freed allocation is no longer device memory.
  ASSERT_EQ(be.mem_free(d), st::kOk);
  EXPECT_EQ(be.copy_htod(d, buf.data(), 1, kNativeLegacyStream), st::kInvalidValue);
  for (auto v : buf) EXPECT_EQ(v, 0x5a);
}

// ---- streams, events, fences -----------------------------------------------------------------
TEST_F(CpuBackendTest, StreamsEventsFences) {
  Native s, e1, e2, e3;
  ASSERT_EQ(be.stream_create(0, 0, &s), st::kOk);
  ASSERT_EQ(be.event_create(0, &e1), st::kOk);
  ASSERT_EQ(be.event_create(0, &e2), st::kOk);
  ASSERT_EQ(be.event_create(2, &e3), st::kOk);  // CU_EVENT_DISABLE_TIMING
  float ms = -1;
  EXPECT_EQ(be.event_elapsed(e1, e2, &ms), st::kInvalidHandle);  // not recorded yet
  ASSERT_EQ(be.event_record(e1, s, 0), st::kOk);
  ASSERT_EQ(be.event_record(e2, kNativeLegacyStream, 0), st::kOk);
  ASSERT_EQ(be.event_record(e3, s, 0), st::kOk);
  ASSERT_EQ(be.event_elapsed(e1, e2, &ms), st::kOk);
  EXPECT_GE(ms, 0.0f);
  EXPECT_LT(ms, 1000.0f);
  EXPECT_EQ(be.event_elapsed(e1, e3, &ms), st::kInvalidHandle);
  EXPECT_EQ(be.event_query(e1), st::kOk);
  EXPECT_EQ(be.stream_query(s), st::kOk);
  EXPECT_EQ(be.stream_query(kNativeLegacyStream), st::kOk);
  EXPECT_EQ(be.stream_wait_event(s, e1, 0), st::kOk);
  EXPECT_EQ(be.stream_wait_event(s, 999999, 0), st::kInvalidHandle);
  EXPECT_EQ(be.event_record(e1, 999999, 0), st::kInvalidHandle);
  uint64_t f1, f2;
  ASSERT_EQ(be.fence_create(s, false, &f1), st::kOk);
  ASSERT_EQ(be.fence_create(0, true, &f2), st::kOk);
  EXPECT_EQ(be.fence_poll(f1), st::kOk);
  EXPECT_EQ(be.fence_poll(f2), st::kOk);
  be.fence_release(f1);
  EXPECT_EQ(be.fence_poll(f1), st::kInvalidHandle);
  EXPECT_EQ(be.fence_create(999999, false, &f1), st::kInvalidHandle);
  EXPECT_EQ(be.event_destroy(e1), st::kOk);
  EXPECT_EQ(be.event_destroy(e1), st::kInvalidHandle);
  EXPECT_EQ(be.event_query(e1), st::kInvalidHandle);
  EXPECT_EQ(be.stream_destroy(s), st::kOk);
  EXPECT_EQ(be.stream_destroy(s), st::kInvalidHandle);
  EXPECT_EQ(be.stream_query(s), st::kInvalidHandle);
  EXPECT_EQ(be.stream_destroy(kNativeLegacyStream), st::kInvalidHandle);
}

TEST_F(CpuBackendTest, CaptureAndGraphsAreRefused) {
  Native s, g;
  ASSERT_EQ(be.stream_create(0, 0, &s), st::kOk);
  EXPECT_EQ(be.begin_capture(s, 0), st::kNotSupported);
  uint32_t status = 7;
  uint64_t id = 7;
  EXPECT_EQ(be.capture_status(s, &status, &id), st::kOk);
  EXPECT_EQ(status, 0u);  // not capturing
  EXPECT_EQ(be.end_capture(s, &g), st::kNotSupported);
  int32_t res;
  EXPECT_EQ(be.graph_instantiate(1, 0, &g), st::kNotSupported);
  EXPECT_EQ(be.graph_exec_update(1, 1, &res), st::kNotSupported);
  EXPECT_EQ(be.graph_launch(1, s), st::kNotSupported);
  EXPECT_EQ(be.graph_exec_destroy(1), st::kNotSupported);
  EXPECT_EQ(be.graph_destroy(1), st::kNotSupported);
}

// ---- modules ---------------------------------------------------------------------------------
TEST_F(CpuBackendTest, ModulesRegisterButKernelsAreRefused) {
  const char img[] = "\x7f" "ELF....\0_Z6kernelPf\0.text._Z6kernelPf\0other_thing\0";
  Native m, fn, fn2;
  ASSERT_EQ(be.module_load(img, sizeof(img), &m), st::kOk);
  std::vector<ParamSlot> params{{1, 2}};
  Status pst = st::kOk;
  ASSERT_EQ(be.module_function(m, "_Z6kernelPf", &fn, &params, &pst), st::kOk);
  EXPECT_EQ(pst, st::kNotSupported);
  EXPECT_TRUE(params.empty());
  EXPECT_EQ(be.module_function(m, "other_thing", &fn2, &params, &pst), st::kOk);
  EXPECT_EQ(be.module_function(m, "_Z6kernel", &fn2, &params, &pst), st::kNotFound);  // a prefix only
  EXPECT_EQ(be.module_function(m, "missing", &fn2, &params, &pst), st::kNotFound);
  EXPECT_EQ(be.module_function(m + 1000, "_Z6kernelPf", &fn2, &params, &pst), st::kInvalidHandle);
  // PTX text names kernels as tokens.
  const char ptx[] = ".version 8.0\n.target sm_90\n.visible .entry _Z3addPfS_(\n.param .u64 p)\n{ ret; }\n";
  Native mp, fp;
  ASSERT_EQ(be.module_load(ptx, sizeof(ptx) - 1, &mp), st::kOk);
  EXPECT_EQ(be.module_function(mp, "_Z3addPfS_", &fp, &params, &pst), st::kOk);
  EXPECT_EQ(be.module_function(mp, "_Z3add", &fp, &params, &pst), st::kNotFound);

  DevPtr gp;
  uint64_t gb;
  EXPECT_EQ(be.module_global(m, "other_thing", &gp, &gb), st::kNotSupported);
  int v;
  EXPECT_EQ(be.func_get_attribute(fn, 0, &v), st::kNotSupported);
  EXPECT_EQ(be.func_set_attribute(fn, 8, 1000), st::kNotSupported);
  EXPECT_EQ(be.occupancy_max_blocks(fn, 128, 0, 0, &v), st::kNotSupported);
  LaunchReq lr{};
  lr.function = fn;
  lr.grid[0] = lr.grid[1] = lr.grid[2] = 1;
  lr.block[0] = lr.block[1] = lr.block[2] = 1;
  uint64_t arg = 0;
  EXPECT_EQ(be.launch(fn, lr, kNativeLegacyStream, &arg, sizeof(arg)), st::kNotSupported);
  EXPECT_EQ(be.module_unload(m), st::kOk);
  EXPECT_EQ(be.module_unload(m), st::kInvalidHandle);
  EXPECT_EQ(be.func_get_attribute(fn, 0, &v), st::kInvalidHandle);  // went with its module
}

TEST_F(CpuBackendTest, FullyCompressedFatbinNamesCannotBeCheckedSoTheyAreAccepted) {
  // A fatbin container: header, then entries (ELF, PTX) with flags at +0x28.
  auto fatbin = [](std::vector<uint64_t> entry_flags, uint32_t arch = 90) {
    const uint32_t eh = 64;
    const uint64_t payload = 32;
    const uint64_t fat = entry_flags.size() * (eh + payload);
    std::vector<uint8_t> fb(16 + fat, 0);
    const uint32_t magic = 0xBA55ED50u;
    const uint16_t ver = 1, hsize = 16;
    std::memcpy(fb.data(), &magic, 4);
    std::memcpy(fb.data() + 4, &ver, 2);
    std::memcpy(fb.data() + 6, &hsize, 2);
    std::memcpy(fb.data() + 8, &fat, 8);
    for (size_t i = 0; i < entry_flags.size(); ++i) {
      uint8_t* e = fb.data() + 16 + i * (eh + payload);
      const uint16_t kind = i == 0 ? 2 : 1;
      std::memcpy(e, &kind, 2);
      std::memcpy(e + 4, &eh, 4);
      std::memcpy(e + 8, &payload, 8);
      std::memcpy(e + 0x1c, &arch, 4);
      std::memcpy(e + 0x28, &entry_flags[i], 8);
    }
    return fb;
  };
  Native m, fn;
  std::vector<ParamSlot> params;
  Status pst;
  // Every entry ZSTD-compressed (0x8000): names are hidden, so accepted.
  auto opaque = fatbin({0x8011, 0x8011});
  ASSERT_EQ(be.module_load(opaque.data(), opaque.size(), &m), st::kOk);
  EXPECT_EQ(be.module_function(m, "_Z1kv", &fn, &params, &pst), st::kOk);
  EXPECT_EQ(pst, st::kNotSupported);
  // An uncompressed ELF next to a compressed PTX (nvcc 13's default): absence is known.
  auto mixed = fatbin({0x11, 0x8011});
  ASSERT_EQ(be.module_load(mixed.data(), mixed.size(), &m), st::kOk);
  EXPECT_EQ(be.module_function(m, "_Z1kv", &fn, &params, &pst), st::kNotFound);
  auto plain = fatbin({0x11});
  ASSERT_EQ(be.module_load(plain.data(), plain.size(), &m), st::kOk);
  EXPECT_EQ(be.module_function(m, "_Z1kv", &fn, &params, &pst), st::kNotFound);
  // Code for other GPUs only (an sm_75 ELF and sm_120 PTX): the driver's
  // CUDA_ERROR_NO_BINARY_FOR_GPU. PTX for an older GPU is compiled, so it loads.
  auto other = fatbin({0x11}, 75);
  EXPECT_EQ(be.module_load(other.data(), other.size(), &m), st::kNoBinaryForGpu);
  auto newer = fatbin({0x11, 0x11}, 120);
  EXPECT_EQ(be.module_load(newer.data(), newer.size(), &m), st::kNoBinaryForGpu);
  auto old_ptx = fatbin({0x11, 0x11}, 80);  // entry 0 an sm_80 ELF (no), entry 1 compute_80 PTX (yes)
  EXPECT_EQ(be.module_load(old_ptx.data(), old_ptx.size(), &m), st::kOk);
}

// ---- VMM --------------------------------------------------------------------------------------
TEST(CpuVmm, MappingsAliasAndAreCheckedLikeDeviceMemory) {
  CpuBackend be(64 * kMiB);
  const uint64_t g = kVmmGranularity;
  MemProp cr{};
  cr.size = g;
  uint64_t gran = 0;
  ASSERT_EQ(be.mem_granularity(cr, 0, &gran), st::kOk);
  EXPECT_EQ(gran, g);

  DevPtr va = 0;
  ASSERT_EQ(be.va_reserve(8 * g, 0, 0, 0, &va), st::kOk);
  EXPECT_EQ(va % g, 0u);
  DevPtr va2 = 0;
  ASSERT_EQ(be.va_reserve(g, 16 * g, 0, 0, &va2), st::kOk);  // a large alignment is honoured
  EXPECT_EQ(va2 % (16 * g), 0u);
  EXPECT_EQ(be.va_free(va2, g), st::kOk);

  Native h1, h2;
  ASSERT_EQ(be.mem_create(cr, &h1), st::kOk);
  ASSERT_EQ(be.mem_create(cr, &h2), st::kOk);
  EXPECT_EQ(be.used(), 2 * g);
  MemProp bad = cr;
  bad.location_id = 1;
  Native hx;
  EXPECT_EQ(be.mem_create(bad, &hx), st::kInvalidDevice);
  bad = cr;
  bad.size = 64 * kMiB;
  EXPECT_EQ(be.mem_create(bad, &hx), st::kOutOfMemory);  // quota

  // h1 twice (at va and va + 4g), h2 right after the first view of h1.
  ASSERT_EQ(be.mem_map(va, g, 0, h1), st::kOk);
  ASSERT_EQ(be.mem_map(va + 4 * g, g, 0, h1), st::kOk);
  ASSERT_EQ(be.mem_map(va + g, g, 0, h2), st::kOk);
  EXPECT_EQ(be.mem_map(va, g, 0, h2), st::kInvalidValue);             // already mapped
  EXPECT_EQ(be.mem_map(va + 7 * g, 2 * g, 0, h2), st::kInvalidValue); // past the reservation
  EXPECT_EQ(be.mem_map(va + 2 * g, 2 * g, 0, h2), st::kInvalidValue); // past the allocation
  EXPECT_EQ(be.mem_map(va + 2 * g, g, 4096, h2), st::kInvalidValue);  // offset + size past it
  EXPECT_EQ(be.mem_map(va + 2 * g, g, 0, 424242), st::kInvalidHandle);

  std::vector<uint8_t> data(g);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  // Mapped but no access granted yet: not usable.
  EXPECT_EQ(be.copy_htod(va, data.data(), 16, kNativeLegacyStream), st::kInvalidValue);
  ASSERT_EQ(be.mem_set_access(va, 2 * g, 0, 3), st::kOk);  // both mappings of the run
  ASSERT_EQ(be.mem_set_access(va + 4 * g, g, 0, 1), st::kOk);  // the alias: read-only
  EXPECT_EQ(be.mem_set_access(va, g / 2, 0, 3), st::kInvalidValue);  // not whole mappings
  EXPECT_EQ(be.mem_set_access(va, g, 0, 2), st::kInvalidValue);      // no such flags value
  EXPECT_EQ(be.mem_set_access(va, g, 1, 3), st::kInvalidDevice);

  // Write through the first view, read the same bytes through the second.
  ASSERT_EQ(be.copy_htod(va, data.data(), g, kNativeLegacyStream), st::kOk);
  std::vector<uint8_t> back(g);
  ASSERT_EQ(be.copy_dtoh(back.data(), va + 4 * g, g, kNativeLegacyStream), st::kOk);
  EXPECT_EQ(back, data);
  // And back the other way: a memset through one view shows in the other.
  ASSERT_EQ(be.memset(va + 100, 0xab, 1, 10, kNativeLegacyStream), st::kOk);
  uint8_t b[10];
  ASSERT_EQ(be.copy_dtoh(b, va + 4 * g + 100, 10, kNativeLegacyStream), st::kOk);
  for (uint8_t x : b) EXPECT_EQ(x, 0xab);
  // The read-only view refuses writes.
  EXPECT_EQ(be.copy_htod(va + 4 * g, data.data(), 16, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.memset(va + 4 * g, 0, 1, 1, kNativeLegacyStream), st::kInvalidValue);
  // A copy across the two adjacent mappings (h1 then h2) is one device range.
  ASSERT_EQ(be.copy_htod(va + g - 8, data.data(), 16, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be.copy_dtoh(back.data(), va + g - 8, 16, kNativeLegacyStream), st::kOk);
  EXPECT_EQ(std::memcmp(back.data(), data.data(), 16), 0);
  // Past the run (va + 2g is reserved but unmapped): refused.
  EXPECT_EQ(be.copy_htod(va + 2 * g - 8, data.data(), 16, kNativeLegacyStream), st::kInvalidValue);
  // A device-to-device copy from the alias into a plain allocation.
  DevPtr plain;
  ASSERT_EQ(be.mem_alloc(64, &plain), st::kOk);
  ASSERT_EQ(be.copy_dtod(plain, va + 4 * g + 100, 10, kNativeLegacyStream), st::kOk);
  ASSERT_EQ(be.copy_dtoh(b, plain, 10, kNativeLegacyStream), st::kOk);
  for (uint8_t x : b) EXPECT_EQ(x, 0xab);

  // Release while mapped: memory lives (and stays charged) until unmapped.
  ASSERT_EQ(be.mem_release(h1), st::kOk);
  EXPECT_EQ(be.mem_release(h1), st::kInvalidHandle);
  ASSERT_EQ(be.copy_dtoh(back.data(), va + 4 * g, 16, kNativeLegacyStream), st::kOk);
  EXPECT_EQ(be.used(), 2 * g + 256);
  EXPECT_EQ(be.mem_unmap(va, g / 2), st::kInvalidValue);  // not a whole mapping
  ASSERT_EQ(be.mem_unmap(va, 2 * g), st::kOk);              // the run h1 + h2
  EXPECT_EQ(be.copy_dtoh(back.data(), va, 16, kNativeLegacyStream), st::kInvalidValue);
  EXPECT_EQ(be.used(), 2 * g + 256);                         // h1's alias still mapped
  ASSERT_EQ(be.mem_unmap(va + 4 * g, g), st::kOk);
  EXPECT_EQ(be.used(), g + 256);                             // h1 gone, h2 still held
  EXPECT_EQ(be.mem_unmap(va + 4 * g, g), st::kInvalidValue);
  // Remap h2 after unmapping: its bytes are still there.
  ASSERT_EQ(be.mem_map(va + 6 * g, g, 0, h2), st::kOk);
  ASSERT_EQ(be.mem_set_access(va + 6 * g, g, 0, 3), st::kOk);
  ASSERT_EQ(be.copy_dtoh(back.data(), va + 6 * g, 8, kNativeLegacyStream), st::kOk);
  EXPECT_EQ(std::memcmp(back.data(), data.data() + 8, 8), 0);
  ASSERT_EQ(be.mem_release(h2), st::kOk);
  EXPECT_EQ(be.va_free(va, 7 * g), st::kInvalidValue);  // not the reserved size
  ASSERT_EQ(be.va_free(va, 8 * g), st::kOk);            // takes the last mapping with it
  EXPECT_EQ(be.used(), 256u);
  EXPECT_EQ(be.va_free(va, 8 * g), st::kInvalidValue);
}

// ---- GEMM -------------------------------------------------------------------------------------
struct GemmCase {
  int ta, tb, m, n, k;
};

TEST_F(CpuBackendTest, SgemmMatchesReferenceForEveryTranspose) {
  for (GemmCase gc : {GemmCase{0, 0, 37, 29, 45}, GemmCase{1, 0, 37, 29, 45}, GemmCase{0, 1, 130, 70, 300},
                      GemmCase{1, 1, 5, 131, 257}, GemmCase{2, 0, 64, 64, 64}, GemmCase{0, 0, 1, 1, 1}}) {
    const int rows_a = gc.ta == 0 ? gc.m : gc.k, cols_a = gc.ta == 0 ? gc.k : gc.m;
    const int rows_b = gc.tb == 0 ? gc.k : gc.n, cols_b = gc.tb == 0 ? gc.n : gc.k;
    const int lda = rows_a + 3, ldb = rows_b + 1, ldc = gc.m + 2;
    auto a = randv(static_cast<size_t>(lda) * cols_a, 1), b = randv(static_cast<size_t>(ldb) * cols_b, 2),
         c = randv(static_cast<size_t>(ldc) * gc.n, 3);
    DevPtr da = upload(a), db = upload(b), dc = upload(c);
    GemmReq r = gemm_req(blas, gc.ta, gc.tb, gc.m, gc.n, gc.k, dt::kR32F, dt::kR32F, 68, lda, ldb, ldc);
    r.a = da, r.b = db, r.c = dc;
    set_scalars(r, 1.5f, -0.5f);
    int bs = -1;
    ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
    ASSERT_EQ(bs, 0);
    std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), cd(c.begin(), c.end());
    ref_gemm(gc.ta == 0 ? 0 : 1, gc.tb == 0 ? 0 : 1, gc.m, gc.n, gc.k, 1.5, ad, lda, bd, ldb, -0.5, cd, ldc);
    auto got = download<float>(dc, c.size());
    for (int j = 0; j < gc.n; ++j)
      for (int i = 0; i < ldc; ++i) {
        const size_t idx = i + static_cast<size_t>(j) * ldc;
        if (i < gc.m)
          ASSERT_NEAR(got[idx], cd[idx], 1e-4 * (1 + std::abs(cd[idx]))) << gc.ta << gc.tb << " " << i << "," << j;
        else
          ASSERT_EQ(got[idx], c[idx]);  // padding rows untouched
      }
  }
}

TEST_F(CpuBackendTest, GemmBetaZeroDoesNotReadCAndAlphaZeroDoesNotReadAB) {
  const int m = 8, n = 8, k = 8;
  auto a = randv(m * k, 4), b = randv(k * n, 5);
  std::vector<float> c(m * n, std::numeric_limits<float>::quiet_NaN());
  DevPtr da = upload(a), db = upload(b), dc = upload(c);
  GemmReq r = gemm_req(blas, 0, 0, m, n, k, dt::kR32F, dt::kR32F, 68, m, k, m);
  r.a = da, r.b = db, r.c = dc;
  set_scalars(r, 1.0f, 0.0f);
  int bs;
  ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
  ASSERT_EQ(bs, 0);
  for (float v : download<float>(dc, c.size())) EXPECT_FALSE(std::isnan(v));
  // alpha == 0: C = beta C, NaNs in A ignored.
  std::vector<float> nan_a(m * k, std::numeric_limits<float>::quiet_NaN());
  ASSERT_EQ(be.copy_htod(da, nan_a.data(), nan_a.size() * 4, kNativeLegacyStream), st::kOk);
  std::vector<float> ones(m * n, 1.0f);
  ASSERT_EQ(be.copy_htod(dc, ones.data(), ones.size() * 4, kNativeLegacyStream), st::kOk);
  set_scalars(r, 0.0f, 2.0f);
  ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
  for (float v : download<float>(dc, c.size())) EXPECT_EQ(v, 2.0f);
}

TEST_F(CpuBackendTest, HalfAndBf16Gemm) {
  const int m = 33, n = 17, k = 70;
  auto af = randv(m * k, 6), bf = randv(k * n, 7), cf = randv(m * n, 8);
  // Inputs as their 16-bit forms; the reference uses exactly the values stored.
  for (int type : {dt::kR16F, dt::kR16BF}) {
    auto to16 = [type](float f) { return type == dt::kR16F ? float_to_half(f) : float_to_bf16(f); };
    auto from16 = [type](uint16_t h) { return type == dt::kR16F ? half_to_float(h) : bf16_to_float(h); };
    std::vector<uint16_t> a(af.size()), b(bf.size()), c(cf.size());
    std::transform(af.begin(), af.end(), a.begin(), to16);
    std::transform(bf.begin(), bf.end(), b.begin(), to16);
    std::transform(cf.begin(), cf.end(), c.begin(), to16);
    std::vector<double> ad, bd, cd;
    for (auto v : a) ad.push_back(from16(v));
    for (auto v : b) bd.push_back(from16(v));
    for (auto v : c) cd.push_back(from16(v));
    ref_gemm(1, 0, m, n, k, 0.75, ad, k, bd, k, 0.25, cd, m);
    // A transposed (k x m stored), output in the same 16-bit type, float compute.
    {
      DevPtr da = upload(a), db = upload(b), dc = upload(c);
      GemmReq r = gemm_req(blas, 1, 0, m, n, k, type, type, 68, k, k, m);
      r.a = da, r.b = db, r.c = dc;
      set_scalars(r, 0.75f, 0.25f);
      int bs;
      ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
      ASSERT_EQ(bs, 0);
      auto got = download<uint16_t>(dc, c.size());
      for (size_t i = 0; i < got.size(); ++i) {
        // Correctly rounded to within the type's half-ulp of a float-accumulated result.
        const double tol = (type == dt::kR16F ? 1.0 / 1024 : 1.0 / 128) * (std::abs(cd[i]) + 0.1);
        ASSERT_NEAR(from16(got[i]), cd[i], tol) << type << " " << i;
      }
    }
    // Float output.
    {
      DevPtr da = upload(a), db = upload(b), dc = upload(cf);
      GemmReq r = gemm_req(blas, 1, 0, m, n, k, type, dt::kR32F, 68, k, k, m);
      r.a = da, r.b = db, r.c = dc;
      set_scalars(r, 0.75f, 0.0f);
      int bs;
      ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
      ASSERT_EQ(bs, 0);
      std::vector<double> cz(m * n, 0.0);
      ref_gemm(1, 0, m, n, k, 0.75, ad, k, bd, k, 0.0, cz, m);
      auto got = download<float>(dc, cf.size());
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], cz[i], 1e-4 * (1 + std::abs(cz[i])));
    }
  }
  // Half compute: half scalars; also the legacy compute type CUDA_R_16F.
  for (int compute : {64, dt::kR16F}) {
    std::vector<uint16_t> a(af.size()), b(bf.size()), c(cf.size());
    std::transform(af.begin(), af.end(), a.begin(), float_to_half);
    std::transform(bf.begin(), bf.end(), b.begin(), float_to_half);
    std::transform(cf.begin(), cf.end(), c.begin(), float_to_half);
    std::vector<double> ad, bd, cd;
    for (auto v : a) ad.push_back(half_to_float(v));
    for (auto v : b) bd.push_back(half_to_float(v));
    for (auto v : c) cd.push_back(half_to_float(v));
    ref_gemm(0, 1, m, n, k, 0.5, ad, m, bd, n, 1.0, cd, m);
    DevPtr da = upload(a), db = upload(b), dc = upload(c);
    GemmReq r = gemm_req(blas, 0, 1, m, n, k, dt::kR16F, dt::kR16F, compute, m, n, m);
    r.a = da, r.b = db, r.c = dc;
    set_scalars<uint16_t>(r, float_to_half(0.5f), float_to_half(1.0f));
    int bs;
    ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
    ASSERT_EQ(bs, 0);
    auto got = download<uint16_t>(dc, c.size());
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(half_to_float(got[i]), cd[i], (std::abs(cd[i]) + 0.1) / 1024) << i;
  }
}

TEST_F(CpuBackendTest, DgemmAndDevicePointerScalars) {
  const int m = 20, n = 30, k = 40;
  std::mt19937 g(9);
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<double> a(m * k), b(k * n), c(m * n);
  for (auto* v : {&a, &b, &c})
    for (auto& x : *v) x = d(g);
  DevPtr da = upload(a), db = upload(b), dc = upload(c);
  std::vector<double> scal{1.25, -2.0};
  DevPtr ds = upload(scal);
  GemmReq r = gemm_req(blas, 0, 0, m, n, k, dt::kR64F, dt::kR64F, 70, m, k, m);
  r.a = da, r.b = db, r.c = dc;
  r.s.pointer_mode = 1;
  const uint64_t pa = ds, pb = ds + 8;
  std::memcpy(r.alpha, &pa, 8);
  std::memcpy(r.beta, &pb, 8);
  int bs;
  ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
  ASSERT_EQ(bs, 0);
  std::vector<double> ref = c;
  ref_gemm(0, 0, m, n, k, 1.25, a, m, b, k, -2.0, ref, m);
  auto got = download<double>(dc, c.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-12);
  // A scalar pointer outside device memory.
  const uint64_t bad = reinterpret_cast<uint64_t>(scal.data());
  std::memcpy(r.alpha, &bad, 8);
  EXPECT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kIllegalAddress);
}

TEST_F(CpuBackendTest, StridedAndPointerArrayBatches) {
  const int m = 9, n = 11, k = 13, batch = 5;
  const int64_t sa = m * k + 7, sb = k * n + 3, sc = m * n + 1;
  auto a = randv(sa * batch, 10), b = randv(sb * batch, 11), c = randv(sc * batch, 12);
  std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), cd(c.begin(), c.end());
  for (int i = 0; i < batch; ++i) {
    std::vector<double> ai(ad.begin() + i * sa, ad.begin() + i * sa + m * k),
        bi(bd.begin() + i * sb, bd.begin() + i * sb + k * n), ci(cd.begin() + i * sc, cd.begin() + i * sc + m * n);
    ref_gemm(0, 0, m, n, k, 2.0, ai, m, bi, k, 1.0, ci, m);
    std::copy(ci.begin(), ci.end(), cd.begin() + i * sc);
  }
  {
    DevPtr da = upload(a), db = upload(b), dc = upload(c);
    GemmReq r = gemm_req(blas, 0, 0, m, n, k, dt::kR32F, dt::kR32F, 68, m, k, m);
    r.batch_kind = kGemmStrided;
    r.batch_count = batch;
    r.a = da, r.b = db, r.c = dc;
    r.stride_a = sa, r.stride_b = sb, r.stride_c = sc;
    set_scalars(r, 2.0f, 1.0f);
    int bs;
    ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
    ASSERT_EQ(bs, 0);
    auto got = download<float>(dc, c.size());
    for (int i = 0; i < batch; ++i)
      for (int e = 0; e < m * n; ++e) ASSERT_NEAR(got[i * sc + e], cd[i * sc + e], 1e-4);
    // One stride too many: the last batch entry runs off the end.
    r.stride_c = sc + 1;
    std::vector<float> before = download<float>(dc, c.size());
    EXPECT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kIllegalAddress);
    EXPECT_NE(bs, 0);
    EXPECT_EQ(download<float>(dc, c.size()), before);  // checked before anything was written
  }
  {
    // Separate allocations per entry, reached through device pointer arrays.
    std::vector<uint64_t> pa, pb, pc;
    std::vector<DevPtr> cs;
    for (int i = 0; i < batch; ++i) {
      pa.push_back(upload(std::vector<float>(a.begin() + i * sa, a.begin() + i * sa + m * k)));
      pb.push_back(upload(std::vector<float>(b.begin() + i * sb, b.begin() + i * sb + k * n)));
      pc.push_back(upload(std::vector<float>(c.begin() + i * sc, c.begin() + i * sc + m * n)));
    }
    GemmReq r = gemm_req(blas, 0, 0, m, n, k, dt::kR32F, dt::kR32F, 68, m, k, m);
    r.batch_kind = kGemmBatched;
    r.batch_count = batch;
    r.a = upload(pa), r.b = upload(pb), r.c = upload(pc);
    set_scalars(r, 2.0f, 1.0f);
    int bs;
    ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
    ASSERT_EQ(bs, 0);
    for (int i = 0; i < batch; ++i) {
      auto got = download<float>(pc[i], m * n);
      for (int e = 0; e < m * n; ++e) ASSERT_NEAR(got[e], cd[i * sc + e], 1e-4);
    }
    // A pointer inside the array that points outside device memory.
    std::vector<float> host_c(m * n);
    auto pc_bad = pc;
    pc_bad[3] = reinterpret_cast<uint64_t>(host_c.data());
    r.c = upload(pc_bad);
    EXPECT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kIllegalAddress);
    for (float v : host_c) EXPECT_EQ(v, 0.0f);
    // A pointer to a too-small allocation.
    auto pa_bad = pa;
    pa_bad[1] = alloc(16);
    r.c = upload(pc);
    r.a = upload(pa_bad);
    EXPECT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kIllegalAddress);
    // The array itself outside device memory, or shorter than batch_count.
    r.a = reinterpret_cast<uint64_t>(pa.data());
    EXPECT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kIllegalAddress);
    r.a = upload(std::vector<uint64_t>(pa.begin(), pa.begin() + 4));
    EXPECT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kIllegalAddress);
  }
}

TEST_F(CpuBackendTest, GemmValidation) {
  DevPtr d = alloc(4096);
  auto run = [&](GemmReq r) {
    int bs = -1;
    Status s = be.blas_gemm(blas, kNativeLegacyStream, r, &bs);
    return std::make_pair(s, bs);
  };
  GemmReq ok = gemm_req(blas, 0, 0, 4, 4, 4, dt::kR32F, dt::kR32F, 68, 4, 4, 4);
  ok.a = ok.b = ok.c = d;
  set_scalars(ok, 1.0f, 0.0f);
  EXPECT_EQ(run(ok), std::make_pair(st::kOk, 0));
  GemmReq r = ok;
  r.m = -1;
  EXPECT_EQ(run(r).second, 7);
  r = ok, r.lda = 3;
  EXPECT_EQ(run(r).second, 7);
  r = ok, r.transa = 1, r.m = 8, r.lda = 4;  // op(A) = A^T: A is k x m, lda >= k = 4: fine
  r.ldc = 8;
  EXPECT_EQ(run(r).second, 0);
  r = ok, r.ldb = 3;
  EXPECT_EQ(run(r).second, 7);
  r = ok, r.ldc = 3;
  EXPECT_EQ(run(r).second, 7);
  r = ok, r.transb = 5;
  EXPECT_EQ(run(r).second, 7);
  r = ok, r.batch_kind = kGemmStrided, r.batch_count = -1;
  EXPECT_EQ(run(r).second, 7);
  r = ok, r.compute_type = 72;  // 32I
  EXPECT_EQ(run(r).second, 15);
  r = ok, r.a_type = r.b_type = dt::kR16F, r.c_type = dt::kR16F, r.compute_type = 70;
  EXPECT_EQ(run(r).second, 15);
  r = ok, r.a_type = dt::kR64F;
  EXPECT_EQ(run(r).second, 15);
  r = ok, r.m = 0;  // quick return
  r.a = r.b = r.c = 0;
  EXPECT_EQ(run(r), std::make_pair(st::kOk, 0));
  // Operands out of range.
  r = ok, r.m = r.n = r.k = r.lda = r.ldb = r.ldc = 33;  // 33 * 33 * 4 > 4096
  EXPECT_EQ(run(r).first, st::kIllegalAddress);
  r = ok, r.a = d + 4096 - 32;
  EXPECT_EQ(run(r).first, st::kIllegalAddress);
  r = ok, r.c = reinterpret_cast<DevPtr>(&r);
  EXPECT_EQ(run(r).first, st::kIllegalAddress);
  r = ok, r.lda = 0x7fffffff, r.k = 3;  // a huge footprint
  EXPECT_EQ(run(r).first, st::kIllegalAddress);
  // Unknown handle or stream.
  int bs;
  EXPECT_EQ(be.blas_gemm(blas + 999, kNativeLegacyStream, ok, &bs), st::kInvalidHandle);
  EXPECT_EQ(be.blas_gemm(blas, 999999, ok, &bs), st::kInvalidHandle);
  EXPECT_EQ(be.blas_destroy(blas), st::kOk);
  EXPECT_EQ(be.blas_gemm(blas, kNativeLegacyStream, ok, &bs), st::kInvalidHandle);
  EXPECT_EQ(be.blas_destroy(blas), st::kInvalidHandle);
  ASSERT_EQ(be.blas_create(&blas), st::kOk);
}

// A GEMM as large as CI's workloads, checked on a few entries (its speed is a
// benchmark's business: bench/api, not a unit test).
TEST_F(CpuBackendTest, Sgemm512SpotChecks) {
  const int n = 512;
  auto a = randv(n * n, 13), b = randv(n * n, 14);
  DevPtr da = upload(a), db = upload(b), dc = alloc(n * n * 4);
  GemmReq r = gemm_req(blas, 0, 0, n, n, n, dt::kR32F, dt::kR32F, 68, n, n, n);
  r.a = da, r.b = db, r.c = dc;
  set_scalars(r, 1.0f, 0.0f);
  int bs;
  ASSERT_EQ(be.blas_gemm(blas, kNativeLegacyStream, r, &bs), st::kOk);
  ASSERT_EQ(bs, 0);
  // Spot-check a few entries.
  auto got = download<float>(dc, n * n);
  for (int t = 0; t < 20; ++t) {
    const int i = (t * 97) % n, j = (t * 31) % n;
    double ref = 0;
    for (int p = 0; p < n; ++p) ref += static_cast<double>(a[i + p * n]) * b[p + j * n];
    ASSERT_NEAR(got[i + j * n], ref, 1e-3);
  }
}

// ---- trsm ---------------------------------------------------------------------------------------
TEST_F(CpuBackendTest, TrsmBatchedEveryVariant) {
  const int m = 7, n = 5, batch = 3;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int side : {0, 1})
    for (int uplo : {0, 1})
      for (int trans : {0, 1})
        for (int diag : {0, 1}) {
          const int ka = side == 0 ? m : n, lda = ka + 2, ldb = m + 1;
          const float alpha = 2.0f;
          std::vector<uint64_t> pa, pb;
          std::vector<std::vector<float>> xs, as;
          for (int bi = 0; bi < batch; ++bi) {
            // A: the uplo triangle random (diagonal dominant), the other triangle NaN
            // (must not be read); with a unit diagonal the diagonal is NaN too.
            std::vector<float> a(lda * ka, nan);
            auto rnd = randv(lda * ka, 100 + bi);
            for (int j = 0; j < ka; ++j)
              for (int i = 0; i < ka; ++i) {
                const bool in = uplo == 0 ? i > j : i < j;
                if (in) a[i + j * lda] = rnd[i + j * lda] * 0.3f;
                if (i == j) a[i + j * lda] = diag == 1 ? nan : 2.0f + rnd[i + j * lda];
              }
            auto opa = [&](int i, int j) -> double {
              const int r = trans ? j : i, c = trans ? i : j;
              if (r == c) return diag == 1 ? 1.0 : a[r + c * lda];
              const bool in = uplo == 0 ? r > c : r < c;
              return in ? a[r + c * lda] : 0.0;
            };
            // X random; B = op(A) X / alpha (left) or X op(A) / alpha (right).
            auto x = randv(m * n, 200 + bi);
            std::vector<float> b(ldb * n, 0.0f);
            for (int j = 0; j < n; ++j)
              for (int i = 0; i < m; ++i) {
                double s = 0;
                if (side == 0)
                  for (int p = 0; p < m; ++p) s += opa(i, p) * x[p + j * m];
                else
                  for (int p = 0; p < n; ++p) s += x[i + p * m] * opa(p, j);
                b[i + j * ldb] = static_cast<float>(s / alpha);
              }
            pa.push_back(upload(a));
            pb.push_back(upload(b));
            xs.push_back(x);
          }
          TrsmBatchedReq r{};
          r.s.handle = blas;
          r.side = side, r.uplo = uplo, r.trans = trans, r.diag = diag;
          r.m = m, r.n = n, r.lda = lda, r.ldb = ldb, r.batch_count = batch;
          r.alpha = alpha;
          r.a = upload(pa), r.b = upload(pb);
          int bs = -1;
          ASSERT_EQ(be.blas_trsm_batched(blas, kNativeLegacyStream, r, &bs), st::kOk);
          ASSERT_EQ(bs, 0);
          for (int bi = 0; bi < batch; ++bi) {
            auto got = download<float>(pb[bi], ldb * n);
            for (int j = 0; j < n; ++j)
              for (int i = 0; i < m; ++i)
                ASSERT_NEAR(got[i + j * ldb], xs[bi][i + j * m], 1e-4)
                    << "side " << side << " uplo " << uplo << " trans " << trans << " diag " << diag;
          }
          // Refusals: bad ld, a pointer outside device memory.
          TrsmBatchedReq bad = r;
          bad.lda = ka - 1;
          ASSERT_EQ(be.blas_trsm_batched(blas, kNativeLegacyStream, bad, &bs), st::kOk);
          EXPECT_EQ(bs, 7);
          std::vector<float> host_b(ldb * n);
          auto pb_bad = pb;
          pb_bad[2] = reinterpret_cast<uint64_t>(host_b.data());
          bad = r;
          bad.b = upload(pb_bad);
          EXPECT_EQ(be.blas_trsm_batched(blas, kNativeLegacyStream, bad, &bs), st::kIllegalAddress);
          bad = r;
          bad.s.pointer_mode = 1;
          ASSERT_EQ(be.blas_trsm_batched(blas, kNativeLegacyStream, bad, &bs), st::kOk);
          EXPECT_EQ(bs, 15);
        }
}

// alpha == 0 only zeroes B: A is not read, and op(A) (ka * ka floats, with ka
// taken from B's size alone) must not be built. A tall B of 1 MiB once made
// the daemon allocate 256 GiB.
TEST_F(CpuBackendTest, TrsmAlphaZeroWithATallBAllocatesNoOpA) {
  const int m = 1 << 18;
  std::vector<float> b(m, 3.0f);
  const DevPtr db = upload(b);
  TrsmBatchedReq r{};
  r.s.handle = blas;
  r.m = m, r.n = 1, r.lda = m, r.ldb = m, r.batch_count = 1;
  r.alpha = 0.0f;
  r.a = upload(std::vector<uint64_t>{0}), r.b = upload(std::vector<uint64_t>{db});
  int bs = -1;
  ASSERT_EQ(be.blas_trsm_batched(blas, kNativeLegacyStream, r, &bs), st::kOk);
  EXPECT_EQ(bs, 0);
  EXPECT_EQ(download<float>(db, m), std::vector<float>(m, 0.0f));
}

// A batched call whose pointer arrays lie inside an earlier entry's output:
// running entry 0 rewrites entry 1's pointers (here: to 0). Entry 1 must be
// looked up again and refused, not written through the stale check (which
// wrote at address 0 + offset, an address the guest picks with ld).
TEST_F(CpuBackendTest, BatchedPointerArraysRewrittenByAnEarlierEntry) {
  const DevPtr buf = alloc(1024);
  const std::vector<uint64_t> ptrs = {buf, buf};
  const DevPtr arr = buf + 512;  // entry 0's output (512 floats from buf) covers it
  ASSERT_EQ(be.copy_htod(arr, ptrs.data(), 16, kNativeLegacyStream), st::kOk);
  int bs = -1;

  TrsmBatchedReq t{};
  t.s.handle = blas;
  t.m = 160, t.n = 1, t.lda = t.ldb = 160, t.batch_count = 2, t.alpha = 0.0f;  // B = 0: A not read
  t.a = t.b = arr;
  EXPECT_EQ(be.blas_trsm_batched(blas, kNativeLegacyStream, t, &bs), st::kIllegalAddress);
  EXPECT_EQ(bs, 13);

  ASSERT_EQ(be.copy_htod(arr, ptrs.data(), 16, kNativeLegacyStream), st::kOk);
  GemmReq g = gemm_req(blas, 0, 0, 160, 1, 1, dt::kR32F, dt::kR32F, 68, 160, 1, 160);
  g.batch_kind = kGemmBatched, g.batch_count = 2;
  g.a = g.b = g.c = arr;
  set_scalars(g, 0.0f, 0.0f);  // C = 0: A and B not read
  EXPECT_EQ(be.blas_gemm(blas, kNativeLegacyStream, g, &bs), st::kIllegalAddress);
  EXPECT_EQ(bs, 13);
}

// ---- level 1 / 2 -------------------------------------------------------------------------------
TEST_F(CpuBackendTest, Level1And2) {
  const int n = 50;
  auto x = randv(n * 3, 20), y = randv(n * 2, 21);
  DevPtr dx = upload(x), dy = upload(y);
  BlasL12Req r{};
  r.s.handle = blas;
  float value = 0;
  int bs = -1;
  auto call = [&](BlasL12 routine) {
    r.routine = static_cast<uint32_t>(routine);
    return be.blas_l12(blas, kNativeLegacyStream, r, &value, &bs);
  };
  // Saxpy with incx = 3, incy = -2 (walks y from its end).
  r.n = n, r.incx = 3, r.incy = -2, r.alpha = 1.5f, r.x = dx, r.y = dy;
  ASSERT_EQ(call(BlasL12::kSaxpy), st::kOk);
  ASSERT_EQ(bs, 0);
  auto y2 = download<float>(dy, y.size());
  for (int i = 0; i < n; ++i) {
    const int iy = (n - 1 - i) * 2;
    EXPECT_FLOAT_EQ(y2[iy], 1.5f * x[i * 3] + y[iy]);
    EXPECT_EQ(y2[iy + 1], y[iy + 1]);
  }
  // Sdot (x inc 3, y inc 2).
  r.incy = 2;
  ASSERT_EQ(call(BlasL12::kSdot), st::kOk);
  double dot = 0;
  for (int i = 0; i < n; ++i) dot += static_cast<double>(x[i * 3]) * y2[i * 2];
  EXPECT_NEAR(value, dot, 1e-5);
  // Snrm2.
  ASSERT_EQ(call(BlasL12::kSnrm2), st::kOk);
  double nrm = 0;
  for (int i = 0; i < n; ++i) nrm += static_cast<double>(x[i * 3]) * x[i * 3];
  EXPECT_NEAR(value, std::sqrt(nrm), 1e-5);
  // Sscal.
  r.alpha = -0.5f;
  ASSERT_EQ(call(BlasL12::kSscal), st::kOk);
  auto x2 = download<float>(dx, x.size());
  for (int i = 0; i < n * 3; ++i) EXPECT_EQ(x2[i], i % 3 == 0 ? -0.5f * x[i] : x[i]);
  // DotEx with float types: Sdot's answer (of the scaled x), as its bytes.
  r.types = 0;  // CUDA_R_32F for x, y, result and execution
  ASSERT_EQ(call(BlasL12::kDotEx), st::kOk);
  ASSERT_EQ(bs, 0);
  EXPECT_NEAR(value, -0.5 * dot, 1e-5);
  // Out of range: n elements with inc 3 need 3n - 2 floats; the allocation has 3n.
  r.n = n + 1;
  EXPECT_EQ(call(BlasL12::kSscal), st::kIllegalAddress);
  EXPECT_EQ(call(BlasL12::kSdot), st::kIllegalAddress);
  EXPECT_EQ(call(BlasL12::kDotEx), st::kIllegalAddress);
  r.x = reinterpret_cast<DevPtr>(x.data());
  r.n = 2;
  EXPECT_EQ(call(BlasL12::kSnrm2), st::kIllegalAddress);
  EXPECT_EQ(call(BlasL12::kSaxpy), st::kIllegalAddress);
  r.routine = 99;
  EXPECT_EQ(be.blas_l12(blas, kNativeLegacyStream, r, &value, &bs), st::kOk);
  EXPECT_EQ(bs, 7);
  r.s.pointer_mode = 1;
  r.x = dx;
  EXPECT_EQ(call(BlasL12::kSdot), st::kOk);
  EXPECT_EQ(bs, 15);
  r.s.pointer_mode = 0;

  // Sgemv, both ways, lda > m, negative incx.
  const int m = 13, nn = 9, lda = 16;
  auto a = randv(lda * nn, 22);
  DevPtr da = upload(a);
  for (int trans : {0, 1}) {
    const int lenx = trans ? m : nn, leny = trans ? nn : m;
    auto gx = randv(lenx * 2, 23), gy = randv(leny, 24);
    DevPtr gdx = upload(gx), gdy = upload(gy);
    BlasL12Req g{};
    g.s.handle = blas;
    g.routine = static_cast<uint32_t>(BlasL12::kSgemv);
    g.trans = trans, g.m = m, g.n = nn, g.lda = lda, g.incx = -2, g.incy = 1;
    g.alpha = 0.5f, g.beta = 2.0f;
    g.a = da, g.x = gdx, g.y = gdy;
    ASSERT_EQ(be.blas_l12(blas, kNativeLegacyStream, g, &value, &bs), st::kOk);
    ASSERT_EQ(bs, 0);
    auto got = download<float>(gdy, leny);
    for (int i = 0; i < leny; ++i) {
      double s = 0;
      for (int p = 0; p < lenx; ++p) {
        const double av = trans ? a[p + i * lda] : a[i + p * lda];
        s += av * gx[(lenx - 1 - p) * 2];
      }
      EXPECT_NEAR(got[i], 0.5 * s + 2.0 * gy[i], 1e-5);
    }
    BlasL12Req bad = g;
    bad.lda = m - 1;
    ASSERT_EQ(be.blas_l12(blas, kNativeLegacyStream, bad, &value, &bs), st::kOk);
    EXPECT_EQ(bs, 7);
    bad = g, bad.incx = 0;
    ASSERT_EQ(be.blas_l12(blas, kNativeLegacyStream, bad, &value, &bs), st::kOk);
    EXPECT_EQ(bs, 7);
    bad = g, bad.n = nn + 10;  // A too small for its lda * n
    EXPECT_EQ(be.blas_l12(blas, kNativeLegacyStream, bad, &value, &bs), st::kIllegalAddress);
  }
}

// ---- kernel names (cpu_kernels.cc), for cuModuleEnumerateFunctions ----------------------------
TEST(Lz4Block, DecodesLiteralsMatchesAndLongLengths) {
  std::vector<uint8_t> out;
  // "abcd", then 8 bytes from 4 back (overlapping), then "!" as the last literals.
  const uint8_t a[] = {0x44, 'a', 'b', 'c', 'd', 4, 0, 0x10, '!'};
  ASSERT_TRUE(lz4_block_decode(a, sizeof a, 100, &out));
  EXPECT_EQ(std::string(out.begin(), out.end()), "abcdabcdabcd!");
  // 20 literals (15 + 5), then a match of 4 + 15 + 3 = 22 from 1 back.
  std::vector<uint8_t> b = {0xFF, 5};
  for (int i = 0; i < 20; ++i) b.push_back(static_cast<uint8_t>('A' + i));
  b.insert(b.end(), {1, 0, 3, 0x00});
  ASSERT_TRUE(lz4_block_decode(b.data(), b.size(), 100, &out));
  EXPECT_EQ(out.size(), 42u);
  EXPECT_EQ(std::string(out.begin() + 19, out.end()), std::string(23, 'T'));
  // Malformed: an offset of 0, one before the start, literals past the input, output past the limit.
  const uint8_t zero[] = {0x10, 'x', 0, 0, 0x10, 'y'};
  EXPECT_FALSE(lz4_block_decode(zero, sizeof zero, 100, &out));
  const uint8_t back[] = {0x10, 'x', 2, 0, 0x10, 'y'};
  EXPECT_FALSE(lz4_block_decode(back, sizeof back, 100, &out));
  const uint8_t short_lit[] = {0x50, 'x'};
  EXPECT_FALSE(lz4_block_decode(short_lit, sizeof short_lit, 100, &out));
  EXPECT_FALSE(lz4_block_decode(a, sizeof a, 12, &out));
}

// A minimal cubin: a symbol table whose FUNC symbols marked STO_CUDA_ENTRY
// (0x10) are kernels; others (device functions, objects) are not.
std::vector<uint8_t> cubin_with(const std::vector<std::pair<std::string, uint8_t>>& funcs) {
  std::string strtab(1, '\0');
  std::vector<Elf64_Sym> syms(1);
  for (const auto& [name, other] : funcs) {
    Elf64_Sym s{};
    s.st_name = static_cast<uint32_t>(strtab.size());
    s.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
    s.st_other = other;
    syms.push_back(s);
    strtab += name + '\0';
  }
  Elf64_Sym obj{};
  obj.st_name = static_cast<uint32_t>(strtab.size());
  obj.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT);
  obj.st_other = 0x10;
  syms.push_back(obj);
  strtab += std::string("g_var") + '\0';
  const size_t sym_off = sizeof(Elf64_Ehdr), str_off = sym_off + syms.size() * sizeof(Elf64_Sym);
  const size_t sh_off = (str_off + strtab.size() + 7) & ~size_t(7);
  std::vector<uint8_t> img(sh_off + 3 * sizeof(Elf64_Shdr), 0);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_shoff = sh_off;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 3;
  std::memcpy(img.data(), &eh, sizeof eh);
  std::memcpy(img.data() + sym_off, syms.data(), syms.size() * sizeof(Elf64_Sym));
  std::memcpy(img.data() + str_off, strtab.data(), strtab.size());
  Elf64_Shdr sh[3]{};
  sh[1].sh_type = SHT_SYMTAB;
  sh[1].sh_offset = sym_off;
  sh[1].sh_size = syms.size() * sizeof(Elf64_Sym);
  sh[1].sh_link = 2;
  sh[2].sh_type = SHT_STRTAB;
  sh[2].sh_offset = str_off;
  sh[2].sh_size = strtab.size();
  std::memcpy(img.data() + sh_off, sh, sizeof sh);
  return img;
}

// A fatbin container of the given entries (kind, flags, payload; for LZ4
// entries also the uncompressed size).
struct Entry {
  uint16_t kind;
  uint64_t flags;
  std::vector<uint8_t> payload;
  uint64_t uncompressed = 0;
};
std::vector<uint8_t> fatbin_of(const std::vector<Entry>& entries) {
  const uint32_t eh = 64;
  std::vector<uint8_t> body;
  for (const Entry& e : entries) {
    std::vector<uint8_t> h(eh, 0);
    const uint64_t padded = (e.payload.size() + 7) & ~uint64_t(7);
    const uint32_t csize = static_cast<uint32_t>(e.payload.size()), arch = 90;
    std::memcpy(h.data(), &e.kind, 2);
    std::memcpy(h.data() + 4, &eh, 4);
    std::memcpy(h.data() + 8, &padded, 8);
    if (e.flags & 0xA000) std::memcpy(h.data() + 0x10, &csize, 4);
    std::memcpy(h.data() + 0x1c, &arch, 4);
    std::memcpy(h.data() + 0x28, &e.flags, 8);
    std::memcpy(h.data() + 0x38, &e.uncompressed, 8);
    body.insert(body.end(), h.begin(), h.end());
    body.insert(body.end(), e.payload.begin(), e.payload.end());
    body.resize(body.size() + (padded - e.payload.size()), 0);
  }
  std::vector<uint8_t> fb(16, 0);
  const uint32_t magic = 0xBA55ED50u;
  const uint16_t ver = 1, hsize = 16;
  const uint64_t fat = body.size();
  std::memcpy(fb.data(), &magic, 4);
  std::memcpy(fb.data() + 4, &ver, 2);
  std::memcpy(fb.data() + 6, &hsize, 2);
  std::memcpy(fb.data() + 8, &fat, 8);
  fb.insert(fb.end(), body.begin(), body.end());
  return fb;
}
std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

TEST(KernelNames, PtxEntriesAreDefinitionsOnly) {
  const std::string ptx =
      ".version 8.0\n.target sm_90\n.extern .entry declared_only(.param .u64 p);\n"
      "// .entry in_a_comment\n.visible .entry _Z3addPfS_(\n.param .u64 p)\n{ ret; }\n"
      ".entry\tsecond$k()\n{ ret; }\n.visible .entry _Z3addPfS_(\n)\n{ ret; }\n";
  std::vector<std::string> names;
  ASSERT_EQ(image_kernel_names(bytes_of(ptx), &names), st::kOk);
  EXPECT_EQ(names, (std::vector<std::string>{"_Z3addPfS_", "second$k"}));
}

TEST(KernelNames, CubinKernelsAreItsEntryFunctions) {
  std::vector<std::string> names;
  ASSERT_EQ(image_kernel_names(cubin_with({{"_Z4kmulPfi", 0x10}, {"_Z6helperf", 0}, {"kadd", 0x10}}), &names), st::kOk);
  EXPECT_EQ(names, (std::vector<std::string>{"_Z4kmulPfi", "kadd"}));
  // A damaged ELF (section headers past its end) is no image.
  auto bad = cubin_with({{"kadd", 0x10}});
  bad.resize(bad.size() - 8);
  EXPECT_EQ(image_kernel_names(bad, &names), st::kInvalidImage);
}

TEST(KernelNames, FatbinEntriesAreReadAndMerged) {
  std::vector<std::string> names;
  // An ELF and the same kernels' PTX (nvcc's usual pair): each name once.
  const std::string ptx = ".version 8.0\n.target sm_90\n.visible .entry kadd()\n{ ret; }\n"
                          ".visible .entry _Z4kmulPfi()\n{ ret; }\n";
  auto both = fatbin_of({{2, 0x11, cubin_with({{"_Z4kmulPfi", 0x10}, {"kadd", 0x10}})}, {1, 0x11, bytes_of(ptx)}});
  ASSERT_EQ(image_kernel_names(both, &names), st::kOk);
  EXPECT_EQ(names, (std::vector<std::string>{"_Z4kmulPfi", "kadd"}));
  // cuFFT's form: one PTX entry, LZ4-compressed (flag 0x2000). The block is
  // the text as literals, with one match standing for a repeat of "ret; }\n".
  const std::string text = ".version 7.0\n.target sm_75\n.visible .entry vector_fft()\n{ ret; }\n";
  std::vector<uint8_t> lz4 = {0xF0, static_cast<uint8_t>(text.size() - 15)};
  lz4.insert(lz4.end(), text.begin(), text.end());
  lz4.insert(lz4.end(), {8, 0, 0x10, '\n'});  // 4 bytes from 8 back ("ret;"), then "\n"
  auto fft = fatbin_of({{1, 0x2011, lz4, text.size() + 5}});
  ASSERT_EQ(image_kernel_names(fft, &names), st::kOk);
  EXPECT_EQ(names, (std::vector<std::string>{"vector_fft"}));
  // ZSTD (0x8000) has no decompressor here: with a readable ELF beside it the
  // ELF's names stand; alone, the names are unknown and the list is refused.
  auto mixed = fatbin_of({{2, 0x11, cubin_with({{"kadd", 0x10}})}, {1, 0x8011, {1, 2, 3, 4}, 100}});
  ASSERT_EQ(image_kernel_names(mixed, &names), st::kOk);
  EXPECT_EQ(names, (std::vector<std::string>{"kadd"}));
  EXPECT_EQ(image_kernel_names(fatbin_of({{1, 0x8011, {1, 2, 3, 4}, 100}}), &names), st::kNotSupported);
  // A damaged LZ4 entry counts as unreadable too.
  EXPECT_EQ(image_kernel_names(fatbin_of({{1, 0x2011, {0x10, 'x', 9, 0, 0x10, 'y'}, 50}}), &names), st::kNotSupported);
}

TEST_F(CpuBackendTest, ModuleFunctionsListTheImagesKernels) {
  const char ptx[] = ".version 8.0\n.target sm_90\n.visible .entry _Z1av()\n{ ret; }\n.visible .entry _Z1bv()\n{ ret; }\n";
  Native m;
  ASSERT_EQ(be.module_load(ptx, sizeof(ptx) - 1, &m), st::kOk);
  std::vector<std::string> names;
  ASSERT_EQ(be.module_functions(m, &names), st::kOk);
  EXPECT_EQ(names, (std::vector<std::string>{"_Z1av", "_Z1bv"}));
  EXPECT_EQ(be.module_functions(m + 1000, &names), st::kInvalidHandle);
}

}  // namespace
}  // namespace vgpu::host::cpu
