// Host-side entry points of cudart_test_kernels.cu (built by nvcc): each
// launches with <<<...>>> exactly as a user's program would.
#pragma once

#include <cuda_runtime_api.h>

namespace cudart_test {

// out[i] = a[i] + b[i] + g_bias (a __device__ variable) for i < n.
void launch_add(int* out, const int* a, const int* b, int n, cudaStream_t s);
// x[i] *= g_coeffs[0] (a __constant__ variable).
void launch_scale(float* x, int n, cudaStream_t s);
// p[i] = v, a template kernel.
void launch_fill(float* p, float v, int n, cudaStream_t s);
// A launch with 2048 threads per block (more than any GPU allows).
void launch_too_big(int* out);
// A kernel that writes through a bad pointer (an illegal address: sticky).
void launch_fault();

// Host stubs and host shadows, as a program takes their addresses.
const void* add_stub();
const void* scale_stub();
const void* bias_symbol();    // __device__ int g_bias
const void* coeffs_symbol();  // __constant__ float g_coeffs[16]
inline constexpr int kCoeffs = 16;

}  // namespace cudart_test
