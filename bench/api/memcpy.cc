// Copy bandwidth: cuMemcpyHtoD / DtoH from pinned (cuMemAllocHost) and from
// pageable (malloc'd, pages touched) host memory, synchronous and async
// (cuMemcpy*Async + cuStreamSynchronize), 4 KiB .. 256 MiB in powers of 4
// (--quick: up to 4 MiB).
#include <cstring>

#include "common.h"

namespace {

using vb::Clock;
using vb::seconds_between;

enum Dir { kHtoD, kDtoH };
enum Mem { kPinned, kPageable };
enum Mode { kSync, kAsync };

struct Buffers {
  size_t bytes = 0;
  CUdeviceptr dev = 0;
  void* pinned = nullptr;
  void* pageable = nullptr;
  CUstream stream = nullptr;
  std::string error;
};

Buffers& buffers(size_t max) {
  static Buffers b = [max] {
    Buffers b;
    b.bytes = max;
    CUresult r = cuMemAlloc(&b.dev, max);
    if (r == CUDA_SUCCESS) r = cuMemAllocHost(&b.pinned, max);
    if (r == CUDA_SUCCESS) r = cuStreamCreate(&b.stream, CU_STREAM_NON_BLOCKING);
    if (r != CUDA_SUCCESS) {
      b.error = "buffer setup (" + std::to_string(max >> 20) + " MiB): " + vb::cu_error(r);
      return b;
    }
    b.pageable = std::aligned_alloc(4096, max);
    std::memset(b.pageable, 0x5a, max);  // fault the pages in before timing
    std::memset(b.pinned, 0xa5, max);
    if (cuMemsetD8(b.dev, 0x11, max) != CUDA_SUCCESS) b.error = "cuMemsetD8 failed";
    return b;
  }();
  return b;
}

size_t g_max = 0;

void BM_Copy(benchmark::State& st, Dir dir, Mem mem, Mode mode) {
  Buffers& b = buffers(g_max);
  if (!b.error.empty()) return st.SkipWithError(b.error.c_str());
  const size_t n = static_cast<size_t>(st.range(0));
  void* host = mem == kPinned ? b.pinned : b.pageable;
  auto copy = [&]() -> CUresult {
    if (mode == kSync) return dir == kHtoD ? cuMemcpyHtoD(b.dev, host, n) : cuMemcpyDtoH(host, b.dev, n);
    CUresult r = dir == kHtoD ? cuMemcpyHtoDAsync(b.dev, host, n, b.stream) : cuMemcpyDtoHAsync(host, b.dev, n, b.stream);
    return r == CUDA_SUCCESS ? cuStreamSynchronize(b.stream) : r;
  };
  VB_TRY(st, copy());  // warm
  double total = 0;
  for (auto _ : st) {
    auto t0 = Clock::now();
    CUresult r = copy();
    auto t1 = Clock::now();
    if (r != CUDA_SUCCESS) {
      st.SkipWithError(("copy: " + vb::cu_error(r)).c_str());
      break;
    }
    double dt = seconds_between(t0, t1);
    st.SetIterationTime(dt);
    total += dt;
  }
  if (total > 0) st.counters["bytes_per_s"] = static_cast<double>(st.iterations()) * n / total;
  st.counters["bytes"] = static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  vb::take_options(&argc, argv);
  if (!vb::init_device()) return 3;
  const bool q = vb::options().quick;
  g_max = q ? (4u << 20) : (256u << 20);
  const char* dirs[] = {"HtoD", "DtoH"};
  const char* mems[] = {"pinned", "pageable"};
  const char* modes[] = {"sync", "async"};
  for (int d : {kHtoD, kDtoH})
    for (int m : {kPinned, kPageable})
      for (int o : {kSync, kAsync}) {
        std::string name = std::string("memcpy/") + dirs[d] + "/" + mems[m] + "/" + modes[o];
        auto* bm = benchmark::RegisterBenchmark(name.c_str(), BM_Copy, Dir(d), Mem(m), Mode(o));
        bm->RangeMultiplier(4)->Range(4096, static_cast<int64_t>(g_max))->UseManualTime()->MinTime(q ? 0.02 : 0.2);
      }
  return vb::run_benchmarks(argc, argv);
}
