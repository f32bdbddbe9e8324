// cuBLASLt descriptors: matmul descriptors, matrix layouts, preferences.
// Guest objects (lt.h); creating one fills in cuBLASLt's documented defaults,
// setting an attribute stores its value and marks it set, so that the host
// replays exactly what the caller said. Attributes we do not carry are
// refused: with CUBLAS_STATUS_NOT_SUPPORTED (logged) for a real attribute we
// cannot send (an emulation descriptor), CUBLAS_STATUS_INVALID_VALUE for a
// number cuBLASLt does not define, or a size that is not the attribute's, as
// cuBLASLt answers.
#include <cstring>

#include "lt.h"

using namespace vgpu;
using namespace vgpu::guest;

namespace {

template <uint32_t N>
void put(LtAttrs<N>& a, uint32_t i, const void* value, size_t bytes, bool mark) {
  a.v[i] = 0;
  std::memcpy(&a.v[i], value, bytes);
  if (mark) a.set |= 1ull << i;
}
template <uint32_t N, class T>
void def(LtAttrs<N>& a, uint32_t i, T value) {
  put(a, i, &value, sizeof value, false);
}

template <uint32_t N>
cublasStatus_t set_attr(LtAttrs<N>& a, const uint8_t (&bytes)[N], uint32_t attr, const void* buf, size_t size,
                        uint32_t unsupported_attr, const char* unsupported_name) {
  if (attr == unsupported_attr) {
    log_unsupported(unsupported_name);
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (attr >= N || bytes[attr] == 0 || buf == nullptr || size != bytes[attr]) return CUBLAS_STATUS_INVALID_VALUE;
  put(a, attr, buf, size, true);
  return CUBLAS_STATUS_SUCCESS;
}

// cuBLASLt's contract: size 0 with sizeWritten asks for the size; otherwise
// the buffer must hold the value.
template <uint32_t N>
cublasStatus_t get_attr(const LtAttrs<N>& a, const uint8_t (&bytes)[N], uint32_t attr, void* buf, size_t size,
                        size_t* written) {
  if (attr >= N || bytes[attr] == 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (size == 0 && written != nullptr) {
    *written = bytes[attr];
    return CUBLAS_STATUS_SUCCESS;
  }
  if (buf == nullptr || size < bytes[attr]) return CUBLAS_STATUS_INVALID_VALUE;
  std::memcpy(buf, &a.v[attr], bytes[attr]);
  if (written != nullptr) *written = bytes[attr];
  return CUBLAS_STATUS_SUCCESS;
}

template <class O, class P>
cublasStatus_t destroy(P p) {
  O* o = blaslt::from<O>(p);
  if (p == nullptr) return CUBLAS_STATUS_SUCCESS;  // cuBLASLt accepts NULL
  if (o == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  o->magic = 0;
  delete o;
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

// ---- matmul descriptors ----------------------------------------------------------
cublasStatus_t CUBLASWINAPI cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute,
                                                     cudaDataType_t scale) {
  if (desc == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  auto* d = new blaslt::Desc;
  LtDesc& a = d->a;
  put(a, lt::kCompute, &compute, 4, true);
  put(a, lt::kScaleType, &scale, 4, true);
  def(a, lt::kPointerMode, int32_t{CUBLASLT_POINTER_MODE_HOST});
  def(a, lt::kTransA, int32_t{CUBLAS_OP_N});
  def(a, lt::kTransB, int32_t{CUBLAS_OP_N});
  def(a, lt::kTransC, int32_t{CUBLAS_OP_N});
  def(a, lt::kFillMode, int32_t{CUBLAS_FILL_MODE_FULL});
  def(a, lt::kEpilogue, uint32_t{CUBLASLT_EPILOGUE_DEFAULT});
  def(a, lt::kAuxType, int32_t{-1});
  def(a, lt::kBiasType, int32_t{-1});
  *desc = reinterpret_cast<cublasLtMatmulDesc_t>(d);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) { return destroy<blaslt::Desc>(desc); }

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                                           cublasLtMatmulDescAttributes_t attr, const void* buf,
                                                           size_t size) {
  blaslt::Desc* d = blaslt::from<blaslt::Desc>(desc);
  if (d == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  return set_attr(d->a, kLtDescAttrBytes, attr, buf, size, CUBLASLT_MATMUL_DESC_EMULATION_DESCRIPTOR,
                  "cublasLtMatmulDescSetAttribute(CUBLASLT_MATMUL_DESC_EMULATION_DESCRIPTOR)");
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescGetAttribute(cublasLtMatmulDesc_t desc,
                                                           cublasLtMatmulDescAttributes_t attr, void* buf,
                                                           size_t size, size_t* written) {
  blaslt::Desc* d = blaslt::from<blaslt::Desc>(desc);
  if (d == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  return get_attr(d->a, kLtDescAttrBytes, attr, buf, size, written);
}

// ---- matrix layouts -------------------------------------------------------------
cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type,
                                                       uint64_t rows, uint64_t cols, int64_t ld) {
  if (layout == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  auto* l = new blaslt::Layout;
  LtLayout& a = l->a;
  put(a, lt::kType, &type, 4, true);
  put(a, lt::kRows, &rows, 8, true);
  put(a, lt::kCols, &cols, 8, true);
  put(a, lt::kLd, &ld, 8, true);
  def(a, lt::kOrder, int32_t{CUBLASLT_ORDER_COL});
  def(a, lt::kBatchCount, int32_t{1});
  *layout = reinterpret_cast<cublasLtMatrixLayout_t>(l);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  return destroy<blaslt::Layout>(layout);
}

cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t layout,
                                                             cublasLtMatrixLayoutAttribute_t attr, const void* buf,
                                                             size_t size) {
  blaslt::Layout* l = blaslt::from<blaslt::Layout>(layout);
  if (l == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  return set_attr(l->a, kLtLayoutAttrBytes, attr, buf, size, ~0u, nullptr);
}

cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutGetAttribute(cublasLtMatrixLayout_t layout,
                                                             cublasLtMatrixLayoutAttribute_t attr, void* buf,
                                                             size_t size, size_t* written) {
  blaslt::Layout* l = blaslt::from<blaslt::Layout>(layout);
  if (l == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  return get_attr(l->a, kLtLayoutAttrBytes, attr, buf, size, written);
}

// ---- preferences ----------------------------------------------------------------
cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  if (pref == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  auto* p = new blaslt::Pref;
  LtPref& a = p->a;
  def(a, CUBLASLT_MATMUL_PREF_SEARCH_MODE, uint32_t{CUBLASLT_SEARCH_BEST_FIT});
  def(a, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, uint32_t{CUBLASLT_REDUCTION_SCHEME_MASK});
  for (auto i : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                 CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    def(a, i, uint32_t{256});
  def(a, CUBLASLT_MATMUL_PREF_IMPL_MASK, ~uint64_t{0});
  *pref = reinterpret_cast<cublasLtMatmulPreference_t>(p);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  return destroy<blaslt::Pref>(pref);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                                 cublasLtMatmulPreferenceAttributes_t attr,
                                                                 const void* buf, size_t size) {
  blaslt::Pref* p = blaslt::from<blaslt::Pref>(pref);
  if (p == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  return set_attr(p->a, kLtPrefAttrBytes, attr, buf, size, ~0u, nullptr);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceGetAttribute(cublasLtMatmulPreference_t pref,
                                                                 cublasLtMatmulPreferenceAttributes_t attr,
                                                                 void* buf, size_t size, size_t* written) {
  blaslt::Pref* p = blaslt::from<blaslt::Pref>(pref);
  if (p == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  return get_attr(p->a, kLtPrefAttrBytes, attr, buf, size, written);
}

}  // extern "C"
