// libFuzzer target: the host's record decoder and handlers, fed what a hostile
// guest controls.
//
// A guest owns the bytes of its command rings and of its arena. This target
// lays the fuzz input out as the byte stream a producer wrote into a command
// ring, consumes it with RingConsumer::peek/pop exactly as the worker does,
// and runs every accepted record through vgpu::host::dispatch() against a real
// Session on the CPU backend (small quota), with an arena, a reply buffer and
// a SlotCtl of its own. Handlers thus see forged handles, offsets, sizes,
// names without NUL, huge counts, truncated requests, unknown opcodes...
// A protocol error (kProtocolError, or a record the ring refuses) ends the
// input as it ends the session. At the end the session is released and the
// backend must hold no memory any more.
//
// Input: byte 0 picks where the ring's free-running index starts (its offset
// in the ring and a far lap, so wrap markers and large positions are reached),
// byte 1 the channel; the rest is the ring's byte stream from that index on.
// Each record's stamp word is overwritten with the stamp the consumer expects
// (a producer writes it last), so records are actually parsed; past the end
// of the input the ring is empty. The ring is refilled behind the consumer as
// a producer would, so an input can carry more records than fit at once.
//
// To reach past the address checks, 8-byte payload words 0xD5D5D5ii_oooooooo
// are replaced by known device address #ii (allocations, then VMM mappings,
// then reservations, as the replies gave them to the guest) plus the signed
// offset oooooooo, and the arena's first bytes hold those addresses (so a
// host-to-device copy from arena offset 0 builds device pointer arrays).
//
// Records whose legitimate cost is huge (GEMM batch x m x n x k and the like)
// are skipped: the CPU backend runs them synchronously, so they are slow, not
// wrong. VGPU_FUZZ_TRACE=1 prints each record as the daemon's --trace would.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "backend.h"
#include "cpu_backend.h"
#include "dispatch.h"
#include "session.h"
#include "vgpu/ops.h"
#include "vgpu/region.h"
#include "vgpu/ring.h"
#include "vgpu/stats.h"

namespace {

using namespace vgpu;
using namespace vgpu::host;

constexpr uint32_t kRingBytes = 4096;           // command ring capacity (records up to 1 KiB)
constexpr uint64_t kArenaBytes = 64 << 10;      // the slot's arena
constexpr uint32_t kReplyBytes = 16384;         // the smallest reply buffer a region may have
constexpr uint64_t kQuota = 1 << 20;            // the session's device memory quota
constexpr uint64_t kMaxImage = 16 << 10;        // largest module image (BlobAppend total)
constexpr int kMaxRecords = 512;
constexpr uint64_t kMaxWork = uint64_t(1) << 22;  // multiply-adds one record may ask for
constexpr uint64_t kSubstTag = 0xD5D5D5ull;

bool g_trace = false;

// Device addresses the guest has been told about, in a stable order.
void known_addresses(const Session& s, std::vector<uint64_t>* out) {
  out->clear();
  for (auto& [p, n] : s.allocations()) out->push_back(p);
  for (auto& [p, n] : s.mappings()) out->push_back(p);
  for (auto& [p, n] : s.reservations()) out->push_back(p);
}

void substitute(std::byte* p, uint32_t n, const std::vector<uint64_t>& addrs) {
  for (uint32_t i = 0; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if ((w >> 40) != kSubstTag) continue;
    const size_t idx = (w >> 32) & 0xff;
    if (idx >= addrs.size()) continue;
    w = addrs[idx] + static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(w & 0xffffffffu)));
    std::memcpy(p + i, &w, 8);
  }
}

uint64_t dim(int32_t v) { return v > 0 ? static_cast<uint64_t>(v) : 1; }

// Rough multiply-add count of a record, for the ops whose work is not bounded
// by the memory it touches.
uint64_t work_of(uint16_t op, const std::byte* p, uint32_t n) {
  switch (static_cast<Op>(op)) {
    case Op::BlasGemm: {
      if (n < sizeof(GemmReq)) return 0;
      GemmReq r;
      std::memcpy(&r, p, sizeof r);
      const uint64_t batch = r.batch_kind == kGemmSingle ? 1 : dim(r.batch_count);
      return batch * dim(r.m) * dim(r.n) * dim(r.k);
    }
    case Op::BlasTrsmBatched: {
      if (n < sizeof(TrsmBatchedReq)) return 0;
      TrsmBatchedReq r;
      std::memcpy(&r, p, sizeof r);
      // Scaling B by alpha == 0 touches B only; a solve builds op(A) and
      // runs a triangular solve per column (or row) of B.
      const uint64_t ka = r.side == 0 ? dim(r.m) : dim(r.n);
      const uint64_t mn = dim(r.m) * dim(r.n);
      return dim(r.batch_count) * (r.alpha == 0.0f ? mn : ka * ka + mn * ka);
    }
    case Op::BlasL12: {
      if (n < sizeof(BlasL12Req)) return 0;
      BlasL12Req r;
      std::memcpy(&r, p, sizeof r);
      return dim(r.m) * dim(r.n);
    }
    default:
      return 0;
  }
}

[[noreturn]] void fail(const char* what, uint16_t op) {
  std::fprintf(stderr, "fuzz_host_decoder: %s (op %s)\n", what, op_name(op));
  std::abort();
}

// Raw bytes with no slack around them, so ASan sees any access outside.
struct Buffer {
  explicit Buffer(size_t n) : p(new std::byte[n]()), size(n) {}
  std::unique_ptr<std::byte[]> p;
  size_t size;
};

void run_one(const uint8_t* data, size_t size) {
  if (size < 2) return;
  // Where the ring's indices start: offset (multiple of 256) and lap.
  const uint64_t start = (uint64_t(data[0] >> 4) << 33) + uint64_t(data[0] & 0x0f) * (kRingBytes / 16);
  const uint32_t channel = data[1] & 7;
  const uint8_t* stream = data + 2;
  const uint64_t end = start + (size - 2);

  // The shared memory a guest writes: ring control lines and data, arena.
  // The slot control block is the host's to write; handlers get one too.
  auto* ring_ctl = new RingCtl{};
  ring_ctl->head.store(start);
  ring_ctl->tail.store(start);
  Buffer ring(kRingBytes), arena(kArenaBytes), reply(kReplyBytes);
  auto* slot = new SlotCtl{};
  auto* stats = new SlotStats{};
  for (uint64_t i = 0; i < kArenaBytes; i += 4) {  // small floats: GEMMs see numbers
    const float f = static_cast<float>((i / 4) % 7) - 3.0f;
    std::memcpy(arena.p.get() + i, &f, 4);
  }

  std::unique_ptr<Backend> be = make_cpu_backend(4 << 20);  // the session's quota is smaller still
  if (be->init(0) != st::kOk) fail("CPU backend failed to initialise", 0);
  {
    Session s;
    s.be = be.get();
    s.ctl = slot;
    s.stats = stats;
    s.arena = arena.p.get();
    s.arena_bytes = kArenaBytes;
    s.mem_quota = kQuota;
    s.max_image_bytes = kMaxImage;
    // The arena is not registered with the backend as a worker's is: the CPU
    // backend holds a stream waiting on registered memory for up to 2 s (the
    // guest's threads may write it), which the fuzzer would count as a hang.
    s.device_arena_base = 0;

    RingConsumer cons(ring_ctl, ring.p.get(), kRingBytes, start);
    uint64_t written = start;  // ring stream bytes written up to here
    std::vector<uint64_t> addrs;
    auto stamp = [&](uint64_t pos) {
      auto* h = reinterpret_cast<RecordHeader*>(ring.p.get() + (pos & (kRingBytes - 1)));
      h->stamp.store(stamp_for(pos, 5), std::memory_order_release);
    };
    for (int n = 0; n < kMaxRecords; ++n) {
      // The producer fills the space the consumer has released.
      const uint64_t head = cons.head();
      const uint64_t limit = head + kRingBytes < end ? head + kRingBytes : end;
      for (; written < limit; ++written)
        ring.p[written & (kRingBytes - 1)] = static_cast<std::byte>(stream[written - start]);
      if (head + sizeof(RecordHeader) > end) break;  // nothing more was written
      // ...and stamps what it wrote: the record at the head, and after a
      // wrap marker that reaches the ring's end, the record at offset 0.
      stamp(head);
      const auto* h = reinterpret_cast<const RecordHeader*>(ring.p.get() + (head & (kRingBytes - 1)));
      const uint32_t off = static_cast<uint32_t>(head & (kRingBytes - 1));
      if (h->op == kOpWrap && off != 0 && h->size == kRingBytes - off) {
        if (head + h->size + sizeof(RecordHeader) > end) break;
        stamp(head + h->size);
      }

      RingConsumer::View v;
      const RingError e = cons.peek(&v);
      if (e != RingError::kNone) break;  // refused (the session ends) or empty
      if (v.payload_bytes > v.size - sizeof(RecordHeader) ||
          v.payload < ring.p.get() || v.payload + v.payload_bytes > ring.p.get() + kRingBytes)
        fail("peek accepted a record outside the ring", v.op);

      // The handler reads the payload where it lies; a copy of exactly its
      // size lets ASan catch a read past it.
      Buffer payload(v.payload_bytes ? v.payload_bytes : 1);
      std::memcpy(payload.p.get(), v.payload, v.payload_bytes);
      known_addresses(s, &addrs);
      substitute(payload.p.get(), v.payload_bytes, addrs);
      const size_t shown = addrs.size() < 64 ? addrs.size() : 64;
      if (shown) std::memcpy(arena.p.get(), addrs.data(), shown * 8);

      if (work_of(v.op, payload.p.get(), v.payload_bytes) <= kMaxWork) {
        Call call{s, channel, v.seq, v.flags};
        uint32_t reply_len = 0;
        const Status result =
            dispatch(call, v.op, payload.p.get(), v.payload_bytes, reply.p.get(), kReplyBytes, &reply_len);
        if (g_trace) trace_call(call, v.op, payload.p.get(), v.payload_bytes, result, 0.0);
        if (reply_len > kReplyBytes || call.reply_extra_len > call.reply_extra_cap)
          fail("reply larger than the reply buffer", v.op);
        if (result == kProtocolError) {
          if (call.protocol_error == nullptr) fail("protocol error without a reason", v.op);
          break;  // the worker ends the session here
        }
        if (static_cast<size_t>(v.op) >= kOpCount) fail("unknown op ran", v.op);
        // What the worker does with a deferred completion: poll it, then
        // release the fence.
        if (call.has_fence) {
          be->fence_poll(call.fence);
          be->fence_release(call.fence);
        } else if (call.has_event) {
          be->event_query(call.event);
        } else if (call.has_idle) {
          be->stream_query(call.idle_stream);
        }
        if (s.mem_held() > kQuota) fail("session holds more than its quota", v.op);
      }
      cons.pop(v);
      if (s.bye) break;
    }
    s.release_all();
    auto* cpu = static_cast<cpu::CpuBackend*>(be.get());
    if (cpu->used() != 0) fail("backend memory left after release_all", 0);
  }
  be.reset();
  delete stats;
  delete slot;
  delete ring_ctl;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* t = std::getenv("VGPU_FUZZ_TRACE");
  g_trace = t != nullptr && *t != '\0' && *t != '0';
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run_one(data, size);
  return 0;
}

// UBSan findings are crashes here, whatever UBSAN_OPTIONS says.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }
