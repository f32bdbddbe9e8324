// CudaBackend: the product backend. Runs a session's calls on the real GPU
// through the CUDA driver API, cuBLAS and (dlopen'ed) NVML.
//
// Built as its own module, libvgpu-backend-cuda.so, so vgpu-hostd runs on
// machines without a driver; the module exports exactly one symbol,
// vgpu_create_cuda_backend (see exports.map). Everything here is hidden.
//
// Threading: every call comes from the session's executor thread, the one
// that called init() and on which the device's primary context was made
// current. Nothing here takes a lock.
//
// Conventions (see backend.h for the interface contract):
//  * Status values are CUresult values, so a driver result is returned as is.
//  * Native handles are the driver's own handles as integers (CUstream,
//    CUevent, CUmodule, CUfunction, CUgraph, CUgraphExec,
//    CUmemGenericAllocationHandle, cublasHandle_t). Native stream 0 is the
//    legacy default stream (CU_STREAM_LEGACY).
//  * MemProp::alloc_flags packs CUmemAllocationProp::allocFlags:
//      bits  0..7   compressionType       (CU_MEM_ALLOCATION_COMP_*)
//      bits  8..15  gpuDirectRDMACapable  (0 or 1)
//      bits 16..31  usage                 (CU_MEM_CREATE_USAGE_*)
//  * cuBLAS scalars: GemmReq alpha/beta are bytes of the compute type's
//    scalar (host pointer mode) or a device address in their first 8 bytes
//    (device pointer mode). TrsmBatchedReq and BlasL12Req carry alpha/beta as
//    floats by value, so those calls always run in host pointer mode, except
//    the *result* of Sdot/Snrm2: with pointer_mode 1 it is written to the
//    device address BlasL12Req::a; with pointer_mode 0 to *value (cuBLAS then
//    waits for the stream). Vector routines take their length from
//    BlasL12Req::n.
//  * Ownership: what the guest's calls create (streams, events, modules,
//    graphs, executables, cuBLAS handles, VMM objects, allocations) is the
//    session's to destroy (src/host/session.h); this backend keeps only what
//    it computes with (see its members). What it makes for itself (the
//    context, host registrations, fence events, the cuBLASLt handle and
//    descriptors) it destroys itself, in its destructor.
//  * Fences: one event (CU_EVENT_DISABLE_TIMING, from a free list) per
//    stream; an all-streams fence records on the legacy stream and on every
//    stream this backend created. Recording into a capturing stream is
//    refused (kStreamCaptureUnsupported, or kStreamCaptureInvalidated for an
//    invalidated capture, or the driver's error for the legacy stream while a
//    blocking stream captures), without touching the capture, as CUDA
//    refuses a synchronisation during capture.
#pragma once

#include <cuda.h>
#include <cublasLt.h>
#include <cublas_v2.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend.h"
#include "vgpu/ops.h"
#include "vgpu/status.h"

namespace vgpu::host::cuda {

// printf-style line on stderr, prefixed "vgpu-hostd[cuda]: ". Not for hot paths.
void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
const char* cu_error_name(CUresult r);

inline Status to_status(CUresult r) { return static_cast<Status>(r); }

inline CUstream to_cu_stream(Native s) {
  return s == kNativeLegacyStream ? CU_STREAM_LEGACY : reinterpret_cast<CUstream>(s);
}
template <class T>
inline T from_native(Native n) {
  return reinterpret_cast<T>(static_cast<uintptr_t>(n));
}
template <class T>
inline Native to_native(T p) {
  return static_cast<Native>(reinterpret_cast<uintptr_t>(p));
}

class CudaBackend final : public Backend {
 public:
  CudaBackend();
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  // Every method of backend.h's list: cuda_backend.cc (memory, copies,
  // streams, events, fences), cuda_graphs.cc, cuda_modules.cc, cuda_vmm.cc,
  // cuda_blas.cc, cuda_lt.cc, cuda_nvml.cc.
  VGPU_BACKEND_METHODS(VGPU_BACKEND_OVERRIDE)

  // The optional ones this backend can do.
  Status stream_write_value(Native s, uint64_t device_addr, uint64_t value) override;
  Status set_capture_mode(uint32_t mode) override;
  Status tensor_map_encode(const TensorMapReq& r, uint64_t* out) override;
  Status graph_upload(Native exec, Native s) override;  // cuda_graphs.cc
  Status ctx_limit(int limit, bool set, uint64_t value, uint64_t* out) override;  // cuda_modules.cc
  Status nvml_p2p_status(uint32_t caps_index, NvmlP2PStatusRep* out) override;   // cuda_nvml.cc

 private:
  // ---- fences (cuda_backend.cc)
  struct Fence {
    std::vector<CUevent> events;  // capacity kept when the node is recycled
    uint32_t done = 0;            // events[0, done) are known complete
  };
  using FenceMap = std::unordered_map<uint64_t, Fence>;
  Status take_event(CUevent* e);
  Status capture_check(CUstream s);  // kOk when recording into s is allowed

  // ---- cuBLAS (cuda_blas.cc)
  // What we last set on a handle, so unchanged state costs no call.
  struct BlasCache {
    CUstream stream = nullptr;  // cublasCreate's default: the NULL stream
    DevPtr workspace = 0;       // 0/0: cuBLAS's default workspace pool
    uint64_t workspace_bytes = 0;
    uint32_t math_mode = 0;     // CUBLAS_DEFAULT_MATH
    uint32_t pointer_mode = 0;  // CUBLAS_POINTER_MODE_HOST
  };
  cublasStatus_t blas_apply(cublasHandle_t h, BlasCache& c, CUstream stream, const BlasState& s,
                            uint32_t pointer_mode);
  BlasCache* blas_cache(Native h);

  // ---- cuBLASLt (cuda_lt.cc): one handle for the session, made on first use
  // (cuBLASLt takes the stream per call, so guest handles need no host twin);
  // the algos the heuristic handed out, the only ones a matmul may name.
  cublasLtHandle_t lt_ = nullptr;
  std::set<std::array<uint64_t, 8>> lt_algos_;
  // Real descriptors by the problem's bytes: a model's layers repeat the same
  // few problems, and making descriptors anew costs microseconds per GEMM on
  // the executor. Owned here, deleted by lt_close().
  struct LtObjects;
  std::unordered_map<std::string, LtObjects*> lt_problems_;
  cublasStatus_t lt_open();
  void lt_close();
  cublasStatus_t lt_objects(const LtProblem& p, LtObjects** out);

  // ---- teardown helpers
  void destroy_all();

  bool initialized_ = false;
  bool stream_writes_ok_ = true;  // cuStreamWriteValue64 works here (cleared on its first failure)
  int ordinal_ = -1;
  CUdevice dev_ = 0;
  CUcontext ctx_ = nullptr;

  struct HostRange {
    void* base;
    uint64_t bytes;
  };
  std::vector<HostRange> registered_;

  // The live streams this backend made: an all-streams fence (a context
  // synchronise) records on each. Not a list of what to destroy: the session
  // destroys its streams (stream_destroy takes them out).
  std::set<CUstream> streams_;
  // What we last set on each live cuBLAS handle (blas_apply); an entry goes
  // with blas_destroy. A handle the session never destroyed is reported,
  // not destroyed, when the backend goes (destroy_all).
  std::unordered_map<cublasHandle_t, BlasCache> blas_;

  FenceMap fences_;
  std::vector<FenceMap::node_type> fence_nodes_;  // recycled map nodes: no allocation per fence
  std::vector<CUevent> free_events_;              // recycled CU_EVENT_DISABLE_TIMING events
  uint64_t next_fence_ = 1;

  // ---- NVML (cuda_nvml.cc), loaded on first use (nvml_query, version_texts)
  struct Nvml;
  Nvml* nvml_ = nullptr;
  bool nvml_tried_ = false;
  int nvml_load_status_ = 0;
  Nvml* nvml_open();  // the loaded, initialised NVML, or nullptr (nvml_load_status_ says why)
  Status nvml_device(Nvml** out, int32_t* nvml_status);  // nvml_open, then the session's device in it
  void nvml_unload();
};

}  // namespace vgpu::host::cuda
