// A guest process that holds device memory until its stdin closes: the
// process nvidia-smi and pynvml must list (tests/guest/nvidia_smi_test.sh,
// pynvml_test.py). Prints "ready <pid>" once the memory is held.
//   nvml_holder MIB
#include <cuda.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 64;
  CUdevice dev;
  CUcontext ctx;
  CUdeviceptr p;
  if (cuInit(0) != CUDA_SUCCESS || cuDeviceGet(&dev, 0) != CUDA_SUCCESS || cuDevicePrimaryCtxRetain(&ctx, dev) != CUDA_SUCCESS ||
      cuCtxSetCurrent(ctx) != CUDA_SUCCESS ||
      cuMemAlloc(&p, mib << 20) != CUDA_SUCCESS) {
    std::fprintf(stderr, "nvml_holder: could not hold %zu MiB\n", mib);
    return 1;
  }
  std::printf("ready %d\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  cuMemFree(p);
  return 0;
}
