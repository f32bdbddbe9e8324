// A program linking our libcudart.so.13 (and through it our libcuda.so.1),
// for mixed_install_test.sh: it reaches main only if the libraries it loaded
// accepted one another (src/guest/build_stamp_check.cc). It asks nothing of
// a host: cudaRuntimeGetVersion answers locally.
#include <cuda_runtime_api.h>

#include <cstdio>

int main() {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) return 1;
  std::printf("probe ran: runtime %d\n", v);
  return 0;
}
