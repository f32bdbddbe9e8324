// A decode-like tenant: each "token" is a chain of small dependent kernels
// (a few blocks each, as one layer's ops are at batch 1) and then a
// synchronise, so the GPU is mostly waiting for the next launch. Several of
// these at once show how the GPU is shared: separate contexts time-slice,
// MPS clients overlap (tests/gpu/mps.sh).
//
//   decode_load [--seconds S] [--kernels K] [--tag T] [--fault]
// prints "tag=T tokens_per_s=X checksum=C"; --fault instead launches a
// kernel that writes through a wild pointer (a fatal GPU fault) and exits 3.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

__global__ void step(float* x, int n, float a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = x[i] * a + 1.0f;
}

__global__ void wild_write(float* p) { p[threadIdx.x] = 1.0f; }

#define CHECK(x)                                                                        \
  do {                                                                                  \
    cudaError_t e_ = (x);                                                               \
    if (e_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "%s failed: %s\n", #x, cudaGetErrorString(e_));              \
      std::exit(2);                                                                     \
    }                                                                                   \
  } while (0)

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  int kernels = 64;
  bool fault = false;
  std::string tag = "decode";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--kernels") && i + 1 < argc) kernels = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--tag") && i + 1 < argc) tag = argv[++i];
    else if (!std::strcmp(argv[i], "--fault")) fault = true;
    else return std::fprintf(stderr, "usage: decode_load [--seconds S] [--kernels K] [--tag T] [--fault]\n"), 2;
  }
  const int n = 8 * 256;  // 8 blocks: a batch-1 sized op
  float* x = nullptr;
  CHECK(cudaMalloc(&x, n * sizeof(float)));
  CHECK(cudaMemset(x, 0, n * sizeof(float)));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  if (fault) {
    // An address no allocation has: the kernel faults, the context is lost.
    wild_write<<<1, 32, 0, s>>>(reinterpret_cast<float*>(0x7f0000000000ull));
    const cudaError_t e = cudaStreamSynchronize(s);
    std::printf("tag=%s fault=%s\n", tag.c_str(), cudaGetErrorName(e));
    return 3;
  }
  // Warm up, then run for `seconds`.
  for (int k = 0; k < kernels; ++k) step<<<n / 256, 256, 0, s>>>(x, n, 0.5f);
  CHECK(cudaStreamSynchronize(s));
  long tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int k = 0; k < kernels; ++k) step<<<n / 256, 256, 0, s>>>(x, n, 0.5f);
    CHECK(cudaStreamSynchronize(s));
    ++tokens;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  CHECK(cudaGetLastError());
  float h[4];
  CHECK(cudaMemcpy(h, x, sizeof h, cudaMemcpyDeviceToHost));
  // x converges to 2 (x = x/2 + 1): the checksum is the same everywhere.
  std::printf("tag=%s tokens_per_s=%.1f kernels_per_token=%d checksum=%.4f\n", tag.c_str(), tokens / elapsed, kernels,
              h[0] + h[1] + h[2] + h[3]);
  CHECK(cudaFree(x));
  return 0;
}
