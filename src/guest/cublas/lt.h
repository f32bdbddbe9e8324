// Our cuBLASLt's guest-side objects.
//
// Matmul descriptors, matrix layouts and preferences live here, never on the
// host: setting an attribute is a store, and a matmul carries the values it
// needs (ops.h, LtProblem). PyTorch creates and destroys a full set for every
// GEMM; as host objects that would be five round trips a GEMM.
//
// A cublasLtHandle_t is ours (cublasLtCreate) or, as NVIDIA documents and
// PyTorch relies on, a cublasHandle_t cast to it. Either way the host uses
// the session's one cuBLASLt handle: cuBLASLt keeps no per-call state in it.
#pragma once

#include <cublasLt.h>

#include <cstdint>

#include "blas.h"

struct cublasLtContext {
  uint64_t magic;
};

namespace vgpu::guest::blaslt {

inline constexpr uint64_t kHandleMagic = 0x76677075'6c74686eull;  // "nhtlupgv"
inline constexpr uint64_t kDescMagic = 0x76677075'6c746473ull;
inline constexpr uint64_t kLayoutMagic = 0x76677075'6c746c79ull;
inline constexpr uint64_t kPrefMagic = 0x76677075'6c747066ull;

template <uint64_t Magic, class Attrs>
struct Obj {
  static constexpr uint64_t kMagic = Magic;
  uint64_t magic = Magic;
  Attrs a{};
};
using Desc = Obj<kDescMagic, LtDesc>;
using Layout = Obj<kLayoutMagic, LtLayout>;
using Pref = Obj<kPrefMagic, LtPref>;

inline bool valid_handle(cublasLtHandle_t h) {
  if (h == nullptr) return false;
  const uint64_t m = *reinterpret_cast<const uint64_t*>(h);
  return m == kHandleMagic || m == blas::kMagic;  // ours, or a cublasHandle_t
}

// The guest object behind an opaque cuBLASLt pointer, or nullptr.
template <class O, class P>
O* from(P p) {
  auto* o = reinterpret_cast<O*>(p);
  return o != nullptr && o->magic == O::kMagic ? o : nullptr;
}

}  // namespace vgpu::guest::blaslt
