// cuBLASLt. The guest's descriptors arrive whole with each call; what is
// checked here is what a backend must be able to assume: only attributes we
// carry are marked set, and the result count fits the reply.
#include "dispatch.h"

namespace vgpu::host {

namespace {
constexpr int kBlasInvalidValue = 7;   // CUBLAS_STATUS_INVALID_VALUE
constexpr int kBlasNotSupported = 15;  // CUBLAS_STATUS_NOT_SUPPORTED

bool carried(const LtProblem& p) {
  constexpr uint64_t desc = lt_carried_mask(kLtDescAttrBytes), layout = lt_carried_mask(kLtLayoutAttrBytes);
  if (p.desc.set & ~desc) return false;
  for (const LtLayout* l : {&p.a, &p.b, &p.c, &p.d})
    if (l->set & ~layout) return false;
  return true;
}
}  // namespace

Status on_LtHeuristic(Call& c, const LtHeuristicReq& r, LtHeuristicRep& out) {
  out.count = 0;
  if (!carried(r.p) || (r.pref.set & ~lt_carried_mask(kLtPrefAttrBytes)) || r.requested < 1 ||
      r.requested > kLtMaxResults) {
    out.status = kBlasInvalidValue;
    return st::kOk;
  }
  Status s = c.s.be->lt_heuristic(r, &out);
  if (out.count < 0 || out.count > r.requested) out.count = 0;  // a backend bug must not overrun the reply
  return s;
}

// Posted, like a GEMM: a failure comes back at the next synchronising call.
Status on_LtMatmul(Call& c, const LtMatmulReq& r, Empty&) {
  if (!carried(r.p)) return st::kInvalidValue;
  Native stream;
  if (!c.s.stream(r.stream, c.channel, &stream)) return st::kInvalidHandle;
  int bs = 0;
  const Status be = c.s.be->lt_matmul(stream, r, &bs);
  if (be != st::kOk) return be;
  if (bs == kBlasInvalidValue) return st::kInvalidValue;
  if (bs == kBlasNotSupported) return st::kNotSupported;
  if (bs != 0) return st::kLaunchFailed;
  c.s.count(&SlotStats::gemms);
  return st::kOk;
}

}  // namespace vgpu::host
