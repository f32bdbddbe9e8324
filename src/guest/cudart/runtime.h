// Shared state of our libcudart.so.13 / libcudart.so.12: a layer over OUR
// libcuda.so.1, like NVIDIA's runtime is a layer over theirs.
//
// Both flavours are built from these sources; VGPU_CUDART_MAJOR (13 or 12)
// selects what differs: the exported version node (libcudart.so.13 /
// libcudart.so.12), cudaRuntimeGetVersion, the cudaDeviceProp layout and the
// few entry points whose signatures changed between CUDA 12 and 13
// (compat12.cc).
//
// Real or refused (docs/design.md, "Principles"): every export forwards for real or returns
// cudaErrorNotSupported after logging its name once. Real: the kernel
// registration ABI and every launch path (<<<>>>, cudaLaunchKernel,
// __cudaLaunchKernel(_ptsz), cudaLaunchKernelExC with cooperative /
// programmatic-serialization / cluster attributes, cooperative launches),
// function attributes, occupancy, symbols, device management and
// properties, memory (device, pinned arena memory, stream-ordered alloc done
// eagerly), every copy and memset, streams, events, capture, graphs from
// capture, errors. Refused: managed memory, memory pools, arrays/3-D,
// host callbacks, IPC, limits/cache configs, graphs built node by node,
// launch attributes other than those above, device mappings of registered
// (non-arena) host memory. The CPU backend additionally refuses kernels,
// module globals and capture (the host says so; we pass it on).
//
// Headers: driver.h defines __CUDA_API_VERSION_INTERNAL before cuda.h, so the
// driver API is declared under its real (_v2) names; cuda_runtime_api.h,
// included after it, then declares both the plain runtime names and their
// per-thread-default-stream twins (_ptsz/_ptds), which we define explicitly.
#pragma once

#include "cuda/driver.h"  // first: defines __CUDA_API_VERSION_INTERNAL

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#ifndef VGPU_CUDART_MAJOR
#error "VGPU_CUDART_MAJOR (12 or 13) must be defined"
#endif

namespace vgpu::cudart {

inline constexpr int kMajor = VGPU_CUDART_MAJOR;
// What cudaRuntimeGetVersion reports: the toolkit generation each flavour stands in for.
inline constexpr int kRuntimeVersion = kMajor == 13 ? 13000 : 12080;

// ---- errors ---------------------------------------------------------------------
// What a CUresult means at the runtime API, as NVIDIA's runtime maps it.
enum class Ctx { kGeneric, kFunction, kSymbol, kStream, kEvent };
cudaError_t from_cu(CUresult r, Ctx ctx = Ctx::kGeneric);
// Records `e` as the calling thread's last error (CUDA's rules: success and
// cudaErrorNotReady leave it alone; sticky errors stay for the process).
cudaError_t record(cudaError_t e);
inline cudaError_t record_cu(CUresult r, Ctx ctx = Ctx::kGeneric) { return record(from_cu(r, ctx)); }
// cudaErrorNotSupported after logging `name` once.
cudaError_t refuse(const char* name);
// Clears the calling thread's (non-sticky) last error (cudaDeviceReset).
void clear_last_error();

// ---- implicit initialisation ------------------------------------------------------
// The first runtime call of the process runs cuInit and retains the primary
// context; the first of each thread makes that context current. Returns the
// error to report (not yet recorded).
cudaError_t init();
// The calling thread's device (cudaSetDevice); always a valid ordinal after init().
int current_device();

// ---- streams ------------------------------------------------------------------------
// The stream a _ptsz entry point means: its NULL stream is the per-thread one.
inline cudaStream_t ptsz(cudaStream_t s) { return s ? s : cudaStreamPerThread; }
inline CUstream cu(cudaStream_t s) { return reinterpret_cast<CUstream>(s); }
// Remembers/forgets streams and events this process created (flags and
// priority for cudaStreamGetFlags/GetPriority; cudaDeviceReset destroys them).
void note_stream(cudaStream_t s, unsigned flags, int priority);
bool forget_stream(cudaStream_t s);
bool stream_info(cudaStream_t s, unsigned* flags, int* priority);
void note_event(cudaEvent_t e);
void forget_event(cudaEvent_t e);
void note_graph(cudaGraph_t g);
void forget_graph(cudaGraph_t g);
void note_graph_exec(cudaGraphExec_t x);
void forget_graph_exec(cudaGraphExec_t x);
// cudaDeviceReset's part for streams, events and graphs.
void reset_streams_events_graphs();

// ---- memory ---------------------------------------------------------------------------
// A copy of any kind, synchronous (cudaMemcpy's host-side semantics) or
// ordered in `stream`.
cudaError_t copy(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream, bool async);
// cudaDeviceReset's part for memory: frees what cudaMalloc*/cudaHostAlloc handed out.
void reset_memory();

// ---- modules ----------------------------------------------------------------------------
// Device address and size of a registered __device__/__constant__ variable
// (loads its module on first use).
cudaError_t symbol_address(const void* symbol, CUdeviceptr* ptr, size_t* size);

}  // namespace vgpu::cudart

// Every exported definition is extern "C" with the exact name NVIDIA's library exports.
#define VGPU_RT extern "C" __attribute__((visibility("default")))

// Refusal of an exported function: logs once, returns cudaErrorNotSupported.
#define VGPU_RT_REFUSE(name) return ::vgpu::cudart::refuse(name)

// Implicit initialisation at the top of an entry point.
#define VGPU_RT_INIT()                                                     \
  do {                                                                     \
    if (cudaError_t vgpu_e_ = ::vgpu::cudart::init(); vgpu_e_ != cudaSuccess) \
      return ::vgpu::cudart::record(vgpu_e_);                              \
  } while (0)
