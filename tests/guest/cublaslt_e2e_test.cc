// Our libcublasLt (flavour VGPU_TEST_FLAVOUR) end to end: guest descriptors,
// the host's heuristic and matmul (CPU backend by default; VGPU_TEST_BACKEND=cuda
// for the GPU's real cuBLASLt), compared with a reference computed here in
// double, epilogues included.
#include <cublasLt.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "blas_test_util.h"
#include "hostd_env.h"

namespace {

auto* const g_env = ::testing::AddGlobalTestEnvironment(new vgpu::test::HostdEnvironment("lt"));
using namespace vgpu::test::blas;

bool cpu_backend() {
  const char* be = std::getenv("VGPU_TEST_BACKEND");
  return be == nullptr || *be == 0 || std::string(be) == "cpu";
}

double gelu(double x) { return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

// Descriptors of one problem, destroyed with it.
struct Problem {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  Problem(cudaDataType ab, cudaDataType cd, bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc,
          int ldd) {
    EXPECT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
    const int32_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutCreate(&a, ab, ta ? k : m, ta ? m : k, lda), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutCreate(&b, ab, tb ? n : k, tb ? k : n, ldb), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutCreate(&c, cd, m, n, ldc), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutCreate(&d, cd, m, n, ldd), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatmulPreferenceCreate(&pref), CUBLAS_STATUS_SUCCESS);
    const uint64_t ws = 1 << 20;
    EXPECT_EQ(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
              CUBLAS_STATUS_SUCCESS);
  }
  ~Problem() {
    cublasLtMatmulPreferenceDestroy(pref);
    for (auto* l : {a, b, c, d}) cublasLtMatrixLayoutDestroy(l);
    cublasLtMatmulDescDestroy(desc);
  }
  template <class T>
  void set(cublasLtMatmulDescAttributes_t attr, T v) {
    EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, attr, &v, sizeof v), CUBLAS_STATUS_SUCCESS);
  }
  // The host's first answer, checked.
  cublasLtMatmulHeuristicResult_t heuristic(cublasLtHandle_t h) {
    cublasLtMatmulHeuristicResult_t res[4] = {};
    int count = -1;
    EXPECT_EQ(cublasLtMatmulAlgoGetHeuristic(h, desc, a, b, c, d, pref, 4, res, &count), CUBLAS_STATUS_SUCCESS);
    EXPECT_GE(count, 1);
    EXPECT_LE(count, 4);
    EXPECT_EQ(res[0].state, CUBLAS_STATUS_SUCCESS);
    EXPECT_LE(res[0].workspaceSize, size_t{1} << 20);
    return res[0];
  }
};

class Lt : public Blas {
 protected:
  void SetUp() override {
    Blas::SetUp();
    ASSERT_EQ(cublasLtCreate(&lt_), CUBLAS_STATUS_SUCCESS);
  }
  void TearDown() override {
    if (lt_) {
      EXPECT_EQ(cublasLtDestroy(lt_), CUBLAS_STATUS_SUCCESS);
    }
    Blas::TearDown();
  }
  cublasLtHandle_t lt_ = nullptr;
};

TEST_F(Lt, MatmulMatchesReference) {
  const int m = 37, n = 29, k = 41;
  Dev ws(1 << 20);
  for (int variant = 0; variant < 4; ++variant) {
    const bool ta = variant & 1, tb = variant & 2;
    const int lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 2, ldc = m + 1, ldd = m + 4;
    auto a = random_vec<float>(static_cast<size_t>(lda) * (ta ? m : k), 1 + variant);
    auto b = random_vec<float>(static_cast<size_t>(ldb) * (tb ? k : n), 11 + variant);
    auto c = random_vec<float>(static_cast<size_t>(ldc) * n, 21 + variant);
    Dev da(a.size() * 4), db(b.size() * 4), dc(c.size() * 4), dd(static_cast<size_t>(ldd) * n * 4);
    da.put(a), db.put(b), dc.put(c);
    Problem p(CUDA_R_32F, CUDA_R_32F, ta, tb, m, n, k, lda, ldb, ldc, ldd);
    auto algo = p.heuristic(lt_);
    const float alpha = 1.25f, beta = -0.5f;
    ASSERT_EQ(cublasLtMatmul(lt_, p.desc, &alpha, da.as<void>(), p.a, db.as<void>(), p.b, &beta, dc.as<void>(), p.c,
                             dd.as<void>(), p.d, &algo.algo, ws.as<void>(), algo.workspaceSize, nullptr),
              CUBLAS_STATUS_SUCCESS);
    auto want = ref_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    // D has its own leading dimension: compare element by element.
    auto got = dd.get<float>(static_cast<size_t>(ldd) * n);
    int bad = 0;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        const double w = want[i + static_cast<size_t>(j) * ldc], g = got[i + static_cast<size_t>(j) * ldd];
        if (std::fabs(g - w) > 1e-4 * (1 + std::fabs(w)) && bad++ < 5)
          ADD_FAILURE() << "variant " << variant << " (" << i << "," << j << "): " << g << " want " << w;
      }
  }
}

// PyTorch passes its cublasHandle_t as the cuBLASLt handle (NVIDIA documents the cast).
TEST_F(Lt, CublasHandleServesAsLtHandle) {
  const int m = 8, n = 8, k = 8;
  auto a = random_vec<float>(64, 3), b = random_vec<float>(64, 4), c = std::vector<float>(64, 0.f);
  Dev da(256), db(256), dd(256);
  da.put(a), db.put(b);
  Problem p(CUDA_R_32F, CUDA_R_32F, false, false, m, n, k, m, k, m, m);
  auto h = reinterpret_cast<cublasLtHandle_t>(h_);
  auto algo = p.heuristic(h);
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasLtMatmul(h, p.desc, &alpha, da.as<void>(), p.a, db.as<void>(), p.b, &beta, dd.as<void>(), p.c,
                           dd.as<void>(), p.d, &algo.algo, nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  expect_near_matrix(dd.get<float>(64), ref_gemm(false, false, m, n, k, 1.0, a, m, b, k, 0.0, c, m), m, n, m, 1e-5,
                     0, "cast handle");
}

// linear(): D = act(A^T B + bias), bias per row of D; GELU_AUX also keeps the
// pre-activation value (what GELU's gradient needs).
TEST_F(Lt, BiasReluGeluEpilogues) {
  const int m = 24, n = 10, k = 16;
  auto a = random_vec<float>(static_cast<size_t>(k) * m, 5), b = random_vec<float>(static_cast<size_t>(k) * n, 6);
  auto bias = random_vec<float>(m, 7);
  Dev da(a.size() * 4), db(b.size() * 4), dbias(m * 4), dd(m * n * 4), daux(m * n * 4);
  da.put(a), db.put(b), dbias.put(bias);
  const std::vector<float> zero(static_cast<size_t>(m) * n, 0.f);
  const auto base = ref_gemm(true, false, m, n, k, 1.0, a, k, b, k, 0.0, zero, m);
  struct Case {
    cublasLtEpilogue_t epi;
    bool bias, relu, gelu, aux;
  };
  for (const Case& cs : {Case{CUBLASLT_EPILOGUE_BIAS, true, false, false, false},
                         Case{CUBLASLT_EPILOGUE_RELU, false, true, false, false},
                         Case{CUBLASLT_EPILOGUE_RELU_BIAS, true, true, false, false},
                         Case{CUBLASLT_EPILOGUE_GELU, false, false, true, false},
                         Case{CUBLASLT_EPILOGUE_GELU_BIAS, true, false, true, false},
                         Case{CUBLASLT_EPILOGUE_GELU_AUX_BIAS, true, false, true, true}}) {
    Problem p(CUDA_R_32F, CUDA_R_32F, true, false, m, n, k, k, k, m, m);
    p.set(CUBLASLT_MATMUL_DESC_EPILOGUE, static_cast<uint32_t>(cs.epi));
    if (cs.bias) p.set(CUBLASLT_MATMUL_DESC_BIAS_POINTER, dbias.as<void>());
    if (cs.aux) {
      p.set(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, daux.as<void>());
      p.set(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, int64_t{m});
    }
    auto algo = p.heuristic(lt_);
    const float alpha = 1.0f, beta = 0.0f;
    ASSERT_EQ(cublasLtMatmul(lt_, p.desc, &alpha, da.as<void>(), p.a, db.as<void>(), p.b, &beta, dd.as<void>(), p.c,
                             dd.as<void>(), p.d, &algo.algo, nullptr, 0, nullptr),
              CUBLAS_STATUS_SUCCESS);
    std::vector<double> want(base.size()), pre(base.size());
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        double v = base[i + static_cast<size_t>(j) * m] + (cs.bias ? bias[i] : 0.0);
        pre[i + static_cast<size_t>(j) * m] = v;
        if (cs.relu) v = v > 0 ? v : 0;
        if (cs.gelu) v = gelu(v);
        want[i + static_cast<size_t>(j) * m] = v;
      }
    const std::string what = "epilogue " + std::to_string(cs.epi);
    expect_near_matrix(dd.get<float>(want.size()), want, m, n, m, 1e-4, 0, what.c_str());
    if (cs.aux) expect_near_matrix(daux.get<float>(pre.size()), pre, m, n, m, 1e-4, 0, (what + " aux").c_str());
  }
}

// Half inputs and output, float compute (torch.mm / linear in fp16).
TEST_F(Lt, HalfInOutFloatCompute) {
  const int m = 16, n = 12, k = 20;
  auto a = eighths(static_cast<size_t>(m) * k, 8), b = eighths(static_cast<size_t>(k) * n, 9);
  Dev da(a.size() * 2), db(b.size() * 2), dd(static_cast<size_t>(m) * n * 2);
  da.put(halves(a)), db.put(halves(b));
  Problem p(CUDA_R_16F, CUDA_R_16F, false, false, m, n, k, m, k, m, m);
  auto algo = p.heuristic(lt_);
  const float alpha = 0.25f, beta = 0.0f;
  ASSERT_EQ(cublasLtMatmul(lt_, p.desc, &alpha, da.as<void>(), p.a, db.as<void>(), p.b, &beta, dd.as<void>(), p.c,
                           dd.as<void>(), p.d, &algo.algo, nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  auto got16 = dd.get<uint16_t>(static_cast<size_t>(m) * n);
  std::vector<float> got(got16.size());
  for (size_t i = 0; i < got.size(); ++i) got[i] = from_half(got16[i]);
  const std::vector<float> zero(got.size(), 0.f);
  expect_near_matrix(got, ref_gemm(false, false, m, n, k, alpha, a, m, b, k, 0.0, zero, m), m, n, m, 1e-3, 0, "half");
}

// Strided batches through layout attributes; alpha and beta by device pointer.
TEST_F(Lt, StridedBatchWithDeviceScalars) {
  const int m = 9, n = 7, k = 5, batch = 3;
  const int64_t sa = m * k + 4, sb = k * n + 2, sc = m * n + 1;
  auto a = random_vec<float>(sa * batch, 12), b = random_vec<float>(sb * batch, 13), c = random_vec<float>(sc * batch, 14);
  Dev da(a.size() * 4), db(b.size() * 4), dc(c.size() * 4), dscal(8);
  da.put(a), db.put(b), dc.put(c);
  const std::vector<float> scalars{2.0f, 0.5f};
  dscal.put(scalars);
  Problem p(CUDA_R_32F, CUDA_R_32F, false, false, m, n, k, m, k, m, m);
  for (auto [l, stride] : {std::pair{p.a, sa}, {p.b, sb}, {p.c, sc}, {p.d, sc}}) {
    const int32_t count = batch;
    ASSERT_EQ(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count),
              CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
              CUBLAS_STATUS_SUCCESS);
  }
  p.set(CUBLASLT_MATMUL_DESC_POINTER_MODE, int32_t{CUBLASLT_POINTER_MODE_DEVICE});
  auto algo = p.heuristic(lt_);
  const float* alpha = dscal.as<float>();
  ASSERT_EQ(cublasLtMatmul(lt_, p.desc, alpha, da.as<void>(), p.a, db.as<void>(), p.b, alpha + 1, dc.as<void>(), p.c,
                           dc.as<void>(), p.d, &algo.algo, nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  auto got = dc.get<float>(c.size());
  for (int i = 0; i < batch; ++i) {
    auto want = ref_gemm(false, false, m, n, k, 2.0, a, m, b, k, 0.5, c, m, i * sa, i * sb, i * sc);
    expect_near_matrix(got, want, m, n, m, 1e-5, i * sc, ("batch " + std::to_string(i)).c_str());
  }
}

TEST_F(Lt, AttributesRoundTripAndRefuse) {
  cublasLtMatmulDesc_t desc;
  ASSERT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  size_t need = 0;
  EXPECT_EQ(cublasLtMatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, nullptr, 0, &need), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(need, 4u);
  uint32_t epi = 0;
  EXPECT_EQ(cublasLtMatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi, nullptr),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(epi, static_cast<uint32_t>(CUBLASLT_EPILOGUE_DEFAULT));
  const int32_t t = CUBLAS_OP_T;
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, 8), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, 4), CUBLAS_STATUS_SUCCESS);
  int32_t back = 0;
  EXPECT_EQ(cublasLtMatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &back, 4, &need), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(back, CUBLAS_OP_T);
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, static_cast<cublasLtMatmulDescAttributes_t>(9), &t, 4),
            CUBLAS_STATUS_INVALID_VALUE);
  void* emu = nullptr;
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EMULATION_DESCRIPTOR, &emu, sizeof emu),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cublasLtMatmulDescDestroy(desc), CUBLAS_STATUS_SUCCESS);
  cublasLtMatrixLayout_t l;
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&l, CUDA_R_16BF, 3, 4, 5), CUBLAS_STATUS_SUCCESS);
  uint64_t rows = 0;
  EXPECT_EQ(cublasLtMatrixLayoutGetAttribute(l, CUBLASLT_MATRIX_LAYOUT_ROWS, &rows, 8, nullptr), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(rows, 3u);
  EXPECT_EQ(cublasLtMatrixLayoutDestroy(l), CUBLAS_STATUS_SUCCESS);
  // Not ours: refused, not crashed.
  int junk[32] = {};
  EXPECT_EQ(cublasLtMatrixLayoutDestroy(reinterpret_cast<cublasLtMatrixLayout_t>(junk)), CUBLAS_STATUS_INVALID_VALUE);
}

// An algo the host never handed out is refused on the host: the posted matmul
// fails at the next synchronising call.
TEST_F(Lt, ForgedAlgoIsRefused) {
  Dev da(256), db(256), dd(256);
  Problem p(CUDA_R_32F, CUDA_R_32F, false, false, 8, 8, 8, 8, 8, 8, 8);
  cublasLtMatmulAlgo_t forged;
  std::memset(&forged, 0x5a, sizeof forged);
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasLtMatmul(lt_, p.desc, &alpha, da.as<void>(), p.a, db.as<void>(), p.b, &beta, dd.as<void>(), p.c,
                           dd.as<void>(), p.d, &forged, nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_NE(cuCtxSynchronize(), CUDA_SUCCESS);
  expect_clean_ = false;
}

// What the CPU backend does not compute, it says so (the GPU's cuBLASLt does more).
TEST_F(Lt, CpuBackendRefusesWhatItCannotCompute) {
  if (!cpu_backend()) GTEST_SKIP() << "CPU-backend behaviour";
  Problem p(CUDA_R_32F, CUDA_R_32F, false, false, 8, 8, 8, 8, 8, 8, 8);
  p.set(CUBLASLT_MATMUL_DESC_EPILOGUE, static_cast<uint32_t>(CUBLASLT_EPILOGUE_DGELU_BGRAD));
  cublasLtMatmulHeuristicResult_t res{};
  int count = -1;
  EXPECT_EQ(cublasLtMatmulAlgoGetHeuristic(lt_, p.desc, p.a, p.b, p.c, p.d, p.pref, 1, &res, &count),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(count, 0);
}

}  // namespace
