// cuInit, versions, and device queries. Everything is answered from the
// host's real device description, fetched once and cached.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "driver.h"
#include "guest_marker.h"

VGPU_DEFINE_GUEST_MARKER();

namespace vgpu::guest {

namespace {
std::once_flag g_init_once;
bool g_initialized = false;

// Which guest ordinals are visible: the host's one device unless
// CUDA_VISIBLE_DEVICES hides it.
int compute_visible() {
  Client& c = Client::get();
  if (c.status() != st::kOk || c.hello().device_count < 1) return 0;
  const std::optional<std::string>& env = guest_config().visible_devices;
  if (!env) return 1;
  std::string first(*env);
  first = first.substr(0, first.find(','));
  while (!first.empty() && first.front() == ' ') first.erase(0, 1);
  if (first.empty()) return 0;
  if (first.rfind("GPU-", 0) == 0) {
    const DeviceInfoRep* d = c.device_info(0);
    if (!d) return 0;
    char uuid[64];
    const uint8_t* u = d->uuid;
    std::snprintf(uuid, sizeof uuid, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                  u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    // CUDA accepts any unique prefix of the UUID.
    return std::strncmp(uuid, first.c_str(), first.size()) == 0 ? 1 : 0;
  }
  char* end = nullptr;
  long idx = std::strtol(first.c_str(), &end, 10);
  return (end && *end == '\0' && idx == 0) ? 1 : 0;
}
}  // namespace

int visible_device_count() {
  static int n = compute_visible();
  return n;
}

const DeviceInfoRep* device_info_of(CUdevice dev) {
  if (dev < 0 || dev >= visible_device_count()) return nullptr;
  return Client::get().device_info(0);
}

Client* driver(CUresult* err) {
  if (!g_initialized) {
    *err = CUDA_ERROR_NOT_INITIALIZED;
    return nullptr;
  }
  Client& c = Client::get();
  if (c.status() != st::kOk) {
    *err = to_cu(c.status());
    return nullptr;
  }
  return &c;
}

}  // namespace vgpu::guest

using namespace vgpu;
using namespace vgpu::guest;

CUresult CUDAAPI cuInit(unsigned int flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  std::call_once(g_init_once, [] {
    Client::get();
    g_initialized = true;
  });
  Client& c = Client::get();
  if (c.status() != st::kOk) return to_cu(c.status());
  return visible_device_count() > 0 ? CUDA_SUCCESS : CUDA_ERROR_NO_DEVICE;
}

CUresult CUDAAPI cuDriverGetVersion(int* v) {
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  Client& c = Client::get();
  // Before cuInit CUDA still answers; without a host we claim our own ABI level.
  *v = c.status() == st::kOk ? c.hello().driver_version : CUDA_VERSION;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int* n) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!n) return CUDA_ERROR_INVALID_VALUE;
  *n = visible_device_count();
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice* dev, int ordinal) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!dev) return CUDA_ERROR_INVALID_VALUE;
  if (ordinal < 0 || ordinal >= visible_device_count()) return CUDA_ERROR_INVALID_DEVICE;
  *dev = ordinal;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char* name, int len, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  const DeviceInfoRep* d = device_info_of(dev);
  if (!d) return CUDA_ERROR_INVALID_DEVICE;
  std::snprintf(name, static_cast<size_t>(len), "%s", d->name);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetUuid(CUuuid* uuid, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!uuid) return CUDA_ERROR_INVALID_VALUE;
  const DeviceInfoRep* d = device_info_of(dev);
  if (!d) return CUDA_ERROR_INVALID_DEVICE;
  std::memcpy(uuid->bytes, d->uuid, 16);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetUuid_v2(CUuuid* uuid, CUdevice dev) { return cuDeviceGetUuid(uuid, dev); }

CUresult CUDAAPI cuDeviceGetLuid(char* luid, unsigned int* mask, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!device_info_of(dev)) return CUDA_ERROR_INVALID_DEVICE;
  (void)luid;
  (void)mask;
  VGPU_REFUSE("cuDeviceGetLuid");  // a Windows (WDDM) concept, as on NVIDIA's Linux driver
}

CUresult CUDAAPI cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!bytes) return CUDA_ERROR_INVALID_VALUE;
  const DeviceInfoRep* d = device_info_of(dev);
  if (!d) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = d->total_mem;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem(unsigned int* bytes, CUdevice dev) {
  size_t b = 0;
  CUresult r = cuDeviceTotalMem_v2(&b, dev);
  if (r == CUDA_SUCCESS) *bytes = b > 0xffffffffu ? 0xffffffffu : static_cast<unsigned int>(b);
  return r;
}

CUresult CUDAAPI cuDeviceGetAttribute(int* v, CUdevice_attribute attr, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  const DeviceInfoRep* d = device_info_of(dev);
  if (!d) return CUDA_ERROR_INVALID_DEVICE;
  if (attr <= 0 || static_cast<uint32_t>(attr) >= kMaxDeviceAttr) return CUDA_ERROR_INVALID_VALUE;
  *v = d->attr[attr];
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetPCIBusId(char* id, int len, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!id || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  const DeviceInfoRep* d = device_info_of(dev);
  if (!d) return CUDA_ERROR_INVALID_DEVICE;
  std::snprintf(id, static_cast<size_t>(len), "%s", d->pci_bus_id);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetByPCIBusId(CUdevice* dev, const char* id) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!dev || !id) return CUDA_ERROR_INVALID_VALUE;
  for (int i = 0; i < visible_device_count(); ++i) {
    const DeviceInfoRep* d = device_info_of(i);
    if (d && strcasecmp(d->pci_bus_id, id) == 0) {
      *dev = i;
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_INVALID_DEVICE;
}

CUresult CUDAAPI cuDeviceComputeCapability(int* major, int* minor, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  const DeviceInfoRep* d = device_info_of(dev);
  if (!d) return CUDA_ERROR_INVALID_DEVICE;
  if (!major || !minor) return CUDA_ERROR_INVALID_VALUE;
  *major = d->attr[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR];
  *minor = d->attr[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR];
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetProperties(CUdevprop* p, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  const DeviceInfoRep* d = device_info_of(dev);
  if (!d) return CUDA_ERROR_INVALID_DEVICE;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  const int* a = d->attr;
  p->maxThreadsPerBlock = a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
  p->maxThreadsDim[0] = a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X];
  p->maxThreadsDim[1] = a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y];
  p->maxThreadsDim[2] = a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z];
  p->maxGridSize[0] = a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X];
  p->maxGridSize[1] = a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y];
  p->maxGridSize[2] = a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z];
  p->sharedMemPerBlock = a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK];
  p->totalConstantMemory = a[CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY];
  p->SIMDWidth = a[CU_DEVICE_ATTRIBUTE_WARP_SIZE];
  p->memPitch = a[CU_DEVICE_ATTRIBUTE_MAX_PITCH];
  p->regsPerBlock = a[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK];
  p->clockRate = a[CU_DEVICE_ATTRIBUTE_CLOCK_RATE];
  p->textureAlign = a[CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT];
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceCanAccessPeer(int* can, CUdevice dev, CUdevice peer) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!can) return CUDA_ERROR_INVALID_VALUE;
  if (!device_info_of(dev) || !device_info_of(peer)) return CUDA_ERROR_INVALID_DEVICE;
  *can = 0;  // one device per session: there is no peer
  return CUDA_SUCCESS;
}

// Peer access is between contexts of different devices; a session has one
// device, so any context named is on the caller's own device, which the
// driver refuses as a peer (cuDeviceCanAccessPeer above says 0).
CUresult CUDAAPI cuCtxEnablePeerAccess(CUcontext peer, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (!current_context() || !peer) return CUDA_ERROR_INVALID_CONTEXT;
  return CUDA_ERROR_INVALID_DEVICE;
}
CUresult CUDAAPI cuCtxDisablePeerAccess(CUcontext peer) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!current_context() || !peer) return CUDA_ERROR_INVALID_CONTEXT;
  return CUDA_ERROR_PEER_ACCESS_NOT_ENABLED;
}
