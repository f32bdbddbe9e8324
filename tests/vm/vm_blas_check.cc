// Guest program of the VM test: cuBLAS SGEMMs through our libcublas.so.13 and
// libcuda.so.1 (device memory from the driver API, no nvcc, no libcudart),
// each result compared element by element with a CPU reference.
//
//   vm_blas_check [--n N] [--expect-lib-dir DIR]
//
//   --n N                 size of the square GEMM (default 64)
//   --expect-lib-dir DIR  fail unless libcuda.so.1 and libcublas.so.13 were
//                         loaded from DIR (the VM test passes /opt/vgpu/lib)
//
// GEMM 1: C = A * B, n x n, beta = 0 with C filled with NaN first (BLAS:
//         beta = 0 means C is not read).
// GEMM 2: C = 0.5 * A^T * B + 2 * C, m x n x k = 48 x 40 x 56 with leading
//         dimensions larger than the matrices (transpose, alpha, beta, ld).
// Prints "vm_blas_check: PASS" and exits 0 when both match.
#include <cublas_v2.h>
#include <cuda.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "vm_guest_util.h"

namespace {

constexpr const char* kProg = "vm_blas_check";
#define CHECK(call) VM_CHECK_CU(kProg, call)
#define CHECK_BLAS(call)                                                                         \
  do {                                                                                           \
    cublasStatus_t s_ = (call);                                                                  \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                           \
      std::fprintf(stderr, "%s: %s failed: %s\n", kProg, #call, cublasGetStatusString(s_));      \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

float value(size_t i, unsigned salt) { return float(int((i * 2654435761u + salt) % 1009) - 504) / 256.0f; }

struct Dev {
  CUdeviceptr p = 0;
  explicit Dev(size_t bytes) { CHECK(cuMemAlloc(&p, bytes)); }
  ~Dev() { cuMemFree(p); }
  float* f() const { return reinterpret_cast<float*>(p); }
};

// Column-major C(m x n, ldc) = alpha * op(A) * op(B) + beta * C in double.
std::vector<double> reference(bool ta, bool tb, int m, int n, int k, double alpha, const std::vector<float>& a, int lda,
                              const std::vector<float>& b, int ldb, double beta, const std::vector<float>& c, int ldc) {
  std::vector<double> r(c.begin(), c.end());
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int l = 0; l < k; ++l) {
        const double av = ta ? a[size_t(i) * lda + l] : a[size_t(l) * lda + i];
        const double bv = tb ? b[size_t(l) * ldb + j] : b[size_t(j) * ldb + l];
        s += av * bv;
      }
      const double old = beta == 0 ? 0 : beta * c[size_t(j) * ldc + i];
      r[size_t(j) * ldc + i] = alpha * s + old;
    }
  return r;
}

// Compares the m x n block; returns the number of bad elements.
int compare(const char* what, int m, int n, const std::vector<float>& got, const std::vector<double>& want, int ld) {
  int bad = 0;
  double max_err = 0;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      const double g = got[size_t(j) * ld + i], w = want[size_t(j) * ld + i];
      const double err = std::fabs(g - w);
      if (!(err <= 1e-4 * (1 + std::fabs(w)))) {  // also catches NaN
        if (bad < 5) std::fprintf(stderr, "%s: %s: C[%d,%d] = %g, expected %g\n", kProg, what, i, j, g, w);
        ++bad;
      }
      if (err > max_err) max_err = err;
    }
  std::printf("%s: %s: %d x %d checked, max |error| %.3g, %d wrong\n", kProg, what, m, n, max_err, bad);
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 64;
  std::string expect_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--n" && i + 1 < argc) n = std::atoi(argv[++i]);
    else if (a == "--expect-lib-dir" && i + 1 < argc) expect_dir = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--n N] [--expect-lib-dir DIR]\n", kProg);
      return 2;
    }
  }
  if (n <= 0) return 2;

  CHECK(cuInit(0));
  CUdevice dev;
  CHECK(cuDeviceGet(&dev, 0));
  char name[256];
  CHECK(cuDeviceGetName(name, sizeof name, dev));
  CUcontext ctx;
  CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CHECK(cuCtxSetCurrent(ctx));
  cublasHandle_t h;
  CHECK_BLAS(cublasCreate(&h));
  int version = 0;
  CHECK_BLAS(cublasGetVersion(h, &version));
  std::printf("%s: device %s, cuBLAS version %d\n", kProg, name, version);
  bool libs_ok = vgpu::vmtest::report_library(kProg, "libcuda.so.1", expect_dir);
  libs_ok = vgpu::vmtest::report_library(kProg, "libcublas.so.13", expect_dir) && libs_ok;
  if (!libs_ok) return 1;

  int bad = 0;
  {  // GEMM 1: C = A * B, beta = 0 over a NaN-filled C.
    const size_t nn = size_t(n) * n;
    std::vector<float> a(nn), b(nn), c(nn, std::numeric_limits<float>::quiet_NaN()), got(nn);
    for (size_t i = 0; i < nn; ++i) a[i] = value(i, 1), b[i] = value(i, 7);
    Dev da(nn * 4), db(nn * 4), dc(nn * 4);
    CHECK(cuMemcpyHtoD(da.p, a.data(), nn * 4));
    CHECK(cuMemcpyHtoD(db.p, b.data(), nn * 4));
    CHECK(cuMemcpyHtoD(dc.p, c.data(), nn * 4));
    const float alpha = 1, beta = 0;
    CHECK_BLAS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, da.f(), n, db.f(), n, &beta, dc.f(), n));
    CHECK(cuMemcpyDtoH(got.data(), dc.p, nn * 4));
    bad += compare("sgemm NN", n, n, got, reference(false, false, n, n, n, 1, a, n, b, n, 0, c, n), n);
  }
  {  // GEMM 2: C = 0.5 * A^T * B + 2 * C with padded leading dimensions.
    const int m = 48, nc = 40, k = 56, lda = k + 3, ldb = k + 5, ldc = m + 7;
    std::vector<float> a(size_t(lda) * m), b(size_t(ldb) * nc), c(size_t(ldc) * nc), got(c.size());
    for (size_t i = 0; i < a.size(); ++i) a[i] = value(i, 11);
    for (size_t i = 0; i < b.size(); ++i) b[i] = value(i, 13);
    for (size_t i = 0; i < c.size(); ++i) c[i] = value(i, 17);
    Dev da(a.size() * 4), db(b.size() * 4), dc(c.size() * 4);
    CHECK(cuMemcpyHtoD(da.p, a.data(), a.size() * 4));
    CHECK(cuMemcpyHtoD(db.p, b.data(), b.size() * 4));
    CHECK(cuMemcpyHtoD(dc.p, c.data(), c.size() * 4));
    const float alpha = 0.5f, beta = 2.0f;
    CHECK_BLAS(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, nc, k, &alpha, da.f(), lda, db.f(), ldb, &beta, dc.f(), ldc));
    CHECK(cuMemcpyDtoH(got.data(), dc.p, c.size() * 4));
    bad += compare("sgemm TN", m, nc, got, reference(true, false, m, nc, k, 0.5, a, lda, b, ldb, 2.0, c, ldc), ldc);
    // The padding rows of C (ldc > m) must be left alone.
    for (int j = 0; j < nc; ++j)
      for (int i = m; i < ldc; ++i)
        if (got[size_t(j) * ldc + i] != c[size_t(j) * ldc + i]) {
          if (bad < 5) std::fprintf(stderr, "%s: sgemm TN wrote C's padding at [%d,%d]\n", kProg, i, j);
          ++bad;
        }
  }
  CHECK_BLAS(cublasDestroy(h));
  CHECK(cuDevicePrimaryCtxRelease(dev));
  if (bad) {
    std::printf("%s: FAIL (%d wrong elements)\n", kProg, bad);
    return 1;
  }
  std::printf("%s: PASS\n", kProg);
  return 0;
}
