// Helpers of the cuBLAS and cuBLASLt end-to-end tests: device buffers through
// our libcuda, random and half-exact inputs, a double-precision reference
// GEMM, and the fixture (a context and a cuBLAS handle). Each test program
// registers its own HostdEnvironment.
#pragma once

#include <cublas_v2.h>
#include <cuda.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace vgpu::test::blas {

// ---- device memory through our libcuda --------------------------------------------------
struct Dev {
  CUdeviceptr p = 0;
  size_t bytes = 0;
  explicit Dev(size_t n) : bytes(n) { EXPECT_EQ(cuMemAlloc_v2(&p, n), CUDA_SUCCESS); }
  ~Dev() {
    if (p) cuMemFree_v2(p);
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  template <class T>
  T* as() const {
    return reinterpret_cast<T*>(p);
  }
  template <class T>
  void put(const std::vector<T>& v) const {
    ASSERT_LE(v.size() * sizeof(T), bytes);
    ASSERT_EQ(cuMemcpyHtoD_v2(p, v.data(), v.size() * sizeof(T)), CUDA_SUCCESS);
  }
  template <class T>
  std::vector<T> get(size_t n) const {
    std::vector<T> v(n);
    EXPECT_EQ(cuMemcpyDtoH_v2(v.data(), p, n * sizeof(T)), CUDA_SUCCESS);
    return v;
  }
};

template <class T>
inline std::vector<T> random_vec(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(g));
  return v;
}

// Values k/8 with |k| <= 32 are exact in half precision.
inline std::vector<float> eighths(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> d(-32, 32);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(d(g)) / 8.0f;
  return v;
}

inline uint16_t to_half(float f) {  // exact for normal values with <= 11 significant bits
  if (f == 0.0f) return std::signbit(f) ? 0x8000 : 0;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000;
  const int exp = static_cast<int>((u >> 23) & 0xff) - 127 + 15;
  const uint32_t mant = (u >> 13) & 0x3ff;
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exp) << 10) | mant);
}
inline float from_half(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0 && mant == 0) u = sign;
  else u = sign | ((exp - 15 + 127) << 23) | (mant << 13);  // normals only (test values)
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline std::vector<uint16_t> halves(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = to_half(v[i]);
  return h;
}

// C = alpha op(A) op(B) + beta C, column major, in double.
template <class T>
std::vector<double> ref_gemm(bool ta, bool tb, int m, int n, int k, double alpha, const std::vector<T>& a, int lda,
                             const std::vector<T>& b, int ldb, double beta, const std::vector<T>& c, int ldc,
                             size_t off_a = 0, size_t off_b = 0, size_t off_c = 0) {
  std::vector<double> out(static_cast<size_t>(ldc) * n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int p = 0; p < k; ++p) {
        const double av = static_cast<double>(a[off_a + (ta ? p + static_cast<size_t>(i) * lda : i + static_cast<size_t>(p) * lda)]);
        const double bv = static_cast<double>(b[off_b + (tb ? j + static_cast<size_t>(p) * ldb : p + static_cast<size_t>(j) * ldb)]);
        s += av * bv;
      }
      out[i + static_cast<size_t>(j) * ldc] = alpha * s + beta * static_cast<double>(c[off_c + i + static_cast<size_t>(j) * ldc]);
    }
  return out;
}

template <class T>
void expect_near_matrix(const std::vector<T>& got, const std::vector<double>& want, int m, int n, int ld, double tol,
                        size_t off = 0, const char* what = "") {
  int bad = 0;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      const size_t idx = i + static_cast<size_t>(j) * ld;
      const double g = static_cast<double>(got[off + idx]), w = want[idx];
      if (std::fabs(g - w) > tol * (1.0 + std::fabs(w)) && bad++ < 5)
        ADD_FAILURE() << what << " (" << i << "," << j << "): got " << g << " want " << w;
    }
  EXPECT_EQ(bad, 0) << what;
}

class Blas : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
    CUdevice dev;
    ASSERT_EQ(cuDeviceGet(&dev, 0), CUDA_SUCCESS);
    ASSERT_EQ(cuDevicePrimaryCtxRetain(&ctx_, dev), CUDA_SUCCESS);
    ASSERT_EQ(cuCtxSetCurrent(ctx_), CUDA_SUCCESS);
    ASSERT_EQ(cublasCreate(&h_), CUBLAS_STATUS_SUCCESS);
  }
  void TearDown() override {
    if (h_) {
      EXPECT_EQ(cublasDestroy(h_), CUBLAS_STATUS_SUCCESS);
    }
    // Nothing posted may have failed on the host.
    if (expect_clean_) {
      EXPECT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
    }
  }
  bool expect_clean_ = true;
  CUcontext ctx_ = nullptr;
  cublasHandle_t h_ = nullptr;
};

}  // namespace vgpu::test::blas
