// The export tables NVIDIA's runtime uses to load its modules and to create
// and check contexts, and the tools tables it reads at start-up. Layouts and
// slot meanings: docs/export-tables.md.
#include "export_tables.h"

namespace vgpu::guest::exports {

namespace {
template <typename F>
const void* fn(F* f) {
  return reinterpret_cast<const void*>(f);
}

// ---- CUDART_INTERFACE: module loading and primary contexts --------------------------------------
constexpr char kRuntime[] = "CUDART_INTERFACE";
constexpr size_t kRuntimeSlots = 13;

// The runtime registers its fatbins (__cudaRegisterFatBinary) through these:
// the image is a fatbin wrapper (magic 0x466243b1) or a fatbin header, which
// cuModuleLoadData already reads.
CUresult load_module(CUmodule* out, const void* image) {
  if (!out || !image) return CUDA_ERROR_INVALID_VALUE;
  return cuModuleLoadData(out, image);
}
CUresult rt_module_from_wrapper(CUmodule* out, const void* wrapper) {
  trace_slot(kRuntime, 1);
  return load_module(out, wrapper);
}
// The primary context of a device, without making it current (the runtime
// then makes it current itself).
CUresult rt_primary_context(CUcontext* pctx, CUdevice dev) {
  trace_slot(kRuntime, 2);
  return cuDevicePrimaryCtxRetain(pctx, dev);
}
// Same as slot 1 with three more arguments whose meaning no public note
// gives; they are null/0 in the calls seen. Anything else is refused rather
// than ignored.
CUresult rt_module_from_wrapper_ext(CUmodule* out, const void* wrapper, void* a3, void* a4, unsigned a5) {
  trace_slot(kRuntime, 6);
  if (a3 || a4 || a5) VGPU_REFUSE("CUDART_INTERFACE[6] (module from fatbin) with extra arguments");
  return load_module(out, wrapper);
}
// Takes one word and returns nothing; no public note says what it does and
// NVIDIA's driver has no observable effect for it. Traced, nothing else.
void rt_slot7(size_t) { trace_slot(kRuntime, 7); }
CUresult rt_module_from_header_ext(const void* header, CUmodule* out, void* a3, void* a4, unsigned a5) {
  trace_slot(kRuntime, 8);
  if (a3 || a4 || a5) VGPU_REFUSE("CUDART_INTERFACE[8] (module from fatbin) with extra arguments");
  return load_module(out, header);
}
// NVIDIA's driver loads its PTX compiler and NVVM here. Ours compiles on the
// host (its driver has them), so there is nothing to load in the guest.
CUresult rt_load_compilers() {
  trace_slot(kRuntime, 12);
  return CUDA_SUCCESS;
}

const auto g_runtime = [] {
  auto t = refusing_slots<kRuntime, kRuntimeSlots>();
  t[0] = size_slot<kRuntimeSlots>();
  t[1] = fn(&rt_module_from_wrapper);
  t[2] = fn(&rt_primary_context);
  t[6] = fn(&rt_module_from_wrapper_ext);
  t[7] = fn(&rt_slot7);
  t[8] = fn(&rt_module_from_header_ext);
  t[12] = fn(&rt_load_compilers);
  return t;
}();

// ---- TOOLS_TLS and TOOLS_RUNTIME_CALLBACK_HOOKS: for profilers ---------------------------------
// Tools (CUPTI) hook the runtime through these. The runtime reads the size of
// TOOLS_TLS; slots 1 and 3 stay empty (data the driver fills for a tool).
// Slot 2 is a function: the calling thread's current context into *out
// (public notes name it get_thread_context). cuBLASLt 13 calls it in its
// matmul heuristics to key per-context caches (then asks TOOLS_CONTEXT for
// the context's number, below); an empty slot there was a call to address 0.
constexpr char kToolsTls[] = "TOOLS_TLS";
CUresult tls_thread_context(CUcontext* out) {
  trace_slot(kToolsTls, 2);
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  *out = current_context();
  return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}
constexpr size_t kToolsTlsSlots = 4;
const std::array<const void*, kToolsTlsSlots> g_tools_tls = {size_slot<kToolsTlsSlots>(), nullptr,
                                                             fn(&tls_thread_context), nullptr};

// Slots 2 and 6 hand the runtime a zeroed buffer and its size: the place
// where an attached tool's callback state would live. No tool is attached in
// the guest, so the runtime finds every callback off.
constexpr char kCallbacks[] = "TOOLS_RUNTIME_CALLBACK_HOOKS";
constexpr size_t kCallbackSlots = 7;
alignas(64) unsigned char g_callback_buffer1[1024 * 4];
alignas(64) unsigned char g_callback_buffer2[14 * 4];
void cb_buffer1(void** p, size_t* n) {
  trace_slot(kCallbacks, 2);
  if (p) *p = g_callback_buffer1;
  if (n) *n = 1024;  // what NVIDIA's driver reports; the buffer is larger
}
void cb_buffer2(void** p, size_t* n) {
  trace_slot(kCallbacks, 6);
  if (p) *p = g_callback_buffer2;
  if (n) *n = 14;
}
const auto g_callbacks = [] {
  auto t = refusing_slots<kCallbacks, kCallbackSlots>();
  t[0] = size_slot<kCallbackSlots>();
  t[2] = fn(&cb_buffer1);
  t[6] = fn(&cb_buffer2);
  return t;
}();

// ---- CTX_CREATE_BYPASS: cuCtxCreate_v2 without the runtime's own hooks --------------------------
constexpr char kBypass[] = "CTX_CREATE_BYPASS";
CUresult bypass_ctx_create(CUcontext* pctx, unsigned flags, CUdevice dev) {
  trace_slot(kBypass, 1);
  return cuCtxCreate_v2(pctx, flags, dev);
}
const auto g_bypass = [] {
  auto t = refusing_slots<kBypass, 2>();
  t[0] = size_slot<2>();
  t[1] = fn(&bypass_ctx_create);
  return t;
}();

// ---- HEAP_ACCESS, DEVICE_EXTENDED_RT: meanings not public; refused ----------------------------
constexpr char kHeap[] = "HEAP_ACCESS";
const auto g_heap = [] {
  auto t = refusing_slots<kHeap, 3>();
  t[0] = size_slot<3>();
  return t;
}();
constexpr char kDeviceExt[] = "DEVICE_EXTENDED_RT";
const auto g_device_ext = [] {
  auto t = refusing_slots<kDeviceExt, 26>();
  t[0] = size_slot<26>();
  return t;
}();

// ---- TOOLS_CONTEXT -----------------------------------------------------------------------------
// Asked for by cuBLAS(Lt) and cuFFT. Slot 4 (public notes: the context's
// number) is (CUcontext, unsigned long long* out), a null context meaning the
// current one: the context's unique id, what cuCtxGetId gives. cuBLASLt keys
// its per-context heuristics cache by it; without the table its matmul
// heuristics found no algorithm (CUBLAS_STATUS_NOT_SUPPORTED). Slots 39 and
// 51: below. The other slots' meanings are not public: refused. 95 slots in
// all, the size a recent driver reports.
constexpr char kToolsContext[] = "TOOLS_CONTEXT";
CUresult context_number(CUcontext ctx, unsigned long long* out) {
  trace_slot(kToolsContext, 4);
  return cuCtxGetId(ctx, out);
}
// Slots 51 and 39 serve cuBLAS's own workspace pool, used when the caller
// set no workspace (CuPy; PyTorch sets one): cuBLAS keys each pool entry by
// the stream, asking slot 51 to resolve the stream it was given, in a
// context, into the stream itself, (CUcontext, CUstream, CUstream* out, int
// per_thread), 0 meaning the per-thread stream where per_thread is set, else
// the legacy one; then slot 39 for that stream's unique number,
// (CUcontext, CUstream, unsigned long long* out), as cuStreamGetId gives it.
// Seen under gdb: refused, either ends the GEMM in CUBLAS_STATUS_INTERNAL_ERROR.
// A null context means the current one; a stream must be one of ours.
CUresult context_stream(CUcontext ctx, CUstream s, CUstream* out, int per_thread) {
  trace_slot(kToolsContext, 51);
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  if (!ctx && !current_context()) return CUDA_ERROR_INVALID_CONTEXT;
  if (!s) s = per_thread ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY;
  CUcontext owner = nullptr;
  if (CUresult r = cuStreamGetCtx(s, &owner); r != CUDA_SUCCESS) return r;
  *out = s;
  return CUDA_SUCCESS;
}
CUresult context_stream_number(CUcontext ctx, CUstream s, unsigned long long* out) {
  trace_slot(kToolsContext, 39);
  if (!ctx && !current_context()) return CUDA_ERROR_INVALID_CONTEXT;
  return cuStreamGetId(s, out);
}
const auto g_tools_context = [] {
  auto t = refusing_slots<kToolsContext, 95>();
  t[0] = size_slot<95>();
  t[4] = fn(&context_number);
  t[39] = fn(&context_stream_number);
  t[51] = fn(&context_stream);
  return t;
}();

// ---- CONTEXT_CHECKS ----------------------------------------------------------------------------
// Slot 2 asks whether a context carries some state bits (NVIDIA's driver
// answers 0 for every ordinary context); slot 3 a global flag, also 0. Our
// contexts carry none of those bits.
constexpr char kChecks[] = "CONTEXT_CHECKS";
CUresult check_context(CUcontext, unsigned* bits, const void**) {
  trace_slot(kChecks, 2);
  if (!bits) return CUDA_ERROR_INVALID_VALUE;
  *bits = 0;
  return CUDA_SUCCESS;
}
unsigned check_global() {
  trace_slot(kChecks, 3);
  return 0;
}
const auto g_checks = [] {
  auto t = refusing_slots<kChecks, 4>();
  t[0] = size_slot<4>();
  t[2] = fn(&check_context);
  t[3] = fn(&check_global);
  return t;
}();
}  // namespace

const Table& runtime_interface_table() {
  static const Table t{kRuntime, uuid("6BD5FB6C-5BF4-E74A-8987-D93912FD9DF9"), g_runtime.data()};
  return t;
}
const Table& tools_tls_table() {
  static const Table t{kToolsTls, uuid("42D85A81-23F6-CB47-8298-F6E78A3AECDC"), g_tools_tls.data()};
  return t;
}
const Table& tools_callbacks_table() {
  static const Table t{kCallbacks, uuid("A094798C-2E74-2E74-93F2-0800200C0A66"), g_callbacks.data()};
  return t;
}
const Table& ctx_create_bypass_table() {
  static const Table t{kBypass, uuid("0CA50B8C-1004-929A-89A7-D0DF10E77286"), g_bypass.data()};
  return t;
}
const Table& heap_access_table() {
  static const Table t{kHeap, uuid("195BCBF4-D67D-024A-ACC5-1D29CEA631AE"), g_heap.data()};
  return t;
}
const Table& device_extended_table() {
  static const Table t{kDeviceExt, uuid("B10541E1-F7C7-C74A-9F64-F223BE99F1E2"), g_device_ext.data()};
  return t;
}
const Table& tools_context_table() {
  static const Table t{kToolsContext, uuid("21318C60-9714-3248-8CA6-41FF7324C8F2"), g_tools_context.data()};
  return t;
}
const Table& context_checks_table() {
  static const Table t{kChecks, uuid("263E8860-7CD2-6143-92F6-BBD5006DFA7E"), g_checks.data()};
  return t;
}
// The address of CUDART_INTERFACE enters the integrity check's hash.
const void* runtime_interface_address() { return g_runtime.data(); }

}  // namespace vgpu::guest::exports
