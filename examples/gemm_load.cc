// A GEMM-heavy guest: what one tenant of a shared GPU does. It holds some
// device memory, runs cuBLAS GEMMs on device-resident data for a while, and
// reports its throughput and a checksum of the result (every run with the same
// n and precision must print the same checksum, natively or through vgpu).
// It can also try one allocation beyond what it holds, to show a quota.
//
//   gemm_load [--n N] [--seconds S] [--f16] [--hold-mb M] [--try-mb T] [--tag NAME]
//
//   --n N        matrix size (default 4096)
//   --seconds S  how long to run GEMMs (default 10)
//   --f16        cublasGemmEx with half inputs and float output (default: cublasSgemm)
//   --hold-mb M  extra device memory to allocate and keep for the whole run (default 0)
//   --try-mb T   after that, try to allocate T MiB more and report the answer
//   --tag NAME   prefix for every output line (default gemm_load)
//
// Output lines are "NAME: key=value ..." so scripts can pick them apart.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string tag = "gemm_load";

[[noreturn]] void die(const char* what, const char* why) {
  std::printf("%s: FAILED %s: %s\n", tag.c_str(), what, why);
  std::fflush(stdout);
  std::exit(1);
}
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) die(what, cudaGetErrorString(e));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) die(what, cublasGetStatusString(s));
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  int n = 4096;
  double seconds = 10;
  bool f16 = false;
  size_t hold_mb = 0, try_mb = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--n") n = std::atoi(val());
    else if (a == "--seconds") seconds = std::atof(val());
    else if (a == "--f16") f16 = true;
    else if (a == "--hold-mb") hold_mb = std::strtoull(val(), nullptr, 10);
    else if (a == "--try-mb") try_mb = std::strtoull(val(), nullptr, 10);
    else if (a == "--tag") tag = val();
    else {
      std::fprintf(stderr, "usage: gemm_load [--n N] [--seconds S] [--f16] [--hold-mb M] [--try-mb T] [--tag NAME]\n");
      return 2;
    }
  }
  if (n < 16 || n > 32768) die("--n", "out of range");

  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  size_t free_b = 0, total_b = 0;
  check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  std::printf("%s: device=\"%s\" total_mib=%zu free_mib=%zu\n", tag.c_str(), prop.name, total_b >> 20, free_b >> 20);

  void* held = nullptr;
  if (hold_mb) check(cudaMalloc(&held, hold_mb << 20), "cudaMalloc(--hold-mb)");
  if (held) check(cudaMemset(held, 0x5a, hold_mb << 20), "cudaMemset(--hold-mb)");

  // Inputs from a fixed pattern, so the checksum is the same on every run.
  const size_t count = size_t(n) * n;
  const size_t in_elem = f16 ? 2 : 4;
  std::vector<float> a(count), b(count);
  for (size_t i = 0; i < count; ++i) {
    a[i] = float((i * 37) % 101) / 101.0f - 0.5f;
    b[i] = float((i * 53) % 97) / 97.0f - 0.5f;
  }
  void *da, *db;
  float* dc;
  check(cudaMalloc(&da, count * in_elem), "cudaMalloc(A)");
  check(cudaMalloc(&db, count * in_elem), "cudaMalloc(B)");
  check(cudaMalloc(reinterpret_cast<void**>(&dc), count * 4), "cudaMalloc(C)");
  if (f16) {
    std::vector<__half> ah(count), bh(count);
    for (size_t i = 0; i < count; ++i) ah[i] = __float2half(a[i]), bh[i] = __float2half(b[i]);
    check(cudaMemcpy(da, ah.data(), count * 2, cudaMemcpyHostToDevice), "cudaMemcpy(A)");
    check(cudaMemcpy(db, bh.data(), count * 2, cudaMemcpyHostToDevice), "cudaMemcpy(B)");
  } else {
    check(cudaMemcpy(da, a.data(), count * 4, cudaMemcpyHostToDevice), "cudaMemcpy(A)");
    check(cudaMemcpy(db, b.data(), count * 4, cudaMemcpyHostToDevice), "cudaMemcpy(B)");
  }
  const size_t mine_mb = hold_mb + ((2 * count * in_elem + count * 4) >> 20);
  std::printf("%s: holding_mib=%zu\n", tag.c_str(), mine_mb);

  if (try_mb) {
    void* extra = nullptr;
    const cudaError_t e = cudaMalloc(&extra, try_mb << 20);
    std::printf("%s: try_alloc_mib=%zu result=%s\n", tag.c_str(), try_mb,
                e == cudaSuccess ? "ok" : cudaGetErrorName(e));
    if (e == cudaSuccess) check(cudaFree(extra), "cudaFree(--try-mb)");
    (void)cudaGetLastError();  // a refused allocation is an answer, not a sticky error
  }
  std::fflush(stdout);

  cublasHandle_t h;
  check(cublasCreate(&h), "cublasCreate");
  const float alpha = 1.0f, beta = 0.0f;
  auto gemm = [&] {
    if (f16)
      return cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, da, CUDA_R_16F, n, db, CUDA_R_16F, n, &beta,
                          dc, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, static_cast<float*>(da), n,
                       static_cast<float*>(db), n, &beta, dc, n);
  };
  check(gemm(), "warm-up GEMM");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");

  // Batches of GEMMs, each followed by a synchronise, until the time is up:
  // a batch is about 50 ms of work, so the deadline is met closely.
  const double flop = 2.0 * n * double(n) * n;
  int batch = 1;
  long long done = 0;
  const double t0 = now_s();
  double t = t0;
  while (t - t0 < seconds) {
    const double b0 = now_s();
    for (int i = 0; i < batch; ++i) check(gemm(), "GEMM");
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    done += batch;
    t = now_s();
    if (t - b0 < 0.05 && batch < (1 << 16)) batch *= 2;
  }
  const double elapsed = t - t0;

  std::vector<float> c(count);
  check(cudaMemcpy(c.data(), dc, count * 4, cudaMemcpyDeviceToHost), "cudaMemcpy(C)");
  double sum = 0;
  for (float v : c) sum += v;
  std::printf("%s: n=%d %s gemms=%lld seconds=%.2f tflops=%.2f checksum=%.6e\n", tag.c_str(), n,
              f16 ? "f16" : "f32", done, elapsed, flop * double(done) / elapsed / 1e12, sum);
  check(cublasDestroy(h), "cublasDestroy");
  check(cudaFree(da), "cudaFree");
  check(cudaFree(db), "cudaFree");
  check(cudaFree(dc), "cudaFree");
  if (held) check(cudaFree(held), "cudaFree");
  std::printf("%s: done\n", tag.c_str());
  return 0;
}
