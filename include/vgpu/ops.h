// The operation list: every call that crosses the ring, declared once.
//
// VGPU_OPS(X) names each op with its mode, its policy and its request and
// reply layouts. From it come the opcode enum, the names used in traces and
// counters (op_name), the per-op traits the guest encoder uses (OpTraits: how
// a record of the op is flagged), and the host's dispatch table and handler
// declarations (src/host/dispatch.*). Adding an op: docs/design.md, "How to
// add an operation".
//
// A record's payload is the request struct, then (for ops that say so) inline
// bytes. A Sync op's reply struct is written at the start of the channel's
// reply buffer, followed by any variable-size reply bytes the op defines.
// Posted ops return nothing now; an error they meet is reported by the next
// Sync op's Completion::async_error, as CUDA reports asynchronous errors.
//
// Host memory named in a request is an arena offset (relative to the slot's
// arena), or kInline for bytes that follow the request in the record. Device
// pointers are the host's real device addresses. Handles (streams, events,
// modules, functions, graphs, cuBLAS handles, VMM allocations) are ids the
// host issued and checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>

#include "vgpu/ring.h"

namespace vgpu {

using Handle = uint64_t;
using DevPtr = uint64_t;
inline constexpr uint64_t kInline = ~0ull;

// Stream ids with fixed meaning (the CUDA runtime's own values).
inline constexpr Handle kStreamLegacy = 0;     // NULL / cudaStreamLegacy (1) map here
inline constexpr Handle kStreamLegacyAlt = 1;
inline constexpr Handle kStreamPerThread = 2;  // the calling guest thread's (channel's) stream

// kSync: the guest waits for the host's answer (the record carries
// kFlagWantCompletion). kPosted: it does not (errors come back later as
// asynchronous errors), unless the op's policy says it may ask (kAwaitable).
enum class Mode : uint8_t { kPosted, kSync };
// What else the guest may ask of a record of the op (its ring flags):
//   kPlain        nothing beyond its mode;
//   kDeviceAnswer a Sync op the device itself may answer (kFlagDeviceAnswer:
//                 the stream stores the record's seq, no host hop); the host
//                 ignores that flag on any other op;
//   kAwaitable    a Posted op the guest may still send wanting a completion,
//                 to learn when its memory may be reused (the staged copies
//                 through arena chunks, and pinned copies made synchronous).
enum class Policy : uint8_t { kPlain, kDeviceAnswer, kAwaitable };

// Each request declares how a trace line prints it, next to its fields.
#define VGPU_TRACE(fmtstr, ...)                                   \
  static constexpr const char* kTraceFmt = fmtstr;                \
  auto trace_args() const { return std::make_tuple(__VA_ARGS__); }

struct Empty {
  VGPU_TRACE("")
};

// ---- session ----------------------------------------------------------------
// Bumped whenever a request or reply layout changes: the host refuses a
// guest built against another layout (Hello fails) instead of misreading it.
// 2: HelloRep carries the host's driver and NVML version texts.
// 3: NvmlRep carries every NVML figure with its own status; NvmlProcesses,
//    NvmlFieldValues; cuBLASLt (LtHeuristic, LtMatmul); GraphInstantiate
//    carries flags; GraphNodeCount; ThreadCaptureMode; StreamWriteValue;
//    TensorMapEncode; CtxLimit.
// 4: each op its own request type (MemRelease, BlasDestroy, GraphExecDestroy
//    no longer take GraphReq; MemGranularity its own MemGranularityReq);
//    per-op policies; HelloReq carries the guest's wire layout fingerprint.
// 5: OccupancySmem, OccupancyClusters, StreamWaitValue; BlasL12Req's spare
//    word carries DotEx's types.
// 6: NvmlP2PStatus.
// 7: ModuleFunctions.
// 8: GraphUpload.
// Every layout is pinned below ("the wire layouts, pinned"), and their
// fingerprint (wire_layout()) with it: a change to any fails to compile
// until the pins, the fingerprint and this number are updated together.
inline constexpr uint32_t kGuestAbi = 8;
// The fingerprint of every op's layout (defined after the op list).
constexpr uint64_t wire_layout();
struct HelloReq {
  uint32_t abi;
  uint32_t pid;
  // The sender's wire_layout(): the host refuses a guest whose layouts differ
  // from its own even where both claim the same kGuestAbi (a build from a
  // tree that changed a layout and forgot the bump).
  uint64_t layout = wire_layout();
  VGPU_TRACE("abi={} pid={} layout={:#x}", abi, pid, layout)
};
enum class BackendKind : uint32_t { kCpu = 0, kCuda = 1 };
// NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE and NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE.
inline constexpr size_t kVersionTextBytes = 80;
struct HelloRep {
  uint32_t backend;          // BackendKind
  int32_t driver_version;    // the host driver's cuDriverGetVersion
  int32_t device_count;
  uint32_t reserved;
  uint64_t host_arena_base;  // host address of the slot's arena (device-mapped under CUDA)
  // System-wide texts the guest's NVML hands out, NUL-terminated; empty where
  // the host cannot tell (no NVML there), and then the guest refuses the call.
  char driver_version_text[kVersionTextBytes];  // host NVML's nvmlSystemGetDriverVersion ("580.95.05")
  char nvml_version_text[kVersionTextBytes];    // host NVML's nvmlSystemGetNVMLVersion
};
static_assert(sizeof(HelloRep) == 24 + 2 * kVersionTextBytes);

// Device description, fetched once and cached by the guest. Attributes are
// indexed by CUdevice_attribute value.
inline constexpr uint32_t kMaxDeviceAttr = 160;
struct DeviceInfoReq {
  int32_t ordinal;
  uint32_t reserved;
  VGPU_TRACE("dev={}", ordinal)
};
struct DeviceInfoRep {
  char name[256];
  uint8_t uuid[16];
  char pci_bus_id[32];
  uint64_t total_mem;
  int32_t attr[kMaxDeviceAttr];
  uint8_t luid[8];
  uint32_t node_mask;
  uint32_t reserved;
};

struct MemGetInfoRep {
  uint64_t free_bytes;
  uint64_t total_bytes;
};

// ---- memory -----------------------------------------------------------------
struct MemAllocReq {
  uint64_t bytes;
  VGPU_TRACE("bytes={}", bytes)
};
struct DevPtrRep {
  DevPtr ptr;
};
struct MemFreeReq {
  DevPtr ptr;
  VGPU_TRACE("ptr={:#x}", ptr)
};
// Host->device. src is an arena offset, or kInline with `bytes` inline.
struct MemcpyHtoDReq {
  DevPtr dst;
  uint64_t src;
  uint64_t bytes;
  Handle stream;
  VGPU_TRACE("dst={:#x} src={:#x} bytes={} stream={}", dst, src, bytes, stream)
};
struct MemcpyDtoHReq {
  uint64_t dst;  // arena offset
  DevPtr src;
  uint64_t bytes;
  Handle stream;
  VGPU_TRACE("dst={:#x} src={:#x} bytes={} stream={}", dst, src, bytes, stream)
};
struct MemcpyDtoDReq {
  DevPtr dst;
  DevPtr src;
  uint64_t bytes;
  Handle stream;
  VGPU_TRACE("dst={:#x} src={:#x} bytes={} stream={}", dst, src, bytes, stream)
};
enum class CopyKind : uint32_t { kHtoD = 1, kDtoH = 2, kDtoD = 3 };
// 2-D copy; the host side of HtoD/DtoH is an arena offset.
struct Memcpy2DReq {
  uint32_t kind;  // CopyKind
  uint32_t reserved;
  uint64_t dst, dpitch, src, spitch, width, height;
  Handle stream;
  VGPU_TRACE("kind={} dst={:#x} dpitch={} src={:#x} spitch={} width={} height={} stream={}", kind,
             dst, dpitch, src, spitch, width, height, stream)
};
struct MemsetReq {
  DevPtr dst;
  uint32_t value;
  uint32_t elem_bytes;  // 1, 2 or 4
  uint64_t count;       // elements
  Handle stream;
  VGPU_TRACE("dst={:#x} value={:#x} elem={} count={} stream={}", dst, value, elem_bytes, count, stream)
};

// ---- streams, events, context -------------------------------------------------
struct StreamCreateReq {
  uint32_t flags;
  int32_t priority;
  VGPU_TRACE("flags={} priority={}", flags, priority)
};
struct HandleRep {
  Handle handle;
};
// Ops that name one stream: each its own type (the handler's signature says
// which op it serves; a layout change to one cannot slip into another).
#define VGPU_STREAM_REQ(T)      \
  struct T {                    \
    Handle stream;              \
    VGPU_TRACE("stream={}", stream) \
  };
VGPU_STREAM_REQ(StreamDestroyReq)
VGPU_STREAM_REQ(StreamSynchronizeReq)
VGPU_STREAM_REQ(StreamQueryReq)
VGPU_STREAM_REQ(StreamEndCaptureReq)
VGPU_STREAM_REQ(StreamCaptureStatusReq)
#undef VGPU_STREAM_REQ
struct StreamWaitEventReq {
  Handle stream;
  Handle event;
  uint32_t flags;
  uint32_t reserved;
  VGPU_TRACE("stream={} event={} flags={}", stream, event, flags)
};
// cuStreamWriteValue32/64: the device stores `value` (4 or 8 bytes) at the
// device address `addr` once the stream's earlier work is done.
struct StreamWriteValueReq {
  Handle stream;
  DevPtr addr;
  uint64_t value;
  uint32_t bytes;  // 4 or 8
  uint32_t flags;  // CUstreamWriteValue_flags
  VGPU_TRACE("stream={} addr={:#x} value={:#x} bytes={} flags={}", stream, addr, value, bytes, flags)
};
// cuStreamWaitValue32/64: the stream's later work waits until the 4 or 8
// bytes at `addr` meet the condition in `flags` (CUstreamWaitValue_flags:
// GEQ, EQ, AND, NOR; FLUSH).
struct StreamWaitValueReq {
  Handle stream;
  DevPtr addr;
  uint64_t value;
  uint32_t bytes;  // 4 or 8
  uint32_t flags;
  VGPU_TRACE("stream={} addr={:#x} value={:#x} bytes={} flags={}", stream, addr, value, bytes, flags)
};
struct BeginCaptureReq {
  Handle stream;
  uint32_t mode;  // CUstreamCaptureMode
  uint32_t reserved;
  VGPU_TRACE("stream={} mode={}", stream, mode)
};
struct CaptureStatusRep {
  uint32_t status;  // CUstreamCaptureStatus
  uint32_t reserved;
  uint64_t id;
};
struct EventCreateReq {
  uint32_t flags;
  uint32_t reserved;
  VGPU_TRACE("flags={}", flags)
};
#define VGPU_EVENT_REQ(T)      \
  struct T {                   \
    Handle event;              \
    VGPU_TRACE("event={}", event) \
  };
VGPU_EVENT_REQ(EventDestroyReq)
VGPU_EVENT_REQ(EventQueryReq)
VGPU_EVENT_REQ(EventSynchronizeReq)
#undef VGPU_EVENT_REQ
struct EventRecordReq {
  Handle event;
  Handle stream;
  uint32_t flags;
  uint32_t reserved;
  VGPU_TRACE("event={} stream={} flags={}", event, stream, flags)
};
struct EventElapsedReq {
  Handle start;
  Handle end;
  VGPU_TRACE("start={} end={}", start, end)
};
struct FloatRep {
  float value;
  uint32_t reserved;
};

// ---- modules and kernels --------------------------------------------------------
// The image travels first through BlobAppend records (inline chunks, in order)
// unless the host already holds an image with this hash (ModuleLoad with
// `bytes` == 0 asks for that; kNotFound means: upload it).
struct BlobAppendReq {
  uint64_t offset;  // where this chunk goes in the image being assembled
  uint64_t total;   // whole image size
  VGPU_TRACE("offset={} total={}", offset, total)
};
struct ModuleLoadReq {
  uint64_t hash_lo, hash_hi;  // content hash of the image
  uint64_t bytes;             // 0: load by hash only
  VGPU_TRACE("hash={:016x}{:016x} bytes={}", hash_hi, hash_lo, bytes)
};
struct ModuleReq {
  Handle module;
  VGPU_TRACE("module={}", module)
};
// Name (NUL-terminated) inline after the request.
struct ModuleGetFunctionReq {
  Handle module;
  VGPU_TRACE("module={}", module)
};
struct ModuleGetGlobalReq {
  Handle module;
  VGPU_TRACE("module={}", module)
};
// Parameter layout as cuFuncGetParamInfo reports it; offsets/sizes of
// `param_count` parameters follow the reply struct as ParamSlot[].
struct ParamSlot {
  uint32_t offset;
  uint32_t size;
};
inline constexpr uint32_t kMaxParams = 1024;
struct FunctionRep {
  Handle function;
  uint32_t param_count;
  uint32_t param_bytes;  // end of the last parameter
  int32_t param_status;  // status of the layout query (kNotSupported on the CPU backend)
  uint32_t reserved;
};
struct GlobalRep {
  DevPtr ptr;
  uint64_t bytes;
};
// The kernels of a module, as cuModuleEnumerateFunctions lists them, by name
// (the guest then asks ModuleGetFunction for each): `count` in all; the names
// from index `first` on that fit in `room` bytes (and the reply buffer)
// follow the reply struct, each NUL-terminated, `returned` of them (the guest
// asks again from first + returned until it has all).
struct ModuleFunctionsReq {
  Handle module;
  uint32_t first;
  uint32_t room;
  VGPU_TRACE("module={} first={} room={}", module, first, room)
};
struct ModuleFunctionsRep {
  uint32_t count;
  uint32_t returned;
};
struct FuncGetAttributeReq {
  Handle function;
  int32_t attr;  // CUfunction_attribute
  uint32_t reserved;
  VGPU_TRACE("function={} attr={}", function, attr)
};
struct FuncSetAttributeReq {
  Handle function;
  int32_t attr;  // CUfunction_attribute
  int32_t value;
  VGPU_TRACE("function={} attr={} value={}", function, attr, value)
};
struct IntRep {
  int64_t value;
};
struct OccupancyReq {
  Handle function;
  int32_t block_size;
  uint32_t flags;
  uint64_t dyn_smem;
  VGPU_TRACE("function={} block={} smem={} flags={}", function, block_size, dyn_smem, flags)
};
// cuOccupancyAvailableDynamicSMemPerBlock: the dynamic shared memory a block
// may still use when num_blocks blocks of block_size threads share an SM
// (NVIDIA's runtime asks it before it trusts a kernel's shared memory limit).
struct OccupancySmemReq {
  Handle function;
  int32_t num_blocks;
  int32_t block_size;
  VGPU_TRACE("function={} blocks={} block={}", function, num_blocks, block_size)
};
// cuOccupancyMaxActiveClusters / cuOccupancyMaxPotentialClusterSize: the
// launch configuration as it matters to occupancy (the stream and other
// launch attributes do not). cluster all 0: the kernel's compile-time one.
inline constexpr uint32_t kOccupancyMaxActiveClusters = 0;
inline constexpr uint32_t kOccupancyMaxPotentialClusterSize = 1;
struct OccupancyClustersReq {
  Handle function;
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t cluster[3];
  uint32_t smem;
  uint32_t policy;  // CUclusterSchedulingPolicy
  uint32_t query;   // kOccupancyMaxActiveClusters or kOccupancyMaxPotentialClusterSize
  VGPU_TRACE("function={} query={} grid=({},{},{}) block=({},{},{}) cluster=({},{},{}) smem={} policy={}", function,
             query, grid[0], grid[1], grid[2], block[0], block[1], block[2], cluster[0], cluster[1], cluster[2], smem,
             policy)
};
// Kernel launch; the packed parameter buffer (param_bytes) is inline.
inline constexpr uint32_t kLaunchCooperative = 1;
inline constexpr uint32_t kLaunchProgrammaticSerialization = 2;
struct LaunchReq {
  Handle function;
  Handle stream;
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t shared_bytes;
  uint32_t flags;          // kLaunch*
  uint32_t cluster[3];     // 0 = none
  uint32_t param_bytes;
  VGPU_TRACE("function={} grid=({},{},{}) block=({},{},{}) smem={} stream={} flags={} params={}",
             function, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared_bytes, stream,
             flags, param_bytes)
};

// ---- virtual memory management ------------------------------------------------
struct AddressReserveReq {
  uint64_t size, alignment, addr, flags;
  VGPU_TRACE("size={} align={} addr={:#x}", size, alignment, addr)
};
struct MemAddressFreeReq {
  DevPtr ptr;
  uint64_t size;
  VGPU_TRACE("ptr={:#x} size={}", ptr, size)
};
// CUmemAllocationProp as it travels (the type is always pinned device memory).
struct MemProp {
  uint64_t size;
  int32_t location_id;  // device ordinal
  uint32_t handle_types;
  uint32_t alloc_flags;  // bits 0-7 compressionType, 8-15 gpuDirectRDMACapable, 16-31 usage
  uint32_t reserved;
};
struct MemCreateReq {
  MemProp prop;
  VGPU_TRACE("size={} dev={} handle_types={}", prop.size, prop.location_id, prop.handle_types)
};
struct MemGranularityReq {
  MemProp prop;
  uint32_t option;  // CUmemAllocationGranularity_flags
  uint32_t reserved;
  VGPU_TRACE("dev={} option={}", prop.location_id, option)
};
struct MemReleaseReq {
  Handle allocation;
  VGPU_TRACE("alloc={}", allocation)
};
struct MemMapReq {
  DevPtr ptr;
  uint64_t size;
  uint64_t offset;
  Handle allocation;
  VGPU_TRACE("ptr={:#x} size={} offset={} alloc={}", ptr, size, offset, allocation)
};
struct MemUnmapReq {
  DevPtr ptr;
  uint64_t size;
  VGPU_TRACE("ptr={:#x} size={}", ptr, size)
};
struct MemSetAccessReq {
  DevPtr ptr;
  uint64_t size;
  int32_t location_id;
  uint32_t flags;  // CUmemAccess_flags
  VGPU_TRACE("ptr={:#x} size={} dev={} flags={}", ptr, size, location_id, flags)
};

// ---- graphs -------------------------------------------------------------------
struct GraphNodeCountReq {
  Handle graph;
  VGPU_TRACE("graph={}", graph)
};
struct GraphDestroyReq {
  Handle graph;
  VGPU_TRACE("graph={}", graph)
};
struct GraphExecDestroyReq {
  Handle exec;
  VGPU_TRACE("exec={}", exec)
};
struct GraphInstantiateReq {
  Handle graph;
  uint64_t flags;  // CUgraphInstantiate_flags
  VGPU_TRACE("graph={} flags={:#x}", graph, flags)
};
// The sending thread's capture mode (CUstreamCaptureMode), as
// cuThreadExchangeStreamCaptureMode sets it. CUDA keeps the mode per thread;
// the host keeps it per channel (one channel per guest thread) and puts it on
// its executor thread before it runs that channel's records.
struct CaptureModeReq {
  uint32_t mode;
  uint32_t reserved;
  VGPU_TRACE("mode={}", mode)
};
struct GraphExecUpdateReq {
  Handle exec;
  Handle graph;
  VGPU_TRACE("exec={} graph={}", exec, graph)
};
struct GraphExecUpdateRep {
  int32_t result;  // CUgraphExecUpdateResult
  uint32_t reserved;
};
struct GraphLaunchReq {
  Handle exec;
  Handle stream;
  VGPU_TRACE("exec={} stream={}", exec, stream)
};
// cuGraphUpload: the executable's work set up on the device ahead of its
// first launch, in stream order.
struct GraphUploadReq {
  Handle exec;
  Handle stream;
  VGPU_TRACE("exec={} stream={}", exec, stream)
};

// ---- cuBLAS -------------------------------------------------------------------
// The guest keeps a handle's stream, math mode and workspace and sends them
// with every call; the host applies them to its real handle when they change.
struct BlasState {
  Handle handle;
  Handle stream;
  DevPtr workspace;
  uint64_t workspace_bytes;
  uint32_t math_mode;
  uint32_t pointer_mode;  // scalars: 0 = in this request, 1 = device pointers
};
inline constexpr uint32_t kGemmSingle = 0, kGemmStrided = 1, kGemmBatched = 2;
struct GemmReq {
  BlasState s;
  uint32_t batch_kind;  // kGemm*
  int32_t transa, transb;
  int32_t m, n, k;
  int32_t a_type, b_type, c_type;  // cudaDataType
  int32_t compute_type;            // cublasComputeType_t
  int32_t algo;
  int32_t lda, ldb, ldc;
  int32_t batch_count;
  int32_t reserved;
  DevPtr a, b, c;  // for kGemmBatched: device arrays of pointers
  int64_t stride_a, stride_b, stride_c;
  uint8_t alpha[16], beta[16];  // scalars by value, or DevPtr when pointer_mode == 1
  VGPU_TRACE("handle={} stream={} kind={} op=({},{}) m={} n={} k={} types=({},{},{}) compute={} batch={}",
             s.handle, s.stream, batch_kind, transa, transb, m, n, k, a_type, b_type, c_type,
             compute_type, batch_count)
};
struct TrsmBatchedReq {
  BlasState s;
  int32_t side, uplo, trans, diag;
  int32_t m, n, lda, ldb, batch_count;
  float alpha;
  DevPtr a, b;  // device arrays of pointers
  VGPU_TRACE("handle={} m={} n={} batch={}", s.handle, m, n, batch_count)
};
// Level-1/2 single precision: op selects the routine.
enum class BlasL12 : uint32_t { kSaxpy = 1, kSscal = 2, kSdot = 3, kSnrm2 = 4, kSgemv = 5, kDotEx = 6 };
struct BlasL12Req {
  BlasState s;
  uint32_t routine;  // BlasL12
  int32_t trans;
  int32_t m, n;
  int32_t incx, incy, lda;
  uint32_t types;  // DotEx: the cudaDataType of x, y, result and execution, a byte each (x lowest)
  float alpha, beta;
  DevPtr x, y, a;  // a: also where a device-resident dot/nrm2 result goes
  VGPU_TRACE("handle={} routine={} m={} n={} types={:#x}", s.handle, routine, m, n, types)
};
struct BlasDestroyReq {
  Handle handle;
  VGPU_TRACE("handle={}", handle)
};
struct BlasRep {
  int32_t status;  // cublasStatus_t
  float value;     // Sdot / Snrm2 result in host pointer mode; DotEx: the result's own bytes (2 or 4)
};

// ---- cuBLASLt -----------------------------------------------------------------
// Matmul descriptors, matrix layouts and preferences are guest objects: PyTorch
// builds a fresh set for every GEMM, so host objects would cost several round
// trips per GEMM where now there are none. Each object is its attributes'
// values, indexed by cuBLASLt's own attribute numbers, with a mask of those the
// caller set (or that the create call set); the host replays the set ones onto
// real descriptors (CUDA backend) or reads the values (CPU backend). A value
// sits in the low bytes of its slot, as many bytes as kLt*AttrBytes says; 0
// bytes means an attribute we do not carry (the guest refuses to set it).
// Device pointers (bias, aux, scale, amax) are attribute values like any other.
inline constexpr uint32_t kLtDescAttrs = 40, kLtLayoutAttrs = 10, kLtPrefAttrs = 14;
template <uint32_t N>
struct LtAttrs {
  uint64_t set;  // bit i: v[i] was set
  uint64_t v[N];
};
using LtDesc = LtAttrs<kLtDescAttrs>;
using LtLayout = LtAttrs<kLtLayoutAttrs>;
using LtPref = LtAttrs<kLtPrefAttrs>;
// cublasLtMatmulDescAttributes_t: 0-7 int32 (compute, scale, pointer mode,
// transa/b/c, fill mode, epilogue), 8 bias pointer, 10 bias batch stride, 11
// aux pointer, 12/13 aux ld/batch stride, 14 alpha vector batch stride, 15 SM
// count target, 17-21 A/B/C/D scale and amax D pointers, 22 aux type, 23/24
// aux scale/amax pointers, 25 fast accumulation (int8), 26 bias type, 31-35
// scale modes, 36 D out scale pointer, 37 its mode. 38 (an emulation
// descriptor, a guest object of cuBLASLt's) is not carried.
inline constexpr uint8_t kLtDescAttrBytes[kLtDescAttrs] = {
    4, 4, 4, 4, 4, 4, 4, 4, 8, 0, 8, 8, 8, 8, 8, 4, 0, 8, 8, 8,
    8, 8, 4, 8, 8, 1, 4, 0, 0, 0, 0, 4, 4, 4, 4, 4, 8, 4, 0, 0};
// The pointer-valued ones (the heuristic sees only their alignment).
inline constexpr uint64_t kLtDescPointerAttrs =
    (1ull << 8) | (1ull << 11) | (0x1full << 17) | (1ull << 23) | (1ull << 24) | (1ull << 36);
// cublasLtMatrixLayoutAttribute_t: type, order, rows, cols, ld, batch count,
// strided batch offset, plane offset, batch mode.
inline constexpr uint8_t kLtLayoutAttrBytes[kLtLayoutAttrs] = {4, 4, 8, 8, 8, 4, 8, 8, 4, 0};
// cublasLtMatmulPreferenceAttributes_t: search mode, max workspace, reduction
// scheme mask, min alignment of A/B/C/D, max waves (float), impl mask.
inline constexpr uint8_t kLtPrefAttrBytes[kLtPrefAttrs] = {4, 8, 0, 4, 0, 4, 4, 4, 4, 4, 0, 0, 8, 0};
template <uint32_t N>
constexpr uint64_t lt_carried_mask(const uint8_t (&bytes)[N]) {
  uint64_t m = 0;
  for (uint32_t i = 0; i < N; ++i)
    if (bytes[i] != 0) m |= 1ull << i;
  return m;
}
// Attribute numbers the host reads by name.
namespace lt {
inline constexpr uint32_t kCompute = 0, kScaleType = 1, kPointerMode = 2, kTransA = 3, kTransB = 4, kTransC = 5,
                          kFillMode = 6, kEpilogue = 7, kBias = 8, kBiasBatchStride = 10, kAux = 11, kAuxLd = 12,
                          kAuxBatchStride = 13, kAuxType = 22, kBiasType = 26;
inline constexpr uint32_t kType = 0, kOrder = 1, kRows = 2, kCols = 3, kLd = 4, kBatchCount = 5,
                          kBatchOffset = 6, kPlaneOffset = 7, kBatchMode = 8;
}  // namespace lt
struct LtProblem {
  LtDesc desc;
  LtLayout a, b, c, d;
};
// cublasLtMatmulAlgo_t, opaque; the host accepts only algos it handed out.
struct LtAlgo {
  uint64_t data[8];
};
// cublasLtMatmulHeuristicResult_t, field for field.
struct LtResult {
  LtAlgo algo;
  uint64_t workspace_bytes;
  int32_t state;  // cublasStatus_t
  float waves;
  int32_t reserved[4];
};
static_assert(sizeof(LtResult) == 96);
inline constexpr int32_t kLtMaxResults = 16;
struct LtHeuristicReq {
  LtProblem p;
  LtPref pref;
  int32_t requested;  // 1..kLtMaxResults
  uint32_t reserved;
  VGPU_TRACE("compute={} epilogue={} a={}x{} b={}x{} d={}x{} requested={}", p.desc.v[lt::kCompute],
             p.desc.v[lt::kEpilogue], p.a.v[lt::kRows], p.a.v[lt::kCols], p.b.v[lt::kRows], p.b.v[lt::kCols],
             p.d.v[lt::kRows], p.d.v[lt::kCols], requested)
};
struct LtHeuristicRep {
  int32_t status;  // cublasStatus_t
  int32_t count;
  LtResult results[kLtMaxResults];
};
struct LtMatmulReq {
  Handle stream;
  LtProblem p;
  LtAlgo algo;
  uint32_t has_algo;  // 0: cuBLASLt picks (algo == NULL)
  uint32_t reserved;
  DevPtr a, b, c, d, workspace;
  uint64_t workspace_bytes;
  // Scalars of the scale type by value, or device addresses in the first 8
  // bytes where the descriptor's pointer mode says so.
  uint8_t alpha[16], beta[16];
  VGPU_TRACE("stream={} compute={} epilogue={} a={:#x} b={:#x} c={:#x} d={:#x} m={} n={} ws={}", stream,
             p.desc.v[lt::kCompute], p.desc.v[lt::kEpilogue], a, b, c, d, p.d.v[lt::kRows], p.d.v[lt::kCols],
             workspace_bytes)
};
static_assert(sizeof(LtDesc) == 328 && sizeof(LtLayout) == 88 && sizeof(LtPref) == 120);
static_assert(sizeof(LtMatmulReq) == 8 + sizeof(LtProblem) + 64 + 8 + 48 + 32);

// ---- NVML ---------------------------------------------------------------------
// The guest's libnvidia-ml answers from the host's real NVML through these
// ops (all added for issue 16, kept together here). Every figure carries the
// host NVML's own nvmlReturn_t, so the guest refuses exactly what the host
// could not read; the CPU backend has no NVML and answers NOT_SUPPORTED (3)
// for every figure.
//
// NvmlFig names each figure. Those before kNvmlLiveFirst cannot change while
// the driver is loaded (the board, its limits, its PCI ids): the host reads
// them once and the guest caches the first answer. The rest are read on each
// query. Two-value NVML calls (utilisation, PCIe throughput) are two figures.
enum class NvmlFig : uint32_t {
  // fixed
  kBrand, kArchitecture, kPciDeviceId, kPciSubsystemId, kMemTotal, kMemReserved, kBar1Total,
  kMaxClockGraphics, kMaxClockSm, kMaxClockMem, kMaxClockVideo,
  kPowerLimitMin, kPowerLimitMax, kPowerLimitDefault,
  kMaxPcieGen, kMaxPcieWidth, kGpuMaxPcieGen, kMemBusWidth, kNumCores,
  kTempShutdown, kTempSlowdown, kTempGpuMax, kTempMemMax, kNumFans, kMultiGpuBoard, kBoardId,
  kMaxMigDevices, kDisplayMode,
  kPciBaseClass, kPciSubClass,  // nvmlDeviceGetPciInfoExt's class codes
  kBoostClockGraphics, kBoostClockSm, kBoostClockMem, kBoostClockVideo,  // NVML_CLOCK_ID_CUSTOMER_BOOST_MAX
  // live
  kGpuUtil, kMemUtil, kTemperature, kPower, kEnergy,
  kClockGraphics, kClockSm, kClockMem, kClockVideo,
  kAppClockGraphics, kAppClockMem, kDefaultAppClockGraphics, kDefaultAppClockMem,
  kPerfState, kThrottleReasons, kFanSpeed, kPcieGen, kPcieWidth, kPcieTx, kPcieRx, kPcieReplay,
  kPowerLimit, kEnforcedPowerLimit, kPowerMgmtMode, kComputeMode, kPersistenceMode,
  kEccCurrent, kEccPending, kMigCurrent, kMigPending, kEncoderUtil, kDecoderUtil, kBar1Used,
  kEccVolatileCorrected, kEccVolatileUncorrected, kEccAggregateCorrected, kEccAggregateUncorrected,
  kRetiredPagesPending, kDisplayActive, kAccountingMode,
  kCount
};
inline constexpr uint32_t kNvmlLiveFirst = static_cast<uint32_t>(NvmlFig::kGpuUtil);
inline constexpr uint32_t kNvmlFigCount = static_cast<uint32_t>(NvmlFig::kCount);
struct NvmlValue {
  int32_t status;  // nvmlReturn_t of the host's NVML for this figure
  uint32_t reserved;
  uint64_t value;  // valid when status == 0
};
static_assert(sizeof(NvmlValue) == 16);
inline constexpr size_t kNvmlTextBytes = 96;  // NVML's largest buffer for these (NVML_DEVICE_PART_NUMBER_BUFFER_SIZE 80)
struct NvmlText {
  int32_t status;
  uint32_t reserved;
  char text[kNvmlTextBytes];  // NUL-terminated when status == 0
};
enum class NvmlTextId : uint32_t { kSerial, kVbios, kBoardPart, kInforomImage, kInforomOem, kInforomEcc, kCount };
inline constexpr uint32_t kNvmlTextCount = static_cast<uint32_t>(NvmlTextId::kCount);
// What NvmlQuery reads beyond the usual figures. PCIe throughput is a 20 ms
// sample in NVIDIA's NVML (per direction): it is read only when asked for,
// so that the other figures never stall the session's worker that long.
inline constexpr uint32_t kNvmlWithPcieThroughput = 1;
struct NvmlQueryReq {
  uint32_t flags;  // kNvmlWith*
  uint32_t reserved;
  VGPU_TRACE("flags={}", flags)
};
struct NvmlRep {
  int32_t status;  // the host NVML's device lookup: 0, or why there are no figures at all
  int32_t device;  // the ordinal these figures are of: the session's device (a worker serves one)
  NvmlValue fig[kNvmlFigCount];
  NvmlText text[kNvmlTextCount];  // fixed, like the figures before kNvmlLiveFirst
};
static_assert(sizeof(NvmlText) == 104);
static_assert(sizeof(NvmlRep) == 8 + 16 * kNvmlFigCount + 104 * kNvmlTextCount);

// The guest's own processes on the device: one per live slot of the guest's
// region (each slot is one guest process), with the pid the guest reported
// and the device memory its session holds. Other regions (other guests) are
// never listed.
inline constexpr uint32_t kNvmlMaxProcesses = 256;
struct NvmlProcess {
  uint32_t pid;
  uint32_t reserved;
  uint64_t used_bytes;
};
struct NvmlProcessesRep {
  uint32_t count;
  uint32_t reserved;
  NvmlProcess proc[kNvmlMaxProcesses];
};
static_assert(sizeof(NvmlProcessesRep) == 8 + 16 * kNvmlMaxProcesses);

// nvmlDeviceGetFieldValues, forwarded: the ids (and scope ids) in, NVML's
// nvmlFieldValue_t answers out, in the same order.
inline constexpr uint32_t kNvmlMaxFields = 64;
struct NvmlFieldValuesReq {
  uint32_t count;
  uint32_t reserved;
  uint32_t field_id[kNvmlMaxFields];
  uint32_t scope_id[kNvmlMaxFields];
  VGPU_TRACE("count={} first={}", count, field_id[0])
};
struct NvmlFieldValue {  // nvmlFieldValue_t's layout
  uint32_t field_id, scope_id;
  int64_t timestamp, latency_us;
  uint32_t value_type;  // nvmlValueType_t
  int32_t status;       // nvmlReturn_t
  uint64_t value;       // nvmlValue_t
};
static_assert(sizeof(NvmlFieldValue) == 40);
struct NvmlFieldValuesRep {
  uint32_t count;
  uint32_t reserved;
  NvmlFieldValue v[kNvmlMaxFields];
};
static_assert(sizeof(NvmlFieldValuesReq) == 8 + 8 * kNvmlMaxFields);
static_assert(sizeof(NvmlFieldValuesRep) == 8 + 40 * kNvmlMaxFields);

// nvmlDeviceGetP2PStatus of the session's device with itself (the guest sees
// one device, so that is every pair it can name): NCCL asks for READ and
// WRITE of every pair at init and fails without an answer. The host's NVML
// answers; its return code and status travel as they are.
inline constexpr uint32_t kNvmlP2PCapsIndexCount = 5;  // READ, WRITE, NVLINK, ATOMICS, PCI
struct NvmlP2PStatusReq {
  uint32_t caps_index;  // nvmlGpuP2PCapsIndex_t, < kNvmlP2PCapsIndexCount
  uint32_t reserved;
  VGPU_TRACE("caps_index={}", caps_index)
};
struct NvmlP2PStatusRep {
  int32_t nvml_return;  // the host NVML's nvmlReturn_t
  int32_t status;       // nvmlGpuP2PStatus_t, where nvml_return is 0
};

// ---- tensor maps -----------------------------------------------------------------
// cuCtxSetLimit / cuCtxGetLimit: the limits (stack size, printf FIFO, malloc
// heap, ...) are the host context's, where the kernels run. Both answer the
// limit's value after the call.
struct CtxLimitReq {
  int32_t limit;  // CUlimit
  uint32_t set;   // 1: set `value` first
  uint64_t value;
  VGPU_TRACE("limit={} set={} value={}", limit, set, value)
};
static_assert(sizeof(CtxLimitReq) == 16);

// cuTensorMapEncodeTiled / Im2col: the host's driver encodes the 128-byte
// descriptor (its format is NVIDIA's); nothing runs on the GPU. The global
// address is a device address, the same on both sides.
inline constexpr uint32_t kTensorMapTiled = 0;
inline constexpr uint32_t kTensorMapIm2col = 1;
inline constexpr uint32_t kTensorMapMaxRank = 5;
struct TensorMapReq {
  uint32_t kind;  // kTensorMapTiled / kTensorMapIm2col
  uint32_t data_type, rank, interleave, swizzle, l2_promotion, oob_fill;
  uint32_t channels_per_pixel, pixels_per_column;  // im2col only
  uint32_t box_dim[kTensorMapMaxRank];             // tiled only
  uint32_t element_strides[kTensorMapMaxRank];
  int32_t lower_corner[kTensorMapMaxRank - 2], upper_corner[kTensorMapMaxRank - 2];  // im2col only
  uint32_t reserved;
  DevPtr global_address;
  uint64_t global_dim[kTensorMapMaxRank];
  uint64_t global_strides[kTensorMapMaxRank - 1];  // bytes, for dimensions 1..rank-1
  VGPU_TRACE("kind={} type={} rank={} address={:#x}", kind, data_type, rank, global_address)
};
struct TensorMapRep {
  uint64_t words[16];  // CUtensorMap
};

// ---- the list -------------------------------------------------------------------
// X(name, mode, policy, request, reply)
#define VGPU_OPS(X)                                                           \
  X(Hello, kSync, kPlain, HelloReq, HelloRep)                                 \
  X(Bye, kPosted, kPlain, Empty, Empty)                                       \
  X(DeviceInfo, kSync, kPlain, DeviceInfoReq, DeviceInfoRep)                  \
  X(MemGetInfo, kSync, kPlain, Empty, MemGetInfoRep)                          \
  X(MemAlloc, kSync, kPlain, MemAllocReq, DevPtrRep)                          \
  X(MemFree, kSync, kPlain, MemFreeReq, Empty)                                \
  X(MemcpyHtoD, kPosted, kAwaitable, MemcpyHtoDReq, Empty)                    \
  X(MemcpyDtoH, kPosted, kAwaitable, MemcpyDtoHReq, Empty)                    \
  X(MemcpyDtoD, kPosted, kPlain, MemcpyDtoDReq, Empty)                        \
  X(Memcpy2D, kPosted, kPlain, Memcpy2DReq, Empty)                            \
  X(Memset, kPosted, kPlain, MemsetReq, Empty)                                \
  X(StreamCreate, kSync, kPlain, StreamCreateReq, HandleRep)                  \
  X(StreamDestroy, kSync, kPlain, StreamDestroyReq, Empty)                    \
  X(StreamSynchronize, kSync, kDeviceAnswer, StreamSynchronizeReq, Empty)     \
  X(StreamQuery, kSync, kPlain, StreamQueryReq, Empty)                        \
  X(StreamWaitEvent, kPosted, kPlain, StreamWaitEventReq, Empty)              \
  X(StreamWriteValue, kPosted, kPlain, StreamWriteValueReq, Empty)            \
  X(StreamWaitValue, kPosted, kPlain, StreamWaitValueReq, Empty)              \
  X(StreamBeginCapture, kSync, kPlain, BeginCaptureReq, Empty)                \
  X(StreamEndCapture, kSync, kPlain, StreamEndCaptureReq, HandleRep)          \
  X(StreamCaptureStatus, kSync, kPlain, StreamCaptureStatusReq, CaptureStatusRep)\
  X(EventCreate, kSync, kPlain, EventCreateReq, HandleRep)                    \
  X(EventDestroy, kSync, kPlain, EventDestroyReq, Empty)                      \
  X(EventRecord, kPosted, kPlain, EventRecordReq, Empty)                      \
  X(EventQuery, kSync, kPlain, EventQueryReq, Empty)                          \
  X(EventSynchronize, kSync, kPlain, EventSynchronizeReq, Empty)              \
  X(EventElapsed, kSync, kPlain, EventElapsedReq, FloatRep)                   \
  X(CtxSynchronize, kSync, kPlain, Empty, Empty)                              \
  X(BlobAppend, kPosted, kPlain, BlobAppendReq, Empty)                        \
  X(ModuleLoad, kSync, kPlain, ModuleLoadReq, HandleRep)                      \
  X(ModuleUnload, kSync, kPlain, ModuleReq, Empty)                            \
  X(ModuleGetFunction, kSync, kPlain, ModuleGetFunctionReq, FunctionRep)      \
  X(ModuleGetGlobal, kSync, kPlain, ModuleGetGlobalReq, GlobalRep)            \
  X(FuncGetAttribute, kSync, kPlain, FuncGetAttributeReq, IntRep)             \
  X(FuncSetAttribute, kSync, kPlain, FuncSetAttributeReq, Empty)              \
  X(OccupancyMaxBlocks, kSync, kPlain, OccupancyReq, IntRep)                  \
  X(OccupancySmem, kSync, kPlain, OccupancySmemReq, IntRep)                   \
  X(OccupancyClusters, kSync, kPlain, OccupancyClustersReq, IntRep)           \
  X(Launch, kPosted, kPlain, LaunchReq, Empty)                                \
  X(MemAddressReserve, kSync, kPlain, AddressReserveReq, DevPtrRep)           \
  X(MemAddressFree, kSync, kPlain, MemAddressFreeReq, Empty)                  \
  X(MemCreate, kSync, kPlain, MemCreateReq, HandleRep)                        \
  X(MemRelease, kSync, kPlain, MemReleaseReq, Empty)                          \
  X(MemMap, kSync, kPlain, MemMapReq, Empty)                                  \
  X(MemUnmap, kSync, kPlain, MemUnmapReq, Empty)                              \
  X(MemSetAccess, kSync, kPlain, MemSetAccessReq, Empty)                      \
  X(MemGranularity, kSync, kPlain, MemGranularityReq, IntRep)                 \
  X(GraphInstantiate, kSync, kPlain, GraphInstantiateReq, HandleRep)          \
  X(GraphNodeCount, kSync, kPlain, GraphNodeCountReq, IntRep)                 \
  X(ThreadCaptureMode, kPosted, kPlain, CaptureModeReq, Empty)                \
  X(GraphExecUpdate, kSync, kPlain, GraphExecUpdateReq, GraphExecUpdateRep)   \
  X(GraphLaunch, kPosted, kPlain, GraphLaunchReq, Empty)                      \
  X(GraphExecDestroy, kSync, kPlain, GraphExecDestroyReq, Empty)              \
  X(GraphDestroy, kSync, kPlain, GraphDestroyReq, Empty)                      \
  X(BlasCreate, kSync, kPlain, Empty, HandleRep)                              \
  X(BlasDestroy, kSync, kPlain, BlasDestroyReq, Empty)                        \
  X(BlasGemm, kPosted, kPlain, GemmReq, Empty)                                \
  X(BlasTrsmBatched, kPosted, kPlain, TrsmBatchedReq, Empty)                  \
  X(BlasL12, kSync, kPlain, BlasL12Req, BlasRep)                              \
  X(LtHeuristic, kSync, kPlain, LtHeuristicReq, LtHeuristicRep)               \
  X(LtMatmul, kPosted, kPlain, LtMatmulReq, Empty)                            \
  X(NvmlQuery, kSync, kPlain, NvmlQueryReq, NvmlRep)                          \
  X(NvmlProcesses, kSync, kPlain, Empty, NvmlProcessesRep)                    \
  X(NvmlFieldValues, kSync, kPlain, NvmlFieldValuesReq, NvmlFieldValuesRep)   \
  X(TensorMapEncode, kSync, kPlain, TensorMapReq, TensorMapRep)               \
  X(CtxLimit, kSync, kPlain, CtxLimitReq, IntRep)                             \
  X(NvmlP2PStatus, kSync, kPlain, NvmlP2PStatusReq, NvmlP2PStatusRep)         \
  X(ModuleFunctions, kSync, kPlain, ModuleFunctionsReq, ModuleFunctionsRep) \
  X(GraphUpload, kPosted, kPlain, GraphUploadReq, Empty)

enum class Op : uint16_t {
  kWrap = 0,
#define VGPU_ENUM(name, mode, policy, req, rep) name,
  VGPU_OPS(VGPU_ENUM)
#undef VGPU_ENUM
      kCount
};
inline constexpr size_t kOpCount = static_cast<size_t>(Op::kCount);

inline constexpr const char* kOpNames[] = {
    "Wrap",
#define VGPU_NAME(name, mode, policy, req, rep) #name,
    VGPU_OPS(VGPU_NAME)
#undef VGPU_NAME
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == kOpCount);

inline const char* op_name(uint16_t op) { return op < kOpCount ? kOpNames[op] : "?"; }

// Each op's policy by opcode, for code that holds the opcode at run time
// (the host checking a record's flags, the guest's untyped send path).
inline constexpr Policy kOpPolicies[] = {
    Policy::kPlain,  // Wrap
#define VGPU_POLICY(name, mode, policy, req, rep) Policy::policy,
    VGPU_OPS(VGPU_POLICY)
#undef VGPU_POLICY
};
static_assert(sizeof(kOpPolicies) / sizeof(kOpPolicies[0]) == kOpCount);
inline constexpr Policy op_policy(uint16_t op) { return op < kOpCount ? kOpPolicies[op] : Policy::kPlain; }
inline constexpr bool op_device_answerable(uint16_t op) { return op_policy(op) == Policy::kDeviceAnswer; }

template <Op>
struct OpTraits;
#define VGPU_TRAITS(name, m, pol, req, rep)                                              \
  template <>                                                                           \
  struct OpTraits<Op::name> {                                                           \
    using Request = req;                                                                \
    using Reply = rep;                                                                  \
    static constexpr Mode mode = Mode::m;                                               \
    static constexpr Policy policy = Policy::pol;                                       \
    static constexpr const char* name_str = #name;                                      \
    /* the guest waits for every record of it */                                        \
    static constexpr bool waited = mode == Mode::kSync;                                 \
    static constexpr bool posted = mode == Mode::kPosted;                               \
    static constexpr bool device_answerable = policy == Policy::kDeviceAnswer;          \
    /* a record of it may carry kFlagWantCompletion */                                  \
    static constexpr bool awaitable = waited || policy == Policy::kAwaitable;           \
    /* The ring flags of a record of it; `wait` (the guest will wait for it) */         \
    /* must be true for a Sync op and may be only for an awaitable one. */              \
    static constexpr uint16_t flags(bool wait = waited) {                               \
      return wait ? uint16_t(kFlagWantCompletion | (device_answerable ? kFlagDeviceAnswer : 0)) : uint16_t(0); \
    }                                                                                   \
  };                                                                                    \
  static_assert(Policy::pol != Policy::kDeviceAnswer || Mode::m == Mode::kSync, #name " device-answered but posted"); \
  static_assert(Policy::pol != Policy::kAwaitable || Mode::m == Mode::kPosted, #name " awaitable but already Sync"); \
  static_assert(std::is_trivially_copyable_v<req> && std::is_standard_layout_v<req>);   \
  static_assert(std::is_trivially_copyable_v<rep> && std::is_standard_layout_v<rep>);   \
  static_assert(sizeof(req) % 8 == 0 || sizeof(req) == 1, #name " request not padded"); \
  static_assert(Mode::m == Mode::kSync || std::is_same_v<rep, Empty>, #name " posted with a reply");
VGPU_OPS(VGPU_TRAITS)
#undef VGPU_TRAITS

template <Op op>
inline constexpr uint16_t kOpcode = static_cast<uint16_t>(op);

// ---- the wire layouts, tied to the ABI ------------------------------------------
// No request type serves two ops (Empty, no bytes at all, aside): a handler's
// signature names its op, and one op's layout change cannot reach another.
namespace detail {
template <class... All>
struct DistinctRequests {
  template <class T>
  static constexpr bool once = std::is_empty_v<T> || (int(std::is_same_v<T, All>) + ...) == 1;
  static constexpr bool value = (once<All> && ...);
};
constexpr uint64_t fnv(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ull;
  return h;
}
}  // namespace detail
#define VGPU_REQ_TYPE(name, mode, policy, req, rep) req,
static_assert(detail::DistinctRequests<VGPU_OPS(VGPU_REQ_TYPE) Empty>::value,
              "a request struct serves two ops: give each op its own");
#undef VGPU_REQ_TYPE

// Every wire struct's size and alignment, and the offsets of the fields that
// follow padding or mixed-size runs: X(struct, bytes, alignment) and
// X(struct, field, offset). Both are checked below and folded into
// wire_layout(); a change here is a change of the ABI (bump kGuestAbi).
#define VGPU_PINNED_SIZES(X)                                                  \
  X(HelloReq, 16, 8)                                                          \
  X(HelloRep, 184, 8)                                                         \
  X(DeviceInfoReq, 8, 4)                                                      \
  X(DeviceInfoRep, 968, 8)                                                    \
  X(MemGetInfoRep, 16, 8)                                                     \
  X(MemAllocReq, 8, 8)                                                        \
  X(DevPtrRep, 8, 8)                                                          \
  X(MemFreeReq, 8, 8)                                                         \
  X(MemcpyHtoDReq, 32, 8)                                                     \
  X(MemcpyDtoHReq, 32, 8)                                                     \
  X(MemcpyDtoDReq, 32, 8)                                                     \
  X(Memcpy2DReq, 64, 8)                                                       \
  X(MemsetReq, 32, 8)                                                         \
  X(StreamCreateReq, 8, 4)                                                    \
  X(HandleRep, 8, 8)                                                          \
  X(StreamDestroyReq, 8, 8)                                                   \
  X(StreamSynchronizeReq, 8, 8)                                               \
  X(StreamQueryReq, 8, 8)                                                     \
  X(StreamWaitEventReq, 24, 8)                                                \
  X(StreamWriteValueReq, 32, 8)                                               \
  X(StreamWaitValueReq, 32, 8)                                                \
  X(BeginCaptureReq, 16, 8)                                                   \
  X(StreamEndCaptureReq, 8, 8)                                                \
  X(StreamCaptureStatusReq, 8, 8)                                             \
  X(CaptureStatusRep, 16, 8)                                                  \
  X(EventCreateReq, 8, 4)                                                     \
  X(EventDestroyReq, 8, 8)                                                    \
  X(EventRecordReq, 24, 8)                                                    \
  X(EventQueryReq, 8, 8)                                                      \
  X(EventSynchronizeReq, 8, 8)                                                \
  X(EventElapsedReq, 16, 8)                                                   \
  X(FloatRep, 8, 4)                                                           \
  X(BlobAppendReq, 16, 8)                                                     \
  X(ModuleLoadReq, 24, 8)                                                     \
  X(ModuleReq, 8, 8)                                                          \
  X(ModuleGetFunctionReq, 8, 8)                                               \
  X(FunctionRep, 24, 8)                                                       \
  X(ModuleGetGlobalReq, 8, 8)                                                 \
  X(GlobalRep, 16, 8)                                                         \
  X(ModuleFunctionsReq, 16, 8)                                                \
  X(ModuleFunctionsRep, 8, 4)                                                 \
  X(FuncGetAttributeReq, 16, 8)                                               \
  X(IntRep, 8, 8)                                                             \
  X(FuncSetAttributeReq, 16, 8)                                               \
  X(OccupancyReq, 24, 8)                                                      \
  X(OccupancySmemReq, 16, 8)                                                  \
  X(OccupancyClustersReq, 56, 8)                                              \
  X(LaunchReq, 64, 8)                                                         \
  X(AddressReserveReq, 32, 8)                                                 \
  X(MemAddressFreeReq, 16, 8)                                                 \
  X(MemCreateReq, 24, 8)                                                      \
  X(MemReleaseReq, 8, 8)                                                      \
  X(MemMapReq, 32, 8)                                                         \
  X(MemUnmapReq, 16, 8)                                                       \
  X(MemSetAccessReq, 24, 8)                                                   \
  X(MemGranularityReq, 32, 8)                                                 \
  X(GraphInstantiateReq, 16, 8)                                               \
  X(GraphNodeCountReq, 8, 8)                                                  \
  X(CaptureModeReq, 8, 4)                                                     \
  X(GraphExecUpdateReq, 16, 8)                                                \
  X(GraphExecUpdateRep, 8, 4)                                                 \
  X(GraphLaunchReq, 16, 8)                                                    \
  X(GraphUploadReq, 16, 8)                                                    \
  X(GraphExecDestroyReq, 8, 8)                                                \
  X(GraphDestroyReq, 8, 8)                                                    \
  X(BlasDestroyReq, 8, 8)                                                     \
  X(GemmReq, 184, 8)                                                          \
  X(TrsmBatchedReq, 96, 8)                                                    \
  X(BlasL12Req, 104, 8)                                                       \
  X(BlasRep, 8, 4)                                                            \
  X(LtHeuristicReq, 808, 8)                                                   \
  X(LtHeuristicRep, 1544, 8)                                                  \
  X(LtMatmulReq, 840, 8)                                                      \
  X(NvmlQueryReq, 8, 4)                                                       \
  X(NvmlRep, 1816, 8)                                                         \
  X(NvmlProcessesRep, 4104, 8)                                                \
  X(NvmlFieldValuesReq, 520, 4)                                               \
  X(NvmlFieldValuesRep, 2568, 8)                                              \
  X(NvmlP2PStatusReq, 8, 4)                                                   \
  X(NvmlP2PStatusRep, 8, 4)                                                   \
  X(TensorMapReq, 184, 8)                                                     \
  X(TensorMapRep, 128, 8)                                                     \
  X(CtxLimitReq, 16, 8)                                                       \
  X(ParamSlot, 8, 4)                                                          \
  X(MemProp, 24, 8)                                                           \
  X(BlasState, 40, 8)                                                         \
  X(LtDesc, 328, 8)                                                           \
  X(LtLayout, 88, 8)                                                          \
  X(LtPref, 120, 8)                                                           \
  X(LtProblem, 680, 8)                                                        \
  X(LtAlgo, 64, 8)                                                            \
  X(LtResult, 96, 8)                                                          \
  X(NvmlValue, 16, 8)                                                         \
  X(NvmlText, 104, 4)                                                         \
  X(NvmlProcess, 16, 8)                                                       \
  X(NvmlFieldValue, 40, 8)

#define VGPU_PINNED_OFFSETS(X)                                                \
  X(HelloReq, layout, 8) \
  X(HelloRep, host_arena_base, 16) \
  X(HelloRep, nvml_version_text, 104) \
  X(DeviceInfoRep, total_mem, 304) \
  X(DeviceInfoRep, attr, 312) \
  X(DeviceInfoRep, luid, 952) \
  X(DeviceInfoRep, node_mask, 960) \
  X(MemcpyHtoDReq, stream, 24) \
  X(MemcpyDtoHReq, stream, 24) \
  X(Memcpy2DReq, dst, 8) \
  X(Memcpy2DReq, stream, 56) \
  X(MemsetReq, count, 16) \
  X(MemsetReq, stream, 24) \
  X(StreamWaitEventReq, flags, 16) \
  X(StreamWriteValueReq, bytes, 24) \
  X(StreamWaitValueReq, bytes, 24) \
  X(BeginCaptureReq, mode, 8) \
  X(CaptureStatusRep, id, 8) \
  X(EventRecordReq, flags, 16) \
  X(ModuleLoadReq, bytes, 16) \
  X(FunctionRep, param_status, 16) \
  X(FuncSetAttributeReq, value, 12) \
  X(OccupancyReq, dyn_smem, 16) \
  X(OccupancySmemReq, block_size, 12) \
  X(OccupancyClustersReq, smem, 44) \
  X(OccupancyClustersReq, query, 52) \
  X(LaunchReq, grid, 16) \
  X(LaunchReq, flags, 44) \
  X(LaunchReq, cluster, 48) \
  X(LaunchReq, param_bytes, 60) \
  X(AddressReserveReq, flags, 24) \
  X(MemProp, alloc_flags, 16) \
  X(MemGranularityReq, option, 24) \
  X(MemMapReq, allocation, 24) \
  X(MemSetAccessReq, flags, 20) \
  X(GraphInstantiateReq, flags, 8) \
  X(GraphLaunchReq, stream, 8) \
  X(GraphUploadReq, stream, 8) \
  X(BlasState, pointer_mode, 36) \
  X(GemmReq, batch_kind, 40) \
  X(GemmReq, a, 104) \
  X(GemmReq, stride_a, 128) \
  X(GemmReq, alpha, 152) \
  X(TrsmBatchedReq, alpha, 76) \
  X(TrsmBatchedReq, a, 80) \
  X(BlasL12Req, types, 68) \
  X(BlasL12Req, alpha, 72) \
  X(BlasL12Req, x, 80) \
  X(BlasRep, value, 4) \
  X(LtHeuristicReq, pref, 680) \
  X(LtHeuristicReq, requested, 800) \
  X(LtHeuristicRep, results, 8) \
  X(LtMatmulReq, p, 8) \
  X(LtMatmulReq, algo, 688) \
  X(LtMatmulReq, a, 760) \
  X(LtMatmulReq, alpha, 808) \
  X(NvmlRep, fig, 8) \
  X(NvmlRep, text, 1192) \
  X(NvmlProcessesRep, proc, 8) \
  X(NvmlFieldValuesReq, scope_id, 264) \
  X(NvmlFieldValue, value_type, 24) \
  X(NvmlFieldValuesRep, v, 8) \
  X(CtxLimitReq, value, 8) \
  X(ModuleFunctionsReq, first, 8) \
  X(TensorMapReq, box_dim, 36) \
  X(TensorMapReq, lower_corner, 76) \
  X(TensorMapReq, global_address, 104) \
  X(TensorMapReq, global_strides, 152)

#define VGPU_PIN_SIZE(T, bytes, align) \
  static_assert(sizeof(T) == (bytes) && alignof(T) == (align), #T " changed: update its pin and bump kGuestAbi");
#define VGPU_PIN_OFFSET(T, field, off) \
  static_assert(offsetof(T, field) == (off), #T "::" #field " moved: update its pin and bump kGuestAbi");
VGPU_PINNED_SIZES(VGPU_PIN_SIZE)
VGPU_PINNED_OFFSETS(VGPU_PIN_OFFSET)
#undef VGPU_PIN_SIZE
#undef VGPU_PIN_OFFSET

// Folds every op's opcode, mode, policy and its request's and reply's size
// and alignment, and the pins above. Hello carries it, and the host refuses
// a guest whose fingerprint is not its own; kWireLayoutPin below makes a
// layout change that forgot the ABI bump fail to compile.
constexpr uint64_t wire_layout() {
  uint64_t h = detail::fnv(0xcbf29ce484222325ull, kGuestAbi);
#define VGPU_FOLD(name, m, pol, req, rep)                                                             \
  h = detail::fnv(h, kOpcode<Op::name>);                                                             \
  h = detail::fnv(h, (uint64_t(Mode::m) << 8) | uint64_t(Policy::pol));                              \
  h = detail::fnv(h, (uint64_t(std::is_empty_v<req> ? 0 : sizeof(req)) << 8) | alignof(req));       \
  h = detail::fnv(h, (uint64_t(std::is_empty_v<rep> ? 0 : sizeof(rep)) << 8) | alignof(rep));
  VGPU_OPS(VGPU_FOLD)
#undef VGPU_FOLD
#define VGPU_FOLD_SIZE(T, bytes, align) h = detail::fnv(h, (uint64_t(bytes) << 8) | (align));
#define VGPU_FOLD_OFFSET(T, field, off) h = detail::fnv(h, off);
  VGPU_PINNED_SIZES(VGPU_FOLD_SIZE)
  VGPU_PINNED_OFFSETS(VGPU_FOLD_OFFSET)
#undef VGPU_FOLD_SIZE
#undef VGPU_FOLD_OFFSET
  return h;
}
// The fingerprint of the layouts of kGuestAbi 8 (it folds kGuestAbi in too).
// A change to an op's line or a pin above fails here: bump kGuestAbi (with
// its line in the list at HelloReq), then put the new wire_layout() here
// (print vgpu::wire_layout() from a scratch program). Never update this alone.
inline constexpr uint64_t kWireLayoutPin = 0x2076db037d8fea28ull;
static_assert(wire_layout() == kWireLayoutPin,
              "a wire layout changed: bump kGuestAbi and update kWireLayoutPin (see above)");

// The flags of a record of `op` that the guest will wait for: a Sync op, or a
// Posted op sent wanting its completion (which its policy must allow).
template <Op op>
constexpr uint16_t awaited_flags() {
  static_assert(OpTraits<op>::awaitable, "the guest may not wait for this op (its policy in VGPU_OPS)");
  return OpTraits<op>::flags(true);
}

}  // namespace vgpu
