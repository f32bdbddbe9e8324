// CUDA 12.x's struct cudaDeviceProp (what cudaGetDeviceProperties_v2 of
// libcudart.so.12 fills): the flavours are built against CUDA 13's headers, so
// the layout is written out from CUDA 12's driver_types.h, pinned below, and
// checked field by field against NVIDIA's CUDA 12 headers by
// tests/guest/props12_layout_test.cc. CUDA 13
// removed clockRate, deviceOverlap, kernelExecTimeoutEnabled, computeMode,
// maxTexture1DLinear, memoryClockRate, singleToDoublePrecisionPerfRatio and
// cooperativeMultiDeviceLaunch, and added NUMA/MPS/PCI fields at the end.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace vgpu::cudart {

struct DeviceProp12 {
  char name[256];
  cudaUUID_t uuid;
  char luid[8];
  unsigned int luidDeviceNodeMask;
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  size_t memPitch;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int clockRate;
  size_t totalConstMem;
  int major;
  int minor;
  size_t textureAlignment;
  size_t texturePitchAlignment;
  int deviceOverlap;
  int multiProcessorCount;
  int kernelExecTimeoutEnabled;
  int integrated;
  int canMapHostMemory;
  int computeMode;
  int maxTexture1D;
  int maxTexture1DMipmap;
  int maxTexture1DLinear;
  int maxTexture2D[2];
  int maxTexture2DMipmap[2];
  int maxTexture2DLinear[3];
  int maxTexture2DGather[2];
  int maxTexture3D[3];
  int maxTexture3DAlt[3];
  int maxTextureCubemap;
  int maxTexture1DLayered[2];
  int maxTexture2DLayered[3];
  int maxTextureCubemapLayered[2];
  int maxSurface1D;
  int maxSurface2D[2];
  int maxSurface3D[3];
  int maxSurface1DLayered[2];
  int maxSurface2DLayered[3];
  int maxSurfaceCubemap;
  int maxSurfaceCubemapLayered[2];
  size_t surfaceAlignment;
  int concurrentKernels;
  int ECCEnabled;
  int pciBusID;
  int pciDeviceID;
  int pciDomainID;
  int tccDriver;
  int asyncEngineCount;
  int unifiedAddressing;
  int memoryClockRate;
  int memoryBusWidth;
  int l2CacheSize;
  int persistingL2CacheMaxSize;
  int maxThreadsPerMultiProcessor;
  int streamPrioritiesSupported;
  int globalL1CacheSupported;
  int localL1CacheSupported;
  size_t sharedMemPerMultiprocessor;
  int regsPerMultiprocessor;
  int managedMemory;
  int isMultiGpuBoard;
  int multiGpuBoardGroupID;
  int hostNativeAtomicSupported;
  int singleToDoublePrecisionPerfRatio;
  int pageableMemoryAccess;
  int concurrentManagedAccess;
  int computePreemptionSupported;
  int canUseHostPointerForRegisteredMem;
  int cooperativeLaunch;
  int cooperativeMultiDeviceLaunch;
  size_t sharedMemPerBlockOptin;
  int pageableMemoryAccessUsesHostPageTables;
  int directManagedMemAccessFromHost;
  int maxBlocksPerMultiProcessor;
  int accessPolicyMaxWindowSize;
  size_t reservedSharedMemPerBlock;
  // CUDA 11.x's struct ended here (what libcudart.so.12's unversioned
  // cudaGetDeviceProperties is given by binaries of that era).
  int hostRegisterSupported;
  int sparseCudaArraySupported;
  int hostRegisterReadOnlySupported;
  int timelineSemaphoreInteropSupported;
  int memoryPoolsSupported;
  int gpuDirectRDMASupported;
  unsigned int gpuDirectRDMAFlushWritesOptions;
  int gpuDirectRDMAWritesOrdering;
  unsigned int memoryPoolSupportedHandleTypes;
  int deferredMappingCudaArraySupported;
  int ipcEventSupported;
  int clusterLaunch;
  int unifiedFunctionPointers;
  int reserved2[2];
  int reserved1[1];
  int reserved[60];
};

// Offsets as CUDA 12.x compilers lay the struct out (x86-64 / aarch64 LP64).
static_assert(sizeof(DeviceProp12) == 1032, "CUDA 12.x cudaDeviceProp is 1032 bytes");
static_assert(offsetof(DeviceProp12, uuid) == 256);
static_assert(offsetof(DeviceProp12, totalGlobalMem) == 288);
static_assert(offsetof(DeviceProp12, warpSize) == 308);
static_assert(offsetof(DeviceProp12, maxThreadsPerBlock) == 320);
static_assert(offsetof(DeviceProp12, clockRate) == 348);
static_assert(offsetof(DeviceProp12, major) == 360);
static_assert(offsetof(DeviceProp12, minor) == 364);
static_assert(offsetof(DeviceProp12, multiProcessorCount) == 388);
static_assert(offsetof(DeviceProp12, surfaceAlignment) == 568);
static_assert(offsetof(DeviceProp12, pciBusID) == 584);
static_assert(offsetof(DeviceProp12, memoryClockRate) == 608);
static_assert(offsetof(DeviceProp12, maxThreadsPerMultiProcessor) == 624);
static_assert(offsetof(DeviceProp12, sharedMemPerMultiprocessor) == 640);
static_assert(offsetof(DeviceProp12, sharedMemPerBlockOptin) == 696);
static_assert(offsetof(DeviceProp12, reservedSharedMemPerBlock) == 720);
static_assert(offsetof(DeviceProp12, hostRegisterSupported) == 728);
static_assert(offsetof(DeviceProp12, unifiedFunctionPointers) == 776);
// The CUDA 11.x layout is the prefix before hostRegisterSupported.
inline constexpr size_t kDeviceProp11Bytes = offsetof(DeviceProp12, hostRegisterSupported);

}  // namespace vgpu::cudart
