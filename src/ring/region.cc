// Region layout: computing it, writing a fresh header, validating one.
#include "vgpu/region.h"

#include <cstring>
#include <random>

namespace vgpu {
namespace {

constexpr bool pow2(uint64_t v) { return v && !(v & (v - 1)); }
constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

bool compute_layout(const RegionConfig& c, Layout* out, const char** why) {
  auto fail = [&](const char* m) {
    if (why) *why = m;
    return false;
  };
  if (c.slot_count == 0 || c.slot_count > 64) return fail("slot_count must be 1..64");
  if (c.channels_per_slot == 0 || c.channels_per_slot > 64) return fail("channels_per_slot must be 1..64");
  if (!pow2(c.cmd_ring_bytes) || c.cmd_ring_bytes < 4096 || c.cmd_ring_bytes > (1u << 28))
    return fail("cmd_ring_bytes must be a power of two in 4 KiB..256 MiB");
  if (!pow2(c.cpl_ring_entries) || c.cpl_ring_entries < 8 || c.cpl_ring_entries > (1u << 20))
    return fail("cpl_ring_entries must be a power of two in 8..1M");
  if (c.reply_bytes < 16384 || c.reply_bytes % kPage != 0 || c.reply_bytes > (16u << 20))
    return fail("reply_bytes must be a multiple of 4 KiB in 16 KiB..16 MiB");
  if (c.arena_bytes < (1u << 20) || c.arena_bytes % kPage != 0 || c.arena_bytes > (64ull << 30))
    return fail("arena_bytes must be a multiple of 4 KiB in 1 MiB..64 GiB");
  Layout l{};
  l.cmd_offset = align_up(sizeof(ChannelCtl), kPage);
  l.cpl_offset = l.cmd_offset + c.cmd_ring_bytes;
  l.reply_offset = align_up(l.cpl_offset + uint64_t(c.cpl_ring_entries) * sizeof(Completion), kPage);
  l.channel_bytes = align_up(l.reply_offset + c.reply_bytes, kPage);
  l.channels_offset = sizeof(SlotCtl);
  // 2 MiB-aligned arenas let the host register and the guest map huge pages.
  l.arena_offset = align_up(l.channels_offset + l.channel_bytes * c.channels_per_slot, 2u << 20);
  l.slot_bytes = align_up(l.arena_offset + c.arena_bytes, 2u << 20);
  l.slots_offset = 2u << 20;
  l.total_bytes = l.slots_offset + l.slot_bytes * c.slot_count;
  *out = l;
  return true;
}

void format_region(void* base, const RegionConfig& c, const Layout& l) {
  auto* h = header_of(base);
  std::memset(static_cast<void*>(h), 0, sizeof(RegionHeader));
  h->magic = kRegionMagic;
  h->version = kLayoutVersion;
  h->header_bytes = sizeof(RegionHeader);
  h->total_bytes = l.total_bytes;
  h->slot_count = c.slot_count;
  h->channels_per_slot = c.channels_per_slot;
  h->cmd_ring_bytes = c.cmd_ring_bytes;
  h->cpl_ring_entries = c.cpl_ring_entries;
  h->reply_bytes = c.reply_bytes;
  h->arena_bytes = c.arena_bytes;
  h->slot_bytes = l.slot_bytes;
  h->slots_offset = l.slots_offset;
  h->channel_bytes = l.channel_bytes;
  h->channels_offset = l.channels_offset;
  h->arena_offset = l.arena_offset;
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (uint64_t(rd()) << 32) ^ rd();
  h->session_id.store(id, std::memory_order_relaxed);
  h->host_heartbeat.store(0, std::memory_order_relaxed);
  h->host_state.store(static_cast<uint32_t>(HostState::kInit), std::memory_order_relaxed);
  for (uint32_t s = 0; s < c.slot_count; ++s) {
    // Control blocks and ring memory only; arenas need no clearing.
    std::memset(slot_base(base, s), 0, l.arena_offset);
  }
}

const char* validate_header(const RegionHeader* h, uint64_t mapped_bytes) {
  if (mapped_bytes < sizeof(RegionHeader)) return "region smaller than its header";
  if (h->magic != kRegionMagic) return "bad magic (not a vgpu region, or not initialised yet)";
  if (h->version != kLayoutVersion) return "layout version mismatch between guest and host";
  if (h->header_bytes != sizeof(RegionHeader)) return "header size mismatch";
  RegionConfig c = config_of(h);
  Layout l;
  const char* why = nullptr;
  if (!compute_layout(c, &l, &why)) return why;
  if (h->total_bytes != l.total_bytes || h->slot_bytes != l.slot_bytes ||
      h->slots_offset != l.slots_offset || h->channel_bytes != l.channel_bytes ||
      h->channels_offset != l.channels_offset || h->arena_offset != l.arena_offset)
    return "header offsets disagree with the layout its sizes give";
  if (h->total_bytes > mapped_bytes) return "region is larger than the mapping";
  return nullptr;
}

RegionConfig config_of(const RegionHeader* h) {
  RegionConfig c;
  c.slot_count = h->slot_count;
  c.channels_per_slot = h->channels_per_slot;
  c.cmd_ring_bytes = h->cmd_ring_bytes;
  c.cpl_ring_entries = h->cpl_ring_entries;
  c.reply_bytes = h->reply_bytes;
  c.arena_bytes = h->arena_bytes;
  return c;
}

}  // namespace vgpu
