// Call latencies: the null synchronous round trip, the cost of an async
// kernel launch to the calling thread, sustained launches/s, and launch +
// synchronize latency. The kernel is an empty one from bench_empty.fatbin
// (built by nvcc at build time), loaded with cuModuleLoad.
#include <cstring>

#include "common.h"

namespace {

using vb::Clock;
using vb::seconds_between;

CUstream idle_stream() {
  static CUstream s = [] {
    CUstream x = nullptr;
    if (cuStreamCreate(&x, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS) x = nullptr;
    return x;
  }();
  return s;
}

// ---- null synchronous round trip ----------------------------------------------------------
template <class F>
void round_trip(benchmark::State& st, F call) {
  std::vector<double> samples;
  samples.reserve(st.max_iterations);
  VB_TRY(st, call());  // warm (first use attaches channels, etc.)
  for (auto _ : st) {
    auto t0 = Clock::now();
    CUresult r = call();
    auto t1 = Clock::now();
    if (r != CUDA_SUCCESS) {
      st.SkipWithError(("round trip call: " + vb::cu_error(r)).c_str());
      break;
    }
    double dt = seconds_between(t0, t1);
    st.SetIterationTime(dt);
    samples.push_back(dt);
  }
  vb::latency_counters(st, samples);
}

void BM_StreamQuery(benchmark::State& st) {
  CUstream s = idle_stream();
  if (!s) return st.SkipWithError("cuStreamCreate failed");
  round_trip(st, [s] { return cuStreamQuery(s); });
}
void BM_CtxSynchronize(benchmark::State& st) {
  round_trip(st, [] { return cuCtxSynchronize(); });
}

// ---- kernel launches --------------------------------------------------------------------------
struct Kernel {
  CUfunction fn = nullptr;
  std::string error;  // why there is none
};

const Kernel& empty_kernel() {
  static Kernel k = [] {
    Kernel k;
    const std::string& path = vb::options().fatbin;
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      std::fclose(f);
    } else {
      k.error = "no fatbin at " + path + " (built without nvcc?)";
      return k;
    }
    CUmodule m = nullptr;
    CUresult r = cuModuleLoad(&m, path.c_str());
    if (r == CUDA_SUCCESS) r = cuModuleGetFunction(&k.fn, m, "vgpu_bench_empty");
    if (r != CUDA_SUCCESS) {
      k.fn = nullptr;
      k.error = "cuModuleLoad/GetFunction: " + vb::cu_error(r);
    }
    return k;
  }();
  return k;
}

bool cpu_backend() {
  char name[256] = {};
  cuDeviceGetName(name, sizeof name, vb::device());
  return std::strstr(name, "CPU backend") != nullptr;
}

CUresult launch(CUfunction fn, CUstream s) { return cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, s, nullptr, nullptr); }

// Loads the kernel and checks that launches work; skips the benchmark if not.
CUfunction ready_kernel(benchmark::State& st, CUstream s) {
  const Kernel& k = empty_kernel();
  if (!k.fn) {
    st.SkipWithError(k.error.c_str());
    return nullptr;
  }
  for (int i = 0; i < 16; ++i) {  // warm: lazy module loading, first-launch setup
    CUresult r = launch(k.fn, s);
    if (r == CUDA_SUCCESS) r = cuStreamSynchronize(s);
    if (r != CUDA_SUCCESS) {
      if (r == CUDA_ERROR_NOT_SUPPORTED && cpu_backend()) st.SkipWithError("n/a (CPU backend)");
      else st.SkipWithError(("cuLaunchKernel: " + vb::cu_error(r)).c_str());
      return nullptr;
    }
  }
  return k.fn;
}

// Cost to the calling thread of one cuLaunchKernel (not synchronised; the
// stream is drained every 256 launches, outside the timed region).
void BM_LaunchAsync(benchmark::State& st) {
  CUstream s = idle_stream();
  CUfunction fn = ready_kernel(st, s);
  if (!fn) return;
  std::vector<double> samples;
  samples.reserve(st.max_iterations);
  unsigned i = 0;
  for (auto _ : st) {
    auto t0 = Clock::now();
    CUresult r = launch(fn, s);
    auto t1 = Clock::now();
    if (r != CUDA_SUCCESS) {
      st.SkipWithError(("cuLaunchKernel: " + vb::cu_error(r)).c_str());
      break;
    }
    double dt = seconds_between(t0, t1);
    st.SetIterationTime(dt);
    samples.push_back(dt);
    if (++i % 256 == 0 && cuStreamSynchronize(s) != CUDA_SUCCESS) {
      st.SkipWithError("cuStreamSynchronize failed");
      break;
    }
  }
  VB_TRY(st, cuStreamSynchronize(s));
  vb::latency_counters(st, samples);
}

// Sustained launches/s: launch N then synchronise, per iteration.
void BM_LaunchSustained(benchmark::State& st) {
  CUstream s = idle_stream();
  CUfunction fn = ready_kernel(st, s);
  if (!fn) return;
  const int n = static_cast<int>(st.range(0));
  double total = 0;
  for (auto _ : st) {
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) VB_TRY(st, launch(fn, s));
    VB_TRY(st, cuStreamSynchronize(s));
    double dt = seconds_between(t0, Clock::now());
    st.SetIterationTime(dt);
    total += dt;
  }
  if (total > 0) st.counters["launches_per_s"] = static_cast<double>(st.iterations()) * n / total;
}

// One launch and a cuStreamSynchronize, per iteration.
void BM_LaunchSync(benchmark::State& st) {
  CUstream s = idle_stream();
  CUfunction fn = ready_kernel(st, s);
  if (!fn) return;
  std::vector<double> samples;
  samples.reserve(st.max_iterations);
  for (auto _ : st) {
    auto t0 = Clock::now();
    CUresult r = launch(fn, s);
    if (r == CUDA_SUCCESS) r = cuStreamSynchronize(s);
    auto t1 = Clock::now();
    if (r != CUDA_SUCCESS) {
      st.SkipWithError(("launch + sync: " + vb::cu_error(r)).c_str());
      break;
    }
    double dt = seconds_between(t0, t1);
    st.SetIterationTime(dt);
    samples.push_back(dt);
  }
  vb::latency_counters(st, samples);
}

}  // namespace

int main(int argc, char** argv) {
  vb::take_options(&argc, argv);
  if (!vb::init_device()) return 3;
  const bool q = vb::options().quick;
  // Latencies run for a minimum time (Google Benchmark sizes the iteration
  // count), so a slow side cannot stretch the run; the async launch cost uses a
  // fixed count, because its untimed part (the GPU draining the kernels) is
  // not in the manual time that sizes the count.
  const double t = q ? 0.05 : 0.5;
  benchmark::RegisterBenchmark("roundtrip/cuStreamQuery", BM_StreamQuery)->MinTime(t)->UseManualTime();
  benchmark::RegisterBenchmark("roundtrip/cuCtxSynchronize", BM_CtxSynchronize)->MinTime(t)->UseManualTime();
  benchmark::RegisterBenchmark("launch/async", BM_LaunchAsync)->Iterations(q ? 2000 : 100000)->UseManualTime();
  benchmark::RegisterBenchmark("launch/sustained", BM_LaunchSustained)->Arg(q ? 1000 : 10000)->MinTime(t)->UseManualTime();
  benchmark::RegisterBenchmark("launch/launch_sync", BM_LaunchSync)->MinTime(t)->UseManualTime();
  return vb::run_benchmarks(argc, argv);
}
