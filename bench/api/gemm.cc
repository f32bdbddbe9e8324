// cuBLAS throughput on device-resident data: cublasSgemm and cublasGemmEx
// (F16 inputs, F32 compute and output), square n x n x n, no transposes.
// Timed as a batch of GEMMs on the handle's stream, bracketed by
// cuStreamSynchronize (no CUDA events), so each side is measured the same way.
// --quick: n = 256 only, a small batch (the CPU backend runs GEMMs on the CPU).
#include <cublas_v2.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>

#include "common.h"

namespace {

using vb::Clock;
using vb::seconds_between;

enum Kind { kSgemm, kGemmExF16 };

struct Problem {
  Kind kind;
  int n = 0;
  CUdeviceptr a = 0, b = 0, c = 0;
  std::string error;
  ~Problem() {
    for (CUdeviceptr p : {a, b, c})
      if (p) cuMemFree(p);
  }
};

uint64_t g_rng = 0x9e3779b97f4a7c15ull;
uint32_t next_random() {
  g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
  return static_cast<uint32_t>(g_rng >> 16);
}

// Fills `bytes` of device memory with random floats in [-1, 1) or halves of
// magnitude 2^-5 .. 2^0 (random values: all-equal inputs would flatter the GPU's power draw).
CUresult fill(CUdeviceptr dst, size_t count, bool half) {
  const size_t chunk = 1u << 22;  // elements per host chunk
  std::vector<uint32_t> f;
  std::vector<uint16_t> h;
  for (size_t off = 0; off < count; off += chunk) {
    size_t m = std::min(chunk, count - off);
    CUresult r;
    if (half) {
      h.resize(m);
      for (auto& x : h) {
        uint32_t v = next_random();
        x = static_cast<uint16_t>(((v & 1) << 15) | ((10 + v % 5) << 10) | ((v >> 3) & 0x3ff));
      }
      r = cuMemcpyHtoD(dst + off * 2, h.data(), m * 2);
    } else {
      f.resize(m);
      for (auto& x : f) {
        float v = static_cast<float>(next_random() % 65536) / 32768.0f - 1.0f;
        std::memcpy(&x, &v, 4);
      }
      r = cuMemcpyHtoD(dst + off * 4, f.data(), m * 4);
    }
    if (r != CUDA_SUCCESS) return r;
  }
  return CUDA_SUCCESS;
}

// The problem of the current benchmark, kept across Google Benchmark's
// repeated calls of one benchmark (it calls the function again while it
// settles the iteration count).
Problem& problem(Kind kind, int n) {
  static std::unique_ptr<Problem> p;
  if (p && p->kind == kind && p->n == n) return *p;
  p.reset();  // free the previous one first
  p = std::make_unique<Problem>();
  p->kind = kind;
  p->n = n;
  const size_t count = static_cast<size_t>(n) * n;
  const size_t in_bytes = count * (kind == kSgemm ? 4 : 2);
  CUresult r = cuMemAlloc(&p->a, in_bytes);
  if (r == CUDA_SUCCESS) r = cuMemAlloc(&p->b, in_bytes);
  if (r == CUDA_SUCCESS) r = cuMemAlloc(&p->c, count * 4);
  if (r == CUDA_SUCCESS) r = fill(p->a, count, kind != kSgemm);
  if (r == CUDA_SUCCESS) r = fill(p->b, count, kind != kSgemm);
  if (r == CUDA_SUCCESS) r = cuMemsetD32(p->c, 0, count);
  if (r == CUDA_SUCCESS) r = cuCtxSynchronize();
  if (r != CUDA_SUCCESS) p->error = "setup for n=" + std::to_string(n) + ": " + vb::cu_error(r);
  return *p;
}

struct Blas {
  cublasHandle_t h = nullptr;
  CUstream stream = nullptr;
  std::string error;
};
Blas& blas() {
  static Blas b = [] {
    Blas b;
    CUresult r = cuStreamCreate(&b.stream, CU_STREAM_NON_BLOCKING);
    if (r != CUDA_SUCCESS) {
      b.error = "cuStreamCreate: " + vb::cu_error(r);
      return b;
    }
    cublasStatus_t s = cublasCreate(&b.h);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetStream(b.h, reinterpret_cast<cudaStream_t>(b.stream));
    if (s != CUBLAS_STATUS_SUCCESS) b.error = "cublasCreate/SetStream: status " + std::to_string(static_cast<int>(s));
    return b;
  }();
  return b;
}

// GEMMs per timed batch: about 137 GFLOP (x4 for F16), at least 2, so the
// two cuStreamSynchronize calls are small against the batch.
int batch_for(Kind kind, int n) {
  if (vb::options().quick) return 2;
  const double target = (kind == kSgemm ? 137e9 : 548e9);
  const double per = 2.0 * n * n * static_cast<double>(n);
  return std::max(2, static_cast<int>(target / per));
}

void BM_Gemm(benchmark::State& st, Kind kind) {
  const int n = static_cast<int>(st.range(0));
  Blas& bl = blas();
  if (!bl.error.empty()) return st.SkipWithError(bl.error.c_str());
  Problem& p = problem(kind, n);
  if (!p.error.empty()) return st.SkipWithError(p.error.c_str());
  const float alpha = 1.0f, beta = 0.0f;
  auto* A = reinterpret_cast<void*>(p.a);
  auto* B = reinterpret_cast<void*>(p.b);
  auto* C = reinterpret_cast<void*>(p.c);
  auto one = [&]() -> cublasStatus_t {
    if (kind == kSgemm)
      return cublasSgemm(bl.h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, static_cast<float*>(A), n,
                         static_cast<float*>(B), n, &beta, static_cast<float*>(C), n);
    return cublasGemmEx(bl.h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, A, CUDA_R_16F, n, B, CUDA_R_16F, n, &beta, C,
                        CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  // Warm: the first call picks kernels and allocates the workspace.
  if (cublasStatus_t s = one(); s != CUBLAS_STATUS_SUCCESS)
    return st.SkipWithError(("GEMM: cuBLAS status " + std::to_string(static_cast<int>(s))).c_str());
  VB_TRY(st, cuStreamSynchronize(bl.stream));
  const int batch = batch_for(kind, n);
  double total = 0, issue = 0;
  for (auto _ : st) {
    auto t0 = Clock::now();
    for (int i = 0; i < batch; ++i) {
      if (cublasStatus_t s = one(); s != CUBLAS_STATUS_SUCCESS) {
        st.SkipWithError(("GEMM: cuBLAS status " + std::to_string(static_cast<int>(s))).c_str());
        return;
      }
    }
    issue += seconds_between(t0, Clock::now());
    VB_TRY(st, cuStreamSynchronize(bl.stream));
    double dt = seconds_between(t0, Clock::now());
    st.SetIterationTime(dt);
    total += dt;
  }
  if (total > 0) st.counters["flops_per_s"] = 2.0 * n * n * static_cast<double>(n) * batch * st.iterations() / total;
  st.counters["batch"] = batch;
  // The caller's cost of issuing one GEMM (natively, cuBLAS's CPU work; through
  // vgpu, posting a record): when it nears the GEMM's device time, the issuing
  // side is on the critical path.
  if (st.iterations() > 0) st.counters["issue_us"] = issue * 1e6 / (double(batch) * double(st.iterations()));
}

}  // namespace

int main(int argc, char** argv) {
  vb::take_options(&argc, argv);
  if (!vb::init_device()) return 3;
  const bool q = vb::options().quick;
  for (Kind k : {kSgemm, kGemmExF16}) {
    auto* bm = benchmark::RegisterBenchmark(k == kSgemm ? "gemm/sgemm" : "gemm/gemmex_f16", BM_Gemm, k);
    bm->UseManualTime()->MinTime(q ? 0.01 : 0.3);
    if (q) bm->Arg(256);
    else
      for (int n : {256, 512, 1024, 2048, 4096, 8192}) bm->Arg(n);
  }
  return vb::run_benchmarks(argc, argv);
}
