// CudaBackend: cuBLASLt. The guest's descriptors arrive as attribute values
// (ops.h, LtProblem); real descriptors are made from them, replaying the
// attributes the guest set, and kept by the problem's bytes (lt_objects), so
// a model's repeated GEMMs cost one cuBLASLt call each on the executor.
//
// Algos are cuBLASLt's opaque bytes. A matmul may only name one that this
// session's heuristic returned: the bytes come from the guest, and cuBLASLt
// was never meant to run a forged configuration.
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

#include "cuda_backend.h"

namespace vgpu::host::cuda {

namespace {
static_assert(sizeof(cublasLtMatmulHeuristicResult_t) == sizeof(LtResult));
static_assert(sizeof(cublasLtMatmulAlgo_t) == sizeof(LtAlgo));
constexpr size_t kMaxRememberedAlgos = 1 << 16;
constexpr size_t kMaxCachedProblems = 1024;  // then start over: a bound, not a working-set size

inline int32_t i32(uint64_t v) {
  int32_t x;
  std::memcpy(&x, &v, 4);
  return x;
}

// Attributes the create call took are skipped (`skip`); the rest that are set
// are replayed with their sizes from the wire's table.
template <class Obj, class Attr, uint32_t N>
cublasStatus_t replay(Obj obj, const LtAttrs<N>& a, const uint8_t (&bytes)[N], uint64_t skip,
                      cublasStatus_t (*set)(Obj, Attr, const void*, size_t)) {
  for (uint32_t i = 0; i < N; ++i) {
    if (!((a.set >> i) & 1) || ((skip >> i) & 1)) continue;
    if (cublasStatus_t s = set(obj, static_cast<Attr>(i), &a.v[i], bytes[i])) return s;
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

// Real descriptors of one problem.
struct CudaBackend::LtObjects {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t layout[4] = {};
  LtObjects() = default;
  LtObjects(const LtObjects&) = delete;
  LtObjects& operator=(const LtObjects&) = delete;
  ~LtObjects() {
    for (auto* l : layout)
      if (l) cublasLtMatrixLayoutDestroy(l);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

namespace {
// Descriptors from the problem's values: `op` and `layout` get what was
// created, also on failure (the caller destroys it).
cublasStatus_t build(const LtProblem& p, cublasLtMatmulDesc_t* op, cublasLtMatrixLayout_t* layout) {
  cublasStatus_t s = cublasLtMatmulDescCreate(op, static_cast<cublasComputeType_t>(i32(p.desc.v[lt::kCompute])),
                                              static_cast<cudaDataType_t>(i32(p.desc.v[lt::kScaleType])));
  if (s) return s;
  constexpr uint64_t desc_created = (1ull << lt::kCompute) | (1ull << lt::kScaleType);
  if ((s = replay(*op, p.desc, kLtDescAttrBytes, desc_created, &cublasLtMatmulDescSetAttribute))) return s;
  const LtLayout* ls[4] = {&p.a, &p.b, &p.c, &p.d};
  constexpr uint64_t layout_created = (1ull << lt::kType) | (1ull << lt::kRows) | (1ull << lt::kCols) | (1ull << lt::kLd);
  for (int i = 0; i < 4; ++i) {
    const LtLayout& l = *ls[i];
    if ((s = cublasLtMatrixLayoutCreate(&layout[i], static_cast<cudaDataType_t>(i32(l.v[lt::kType])),
                                        l.v[lt::kRows], l.v[lt::kCols], static_cast<int64_t>(l.v[lt::kLd]))))
      return s;
    if ((s = replay(layout[i], l, kLtLayoutAttrBytes, layout_created, &cublasLtMatrixLayoutSetAttribute)))
      return s;
  }
  return CUBLAS_STATUS_SUCCESS;
}

// A preference for one heuristic query, destroyed with it.
struct Pref {
  cublasLtMatmulPreference_t p = nullptr;
  Pref() = default;
  Pref(const Pref&) = delete;
  Pref& operator=(const Pref&) = delete;
  ~Pref() {
    if (p) cublasLtMatmulPreferenceDestroy(p);
  }
};
}  // namespace

// The same problem (all attribute values, pointers included) is the same
// descriptors: cuBLASLt reads them during each call and keeps nothing.
cublasStatus_t CudaBackend::lt_objects(const LtProblem& p, LtObjects** out) {
  static_assert(std::has_unique_object_representations_v<LtProblem>, "the key must have no padding");
  std::string key(reinterpret_cast<const char*>(&p), sizeof p);
  if (auto it = lt_problems_.find(key); it != lt_problems_.end()) {
    *out = it->second;
    return CUBLAS_STATUS_SUCCESS;
  }
  auto o = std::make_unique<LtObjects>();
  if (cublasStatus_t s = build(p, &o->op, o->layout)) return s;
  if (lt_problems_.size() >= kMaxCachedProblems) {
    for (auto& [k, v] : lt_problems_) delete v;
    lt_problems_.clear();
  }
  *out = lt_problems_.emplace(std::move(key), o.release()).first->second;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CudaBackend::lt_open() {
  if (lt_ != nullptr) return CUBLAS_STATUS_SUCCESS;
  cublasStatus_t s = cublasLtCreate(&lt_);
  if (s != CUBLAS_STATUS_SUCCESS) {
    log("cublasLtCreate failed: %s (%d)", cublasLtGetStatusName(s), static_cast<int>(s));
    lt_ = nullptr;
  }
  return s;
}

void CudaBackend::lt_close() {
  for (auto& [k, v] : lt_problems_) delete v;
  lt_problems_.clear();
  if (lt_ != nullptr) cublasLtDestroy(lt_);
  lt_ = nullptr;
  lt_algos_.clear();
}

Status CudaBackend::lt_heuristic(const LtHeuristicReq& r, LtHeuristicRep* out) {
  out->count = 0;
  if ((out->status = lt_open()) != CUBLAS_STATUS_SUCCESS) return st::kOk;
  LtObjects* o = nullptr;
  if ((out->status = lt_objects(r.p, &o)) != CUBLAS_STATUS_SUCCESS) return st::kOk;
  Pref pref;
  if ((out->status = cublasLtMatmulPreferenceCreate(&pref.p)) != CUBLAS_STATUS_SUCCESS) return st::kOk;
  if ((out->status = replay(pref.p, r.pref, kLtPrefAttrBytes, 0, &cublasLtMatmulPreferenceSetAttribute)) !=
      CUBLAS_STATUS_SUCCESS)
    return st::kOk;
  cublasLtMatmulHeuristicResult_t res[kLtMaxResults] = {};
  int count = 0;
  out->status = cublasLtMatmulAlgoGetHeuristic(lt_, o->op, o->layout[0], o->layout[1], o->layout[2], o->layout[3],
                                               pref.p, r.requested, res, &count);
  if (out->status != CUBLAS_STATUS_SUCCESS) return st::kOk;
  if (count < 0 || count > r.requested) count = 0;
  for (int i = 0; i < count; ++i) {
    std::memcpy(&out->results[i], &res[i], sizeof(LtResult));
    if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
    std::array<uint64_t, 8> key;
    std::memcpy(key.data(), &res[i].algo, sizeof key);
    if (lt_algos_.size() < kMaxRememberedAlgos) {
      lt_algos_.insert(key);
    } else if (!lt_algos_.count(key)) {
      static bool logged = false;
      if (!logged) log("cuBLASLt: %zu algos remembered; matmuls naming newer ones are refused", lt_algos_.size());
      logged = true;
    }
  }
  out->count = count;
  return st::kOk;
}

// Hot path (every linear layer): no logging.
Status CudaBackend::lt_matmul(Native stream, const LtMatmulReq& r, int* blas_status) {
  if ((*blas_status = lt_open()) != CUBLAS_STATUS_SUCCESS) return st::kOk;
  const cublasLtMatmulAlgo_t* algo = nullptr;
  cublasLtMatmulAlgo_t a;
  if (r.has_algo) {
    std::array<uint64_t, 8> key;
    std::memcpy(key.data(), r.algo.data, sizeof key);
    if (!lt_algos_.count(key)) {
      *blas_status = CUBLAS_STATUS_INVALID_VALUE;
      return st::kOk;
    }
    std::memcpy(&a, r.algo.data, sizeof a);
    algo = &a;
  }
  LtObjects* o = nullptr;
  if ((*blas_status = lt_objects(r.p, &o)) != CUBLAS_STATUS_SUCCESS) return st::kOk;

  // cublasLtPointerMode_t: HOST 0, DEVICE 1, DEVICE_VECTOR 2,
  // ALPHA_DEVICE_VECTOR_BETA_ZERO 3, ALPHA_DEVICE_VECTOR_BETA_HOST 4.
  const int32_t mode = (r.p.desc.set >> lt::kPointerMode) & 1 ? i32(r.p.desc.v[lt::kPointerMode]) : 0;
  alignas(16) unsigned char alpha[16], beta[16];
  std::memcpy(alpha, r.alpha, sizeof alpha);
  std::memcpy(beta, r.beta, sizeof beta);
  auto addr = [](const unsigned char* b) {
    uint64_t p;
    std::memcpy(&p, b, 8);
    return reinterpret_cast<const void*>(static_cast<uintptr_t>(p));
  };
  const void* pa = mode == 0 ? alpha : addr(alpha);
  const void* pb = (mode == 1 || mode == 2) ? addr(beta) : beta;
  auto ptr = [](DevPtr p) { return reinterpret_cast<void*>(static_cast<uintptr_t>(p)); };
  *blas_status = cublasLtMatmul(lt_, o->op, pa, ptr(r.a), o->layout[0], ptr(r.b), o->layout[1], pb, ptr(r.c),
                                o->layout[2], ptr(r.d), o->layout[3], algo, ptr(r.workspace),
                                static_cast<size_t>(r.workspace_bytes), to_cu_stream(stream));
  return st::kOk;
}

}  // namespace vgpu::host::cuda
