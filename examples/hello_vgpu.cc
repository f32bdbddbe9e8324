// The demo's first program: a plain CUDA driver-API client that asks which
// device it has, moves data to it and back (pageable and pinned memory,
// several sizes), and checks every byte. It runs on either host backend.
#include <cuda.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CHECK(call)                                                  \
  do {                                                               \
    CUresult r_ = (call);                                            \
    if (r_ != CUDA_SUCCESS) {                                        \
      const char* s_ = nullptr;                                      \
      cuGetErrorString(r_, &s_);                                     \
      std::fprintf(stderr, "%s failed: %s\n", #call, s_ ? s_ : "?"); \
      std::exit(1);                                                  \
    }                                                                \
  } while (0)

int main() {
  CHECK(cuInit(0));
  CUdevice dev;
  CHECK(cuDeviceGet(&dev, 0));
  char name[256], pci[32];
  size_t total = 0;
  CHECK(cuDeviceGetName(name, sizeof name, dev));
  CHECK(cuDeviceGetPCIBusId(pci, sizeof pci, dev));
  CHECK(cuDeviceTotalMem(&total, dev));
  int sms = 0;
  CHECK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
  std::printf("hello_vgpu: device 0 is %s (PCI %s, %d SMs, %.1f GiB)\n", name, pci, sms, total / 1073741824.0);
  CUcontext ctx;
  CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CHECK(cuCtxSetCurrent(ctx));

  const size_t max = 64u << 20;
  std::vector<unsigned char> src(max), back(max);
  for (size_t i = 0; i < max; ++i) src[i] = static_cast<unsigned char>((i * 131) ^ (i >> 9));
  void* pinned;
  CHECK(cuMemAllocHost(&pinned, max));
  CUdeviceptr d;
  CHECK(cuMemAlloc(&d, max));
  for (size_t n : {size_t(64), size_t(4096), size_t(1) << 20, max}) {
    auto t0 = std::chrono::steady_clock::now();
    CHECK(cuMemcpyHtoD(d, src.data(), n));
    CHECK(cuMemcpyDtoH(back.data(), d, n));
    auto t1 = std::chrono::steady_clock::now();
    std::memcpy(pinned, src.data(), n);
    CHECK(cuMemcpyHtoD(d, pinned, n));
    std::memset(pinned, 0, n);
    CHECK(cuMemcpyDtoH(pinned, d, n));
    const bool ok = std::memcmp(back.data(), src.data(), n) == 0 && std::memcmp(pinned, src.data(), n) == 0;
    const double us = std::chrono::duration<double, std::micro>(t1 - t0).count();
    std::printf("hello_vgpu: %9zu bytes there and back: %s (pageable round trip %.0f us)\n", n, ok ? "ok" : "CORRUPTED", us);
    if (!ok) return 1;
  }
  CHECK(cuMemFree(d));
  CHECK(cuMemFreeHost(pinned));
  std::printf("hello_vgpu: done\n");
  return 0;
}
