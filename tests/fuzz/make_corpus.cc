// Writes the seed corpus of fuzz_host_decoder: small, valid record streams
// for the common ops, laid out as that target reads its input (see
// fuzz_host_decoder.cc). The files in tests/fuzz/corpus/ were made with it:
//   build/bin/fuzz_make_corpus tests/fuzz/corpus
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "vgpu/ops.h"
#include "vgpu/ring.h"

namespace {

using namespace vgpu;

constexpr uint32_t kRingBytes = 4096;  // as in fuzz_host_decoder.cc

// Handle ids as the host's HandleTable issues them: kind << 40 | n << 4,
// n counting every handle of the session from 1.
enum Kind : uint64_t { kStream = 1, kEvent, kModule, kFunction, kGraph, kGraphExec, kBlas, kMemHandle };
constexpr uint64_t handle(Kind k, uint64_t n) { return (uint64_t(k) << 40) | (n << 4); }
// A word the fuzz target replaces by known device address #i plus `off`.
constexpr uint64_t addr(uint32_t i, int32_t off = 0) {
  return (0xD5D5D5ull << 40) | (uint64_t(i & 0xff) << 32) | uint32_t(off);
}

class Stream {
 public:
  // `start_off`: the ring offset the first record lands at (multiple of 256).
  explicit Stream(uint32_t start_off = 0, uint8_t channel = 0) : pos_(start_off) {
    bytes_.push_back(static_cast<uint8_t>(start_off / (kRingBytes / 16)));
    bytes_.push_back(channel);
  }

  template <class Req>
  void rec(Op op, const Req& r, const void* extra = nullptr, uint32_t extra_bytes = 0, bool sync = true) {
    const uint32_t req = std::is_empty_v<Req> ? 0 : sizeof(Req);
    const uint32_t payload = req + extra_bytes;
    const uint32_t size = round_up(kRecordAlign + payload, kRecordAlign);
    const uint32_t off = pos_ % kRingBytes;
    if (off + size > kRingBytes) {  // wrap marker to the ring's end
      header(kOpWrap, 0, kRingBytes - off, 0, 0);
      bytes_.resize(bytes_.size() + (kRingBytes - off - kRecordAlign), 0);
      pos_ += kRingBytes - off;
    }
    header(static_cast<uint16_t>(op), sync ? kFlagWantCompletion : 0, size, payload, ++seq_);
    const size_t at = bytes_.size();
    bytes_.resize(at + size - kRecordAlign, 0);
    if (req) std::memcpy(&bytes_[at], &r, req);
    if (extra_bytes) std::memcpy(&bytes_[at + req], extra, extra_bytes);
    pos_ += size;
  }
  template <class Req>
  void posted(Op op, const Req& r, const void* extra = nullptr, uint32_t extra_bytes = 0) {
    rec(op, r, extra, extra_bytes, false);
  }

  bool write(const std::string& dir, const char* name) const {
    const std::string path = dir + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(bytes_.data(), 1, bytes_.size(), f) == bytes_.size();
    return std::fclose(f) == 0 && ok;
  }

 private:
  void header(uint16_t op, uint16_t flags, uint32_t size, uint32_t payload, uint64_t seq) {
    uint8_t h[kRecordAlign] = {};
    std::memcpy(h + 4, &op, 2);
    std::memcpy(h + 6, &flags, 2);
    std::memcpy(h + 8, &size, 4);
    std::memcpy(h + 12, &payload, 4);
    std::memcpy(h + 16, &seq, 8);
    bytes_.insert(bytes_.end(), h, h + sizeof h);
  }

  std::vector<uint8_t> bytes_;
  uint64_t pos_;
  uint64_t seq_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;
  const Empty none{};

  {  // session: hello, device, memory info, goodbye
    Stream s;
    s.rec(Op::Hello, HelloReq{kGuestAbi, 1234});
    s.rec(Op::DeviceInfo, DeviceInfoReq{0, 0});
    s.rec(Op::MemGetInfo, none);
    s.rec(Op::NvmlQuery, none);
    s.posted(Op::Bye, none);
    ok &= s.write(dir, "session");
  }
  {  // memory: allocate, copy both ways (arena and device), memset, 2-D, free
    Stream s;
    s.rec(Op::MemAlloc, MemAllocReq{4096});
    s.rec(Op::MemAlloc, MemAllocReq{8192});
    s.posted(Op::MemcpyHtoD, MemcpyHtoDReq{addr(0), 0, 256, kStreamLegacy});
    s.rec(Op::MemcpyHtoD, MemcpyHtoDReq{addr(0, 256), 1024, 512, kStreamPerThread});
    s.posted(Op::Memset, MemsetReq{addr(1), 0x3f800000u, 4, 128, kStreamLegacy});
    s.posted(Op::MemcpyDtoD, MemcpyDtoDReq{addr(1, 512), addr(0), 1024, kStreamLegacy});
    s.posted(Op::Memcpy2D, Memcpy2DReq{uint32_t(CopyKind::kHtoD), 0, addr(1), 64, 2048, 48, 32, 8, kStreamLegacy});
    s.posted(Op::Memcpy2D, Memcpy2DReq{uint32_t(CopyKind::kDtoD), 0, addr(0), 64, addr(1), 64, 64, 8, kStreamLegacy});
    s.rec(Op::MemcpyDtoH, MemcpyDtoHReq{4096, addr(1), 2048, kStreamLegacy});
    s.rec(Op::MemFree, MemFreeReq{addr(0)});
    s.rec(Op::MemFree, MemFreeReq{addr(0)});
    ok &= s.write(dir, "memory");
  }
  {  // streams and events
    Stream s(0, 3);
    s.rec(Op::StreamCreate, StreamCreateReq{1, 0});  // handle 1
    s.rec(Op::EventCreate, EventCreateReq{0, 0});    // handle 2
    s.rec(Op::EventCreate, EventCreateReq{0, 0});    // handle 3
    s.posted(Op::EventRecord, EventRecordReq{handle(kEvent, 2), handle(kStream, 1), 0, 0});
    s.posted(Op::StreamWaitEvent, StreamWaitEventReq{kStreamPerThread, handle(kEvent, 2), 0, 0});
    s.posted(Op::EventRecord, EventRecordReq{handle(kEvent, 3), kStreamPerThread, 0, 0});
    s.rec(Op::EventSynchronize, EventSynchronizeReq{handle(kEvent, 3)});
    s.rec(Op::EventQuery, EventQueryReq{handle(kEvent, 2)});
    s.rec(Op::EventElapsed, EventElapsedReq{handle(kEvent, 2), handle(kEvent, 3)});
    s.rec(Op::StreamQuery, StreamQueryReq{handle(kStream, 1)});
    s.rec(Op::StreamSynchronize, StreamSynchronizeReq{handle(kStream, 1)});
    s.rec(Op::StreamBeginCapture, BeginCaptureReq{handle(kStream, 1), 0, 0});
    s.rec(Op::StreamCaptureStatus, StreamCaptureStatusReq{handle(kStream, 1)});
    s.rec(Op::StreamEndCapture, StreamEndCaptureReq{handle(kStream, 1)});
    s.rec(Op::GraphInstantiate, GraphInstantiateReq{handle(kGraph, 4)});
    s.rec(Op::StreamDestroy, StreamDestroyReq{handle(kStream, 1)});
    s.rec(Op::EventDestroy, EventDestroyReq{handle(kEvent, 2)});
    s.rec(Op::CtxSynchronize, none);
    ok &= s.write(dir, "streams");
  }
  {  // modules: upload a PTX image in two chunks, load, look up, launch, unload
    static const char ptx[] =
        ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry add_one(\n.param .u64 p\n)\n{\nret;\n}\n";
    const uint64_t n = sizeof ptx - 1;
    Stream s;
    s.rec(Op::ModuleLoad, ModuleLoadReq{0x1111, 0x2222, 0});  // by hash: not found
    s.posted(Op::BlobAppend, BlobAppendReq{0, n}, ptx, 40);
    s.posted(Op::BlobAppend, BlobAppendReq{40, n}, ptx + 40, static_cast<uint32_t>(n - 40));
    s.rec(Op::ModuleLoad, ModuleLoadReq{0x1111, 0x2222, n});  // module 1
    s.rec(Op::ModuleLoad, ModuleLoadReq{0x1111, 0x2222, 0});  // same hash: module 1 again
    s.rec(Op::ModuleGetFunction, ModuleGetFunctionReq{handle(kModule, 1)}, "add_one", 8);  // function 2
    s.rec(Op::ModuleGetFunction, ModuleGetFunctionReq{handle(kModule, 1)}, "add_", 4);     // no NUL
    s.rec(Op::ModuleGetGlobal, ModuleGetGlobalReq{handle(kModule, 1)}, "g", 2);
    s.rec(Op::FuncGetAttribute, FuncGetAttributeReq{handle(kFunction, 2), 0, 0});
    s.rec(Op::FuncSetAttribute, FuncSetAttributeReq{handle(kFunction, 2), 8, 1024});
    s.rec(Op::OccupancyMaxBlocks, OccupancyReq{handle(kFunction, 2), 128, 0, 0});
    s.rec(Op::OccupancySmem, OccupancySmemReq{handle(kFunction, 2), 1, 128});
    s.rec(Op::OccupancyClusters, OccupancyClustersReq{handle(kFunction, 2), {8, 1, 1}, {128, 1, 1}, {2, 1, 1}, 0, 0, 9});
    const uint64_t param = 0;
    LaunchReq l{};
    l.function = handle(kFunction, 2);
    l.grid[0] = l.grid[1] = l.grid[2] = 1;
    l.block[0] = 32, l.block[1] = l.block[2] = 1;
    l.param_bytes = 8;
    s.posted(Op::Launch, l, &param, 8);
    s.rec(Op::ModuleUnload, ModuleReq{handle(kModule, 1)});
    ok &= s.write(dir, "module");
  }
  {  // cuBLAS: GEMM (single, strided, batched), level 1/2, trsm batched
    Stream s;
    s.rec(Op::MemAlloc, MemAllocReq{16384});
    s.rec(Op::MemAlloc, MemAllocReq{16384});
    s.rec(Op::MemAlloc, MemAllocReq{16384});
    s.posted(Op::MemcpyHtoD, MemcpyHtoDReq{addr(0), 1024, 16384, kStreamLegacy});
    s.posted(Op::MemcpyHtoD, MemcpyHtoDReq{addr(1), 1024, 16384, kStreamLegacy});
    s.rec(Op::BlasCreate, none);  // handle 1
    GemmReq g{};
    g.s = BlasState{handle(kBlas, 1), kStreamLegacy, 0, 0, 0, 0};
    g.batch_kind = kGemmSingle;
    g.m = g.n = g.k = 16;
    g.a_type = g.b_type = g.c_type = 0;  // CUDA_R_32F
    g.compute_type = 68;                 // CUBLAS_COMPUTE_32F
    g.lda = g.ldb = g.ldc = 16;
    g.a = addr(0), g.b = addr(1), g.c = addr(2);
    const float one = 1.0f, zero = 0.0f;
    std::memcpy(g.alpha, &one, 4);
    std::memcpy(g.beta, &zero, 4);
    s.posted(Op::BlasGemm, g);
    g.batch_kind = kGemmStrided, g.batch_count = 4, g.stride_a = g.stride_b = g.stride_c = 256;
    s.posted(Op::BlasGemm, g);
    g.a_type = g.b_type = 2, g.c_type = 0;  // f16 in, f32 out
    g.batch_count = 2, g.stride_a = g.stride_b = 512, g.stride_c = 256;
    s.posted(Op::BlasGemm, g);
    g.c_type = 2, g.compute_type = 64;  // all f16 (CUBLAS_COMPUTE_16F), half scalars
    const uint16_t h_one = 0x3c00, h_zero = 0;
    std::memcpy(g.alpha, &h_one, 2);
    std::memcpy(g.beta, &h_zero, 2);
    g.stride_c = 512;
    s.posted(Op::BlasGemm, g);
    g.a_type = g.b_type = g.c_type = 1, g.compute_type = 70;  // f64 (CUBLAS_COMPUTE_64F)
    const double d_one = 1.0, d_half = 0.5;
    std::memcpy(g.alpha, &d_one, 8);
    std::memcpy(g.beta, &d_half, 8);
    g.stride_a = g.stride_b = g.stride_c = 256;
    s.posted(Op::BlasGemm, g);
    g.a_type = g.b_type = g.c_type = 0, g.compute_type = 68;
    std::memcpy(g.alpha, &one, 4);
    std::memcpy(g.beta, &zero, 4);
    BlasL12Req l{};
    l.s = g.s;
    l.routine = uint32_t(BlasL12::kSaxpy);
    l.n = 64, l.incx = l.incy = 1, l.alpha = 2.0f;
    l.x = addr(0), l.y = addr(2);
    s.rec(Op::BlasL12, l);
    l.routine = uint32_t(BlasL12::kSdot);
    s.rec(Op::BlasL12, l);
    l.routine = uint32_t(BlasL12::kSgemv), l.m = 32, l.n = 16, l.lda = 32, l.incx = 1, l.incy = -1, l.a = addr(1);
    s.rec(Op::BlasL12, l);
    // Pointer arrays for the batched calls: the arena starts with the known
    // device addresses; copy them into allocation 0's end.
    s.posted(Op::MemcpyHtoD, MemcpyHtoDReq{addr(0, 16384 - 64), 0, 24, kStreamLegacy});
    g.batch_kind = kGemmBatched, g.batch_count = 2, g.a_type = g.b_type = g.c_type = 0;
    g.m = g.n = g.k = 4, g.lda = g.ldb = g.ldc = 4;
    g.a = g.b = g.c = addr(0, 16384 - 64);
    s.posted(Op::BlasGemm, g);
    TrsmBatchedReq t{};
    t.s = g.s;
    t.m = t.n = 4, t.lda = t.ldb = 4, t.batch_count = 2, t.alpha = 1.0f;
    t.a = t.b = addr(0, 16384 - 64);
    s.posted(Op::BlasTrsmBatched, t);
    s.rec(Op::CtxSynchronize, none);
    s.rec(Op::BlasDestroy, BlasDestroyReq{handle(kBlas, 1)});
    ok &= s.write(dir, "blas");
  }
  {  // virtual memory: reserve, create, map, access, use, unmap, release, free
    Stream s;
    s.rec(Op::MemGranularity, MemGranularityReq{{65536, 0, 0, 0, 0}, 0, 0});
    s.rec(Op::MemAddressReserve, AddressReserveReq{4 << 20, 0, 0, 0});
    s.rec(Op::MemCreate, MemCreateReq{{65536, 0, 0, 0, 0}});  // handle 1
    s.rec(Op::MemMap, MemMapReq{addr(0), 65536, 0, handle(kMemHandle, 1)});
    s.rec(Op::MemMap, MemMapReq{addr(1, 65536), 65536, 0, handle(kMemHandle, 1)});  // aliases
    s.rec(Op::MemSetAccess, MemSetAccessReq{addr(0), 131072, 0, 3});
    s.posted(Op::Memset, MemsetReq{addr(0), 7, 1, 131072, kStreamLegacy});
    s.posted(Op::MemcpyDtoH, MemcpyDtoHReq{0, addr(0, 65536), 4096, kStreamLegacy});
    s.rec(Op::MemUnmap, MemUnmapReq{addr(0), 65536});
    s.rec(Op::MemRelease, MemReleaseReq{handle(kMemHandle, 1)});
    s.rec(Op::MemAddressFree, MemAddressFreeReq{addr(1), 4 << 20});  // mappings come first
    ok &= s.write(dir, "vmm");
  }
  {  // records that cross the ring's end: a wrap marker, then more records
    Stream s(kRingBytes - 256, 1);
    s.rec(Op::MemAlloc, MemAllocReq{1024});
    std::vector<uint8_t> data(200, 0x5a);
    s.posted(Op::MemcpyHtoD, MemcpyHtoDReq{addr(0), kInline, 200, kStreamLegacy}, data.data(), 200);
    s.posted(Op::MemcpyHtoD, MemcpyHtoDReq{addr(0), 0, 200, kStreamLegacy});
    s.rec(Op::MemGetInfo, none);
    s.rec(Op::MemFree, MemFreeReq{addr(0)});
    ok &= s.write(dir, "wrap");
  }
  {  // regression: trsm with alpha == 0 and a tall B (op(A) must not be allocated)
    Stream s;
    s.rec(Op::MemAlloc, MemAllocReq{800064});
    s.posted(Op::MemcpyHtoD, MemcpyHtoDReq{addr(0, 800000), 0, 8, kStreamLegacy});  // B's pointer
    s.rec(Op::BlasCreate, none);
    TrsmBatchedReq t{};
    t.s = BlasState{handle(kBlas, 1), kStreamLegacy, 0, 0, 0, 0};
    t.m = 200000, t.n = 1, t.lda = t.ldb = 200000, t.batch_count = 1, t.alpha = 0.0f;
    t.a = t.b = addr(0, 800000);
    s.rec(Op::BlasTrsmBatched, t);
    ok &= s.write(dir, "regress-trsm-alpha0");
  }
  if (!ok) {
    std::fprintf(stderr, "%s: cannot write the corpus into %s\n", argv[0], dir.c_str());
    return 1;
  }
  return 0;
}
