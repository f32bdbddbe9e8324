// The shared region: the bytes a guest and the host daemon both map.
//
// One region serves one VM (or, without a VM, one /dev/shm file). It holds a
// header at offset 0, then `slot_count` slots. A slot is one guest process'
// session: a control block, `channels_per_slot` channels (each a command ring,
// a completion ring and a reply buffer; one channel per guest thread) and a
// bulk data arena (copy staging, fatbins, pinned host memory).
//
//   [RegionHeader 4 KiB][slot 0][slot 1]...[slot N-1]
//   slot = [SlotCtl 4 KiB][channel 0]...[channel C-1][arena]
//   channel = [ChannelCtl][command ring bytes][completion entries][reply buffer]
//
// Offsets only, never pointers: each side maps the region at its own address.
// Fields are marked with who writes them. The host never trusts a field the
// guest writes; the guest trusts the host (it is the host's GPU).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "vgpu/ring.h"

namespace vgpu {

inline constexpr uint64_t kRegionMagic = 0x3155504756ull;  // "VGPU1" little-endian
inline constexpr uint32_t kLayoutVersion = 2;
inline constexpr size_t kPage = 4096;

// Host life cycle, RegionHeader::host_state.
enum class HostState : uint32_t { kInit = 0, kReady = 1, kStopped = 2 };

// Slot life cycle, SlotCtl::state. A guest moves kFree->kClaiming (CAS: the
// slot is now its alone), fills in its claim, then ->kClaimed; and later
// kServing->kClosing. The host moves kClaimed->kServing and anything->kFree
// (after its worker for the slot has exited and the slot has been wiped).
enum class SlotState : uint32_t { kFree = 0, kClaimed = 1, kServing = 2, kClosing = 3, kClaiming = 4 };

// What a region looks like; the host chooses it, the header records it.
struct RegionConfig {
  uint32_t slot_count = 4;
  uint32_t channels_per_slot = 8;
  uint32_t cmd_ring_bytes = 1u << 20;   // power of two
  uint32_t cpl_ring_entries = 256;      // power of two
  uint32_t reply_bytes = 64u << 10;
  uint64_t arena_bytes = 256ull << 20;  // per slot, multiple of kPage
};

struct alignas(kPage) RegionHeader {
  // Written once by the host before host_state becomes kReady.
  uint64_t magic;
  uint32_t version;
  uint32_t header_bytes;
  uint64_t total_bytes;
  uint32_t slot_count;
  uint32_t channels_per_slot;
  uint32_t cmd_ring_bytes;
  uint32_t cpl_ring_entries;
  uint32_t reply_bytes;
  uint32_t reserved0;
  uint64_t arena_bytes;
  uint64_t slot_bytes;       // stride between slots
  uint64_t slots_offset;     // offset of slot 0
  uint64_t channel_bytes;    // stride between channels
  uint64_t channels_offset;  // offset of channel 0 inside a slot
  uint64_t arena_offset;     // offset of the arena inside a slot

  // Host-owned, live.
  alignas(kLineSpacing) std::atomic<uint64_t> session_id;  // re-randomised on every host start
  std::atomic<uint64_t> host_heartbeat;                    // bumped by the host every ~100 ms
  std::atomic<uint32_t> host_state;                        // HostState
  uint32_t host_pid;                                       // informational only
};
static_assert(sizeof(RegionHeader) == kPage);
static_assert(offsetof(RegionHeader, session_id) % kLineSpacing == 0);

struct alignas(kPage) SlotCtl {
  // Guest-owned (the guest process that claimed the slot).
  alignas(kLineSpacing) std::atomic<uint32_t> state;  // SlotState; host writes it too, see above
  uint32_t guest_pid;                                 // informational only
  std::atomic<uint64_t> guest_heartbeat;              // bumped by the guest every ~100 ms
  uint64_t claim_token;                               // random per claim; echoed by the host
  uint64_t claimed_session;                           // RegionHeader::session_id seen at claim
  // Where this process mapped the slot's first byte. A hint: the worker maps
  // the slot there too when the range is free in it, so that a pointer to
  // pinned memory (the arena) is the same device address on both sides, as
  // unified addressing promises (src/host/same_address.h). 0: no hint.
  uint64_t guest_slot_address;

  // Host-owned (the worker serving the slot).
  alignas(kLineSpacing) std::atomic<uint64_t> served_token;  // claim_token the worker serves
  std::atomic<uint64_t> worker_heartbeat;
  std::atomic<uint32_t> need_wakeup;  // worker is going to sleep: ring `doorbell`
  std::atomic<uint32_t> doorbell;     // futex word the worker sleeps on
  std::atomic<uint32_t> fatal;        // worker ended the session: CUresult-style code
  uint32_t worker_pid;
};
static_assert(sizeof(SlotCtl) == kPage);
static_assert(offsetof(SlotCtl, served_token) % kLineSpacing == 0);

// One channel = one guest thread's command ring, completion ring and reply
// buffer. Producer and consumer indices of each ring live on lines 128 B apart.
struct alignas(kLineSpacing) ChannelCtl {
  alignas(kLineSpacing) std::atomic<uint32_t> in_use;  // guest-owned: a thread holds it
  uint32_t owner_tid;                                  // informational only
  RingCtl cmd;                                         // guest produces, host consumes
  RingCtl cpl;                                         // host produces, guest consumes
  // Guest-owned: the guest is sleeping on cpl_doorbell and wants a wake.
  alignas(kLineSpacing) std::atomic<uint32_t> guest_need_wakeup;
  std::atomic<uint32_t> cpl_doorbell;
  // Written by the host's GPU (a stream memory operation the host enqueues):
  // the seq of the last kFlagDeviceAnswer record the stream itself answered.
  // The guest, spinning on this line, sees the answer as soon as the device
  // has it, with no host poll in between.
  alignas(kLineSpacing) std::atomic<uint64_t> device_seq;
};
static_assert(sizeof(ChannelCtl) % kLineSpacing == 0);
static_assert(offsetof(ChannelCtl, cmd) % kLineSpacing == 0);
static_assert(offsetof(ChannelCtl, cpl) % kLineSpacing == 0);
static_assert(offsetof(ChannelCtl, guest_need_wakeup) % kLineSpacing == 0);
static_assert(offsetof(ChannelCtl, device_seq) % kLineSpacing == 0);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

// Where each part lies, computed from a config. The host computes it from
// its own configuration; a guest from its validated copy of the header.
struct Layout {
  uint64_t channel_bytes;
  uint64_t channels_offset;
  uint64_t cmd_offset;    // inside a channel
  uint64_t cpl_offset;    // inside a channel
  uint64_t reply_offset;  // inside a channel
  uint64_t arena_offset;  // inside a slot; also the bytes a wipe clears
  uint64_t slot_bytes;
  uint64_t slots_offset;
  uint64_t total_bytes;
};

// Returns false (with a reason) for a config that cannot be laid out.
bool compute_layout(const RegionConfig& cfg, Layout* out, const char** why);

// The header's write-once fields, as plain values: what the host writes (and
// re-asserts), and what a reader copies out of shared memory, each field read
// once, before it checks or uses any of them.
struct HeaderFields {
  uint64_t magic;
  uint32_t version;
  uint32_t header_bytes;
  uint64_t total_bytes;
  RegionConfig config;
  uint64_t slot_bytes;
  uint64_t slots_offset;
  uint64_t channel_bytes;
  uint64_t channels_offset;
  uint64_t arena_offset;
};

// The fields a host writes for `cfg` laid out as `layout`.
HeaderFields header_fields_for(const RegionConfig& cfg, const Layout& layout);

// One read of every write-once field (relaxed atomic loads: the other side
// may be writing them, hostile or not).
HeaderFields read_header(const RegionHeader* h);

// Stores every write-once field (atomic stores). The host calls it when it
// formats a region and again with every heartbeat, so a header a guest
// scribbled on heals; the host itself never reads these fields back.
void write_header(RegionHeader* h, const HeaderFields& f);

// Fills a zeroed mapping of at least layout.total_bytes with a fresh header
// (new random session id, returned) and empty slots; host_state is left kInit.
uint64_t format_region(void* base, const RegionConfig& cfg, const Layout& layout);

// Checks magic, version and that every size and offset is the one
// compute_layout gives for the recorded sizes and fits `mapped_bytes`.
// Returns nullptr if fine, else a message naming what is wrong; on success
// *layout (if given) is that layout.
const char* validate_header(const HeaderFields& f, uint64_t mapped_bytes, Layout* layout = nullptr);
// The same for a live header: validates one copy of it (read_header).
inline const char* validate_header(const RegionHeader* h, uint64_t mapped_bytes) {
  if (mapped_bytes < sizeof(RegionHeader)) return "region smaller than its header";
  return validate_header(read_header(h), mapped_bytes);
}

inline RegionHeader* header_of(void* base) { return static_cast<RegionHeader*>(base); }

// Addresses of a region's parts: RegionView (vgpu/region_view.h), built once
// from a layout the viewer owns. There are no helpers that recompute an
// address from the live header: its bytes belong to whoever maps the region.

}  // namespace vgpu
