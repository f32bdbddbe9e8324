// cuBLAS SGEMM and a half-precision GemmEx on device-resident data, checked
// against a CPU reference on a few entries. Built against libcublas.so.13.
#include <cublas_v2.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(call)                                                                   \
  do {                                                                                \
    cudaError_t e_ = (call);                                                          \
    if (e_ != cudaSuccess) {                                                          \
      std::fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(e_));         \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)
#define CHECK_BLAS(call)                                                              \
  do {                                                                                \
    cublasStatus_t s_ = (call);                                                       \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                \
      std::fprintf(stderr, "%s failed: %s\n", #call, cublasGetStatusString(s_));      \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1024;
  std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n, 0.f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float((i * 37) % 101) / 101.0f - 0.5f, b[i] = float((i * 53) % 97) / 97.0f - 0.5f;
  float *da, *db, *dc;
  CHECK(cudaMalloc(&da, a.size() * 4));
  CHECK(cudaMalloc(&db, b.size() * 4));
  CHECK(cudaMalloc(&dc, c.size() * 4));
  CHECK(cudaMemcpy(da, a.data(), a.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(db, b.data(), b.size() * 4, cudaMemcpyHostToDevice));
  cublasHandle_t h;
  CHECK_BLAS(cublasCreate(&h));
  const float alpha = 1.0f, beta = 0.0f;
  CHECK_BLAS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, da, n, db, n, &beta, dc, n));
  CHECK(cudaMemcpy(c.data(), dc, c.size() * 4, cudaMemcpyDeviceToHost));
  double max_err = 0, sum = 0;
  for (int t = 0; t < 64; ++t) {
    const int i = (t * 131) % n, j = (t * 71) % n;
    double ref = 0;
    for (int k = 0; k < n; ++k) ref += double(a[size_t(k) * n + i]) * b[size_t(j) * n + k];
    max_err = std::fmax(max_err, std::fabs(ref - c[size_t(j) * n + i]));
  }
  for (float v : c) sum += v;
  std::printf("sgemm n=%d: checksum=%.4f max_err_vs_cpu=%s\n", n, sum, max_err < 1e-2 ? "ok" : "BAD");

  // Half inputs, float accumulate and output (what ggml does for F16 weights).
  std::vector<__half> ah(a.size()), bh(b.size());
  for (size_t i = 0; i < a.size(); ++i) ah[i] = __float2half(a[i]), bh[i] = __float2half(b[i]);
  __half *dah, *dbh;
  CHECK(cudaMalloc(&dah, ah.size() * 2));
  CHECK(cudaMalloc(&dbh, bh.size() * 2));
  CHECK(cudaMemcpy(dah, ah.data(), ah.size() * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dbh, bh.data(), bh.size() * 2, cudaMemcpyHostToDevice));
  CHECK_BLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, dah, CUDA_R_16F, n, dbh, CUDA_R_16F, n, &beta,
                          dc, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  CHECK(cudaMemcpy(c.data(), dc, c.size() * 4, cudaMemcpyDeviceToHost));
  sum = 0;
  for (float v : c) sum += v;
  std::printf("gemmex f16 n=%d: checksum=%.4f\n", n, sum);
  CHECK_BLAS(cublasDestroy(h));
  CHECK(cudaFree(da));
  CHECK(cudaFree(db));
  CHECK(cudaFree(dc));
  CHECK(cudaFree(dah));
  CHECK(cudaFree(dbh));
  return max_err < 1e-2 ? 0 : 1;
}
