// The CPU backend's GEMM core, shared by cuBLAS (cpu_blas.cc) and cuBLASLt
// (cpu_lt.cc): element formats, column-major operand spans, and the blocked
// kernel computing C = alpha op(A) op(B) + beta C for one matrix.
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu_backend.h"

namespace vgpu::host::cpu {

enum class Elem { kF32, kF64, kF16, kBF16 };

inline bool elem_of(int type, Elem* e) {
  switch (type) {
    case dt::kR32F: *e = Elem::kF32; return true;
    case dt::kR64F: *e = Elem::kF64; return true;
    case dt::kR16F: *e = Elem::kF16; return true;
    case dt::kR16BF: *e = Elem::kBF16; return true;
    default: return false;
  }
}

inline uint64_t elem_size(Elem e) {
  switch (e) {
    case Elem::kF32: return 4;
    case Elem::kF64: return 8;
    default: return 2;
  }
}


template <class T>
inline T load(Elem e, const uint8_t* base, int64_t idx) {
  switch (e) {
    case Elem::kF32: {
      float v;
      std::memcpy(&v, base + idx * 4, 4);
      return static_cast<T>(v);
    }
    case Elem::kF64: {
      double v;
      std::memcpy(&v, base + idx * 8, 8);
      return static_cast<T>(v);
    }
    case Elem::kF16: {
      uint16_t v;
      std::memcpy(&v, base + idx * 2, 2);
      return static_cast<T>(half_to_float(v));
    }
    case Elem::kBF16: {
      uint16_t v;
      std::memcpy(&v, base + idx * 2, 2);
      return static_cast<T>(bf16_to_float(v));
    }
  }
  return T(0);
}

template <class T>
inline void store(Elem e, uint8_t* base, int64_t idx, T v) {
  switch (e) {
    case Elem::kF32: {
      const float f = static_cast<float>(v);
      std::memcpy(base + idx * 4, &f, 4);
      return;
    }
    case Elem::kF64: {
      const double d = static_cast<double>(v);
      std::memcpy(base + idx * 8, &d, 8);
      return;
    }
    case Elem::kF16: {
      const uint16_t h = float_to_half(static_cast<float>(v));
      std::memcpy(base + idx * 2, &h, 2);
      return;
    }
    case Elem::kBF16: {
      const uint16_t h = float_to_bf16(static_cast<float>(v));
      std::memcpy(base + idx * 2, &h, 2);
      return;
    }
  }
}

// Bytes a column-major rows x cols matrix with leading dimension ld spans:
// ((cols - 1) * ld + rows) * esize. 0 when it is empty; false on overflow.
inline bool span_bytes(int64_t rows, int64_t cols, int64_t ld, uint64_t esize, uint64_t* out) {
  if (rows <= 0 || cols <= 0) {
    *out = 0;
    return true;
  }
  const unsigned __int128 v =
      (static_cast<unsigned __int128>(cols - 1) * static_cast<uint64_t>(ld) + static_cast<uint64_t>(rows)) * esize;
  if (v >= (static_cast<unsigned __int128>(1) << 63)) return false;
  *out = static_cast<uint64_t>(v);
  return true;
}

// base + i * stride * esize as a 64-bit address; false if it leaves [0, 2^64).
inline bool strided_addr(uint64_t base, int64_t i, int64_t stride, uint64_t esize, uint64_t* out) {
  const __int128 v = static_cast<__int128>(base) + static_cast<__int128>(i) * stride * static_cast<__int128>(esize);
  if (v < 0 || v >= (static_cast<__int128>(1) << 64)) return false;
  *out = static_cast<uint64_t>(v);
  return true;
}

struct GemmArgs {
  int transa, transb, m, n, k;
  Elem ea, eb, ec;
  const uint8_t* a;
  const uint8_t* b;
  uint8_t* c;
  int64_t lda, ldb, ldc;
};


// One GEMM (float accumulation and scalars) with the layout in g; operands are
// the host bytes the caller has looked up. In cpu_blas.cc, next to the kernel.
void gemm_f32(const GemmArgs& g, float alpha, float beta);

}  // namespace vgpu::host::cpu
