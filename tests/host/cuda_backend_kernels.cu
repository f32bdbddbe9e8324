// Kernels for cuda_backend_test, built to a fatbin at build time
// (nvcc -fatbin -arch=sm_90) and loaded through CudaBackend::module_load.
// extern "C": the test looks them up by their plain names.

// Mixed parameter sizes, so the layout from cuFuncGetParamInfo has padding:
// c at 0 (1 byte), d at 8, out at 16, n at 24.
extern "C" __global__ void vgpu_test_mixed(char c, double d, float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = static_cast<float>(d * i) + static_cast<float>(c);
}

// A by-value struct parameter: b at 0 (64 bytes), out at 64.
struct Big {
  float v[16];
};
extern "C" __global__ void vgpu_test_struct(Big b, float* out) {
  int i = threadIdx.x;
  if (i < 16) out[i] = b.v[i] * 2.0f;
}

// Zero copy: p points into registered host memory through its device address.
extern "C" __global__ void vgpu_test_add_one(int* p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] += 1;
}

__device__ int vgpu_test_counter[4];
extern "C" __global__ void vgpu_test_bump(int by) { atomicAdd(&vgpu_test_counter[threadIdx.x % 4], by); }
