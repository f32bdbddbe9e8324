// Kernels, __device__ and __constant__ variables of the runtime end-to-end
// test, built by nvcc the normal way: its registration code (fatbin,
// functions, variables) runs in our libcudart at program start.
#include "cudart_test_kernels.h"

namespace cudart_test_dev {
__device__ int g_bias;
__constant__ float g_coeffs[cudart_test::kCoeffs];

__global__ void add_kernel(int* out, const int* a, const int* b, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i] + g_bias;
}

__global__ void scale_kernel(float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= g_coeffs[0];
}

__global__ void fault_kernel(int* p) { *p = 1; }

template <typename T>
__global__ void fill_kernel(T* p, T v, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}
}  // namespace cudart_test_dev

namespace cudart_test {
using namespace cudart_test_dev;

void launch_add(int* out, const int* a, const int* b, int n, cudaStream_t s) {
  add_kernel<<<(n + 127) / 128, 128, 0, s>>>(out, a, b, n);
}
void launch_scale(float* x, int n, cudaStream_t s) { scale_kernel<<<(n + 127) / 128, 128, 0, s>>>(x, n); }
void launch_fill(float* p, float v, int n, cudaStream_t s) { fill_kernel<float><<<(n + 127) / 128, 128, 0, s>>>(p, v, n); }
void launch_too_big(int* out) { add_kernel<<<1, 2048>>>(out, out, out, 1); }
void launch_fault() { fault_kernel<<<1, 1>>>(reinterpret_cast<int*>(0x10)); }

const void* add_stub() { return reinterpret_cast<const void*>(&add_kernel); }
const void* scale_stub() { return reinterpret_cast<const void*>(&scale_kernel); }
const void* bias_symbol() { return &g_bias; }
const void* coeffs_symbol() { return &g_coeffs; }

}  // namespace cudart_test
