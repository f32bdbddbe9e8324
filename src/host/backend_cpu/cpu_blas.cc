// CpuBackend: cuBLAS on the CPU.
//
// GEMM as cuBLAS defines it (column-major, op(A) m x k, op(B) k x n, C m x n,
// C = alpha op(A) op(B) + beta C; C is not read when beta == 0, A and B are not
// read when k == 0 or alpha == 0), for f32, f16, bf16 (computed in float) and
// f64 (in double), single / strided batched / batched; trsm batched (float);
// Saxpy, Sscal, Sdot, Snrm2, Sgemv. Every operand range, every pointer array
// of a batched call and every pointer inside it is looked up (CpuBackend::dev)
// before it is touched.
//
// Status conventions: bad dimensions, leading dimensions or enum values give
// *blas_status = CUBLAS_STATUS_INVALID_VALUE (7) as cuBLAS does; type
// combinations cuBLAS does not offer, and scalars passed by device pointer
// where the wire cannot carry them, give CUBLAS_STATUS_NOT_SUPPORTED (15);
// an operand outside device memory is what a GPU reports as an illegal
// address: Status kIllegalAddress with CUBLAS_STATUS_EXECUTION_FAILED (13),
// and nothing is written.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_backend.h"
#include "cpu_gemm.h"

namespace vgpu::host::cpu {
namespace {

enum class Scale { kHalf, kFloat, kDouble };

// cublasComputeType_t, or the legacy cudaDataType some callers still pass.
bool scale_of(int compute_type, Scale* s) {
  switch (compute_type) {
    case 64: case 65:              // CUBLAS_COMPUTE_16F(_PEDANTIC)
    case dt::kR16F:                // legacy CUDA_R_16F
      *s = Scale::kHalf; return true;
    case 68: case 69:              // CUBLAS_COMPUTE_32F(_PEDANTIC)
    case 74: case 75: case 77:     // 32F_FAST_16F / _16BF / _TF32
    case 78:                       // 32F_EMULATED_16BFX9
    case dt::kR32F:                // legacy CUDA_R_32F
      *s = Scale::kFloat; return true;
    case 70: case 71: case 79:     // CUBLAS_COMPUTE_64F(_PEDANTIC, _EMULATED_FIXEDPOINT)
    case dt::kR64F:                // legacy CUDA_R_64F
      *s = Scale::kDouble; return true;
    default: return false;
  }
}

// The combinations cublasGemmEx offers for real types.
bool combo_ok(Scale s, Elem a, Elem b, Elem c) {
  if (a != b) return false;
  switch (s) {
    case Scale::kHalf: return a == Elem::kF16 && c == Elem::kF16;
    case Scale::kDouble: return a == Elem::kF64 && c == Elem::kF64;
    case Scale::kFloat:
      if (a == Elem::kF32) return c == Elem::kF32;
      if (a == Elem::kF16 || a == Elem::kBF16) return c == a || c == Elem::kF32;
      return false;
  }
  return false;
}

// ---- the GEMM kernel -----------------------------------------------------------------
// Blocked: C is computed in MC x NC tiles, each accumulated in T over K in KC
// panels; op(A) and op(B) panels are packed (and converted to T) so the inner
// loop runs down contiguous columns four output columns at a time.
constexpr int kMC = 128, kKC = 256, kNC = 64;

template <class T>
void micro(int mc, int nc, int kc, const T* __restrict ap, const T* __restrict bp, T* __restrict acc) {
  int j = 0;
  for (; j + 4 <= nc; j += 4) {
    T* __restrict c0 = acc + (j + 0) * mc;
    T* __restrict c1 = acc + (j + 1) * mc;
    T* __restrict c2 = acc + (j + 2) * mc;
    T* __restrict c3 = acc + (j + 3) * mc;
    const T* b0 = bp + (j + 0) * kc;
    const T* b1 = bp + (j + 1) * kc;
    const T* b2 = bp + (j + 2) * kc;
    const T* b3 = bp + (j + 3) * kc;
    for (int p = 0; p < kc; ++p) {
      const T* __restrict a = ap + p * mc;
      const T x0 = b0[p], x1 = b1[p], x2 = b2[p], x3 = b3[p];
      for (int i = 0; i < mc; ++i) {
        const T ai = a[i];
        c0[i] += ai * x0;
        c1[i] += ai * x1;
        c2[i] += ai * x2;
        c3[i] += ai * x3;
      }
    }
  }
  for (; j < nc; ++j) {
    T* __restrict c0 = acc + j * mc;
    const T* b0 = bp + j * kc;
    for (int p = 0; p < kc; ++p) {
      const T* __restrict a = ap + p * mc;
      const T x0 = b0[p];
      for (int i = 0; i < mc; ++i) c0[i] += a[i] * x0;
    }
  }
}

template <class T>
void gemm_one(const GemmArgs& g, T alpha, T beta, std::vector<T>& ap, std::vector<T>& bp, std::vector<T>& acc) {
  const bool compute = g.k > 0 && alpha != T(0);
  // Tile origins are 64-bit: with m, n or k near INT_MAX (operands in aliased
  // VMM mappings make that possible) an int origin would overflow past the
  // last tile and make mc negative.
  for (int64_t jc = 0; jc < g.n; jc += kNC) {
    const int nc = static_cast<int>(std::min<int64_t>(kNC, g.n - jc));
    for (int64_t ic = 0; ic < g.m; ic += kMC) {
      const int mc = static_cast<int>(std::min<int64_t>(kMC, g.m - ic));
      std::fill(acc.begin(), acc.begin() + static_cast<size_t>(mc) * nc, T(0));
      if (compute) {
        for (int64_t pc = 0; pc < g.k; pc += kKC) {
          const int kc = static_cast<int>(std::min<int64_t>(kKC, g.k - pc));
          // op(A)(i, p) -> ap[p * mc + i]
          if (g.transa == 0) {
            for (int p = 0; p < kc; ++p)
              for (int i = 0; i < mc; ++i) ap[p * mc + i] = load<T>(g.ea, g.a, (ic + i) + (pc + p) * g.lda);
          } else {
            for (int i = 0; i < mc; ++i)
              for (int p = 0; p < kc; ++p) ap[p * mc + i] = load<T>(g.ea, g.a, (pc + p) + (ic + i) * g.lda);
          }
          // op(B)(p, j) -> bp[j * kc + p]
          if (g.transb == 0) {
            for (int j = 0; j < nc; ++j)
              for (int p = 0; p < kc; ++p) bp[j * kc + p] = load<T>(g.eb, g.b, (pc + p) + (jc + j) * g.ldb);
          } else {
            for (int p = 0; p < kc; ++p)
              for (int j = 0; j < nc; ++j) bp[j * kc + p] = load<T>(g.eb, g.b, (jc + j) + (pc + p) * g.ldb);
          }
          micro<T>(mc, nc, kc, ap.data(), bp.data(), acc.data());
        }
      }
      for (int j = 0; j < nc; ++j) {
        for (int i = 0; i < mc; ++i) {
          const int64_t idx = (ic + i) + (jc + j) * g.ldc;
          T v = alpha * acc[j * mc + i];
          if (beta != T(0)) v += beta * load<T>(g.ec, g.c, idx);
          store<T>(g.ec, g.c, idx, v);
        }
      }
    }
  }
}

}  // namespace

void gemm_f32(const GemmArgs& g, float alpha, float beta) {
  std::vector<float> ap(kMC * kKC), bp(kKC * kNC), acc(kMC * kNC);
  gemm_one<float>(g, alpha, beta, ap, bp, acc);
}

Status CpuBackend::blas_create(Native* out) {
  *out = next_handle();
  blas_handles_.insert(*out);
  return st::kOk;
}

Status CpuBackend::blas_destroy(Native h) { return blas_handles_.erase(h) != 0 ? st::kOk : st::kInvalidHandle; }

// ---- GEMM -------------------------------------------------------------------------------
Status CpuBackend::blas_gemm(Native h, Native stream, const GemmReq& r, int* blas_status) {
  *blas_status = blas_st::kNotInitialized;
  if (blas_handles_.count(h) == 0 || !stream_ok(stream)) return st::kInvalidHandle;
  *blas_status = blas_st::kInvalidValue;
  if (r.transa < 0 || r.transa > 2 || r.transb < 0 || r.transb > 2) return st::kOk;
  if (r.m < 0 || r.n < 0 || r.k < 0) return st::kOk;
  const int64_t rows_a = r.transa == 0 ? r.m : r.k, cols_a = r.transa == 0 ? r.k : r.m;
  const int64_t rows_b = r.transb == 0 ? r.k : r.n, cols_b = r.transb == 0 ? r.n : r.k;
  if (r.lda < std::max<int64_t>(1, rows_a) || r.ldb < std::max<int64_t>(1, rows_b) ||
      r.ldc < std::max<int64_t>(1, r.m))
    return st::kOk;
  if (r.batch_kind > kGemmBatched) return st::kOk;
  const int64_t batch = r.batch_kind == kGemmSingle ? 1 : r.batch_count;
  if (batch < 0) return st::kOk;

  Elem ea, eb, ec;
  Scale sc;
  *blas_status = blas_st::kNotSupported;
  if (!elem_of(r.a_type, &ea) || !elem_of(r.b_type, &eb) || !elem_of(r.c_type, &ec) ||
      !scale_of(r.compute_type, &sc) || !combo_ok(sc, ea, eb, ec))
    return st::kOk;
  *blas_status = blas_st::kSuccess;
  if (r.m == 0 || r.n == 0 || batch == 0) return st::kOk;  // quick return, as cuBLAS

  // The scalars: by value in the request, or device pointers (pointer mode 1).
  *blas_status = blas_st::kExecutionFailed;
  const uint64_t ssize = sc == Scale::kHalf ? 2 : sc == Scale::kFloat ? 4 : 8;
  uint8_t alpha_b[8] = {}, beta_b[8] = {};
  if (r.s.pointer_mode == 0) {
    std::memcpy(alpha_b, r.alpha, ssize);
    std::memcpy(beta_b, r.beta, ssize);
  } else if (r.s.pointer_mode == 1) {
    uint64_t pa, pb;
    std::memcpy(&pa, r.alpha, 8);
    std::memcpy(&pb, r.beta, 8);
    const uint8_t* da = dev(pa, ssize, kRead);
    const uint8_t* db = dev(pb, ssize, kRead);
    if (da == nullptr || db == nullptr) return st::kIllegalAddress;
    std::memcpy(alpha_b, da, ssize);
    std::memcpy(beta_b, db, ssize);
  } else {
    *blas_status = blas_st::kInvalidValue;
    return st::kOk;
  }
  double alpha, beta;
  if (sc == Scale::kHalf) {
    uint16_t a16, b16;
    std::memcpy(&a16, alpha_b, 2);
    std::memcpy(&b16, beta_b, 2);
    alpha = half_to_float(a16), beta = half_to_float(b16);
  } else if (sc == Scale::kFloat) {
    float af, bf;
    std::memcpy(&af, alpha_b, 4);
    std::memcpy(&bf, beta_b, 4);
    alpha = af, beta = bf;
  } else {
    std::memcpy(&alpha, alpha_b, 8);
    std::memcpy(&beta, beta_b, 8);
  }

  // Every operand of every batch entry, checked before anything is written.
  const bool reads_ab = r.k > 0 && alpha != 0.0;
  const int c_access = beta != 0.0 ? (kRead | kWrite) : kWrite;
  uint64_t span_a, span_b, span_c;
  if (!span_bytes(rows_a, cols_a, r.lda, elem_size(ea), &span_a) ||
      !span_bytes(rows_b, cols_b, r.ldb, elem_size(eb), &span_b) ||
      !span_bytes(r.m, r.n, r.ldc, elem_size(ec), &span_c))
    return st::kIllegalAddress;
  const uint8_t* arr_a = nullptr;
  const uint8_t* arr_b = nullptr;
  const uint8_t* arr_c = nullptr;
  if (r.batch_kind == kGemmBatched) {
    const uint64_t arr_bytes = static_cast<uint64_t>(batch) * 8;
    arr_a = dev(r.a, arr_bytes, kRead);
    arr_b = dev(r.b, arr_bytes, kRead);
    arr_c = dev(r.c, arr_bytes, kRead);
    if (arr_a == nullptr || arr_b == nullptr || arr_c == nullptr) return st::kIllegalAddress;
  }
  GemmArgs g{r.transa, r.transb, r.m, r.n, r.k, ea, eb, ec, nullptr, nullptr, nullptr, r.lda, r.ldb, r.ldc};
  // Batch entry i's operands into g; false if one lies outside device memory.
  // (Not collected into a vector: batch_count is the guest's to choose.)
  auto resolve = [&](int64_t i) {
    uint64_t pa = r.a, pb = r.b, pc = r.c;
    if (r.batch_kind == kGemmStrided) {
      if (!strided_addr(r.a, i, r.stride_a, elem_size(ea), &pa) ||
          !strided_addr(r.b, i, r.stride_b, elem_size(eb), &pb) ||
          !strided_addr(r.c, i, r.stride_c, elem_size(ec), &pc))
        return false;
    } else if (r.batch_kind == kGemmBatched) {
      std::memcpy(&pa, arr_a + i * 8, 8);
      std::memcpy(&pb, arr_b + i * 8, 8);
      std::memcpy(&pc, arr_c + i * 8, 8);
    }
    g.a = reads_ab ? dev(pa, span_a, kRead) : nullptr;
    g.b = reads_ab ? dev(pb, span_b, kRead) : nullptr;
    g.c = dev(pc, span_c, c_access);
    return !((reads_ab && (g.a == nullptr || g.b == nullptr)) || g.c == nullptr);
  };
  for (int64_t i = 0; i < batch; ++i)
    if (!resolve(i)) return st::kIllegalAddress;

  // Each entry is looked up again just before it runs: an earlier entry's C
  // may overlap the pointer arrays and rewrite them. An entry that now lies
  // outside device memory stops the call there, as a GPU faults mid-kernel.
  if (sc == Scale::kDouble) {
    std::vector<double> ap(kMC * kKC), bp(kKC * kNC), acc(kMC * kNC);
    for (int64_t i = 0; i < batch; ++i) {
      if (!resolve(i)) return st::kIllegalAddress;
      gemm_one<double>(g, alpha, beta, ap, bp, acc);
    }
  } else {
    std::vector<float> ap(kMC * kKC), bp(kKC * kNC), acc(kMC * kNC);
    for (int64_t i = 0; i < batch; ++i) {
      if (!resolve(i)) return st::kIllegalAddress;
      gemm_one<float>(g, static_cast<float>(alpha), static_cast<float>(beta), ap, bp, acc);
    }
  }
  *blas_status = blas_st::kSuccess;
  return st::kOk;
}

// ---- trsm batched (float) -------------------------------------------------------------------
// Solves op(A) X = alpha B (left) or X op(A) = alpha B (right), X over B.
// Only A's `uplo` triangle is read; diag == unit reads no diagonal.
Status CpuBackend::blas_trsm_batched(Native h, Native stream, const TrsmBatchedReq& r, int* blas_status) {
  *blas_status = blas_st::kNotInitialized;
  if (blas_handles_.count(h) == 0 || !stream_ok(stream)) return st::kInvalidHandle;
  *blas_status = blas_st::kInvalidValue;
  if (r.side < 0 || r.side > 1 || r.uplo < 0 || r.uplo > 1 || r.trans < 0 || r.trans > 2 || r.diag < 0 ||
      r.diag > 1)
    return st::kOk;
  const bool left = r.side == 0;
  const int64_t ka = left ? r.m : r.n;
  if (r.m < 0 || r.n < 0 || r.batch_count < 0 || r.lda < std::max<int64_t>(1, ka) ||
      r.ldb < std::max<int64_t>(1, r.m))
    return st::kOk;
  // alpha travels as a float; a device-pointer alpha cannot be carried.
  *blas_status = blas_st::kNotSupported;
  if (r.s.pointer_mode != 0) return st::kOk;
  *blas_status = blas_st::kSuccess;
  if (r.m == 0 || r.n == 0 || r.batch_count == 0) return st::kOk;

  *blas_status = blas_st::kExecutionFailed;
  const uint64_t arr_bytes = static_cast<uint64_t>(r.batch_count) * 8;
  const uint8_t* arr_a = dev(r.a, arr_bytes, kRead);
  const uint8_t* arr_b = dev(r.b, arr_bytes, kRead);
  if (arr_a == nullptr || arr_b == nullptr) return st::kIllegalAddress;
  const float alpha = r.alpha;
  uint64_t span_a, span_b;
  if (!span_bytes(ka, ka, r.lda, 4, &span_a) || !span_bytes(r.m, r.n, r.ldb, 4, &span_b))
    return st::kIllegalAddress;
  // Batch entry i's A and B; A is not read (nor looked up) when alpha == 0.
  auto resolve = [&](int64_t i, const uint8_t** a, uint8_t** b) {
    uint64_t pa, pb;
    std::memcpy(&pa, arr_a + i * 8, 8);
    std::memcpy(&pb, arr_b + i * 8, 8);
    *a = alpha != 0.0f ? dev(pa, span_a, kRead) : nullptr;
    *b = dev(pb, span_b, kRead | kWrite);
    return (alpha == 0.0f || *a != nullptr) && *b != nullptr;
  };
  const uint8_t* ab = nullptr;
  uint8_t* bb = nullptr;
  for (int64_t i = 0; i < r.batch_count; ++i)
    if (!resolve(i, &ab, &bb)) return st::kIllegalAddress;

  const int64_t m = r.m, n = r.n, lda = r.lda, ldb = r.ldb;
  const bool trans = r.trans != 0;
  const bool unit = r.diag == 1;
  // op(A) is lower triangular when A is lower and not transposed, or upper and transposed.
  const bool op_lower = (r.uplo == 0) != trans;
  // op(A) densely: ka * ka floats, no more than A's span, which was checked
  // against device memory; with alpha == 0, A is neither looked up nor
  // needed, and ka (from B's size alone) may be far too large to allocate.
  std::vector<float> amat(alpha != 0.0f ? static_cast<size_t>(ka * ka) : 0), x;
  for (int64_t bi = 0; bi < r.batch_count; ++bi) {
    // Looked up again: an earlier entry's B may overlap the pointer arrays.
    if (!resolve(bi, &ab, &bb)) return st::kIllegalAddress;
    auto getb = [&](int64_t i, int64_t j) {
      float v;
      std::memcpy(&v, bb + (i + j * ldb) * 4, 4);
      return v;
    };
    auto setb = [&](int64_t i, int64_t j, float v) { std::memcpy(bb + (i + j * ldb) * 4, &v, 4); };
    if (alpha == 0.0f) {
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < m; ++i) setb(i, j, 0.0f);
      continue;
    }
    // op(A) as a dense ka x ka matrix (column-major), only the referenced triangle read.
    std::fill(amat.begin(), amat.end(), 0.0f);
    for (int64_t j = 0; j < ka; ++j) {
      for (int64_t i = 0; i < ka; ++i) {
        const bool stored = r.uplo == 0 ? i >= j : i <= j;  // A(i, j) in the uplo triangle
        if (!stored || (unit && i == j)) continue;
        float v;
        std::memcpy(&v, ab + (i + j * lda) * 4, 4);
        if (trans)
          amat[j + i * ka] = v;  // op(A)(j, i) = A(i, j)
        else
          amat[i + j * ka] = v;
      }
      if (unit) amat[j + j * ka] = 1.0f;
    }
    auto opa = [&](int64_t i, int64_t j) { return amat[i + j * ka]; };
    if (left) {
      // Each column of B: op(A) x = alpha b.
      x.resize(m);
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t i = 0; i < m; ++i) x[i] = alpha * getb(i, j);
        if (op_lower) {
          for (int64_t i = 0; i < m; ++i) {
            float s = x[i];
            for (int64_t p = 0; p < i; ++p) s -= opa(i, p) * x[p];
            x[i] = s / opa(i, i);
          }
        } else {
          for (int64_t i = m - 1; i >= 0; --i) {
            float s = x[i];
            for (int64_t p = i + 1; p < m; ++p) s -= opa(i, p) * x[p];
            x[i] = s / opa(i, i);
          }
        }
        for (int64_t i = 0; i < m; ++i) setb(i, j, x[i]);
      }
    } else {
      // Each row of B: x op(A) = alpha b, i.e. sum_p x[p] op(A)(p, j) = alpha b[j].
      x.resize(n);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) x[j] = alpha * getb(i, j);
        if (!op_lower) {  // upper: op(A)(p, j) != 0 for p <= j
          for (int64_t j = 0; j < n; ++j) {
            float s = x[j];
            for (int64_t p = 0; p < j; ++p) s -= x[p] * opa(p, j);
            x[j] = s / opa(j, j);
          }
        } else {
          for (int64_t j = n - 1; j >= 0; --j) {
            float s = x[j];
            for (int64_t p = j + 1; p < n; ++p) s -= x[p] * opa(p, j);
            x[j] = s / opa(j, j);
          }
        }
        for (int64_t j = 0; j < n; ++j) setb(i, j, x[j]);
      }
    }
  }
  *blas_status = blas_st::kSuccess;
  return st::kOk;
}

// ---- level 1 and 2 (float) --------------------------------------------------------------------
// Level-1 routines take their length from r.n. Negative increments walk the
// vector from its end, as reference BLAS does.
Status CpuBackend::blas_l12(Native h, Native stream, const BlasL12Req& r, float* value, int* blas_status) {
  *value = 0.0f;
  *blas_status = blas_st::kNotInitialized;
  if (blas_handles_.count(h) == 0 || !stream_ok(stream)) return st::kInvalidHandle;
  const auto routine = static_cast<BlasL12>(r.routine);
  *blas_status = blas_st::kInvalidValue;
  if (routine < BlasL12::kSaxpy || routine > BlasL12::kDotEx) return st::kOk;
  // Scalars travel as floats and Sdot/Snrm2 answer in the reply: device
  // pointer mode (scalars and result in device memory) cannot be carried.
  *blas_status = blas_st::kNotSupported;
  if (r.s.pointer_mode != 0) return st::kOk;

  // A strided vector: element i of n at base[idx(i)].
  struct Vec {
    uint8_t* base;
    int64_t n, inc;
    int64_t idx(int64_t i) const { return inc >= 0 ? i * inc : (n - 1 - i) * -inc; }
    float get(int64_t i) const {
      float v;
      std::memcpy(&v, base + idx(i) * 4, 4);
      return v;
    }
    void set(int64_t i, float v) const { std::memcpy(base + idx(i) * 4, &v, 4); }
  };
  // Looks up the bytes of an n-element vector with increment inc (elements
  // of esize bytes: 4 for the float routines).
  auto vec = [this](DevPtr p, int64_t n, int64_t inc, int access, Vec* v, uint64_t esize = 4) {
    const unsigned __int128 span =
        (static_cast<unsigned __int128>(n - 1) * static_cast<uint64_t>(inc < 0 ? -inc : inc) + 1) * esize;
    v->base = span < (static_cast<unsigned __int128>(1) << 63) ? dev(p, static_cast<uint64_t>(span), access) : nullptr;
    v->n = n;
    v->inc = inc;
    return v->base != nullptr;
  };

  const int64_t n = r.n;
  Vec x{}, y{};
  *blas_status = blas_st::kSuccess;
  switch (routine) {
    case BlasL12::kSaxpy:
      if (n <= 0) return st::kOk;
      if (!vec(r.x, n, r.incx, kRead, &x) || !vec(r.y, n, r.incy, kRead | kWrite, &y)) break;
      if (r.alpha == 0.0f) return st::kOk;
      for (int64_t i = 0; i < n; ++i) y.set(i, r.alpha * x.get(i) + y.get(i));
      return st::kOk;
    case BlasL12::kSscal:
      if (n <= 0 || r.incx <= 0) return st::kOk;  // reference BLAS: nothing to scale
      if (!vec(r.x, n, r.incx, kRead | kWrite, &x)) break;
      for (int64_t i = 0; i < n; ++i) x.set(i, r.alpha * x.get(i));
      return st::kOk;
    case BlasL12::kSdot: {
      if (n <= 0) return st::kOk;  // 0
      if (!vec(r.x, n, r.incx, kRead, &x) || !vec(r.y, n, r.incy, kRead, &y)) break;
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x.get(i)) * y.get(i);
      *value = static_cast<float>(s);
      return st::kOk;
    }
    case BlasL12::kSnrm2: {
      if (n <= 0 || r.incx <= 0) return st::kOk;  // 0, as reference BLAS
      if (!vec(r.x, n, r.incx, kRead, &x)) break;
      double s = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double v = x.get(i);
        s += v * v;
      }
      *value = static_cast<float>(std::sqrt(s));
      return st::kOk;
    }
    case BlasL12::kSgemv: {
      const int64_t m = r.m;
      *blas_status = blas_st::kInvalidValue;
      if (r.trans < 0 || r.trans > 2 || m < 0 || n < 0 || r.lda < std::max<int64_t>(1, m) || r.incx == 0 ||
          r.incy == 0)
        return st::kOk;
      *blas_status = blas_st::kSuccess;
      if (m == 0 || n == 0 || (r.alpha == 0.0f && r.beta == 1.0f)) return st::kOk;
      const bool tr = r.trans != 0;
      const int64_t lenx = tr ? m : n, leny = tr ? n : m;
      const uint8_t* a = nullptr;
      if (r.alpha != 0.0f) {
        uint64_t span_a;
        if (!span_bytes(m, n, r.lda, 4, &span_a) || (a = dev(r.a, span_a, kRead)) == nullptr ||
            !vec(r.x, lenx, r.incx, kRead, &x))
          break;
      }
      if (!vec(r.y, leny, r.incy, r.beta != 0.0f ? (kRead | kWrite) : kWrite, &y)) break;
      auto geta = [&](int64_t i, int64_t j) {
        float v;
        std::memcpy(&v, a + (i + j * r.lda) * 4, 4);
        return v;
      };
      std::vector<double> acc(static_cast<size_t>(leny), 0.0);
      if (r.alpha != 0.0f) {
        if (!tr) {
          for (int64_t j = 0; j < n; ++j) {
            const double xj = x.get(j);
            for (int64_t i = 0; i < m; ++i) acc[i] += geta(i, j) * xj;
          }
        } else {
          for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t i = 0; i < m; ++i) s += geta(i, j) * static_cast<double>(x.get(i));
            acc[j] = s;
          }
        }
      }
      for (int64_t i = 0; i < leny; ++i) {
        double v = r.alpha * acc[i];
        if (r.beta != 0.0f) v += static_cast<double>(r.beta) * y.get(i);
        y.set(i, static_cast<float>(v));
      }
      return st::kOk;
    }
    case BlasL12::kDotEx: {
      // x and y in their own types, the sum in double, the result stored in
      // its type and sent as its bytes (BlasRep::value).
      Elem ex, ey, er;
      auto type = [&](int i) { return static_cast<int>((r.types >> (8 * i)) & 0xff); };
      *blas_status = blas_st::kNotSupported;
      // cuBLAS's combinations for real types: one type for x, y and the
      // result, float execution (it refuses the rest as not supported).
      if (!elem_of(type(0), &ex) || !elem_of(type(1), &ey) || !elem_of(type(2), &er) || er == Elem::kF64 ||
          type(1) != type(0) || type(2) != type(0) || type(3) != dt::kR32F)
        return st::kOk;
      *blas_status = blas_st::kSuccess;
      double sum = 0;
      if (n > 0) {
        if (!vec(r.x, n, r.incx, kRead, &x, elem_size(ex)) || !vec(r.y, n, r.incy, kRead, &y, elem_size(ey))) break;
        for (int64_t i = 0; i < n; ++i) sum += load<double>(ex, x.base, x.idx(i)) * load<double>(ey, y.base, y.idx(i));
      }
      uint8_t out[8] = {};  // room for any Elem; F64 results were refused above
      store<double>(er, out, 0, sum);
      std::memcpy(value, out, sizeof *value);
      return st::kOk;
    }
  }
  // An operand outside device memory.
  *blas_status = blas_st::kExecutionFailed;
  return st::kIllegalAddress;
}

}  // namespace vgpu::host::cpu
