// cublasLtMatmulAlgoGetHeuristic and cublasLtMatmul.
//
// A heuristic query is a round trip to the host, whose cuBLASLt answers it.
// PyTorch asks before every GEMM, so answers are remembered per question: the
// descriptors and preference as sent, except that pointer-valued attributes
// (bias, aux, scale pointers) count only by their alignment, which is all the
// heuristic reads of them. The host keeps accepting the algos it handed out
// for the whole session, so a remembered answer stays usable.
//
// A matmul is posted, like a GEMM launch: errors the host meets come back at
// the next synchronising call.
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "lt.h"

using namespace vgpu;
using namespace vgpu::guest;

namespace {

struct Answer {
  int32_t status;
  std::vector<LtResult> results;
};

class HeuristicCache {
 public:
  static constexpr size_t kMaxEntries = 4096;  // then start over: shapes are few, this is a bound only

  bool find(const std::string& key, Answer* out) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    *out = it->second;
    return true;
  }
  void put(std::string key, Answer a) {
    std::lock_guard lock(mu_);
    if (map_.size() >= kMaxEntries) map_.clear();
    map_.emplace(std::move(key), std::move(a));
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, Answer> map_;
};

HeuristicCache& cache() {
  static auto* c = new HeuristicCache;  // never destroyed: other libraries' destructors may still call in
  return *c;
}

std::string key_of(LtHeuristicReq r) {
  for (uint32_t i = 0; i < kLtDescAttrs; ++i) {
    if (!((kLtDescPointerAttrs >> i) & 1)) continue;
    uint64_t& v = r.p.desc.v[i];
    if (v != 0) v = std::min<uint64_t>(v & (~v + 1), 256);  // lowest set bit: the alignment, up to 256
  }
  return std::string(reinterpret_cast<const char*>(&r), sizeof r);
}

// Bytes of one alpha/beta of this scale type (cudaDataType).
size_t scalar_bytes(int32_t scale) {
  switch (scale) {
    case CUDA_R_16F: case CUDA_R_16BF: return 2;
    case CUDA_R_64F: case CUDA_C_32F: return 8;
    case CUDA_C_64F: return 16;
    case CUDA_R_8I: case CUDA_R_8U: return 1;
    default: return 4;  // R_32F, R_32I, R_32U
  }
}

int32_t attr_i32(const LtDesc& d, uint32_t i) {
  int32_t x;
  std::memcpy(&x, &d.v[i], 4);
  return x;
}

bool problem_of(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d, LtProblem* out) {
  const blaslt::Desc* od = blaslt::from<blaslt::Desc>(desc);
  const blaslt::Layout *la = blaslt::from<blaslt::Layout>(a), *lb = blaslt::from<blaslt::Layout>(b), *lc = blaslt::from<blaslt::Layout>(c),
                   *ld = blaslt::from<blaslt::Layout>(d);
  if (od == nullptr || la == nullptr || lb == nullptr || lc == nullptr || ld == nullptr) return false;
  out->desc = od->a;
  out->a = la->a;
  out->b = lb->a;
  out->c = lc->a;
  out->d = ld->a;
  return true;
}

}  // namespace

extern "C" {

cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                                           cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                                           cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                                           cublasLtMatmulPreference_t pref, int requested,
                                                           cublasLtMatmulHeuristicResult_t results[],
                                                           int* returned) {
  if (!blaslt::valid_handle(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  const blaslt::Pref* p = blaslt::from<blaslt::Pref>(pref);
  auto r = std::make_unique<LtHeuristicReq>();  // ~1 KiB: not on a caller's possibly small stack
  if (p == nullptr || requested <= 0 || results == nullptr || returned == nullptr ||
      !problem_of(desc, a, b, c, d, &r->p))
    return CUBLAS_STATUS_INVALID_VALUE;
  r->pref = p->a;
  // Fewer results than asked for is an answer cuBLASLt may give too.
  r->requested = std::min<int>(requested, kLtMaxResults);

  Answer ans;
  std::string key = key_of(*r);
  if (!cache().find(key, &ans)) {
    Client* cl = blas::client();
    if (cl == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    auto rep = std::make_unique<LtHeuristicRep>();
    if (Status s = cl->call<Op::LtHeuristic>(*r, rep.get())) return blas::from_status(s);
    ans.status = rep->status;
    const int n = std::clamp(rep->count, 0, r->requested);
    ans.results.assign(rep->results, rep->results + n);
    cache().put(std::move(key), ans);
  }
  *returned = 0;
  if (ans.status != CUBLAS_STATUS_SUCCESS) return static_cast<cublasStatus_t>(ans.status);
  std::memcpy(results, ans.results.data(), ans.results.size() * sizeof(LtResult));
  *returned = static_cast<int>(ans.results.size());
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha,
                                           const void* A, cublasLtMatrixLayout_t a, const void* B,
                                           cublasLtMatrixLayout_t b, const void* beta, const void* C,
                                           cublasLtMatrixLayout_t c, void* D, cublasLtMatrixLayout_t d,
                                           const cublasLtMatmulAlgo_t* algo, void* workspace, size_t ws_bytes,
                                           cudaStream_t stream) {
  if (!blaslt::valid_handle(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  auto r = std::make_unique<LtMatmulReq>();
  if (!problem_of(desc, a, b, c, d, &r->p)) return CUBLAS_STATUS_INVALID_VALUE;
  const int32_t mode = attr_i32(r->p.desc, lt::kPointerMode);
  const bool alpha_ptr = mode != CUBLASLT_POINTER_MODE_HOST;
  const bool beta_ptr = mode == CUBLASLT_POINTER_MODE_DEVICE || mode == CUBLASLT_POINTER_MODE_DEVICE_VECTOR;
  const bool beta_used = mode != CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_ZERO;
  if (alpha == nullptr || (beta_used && beta == nullptr)) return CUBLAS_STATUS_INVALID_VALUE;
  if (workspace == nullptr && ws_bytes != 0) return CUBLAS_STATUS_INVALID_VALUE;
  const size_t sb = scalar_bytes(attr_i32(r->p.desc, lt::kScaleType));
  auto scalar = [sb](uint8_t* out, const void* in, bool is_ptr) {
    if (is_ptr) {
      const DevPtr p = reinterpret_cast<DevPtr>(in);
      std::memcpy(out, &p, sizeof p);
    } else {
      std::memcpy(out, in, sb);
    }
  };
  scalar(r->alpha, alpha, alpha_ptr);
  if (beta_used) scalar(r->beta, beta, beta_ptr);

  r->stream = reinterpret_cast<Handle>(stream);
  if (algo != nullptr) {
    std::memcpy(r->algo.data, algo->data, sizeof r->algo.data);
    r->has_algo = 1;
  }
  r->a = reinterpret_cast<DevPtr>(A);
  r->b = reinterpret_cast<DevPtr>(B);
  r->c = reinterpret_cast<DevPtr>(C);
  r->d = reinterpret_cast<DevPtr>(D);
  r->workspace = reinterpret_cast<DevPtr>(workspace);
  r->workspace_bytes = ws_bytes;
  // A valid handle means the client is up (cublasLtCreate or cublasCreate checked).
  return blas::from_status(Client::get().post<Op::LtMatmul>(*r));
}

}  // extern "C"
