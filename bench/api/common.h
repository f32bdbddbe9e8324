// Shared helpers of the bench/api programs. Each program is a plain CUDA
// driver-API client (and cuBLAS client for bench_api_gemm): bench/run.sh runs
// it twice, once against NVIDIA's libraries and once against ours
// (LD_LIBRARY_PATH=build/lib VGPU_REGION=...), and bench/report.py merges the
// two JSON outputs by benchmark name.
//
// Conventions the report relies on:
// - every timed benchmark uses manual time (steady_clock around exactly the
//   calls being measured), so real_time in the JSON is the mean per iteration;
// - latency benchmarks add counters p50_us / p99_us / mean_us; copies add
//   bytes_per_s; GEMMs add flops_per_s (plain values computed here, not
//   Google Benchmark rate counters, so their meaning is the same in every
//   library version);
// - a benchmark that cannot run says why with SkipWithError; the message is
//   shown in the table ("n/a (CPU backend)" for refused kernel launches).
#pragma once

#include <benchmark/benchmark.h>
#include <cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace vb {

using Clock = std::chrono::steady_clock;
inline double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

inline std::string cu_error(CUresult r) {
  const char* name = nullptr;
  const char* text = nullptr;
  cuGetErrorName(r, &name);
  cuGetErrorString(r, &text);
  return std::string(name ? name : "CUDA error ") + (name ? "" : std::to_string(r)) + (text ? std::string(": ") + text : "");
}

// Options shared by all programs, taken out of argv before Google Benchmark
// sees it: --quick (small sizes, few iterations: CI on the CPU backend).
struct Options {
  bool quick = false;
  std::string fatbin;  // bench_api_calls: the empty kernel's module
};
Options& options();
void take_options(int* argc, char** argv);

// cuInit, device 0, its primary context made current; adds the device's
// name, compute capability and the driver's CUDA version to the JSON context.
// Returns false (after printing why) when there is no usable device.
bool init_device();
CUdevice device();

// Runs the registered benchmarks (after init_device and registration).
int run_benchmarks(int argc, char** argv);

// Percentile of `v` (0 < q < 1); reorders v.
inline double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(q * (v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

// Sets p50_us / p99_us / mean_us from per-iteration samples (seconds).
inline void latency_counters(benchmark::State& st, std::vector<double>& s) {
  if (s.empty()) return;
  double sum = 0;
  for (double x : s) sum += x;
  st.counters["mean_us"] = sum / s.size() * 1e6;
  st.counters["p50_us"] = percentile(s, 0.50) * 1e6;
  st.counters["p99_us"] = percentile(s, 0.99) * 1e6;
  st.counters["samples"] = static_cast<double>(s.size());
}

}  // namespace vb

// Inside a benchmark's loop: on failure, skip with the driver's message.
#define VB_TRY(st, call)                                         \
  do {                                                           \
    CUresult r_ = (call);                                        \
    if (r_ != CUDA_SUCCESS) {                                    \
      (st).SkipWithError((std::string(#call) + ": " + vb::cu_error(r_)).c_str()); \
      return;                                                    \
    }                                                            \
  } while (0)
