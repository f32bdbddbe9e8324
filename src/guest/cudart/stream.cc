// Streams, events, stream capture and graphs. cudaStreamLegacy (0x1) and
// cudaStreamPerThread (0x2) are real stream values: they pass through as
// they are and the host maps them (NULL is the legacy stream).
#include <map>
#include <mutex>
#include <set>

#include "runtime.h"

#include "capture.h"

namespace vgpu::cudart {

namespace {
struct StreamInfo {
  unsigned flags;
  int priority;
};
std::mutex g_mu;
// Never destroyed: cudaDeviceReset or late destroy calls may come from other
// libraries' destructors at exit.
auto* g_streams = new std::map<cudaStream_t, StreamInfo>;
auto* g_events = new std::set<cudaEvent_t>;
auto* g_graphs = new std::set<cudaGraph_t>;
auto* g_execs = new std::set<cudaGraphExec_t>;

bool builtin(cudaStream_t s) { return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread; }
}  // namespace

void note_stream(cudaStream_t s, unsigned flags, int priority) {
  std::lock_guard lk(g_mu);
  (*g_streams)[s] = StreamInfo{flags, priority};
}
bool forget_stream(cudaStream_t s) {
  std::lock_guard lk(g_mu);
  return g_streams->erase(s) != 0;
}
bool stream_info(cudaStream_t s, unsigned* flags, int* priority) {
  if (builtin(s)) {
    *flags = 0;
    *priority = 0;
    return true;
  }
  std::lock_guard lk(g_mu);
  auto it = g_streams->find(s);
  if (it == g_streams->end()) return false;
  *flags = it->second.flags;
  *priority = it->second.priority;
  return true;
}
void note_event(cudaEvent_t e) {
  std::lock_guard lk(g_mu);
  g_events->insert(e);
}
void forget_event(cudaEvent_t e) {
  std::lock_guard lk(g_mu);
  g_events->erase(e);
}
void note_graph(cudaGraph_t g) {
  std::lock_guard lk(g_mu);
  g_graphs->insert(g);
}
void forget_graph(cudaGraph_t g) {
  std::lock_guard lk(g_mu);
  g_graphs->erase(g);
}
void note_graph_exec(cudaGraphExec_t x) {
  std::lock_guard lk(g_mu);
  g_execs->insert(x);
}
void forget_graph_exec(cudaGraphExec_t x) {
  std::lock_guard lk(g_mu);
  g_execs->erase(x);
}

void reset_streams_events_graphs() {
  std::map<cudaStream_t, StreamInfo> streams;
  std::set<cudaEvent_t> events;
  std::set<cudaGraph_t> graphs;
  std::set<cudaGraphExec_t> execs;
  {
    std::lock_guard lk(g_mu);
    streams.swap(*g_streams);
    events.swap(*g_events);
    graphs.swap(*g_graphs);
    execs.swap(*g_execs);
  }
  for (auto x : execs) cuGraphExecDestroy(reinterpret_cast<CUgraphExec>(x));
  for (auto g : graphs) cuGraphDestroy(reinterpret_cast<CUgraph>(g));
  for (auto e : events) cuEventDestroy_v2(reinterpret_cast<CUevent>(e));
  for (auto& [s, info] : streams) cuStreamDestroy_v2(cu(s));
}

}  // namespace vgpu::cudart

using namespace vgpu::cudart;

namespace {
CUevent cu_event(cudaEvent_t e) { return reinterpret_cast<CUevent>(e); }

cudaError_t create_stream(cudaStream_t* s, unsigned flags, int priority) {
  if (!s) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  if (flags & ~static_cast<unsigned>(cudaStreamNonBlocking)) return record(cudaErrorInvalidValue);
  CUstream h = nullptr;
  // cudaStreamNonBlocking == CU_STREAM_NON_BLOCKING; priorities as given (the host clamps).
  CUresult r = priority ? cuStreamCreateWithPriority(&h, flags, priority) : cuStreamCreate(&h, flags);
  if (r != CUDA_SUCCESS) return record_cu(r);
  *s = reinterpret_cast<cudaStream_t>(h);
  note_stream(*s, flags, priority);
  return cudaSuccess;
}

cudaError_t capture_info(cudaStream_t s, cudaStreamCaptureStatus* status, unsigned long long* id, cudaGraph_t* graph,
                         const cudaGraphNode_t** deps, const cudaGraphEdgeData** edges, size_t* ndeps) {
  if (!status) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  // The driver API's cuStreamIsCapturing has no id; the wire's reply has it.
  vgpu::CaptureStatusRep rep{};
  vgpu::guest::Client& c = vgpu::guest::Client::get();
  const vgpu::Status st = c.call<vgpu::Op::StreamCaptureStatus>(vgpu::StreamCaptureStatusReq{vgpu::guest::stream_id(cu(s))}, &rep);
  if (st != vgpu::st::kOk) return record_cu(vgpu::guest::to_cu(st), Ctx::kStream);
  *status = static_cast<cudaStreamCaptureStatus>(rep.status);  // CUstreamCaptureStatus values
  if (rep.status == CU_STREAM_CAPTURE_STATUS_NONE) return cudaSuccess;  // other outputs are defined only while capturing
  if (id) *id = rep.id;
  // The graph being built and its current dependency set live in the host's
  // driver; the wire does not carry them.
  if (graph || deps || edges || ndeps) VGPU_RT_REFUSE("cudaStreamGetCaptureInfo (graph or dependencies of a capture)");
  return cudaSuccess;
}
}  // namespace

// For compat12.cc: CUDA 12's three-, six- and seven-argument forms share this.
cudaError_t vgpu_cudart_capture_info(cudaStream_t s, cudaStreamCaptureStatus* status, unsigned long long* id,
                                     cudaGraph_t* graph, const cudaGraphNode_t** deps, const cudaGraphEdgeData** edges,
                                     size_t* ndeps) {
  return capture_info(s, status, id, graph, deps, edges, ndeps);
}

// ---- streams --------------------------------------------------------------------------------
VGPU_RT cudaError_t cudaStreamCreate(cudaStream_t* s) { return create_stream(s, 0, 0); }
VGPU_RT cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) { return create_stream(s, flags, 0); }
VGPU_RT cudaError_t cudaStreamCreateWithPriority(cudaStream_t* s, unsigned int flags, int priority) {
  return create_stream(s, flags, priority);
}

VGPU_RT cudaError_t cudaStreamDestroy(cudaStream_t s) {
  VGPU_RT_INIT();
  if (s == cudaStreamLegacy || s == cudaStreamPerThread || !s) return record(cudaErrorInvalidResourceHandle);
  if (CUresult r = cuStreamDestroy_v2(cu(s))) return record_cu(r, Ctx::kStream);
  forget_stream(s);
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  VGPU_RT_INIT();
  return record_cu(cuStreamSynchronize(cu(s)), Ctx::kStream);
}
VGPU_RT cudaError_t cudaStreamSynchronize_ptsz(cudaStream_t s) { return cudaStreamSynchronize(ptsz(s)); }

VGPU_RT cudaError_t cudaStreamQuery(cudaStream_t s) {
  VGPU_RT_INIT();
  return record_cu(cuStreamQuery(cu(s)), Ctx::kStream);
}
VGPU_RT cudaError_t cudaStreamQuery_ptsz(cudaStream_t s) { return cudaStreamQuery(ptsz(s)); }

VGPU_RT cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
  VGPU_RT_INIT();
  if (!e) return record(cudaErrorInvalidResourceHandle);
  return record_cu(cuStreamWaitEvent(cu(s), cu_event(e), flags));
}
VGPU_RT cudaError_t cudaStreamWaitEvent_ptsz(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
  return cudaStreamWaitEvent(ptsz(s), e, flags);
}

VGPU_RT cudaError_t cudaStreamGetFlags(cudaStream_t s, unsigned int* flags) {
  if (!flags) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  int prio = 0;
  return stream_info(s, flags, &prio) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}
VGPU_RT cudaError_t cudaStreamGetFlags_ptsz(cudaStream_t s, unsigned int* flags) { return cudaStreamGetFlags(ptsz(s), flags); }
VGPU_RT cudaError_t cudaStreamGetPriority(cudaStream_t s, int* priority) {
  if (!priority) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  unsigned flags = 0;
  return stream_info(s, &flags, priority) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}
VGPU_RT cudaError_t cudaStreamGetPriority_ptsz(cudaStream_t s, int* priority) { return cudaStreamGetPriority(ptsz(s), priority); }
VGPU_RT cudaError_t cudaStreamGetDevice(cudaStream_t s, int* device) {
  if (!device) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  unsigned flags = 0;
  int prio = 0;
  if (!stream_info(s, &flags, &prio)) return record(cudaErrorInvalidResourceHandle);
  *device = 0;  // every stream lives on the session's one device
  return cudaSuccess;
}
VGPU_RT cudaError_t cudaStreamGetId(cudaStream_t s, unsigned long long* id) {
  if (!id) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  return record_cu(cuStreamGetId(cu(s), id), Ctx::kStream);
}
VGPU_RT cudaError_t cudaStreamGetId_ptsz(cudaStream_t s, unsigned long long* id) { return cudaStreamGetId(ptsz(s), id); }
VGPU_RT cudaError_t cudaStreamGetDevice_ptsz(cudaStream_t s, int* device) { return cudaStreamGetDevice(ptsz(s), device); }

// Host functions run in stream order in this process (the driver's
// host_func.cc says how); a callback is one with the stream and a status.
VGPU_RT cudaError_t cudaLaunchHostFunc(cudaStream_t s, cudaHostFn_t fn, void* data) {
  if (!fn) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  return record_cu(cuLaunchHostFunc(cu(s), fn, data), Ctx::kStream);
}
VGPU_RT cudaError_t cudaLaunchHostFunc_ptsz(cudaStream_t s, cudaHostFn_t fn, void* data) {
  return cudaLaunchHostFunc(ptsz(s), fn, data);
}
namespace {
struct RtCallback {
  cudaStream_t stream;
  cudaStreamCallback_t fn;
  void* data;
};
void run_rt_callback(void* p) {
  auto* cb = static_cast<RtCallback*>(p);
  cb->fn(cb->stream, cudaSuccess, cb->data);
  delete cb;
}
}  // namespace
VGPU_RT cudaError_t cudaStreamAddCallback(cudaStream_t s, cudaStreamCallback_t fn, void* data, unsigned int flags) {
  if (!fn || flags != 0) return record(cudaErrorInvalidValue);
  auto* cb = new RtCallback{s, fn, data};
  const cudaError_t e = cudaLaunchHostFunc(s, &run_rt_callback, cb);
  if (e != cudaSuccess) delete cb;
  return e;
}
VGPU_RT cudaError_t cudaStreamAddCallback_ptsz(cudaStream_t s, cudaStreamCallback_t fn, void* data, unsigned int flags) {
  return cudaStreamAddCallback(ptsz(s), fn, data, flags);
}
VGPU_RT cudaError_t cudaStreamAttachMemAsync(cudaStream_t, void*, size_t, unsigned int) {
  VGPU_RT_REFUSE("cudaStreamAttachMemAsync");
}
VGPU_RT cudaError_t cudaStreamSetAttribute(cudaStream_t, cudaStreamAttrID, const cudaStreamAttrValue*) {
  VGPU_RT_REFUSE("cudaStreamSetAttribute");
}
VGPU_RT cudaError_t cudaStreamGetAttribute(cudaStream_t, cudaStreamAttrID, cudaStreamAttrValue*) {
  VGPU_RT_REFUSE("cudaStreamGetAttribute");
}
VGPU_RT cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode* mode) {
  if (!mode) return record(cudaErrorInvalidValue);
  // cudaStreamCaptureMode values are CUstreamCaptureMode values.
  auto m = static_cast<CUstreamCaptureMode>(*mode);
  const CUresult r = cuThreadExchangeStreamCaptureMode(&m);
  if (r == CUDA_SUCCESS) *mode = static_cast<cudaStreamCaptureMode>(m);
  return record_cu(r, Ctx::kStream);
}

// ---- events ------------------------------------------------------------------------------------
VGPU_RT cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags) {
  if (!e) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  if (flags & ~static_cast<unsigned>(cudaEventBlockingSync | cudaEventDisableTiming | cudaEventInterprocess))
    return record(cudaErrorInvalidValue);
  if (flags & cudaEventInterprocess) VGPU_RT_REFUSE("cudaEventCreateWithFlags(cudaEventInterprocess)");
  CUevent h = nullptr;
  // cudaEvent* flags are CU_EVENT_* values.
  if (CUresult r = cuEventCreate(&h, flags)) return record_cu(r);
  *e = reinterpret_cast<cudaEvent_t>(h);
  note_event(*e);
  return cudaSuccess;
}
VGPU_RT cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }

VGPU_RT cudaError_t cudaEventDestroy(cudaEvent_t e) {
  VGPU_RT_INIT();
  if (!e) return record(cudaErrorInvalidResourceHandle);
  if (CUresult r = cuEventDestroy_v2(cu_event(e))) return record_cu(r);
  forget_event(e);
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaEventRecordWithFlags(cudaEvent_t e, cudaStream_t s, unsigned int flags) {
  VGPU_RT_INIT();
  if (!e) return record(cudaErrorInvalidResourceHandle);
  return record_cu(cuEventRecordWithFlags(cu_event(e), cu(s), flags));
}
VGPU_RT cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) { return cudaEventRecordWithFlags(e, s, 0); }
VGPU_RT cudaError_t cudaEventRecord_ptsz(cudaEvent_t e, cudaStream_t s) { return cudaEventRecordWithFlags(e, ptsz(s), 0); }
VGPU_RT cudaError_t cudaEventRecordWithFlags_ptsz(cudaEvent_t e, cudaStream_t s, unsigned int flags) {
  return cudaEventRecordWithFlags(e, ptsz(s), flags);
}

VGPU_RT cudaError_t cudaEventQuery(cudaEvent_t e) {
  VGPU_RT_INIT();
  if (!e) return record(cudaErrorInvalidResourceHandle);
  return record_cu(cuEventQuery(cu_event(e)));
}

VGPU_RT cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  VGPU_RT_INIT();
  if (!e) return record(cudaErrorInvalidResourceHandle);
  return record_cu(cuEventSynchronize(cu_event(e)));
}

VGPU_RT cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  if (!start || !end) return record(cudaErrorInvalidResourceHandle);
  return record_cu(cuEventElapsedTime_v2(ms, cu_event(start), cu_event(end)));
}

// ---- stream capture -------------------------------------------------------------------------------
VGPU_RT cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode) {
  VGPU_RT_INIT();
  // cudaStreamCaptureMode values are CUstreamCaptureMode values.
  return record_cu(cuStreamBeginCapture_v2(cu(s), static_cast<CUstreamCaptureMode>(mode)), Ctx::kStream);
}
VGPU_RT cudaError_t cudaStreamBeginCapture_ptsz(cudaStream_t s, enum cudaStreamCaptureMode mode) {
  return cudaStreamBeginCapture(ptsz(s), mode);
}

VGPU_RT cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  if (!g) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  CUgraph h = nullptr;
  const CUresult r = cuStreamEndCapture(cu(s), &h);
  *g = reinterpret_cast<cudaGraph_t>(h);
  if (r == CUDA_SUCCESS && h) note_graph(*g);
  return record_cu(r, Ctx::kStream);
}
VGPU_RT cudaError_t cudaStreamEndCapture_ptsz(cudaStream_t s, cudaGraph_t* g) { return cudaStreamEndCapture(ptsz(s), g); }

VGPU_RT cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus* status) {
  if (!status) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
  const CUresult r = cuStreamIsCapturing(cu(s), &st);
  if (r == CUDA_SUCCESS) *status = static_cast<cudaStreamCaptureStatus>(st);  // same values
  return record_cu(r, Ctx::kStream);
}
VGPU_RT cudaError_t cudaStreamIsCapturing_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus* status) {
  return cudaStreamIsCapturing(ptsz(s), status);
}

#if VGPU_CUDART_MAJOR >= 13
VGPU_RT cudaError_t cudaStreamGetCaptureInfo(cudaStream_t s, enum cudaStreamCaptureStatus* status,
                                             unsigned long long* id, cudaGraph_t* graph,
                                             const cudaGraphNode_t** deps, const cudaGraphEdgeData** edges,
                                             size_t* ndeps) {
  return capture_info(s, status, id, graph, deps, edges, ndeps);
}
VGPU_RT cudaError_t cudaStreamGetCaptureInfo_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus* status,
                                                  unsigned long long* id, cudaGraph_t* graph,
                                                  const cudaGraphNode_t** deps, const cudaGraphEdgeData** edges,
                                                  size_t* ndeps) {
  return capture_info(ptsz(s), status, id, graph, deps, edges, ndeps);
}
#endif

// ---- graphs ---------------------------------------------------------------------------------------
VGPU_RT cudaError_t cudaGraphInstantiate(cudaGraphExec_t* x, cudaGraph_t g, unsigned long long flags) {
  if (!x) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  CUgraphExec h = nullptr;
  if (CUresult r = cuGraphInstantiateWithFlags(&h, reinterpret_cast<CUgraph>(g), flags)) return record_cu(r);
  *x = reinterpret_cast<cudaGraphExec_t>(h);
  note_graph_exec(*x);
  return cudaSuccess;
}
VGPU_RT cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t* x, cudaGraph_t g, unsigned long long flags) {
  return cudaGraphInstantiate(x, g, flags);
}
VGPU_RT cudaError_t cudaGraphInstantiateWithParams(cudaGraphExec_t*, cudaGraph_t, cudaGraphInstantiateParams*) {
  VGPU_RT_REFUSE("cudaGraphInstantiateWithParams");
}

VGPU_RT cudaError_t cudaGraphExecUpdate(cudaGraphExec_t x, cudaGraph_t g, cudaGraphExecUpdateResultInfo* info) {
  VGPU_RT_INIT();
  CUgraphExecUpdateResultInfo ri{};
  const CUresult r = cuGraphExecUpdate_v2(reinterpret_cast<CUgraphExec>(x), reinterpret_cast<CUgraph>(g), &ri);
  if (info) {
    info->result = static_cast<cudaGraphExecUpdateResult>(ri.result);  // same values
    info->errorNode = reinterpret_cast<cudaGraphNode_t>(ri.errorNode);
    info->errorFromNode = reinterpret_cast<cudaGraphNode_t>(ri.errorFromNode);
  }
  return record_cu(r);
}

VGPU_RT cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t s) {
  VGPU_RT_INIT();
  return record_cu(cuGraphLaunch(reinterpret_cast<CUgraphExec>(x), cu(s)));
}
VGPU_RT cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t x, cudaStream_t s) { return cudaGraphLaunch(x, ptsz(s)); }

VGPU_RT cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x) {
  VGPU_RT_INIT();
  if (CUresult r = cuGraphExecDestroy(reinterpret_cast<CUgraphExec>(x))) return record_cu(r);
  forget_graph_exec(x);
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  VGPU_RT_INIT();
  if (CUresult r = cuGraphDestroy(reinterpret_cast<CUgraph>(g))) return record_cu(r);
  forget_graph(g);
  return cudaSuccess;
}

// Building graphs node by node needs ops the wire does not have; capture is the supported way.
VGPU_RT cudaError_t cudaGraphCreate(cudaGraph_t*, unsigned int) { VGPU_RT_REFUSE("cudaGraphCreate"); }
VGPU_RT cudaError_t cudaGraphUpload(cudaGraphExec_t x, cudaStream_t s) {
  VGPU_RT_INIT();
  return record_cu(cuGraphUpload(reinterpret_cast<CUgraphExec>(x), cu(s)));
}
VGPU_RT cudaError_t cudaGraphUpload_ptsz(cudaGraphExec_t x, cudaStream_t s) { return cudaGraphUpload(x, ptsz(s)); }
// The count is forwarded; node handles are refused (the driver says so).
VGPU_RT cudaError_t cudaGraphGetNodes(cudaGraph_t g, cudaGraphNode_t* nodes, size_t* count) {
  return record_cu(cuGraphGetNodes(reinterpret_cast<CUgraph>(g), reinterpret_cast<CUgraphNode*>(nodes), count),
                   Ctx::kStream);
}
VGPU_RT cudaError_t cudaGraphKernelNodeGetParams(cudaGraphNode_t, struct cudaKernelNodeParams*) {
  VGPU_RT_REFUSE("cudaGraphKernelNodeGetParams");
}
VGPU_RT cudaError_t cudaGraphKernelNodeSetParams(cudaGraphNode_t, const struct cudaKernelNodeParams*) {
  VGPU_RT_REFUSE("cudaGraphKernelNodeSetParams");
}
VGPU_RT cudaError_t cudaGraphExecKernelNodeSetParams(cudaGraphExec_t, cudaGraphNode_t, const struct cudaKernelNodeParams*) {
  VGPU_RT_REFUSE("cudaGraphExecKernelNodeSetParams");
}
VGPU_RT cudaError_t cudaGraphAddKernelNode(cudaGraphNode_t*, cudaGraph_t, const cudaGraphNode_t*, size_t,
                                           const struct cudaKernelNodeParams*) {
  VGPU_RT_REFUSE("cudaGraphAddKernelNode");
}
VGPU_RT cudaError_t cudaGraphNodeGetType(cudaGraphNode_t, enum cudaGraphNodeType*) { VGPU_RT_REFUSE("cudaGraphNodeGetType"); }
// Imported by PyTorch (libc10_cuda / libtorch_cuda): node-level graph
// inspection and a graph's DOT dump, both over node handles the wire does not
// carry; refused until graphs travel node by node.
// CUDA 13's signature; the .12 flavour exports CUDA 12's two (compat12.cc).
// PyTorch calls it only with graph_capture_record_stream_reuse, which is off
// by default.
#if VGPU_CUDART_MAJOR >= 13
VGPU_RT cudaError_t cudaGraphNodeGetDependencies(cudaGraphNode_t, cudaGraphNode_t*, cudaGraphEdgeData*, size_t*) {
  VGPU_RT_REFUSE("cudaGraphNodeGetDependencies");
}
#endif
VGPU_RT cudaError_t cudaGraphDebugDotPrint(cudaGraph_t, const char*, unsigned int) {
  VGPU_RT_REFUSE("cudaGraphDebugDotPrint");
}
