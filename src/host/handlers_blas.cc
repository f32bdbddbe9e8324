// cuBLAS. Each request carries the guest handle's stream, math mode and
// workspace; the backend applies them to the real handle.
#include "dispatch.h"

namespace vgpu::host {

namespace {
constexpr int kBlasInvalidValue = 7;   // CUBLAS_STATUS_INVALID_VALUE
constexpr int kBlasNotSupported = 15;  // CUBLAS_STATUS_NOT_SUPPORTED

Status blas_of(Call& c, const BlasState& s, Native* h, Native* stream) {
  const auto* e = c.s.lookup(Kind::kBlas, s.handle);
  if (!e) return st::kInvalidHandle;
  *h = e->native;
  return c.s.stream(s.stream, c.channel, stream) ? st::kOk : st::kInvalidHandle;
}

// A posted cuBLAS call has no reply; its failure is reported like a failed
// launch, at the next synchronising call.
Status posted_result(Status s, int blas_status) {
  if (s != st::kOk) return s;
  if (blas_status == 0) return st::kOk;
  if (blas_status == kBlasInvalidValue) return st::kInvalidValue;
  if (blas_status == kBlasNotSupported) return st::kNotSupported;  // a refusal stays a refusal
  return st::kLaunchFailed;
}
}  // namespace

Status on_BlasCreate(Call& c, const Empty&, HandleRep& out) {
  Native h;
  Status s = c.s.be->blas_create(&h);
  if (s != st::kOk) return s;
  return c.s.adopt(Kind::kBlas, h, &out.handle);
}

Status on_BlasDestroy(Call& c, const BlasDestroyReq& r, Empty&) { return c.s.release(Kind::kBlas, r.handle); }

Status on_BlasGemm(Call& c, const GemmReq& r, Empty&) {
  Native h, stream;
  if (Status s = blas_of(c, r.s, &h, &stream)) return s;
  int bs = 0;
  // Two statements: in f(g(&bs), bs) the compiler may read bs before g writes it.
  const Status be = c.s.be->blas_gemm(h, stream, r, &bs);
  Status s = posted_result(be, bs);
  if (s == st::kOk) c.s.count(&SlotStats::gemms);
  return s;
}

Status on_BlasTrsmBatched(Call& c, const TrsmBatchedReq& r, Empty&) {
  Native h, stream;
  if (Status s = blas_of(c, r.s, &h, &stream)) return s;
  int bs = 0;
  const Status be = c.s.be->blas_trsm_batched(h, stream, r, &bs);
  return posted_result(be, bs);
}

Status on_BlasL12(Call& c, const BlasL12Req& r, BlasRep& out) {
  Native h, stream;
  if (Status s = blas_of(c, r.s, &h, &stream)) return s;
  return c.s.be->blas_l12(h, stream, r, &out.value, &out.status);
}

}  // namespace vgpu::host
