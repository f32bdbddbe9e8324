#include "common.h"

#include <unistd.h>

#include <cstring>

namespace vb {
namespace {
CUdevice g_device = 0;
}

Options& options() {
  static Options o;
  return o;
}

void take_options(int* argc, char** argv) {
  Options& o = options();
  // Default fatbin: next to the executable.
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    std::string dir(self);
    dir = dir.substr(0, dir.rfind('/'));
    o.fatbin = dir + "/bench_empty.fatbin";
  }
  if (const char* e = std::getenv("VGPU_BENCH_FATBIN")) o.fatbin = e;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) o.quick = true;
    else if (std::strncmp(argv[i], "--fatbin=", 9) == 0) o.fatbin = argv[i] + 9;
    else argv[out++] = argv[i];
  }
  *argc = out;
  argv[out] = nullptr;
}

CUdevice device() { return g_device; }

bool init_device() {
  CUresult r = cuInit(0);
  int count = 0;
  if (r == CUDA_SUCCESS) r = cuDeviceGetCount(&count);
  if (r == CUDA_SUCCESS && count == 0) r = CUDA_ERROR_NO_DEVICE;
  if (r == CUDA_SUCCESS) r = cuDeviceGet(&g_device, 0);
  CUcontext ctx = nullptr;
  if (r == CUDA_SUCCESS) r = cuDevicePrimaryCtxRetain(&ctx, g_device);
  if (r == CUDA_SUCCESS) r = cuCtxSetCurrent(ctx);
  if (r != CUDA_SUCCESS) {
    std::fprintf(stderr, "bench: no usable CUDA device: %s\n", cu_error(r).c_str());
    return false;
  }
  char name[256] = {};
  cuDeviceGetName(name, sizeof name, g_device);
  int major = 0, minor = 0, version = 0;
  cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, g_device);
  cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, g_device);
  cuDriverGetVersion(&version);
  benchmark::AddCustomContext("cuda_device", name);
  benchmark::AddCustomContext("cuda_cc", std::to_string(major) + "." + std::to_string(minor));
  benchmark::AddCustomContext("cuda_driver_api_version", std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10));
  benchmark::AddCustomContext("quick", options().quick ? "1" : "0");
  return true;
}

int run_benchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace vb
