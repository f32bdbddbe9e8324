// Guest program of the VM test (driver API only: our libcuda.so.1, no nvcc):
//
//   vm_api_bench --errors [--expect-lib-dir DIR]
//       Error cases: copies from/to device addresses that were never allocated
//       and a copy past the end of an allocation must fail (not succeed, not
//       crash), freeing an unknown pointer must fail, and afterwards the same
//       context must still work (a copy with its bytes compared, a new
//       allocation, cuCtxSynchronize). Prints "vm_api_bench: errors PASS".
//
//   vm_api_bench --bench [--label L] [--iters N] [--reps R] [--sizes-mib A,B]
//       Round-trip latency of a null synchronous call (N x cuStreamQuery on
//       the legacy stream; p50 / p99 / mean) and copy bandwidth of
//       synchronous cuMemcpyHtoD / cuMemcpyDtoH from pageable (malloc) and
//       pinned (cuMemAllocHost) memory, median of R copies per size. Each
//       figure is also printed as "VGPU-BENCH L KEY VALUE" for scripts
//       (tests/vm/run_guest_e2e.sh compares guest and host runs).
//       Defaults: N 10000, R 10, sizes 4 and 16 MiB, label "host".
//
// The same binary runs in the VM guest (the region found by PCI id) and as a
// plain process on the host (VGPU_REGION=/dev/shm/... and
// LD_LIBRARY_PATH=build/lib), so the two can be compared.
#include <cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "vm_guest_util.h"

namespace {

constexpr const char* kProg = "vm_api_bench";
#define CHECK(call) VM_CHECK_CU(kProg, call)
using vgpu::vmtest::cu_error_name;
using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

CUdevice open_device() {
  CHECK(cuInit(0));
  CUdevice dev;
  CHECK(cuDeviceGet(&dev, 0));
  CUcontext ctx;
  CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CHECK(cuCtxSetCurrent(ctx));
  return dev;
}

unsigned char pattern(size_t i) { return static_cast<unsigned char>((i * 167) ^ (i >> 11) ^ 0x5a); }

int run_errors() {
  open_device();
  const size_t n = 1u << 20;
  std::vector<unsigned char> src(n), back(n, 0);
  for (size_t i = 0; i < n; ++i) src[i] = pattern(i);
  CUdeviceptr d;
  CHECK(cuMemAlloc(&d, n));
  CHECK(cuMemcpyHtoD(d, src.data(), n));

  int bad = 0;
  auto expect_error = [&](const char* what, CUresult r) {
    if (r == CUDA_SUCCESS) {
      std::printf("%s: %s: returned CUDA_SUCCESS, expected an error\n", kProg, what);
      ++bad;
    } else {
      std::printf("%s: %s: %s (expected an error)\n", kProg, what, cu_error_name(r));
    }
  };
  const CUdeviceptr never = d + n + (CUdeviceptr(1) << 32);  // far past any allocation
  expect_error("cuMemcpyDtoH from an address never allocated", cuMemcpyDtoH(back.data(), never, 4096));
  expect_error("cuMemcpyDtoH from device address 0x1000", cuMemcpyDtoH(back.data(), 0x1000, 4096));
  expect_error("cuMemcpyHtoD to an address never allocated", cuMemcpyHtoD(never, src.data(), 4096));
  expect_error("cuMemcpyDtoH past the end of an allocation", cuMemcpyDtoH(back.data(), d + n - 100, 4096));
  expect_error("cuMemFree of an address never allocated", cuMemFree(never));

  // The session must survive all of that: the same context keeps working.
  CUresult r = cuCtxSynchronize();
  if (r != CUDA_SUCCESS) {
    std::printf("%s: cuCtxSynchronize after the errors: %s (expected success: errors must not be sticky)\n", kProg,
                cu_error_name(r));
    ++bad;
  }
  r = cuMemcpyDtoH(back.data(), d, n);
  if (r != CUDA_SUCCESS || std::memcmp(back.data(), src.data(), n) != 0) {
    std::printf("%s: copy after the errors: %s, bytes %s\n", kProg, cu_error_name(r),
                std::memcmp(back.data(), src.data(), n) == 0 ? "ok" : "WRONG");
    ++bad;
  } else {
    std::printf("%s: copy after the errors: ok (%zu bytes compared)\n", kProg, n);
  }
  CUdeviceptr d2 = 0;
  r = cuMemAlloc(&d2, 4096);
  if (r != CUDA_SUCCESS) {
    std::printf("%s: cuMemAlloc after the errors: %s\n", kProg, cu_error_name(r));
    ++bad;
  } else {
    CHECK(cuMemFree(d2));
  }
  CHECK(cuMemFree(d));
  std::printf("%s: errors %s\n", kProg, bad ? "FAIL" : "PASS");
  return bad ? 1 : 0;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

int run_bench(const std::string& label, int iters, int reps, const std::vector<size_t>& sizes_mib) {
  CUdevice dev = open_device();
  char name[256];
  CHECK(cuDeviceGetName(name, sizeof name, dev));
  std::printf("%s[%s]: device %s, %s\n", kProg, label.c_str(), name,
              vgpu::vmtest::loaded_path("libcuda.so.1").c_str());
  auto emit = [&](const std::string& key, double v) { std::printf("VGPU-BENCH %s %s %.3f\n", label.c_str(), key.c_str(), v); };

  // Null synchronous call: cuStreamQuery on the legacy stream (a host round trip, no work).
  for (int i = 0; i < std::min(iters, 200); ++i) CHECK(cuStreamQuery(nullptr));
  std::vector<double> t(iters);
  const auto all0 = Clock::now();
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    CHECK(cuStreamQuery(nullptr));
    t[i] = us_since(t0);
  }
  const double mean = us_since(all0) / iters;
  const double p50 = percentile(t, 0.5), p99 = percentile(t, 0.99);
  std::printf("%s[%s]: null call (cuStreamQuery, legacy stream) x%d: p50 %.1f us, p99 %.1f us, mean %.1f us\n", kProg,
              label.c_str(), iters, p50, p99, mean);
  emit("rtt_p50_us", p50);
  emit("rtt_p99_us", p99);
  emit("rtt_mean_us", mean);

  // Copy bandwidth, synchronous copies on the legacy stream.
  const size_t max = *std::max_element(sizes_mib.begin(), sizes_mib.end()) << 20;
  std::vector<unsigned char> pageable(max);
  for (size_t i = 0; i < max; ++i) pageable[i] = pattern(i);
  void* pinned = nullptr;
  CHECK(cuMemAllocHost(&pinned, max));
  std::memcpy(pinned, pageable.data(), max);
  CUdeviceptr d;
  CHECK(cuMemAlloc(&d, max));
  int bad = 0;
  for (size_t mib : sizes_mib) {
    const size_t n = mib << 20;
    for (int kind = 0; kind < 2; ++kind) {
      void* host = kind ? pinned : static_cast<void*>(pageable.data());
      const char* kname = kind ? "pinned" : "pageable";
      for (int dir = 0; dir < 2; ++dir) {
        std::vector<double> gbs;
        for (int r = 0; r <= reps; ++r) {  // the first one warms up
          const auto t0 = Clock::now();
          if (dir == 0) CHECK(cuMemcpyHtoD(d, host, n));
          else CHECK(cuMemcpyDtoH(host, d, n));
          const double us = us_since(t0);
          if (r) gbs.push_back(n / us / 1e3);
        }
        // What came back must still be the pattern (it went there and back).
        if (dir == 1 && std::memcmp(host, pageable.data(), std::min(n, size_t(1) << 20)) != 0) ++bad;
        const double med = percentile(gbs, 0.5), best = *std::max_element(gbs.begin(), gbs.end());
        const char* dname = dir ? "DtoH" : "HtoD";
        std::printf("%s[%s]: copy %s %-8s %3zu MiB: %.2f GB/s (median of %d, best %.2f)\n", kProg, label.c_str(), dname,
                    kname, mib, med, reps, best);
        emit(std::string("copy_") + dname + "_" + kname + "_" + std::to_string(mib) + "MiB_GBps", med);
      }
    }
  }
  CHECK(cuMemFree(d));
  CHECK(cuMemFreeHost(pinned));
  if (bad) std::printf("%s[%s]: copied bytes came back WRONG\n", kProg, label.c_str());
  return bad ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool errors = false, bench = false;
  std::string label = "host", expect_dir;
  int iters = 10000, reps = 10;
  std::vector<size_t> sizes{4, 16};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value\n", kProg, a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--errors") errors = true;
    else if (a == "--bench") bench = true;
    else if (a == "--label") label = value();
    else if (a == "--iters") iters = std::max(1, std::atoi(value().c_str()));
    else if (a == "--reps") reps = std::max(1, std::atoi(value().c_str()));
    else if (a == "--expect-lib-dir") expect_dir = value();
    else if (a == "--sizes-mib") {
      sizes.clear();
      const std::string v = value();
      for (size_t p = 0; p < v.size();) {
        const size_t q = v.find(',', p);
        const size_t s = std::strtoul(v.substr(p, q - p).c_str(), nullptr, 10);
        if (s) sizes.push_back(s);
        p = q == std::string::npos ? v.size() : q + 1;
      }
      if (sizes.empty()) sizes = {4};
    } else {
      std::fprintf(stderr,
                   "usage: %s --errors [--expect-lib-dir DIR] | --bench [--label L] [--iters N] [--reps R] "
                   "[--sizes-mib A,B]\n",
                   kProg);
      return 2;
    }
  }
  if (!errors && !bench) errors = true;
  int rc = 0;
  // libcuda.so.1 is a NEEDED library: loaded before main runs.
  if (!expect_dir.empty() && !vgpu::vmtest::report_library(kProg, "libcuda.so.1", expect_dir)) return 1;
  if (errors) rc |= run_errors();
  if (bench) rc |= run_bench(label, iters, reps, sizes);
  return rc;
}
