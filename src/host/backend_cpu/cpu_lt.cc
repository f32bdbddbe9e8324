// CpuBackend: cuBLASLt matmul on the CPU.
//
// D = epilogue(alpha op(A) op(B) + beta C + bias), column-major, for A == B in
// f32 / f16 / bf16, C == D in A's type or f32, 32F compute with float scalars
// (by value or by device pointer), strided batches. Epilogues: DEFAULT, RELU,
// BIAS, RELU_BIAS, GELU, GELU_BIAS, GELU_AUX(_BIAS) (the aux matrix gets the
// value GELU was applied to). GELU is cuBLASLt's tanh form. The product is
// accumulated in float and the epilogue applied before D is rounded, as on the
// GPU. Everything else cuBLASLt can describe (other orders, fp8 scaling, bias
// gradients, alpha vectors, ...) is refused by the heuristic and by the
// matmul with CUBLAS_STATUS_NOT_SUPPORTED, so no caller gets an answer we did
// not compute. Every operand range is looked up (dev) before it is touched.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu_backend.h"
#include "cpu_gemm.h"

namespace vgpu::host::cpu {
namespace {

constexpr uint64_t kCpuAlgo = 0x306c7463'75706776ull;  // "vgpuctl0": the one algo we hand out

constexpr uint32_t kEpiDefault = 1, kEpiRelu = 2, kEpiBias = 4, kEpiGelu = 32, kEpiAux = 128;
constexpr int kCol = 0;             // CUBLASLT_ORDER_COL
constexpr int kFillFull = 2;        // CUBLAS_FILL_MODE_FULL

inline int32_t i32(uint64_t v) {
  int32_t x;
  std::memcpy(&x, &v, 4);
  return x;
}

struct Matrix {
  Elem e;
  int64_t rows, cols, ld, batch, offset;  // offset: elements between batch entries
};

struct Plan {
  int transa, transb;
  int64_t m, n, k, batch;
  Matrix a, b, c, d;
  uint32_t epilogue;
  bool bias, aux, relu, gelu;
  Elem bias_e, aux_e;
  int64_t bias_stride, aux_ld, aux_stride;
  bool alpha_on_device;
};

int matrix_of(const LtLayout& l, Matrix* out) {
  if (!elem_of(i32(l.v[lt::kType]), &out->e) || out->e == Elem::kF64) return blas_st::kNotSupported;
  if (i32(l.v[lt::kOrder]) != kCol || l.v[lt::kPlaneOffset] != 0 || i32(l.v[lt::kBatchMode]) != 0)
    return blas_st::kNotSupported;
  const uint64_t rows = l.v[lt::kRows], cols = l.v[lt::kCols];
  const int64_t ld = static_cast<int64_t>(l.v[lt::kLd]);
  if (rows > INT32_MAX || cols > INT32_MAX) return blas_st::kNotSupported;
  if (ld < std::max<int64_t>(1, static_cast<int64_t>(rows))) return blas_st::kInvalidValue;
  const int32_t batch = i32(l.v[lt::kBatchCount]);
  if (batch < 1) return blas_st::kInvalidValue;
  *out = {out->e, static_cast<int64_t>(rows), static_cast<int64_t>(cols), ld, batch,
          static_cast<int64_t>(l.v[lt::kBatchOffset])};
  return blas_st::kSuccess;
}

// What the problem asks for, or the cuBLAS status refusing it.
int plan_of(const LtProblem& p, Plan* out) {
  const LtDesc& d = p.desc;
  switch (i32(d.v[lt::kCompute])) {
    case 68: case 69: case 74: case 75: case 77: break;  // CUBLAS_COMPUTE_32F (_PEDANTIC, _FAST_16F/16BF/TF32)
    default: return blas_st::kNotSupported;
  }
  if (i32(d.v[lt::kScaleType]) != dt::kR32F) return blas_st::kNotSupported;
  const int32_t pm = i32(d.v[lt::kPointerMode]);
  if (pm != 0 && pm != 1) return blas_st::kNotSupported;  // alpha vectors: not here
  out->alpha_on_device = pm == 1;
  out->transa = i32(d.v[lt::kTransA]);
  out->transb = i32(d.v[lt::kTransB]);
  if (out->transa < 0 || out->transa > 2 || out->transb < 0 || out->transb > 2) return blas_st::kInvalidValue;
  if (i32(d.v[lt::kTransC]) != 0 || i32(d.v[lt::kFillMode]) != kFillFull) return blas_st::kNotSupported;
  // fp8-style scaling (scale / amax pointers, scale modes): not on the CPU.
  constexpr uint64_t scaling = (0x1full << 17) | (1ull << 23) | (1ull << 24) | (1ull << 36) | (0x1full << 31) |
                               (1ull << 37);
  for (uint32_t i = 0; i < kLtDescAttrs; ++i)
    if (((scaling >> i) & 1) && d.v[i] != 0) return blas_st::kNotSupported;

  out->epilogue = static_cast<uint32_t>(d.v[lt::kEpilogue]);
  switch (out->epilogue) {
    case kEpiDefault: case kEpiRelu: case kEpiBias: case kEpiRelu | kEpiBias: case kEpiGelu:
    case kEpiGelu | kEpiBias: case kEpiGelu | kEpiAux: case kEpiGelu | kEpiAux | kEpiBias:
      break;
    default: return blas_st::kNotSupported;
  }
  out->bias = out->epilogue & kEpiBias;
  out->aux = out->epilogue & kEpiAux;
  out->relu = out->epilogue & kEpiRelu;
  out->gelu = out->epilogue & kEpiGelu;

  for (auto [l, m] : {std::pair{&p.a, &out->a}, {&p.b, &out->b}, {&p.c, &out->c}, {&p.d, &out->d}})
    if (int s = matrix_of(*l, m)) return s;
  if (out->a.e != out->b.e || out->c.e != out->d.e) return blas_st::kNotSupported;
  if (out->d.e != out->a.e && out->d.e != Elem::kF32) return blas_st::kNotSupported;
  out->m = out->transa == 0 ? out->a.rows : out->a.cols;
  out->k = out->transa == 0 ? out->a.cols : out->a.rows;
  const int64_t kb = out->transb == 0 ? out->b.rows : out->b.cols;
  out->n = out->transb == 0 ? out->b.cols : out->b.rows;
  if (kb != out->k || out->d.rows != out->m || out->d.cols != out->n || out->c.rows != out->m ||
      out->c.cols != out->n)
    return blas_st::kInvalidValue;
  out->batch = out->d.batch;
  if (out->a.batch != out->batch || out->b.batch != out->batch || out->c.batch != out->batch)
    return blas_st::kNotSupported;

  const int32_t bt = i32(d.v[lt::kBiasType]), at = i32(d.v[lt::kAuxType]);
  out->bias_e = out->d.e;
  out->aux_e = out->d.e;
  if (bt != -1 && !elem_of(bt, &out->bias_e)) return blas_st::kNotSupported;
  if (at != -1 && !elem_of(at, &out->aux_e)) return blas_st::kNotSupported;
  out->bias_stride = static_cast<int64_t>(d.v[lt::kBiasBatchStride]);
  out->aux_ld = static_cast<int64_t>(d.v[lt::kAuxLd]);
  out->aux_stride = static_cast<int64_t>(d.v[lt::kAuxBatchStride]);
  if (out->bias && d.v[lt::kBias] == 0) return blas_st::kInvalidValue;
  if (out->aux && (d.v[lt::kAux] == 0 || out->aux_ld < std::max<int64_t>(1, out->m))) return blas_st::kInvalidValue;
  return blas_st::kSuccess;
}

inline float gelu(float x) { return 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x))); }

}  // namespace

Status CpuBackend::lt_heuristic(const LtHeuristicReq& r, LtHeuristicRep* out) {
  Plan p;
  out->count = 0;
  out->status = plan_of(r.p, &p);
  if (out->status != blas_st::kSuccess) return st::kOk;
  // One algorithm, needing no workspace; "waves" has no meaning here.
  LtResult& res = out->results[0];
  res = LtResult{};
  res.algo.data[0] = kCpuAlgo;
  res.state = blas_st::kSuccess;
  res.waves = 1.0f;
  out->count = 1;
  return st::kOk;
}

Status CpuBackend::lt_matmul(Native stream, const LtMatmulReq& r, int* blas_status) {
  *blas_status = blas_st::kNotInitialized;
  if (!stream_ok(stream)) return st::kInvalidHandle;
  Plan p;
  if ((*blas_status = plan_of(r.p, &p)) != blas_st::kSuccess) return st::kOk;
  *blas_status = blas_st::kInvalidValue;
  if (r.has_algo) {
    if (r.algo.data[0] != kCpuAlgo) return st::kOk;
    for (int i = 1; i < 8; ++i)
      if (r.algo.data[i] != 0) return st::kOk;
  }
  *blas_status = blas_st::kSuccess;
  if (p.m == 0 || p.n == 0) return st::kOk;

  *blas_status = blas_st::kExecutionFailed;
  float alpha, beta;
  if (p.alpha_on_device) {
    uint64_t pa, pb;
    std::memcpy(&pa, r.alpha, 8);
    std::memcpy(&pb, r.beta, 8);
    const uint8_t* da = dev(pa, 4, kRead);
    const uint8_t* db = dev(pb, 4, kRead);
    if (da == nullptr || db == nullptr) return st::kIllegalAddress;
    std::memcpy(&alpha, da, 4);
    std::memcpy(&beta, db, 4);
  } else {
    std::memcpy(&alpha, r.alpha, 4);
    std::memcpy(&beta, r.beta, 4);
  }

  uint64_t span_a, span_b, span_c, span_d, span_aux = 0;
  if (!span_bytes(p.a.rows, p.a.cols, p.a.ld, elem_size(p.a.e), &span_a) ||
      !span_bytes(p.b.rows, p.b.cols, p.b.ld, elem_size(p.b.e), &span_b) ||
      !span_bytes(p.c.rows, p.c.cols, p.c.ld, elem_size(p.c.e), &span_c) ||
      !span_bytes(p.d.rows, p.d.cols, p.d.ld, elem_size(p.d.e), &span_d) ||
      (p.aux && !span_bytes(p.m, p.n, p.aux_ld, elem_size(p.aux_e), &span_aux)))
    return st::kIllegalAddress;
  const bool reads_ab = p.k > 0 && alpha != 0.0f;
  // The float accumulator is m x n: sized only once D is known to be real
  // device memory of at least m x n elements, so a guest's dimensions alone
  // cannot make the worker allocate without bound.
  if (dev(r.d, span_d, kWrite) == nullptr) return st::kIllegalAddress;
  std::vector<float> acc(static_cast<size_t>(p.m) * static_cast<size_t>(p.n));
  for (int64_t i = 0; i < p.batch; ++i) {
    uint64_t pa, pb, pc, pd, pbias = 0, paux = 0;
    if (!strided_addr(r.a, i, p.a.offset, elem_size(p.a.e), &pa) ||
        !strided_addr(r.b, i, p.b.offset, elem_size(p.b.e), &pb) ||
        !strided_addr(r.c, i, p.c.offset, elem_size(p.c.e), &pc) ||
        !strided_addr(r.d, i, p.d.offset, elem_size(p.d.e), &pd) ||
        (p.bias && !strided_addr(r.p.desc.v[lt::kBias], i, p.bias_stride, elem_size(p.bias_e), &pbias)) ||
        (p.aux && !strided_addr(r.p.desc.v[lt::kAux], i, p.aux_stride, elem_size(p.aux_e), &paux)))
      return st::kIllegalAddress;
    const uint8_t* a = reads_ab ? dev(pa, span_a, kRead) : nullptr;
    const uint8_t* b = reads_ab ? dev(pb, span_b, kRead) : nullptr;
    const uint8_t* c = beta != 0.0f ? dev(pc, span_c, kRead) : nullptr;
    uint8_t* d = dev(pd, span_d, kWrite);
    const uint8_t* bias = p.bias ? dev(pbias, static_cast<uint64_t>(p.m) * elem_size(p.bias_e), kRead) : nullptr;
    uint8_t* aux = p.aux ? dev(paux, span_aux, kWrite) : nullptr;
    if ((reads_ab && (a == nullptr || b == nullptr)) || (beta != 0.0f && c == nullptr) || d == nullptr ||
        (p.bias && bias == nullptr) || (p.aux && aux == nullptr))
      return st::kIllegalAddress;

    // alpha op(A) op(B) into a float matrix, then the epilogue, then D.
    GemmArgs g{p.transa, p.transb, static_cast<int>(p.m), static_cast<int>(p.n), static_cast<int>(p.k),
               p.a.e, p.b.e, Elem::kF32, a, b, reinterpret_cast<uint8_t*>(acc.data()), p.a.ld, p.b.ld, p.m};
    gemm_f32(g, alpha, 0.0f);
    for (int64_t j = 0; j < p.n; ++j) {
      for (int64_t row = 0; row < p.m; ++row) {
        float v = acc[static_cast<size_t>(row + j * p.m)];
        if (beta != 0.0f) v += beta * load<float>(p.c.e, c, row + j * p.c.ld);
        if (p.bias) v += load<float>(p.bias_e, bias, row);
        if (p.aux) store<float>(p.aux_e, aux, row + j * p.aux_ld, v);
        if (p.relu) v = v > 0.0f ? v : 0.0f;
        if (p.gelu) v = gelu(v);
        store<float>(p.d.e, d, row + j * p.d.ld, v);
      }
    }
  }
  *blas_status = blas_st::kSuccess;
  return st::kOk;
}

}  // namespace vgpu::host::cpu
