// NVIDIA's cuFFT 12 (CUDA 13's libcufft.so.12, from the nvidia-cufft wheel)
// over our libcuda.so.1 and a real vgpu-hostd. cuFFT embeds NVIDIA's runtime
// and resolves the driver itself (dlopen of libcuda.so.1: ours, linked into
// this program); creating a plan asks for TOOLS_CONTEXT and TOOLS_MODULE and
// loads its kernels as one-kernel PTX modules, whose CUfunction it gets from
// TOOLS_MODULE slot 7 (docs/export-tables.md).
//
// On the CPU backend a plan cannot be made: cuFFT's next steps for the
// kernel are its __device__ table pointer (cuModuleGetGlobal), its
// attributes and occupancy, which that backend refuses (no GPU compiled the
// kernel). So there the tests check that cuFFT gets past TOOLS_MODULE to that
// refusal and fails cleanly (ctest's nvidia_cufft_test_coverage reads the
// trace), and that the other calls fail with cuFFT's own errors. On a GPU
// (VGPU_TEST_BACKEND=cuda) plans are made and a transform is checked against
// a direct DFT.
//
// cuFFT is loaded by path (VGPU_NVIDIA_CUFFT) with dlopen, so the program
// needs none of its headers; the few declarations are cufft.h's.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cuda.h>

#include <cmath>
#include <complex>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hostd_env.h"

namespace {

static auto* const g_env = ::testing::AddGlobalTestEnvironment(new vgpu::test::HostdEnvironment("cufft"));

// cufft.h (CUDA 13): handles are ints; results and types are its enums.
using cufftHandle = int;
constexpr int kSuccess = 0, kInvalidPlan = 1, kInternalError = 5;
constexpr int kC2C = 0x29, kR2C = 0x2a, kZ2Z = 0x69, kForward = -1;
struct Cufft {
  void* lib = nullptr;
  int (*plan1d)(cufftHandle*, int nx, int type, int batch) = nullptr;
  int (*plan_many)(cufftHandle*, int rank, int* n, int* inembed, int istride, int idist, int* onembed, int ostride,
                   int odist, int type, int batch) = nullptr;
  int (*create)(cufftHandle*) = nullptr;
  int (*make_plan1d)(cufftHandle, int nx, int type, int batch, size_t* work) = nullptr;
  int (*exec_c2c)(cufftHandle, void* in, void* out, int direction) = nullptr;
  int (*destroy)(cufftHandle) = nullptr;
  int (*get_version)(int*) = nullptr;
};

bool on_gpu() {
  const char* be = std::getenv("VGPU_TEST_BACKEND");
  return be && std::string(be) == "cuda";
}

class NvidiaCufft : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
    ASSERT_EQ(cuDevicePrimaryCtxRetain(&primary_, 0), CUDA_SUCCESS);
    ASSERT_EQ(cuCtxSetCurrent(primary_), CUDA_SUCCESS);
    f_.lib = dlopen(VGPU_NVIDIA_CUFFT, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(f_.lib, nullptr) << dlerror();
    auto sym = [&](auto* fp, const char* name) {
      *fp = reinterpret_cast<std::remove_reference_t<decltype(*fp)>>(dlsym(f_.lib, name));
      ASSERT_NE(*fp, nullptr) << name;
    };
    sym(&f_.plan1d, "cufftPlan1d");
    sym(&f_.plan_many, "cufftPlanMany");
    sym(&f_.create, "cufftCreate");
    sym(&f_.make_plan1d, "cufftMakePlan1d");
    sym(&f_.exec_c2c, "cufftExecC2C");
    sym(&f_.destroy, "cufftDestroy");
    sym(&f_.get_version, "cufftGetVersion");
  }
  CUcontext primary_ = nullptr;
  Cufft f_;
};

TEST_F(NvidiaCufft, IsNvidiasOverOurDriver) {
  int v = 0;
  ASSERT_EQ(f_.get_version(&v), kSuccess);
  EXPECT_GE(v, 12000) << "not cuFFT 12 (CUDA 13)";
  void* drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(drv, nullptr);
  EXPECT_NE(dlsym(drv, "vgpu_guest_marker"), nullptr) << "libcuda.so.1 is not ours";
  dlclose(drv);
}

// The three ways to make a plan. On the CPU backend each stops where the
// backend refuses the kernel's module globals, with cuFFT's internal error;
// on a GPU each succeeds.
TEST_F(NvidiaCufft, PlansAreMadeOnAGpuAndFailCleanlyOnTheCpuBackend) {
  const int want = on_gpu() ? kSuccess : kInternalError;
  cufftHandle p = -1;
  EXPECT_EQ(f_.plan1d(&p, 1024, kC2C, 1), want);
  if (want == kSuccess) {
    EXPECT_EQ(f_.destroy(p), kSuccess);
  }
  int n[1] = {256};
  cufftHandle q = -1;
  EXPECT_EQ(f_.plan_many(&q, 1, n, nullptr, 1, 256, nullptr, 1, 129, kR2C, 4), want);
  if (want == kSuccess) {
    EXPECT_EQ(f_.destroy(q), kSuccess);
  }
  cufftHandle h = -1;
  ASSERT_EQ(f_.create(&h), kSuccess);
  size_t work = 0;
  EXPECT_EQ(f_.make_plan1d(h, 4096, kZ2Z, 2, &work), want);
  EXPECT_EQ(f_.destroy(h), kSuccess);
}

// A forward C2C transform of 1024 points: on a GPU, checked against a direct
// DFT; on the CPU backend the plan is refused and executing it is cuFFT's
// own error, not a crash.
TEST_F(NvidiaCufft, ForwardTransformMatchesADirectDft) {
  constexpr int kN = 1024;
  cufftHandle p = -1;
  const int made = f_.plan1d(&p, kN, kC2C, 1);
  CUdeviceptr d = 0;
  ASSERT_EQ(cuMemAlloc(&d, kN * 8), CUDA_SUCCESS);
  if (!on_gpu()) {
    EXPECT_EQ(made, kInternalError);
    EXPECT_EQ(f_.exec_c2c(p, reinterpret_cast<void*>(d), reinterpret_cast<void*>(d), kForward), kInvalidPlan);
    EXPECT_EQ(cuMemFree(d), CUDA_SUCCESS);
    return;
  }
  ASSERT_EQ(made, kSuccess);
  std::vector<std::complex<float>> x(kN), y(kN);
  for (int i = 0; i < kN; ++i) x[i] = {std::sin(0.01f * i) + 0.5f, std::cos(0.03f * i)};
  ASSERT_EQ(cuMemcpyHtoD(d, x.data(), kN * 8), CUDA_SUCCESS);
  ASSERT_EQ(f_.exec_c2c(p, reinterpret_cast<void*>(d), reinterpret_cast<void*>(d), kForward), kSuccess);
  ASSERT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
  ASSERT_EQ(cuMemcpyDtoH(y.data(), d, kN * 8), CUDA_SUCCESS);
  double worst = 0, scale = 0;
  for (int k = 0; k < kN; ++k) {
    std::complex<double> s = 0;
    for (int i = 0; i < kN; ++i) s += std::complex<double>(x[i]) * std::polar(1.0, -2 * M_PI * double(k) * i / kN);
    worst = std::max(worst, std::abs(s - std::complex<double>(y[k])));
    scale = std::max(scale, std::abs(s));
  }
  EXPECT_LT(worst, 1e-4 * scale) << "cuFFT's answer differs from the direct DFT";
  EXPECT_EQ(f_.destroy(p), kSuccess);
  EXPECT_EQ(cuMemFree(d), CUDA_SUCCESS);
}

}  // namespace
