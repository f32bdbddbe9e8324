// The kernel of the launch benchmarks: does nothing, takes nothing.
extern "C" __global__ void vgpu_bench_empty() {}
