// e2e_blas_guest: a guest that runs copies and cuBLAS GEMMs through our
// libcuda.so.1 and libcublas.so.13, checking every result byte for byte,
// until a line (or EOF) on stdin. Started by tests/e2e/hostile_region_test.cc
// with VGPU_REGION set.
//
//   e2e_blas_guest SEED   READY after the first round, "ROUND N" every 8th;
//                         "DONE ok rounds=N" and
//                         exit 0 iff every round was correct; "FAIL ..." and
//                         exit 1 at the first wrong byte or failed call.
//
// GEMM operands are small integers, so float results are exact and the
// host's answer must equal the one computed here, bit for bit.
#include <cublas_v2.h>
#include <cuda.h>
#include <poll.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

void say(const std::string& s) {
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
}

bool stdin_ready() {
  pollfd p{0, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

#define CK(call)                                                                          \
  do {                                                                                    \
    const int r_ = static_cast<int>(call);                                                \
    if (r_ != 0) return say("FAIL " #call " -> " + std::to_string(r_)), 1;                \
  } while (0)

int run(uint64_t seed) {
  CUdevice dev;
  CUcontext ctx;
  CK(cuInit(0));
  CK(cuDeviceGet(&dev, 0));
  CK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CK(cuCtxSetCurrent(ctx));
  cublasHandle_t h;
  CK(cublasCreate(&h));
  constexpr int n = 48;
  constexpr size_t kCopy = (1u << 20) + 13;
  CUdeviceptr da, db, dc, dcopy;
  CK(cuMemAlloc(&da, n * n * sizeof(float)));
  CK(cuMemAlloc(&db, n * n * sizeof(float)));
  CK(cuMemAlloc(&dc, n * n * sizeof(float)));
  CK(cuMemAlloc(&dcopy, kCopy));
  std::mt19937_64 g(seed);
  std::vector<float> a(n * n), b(n * n), c(n * n), want(n * n);
  std::vector<unsigned char> in(kCopy), out(kCopy);
  long rounds = 0;
  for (;; ++rounds) {
    for (auto& x : in) x = static_cast<unsigned char>(g());
    CK(cuMemcpyHtoD(dcopy, in.data(), kCopy));
    CK(cuMemcpyDtoH(out.data(), dcopy, kCopy));
    if (in != out) return say("FAIL copy mismatch in round " + std::to_string(rounds)), 1;
    for (int i = 0; i < n * n; ++i) a[i] = float(int(g() % 17) - 8), b[i] = float(int(g() % 17) - 8);
    for (int j = 0; j < n; ++j)  // column-major, as cuBLAS
      for (int i = 0; i < n; ++i) {
        float s = 0;
        for (int k = 0; k < n; ++k) s += a[i + k * n] * b[k + j * n];
        want[i + j * n] = s;
      }
    CK(cuMemcpyHtoD(da, a.data(), a.size() * sizeof(float)));
    CK(cuMemcpyHtoD(db, b.data(), b.size() * sizeof(float)));
    const float one = 1, zero = 0;
    CK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, reinterpret_cast<const float*>(da), n,
                   reinterpret_cast<const float*>(db), n, &zero, reinterpret_cast<float*>(dc), n));
    CK(cuMemcpyDtoH(c.data(), dc, c.size() * sizeof(float)));
    if (std::memcmp(c.data(), want.data(), c.size() * sizeof(float)) != 0)
      return say("FAIL GEMM result mismatch in round " + std::to_string(rounds)), 1;
    if (rounds == 0) say("READY");
    if (rounds % 8 == 7) say("ROUND " + std::to_string(rounds + 1));
    if (stdin_ready()) break;
  }
  CK(cublasDestroy(h));
  say("DONE ok rounds=" + std::to_string(rounds + 1));
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run(argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1); }
