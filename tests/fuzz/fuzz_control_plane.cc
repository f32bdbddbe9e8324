// libFuzzer target: the region's control plane, fed what a hostile VM controls.
//
// A VM owns every byte of its ivshmem BAR, the header included. This target
// formats a small region, lets the real supervisor logic (RegionHost: header
// re-assertion, slot life cycle, per-slot budget) and real workers
// (serve_slot, CPU backend, in threads of this process) run against it, and
// plays the guest with the fuzz input: it writes header fields, slot control
// words, channel control words and ring indices (every one the guest can
// reach, host-owned ones too) with chosen or extreme values, publishes
// records into command rings, and runs supervisor passes in between. Whatever
// it writes, the host must never follow a bad offset (ASan), never hang (the
// input ends every session and joins its worker), and heal the slot and the
// header once the input is done.
//
// Input: a sequence of 10-byte steps {kind, where, value (8 bytes LE)}.
//   kind & 7: 0 header word, 1 slot word, 2 channel word, 3 publish a record,
//             4 supervisor pass, 5 heartbeat (re-assert), 6 let the worker run,
//             7 a guest heartbeat
//   kind & 8: value is one of the extremes (0, 1, 2^32-1, 2^63, 2^64-1, ...)
//   where:    which word (and slot / channel) the step writes
// Slot 0 starts claimed by a well-behaved guest so a worker serves it.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "region_host.h"
#include "vgpu/ops.h"
#include "vgpu/region.h"
#include "vgpu/region_view.h"
#include "vgpu/ring.h"
#include "vgpu/wait.h"
#include "worker.h"

namespace {

using namespace vgpu;
using namespace vgpu::host;

constexpr uint32_t kSlots = 2;
constexpr uint32_t kChannels = 2;
constexpr int kMaxSteps = 256;
constexpr uint64_t kExtremes[] = {0, 1, 2, 0xffffffffull, 0x100000000ull, 1ull << 63, ~0ull, 0x7fffffffull};

RegionConfig fuzz_config() {
  RegionConfig c;
  c.slot_count = kSlots;
  c.channels_per_slot = kChannels;
  c.cmd_ring_bytes = 4096;
  c.cpl_ring_entries = 8;
  c.reply_bytes = 16384;
  c.arena_bytes = 1 << 20;
  return c;
}

struct Mapped {
  void* base = nullptr;
  uint64_t bytes = 0;
};

Mapped& region() {
  static Mapped m = [] {
    Layout l;
    compute_layout(fuzz_config(), &l, nullptr);
    Mapped r;
    r.bytes = l.total_bytes;
    r.base = mmap(nullptr, r.bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r.base == MAP_FAILED) std::abort();
    return r;
  }();
  return m;
}

template <class T>
void put(T& field, uint64_t v) {
  std::atomic_ref<T>(field).store(static_cast<T>(v), std::memory_order_release);
}

void write_header_word(RegionHeader* h, uint32_t which, uint64_t v) {
  switch (which % 20) {
    case 0: put(h->magic, v); break;
    case 1: put(h->version, v); break;
    case 2: put(h->header_bytes, v); break;
    case 3: put(h->total_bytes, v); break;
    case 4: put(h->slot_count, v); break;
    case 5: put(h->channels_per_slot, v); break;
    case 6: put(h->cmd_ring_bytes, v); break;
    case 7: put(h->cpl_ring_entries, v); break;
    case 8: put(h->reply_bytes, v); break;
    case 9: put(h->reserved0, v); break;
    case 10: put(h->arena_bytes, v); break;
    case 11: put(h->slot_bytes, v); break;
    case 12: put(h->slots_offset, v); break;
    case 13: put(h->channel_bytes, v); break;
    case 14: put(h->channels_offset, v); break;
    case 15: put(h->arena_offset, v); break;
    case 16: h->session_id.store(v); break;
    case 17: h->host_heartbeat.store(v); break;
    case 18: h->host_state.store(static_cast<uint32_t>(v)); break;
    default: put(h->host_pid, v); break;
  }
}

void write_slot_word(SlotCtl* c, uint32_t which, uint64_t v) {
  switch (which % 12) {
    case 0: c->state.store(static_cast<uint32_t>(v)); break;
    case 1: put(c->guest_pid, v); break;
    case 2: c->guest_heartbeat.store(v); break;
    case 3: put(c->claim_token, v); break;
    case 4: put(c->claimed_session, v); break;
    case 5: c->served_token.store(v); break;
    case 6: c->worker_heartbeat.store(v); break;
    case 7: c->need_wakeup.store(static_cast<uint32_t>(v)); break;
    case 8: c->doorbell.store(static_cast<uint32_t>(v)); break;
    case 9: c->fatal.store(static_cast<uint32_t>(v)); break;
    case 10: put(c->guest_slot_address, v); break;  // a hint a worker maps at only where the range is free
    default: put(c->worker_pid, v); break;
  }
}

void write_channel_word(ChannelCtl* c, uint32_t which, uint64_t v) {
  switch (which % 9) {
    case 0: c->in_use.store(static_cast<uint32_t>(v)); break;
    case 1: put(c->owner_tid, v); break;
    case 2: c->cmd.tail.store(v); break;
    case 3: c->cmd.head.store(v); break;
    case 4: c->cpl.tail.store(v); break;
    case 5: c->cpl.head.store(v); break;
    case 6: c->guest_need_wakeup.store(static_cast<uint32_t>(v)); break;
    case 7: c->cpl_doorbell.store(static_cast<uint32_t>(v)); break;
    default: c->device_seq.store(v); break;
  }
}

uint64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// The guest's producer position per channel of slot 0, and its next seq.
struct GuestSide {
  uint64_t pos[kChannels] = {};
  uint64_t seq = 1;
};

// Writes one record at channel `ch`'s producer position, stamped, so the
// worker reads it: op = byte 0 of `v` (past the last op: unknown), flags =
// bits 8-9, size = 32 * (1 + bits 16-17), payload bytes = byte 3, seq the
// next one (or `v` itself when bits 40-42 are 6: out of sequence). A wrap
// marker first where the record would cross the ring's end.
void publish(const ChannelView& cv, GuestSide& g, uint32_t ch, uint64_t v) {
  const uint32_t cap = static_cast<uint32_t>(cv.cmd.size());
  const uint32_t size = 32 * (1 + (v >> 16) % 4);
  uint64_t& pos = g.pos[ch];
  uint32_t off = static_cast<uint32_t>(pos & (cap - 1));
  if (off + size > cap) {
    auto* w = reinterpret_cast<RecordHeader*>(cv.cmd.data() + off);
    w->op = kOpWrap;
    w->size = cap - off;
    w->stamp.store(stamp_for(pos, 5), std::memory_order_release);
    pos += cap - off;
    off = 0;
  }
  auto* h = reinterpret_cast<RecordHeader*>(cv.cmd.data() + off);
  h->op = static_cast<uint16_t>(v & 0xff);
  h->flags = static_cast<uint16_t>((v >> 8) & 3);
  h->size = size;
  h->payload = size - 32;
  h->seq = ((v >> 40) & 7) == 6 ? v : g.seq++;
  h->aux = v;
  std::memset(reinterpret_cast<std::byte*>(h) + 32, static_cast<int>(v >> 24), size - 32);
  h->stamp.store(stamp_for(pos, 5), std::memory_order_release);
  pos += size;
  cv.ctl->cmd.tail.store(pos, std::memory_order_release);
  wake_if_needed(&cv.ctl->guest_need_wakeup, &cv.ctl->cpl_doorbell);
}

struct Workers {
  std::thread t[kSlots];
  std::atomic<bool> done[kSlots] = {};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Mapped& m = region();
  const RegionConfig cfg = fuzz_config();
  Layout l;
  compute_layout(cfg, &l, nullptr);
  const uint64_t session = format_region(m.base, cfg, l);
  const auto view = RegionView::of_config(m.base, m.bytes, cfg, nullptr);
  RegionHost host(*view, session, "fuzz");
  host.beat(HostState::kReady);

  WorkerOptions opt;
  opt.backend = BackendChoice::kCpu;
  opt.guest_timeout_ms = 30;
  opt.idle_sleep_us = 200;
  opt.spin_us = 50;
  opt.housekeeping_us = 1000;
  opt.region = "fuzz";
  Workers w;
  auto start = [&](uint32_t s) -> pid_t {
    if (w.t[s].joinable()) w.t[s].join();  // (done: its slot was handed back below)
    w.done[s] = false;
    w.t[s] = std::thread([&, s] {
      serve_slot(*view, s, nullptr, opt);
      w.done[s] = true;
    });
    return static_cast<pid_t>(s + 1);
  };
  auto reap = [&] {
    for (uint32_t s = 0; s < kSlots; ++s)
      if (host.worker(s) && w.done[s]) w.t[s].join(), host.worker_exited(s);
  };

  // A well-behaved guest claims slot 0.
  SlotCtl* c0 = view->slot(0).ctl;
  c0->state.store(static_cast<uint32_t>(SlotState::kClaiming));
  c0->claim_token = 0x5eed;
  c0->guest_heartbeat.store(1);
  c0->state.store(static_cast<uint32_t>(SlotState::kClaimed), std::memory_order_release);
  host.serve(now_ms(), start);
  GuestSide g;

  for (size_t i = 0; i + 10 <= size && i / 10 < kMaxSteps; i += 10) {
    const uint8_t kind = data[i], where = data[i + 1];
    uint64_t v;
    std::memcpy(&v, data + i + 2, 8);
    if (kind & 8) v = kExtremes[v % (sizeof kExtremes / sizeof kExtremes[0])];
    const uint32_t s = where % kSlots, ch = (where >> 1) % kChannels, which = where >> 2;
    switch (kind & 7) {
      case 0: write_header_word(view->header(), where, v); break;
      case 1: write_slot_word(view->slot(s).ctl, which, v); break;
      case 2: write_channel_word(view->channel(s, ch).ctl, which, v); break;
      case 3: publish(view->channel(0, ch), g, ch, v); break;
      case 4: reap(), host.serve(now_ms(), start); break;
      case 5: host.beat(HostState::kReady); break;
      case 6: std::this_thread::sleep_for(std::chrono::microseconds(v % 2000)); break;
      default: c0->guest_heartbeat.fetch_add(1); break;
    }
  }

  // The guests leave: every session ends, its worker is joined, its slot wiped.
  for (;;) {
    bool any = false;
    for (uint32_t s = 0; s < kSlots; ++s) {
      if (!host.worker(s)) continue;
      any = true;
      view->slot(s).ctl->state.store(static_cast<uint32_t>(SlotState::kClosing), std::memory_order_release);
      wake_if_needed(&view->slot(s).ctl->need_wakeup, &view->slot(s).ctl->doorbell);
    }
    reap();
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  // What the host re-asserts heals the header; the next guest may attach.
  host.beat(HostState::kReady);
  if (const char* why = validate_header(view->header(), m.bytes)) {
    std::fprintf(stderr, "fuzz_control_plane: the header did not heal: %s\n", why);
    std::abort();
  }
  if (view->header()->session_id.load() != session) {
    std::fprintf(stderr, "fuzz_control_plane: the session id did not heal\n");
    std::abort();
  }
  return 0;
}
