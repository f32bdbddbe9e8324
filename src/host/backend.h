// A device backend: what the host executor needs from "the GPU".
//
// Two implementations: CudaBackend (the product: the real driver API, cuBLAS
// and NVML, in its own shared module libvgpu-backend-cuda.so so the daemon
// runs on machines without a driver) and CpuBackend (device memory in host
// RAM; copies, memsets and GEMMs done on the CPU; kernels refused), which lets
// CI run the whole guest -> ring -> host -> completion path without a GPU.
//
// Handlers (src/host/handlers_*.cc) validate everything the guest sent and
// translate guest handle ids to the Native values below before calling in;
// a backend may assume its arguments are the ones it issued, except device
// addresses, which come from the guest as they are and which the backend
// itself must check (the CUDA driver does so; the CPU backend looks them up).
//
// What a backend creates for a guest (streams, events, modules, graphs,
// cuBLAS handles, VMM objects, allocations) is owned by the session
// (src/host/session.h): it alone destroys them, in its teardown's order. A
// backend keeps of them only what it needs to compute with, and what it
// makes for itself (contexts, fences, caches) it destroys itself.
//
// All calls are made from one thread, the session's executor. Nothing may
// block on the device: synchronisation goes through fences that the executor
// polls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vgpu/ops.h"
#include "vgpu/status.h"

namespace vgpu::host {

using Native = uint64_t;  // the backend's own handle (a CUstream, CUevent, ... as an integer)

// The stream a handler passes for the legacy default stream.
inline constexpr Native kNativeLegacyStream = 0;

// Every method a device backend implements, declared once: X(return type,
// name, (parameters)). Backend declares them pure; each backend's class
// declares its overrides with VGPU_BACKEND_METHODS(VGPU_BACKEND_OVERRIDE),
// so a method added here is one line, and a backend that lacks its
// definition fails to link. The optional methods (with a default that
// refuses or does nothing) are Backend's own, below the list.
#define VGPU_BACKEND_METHODS(X) \
  X(BackendKind, kind, () const) \
  X(const char*, name, () const) \
  /* Session setup: `host_range` is this session's part of the shared region; */ \
  /* the CUDA backend registers it (cuMemHostRegister, device-mapped) so copies */ \
  /* DMA straight from and to it. Returns in *device_base the address kernels */ \
  /* can use for host_range's first byte (0 if not mappable). */ \
  X(Status, init, (int device)) \
  X(Status, register_host, (void* base, uint64_t bytes, uint64_t* device_base)) \
  X(int, driver_version, ()) \
  /* The host's version texts for the guest's NVML: fills HelloRep's */ \
  /* driver_version_text and nvml_version_text (NUL-terminated), leaving empty */ \
  /* what this host cannot tell, which the guest then refuses. */ \
  X(void, version_texts, (HelloRep* out)) \
  X(int, device_count, ()) \
  X(Status, device_info, (int ordinal, DeviceInfoRep* out)) \
  X(Status, mem_get_info, (uint64_t* free_bytes, uint64_t* total_bytes)) \
  /* Memory. Host pointers are inside the registered range. */ \
  X(Status, mem_alloc, (uint64_t bytes, DevPtr* out)) \
  X(Status, mem_free, (DevPtr p)) \
  X(Status, copy_htod, (DevPtr dst, const void* src, uint64_t n, Native stream)) \
  X(Status, copy_dtoh, (void* dst, DevPtr src, uint64_t n, Native stream)) \
  X(Status, copy_dtod, (DevPtr dst, DevPtr src, uint64_t n, Native stream)) \
  /* 2-D copy; for HtoD the src, for DtoH the dst is a host pointer (as an integer). */ \
  X(Status, copy_2d,                                                                                   \
    (CopyKind kind, uint64_t dst, uint64_t dpitch, uint64_t src, uint64_t spitch, uint64_t width,      \
     uint64_t height, Native stream))                                                                  \
  X(Status, memset, (DevPtr dst, uint32_t value, uint32_t elem_bytes, uint64_t count, Native stream)) \
  /* Streams and events. */ \
  X(Status, stream_create, (uint32_t flags, int priority, Native* out)) \
  X(Status, stream_destroy, (Native s)) \
  X(Status, stream_query, (Native s))  /* kOk (idle), kNotReady, or an error */ \
  /* The guest's cuStreamWriteValue32/64 (bytes 4 or 8) to device memory. */ \
  X(Status, stream_store, (Native s, DevPtr addr, uint64_t value, uint32_t bytes, uint32_t flags)) \
  X(Status, stream_wait_value, (Native s, DevPtr addr, uint64_t value, uint32_t bytes, uint32_t flags)) \
  X(Status, stream_wait_event, (Native s, Native e, uint32_t flags)) \
  X(Status, event_create, (uint32_t flags, Native* out)) \
  X(Status, event_destroy, (Native e)) \
  X(Status, event_record, (Native e, Native s, uint32_t flags)) \
  X(Status, event_query, (Native e))  /* kOk, kNotReady, or an error */ \
  X(Status, event_elapsed, (Native start, Native end, float* ms)) \
  /* Fences: "everything enqueued so far on `stream` (or, with all_streams, on */ \
  /* every stream of the session) is done". The executor polls them instead */ \
  /* of blocking, so one waiting guest thread never stalls the others. */ \
  X(Status, fence_create, (Native stream, bool all_streams, uint64_t* fence)) \
  X(Status, fence_poll, (uint64_t fence))  /* kOk when passed, kNotReady, or an error */ \
  X(void, fence_release, (uint64_t fence)) \
  /* Blocks until the device has done everything queued on every stream. Only */ \
  /* a session's teardown calls it (Session::release_all), once nothing is */ \
  /* served any more: the objects it destroys next must not go while queued */ \
  /* work still uses them. */ \
  X(Status, wait_idle, ()) \
  /* Stream capture and graphs. */ \
  X(Status, begin_capture, (Native s, uint32_t mode)) \
  X(Status, end_capture, (Native s, Native* graph)) \
  X(Status, capture_status, (Native s, uint32_t* status, uint64_t* id)) \
  X(Status, graph_instantiate, (Native graph, uint64_t flags, Native* exec)) \
  X(Status, graph_node_count, (Native graph, uint64_t* count)) \
  X(Status, graph_exec_update, (Native exec, Native graph, int32_t* result)) \
  X(Status, graph_launch, (Native exec, Native s)) \
  X(Status, graph_exec_destroy, (Native exec)) \
  X(Status, graph_destroy, (Native graph)) \
  /* Modules and kernels. module_function also reports the parameter layout */ \
  /* (cuFuncGetParamInfo); *param_status says whether that worked. */ \
  X(Status, module_load, (const void* image, uint64_t bytes, Native* out)) \
  X(Status, module_unload, (Native m)) \
  X(Status, module_function,                                                                          \
    (Native m, const char* name, Native* fn, std::vector<ParamSlot>* params, Status* param_status))     \
  X(Status, module_global, (Native m, const char* name, DevPtr* ptr, uint64_t* bytes)) \
  /* The module's kernels by name, as cuModuleEnumerateFunctions lists them. */ \
  X(Status, module_functions, (Native m, std::vector<std::string>* names)) \
  X(Status, func_get_attribute, (Native fn, int attr, int* value)) \
  X(Status, func_set_attribute, (Native fn, int attr, int value)) \
  X(Status, occupancy_max_blocks, (Native fn, int block_size, uint64_t dyn_smem, uint32_t flags, int* blocks)) \
  X(Status, occupancy_available_smem, (Native fn, int num_blocks, int block_size, uint64_t* bytes)) \
  X(Status, occupancy_clusters, (Native fn, const OccupancyClustersReq& r, int* value)) \
  /* `params` is the packed argument buffer laid out as module_function reported. */ \
  X(Status, launch, (Native fn, const LaunchReq& r, Native stream, void* params, uint32_t param_bytes)) \
  /* Virtual memory management. */ \
  X(Status, va_reserve, (uint64_t size, uint64_t alignment, uint64_t addr, uint64_t flags, DevPtr* out)) \
  X(Status, va_free, (DevPtr ptr, uint64_t size)) \
  X(Status, mem_create, (const MemProp& r, Native* out)) \
  X(Status, mem_release, (Native h)) \
  X(Status, mem_map, (DevPtr ptr, uint64_t size, uint64_t offset, Native h)) \
  X(Status, mem_unmap, (DevPtr ptr, uint64_t size)) \
  X(Status, mem_set_access, (DevPtr ptr, uint64_t size, int device, uint32_t flags)) \
  X(Status, mem_granularity, (const MemProp& r, uint32_t option, uint64_t* out)) \
  /* cuBLAS. Return a cublasStatus_t value (0 = success) in *blas_status; the */ \
  /* Status result is for failures outside cuBLAS (bad stream, ...). */ \
  X(Status, blas_create, (Native* out)) \
  X(Status, blas_destroy, (Native h)) \
  /* Applies the guest's stream / math mode / workspace / pointer mode to h. */ \
  X(Status, blas_gemm, (Native h, Native stream, const GemmReq& r, int* blas_status)) \
  X(Status, blas_trsm_batched, (Native h, Native stream, const TrsmBatchedReq& r, int* blas_status)) \
  X(Status, blas_l12, (Native h, Native stream, const BlasL12Req& r, float* value, int* blas_status)) \
  /* cuBLASLt, on the session's one cuBLASLt handle (cuBLASLt keeps no per-call */ \
  /* state in its handle: the stream comes with each matmul). The handler has */ \
  /* checked that only carried attributes are set (kLt*AttrBytes) and that */ \
  /* 1 <= requested <= kLtMaxResults. lt_heuristic fills out->status/count/results; */ \
  /* lt_matmul must refuse an algo that lt_heuristic did not hand out. */ \
  X(Status, lt_heuristic, (const LtHeuristicReq& r, LtHeuristicRep* out)) \
  X(Status, lt_matmul, (Native stream, const LtMatmulReq& r, int* blas_status)) \
  /* NVML figures of the device, each with the host NVML's status (ops.h, */ \
  /* NvmlFig); a backend without NVML sets every status to NOT_SUPPORTED. */ \
  /* PCIe throughput (slow) only with kNvmlWithPcieThroughput in flags. */ \
  X(Status, nvml_query, (uint32_t flags, NvmlRep* out)) \
  /* nvmlDeviceGetFieldValues on the device, r.count <= kNvmlMaxFields. */ \
  X(Status, nvml_field_values, (const NvmlFieldValuesReq& r, NvmlFieldValuesRep* out))
#define VGPU_BACKEND_OVERRIDE(ret, name, params) ret name params override;

class Backend {
 public:
  virtual ~Backend() = default;

#define VGPU_BACKEND_PURE(ret, name, params) virtual ret name params = 0;
  VGPU_BACKEND_METHODS(VGPU_BACKEND_PURE)
#undef VGPU_BACKEND_PURE

  // ---- optional: a backend overrides these where it can do the work ----
  // Has the device itself store `value` (8 bytes) at `device_addr`, a device
  // address of registered host memory, once everything enqueued on `s` so far
  // is done: how a synchronise can be answered without the host in between.
  // kNotSupported where the device cannot (the CPU backend).
  virtual Status stream_write_value(Native, uint64_t /*device_addr*/, uint64_t /*value*/) {
    return st::kNotSupported;
  }
  // Sets the executor thread's stream capture mode (CUstreamCaptureMode) for
  // the records that follow. Where no capture can exist (the CPU backend
  // refuses capture) the mode governs nothing, and the default is right.
  virtual Status set_capture_mode(uint32_t) { return st::kOk; }
  // A tensor map descriptor (cuTensorMapEncode*), written to out[16]. Only a
  // backend with NVIDIA's driver can encode one.
  virtual Status tensor_map_encode(const TensorMapReq&, uint64_t* /*out[16]*/) { return st::kNotSupported; }
  // cuCtxSetLimit (when `set`) then cuCtxGetLimit on the session's context.
  // The CPU backend runs no kernels, so it has no limits to keep.
  virtual Status ctx_limit(int /*limit*/, bool /*set*/, uint64_t /*value*/, uint64_t* /*out*/) {
    return st::kNotSupported;
  }
  // cuGraphUpload of an executable graph in stream order. Where graphs
  // cannot exist (the CPU backend refuses capture) there is nothing to upload.
  virtual Status graph_upload(Native /*exec*/, Native /*s*/) { return st::kNotSupported; }
  // nvmlDeviceGetP2PStatus of the device with itself for `caps_index` (<
  // kNvmlP2PCapsIndexCount): NVML's return code and status as they are. A
  // backend without NVML (the default) has no answer.
  virtual Status nvml_p2p_status(uint32_t /*caps_index*/, NvmlP2PStatusRep* /*out*/) { return st::kNotSupported; }
};

// The CPU backend with `memory_bytes` of "device memory" (0: its default,
// 4 GiB). The size comes from the daemon's configuration (--cpu-mem-mb,
// VGPU_CPU_MEM_MB; host_config.h), never from the backend's own look at the
// environment.
std::unique_ptr<Backend> make_cpu_backend(uint64_t memory_bytes);

// Loads libvgpu-backend-cuda.so (next to the daemon, or on the library path)
// and creates its backend; nullptr with *why set when there is no usable GPU.
std::unique_ptr<Backend> load_cuda_backend(std::string* why);

}  // namespace vgpu::host
