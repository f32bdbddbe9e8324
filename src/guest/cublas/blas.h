// Shared state of our libcublas: the guest-side handle and the helpers every
// forwarded call uses.
//
// A cublasHandle_t is a guest object. It holds the host's handle id and the
// handle's configuration (stream, workspace, math mode, pointer mode, atomics
// mode); setting those is local, and every forwarded call carries them in its
// BlasState, which the host applies to its real handle before the call.
#pragma once

#include <cublas_v2.h>
#include <cuda.h>

#include <cstdint>

#include "client/client.h"

// The version this flavour stands in for: the API level of the header it was
// built against for .13, the last 12.x release for .12.
#if VGPU_BLAS_FLAVOUR == 13
#define VGPU_BLAS_MAJOR CUBLAS_VER_MAJOR
#define VGPU_BLAS_MINOR CUBLAS_VER_MINOR
#define VGPU_BLAS_PATCH CUBLAS_VER_PATCH
#define VGPU_BLAS_CUDART 13000
#elif VGPU_BLAS_FLAVOUR == 12
#define VGPU_BLAS_MAJOR 12
#define VGPU_BLAS_MINOR 9
#define VGPU_BLAS_PATCH 1
#define VGPU_BLAS_CUDART 12090
#else
#error "VGPU_BLAS_FLAVOUR must be 12 or 13"
#endif

struct cublasContext {
  uint64_t magic;
  vgpu::Handle host;
  cudaStream_t stream;
  void* workspace;
  size_t workspace_bytes;
  cublasMath_t math_mode;
  cublasPointerMode_t pointer_mode;
  // Atomics mode is a permission (cuBLAS *may* use atomics in a few level-2
  // routines when allowed): kept and reported, never needed on the host,
  // because not using atomics satisfies either setting.
  cublasAtomicsMode_t atomics_mode;
};

namespace vgpu::guest::blas {

inline constexpr uint64_t kMagic = 0x7667707562686e64ull;  // "vgpubhnd"

inline bool valid(cublasHandle_t h) { return h != nullptr && h->magic == kMagic; }

// What travels with every call.
inline BlasState state_of(cublasHandle_t h) {
  BlasState s{};
  s.handle = h->host;
  s.stream = reinterpret_cast<Handle>(h->stream);
  s.workspace = reinterpret_cast<DevPtr>(h->workspace);
  s.workspace_bytes = h->workspace_bytes;
  s.math_mode = static_cast<uint32_t>(h->math_mode);
  s.pointer_mode = h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE ? 1 : 0;
  return s;
}

// A wire status as the closest cuBLAS status.
cublasStatus_t from_status(Status s);

// The attached client (after cuInit, as NVIDIA's cuBLAS initialises the
// runtime), or nullptr when there is no usable host.
Client* client();

// Reads a scalar the caller passed by device pointer (pointer mode device),
// in stream order on the handle's stream.
cublasStatus_t read_device_scalar(cublasHandle_t h, const void* dptr, void* out, size_t bytes);

}  // namespace vgpu::guest::blas
