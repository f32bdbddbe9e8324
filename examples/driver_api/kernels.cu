// Kernels for the driver-API example, built into a fatbin that the host
// program loads with cuModuleLoad. extern "C" keeps the names unmangled.
#include <cstdint>

struct Params {  // passed by value: the launch must pack it at the right offset
  float scale;
  char tag;      // padding follows
  int64_t offset;
  double weights[3];
};

extern "C" __global__ void saxpy(float a, const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

extern "C" __global__ void mixed(double d, int64_t big, Params p, unsigned char flag, double* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    double w = p.weights[i % 3];
    out[i] = d * i + static_cast<double>(big) + p.scale * w + p.offset + p.tag + flag;
  }
}

__device__ int counter;

extern "C" __global__ void count(int times) {
  for (int i = 0; i < times; ++i) atomicAdd(&counter, 1);
}
