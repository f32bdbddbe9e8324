// Our libcudart.so.12 fills CUDA 12's cudaDeviceProp from the layout written
// out in src/guest/cudart/props12.h. This test is compiled against NVIDIA's
// own CUDA 12 headers (the nvidia-cuda-runtime-cu12 wheel, tools/cuda/) and
// checks that every field sits where CUDA 12 compilers put it, so a CUDA 12
// program reads what we wrote.
#include <cuda_runtime_api.h>  // CUDA 12's: its include folder comes first

#include <gtest/gtest.h>

#include <cstddef>

#include "props12.h"

static_assert(CUDART_VERSION >= 12000 && CUDART_VERSION < 13000, "built against CUDA 12 headers");

#define VGPU_PROPS12_FIELDS(X) \
  X(name) \
  X(uuid) \
  X(luid) \
  X(luidDeviceNodeMask) \
  X(totalGlobalMem) \
  X(sharedMemPerBlock) \
  X(regsPerBlock) \
  X(warpSize) \
  X(memPitch) \
  X(maxThreadsPerBlock) \
  X(maxThreadsDim) \
  X(maxGridSize) \
  X(clockRate) \
  X(totalConstMem) \
  X(major) \
  X(minor) \
  X(textureAlignment) \
  X(texturePitchAlignment) \
  X(deviceOverlap) \
  X(multiProcessorCount) \
  X(kernelExecTimeoutEnabled) \
  X(integrated) \
  X(canMapHostMemory) \
  X(computeMode) \
  X(maxTexture1D) \
  X(maxTexture1DMipmap) \
  X(maxTexture1DLinear) \
  X(maxTexture2D) \
  X(maxTexture2DMipmap) \
  X(maxTexture2DLinear) \
  X(maxTexture2DGather) \
  X(maxTexture3D) \
  X(maxTexture3DAlt) \
  X(maxTextureCubemap) \
  X(maxTexture1DLayered) \
  X(maxTexture2DLayered) \
  X(maxTextureCubemapLayered) \
  X(maxSurface1D) \
  X(maxSurface2D) \
  X(maxSurface3D) \
  X(maxSurface1DLayered) \
  X(maxSurface2DLayered) \
  X(maxSurfaceCubemap) \
  X(maxSurfaceCubemapLayered) \
  X(surfaceAlignment) \
  X(concurrentKernels) \
  X(ECCEnabled) \
  X(pciBusID) \
  X(pciDeviceID) \
  X(pciDomainID) \
  X(tccDriver) \
  X(asyncEngineCount) \
  X(unifiedAddressing) \
  X(memoryClockRate) \
  X(memoryBusWidth) \
  X(l2CacheSize) \
  X(persistingL2CacheMaxSize) \
  X(maxThreadsPerMultiProcessor) \
  X(streamPrioritiesSupported) \
  X(globalL1CacheSupported) \
  X(localL1CacheSupported) \
  X(sharedMemPerMultiprocessor) \
  X(regsPerMultiprocessor) \
  X(managedMemory) \
  X(isMultiGpuBoard) \
  X(multiGpuBoardGroupID) \
  X(hostNativeAtomicSupported) \
  X(singleToDoublePrecisionPerfRatio) \
  X(pageableMemoryAccess) \
  X(concurrentManagedAccess) \
  X(computePreemptionSupported) \
  X(canUseHostPointerForRegisteredMem) \
  X(cooperativeLaunch) \
  X(cooperativeMultiDeviceLaunch) \
  X(sharedMemPerBlockOptin) \
  X(pageableMemoryAccessUsesHostPageTables) \
  X(directManagedMemAccessFromHost) \
  X(maxBlocksPerMultiProcessor) \
  X(accessPolicyMaxWindowSize) \
  X(reservedSharedMemPerBlock) \
  X(hostRegisterSupported) \
  X(sparseCudaArraySupported) \
  X(hostRegisterReadOnlySupported) \
  X(timelineSemaphoreInteropSupported) \
  X(memoryPoolsSupported) \
  X(gpuDirectRDMASupported) \
  X(gpuDirectRDMAFlushWritesOptions) \
  X(gpuDirectRDMAWritesOrdering) \
  X(memoryPoolSupportedHandleTypes) \
  X(deferredMappingCudaArraySupported) \
  X(ipcEventSupported) \
  X(clusterLaunch) \
  X(unifiedFunctionPointers)
// (then reserved space, whose split into arrays differs between 12.x headers:
// the size check above covers it)

TEST(Props12Layout, SizeMatchesNvidias) {
  EXPECT_EQ(sizeof(cudaDeviceProp), sizeof(vgpu::cudart::DeviceProp12));
}

TEST(Props12Layout, EveryFieldAtNvidiasOffset) {
#define X(f)                                                                                       \
  EXPECT_EQ(offsetof(cudaDeviceProp, f), offsetof(vgpu::cudart::DeviceProp12, f)) << #f;          \
  EXPECT_EQ(sizeof(cudaDeviceProp::f), sizeof(vgpu::cudart::DeviceProp12::f)) << #f;
  VGPU_PROPS12_FIELDS(X)
#undef X
}
