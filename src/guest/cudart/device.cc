// Device management: counts, the current device, attributes, properties (in
// the flavour's cudaDeviceProp layout), PCI ids, peers, flags, reset.
#include <cstdio>
#include <cstring>

#include "runtime.h"

#include "props12.h"

namespace vgpu::cudart {

namespace {
thread_local int t_device = 0;

cudaError_t valid_device(int dev) {
  int n = 0;
  if (CUresult r = cuDeviceGetCount(&n)) return from_cu(r);
  return dev >= 0 && dev < n ? cudaSuccess : cudaErrorInvalidDevice;
}

// Fills the fields both layouts share, and those of the flavour's own
// struct where it has them, from the host's real device description.
template <class P>
void fill_props(P* p, const DeviceInfoRep* d) {
  std::memset(p, 0, sizeof(*p));
  const int* a = d->attr;
  auto at = [a](CUdevice_attribute x) { return a[x]; };
  std::snprintf(p->name, sizeof(p->name), "%s", d->name);
  std::memcpy(&p->uuid, d->uuid, sizeof(p->uuid));
  std::memcpy(p->luid, d->luid, sizeof(p->luid));
  p->luidDeviceNodeMask = d->node_mask;
  p->totalGlobalMem = d->total_mem;
  p->sharedMemPerBlock = static_cast<size_t>(at(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK));
  p->regsPerBlock = at(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK);
  p->warpSize = at(CU_DEVICE_ATTRIBUTE_WARP_SIZE);
  p->memPitch = static_cast<size_t>(static_cast<unsigned>(at(CU_DEVICE_ATTRIBUTE_MAX_PITCH)));
  p->maxThreadsPerBlock = at(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
  p->maxThreadsDim[0] = at(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X);
  p->maxThreadsDim[1] = at(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y);
  p->maxThreadsDim[2] = at(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z);
  p->maxGridSize[0] = at(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X);
  p->maxGridSize[1] = at(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y);
  p->maxGridSize[2] = at(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z);
  p->totalConstMem = static_cast<size_t>(static_cast<unsigned>(at(CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY)));
  p->major = at(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
  p->minor = at(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
  p->textureAlignment = static_cast<size_t>(at(CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT));
  p->texturePitchAlignment = static_cast<size_t>(at(CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT));
  p->multiProcessorCount = at(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  p->integrated = at(CU_DEVICE_ATTRIBUTE_INTEGRATED);
  p->canMapHostMemory = at(CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY);
  p->maxTexture1D = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_WIDTH);
  p->maxTexture1DMipmap = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_MIPMAPPED_WIDTH);
  p->maxTexture2D[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_WIDTH);
  p->maxTexture2D[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_HEIGHT);
  p->maxTexture2DMipmap[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_MIPMAPPED_WIDTH);
  p->maxTexture2DMipmap[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_MIPMAPPED_HEIGHT);
  p->maxTexture2DLinear[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_WIDTH);
  p->maxTexture2DLinear[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_HEIGHT);
  p->maxTexture2DLinear[2] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_PITCH);
  p->maxTexture2DGather[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_GATHER_WIDTH);
  p->maxTexture2DGather[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_GATHER_HEIGHT);
  p->maxTexture3D[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH);
  p->maxTexture3D[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT);
  p->maxTexture3D[2] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH);
  p->maxTexture3DAlt[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH_ALTERNATE);
  p->maxTexture3DAlt[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT_ALTERNATE);
  p->maxTexture3DAlt[2] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH_ALTERNATE);
  p->maxTextureCubemap = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_WIDTH);
  p->maxTexture1DLayered[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_WIDTH);
  p->maxTexture1DLayered[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_LAYERS);
  p->maxTexture2DLayered[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_WIDTH);
  p->maxTexture2DLayered[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_HEIGHT);
  p->maxTexture2DLayered[2] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_LAYERS);
  p->maxTextureCubemapLayered[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_LAYERED_WIDTH);
  p->maxTextureCubemapLayered[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_LAYERED_LAYERS);
  p->maxSurface1D = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE1D_WIDTH);
  p->maxSurface2D[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_WIDTH);
  p->maxSurface2D[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_HEIGHT);
  p->maxSurface3D[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE3D_WIDTH);
  p->maxSurface3D[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE3D_HEIGHT);
  p->maxSurface3D[2] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE3D_DEPTH);
  p->maxSurface1DLayered[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE1D_LAYERED_WIDTH);
  p->maxSurface1DLayered[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE1D_LAYERED_LAYERS);
  p->maxSurface2DLayered[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_LAYERED_WIDTH);
  p->maxSurface2DLayered[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_LAYERED_HEIGHT);
  p->maxSurface2DLayered[2] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_LAYERED_LAYERS);
  p->maxSurfaceCubemap = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACECUBEMAP_WIDTH);
  p->maxSurfaceCubemapLayered[0] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACECUBEMAP_LAYERED_WIDTH);
  p->maxSurfaceCubemapLayered[1] = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACECUBEMAP_LAYERED_LAYERS);
  p->surfaceAlignment = static_cast<size_t>(at(CU_DEVICE_ATTRIBUTE_SURFACE_ALIGNMENT));
  p->concurrentKernels = at(CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS);
  p->ECCEnabled = at(CU_DEVICE_ATTRIBUTE_ECC_ENABLED);
  p->pciBusID = at(CU_DEVICE_ATTRIBUTE_PCI_BUS_ID);
  p->pciDeviceID = at(CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID);
  p->pciDomainID = at(CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID);
  p->tccDriver = at(CU_DEVICE_ATTRIBUTE_TCC_DRIVER);
  p->asyncEngineCount = at(CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT);
  p->unifiedAddressing = at(CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING);
  p->memoryBusWidth = at(CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
  p->l2CacheSize = at(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
  p->persistingL2CacheMaxSize = at(CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE);
  p->maxThreadsPerMultiProcessor = at(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR);
  p->streamPrioritiesSupported = at(CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED);
  p->globalL1CacheSupported = at(CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED);
  p->localL1CacheSupported = at(CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED);
  p->sharedMemPerMultiprocessor = static_cast<size_t>(at(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR));
  p->regsPerMultiprocessor = at(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR);
  p->managedMemory = at(CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY);
  p->isMultiGpuBoard = at(CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD);
  p->multiGpuBoardGroupID = at(CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD_GROUP_ID);
  p->hostNativeAtomicSupported = at(CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED);
  p->pageableMemoryAccess = at(CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS);
  p->concurrentManagedAccess = at(CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS);
  p->computePreemptionSupported = at(CU_DEVICE_ATTRIBUTE_COMPUTE_PREEMPTION_SUPPORTED);
  p->canUseHostPointerForRegisteredMem = at(CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM);
  p->cooperativeLaunch = at(CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH);
  p->sharedMemPerBlockOptin = static_cast<size_t>(at(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN));
  p->pageableMemoryAccessUsesHostPageTables = at(CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES);
  p->directManagedMemAccessFromHost = at(CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST);
  p->maxBlocksPerMultiProcessor = at(CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR);
  p->accessPolicyMaxWindowSize = at(CU_DEVICE_ATTRIBUTE_MAX_ACCESS_POLICY_WINDOW_SIZE);
  p->reservedSharedMemPerBlock = static_cast<size_t>(at(CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK));
  p->hostRegisterSupported = at(CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED);
  p->sparseCudaArraySupported = at(CU_DEVICE_ATTRIBUTE_SPARSE_CUDA_ARRAY_SUPPORTED);
  p->hostRegisterReadOnlySupported = at(CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED);
  p->timelineSemaphoreInteropSupported = at(CU_DEVICE_ATTRIBUTE_TIMELINE_SEMAPHORE_INTEROP_SUPPORTED);
  p->memoryPoolsSupported = at(CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED);
  p->gpuDirectRDMASupported = at(CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED);
  p->gpuDirectRDMAFlushWritesOptions = static_cast<unsigned>(at(CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_FLUSH_WRITES_OPTIONS));
  p->gpuDirectRDMAWritesOrdering = at(CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WRITES_ORDERING);
  p->memoryPoolSupportedHandleTypes = static_cast<unsigned>(at(CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES));
  p->deferredMappingCudaArraySupported = at(CU_DEVICE_ATTRIBUTE_DEFERRED_MAPPING_CUDA_ARRAY_SUPPORTED);
  p->ipcEventSupported = at(CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED);
  p->clusterLaunch = at(CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH);
  p->unifiedFunctionPointers = at(CU_DEVICE_ATTRIBUTE_UNIFIED_FUNCTION_POINTERS);
  // Fields only CUDA 12's layout has.
  if constexpr (requires { p->clockRate; }) {
    p->clockRate = at(CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
    p->deviceOverlap = at(CU_DEVICE_ATTRIBUTE_GPU_OVERLAP);
    p->kernelExecTimeoutEnabled = at(CU_DEVICE_ATTRIBUTE_KERNEL_EXEC_TIMEOUT);
    p->computeMode = at(CU_DEVICE_ATTRIBUTE_COMPUTE_MODE);
    p->maxTexture1DLinear = at(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LINEAR_WIDTH);
    p->memoryClockRate = at(CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
    p->singleToDoublePrecisionPerfRatio = at(CU_DEVICE_ATTRIBUTE_SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO);
    p->cooperativeMultiDeviceLaunch = at(CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH);
  }
  // Fields only CUDA 13's layout has.
  if constexpr (requires { p->deviceNumaConfig; }) {
    p->deviceNumaConfig = at(CU_DEVICE_ATTRIBUTE_NUMA_CONFIG);
    p->deviceNumaId = at(CU_DEVICE_ATTRIBUTE_NUMA_ID);
    p->mpsEnabled = at(CU_DEVICE_ATTRIBUTE_MPS_ENABLED);
    p->hostNumaId = at(CU_DEVICE_ATTRIBUTE_HOST_NUMA_ID);
    p->gpuPciDeviceID = static_cast<unsigned>(at(CU_DEVICE_ATTRIBUTE_GPU_PCI_DEVICE_ID));
    p->gpuPciSubsystemID = static_cast<unsigned>(at(CU_DEVICE_ATTRIBUTE_GPU_PCI_SUBSYSTEM_ID));
    p->hostNumaMultinodeIpcSupported = at(CU_DEVICE_ATTRIBUTE_HOST_NUMA_MULTINODE_IPC_SUPPORTED);
  }
}

template <class P>
cudaError_t get_props(P* prop, int dev) {
  VGPU_RT_INIT();
  if (!prop) return record(cudaErrorInvalidValue);
  const DeviceInfoRep* d = vgpu::guest::device_info_of(dev);
  if (!d) return record(cudaErrorInvalidDevice);
  fill_props(prop, d);
  return cudaSuccess;
}
}  // namespace

int current_device() { return t_device; }

}  // namespace vgpu::cudart

using namespace vgpu::cudart;

VGPU_RT cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return record(cudaErrorInvalidValue);
  *count = 0;
  VGPU_RT_INIT();  // no host or no visible device: 0 devices and cudaErrorNoDevice, as CUDA
  return record_cu(cuDeviceGetCount(count));
}

VGPU_RT cudaError_t cudaSetDevice(int dev) {
  VGPU_RT_INIT();
  if (cudaError_t e = valid_device(dev)) return record(e);
  t_device = dev;
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaGetDevice(int* dev) {
  if (!dev) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  *dev = t_device;
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaInitDevice(int dev, unsigned int device_flags, unsigned int flags) {
  VGPU_RT_INIT();
  if (flags & ~1u) return record(cudaErrorInvalidValue);  // cudaInitDeviceFlagsAreValid
  if (cudaError_t e = valid_device(dev)) return record(e);
  if (device_flags) return record_cu(cuDevicePrimaryCtxSetFlags_v2(dev, device_flags));
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaChooseDevice(int* dev, const struct cudaDeviceProp* prop) {
  if (!dev || !prop) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  *dev = 0;  // the only device there is
  return cudaSuccess;
}

// Scheduling flags steer how the waiting thread spins or sleeps; in the
// guest the client always spins then sleeps, and the host's context applies
// them (the driver records them for cuDevicePrimaryCtxGetState).
VGPU_RT cudaError_t cudaSetDeviceFlags(unsigned int flags) {
  VGPU_RT_INIT();
  if (flags & ~static_cast<unsigned>(cudaDeviceMask)) return record(cudaErrorInvalidValue);
  const unsigned sched = flags & cudaDeviceScheduleMask;
  if (sched != 0 && sched != cudaDeviceScheduleSpin && sched != cudaDeviceScheduleYield &&
      sched != cudaDeviceScheduleBlockingSync)
    return record(cudaErrorInvalidValue);
  return record_cu(cuDevicePrimaryCtxSetFlags_v2(t_device, flags));
}

VGPU_RT cudaError_t cudaGetDeviceFlags(unsigned int* flags) {
  if (!flags) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  int active = 0;
  return record_cu(cuDevicePrimaryCtxGetState(t_device, flags, &active));
}

// cudaDeviceAttr values are CUdevice_attribute values.
VGPU_RT cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int dev) {
  if (!value) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  if (cudaError_t e = valid_device(dev)) return record(e);
  return record_cu(cuDeviceGetAttribute(value, static_cast<CUdevice_attribute>(attr), dev));
}

#if VGPU_CUDART_MAJOR >= 13
VGPU_RT cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* prop, int dev) { return get_props(prop, dev); }
#else
// CUDA 12 headers turn cudaGetDeviceProperties into cudaGetDeviceProperties_v2
// (the 1032-byte layout). The unversioned symbol stays for binaries built
// before the struct grew: it writes only the CUDA 11.x prefix, never past it.
VGPU_RT cudaError_t cudaGetDeviceProperties_v2(struct cudaDeviceProp* prop, int dev) {
  return get_props(reinterpret_cast<DeviceProp12*>(prop), dev);
}
VGPU_RT cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* prop, int dev) {
  if (!prop) return record(cudaErrorInvalidValue);
  DeviceProp12 p;
  if (cudaError_t e = get_props(&p, dev)) return e;
  std::memcpy(prop, &p, kDeviceProp11Bytes);
  return cudaSuccess;
}
#endif

VGPU_RT cudaError_t cudaDeviceGetPCIBusId(char* id, int len, int dev) {
  if (!id || len <= 0) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  if (cudaError_t e = valid_device(dev)) return record(e);
  return record_cu(cuDeviceGetPCIBusId(id, len, dev));
}

VGPU_RT cudaError_t cudaDeviceGetByPCIBusId(int* dev, const char* id) {
  if (!dev || !id) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  CUdevice d = 0;
  CUresult r = cuDeviceGetByPCIBusId(&d, id);
  if (r == CUDA_SUCCESS) *dev = d;
  return record_cu(r);
}

VGPU_RT cudaError_t cudaDeviceSynchronize(void) {
  VGPU_RT_INIT();
  return record_cu(cuCtxSynchronize());
}

// Real: waits for the device, then frees everything this process created
// through the runtime (device and pinned memory, streams, events, graphs).
// Loaded modules stay (function handles a program holds stay valid, as
// CUDA's context-independent kernels do), and the host context lives on, so
// a sticky error stays sticky.
VGPU_RT cudaError_t cudaDeviceReset(void) {
  VGPU_RT_INIT();
  const CUresult r = cuCtxSynchronize();
  if (r == CUDA_ERROR_DEVICE_UNAVAILABLE) return record_cu(r);
  reset_streams_events_graphs();
  reset_memory();
  clear_last_error();
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaDeviceCanAccessPeer(int* can, int dev, int peer) {
  if (!can) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  if (cudaError_t e = valid_device(dev)) return record(e);
  if (cudaError_t e = valid_device(peer)) return record(e);
  return record_cu(cuDeviceCanAccessPeer(can, dev, peer));
}

// One device per session: no peer exists. Like CUDA, naming the current
// device itself (or one that does not exist) is cudaErrorInvalidDevice.
VGPU_RT cudaError_t cudaDeviceEnablePeerAccess(int peer, unsigned int flags) {
  VGPU_RT_INIT();
  if (flags != 0) return record(cudaErrorInvalidValue);
  if (cudaError_t e = valid_device(peer)) return record(e);
  if (peer == t_device) return record(cudaErrorInvalidDevice);
  return record(cudaErrorPeerAccessUnsupported);
}

VGPU_RT cudaError_t cudaDeviceDisablePeerAccess(int peer) {
  VGPU_RT_INIT();
  if (cudaError_t e = valid_device(peer)) return record(e);
  if (peer == t_device) return record(cudaErrorInvalidDevice);
  return record(cudaErrorPeerAccessNotEnabled);
}

VGPU_RT cudaError_t cudaDeviceGetP2PAttribute(int* value, enum cudaDeviceP2PAttr, int src, int dst) {
  if (!value) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  if (cudaError_t e = valid_device(src)) return record(e);
  if (cudaError_t e = valid_device(dst)) return record(e);
  return record(cudaErrorInvalidDevice);  // src == dst: CUDA refuses a device paired with itself
}

// Stream priorities travel to the host with each stream (cudaStreamCreateWithPriority),
// which clamps them like CUDA. The range is that of every NVIDIA GPU since
// Volta ([0, -5]); devices without priorities report [0, 0].
VGPU_RT cudaError_t cudaDeviceGetStreamPriorityRange(int* least, int* greatest) {
  VGPU_RT_INIT();
  int supported = 0;
  if (CUresult r = cuDeviceGetAttribute(&supported, CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED, t_device))
    return record_cu(r);
  if (least) *least = 0;
  if (greatest) *greatest = supported ? -5 : 0;
  return cudaSuccess;
}

// cudaLimit and CUlimit share their values; the limits are the host context's.
VGPU_RT cudaError_t cudaDeviceSetLimit(enum cudaLimit limit, size_t value) {
  VGPU_RT_INIT();
  return record_cu(cuCtxSetLimit(static_cast<CUlimit>(limit), value));
}
VGPU_RT cudaError_t cudaDeviceGetLimit(size_t* value, enum cudaLimit limit) {
  VGPU_RT_INIT();
  return record_cu(cuCtxGetLimit(value, static_cast<CUlimit>(limit)));
}
VGPU_RT cudaError_t cudaDeviceSetCacheConfig(enum cudaFuncCache) { VGPU_RT_REFUSE("cudaDeviceSetCacheConfig"); }
VGPU_RT cudaError_t cudaDeviceGetCacheConfig(enum cudaFuncCache*) { VGPU_RT_REFUSE("cudaDeviceGetCacheConfig"); }
VGPU_RT cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  VGPU_RT_INIT();
  return record_cu(cuDeviceGetDefaultMemPool(reinterpret_cast<CUmemoryPool*>(pool), device));
}
VGPU_RT cudaError_t cudaDeviceGetMemPool(cudaMemPool_t* pool, int device) {
  VGPU_RT_INIT();
  return record_cu(cuDeviceGetMemPool(reinterpret_cast<CUmemoryPool*>(pool), device));
}
VGPU_RT cudaError_t cudaDeviceSetMemPool(int device, cudaMemPool_t pool) {
  VGPU_RT_INIT();
  return record_cu(cuDeviceSetMemPool(device, reinterpret_cast<CUmemoryPool>(pool)));
}
VGPU_RT cudaError_t cudaDeviceFlushGPUDirectRDMAWrites(enum cudaFlushGPUDirectRDMAWritesTarget,
                                                        enum cudaFlushGPUDirectRDMAWritesScope) {
  VGPU_RT_REFUSE("cudaDeviceFlushGPUDirectRDMAWrites");
}
VGPU_RT cudaError_t cudaSetValidDevices(int*, int) { VGPU_RT_REFUSE("cudaSetValidDevices"); }
VGPU_RT cudaError_t cudaIpcGetEventHandle(cudaIpcEventHandle_t*, cudaEvent_t) { VGPU_RT_REFUSE("cudaIpcGetEventHandle"); }
VGPU_RT cudaError_t cudaIpcOpenEventHandle(cudaEvent_t*, cudaIpcEventHandle_t) { VGPU_RT_REFUSE("cudaIpcOpenEventHandle"); }
VGPU_RT cudaError_t cudaIpcGetMemHandle(cudaIpcMemHandle_t*, void*) { VGPU_RT_REFUSE("cudaIpcGetMemHandle"); }
VGPU_RT cudaError_t cudaIpcOpenMemHandle(void**, cudaIpcMemHandle_t, unsigned int) { VGPU_RT_REFUSE("cudaIpcOpenMemHandle"); }
VGPU_RT cudaError_t cudaIpcCloseMemHandle(void*) { VGPU_RT_REFUSE("cudaIpcCloseMemHandle"); }

// Driver entry points: our own libcuda's, by cuGetProcAddress.
VGPU_RT cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** fn, unsigned int version,
                                                     unsigned long long flags,
                                                     enum cudaDriverEntryPointQueryResult* status) {
  if (!symbol || !fn) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  CUdriverProcAddressQueryResult q = CU_GET_PROC_ADDRESS_SUCCESS;
  const CUresult r = cuGetProcAddress_v2(symbol, fn, static_cast<int>(version), flags, &q);
  if (status) *status = static_cast<cudaDriverEntryPointQueryResult>(q);
  // A symbol that is not there is reported through *status, as CUDA does.
  if (r == CUDA_ERROR_NOT_FOUND && status) return cudaSuccess;
  return record_cu(r);
}
VGPU_RT cudaError_t cudaGetDriverEntryPoint(const char* symbol, void** fn, unsigned long long flags,
                                            enum cudaDriverEntryPointQueryResult* status) {
  return cudaGetDriverEntryPointByVersion(symbol, fn, kRuntimeVersion, flags, status);
}
VGPU_RT cudaError_t cudaGetDriverEntryPoint_ptsz(const char* symbol, void** fn, unsigned long long flags,
                                                 enum cudaDriverEntryPointQueryResult* status) {
  return cudaGetDriverEntryPointByVersion(symbol, fn, kRuntimeVersion, flags | cudaEnablePerThreadDefaultStream, status);
}
VGPU_RT cudaError_t cudaGetDriverEntryPointByVersion_ptsz(const char* symbol, void** fn, unsigned int version,
                                                          unsigned long long flags,
                                                          enum cudaDriverEntryPointQueryResult* status) {
  return cudaGetDriverEntryPointByVersion(symbol, fn, version, flags | cudaEnablePerThreadDefaultStream, status);
}

VGPU_RT cudaError_t cudaGetExportTable(const void**, const cudaUUID_t*) { VGPU_RT_REFUSE("cudaGetExportTable"); }
VGPU_RT cudaError_t cudaProfilerStart(void) { VGPU_RT_REFUSE("cudaProfilerStart"); }
VGPU_RT cudaError_t cudaProfilerStop(void) { VGPU_RT_REFUSE("cudaProfilerStop"); }

#if VGPU_CUDART_MAJOR == 12
// CUDA 12 still exports the pre-4.0 names of these two.
VGPU_RT cudaError_t cudaThreadSynchronize(void) { return cudaDeviceSynchronize(); }
VGPU_RT cudaError_t cudaThreadExit(void) { return cudaDeviceReset(); }
#endif
