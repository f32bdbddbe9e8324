// Streams, events and stream capture.
#include "driver.h"

using namespace vgpu;
using namespace vgpu::guest;

namespace {
CUresult create_stream(CUstream* s, unsigned int flags, int prio) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!s) return CUDA_ERROR_INVALID_VALUE;
  HandleRep rep{};
  Status st = c->call<Op::StreamCreate>(StreamCreateReq{flags, prio}, &rep);
  if (st == st::kOk) {
    *s = reinterpret_cast<CUstream>(rep.handle);
    note_stream(*s, flags, prio);
  }
  return to_cu(st);
}
}  // namespace

CUresult CUDAAPI cuStreamCreate(CUstream* s, unsigned int flags) { return create_stream(s, flags, 0); }
CUresult CUDAAPI cuStreamCreateWithPriority(CUstream* s, unsigned int flags, int prio) { return create_stream(s, flags, prio); }

CUresult CUDAAPI cuStreamDestroy_v2(CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  Status st = c->call<Op::StreamDestroy>(StreamDestroyReq{stream_id(s)});
  if (st == st::kOk) forget_stream(s);
  return to_cu(st);
}
CUresult CUDAAPI cuStreamDestroy(CUstream s) { return cuStreamDestroy_v2(s); }

CUresult CUDAAPI cuStreamSynchronize(CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  return sync_result(c, c->call<Op::StreamSynchronize>(StreamSynchronizeReq{stream_id(s)}));
}
CUresult CUDAAPI cuStreamSynchronize_ptsz(CUstream s) { return cuStreamSynchronize(s ? s : CU_STREAM_PER_THREAD); }

CUresult CUDAAPI cuStreamQuery(CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->call<Op::StreamQuery>(StreamQueryReq{stream_id(s)}));
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->post<Op::StreamWaitEvent>(StreamWaitEventReq{stream_id(s), reinterpret_cast<Handle>(e), flags, 0}));
}

CUresult CUDAAPI cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode mode) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->call<Op::StreamBeginCapture>(BeginCaptureReq{stream_id(s), static_cast<uint32_t>(mode), 0}));
}
CUresult CUDAAPI cuStreamBeginCapture(CUstream s) { return cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL); }

CUresult CUDAAPI cuStreamEndCapture(CUstream s, CUgraph* g) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!g) return CUDA_ERROR_INVALID_VALUE;
  HandleRep rep{};
  Status st = c->call<Op::StreamEndCapture>(StreamEndCaptureReq{stream_id(s)}, &rep);
  *g = reinterpret_cast<CUgraph>(rep.handle);
  return to_cu(st);
}

// What NVIDIA's runtime asks before allocations and launches (is this
// stream capturing?). The status and the capture id come from the host; the
// graph being built and its dependency set live in the host's driver and do
// not travel, so asking for them during a capture is refused.
namespace {
CUresult capture_info(CUstream s, CUstreamCaptureStatus* status, cuuint64_t* id, CUgraph* graph,
                      const CUgraphNode** deps, const CUgraphEdgeData** edges, size_t* ndeps) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!status) return CUDA_ERROR_INVALID_VALUE;
  CaptureStatusRep rep{};
  Status st = c->call<Op::StreamCaptureStatus>(StreamCaptureStatusReq{stream_id(s)}, &rep);
  if (st != st::kOk) return to_cu(st);
  *status = static_cast<CUstreamCaptureStatus>(rep.status);
  if (rep.status == CU_STREAM_CAPTURE_STATUS_NONE) return CUDA_SUCCESS;  // the rest is defined only while capturing
  if (id) *id = rep.id;
  if (graph || deps || edges || ndeps) VGPU_REFUSE("cuStreamGetCaptureInfo (graph or dependencies of a capture)");
  return CUDA_SUCCESS;
}
CUstream ptsz(CUstream s) { return s ? s : CU_STREAM_PER_THREAD; }
}  // namespace

CUresult CUDAAPI cuStreamGetCaptureInfo(CUstream s, CUstreamCaptureStatus* status, cuuint64_t* id) {
  return capture_info(s, status, id, nullptr, nullptr, nullptr, nullptr);
}
CUresult CUDAAPI cuStreamGetCaptureInfo_ptsz(CUstream s, CUstreamCaptureStatus* status, cuuint64_t* id) {
  return capture_info(ptsz(s), status, id, nullptr, nullptr, nullptr, nullptr);
}
CUresult CUDAAPI cuStreamGetCaptureInfo_v2(CUstream s, CUstreamCaptureStatus* status, cuuint64_t* id, CUgraph* graph,
                                           const CUgraphNode** deps, size_t* ndeps) {
  return capture_info(s, status, id, graph, deps, nullptr, ndeps);
}
CUresult CUDAAPI cuStreamGetCaptureInfo_v2_ptsz(CUstream s, CUstreamCaptureStatus* status, cuuint64_t* id,
                                                CUgraph* graph, const CUgraphNode** deps, size_t* ndeps) {
  return capture_info(ptsz(s), status, id, graph, deps, nullptr, ndeps);
}
CUresult CUDAAPI cuStreamGetCaptureInfo_v3(CUstream s, CUstreamCaptureStatus* status, cuuint64_t* id, CUgraph* graph,
                                           const CUgraphNode** deps, const CUgraphEdgeData** edges, size_t* ndeps) {
  return capture_info(s, status, id, graph, deps, edges, ndeps);
}
CUresult CUDAAPI cuStreamGetCaptureInfo_v3_ptsz(CUstream s, CUstreamCaptureStatus* status, cuuint64_t* id,
                                                CUgraph* graph, const CUgraphNode** deps, const CUgraphEdgeData** edges,
                                                size_t* ndeps) {
  return capture_info(ptsz(s), status, id, graph, deps, edges, ndeps);
}

CUresult CUDAAPI cuStreamIsCapturing(CUstream s, CUstreamCaptureStatus* status) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!status) return CUDA_ERROR_INVALID_VALUE;
  CaptureStatusRep rep{};
  Status st = c->call<Op::StreamCaptureStatus>(StreamCaptureStatusReq{stream_id(s)}, &rep);
  *status = static_cast<CUstreamCaptureStatus>(rep.status);
  return to_cu(st);
}

CUresult CUDAAPI cuEventCreate(CUevent* e, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!e) return CUDA_ERROR_INVALID_VALUE;
  HandleRep rep{};
  Status st = c->call<Op::EventCreate>(EventCreateReq{flags, 0}, &rep);
  if (st == st::kOk) *e = reinterpret_cast<CUevent>(rep.handle);
  return to_cu(st);
}

CUresult CUDAAPI cuEventDestroy_v2(CUevent e) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->call<Op::EventDestroy>(EventDestroyReq{reinterpret_cast<Handle>(e)}));
}
CUresult CUDAAPI cuEventDestroy(CUevent e) { return cuEventDestroy_v2(e); }

CUresult CUDAAPI cuEventRecordWithFlags(CUevent e, CUstream s, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!e) return CUDA_ERROR_INVALID_HANDLE;
  return to_cu(c->post<Op::EventRecord>(EventRecordReq{reinterpret_cast<Handle>(e), stream_id(s), flags, 0}));
}
CUresult CUDAAPI cuEventRecord(CUevent e, CUstream s) { return cuEventRecordWithFlags(e, s, 0); }

CUresult CUDAAPI cuEventQuery(CUevent e) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->call<Op::EventQuery>(EventQueryReq{reinterpret_cast<Handle>(e)}));
}

CUresult CUDAAPI cuEventSynchronize(CUevent e) {
  VGPU_DRIVER_OR_RETURN(c);
  return sync_result(c, c->call<Op::EventSynchronize>(EventSynchronizeReq{reinterpret_cast<Handle>(e)}));
}

CUresult CUDAAPI cuEventElapsedTime_v2(float* ms, CUevent a, CUevent b) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!ms) return CUDA_ERROR_INVALID_VALUE;
  FloatRep rep{};
  Status st = c->call<Op::EventElapsed>(EventElapsedReq{reinterpret_cast<Handle>(a), reinterpret_cast<Handle>(b)}, &rep);
  if (st == st::kOk) *ms = rep.value;
  return to_cu(st);
}
CUresult CUDAAPI cuEventElapsedTime(float* ms, CUevent a, CUevent b) { return cuEventElapsedTime_v2(ms, a, b); }

// The calling thread's capture mode, kept here as CUDA keeps it per thread.
// The host is told when it changes and runs this thread's (channel's) records
// in it: a cuMemAlloc inside PyTorch's relaxed-mode guard during another
// stream's capture is allowed there exactly as it is natively.
CUresult CUDAAPI cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode* mode) {
  static thread_local CUstreamCaptureMode current = CU_STREAM_CAPTURE_MODE_GLOBAL;
  VGPU_DRIVER_OR_RETURN(c);
  if (!mode || *mode < CU_STREAM_CAPTURE_MODE_GLOBAL || *mode > CU_STREAM_CAPTURE_MODE_RELAXED)
    return CUDA_ERROR_INVALID_VALUE;
  const CUstreamCaptureMode next = *mode;
  *mode = current;
  if (next == current) return CUDA_SUCCESS;
  if (Status st = c->post<Op::ThreadCaptureMode>(CaptureModeReq{static_cast<uint32_t>(next), 0})) return to_cu(st);
  current = next;
  return CUDA_SUCCESS;
}

// ---- graphs --------------------------------------------------------------------------
// Flags travel to the host's cuGraphInstantiate (PyTorch passes
// AUTO_FREE_ON_LAUNCH), which checks them.
CUresult CUDAAPI cuGraphInstantiateWithFlags(CUgraphExec* x, CUgraph g, unsigned long long flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!x) return CUDA_ERROR_INVALID_VALUE;
  HandleRep rep{};
  Status st = c->call<Op::GraphInstantiate>(GraphInstantiateReq{reinterpret_cast<Handle>(g), flags}, &rep);
  if (st == st::kOk) *x = reinterpret_cast<CUgraphExec>(rep.handle);
  return to_cu(st);
}
// The exported cuGraphInstantiate and _v2 are the CUDA 11 forms (an error
// node and a log buffer, no flags; cuda.h maps today's name to
// cuGraphInstantiateWithFlags). A graph we hold instantiates or fails as a
// whole, so there is no error node to name and nothing to log.
CUresult CUDAAPI cuGraphInstantiate(CUgraphExec* x, CUgraph g, CUgraphNode*, char*, size_t) {
  return cuGraphInstantiateWithFlags(x, g, 0);
}
CUresult CUDAAPI cuGraphInstantiate_v2(CUgraphExec* x, CUgraph g, CUgraphNode*, char*, size_t) {
  return cuGraphInstantiateWithFlags(x, g, 0);
}
// Node handles are not handed out (cuGraphGetNodes below gives only the
// count), so there is no node whose type or kernel parameters could be asked.
CUresult CUDAAPI cuGraphNodeGetType(CUgraphNode, CUgraphNodeType*) { VGPU_REFUSE("cuGraphNodeGetType"); }
CUresult CUDAAPI cuGraphKernelNodeGetParams(CUgraphNode, CUDA_KERNEL_NODE_PARAMS_v1*) {
  VGPU_REFUSE("cuGraphKernelNodeGetParams");
}
CUresult CUDAAPI cuGraphKernelNodeGetParams_v2(CUgraphNode, CUDA_KERNEL_NODE_PARAMS*) {
  VGPU_REFUSE("cuGraphKernelNodeGetParams");
}
CUresult CUDAAPI cuGraphExecKernelNodeSetParams(CUgraphExec, CUgraphNode, const CUDA_KERNEL_NODE_PARAMS_v1*) {
  VGPU_REFUSE("cuGraphExecKernelNodeSetParams");
}
CUresult CUDAAPI cuGraphExecKernelNodeSetParams_v2(CUgraphExec, CUgraphNode, const CUDA_KERNEL_NODE_PARAMS*) {
  VGPU_REFUSE("cuGraphExecKernelNodeSetParams");
}

// The node count (PyTorch warns about an empty captured graph). Node handles
// are the host's and do not cross the wire: asking for them is refused.
CUresult CUDAAPI cuGraphGetNodes(CUgraph g, CUgraphNode* nodes, size_t* count) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  if (nodes) VGPU_REFUSE("cuGraphGetNodes (node handles)");
  IntRep rep{};
  Status st = c->call<Op::GraphNodeCount>(GraphNodeCountReq{reinterpret_cast<Handle>(g)}, &rep);
  if (st == st::kOk) *count = static_cast<size_t>(rep.value);
  return to_cu(st);
}

CUresult CUDAAPI cuGraphExecUpdate_v2(CUgraphExec x, CUgraph g, CUgraphExecUpdateResultInfo* info) {
  VGPU_DRIVER_OR_RETURN(c);
  GraphExecUpdateRep rep{};
  Status st = c->call<Op::GraphExecUpdate>(GraphExecUpdateReq{reinterpret_cast<Handle>(x), reinterpret_cast<Handle>(g)}, &rep);
  if (info) {
    info->result = static_cast<CUgraphExecUpdateResult>(rep.result);
    info->errorNode = nullptr;
    info->errorFromNode = nullptr;
  }
  return to_cu(st);
}

CUresult CUDAAPI cuGraphLaunch(CUgraphExec x, CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->post<Op::GraphLaunch>(GraphLaunchReq{reinterpret_cast<Handle>(x), stream_id(s)}));
}

CUresult CUDAAPI cuGraphUpload(CUgraphExec x, CUstream s) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->post<Op::GraphUpload>(GraphUploadReq{reinterpret_cast<Handle>(x), stream_id(s)}));
}
CUresult CUDAAPI cuGraphUpload_ptsz(CUgraphExec x, CUstream s) { return cuGraphUpload(x, s ? s : CU_STREAM_PER_THREAD); }
CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec x) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->call<Op::GraphExecDestroy>(GraphExecDestroyReq{reinterpret_cast<Handle>(x)}));
}

CUresult CUDAAPI cuGraphDestroy(CUgraph g) {
  VGPU_DRIVER_OR_RETURN(c);
  return to_cu(c->call<Op::GraphDestroy>(GraphDestroyReq{reinterpret_cast<Handle>(g)}));
}
