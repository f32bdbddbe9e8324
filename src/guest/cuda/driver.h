// Shared state of our libcuda.so.1: contexts, device ordinals as the guest
// sees them (after CUDA_VISIBLE_DEVICES), loaded functions with their
// parameter layouts, and the device ranges the guest allocated (to tell
// device from host pointers where CUDA's unified addressing would).
#pragma once

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <string>
#include <vector>

#include "client/client.h"

namespace vgpu::guest {

// The whole-library entry guard: attaches on first use. Returns the client or
// nullptr with *err set (CUDA_ERROR_NOT_INITIALIZED before cuInit, NO_DEVICE
// without a host).
Client* driver(CUresult* err);

#define VGPU_DRIVER_OR_RETURN(c)    \
  CUresult vgpu_err_ = CUDA_SUCCESS; \
  Client* c = driver(&vgpu_err_);    \
  if (!c) return vgpu_err_

inline CUresult to_cu(Status s) { return static_cast<CUresult>(s); }

// Refusal: logs the name once and returns CUDA_ERROR_NOT_SUPPORTED.
#define VGPU_REFUSE(name)         \
  do {                            \
    log_unsupported(name);        \
    return CUDA_ERROR_NOT_SUPPORTED; \
  } while (0)

// A freed device allocation leaves the pool it came from (mem_pool.cc).
void pool_forget(CUdeviceptr d);

// Guest ordinals: the host serves one device per session; CUDA_VISIBLE_DEVICES
// may hide it ("1", "-1", "", or a GPU-<uuid> that does not match).
int visible_device_count();
const DeviceInfoRep* device_info_of(CUdevice dev);  // nullptr if out of range

// A context as the guest holds it. Every context of a process shares the
// session's one host context (same device, same address space).
struct GuestContext {
  CUdevice device;
  unsigned int flags;
  bool primary;
  unsigned long long id;  // cuCtxGetId: unique for the process's life (the primary's is 1)
};
GuestContext* primary_context(CUdevice dev);
CUcontext current_context();  // the calling thread's, or nullptr
// How waits behave under a context's CU_CTX_SCHED_* flags.
Client::WaitMode wait_mode_of(unsigned int ctx_flags);

// A function (kernel) handle: the host's id and the parameter layout the
// host's cuFuncGetParamInfo reported, used to pack launch arguments.
struct GuestFunction {
  Handle host;
  Status param_status;
  uint32_t param_bytes;
  std::vector<ParamSlot> params;
  std::string name;
  // Answers that cannot change until cuFuncSetAttribute: cached, because some
  // clients ask before every launch and each question is a round trip.
  std::mutex mu;
  std::map<int, int> attrs;
  std::map<std::tuple<int, size_t, unsigned>, int> occupancy;
};
CUresult load_function(Handle module, const char* name, GuestFunction** out);

// Module handle as the guest holds it (points at the host id).
struct GuestModule {
  Handle host;
  // A library whose image has no code for this GPU: under lazy loading
  // NVIDIA's driver accepts it and reports the error when a kernel or global
  // of it is asked for; that error is kept here (host is 0 then).
  CUresult deferred = CUDA_SUCCESS;
  // Its kernels as cuModuleEnumerateFunctions lists them, asked of the host
  // the first time (a module's kernels never change), so that every listing
  // hands out the same handles, as NVIDIA's driver does.
  std::mutex mu;
  bool listed = false;
  std::vector<GuestFunction*> functions;
};
// The module's kernels (cuModuleEnumerateFunctions), listed once.
CUresult module_functions(GuestModule* m, const std::vector<GuestFunction*>** out);
// CUDA_MODULE_LOADING as NVIDIA's driver reads it: lazy unless the process
// asks for EAGER.
bool lazy_module_loading();
CUresult load_module_image(const void* image, size_t bytes, Handle* out);

// Packs and posts a launch. `args`/`extra` as cuLaunchKernel takes them.
CUresult launch(GuestFunction* f, const uint32_t grid[3], const uint32_t block[3], uint32_t smem, CUstream stream,
                void** args, void** extra, uint32_t flags, const uint32_t cluster[3]);

// Device allocations the guest made, for pointer classification.
void note_device_range(CUdeviceptr p, size_t n);
void forget_device_range(CUdeviceptr p);
// Whether p lies in a device allocation or mapping the guest knows; its
// range and buffer id (CU_POINTER_ATTRIBUTE_BUFFER_ID) where asked for.
bool is_device_pointer(CUdeviceptr p, CUdeviceptr* base = nullptr, size_t* size = nullptr,
                       unsigned long long* buffer_id = nullptr);

// Pinned host memory (cuMemHostAlloc, cudaMallocHost): arena memory, so the
// device DMAs from and to it; or, when the arena cannot hold it, ordinary
// page-aligned memory (not for CU_MEMHOSTALLOC_DEVICEMAP, which needs a device
// address only the arena has). Copies take the path the memory's place
// decides (Client::in_arena): DMA for arena memory, staged for the rest.
void* host_alloc(size_t n, unsigned int flags);
bool host_free(void* p);  // false if p is not an allocation host_alloc made
struct HostAllocInfo {
  void* base;
  size_t bytes;
  unsigned int flags;  // as given to host_alloc
  bool in_arena;       // false: the fallback, no device address
};
// The pinned allocation holding p, if any.
bool find_host_alloc(const void* p, HostAllocInfo* out);

inline Handle stream_id(CUstream s) { return reinterpret_cast<Handle>(s); }
// The flags, priority and context of the streams cuStreamCreate* made (stream_info.cc).
void note_stream(CUstream s, unsigned flags, int priority);
void forget_stream(CUstream s);

// A synchronising call also reports errors of earlier posted calls.
inline CUresult sync_result(Client* c, Status s) {
  if (s != st::kOk) return to_cu(s);
  return to_cu(c->take_async_error());
}

}  // namespace vgpu::guest
