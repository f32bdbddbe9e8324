// A CUDA driver-API program: loads a module built by nvcc, launches kernels
// with mixed parameter types (float, pointers, int, double, int64, a struct by
// value, a byte), uses a __device__ global, copies results back and prints
// them. Its output is the same natively and through vgpu.
#include <cuda.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(call)                                                      \
  do {                                                                   \
    CUresult r_ = (call);                                                \
    if (r_ != CUDA_SUCCESS) {                                            \
      const char* s_ = nullptr;                                          \
      cuGetErrorName(r_, &s_);                                           \
      std::fprintf(stderr, "%s failed: %s\n", #call, s_ ? s_ : "?");     \
      std::exit(1);                                                      \
    }                                                                    \
  } while (0)

struct Params {
  float scale;
  char tag;
  int64_t offset;
  double weights[3];
};

int main(int argc, char** argv) {
  const char* module_path = argc > 1 ? argv[1] : "kernels.fatbin";
  CHECK(cuInit(0));
  CUdevice dev;
  CHECK(cuDeviceGet(&dev, 0));
  char name[256];
  CHECK(cuDeviceGetName(name, sizeof name, dev));
  int major = 0, minor = 0;
  CHECK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
  CHECK(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
  std::printf("device: %s (sm_%d%d)\n", name, major, minor);
  CUcontext ctx;
  CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CHECK(cuCtxSetCurrent(ctx));

  CUmodule mod;
  CHECK(cuModuleLoad(&mod, module_path));
  CUfunction saxpy, mixed, count;
  CHECK(cuModuleGetFunction(&saxpy, mod, "saxpy"));
  CHECK(cuModuleGetFunction(&mixed, mod, "mixed"));
  CHECK(cuModuleGetFunction(&count, mod, "count"));

  // saxpy: y = 2.5 x + y
  const int n = 1 << 20;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = float(i % 1000) * 0.5f, y[i] = float(i % 7);
  CUdeviceptr dx, dy;
  CHECK(cuMemAlloc(&dx, n * sizeof(float)));
  CHECK(cuMemAlloc(&dy, n * sizeof(float)));
  CHECK(cuMemcpyHtoD(dx, x.data(), n * sizeof(float)));
  CHECK(cuMemcpyHtoD(dy, y.data(), n * sizeof(float)));
  float a = 2.5f;
  int nn = n;
  void* args1[] = {&a, &dx, &dy, &nn};
  CHECK(cuLaunchKernel(saxpy, (n + 255) / 256, 1, 1, 256, 1, 1, 0, nullptr, args1, nullptr));
  CHECK(cuMemcpyDtoH(y.data(), dy, n * sizeof(float)));
  double sum = 0;
  for (float v : y) sum += v;
  std::printf("saxpy: y[0]=%.3f y[12345]=%.3f y[n-1]=%.3f sum=%.3f\n", y[0], y[12345], y[n - 1], sum);

  // mixed parameter types, one struct by value
  const int m = 4096;
  CUdeviceptr dout;
  CHECK(cuMemAlloc(&dout, m * sizeof(double)));
  double d = 0.125;
  int64_t big = 1ll << 40;
  Params p{1.5f, 'A', -7, {1.0, 2.0, 4.0}};
  unsigned char flag = 3;
  int mm = m;
  void* args2[] = {&d, &big, &p, &flag, &dout, &mm};
  CUstream s;
  CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CHECK(cuLaunchKernel(mixed, (m + 127) / 128, 1, 1, 128, 1, 1, 0, s, args2, nullptr));
  std::vector<double> out(m);
  CHECK(cuMemcpyDtoHAsync(out.data(), dout, m * sizeof(double), s));
  CHECK(cuStreamSynchronize(s));
  std::printf("mixed: out[0]=%.4f out[1]=%.4f out[4095]=%.4f\n", out[0], out[1], out[m - 1]);

  // a __device__ global, through cuModuleGetGlobal, and events around a launch
  CUdeviceptr counter;
  size_t counter_size;
  CHECK(cuModuleGetGlobal(&counter, &counter_size, mod, "counter"));
  CHECK(cuMemsetD32(counter, 0, 1));
  CUevent start, stop;
  CHECK(cuEventCreate(&start, 0));
  CHECK(cuEventCreate(&stop, 0));
  CHECK(cuEventRecord(start, s));
  int times = 10;
  void* args3[] = {&times};
  CHECK(cuLaunchKernel(count, 64, 1, 1, 128, 1, 1, 0, s, args3, nullptr));
  CHECK(cuEventRecord(stop, s));
  CHECK(cuEventSynchronize(stop));
  float ms = 0;
  CHECK(cuEventElapsedTime(&ms, start, stop));
  int host_counter = 0;
  CHECK(cuMemcpyDtoH(&host_counter, counter, sizeof host_counter));
  std::printf("count: counter=%d (size %zu), elapsed time measured: %s\n", host_counter, counter_size,
              ms >= 0 ? "yes" : "no");

  CHECK(cuEventDestroy(start));
  CHECK(cuEventDestroy(stop));
  CHECK(cuStreamDestroy(s));
  CHECK(cuMemFree(dx));
  CHECK(cuMemFree(dy));
  CHECK(cuMemFree(dout));
  CHECK(cuModuleUnload(mod));
  std::printf("driver_api: done\n");
  return 0;
}
