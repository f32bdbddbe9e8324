// Our libcublas (flavour VGPU_TEST_FLAVOUR) end to end: the real library,
// through our libcuda's client, to a real vgpu-hostd on the CPU backend, whose
// GEMMs and level-1/2 routines run on the CPU. Results are compared with a
// reference computed here in double.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "blas_test_util.h"
#include "hostd_env.h"

namespace {

auto* const g_env = ::testing::AddGlobalTestEnvironment(new vgpu::test::HostdEnvironment("blas"));
using namespace vgpu::test::blas;

// ---- GEMMs ------------------------------------------------------------------------------------
TEST_F(Blas, SgemmMatchesReference) {
  const int m = 37, n = 29, k = 41;
  for (int variant = 0; variant < 4; ++variant) {
    const bool ta = variant & 1, tb = variant & 2;
    const int lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 2, ldc = m + 1;
    auto a = random_vec<float>(static_cast<size_t>(lda) * (ta ? m : k), 1 + variant);
    auto b = random_vec<float>(static_cast<size_t>(ldb) * (tb ? k : n), 11 + variant);
    auto c = random_vec<float>(static_cast<size_t>(ldc) * n, 21 + variant);
    Dev da(a.size() * 4), db(b.size() * 4), dc(c.size() * 4);
    da.put(a), db.put(b), dc.put(c);
    const float alpha = 1.25f, beta = -0.5f;
    ASSERT_EQ(cublasSgemm(h_, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                          da.as<float>(), lda, db.as<float>(), ldb, &beta, dc.as<float>(), ldc),
              CUBLAS_STATUS_SUCCESS);
    auto want = ref_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    expect_near_matrix(dc.get<float>(c.size()), want, m, n, ldc, 1e-5, 0, "sgemm");
  }
}

TEST_F(Blas, DgemmMatchesReference) {
  const int m = 13, n = 17, k = 19;
  auto a = random_vec<double>(static_cast<size_t>(m) * k, 3), b = random_vec<double>(static_cast<size_t>(k) * n, 4);
  auto c = random_vec<double>(static_cast<size_t>(m) * n, 5);
  Dev da(a.size() * 8), db(b.size() * 8), dc(c.size() * 8);
  da.put(a), db.put(b), dc.put(c);
  const double alpha = 0.75, beta = 2.0;
  ASSERT_EQ(cublasDgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.as<double>(), m, db.as<double>(), k, &beta,
                        dc.as<double>(), m),
            CUBLAS_STATUS_SUCCESS);
  expect_near_matrix(dc.get<double>(c.size()), ref_gemm(false, false, m, n, k, alpha, a, m, b, k, beta, c, m), m, n,
                     m, 1e-12, 0, "dgemm");
}

TEST_F(Blas, GemmExHalfInputsFloatCompute) {
  const int m = 24, n = 16, k = 40;
  auto a = eighths(static_cast<size_t>(k) * m, 7), b = eighths(static_cast<size_t>(k) * n, 8);  // A stored k x m (op T)
  auto c = random_vec<float>(static_cast<size_t>(m) * n, 9);
  Dev da(a.size() * 2), db(b.size() * 2), dc(c.size() * 4), dh(c.size() * 2);
  da.put(halves(a)), db.put(halves(b)), dc.put(c);
  const float alpha = 1.0f, beta = 0.5f;
  // The llama.cpp shape: A transposed, F16 x F16 -> F32, CUBLAS_COMPUTE_32F.
  ASSERT_EQ(cublasGemmEx(h_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, da.as<void>(), CUDA_R_16F, k, db.as<void>(),
                         CUDA_R_16F, k, &beta, dc.as<void>(), CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  expect_near_matrix(dc.get<float>(c.size()), ref_gemm(true, false, m, n, k, alpha, a, k, b, k, beta, c, m), m, n, m,
                     1e-5, 0, "gemmex f16->f32");

  // F16 output with a legacy cudaDataType compute type (old code's signature).
  const float zero = 0.0f;
  ASSERT_EQ(cublasGemmEx(h_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, da.as<void>(), CUDA_R_16F, k, db.as<void>(),
                         CUDA_R_16F, k, &zero, dh.as<void>(), CUDA_R_16F, m,
                         static_cast<cublasComputeType_t>(CUDA_R_32F), CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  auto got = dh.get<uint16_t>(c.size());
  std::vector<float> gotf(got.size());
  for (size_t i = 0; i < got.size(); ++i) gotf[i] = from_half(got[i]);
  expect_near_matrix(gotf, ref_gemm(true, false, m, n, k, alpha, a, k, b, k, 0.0, c, m), m, n, m, 2e-3, 0,
                     "gemmex f16->f16");
}

TEST_F(Blas, HgemmMatchesReference) {
  const int m = 8, n = 6, k = 5;
  auto a = eighths(static_cast<size_t>(m) * k, 12), b = eighths(static_cast<size_t>(k) * n, 13);
  std::vector<float> c(static_cast<size_t>(m) * n, 0.0f);
  Dev da(a.size() * 2), db(b.size() * 2), dc(c.size() * 2);
  da.put(halves(a)), db.put(halves(b)), dc.put(halves(c));
  const uint16_t alpha = to_half(1.0f), beta = to_half(0.0f);
  ASSERT_EQ(cublasHgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, reinterpret_cast<const __half*>(&alpha),
                        da.as<__half>(), m, db.as<__half>(), k, reinterpret_cast<const __half*>(&beta),
                        dc.as<__half>(), m),
            CUBLAS_STATUS_SUCCESS);
  auto got = dc.get<uint16_t>(c.size());
  std::vector<float> gotf(got.size());
  for (size_t i = 0; i < got.size(); ++i) gotf[i] = from_half(got[i]);
  expect_near_matrix(gotf, ref_gemm(false, false, m, n, k, 1.0, a, m, b, k, 0.0, c, m), m, n, m, 2e-3, 0, "hgemm");
}

TEST_F(Blas, StridedBatched) {
  const int m = 9, n = 7, k = 11, batch = 3;
  const long long sa = m * k + 5, sb = k * n + 3, sc = m * n + 1;
  auto a = random_vec<float>(sa * batch, 31), b = random_vec<float>(sb * batch, 32), c = random_vec<float>(sc * batch, 33);
  Dev da(a.size() * 4), db(b.size() * 4), dc(c.size() * 4);
  da.put(a), db.put(b), dc.put(c);
  const float alpha = -1.5f, beta = 0.25f;
  ASSERT_EQ(cublasSgemmStridedBatched(h_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.as<float>(), m, sa,
                                      db.as<float>(), k, sb, &beta, dc.as<float>(), m, sc, batch),
            CUBLAS_STATUS_SUCCESS);
  auto got = dc.get<float>(c.size());
  for (int i = 0; i < batch; ++i)
    expect_near_matrix(got, ref_gemm(false, false, m, n, k, alpha, a, m, b, k, beta, c, m, sa * i, sb * i, sc * i), m,
                       n, m, 1e-5, sc * i, "sgemm strided");

  // The same through GemmStridedBatchedEx, over the result.
  auto c2 = got;
  ASSERT_EQ(cublasGemmStridedBatchedEx(h_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.as<void>(), CUDA_R_32F, m, sa,
                                       db.as<void>(), CUDA_R_32F, k, sb, &beta, dc.as<void>(), CUDA_R_32F, m, sc,
                                       batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  got = dc.get<float>(c.size());
  for (int i = 0; i < batch; ++i)
    expect_near_matrix(got, ref_gemm(false, false, m, n, k, alpha, a, m, b, k, beta, c2, m, sa * i, sb * i, sc * i),
                       m, n, m, 1e-5, sc * i, "gemm strided ex");
}

TEST_F(Blas, PointerArrayBatched) {
  const int m = 6, n = 5, k = 4, batch = 4;
  std::vector<std::vector<float>> a, b, c;
  std::vector<std::unique_ptr<Dev>> da, db, dc;
  std::vector<uint64_t> pa, pb, pc;
  for (int i = 0; i < batch; ++i) {
    a.push_back(random_vec<float>(m * k, 40 + i));
    b.push_back(random_vec<float>(k * n, 50 + i));
    c.push_back(random_vec<float>(m * n, 60 + i));
    da.push_back(std::make_unique<Dev>(m * k * 4));
    db.push_back(std::make_unique<Dev>(k * n * 4));
    dc.push_back(std::make_unique<Dev>(m * n * 4));
    da.back()->put(a.back()), db.back()->put(b.back()), dc.back()->put(c.back());
    pa.push_back(da.back()->p), pb.push_back(db.back()->p), pc.push_back(dc.back()->p);
  }
  // The pointer arrays live in device memory, as cuBLAS requires.
  Dev arr_a(batch * 8), arr_b(batch * 8), arr_c(batch * 8);
  arr_a.put(pa), arr_b.put(pb), arr_c.put(pc);
  const float alpha = 2.0f, beta = 1.0f;
  ASSERT_EQ(cublasSgemmBatched(h_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, arr_a.as<const float*>(), m,
                               arr_b.as<const float*>(), k, &beta, arr_c.as<float*>(), m, batch),
            CUBLAS_STATUS_SUCCESS);
  std::vector<std::vector<float>> mid;
  for (int i = 0; i < batch; ++i) {
    mid.push_back(dc[i]->get<float>(m * n));
    expect_near_matrix(mid.back(), ref_gemm(false, false, m, n, k, alpha, a[i], m, b[i], k, beta, c[i], m), m, n, m,
                       1e-5, 0, "sgemm batched");
  }
  ASSERT_EQ(cublasGemmBatchedEx(h_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, arr_a.as<const void*>(), CUDA_R_32F, m,
                                arr_b.as<const void*>(), CUDA_R_32F, k, &beta, arr_c.as<void*>(), CUDA_R_32F, m, batch,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  for (int i = 0; i < batch; ++i)
    expect_near_matrix(dc[i]->get<float>(m * n),
                       ref_gemm(false, false, m, n, k, alpha, a[i], m, b[i], k, beta, mid[i], m), m, n, m, 1e-5, 0,
                       "gemm batched ex");
}

TEST_F(Blas, DevicePointerModeScalars) {
  const int m = 4, n = 3, k = 2;
  auto a = random_vec<float>(m * k, 70), b = random_vec<float>(k * n, 71), c = random_vec<float>(m * n, 72);
  Dev da(a.size() * 4), db(b.size() * 4), dc(c.size() * 4), ds(8);
  da.put(a), db.put(b), dc.put(c);
  ds.put(std::vector<float>{3.0f, -1.0f});
  ASSERT_EQ(cublasSetPointerMode(h_, CUBLAS_POINTER_MODE_DEVICE), CUBLAS_STATUS_SUCCESS);
  cublasPointerMode_t pm;
  ASSERT_EQ(cublasGetPointerMode(h_, &pm), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(pm, CUBLAS_POINTER_MODE_DEVICE);
  ASSERT_EQ(cublasSgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, ds.as<float>(), da.as<float>(), m, db.as<float>(), k,
                        ds.as<float>() + 1, dc.as<float>(), m),
            CUBLAS_STATUS_SUCCESS);
  expect_near_matrix(dc.get<float>(c.size()), ref_gemm(false, false, m, n, k, 3.0, a, m, b, k, -1.0, c, m), m, n, m,
                     1e-5, 0, "sgemm device scalars");
  // Saxpy reads its device alpha first.
  Dev dx(16), dy(16);
  dx.put(std::vector<float>{1, 2, 3, 4}), dy.put(std::vector<float>{1, 1, 1, 1});
  ASSERT_EQ(cublasSaxpy(h_, 4, ds.as<float>(), dx.as<float>(), 1, dy.as<float>(), 1), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(dy.get<float>(4), (std::vector<float>{4, 7, 10, 13}));
}

TEST_F(Blas, StreamIsUsed) {
  CUstream s;
  ASSERT_EQ(cuStreamCreate(&s, 0), CUDA_SUCCESS);
  ASSERT_EQ(cublasSetStream(h_, reinterpret_cast<cudaStream_t>(s)), CUBLAS_STATUS_SUCCESS);
  cudaStream_t got;
  ASSERT_EQ(cublasGetStream(h_, &got), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(got, reinterpret_cast<cudaStream_t>(s));
  const int m = 3, n = 3, k = 3;
  auto a = random_vec<float>(9, 80), b = random_vec<float>(9, 81);
  std::vector<float> c(9, 0.0f);
  Dev da(36), db(36), dc(36);
  da.put(a), db.put(b), dc.put(c);
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasSgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.as<float>(), m, db.as<float>(), k, &beta,
                        dc.as<float>(), m),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  expect_near_matrix(dc.get<float>(9), ref_gemm(false, false, m, n, k, 1.0, a, m, b, k, 0.0, c, m), m, n, m, 1e-5, 0,
                     "sgemm on a stream");
  // The per-thread default stream is a stream too.
  ASSERT_EQ(cublasSetStream(h_, reinterpret_cast<cudaStream_t>(0x2)), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasSgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da.as<float>(), m, db.as<float>(), k, &beta,
                        dc.as<float>(), m),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(CU_STREAM_PER_THREAD), CUDA_SUCCESS);
  ASSERT_EQ(cublasSetStream(h_, nullptr), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cuStreamDestroy(s), CUDA_SUCCESS);
}

// ---- trsm batched ---------------------------------------------------------------------------
TEST_F(Blas, StrsmBatchedSolves) {
  const int m = 5, n = 3, batch = 2;
  const float alpha = 2.0f;
  std::vector<std::vector<float>> a(batch), b(batch);
  std::vector<std::unique_ptr<Dev>> da, db;
  std::vector<uint64_t> pa, pb;
  for (int i = 0; i < batch; ++i) {
    a[i] = random_vec<float>(m * m, 90 + i);
    for (int d = 0; d < m; ++d) a[i][d + d * m] = 4.0f + d;  // well conditioned
    b[i] = random_vec<float>(m * n, 95 + i);
    da.push_back(std::make_unique<Dev>(m * m * 4));
    db.push_back(std::make_unique<Dev>(m * n * 4));
    da.back()->put(a[i]), db.back()->put(b[i]);
    pa.push_back(da.back()->p), pb.push_back(db.back()->p);
  }
  Dev arr_a(batch * 8), arr_b(batch * 8);
  arr_a.put(pa), arr_b.put(pb);
  // Left, lower, no transpose, non-unit: A X = alpha B.
  ASSERT_EQ(cublasStrsmBatched(h_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, m, n,
                               &alpha, arr_a.as<const float*>(), m, arr_b.as<float*>(), m, batch),
            CUBLAS_STATUS_SUCCESS);
  for (int i = 0; i < batch; ++i) {
    auto x = db[i]->get<float>(m * n);
    for (int j = 0; j < n; ++j)
      for (int r = 0; r < m; ++r) {
        double s = 0;
        for (int p = 0; p <= r; ++p) s += static_cast<double>(a[i][r + p * m]) * x[p + j * m];  // lower triangle only
        EXPECT_NEAR(s, alpha * b[i][r + j * m], 1e-4) << "batch " << i << " (" << r << "," << j << ")";
      }
  }
}

// ---- level 1 and 2 ----------------------------------------------------------------------------
// cublasDotEx, as PyTorch calls it for torch.dot and 1-D matmul of half and
// bfloat16: values k/8 (|k| <= 8) and n = 8, so every product and sum is exact
// in the result type and the answer must equal the reference exactly.
TEST_F(Blas, DotExHalfAndBfloat16) {
  const int n = 8;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i - 4) / 8.0f, y[i] = static_cast<float>(7 - 2 * (i % 5)) / 8.0f;
  double want = 0;
  for (int i = 0; i < n; ++i) want += static_cast<double>(x[i]) * y[i];
  auto hx = halves(x), hy = halves(y);
  Dev dx(n * 2), dy(n * 2);
  dx.put(hx), dy.put(hy);
  uint16_t hres = 0xffff;
  ASSERT_EQ(cublasDotEx(h_, n, dx.as<void>(), CUDA_R_16F, 1, dy.as<void>(), CUDA_R_16F, 1, &hres, CUDA_R_16F, CUDA_R_32F),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(from_half(hres), static_cast<float>(want));
  // A float result of half inputs: NVIDIA's cuBLAS refuses it (H200, cuBLAS 13).
  float fres = -1;
  EXPECT_EQ(cublasDotEx(h_, n, dx.as<void>(), CUDA_R_16F, 1, dy.as<void>(), CUDA_R_16F, 1, &fres, CUDA_R_32F, CUDA_R_32F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(fres, -1.0f);
  // bfloat16: the top half of a float's bits (exact for these values).
  std::vector<uint16_t> bx(n), by(n);
  for (int i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &x[i], 4), bx[i] = static_cast<uint16_t>(u >> 16);
    std::memcpy(&u, &y[i], 4), by[i] = static_cast<uint16_t>(u >> 16);
  }
  dx.put(bx), dy.put(by);
  uint16_t bres = 0xffff;
  ASSERT_EQ(cublasDotEx(h_, n, dx.as<void>(), CUDA_R_16BF, 1, dy.as<void>(), CUDA_R_16BF, 1, &bres, CUDA_R_16BF, CUDA_R_32F),
            CUBLAS_STATUS_SUCCESS);
  uint32_t bits = static_cast<uint32_t>(bres) << 16;
  std::memcpy(&fres, &bits, 4);
  EXPECT_EQ(fres, static_cast<float>(want));
  // float: the same values, a float result.
  std::vector<float> fx(x), fy(y);
  Dev fdx(n * 4), fdy(n * 4);
  fdx.put(fx), fdy.put(fy);
  fres = -1;
  ASSERT_EQ(cublasDotEx(h_, n, fdx.as<void>(), CUDA_R_32F, 1, fdy.as<void>(), CUDA_R_32F, 1, &fres, CUDA_R_32F, CUDA_R_32F),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(fres, static_cast<float>(want));
  // Refused, not faked: double execution and complex types.
  EXPECT_EQ(cublasDotEx(h_, n, dx.as<void>(), CUDA_R_16BF, 1, dy.as<void>(), CUDA_R_16BF, 1, &fres, CUDA_R_32F, CUDA_R_64F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cublasDotEx(h_, n, dx.as<void>(), CUDA_C_32F, 1, dy.as<void>(), CUDA_C_32F, 1, &fres, CUDA_C_32F, CUDA_C_32F),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cublasDotEx(h_, n, dx.as<void>(), CUDA_R_16F, 1, dy.as<void>(), CUDA_R_16F, 1, nullptr, CUDA_R_16F, CUDA_R_32F),
            CUBLAS_STATUS_INVALID_VALUE);
}

TEST_F(Blas, Level1) {
  const int n = 100;
  auto x = random_vec<float>(n * 2, 100), y = random_vec<float>(n * 3, 101);
  Dev dx(x.size() * 4), dy(y.size() * 4);
  dx.put(x), dy.put(y);
  float dot = 0, nrm = 0;
  ASSERT_EQ(cublasSdot(h_, n, dx.as<float>(), 2, dy.as<float>(), 3, &dot), CUBLAS_STATUS_SUCCESS);
  double want = 0;
  for (int i = 0; i < n; ++i) want += static_cast<double>(x[2 * i]) * y[3 * i];
  EXPECT_NEAR(dot, want, 1e-4);
  ASSERT_EQ(cublasSnrm2(h_, n, dx.as<float>(), 1, &nrm), CUBLAS_STATUS_SUCCESS);
  want = 0;
  for (int i = 0; i < n; ++i) want += static_cast<double>(x[i]) * x[i];
  EXPECT_NEAR(nrm, std::sqrt(want), 1e-4);
  const float alpha = -0.75f;
  ASSERT_EQ(cublasSaxpy(h_, n, &alpha, dx.as<float>(), 2, dy.as<float>(), 3), CUBLAS_STATUS_SUCCESS);
  auto gy = dy.get<float>(y.size());
  for (int i = 0; i < n; ++i) EXPECT_NEAR(gy[3 * i], y[3 * i] + alpha * x[2 * i], 1e-6) << i;
  EXPECT_EQ(gy[1], y[1]);  // between the strides: untouched
  const float scale = 3.0f;
  ASSERT_EQ(cublasSscal(h_, n, &scale, dx.as<float>(), 2), CUBLAS_STATUS_SUCCESS);
  auto gx = dx.get<float>(x.size());
  for (int i = 0; i < n; ++i) EXPECT_NEAR(gx[2 * i], 3.0f * x[2 * i], 1e-6) << i;
  EXPECT_EQ(gx[1], x[1]);
}

TEST_F(Blas, Sgemv) {
  const int m = 23, n = 17, lda = 25;
  auto a = random_vec<float>(static_cast<size_t>(lda) * n, 110);
  auto x = random_vec<float>(m, 111), y = random_vec<float>(m, 112);
  Dev da(a.size() * 4), dx(x.size() * 4), dy(y.size() * 4);
  da.put(a), dx.put(x), dy.put(y);
  const float alpha = 0.5f, beta = 2.0f;
  // y = alpha A^T x + beta y (x has m elements, y n).
  ASSERT_EQ(cublasSgemv(h_, CUBLAS_OP_T, m, n, &alpha, da.as<float>(), lda, dx.as<float>(), 1, &beta, dy.as<float>(), 1),
            CUBLAS_STATUS_SUCCESS);
  auto got = dy.get<float>(n);
  for (int j = 0; j < n; ++j) {
    double s = 0;
    for (int i = 0; i < m; ++i) s += static_cast<double>(a[i + j * lda]) * x[i];
    EXPECT_NEAR(got[j], alpha * s + beta * y[j], 1e-4) << j;
  }
}

// ---- copies ---------------------------------------------------------------------------------
TEST_F(Blas, VectorAndMatrixCopies) {
  // Vectors with strides on both sides.
  std::vector<float> host(30);
  for (int i = 0; i < 30; ++i) host[i] = static_cast<float>(i);
  Dev d(30 * 4);
  ASSERT_EQ(cuMemsetD32_v2(d.p, 0, 30), CUDA_SUCCESS);
  ASSERT_EQ(cublasSetVector(10, 4, host.data(), 3, d.as<void>(), 2), CUBLAS_STATUS_SUCCESS);
  auto got = d.get<float>(30);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(got[2 * i], host[3 * i]);
  EXPECT_EQ(got[1], 0.0f);
  std::vector<float> back(20, -1.0f);
  ASSERT_EQ(cublasGetVector(10, 4, d.as<void>(), 2, back.data(), 2), CUBLAS_STATUS_SUCCESS);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(back[2 * i], host[3 * i]);
  EXPECT_EQ(back[1], -1.0f);
  ASSERT_EQ(cublasSetVectorAsync(10, 4, host.data(), 1, d.as<void>(), 1, nullptr), CUBLAS_STATUS_SUCCESS);
  std::vector<float> back2(10);
  ASSERT_EQ(cublasGetVectorAsync(10, 4, d.as<void>(), 1, back2.data(), 1, nullptr), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
  EXPECT_EQ(back2, std::vector<float>(host.begin(), host.begin() + 10));

  // A 5 x 4 matrix: host lda 7, device ldb 6, and back to a host lda 5.
  const int rows = 5, cols = 4;
  std::vector<double> a(7 * cols);
  for (size_t i = 0; i < a.size(); ++i) a[i] = 0.5 * static_cast<double>(i);
  Dev dm(6 * cols * 8);
  ASSERT_EQ(cublasSetMatrix(rows, cols, 8, a.data(), 7, dm.as<void>(), 6), CUBLAS_STATUS_SUCCESS);
  std::vector<double> b(5 * cols);
  ASSERT_EQ(cublasGetMatrix(rows, cols, 8, dm.as<void>(), 6, b.data(), 5), CUBLAS_STATUS_SUCCESS);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) EXPECT_EQ(b[i + j * 5], a[i + j * 7]) << i << "," << j;
  // Device-contiguous forms (packed through a buffer), async on the legacy stream.
  Dev dc(rows * cols * 8);
  ASSERT_EQ(cublasSetMatrixAsync(rows, cols, 8, a.data(), 7, dc.as<void>(), rows, nullptr), CUBLAS_STATUS_SUCCESS);
  std::vector<double> c(9 * cols, -1.0);
  ASSERT_EQ(cublasGetMatrix(rows, cols, 8, dc.as<void>(), rows, c.data(), 9), CUBLAS_STATUS_SUCCESS);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) EXPECT_EQ(c[i + j * 9], a[i + j * 7]) << i << "," << j;
  EXPECT_EQ(c[rows], -1.0);
}

// ---- argument checks, configuration, refusals ------------------------------------------------
TEST_F(Blas, InvalidArgumentsAreRefusedBeforeSending) {
  const float one = 1.0f;
  float* p = reinterpret_cast<float*>(0x1000);  // never dereferenced: the checks come first
  EXPECT_EQ(cublasSgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, -1, 2, 2, &one, p, 1, p, 2, &one, p, 1), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 2, &one, p, 3, p, 2, &one, p, 4), CUBLAS_STATUS_INVALID_VALUE);  // lda < m
  EXPECT_EQ(cublasSgemm(h_, CUBLAS_OP_T, CUBLAS_OP_N, 4, 2, 3, &one, p, 2, p, 3, &one, p, 4), CUBLAS_STATUS_INVALID_VALUE);  // lda < k
  EXPECT_EQ(cublasSgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 2, &one, p, 4, p, 2, &one, p, 3), CUBLAS_STATUS_INVALID_VALUE);  // ldc < m
  EXPECT_EQ(cublasSgemm(h_, static_cast<cublasOperation_t>(7), CUBLAS_OP_N, 4, 2, 2, &one, p, 4, p, 2, &one, p, 4),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 2, nullptr, p, 4, p, 2, &one, p, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasGemmStridedBatchedEx(h_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, p, CUDA_R_32F, 2, 4, p, CUDA_R_32F,
                                       2, 4, &one, p, CUDA_R_32F, 2, 4, -1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemmBatched(h_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, nullptr, 1, nullptr, 2, &one, nullptr, 2, 1),
            CUBLAS_STATUS_INVALID_VALUE);  // lda < m
  EXPECT_EQ(cublasStrsmBatched(h_, static_cast<cublasSideMode_t>(5), CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N,
                               CUBLAS_DIAG_UNIT, 2, 2, &one, nullptr, 2, nullptr, 2, 1),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasStrsmBatched(h_, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, CUBLAS_DIAG_UNIT, 2, 3, &one,
                               nullptr, 2, nullptr, 2, 1),
            CUBLAS_STATUS_INVALID_VALUE);  // right side: lda < n
  EXPECT_EQ(cublasSgemv(h_, CUBLAS_OP_N, 3, 3, &one, p, 3, p, 0, &one, p, 1), CUBLAS_STATUS_INVALID_VALUE);  // incx 0
  EXPECT_EQ(cublasSdot(h_, 3, p, 1, p, 1, nullptr), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSetVector(3, 4, p, 0, p, 1), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSetMatrix(3, 2, 4, p, 2, p, 3), CUBLAS_STATUS_INVALID_VALUE);  // lda < rows
  EXPECT_EQ(cublasSetMathMode(h_, static_cast<cublasMath_t>(5)), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSetPointerMode(h_, static_cast<cublasPointerMode_t>(2)), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSetWorkspace(h_, reinterpret_cast<void*>(0x1010), 1024), CUBLAS_STATUS_INVALID_VALUE);  // alignment
  EXPECT_EQ(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, p, 1, p, 1, &one, p, 1),
            CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(cublasSetStream(nullptr, nullptr), CUBLAS_STATUS_NOT_INITIALIZED);
  // Empty problems succeed without touching memory.
  EXPECT_EQ(cublasSgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, 0, 2, 2, &one, p, 1, p, 2, &one, p, 1), CUBLAS_STATUS_SUCCESS);
}

TEST_F(Blas, ConfigurationRoundTrips) {
  ASSERT_EQ(cublasSetMathMode(h_, CUBLAS_TF32_TENSOR_OP_MATH), CUBLAS_STATUS_SUCCESS);
  cublasMath_t mm;
  ASSERT_EQ(cublasGetMathMode(h_, &mm), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(mm, CUBLAS_TF32_TENSOR_OP_MATH);
  ASSERT_EQ(cublasSetMathMode(h_, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                                           CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
            CUBLAS_STATUS_SUCCESS);
  cublasAtomicsMode_t am;
  ASSERT_EQ(cublasSetAtomicsMode(h_, CUBLAS_ATOMICS_ALLOWED), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasGetAtomicsMode(h_, &am), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(am, CUBLAS_ATOMICS_ALLOWED);
  // A user workspace, then a GEMM that runs with it.
  Dev ws(1 << 16);
  ASSERT_EQ(cublasSetWorkspace(h_, ws.as<void>(), ws.bytes), CUBLAS_STATUS_SUCCESS);
  const float one = 1.0f, zero = 0.0f;
  Dev a(16), b(16), c(16);
  a.put(std::vector<float>{1, 2, 3, 4}), b.put(std::vector<float>{1, 0, 0, 1});
  ASSERT_EQ(cublasSgemm(h_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a.as<float>(), 2, b.as<float>(), 2, &zero,
                        c.as<float>(), 2),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(c.get<float>(4), (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(Blas, VersionsAndStatusStrings) {
  int v = 0;
  ASSERT_EQ(cublasGetVersion(h_, &v), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(v / 10000, VGPU_TEST_FLAVOUR);
  int major = 0;
  ASSERT_EQ(cublasGetProperty(MAJOR_VERSION, &major), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(major, VGPU_TEST_FLAVOUR);
  EXPECT_EQ(cublasGetCudartVersion() / 1000, static_cast<size_t>(VGPU_TEST_FLAVOUR));
  EXPECT_STREQ(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE");
  EXPECT_STRNE(cublasGetStatusString(CUBLAS_STATUS_NOT_SUPPORTED), "");
  EXPECT_EQ(cublasLtGetVersion() / 10000, static_cast<size_t>(VGPU_TEST_FLAVOUR));
  EXPECT_STREQ(cublasLtGetStatusName(CUBLAS_STATUS_SUCCESS), "CUBLAS_STATUS_SUCCESS");
}

TEST_F(Blas, UnsupportedEntryPointsRefuse) {
  const float one = 1.0f;
  EXPECT_EQ(cublasSsyrk(h_, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, 2, 2, &one, nullptr, 2, &one, nullptr, 2),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cublasLoggerConfigure(1, 1, 0, nullptr), CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cublasSgemm_64(h_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, nullptr, 1, nullptr, 1, &one, nullptr, 1),
            CUBLAS_STATUS_NOT_SUPPORTED);
  cublasLtMatrixTransformDesc_t transform = nullptr;
  EXPECT_EQ(cublasLtMatrixTransformDescCreate(&transform, CUDA_R_32F), CUBLAS_STATUS_NOT_SUPPORTED);
}

// A type combination the host's cuBLAS refuses is met on the host, after
// the posted call returned: it comes back at the next synchronising call.
TEST_F(Blas, HostFailureOfAPostedGemmIsReportedLater) {
  const float one = 1.0f;
  Dev a(64), b(64), c(64);
  ASSERT_EQ(cublasGemmEx(h_, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a.as<void>(), CUDA_R_32F, 2, b.as<void>(),
                         CUDA_R_16F, 2, &one, c.as<void>(), CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_NE(cuCtxSynchronize(), CUDA_SUCCESS);
  expect_clean_ = false;  // whether that error is sticky is libcuda's business, not this test's
}

}  // namespace
