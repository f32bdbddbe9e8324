// What the driver answers about a stream without asking the host: the flags,
// priority and context it was created with, recorded by cuStreamCreate*.
// NVIDIA's runtime forwards cudaStreamGetFlags/Priority/Device here.
#include <atomic>
#include <map>

#include "driver.h"

namespace vgpu::guest {

namespace {
struct StreamInfo {
  unsigned flags;
  int priority;
  CUcontext ctx;
};
// Never destroyed: streams are destroyed from static destructors at exit.
std::mutex& g_mu = *new std::mutex;
auto& g_streams = *new std::map<CUstream, StreamInfo>;

bool is_default(CUstream s) { return !s || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD; }

// Looks the stream up; the default streams have flags 0, priority 0 and the
// current context.
CUresult find(CUstream s, StreamInfo* out) {
  if (is_default(s)) {
    *out = StreamInfo{0, 0, current_context()};
    return out->ctx ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
  }
  std::lock_guard lk(g_mu);
  auto it = g_streams.find(s);
  if (it == g_streams.end()) return CUDA_ERROR_INVALID_HANDLE;
  *out = it->second;
  return CUDA_SUCCESS;
}
}  // namespace

void note_stream(CUstream s, unsigned flags, int priority) {
  // The host clamps priorities into the device's range, as CUDA does; the
  // range is the one cuCtxGetStreamPriorityRange reports ([0, -5], or [0, 0]
  // without priorities).
  int supported = 0;
  cuDeviceGetAttribute(&supported, CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED, 0);
  const int greatest = supported ? -5 : 0;
  priority = priority > 0 ? 0 : priority < greatest ? greatest : priority;
  std::lock_guard lk(g_mu);
  g_streams[s] = StreamInfo{flags, priority, current_context()};
}

void forget_stream(CUstream s) {
  std::lock_guard lk(g_mu);
  g_streams.erase(s);
}

}  // namespace vgpu::guest

using namespace vgpu::guest;

CUresult CUDAAPI cuStreamGetFlags(CUstream s, unsigned int* flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!flags) return CUDA_ERROR_INVALID_VALUE;
  StreamInfo i{};
  if (CUresult r = find(s, &i); r != CUDA_SUCCESS) return r;
  *flags = i.flags;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamGetFlags_ptsz(CUstream s, unsigned int* flags) {
  return cuStreamGetFlags(s ? s : CU_STREAM_PER_THREAD, flags);
}

CUresult CUDAAPI cuStreamGetPriority(CUstream s, int* priority) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!priority) return CUDA_ERROR_INVALID_VALUE;
  StreamInfo i{};
  if (CUresult r = find(s, &i); r != CUDA_SUCCESS) return r;
  *priority = i.priority;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamGetPriority_ptsz(CUstream s, int* priority) {
  return cuStreamGetPriority(s ? s : CU_STREAM_PER_THREAD, priority);
}

CUresult CUDAAPI cuStreamGetCtx(CUstream s, CUcontext* ctx) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!ctx) return CUDA_ERROR_INVALID_VALUE;
  StreamInfo i{};
  if (CUresult r = find(s, &i); r != CUDA_SUCCESS) return r;
  *ctx = i.ctx;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamGetCtx_ptsz(CUstream s, CUcontext* ctx) { return cuStreamGetCtx(s ? s : CU_STREAM_PER_THREAD, ctx); }

// A stream's unique id, for the process's life (cuStreamGetId). A created
// stream's is the host's id for it: the host never issues an id twice in a
// session, and a session is the process's life. The default streams' ids are
// below every host id (those are >= 2^40): the legacy stream's is 1, each
// thread's per-thread stream its own number from 0x100 on.
CUresult CUDAAPI cuStreamGetId(CUstream s, unsigned long long* id) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!id) return CUDA_ERROR_INVALID_VALUE;
  StreamInfo i{};
  if (CUresult r = find(s, &i); r != CUDA_SUCCESS) return r;
  if (!s || s == CU_STREAM_LEGACY) {
    *id = 1;
  } else if (s == CU_STREAM_PER_THREAD) {
    static std::atomic<unsigned long long> next{0x100};
    thread_local const unsigned long long mine = next.fetch_add(1, std::memory_order_relaxed);
    *id = mine;
  } else {
    *id = stream_id(s);
  }
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamGetId_ptsz(CUstream s, unsigned long long* id) { return cuStreamGetId(s ? s : CU_STREAM_PER_THREAD, id); }

// Every stream is on the session's one device, the guest's ordinal 0.
CUresult CUDAAPI cuStreamGetDevice(CUstream s, CUdevice* dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!dev) return CUDA_ERROR_INVALID_VALUE;
  StreamInfo i{};
  if (CUresult r = find(s, &i); r != CUDA_SUCCESS) return r;
  *dev = 0;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamGetDevice_ptsz(CUstream s, CUdevice* dev) {
  return cuStreamGetDevice(s ? s : CU_STREAM_PER_THREAD, dev);
}
