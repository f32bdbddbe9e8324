// After a test, whatever it did: the guest's session still works (an
// allocation, a free and a synchronise succeed).
#pragma once

#include <cuda.h>
#include <gtest/gtest.h>

namespace vgpu::e2e {

inline void expect_session_works() {
  CUdeviceptr p = 0;
  EXPECT_EQ(CUDA_SUCCESS, cuMemAlloc(&p, 64)) << "session broken after the test";
  if (p) {
    EXPECT_EQ(CUDA_SUCCESS, cuMemFree(p));
  }
  EXPECT_EQ(CUDA_SUCCESS, cuCtxSynchronize());
}

}  // namespace vgpu::e2e
