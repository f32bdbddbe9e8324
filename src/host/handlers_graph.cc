// CUDA graphs captured from streams: instantiate, update, launch, destroy.
#include "dispatch.h"

namespace vgpu::host {

Status on_GraphInstantiate(Call& c, const GraphInstantiateReq& r, HandleRep& out) {
  const auto* e = c.s.lookup(Kind::kGraph, r.graph);
  if (!e) return st::kInvalidHandle;
  Native x;
  Status s = c.s.be->graph_instantiate(e->native, r.flags, &x);
  if (s != st::kOk) return s;
  return c.s.adopt(Kind::kGraphExec, x, &out.handle);
}

Status on_GraphNodeCount(Call& c, const GraphNodeCountReq& r, IntRep& out) {
  const auto* g = c.s.lookup(Kind::kGraph, r.graph);
  if (!g) return st::kInvalidHandle;
  uint64_t n = 0;
  Status s = c.s.be->graph_node_count(g->native, &n);
  out.value = static_cast<int64_t>(n);
  return s;
}

Status on_GraphExecUpdate(Call& c, const GraphExecUpdateReq& r, GraphExecUpdateRep& out) {
  const auto* x = c.s.lookup(Kind::kGraphExec, r.exec);
  const auto* g = c.s.lookup(Kind::kGraph, r.graph);
  if (!x || !g) return st::kInvalidHandle;
  return c.s.be->graph_exec_update(x->native, g->native, &out.result);
}

Status on_GraphLaunch(Call& c, const GraphLaunchReq& r, Empty&) {
  const auto* x = c.s.lookup(Kind::kGraphExec, r.exec);
  if (!x) return st::kInvalidHandle;
  Native stream;
  if (!c.s.stream(r.stream, c.channel, &stream)) return st::kInvalidHandle;
  Status s = c.s.be->graph_launch(x->native, stream);
  if (s == st::kOk) c.s.count(&SlotStats::graph_launches);
  return s;
}

Status on_GraphUpload(Call& c, const GraphUploadReq& r, Empty&) {
  const auto* x = c.s.lookup(Kind::kGraphExec, r.exec);
  if (!x) return st::kInvalidHandle;
  Native stream;
  if (!c.s.stream(r.stream, c.channel, &stream)) return st::kInvalidHandle;
  return c.s.be->graph_upload(x->native, stream);
}

Status on_GraphExecDestroy(Call& c, const GraphExecDestroyReq& r, Empty&) {
  return c.s.release(Kind::kGraphExec, r.exec);
}

Status on_GraphDestroy(Call& c, const GraphDestroyReq& r, Empty&) { return c.s.release(Kind::kGraph, r.graph); }

}  // namespace vgpu::host
