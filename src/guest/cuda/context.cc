// Contexts. The host runs every call of a session in its one (primary)
// context, so guest contexts are views of it: each has a device and flags,
// a thread has a current-context stack, and destroying a context the guest
// created never tears down the session.
#include <atomic>
#include <vector>

#include "driver.h"
#include "export_tables.h"

namespace vgpu::guest {

namespace {
GuestContext g_primary[1] = {{0, 0, true, 1}};
// Ids of created contexts: after the primary's, never reused.
std::atomic<unsigned long long> g_next_context_id{2};
thread_local std::vector<CUcontext> t_stack;
thread_local bool t_stack_init = false;

}  // namespace

GuestContext* primary_context(CUdevice dev) { return dev == 0 ? &g_primary[0] : nullptr; }

Client::WaitMode wait_mode_of(unsigned int ctx_flags) {
  switch (ctx_flags & CU_CTX_SCHED_MASK) {
    case CU_CTX_SCHED_YIELD: return Client::WaitMode::kYield;
    case CU_CTX_SCHED_BLOCKING_SYNC: return Client::WaitMode::kBlock;
    default: return Client::WaitMode::kSpin;  // AUTO, SPIN
  }
}

CUcontext current_context() {
  if (!t_stack_init) return nullptr;
  return t_stack.empty() ? nullptr : t_stack.back();
}

}  // namespace vgpu::guest

using namespace vgpu;
using namespace vgpu::guest;

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  if (!device_info_of(dev)) return CUDA_ERROR_INVALID_DEVICE;
  *pctx = reinterpret_cast<CUcontext>(primary_context(dev));
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  return device_info_of(dev) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}
CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice dev) { return cuDevicePrimaryCtxRelease_v2(dev); }

CUresult CUDAAPI cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  GuestContext* p = device_info_of(dev) ? primary_context(dev) : nullptr;
  if (!p) return CUDA_ERROR_INVALID_DEVICE;
  // Scheduling flags steer how this process' threads wait for answers (see
  // Client::WaitMode); recorded so GetState reports them.
  p->flags = flags;
  c->set_wait_mode(wait_mode_of(flags));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags) {
  return cuDevicePrimaryCtxSetFlags_v2(dev, flags);
}

CUresult CUDAAPI cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int* flags, int* active) {
  VGPU_DRIVER_OR_RETURN(c);
  GuestContext* p = device_info_of(dev) ? primary_context(dev) : nullptr;
  if (!p) return CUDA_ERROR_INVALID_DEVICE;
  if (flags) *flags = p->flags;
  if (active) *active = 1;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxReset_v2(CUdevice) { VGPU_REFUSE("cuDevicePrimaryCtxReset"); }
CUresult CUDAAPI cuDevicePrimaryCtxReset(CUdevice dev) { return cuDevicePrimaryCtxReset_v2(dev); }

namespace {
CUresult create_ctx(CUcontext* pctx, unsigned int flags, CUdevice dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  if (!device_info_of(dev)) return CUDA_ERROR_INVALID_DEVICE;
  auto* g = new GuestContext{dev, flags, false, g_next_context_id.fetch_add(1)};
  c->set_wait_mode(wait_mode_of(flags));
  *pctx = reinterpret_cast<CUcontext>(g);
  t_stack_init = true;
  t_stack.push_back(*pctx);
  return CUDA_SUCCESS;
}
}  // namespace

CUresult CUDAAPI cuCtxCreate_v2(CUcontext* pctx, unsigned int flags, CUdevice dev) { return create_ctx(pctx, flags, dev); }
CUresult CUDAAPI cuCtxCreate(CUcontext* pctx, unsigned int flags, CUdevice dev) { return create_ctx(pctx, flags, dev); }
CUresult CUDAAPI cuCtxCreate_v3(CUcontext* pctx, CUexecAffinityParam* params, int n, unsigned int flags, CUdevice dev) {
  if (params && n > 0) VGPU_REFUSE("cuCtxCreate_v3 with execution affinity");
  return create_ctx(pctx, flags, dev);
}
CUresult CUDAAPI cuCtxCreate_v4(CUcontext* pctx, CUctxCreateParams* params, unsigned int flags, CUdevice dev) {
  if (params && (params->execAffinityParams || params->cigParams)) VGPU_REFUSE("cuCtxCreate_v4 with parameters");
  return create_ctx(pctx, flags, dev);
}

CUresult CUDAAPI cuCtxDestroy_v2(CUcontext ctx) {
  VGPU_DRIVER_OR_RETURN(c);
  auto* g = reinterpret_cast<GuestContext*>(ctx);
  if (!g || g->primary) return CUDA_ERROR_INVALID_CONTEXT;
  // Like CUDA: destroying a context waits for its work.
  sync_result(c, c->call<Op::CtxSynchronize>(Empty{}));
  exports::context_storage_destroyed(ctx);  // the runtime's per-context state
  if (t_stack_init)
    for (auto it = t_stack.begin(); it != t_stack.end();)
      it = (*it == ctx) ? t_stack.erase(it) : it + 1;
  delete g;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuCtxDestroy(CUcontext ctx) { return cuCtxDestroy_v2(ctx); }

CUresult CUDAAPI cuCtxGetCurrent(CUcontext* pctx) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  *pctx = current_context();
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx) {
  VGPU_DRIVER_OR_RETURN(c);
  t_stack_init = true;
  if (!ctx) {
    if (!t_stack.empty()) t_stack.pop_back();
    return CUDA_SUCCESS;
  }
  if (t_stack.empty()) t_stack.push_back(ctx);
  else t_stack.back() = ctx;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent_v2(CUcontext ctx) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!ctx) return CUDA_ERROR_INVALID_CONTEXT;
  t_stack_init = true;
  t_stack.push_back(ctx);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuCtxPushCurrent(CUcontext ctx) { return cuCtxPushCurrent_v2(ctx); }

CUresult CUDAAPI cuCtxPopCurrent_v2(CUcontext* pctx) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!t_stack_init || t_stack.empty()) return CUDA_ERROR_INVALID_CONTEXT;
  if (pctx) *pctx = t_stack.back();
  t_stack.pop_back();
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuCtxPopCurrent(CUcontext* pctx) { return cuCtxPopCurrent_v2(pctx); }

CUresult CUDAAPI cuCtxGetDevice(CUdevice* dev) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!dev) return CUDA_ERROR_INVALID_VALUE;
  CUcontext ctx = current_context();
  if (!ctx) return CUDA_ERROR_INVALID_CONTEXT;
  *dev = reinterpret_cast<GuestContext*>(ctx)->device;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetFlags(unsigned int* flags) {
  VGPU_DRIVER_OR_RETURN(c);
  CUcontext ctx = current_context();
  if (!ctx) return CUDA_ERROR_INVALID_CONTEXT;
  if (!flags) return CUDA_ERROR_INVALID_VALUE;
  *flags = reinterpret_cast<GuestContext*>(ctx)->flags;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetId(CUcontext ctx, unsigned long long* id) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!id) return CUDA_ERROR_INVALID_VALUE;
  if (!ctx) ctx = current_context();
  if (!ctx) return CUDA_ERROR_INVALID_CONTEXT;
  *id = reinterpret_cast<GuestContext*>(ctx)->id;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetApiVersion(CUcontext, unsigned int* version) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!version) return CUDA_ERROR_INVALID_VALUE;
  *version = 3020;  // the current context API version, as CUDA reports it
  return CUDA_SUCCESS;
}

// Stream priorities travel to the host with each stream, which clamps them
// like CUDA. The range is that of every NVIDIA GPU since Volta ([0, -5]);
// devices without priorities report [0, 0].
CUresult CUDAAPI cuCtxGetStreamPriorityRange(int* least, int* greatest) {
  VGPU_DRIVER_OR_RETURN(c);
  CUcontext ctx = current_context();
  if (!ctx) return CUDA_ERROR_INVALID_CONTEXT;
  int supported = 0;
  if (CUresult r = cuDeviceGetAttribute(&supported, CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED,
                                        reinterpret_cast<GuestContext*>(ctx)->device))
    return r;
  if (least) *least = 0;
  if (greatest) *greatest = supported ? -5 : 0;
  return CUDA_SUCCESS;
}

// Context limits (stack size, printf FIFO, malloc heap, ...) are the host
// context's, where the kernels run: set and read there (Triton's launcher
// links cuCtxSetLimit; cudaDeviceSetLimit/GetLimit come here).
CUresult CUDAAPI cuCtxSetLimit(CUlimit limit, size_t value) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!current_context()) return CUDA_ERROR_INVALID_CONTEXT;
  IntRep rep{};
  return to_cu(c->call<Op::CtxLimit>(CtxLimitReq{static_cast<int32_t>(limit), 1, value}, &rep));
}

CUresult CUDAAPI cuCtxGetLimit(size_t* value, CUlimit limit) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  if (!current_context()) return CUDA_ERROR_INVALID_CONTEXT;
  IntRep rep{};
  const Status s = c->call<Op::CtxLimit>(CtxLimitReq{static_cast<int32_t>(limit), 0, 0}, &rep);
  if (s == st::kOk) *value = static_cast<size_t>(rep.value);
  return to_cu(s);
}

CUresult CUDAAPI cuCtxSynchronize() {
  VGPU_DRIVER_OR_RETURN(c);
  return sync_result(c, c->call<Op::CtxSynchronize>(Empty{}));
}
