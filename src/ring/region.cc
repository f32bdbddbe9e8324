// Region layout: computing it, writing a fresh header, validating one.
#include "vgpu/region.h"

#include <atomic>
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

HeaderFields header_fields_for(const RegionConfig& c, const Layout& l) {
  return HeaderFields{kRegionMagic,    kLayoutVersion, sizeof(RegionHeader), l.total_bytes,   c,
                      l.slot_bytes,    l.slots_offset, l.channel_bytes,      l.channels_offset, l.arena_offset};
}

namespace {
// Shared memory the other side may write at any time: every access is atomic.
template <class T>
T load(const T& field) {
  return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_relaxed);
}
template <class T>
void store(T& field, T v) {
  std::atomic_ref<T>(field).store(v, std::memory_order_relaxed);
}
}  // namespace

HeaderFields read_header(const RegionHeader* h) {
  HeaderFields f;
  f.magic = load(h->magic);
  f.version = load(h->version);
  f.header_bytes = load(h->header_bytes);
  f.total_bytes = load(h->total_bytes);
  f.config.slot_count = load(h->slot_count);
  f.config.channels_per_slot = load(h->channels_per_slot);
  f.config.cmd_ring_bytes = load(h->cmd_ring_bytes);
  f.config.cpl_ring_entries = load(h->cpl_ring_entries);
  f.config.reply_bytes = load(h->reply_bytes);
  f.config.arena_bytes = load(h->arena_bytes);
  f.slot_bytes = load(h->slot_bytes);
  f.slots_offset = load(h->slots_offset);
  f.channel_bytes = load(h->channel_bytes);
  f.channels_offset = load(h->channels_offset);
  f.arena_offset = load(h->arena_offset);
  return f;
}

void write_header(RegionHeader* h, const HeaderFields& f) {
  store(h->magic, f.magic);
  store(h->version, f.version);
  store(h->header_bytes, f.header_bytes);
  store(h->total_bytes, f.total_bytes);
  store(h->slot_count, f.config.slot_count);
  store(h->channels_per_slot, f.config.channels_per_slot);
  store(h->cmd_ring_bytes, f.config.cmd_ring_bytes);
  store(h->cpl_ring_entries, f.config.cpl_ring_entries);
  store(h->reply_bytes, f.config.reply_bytes);
  store(h->reserved0, uint32_t{0});
  store(h->arena_bytes, f.config.arena_bytes);
  store(h->slot_bytes, f.slot_bytes);
  store(h->slots_offset, f.slots_offset);
  store(h->channel_bytes, f.channel_bytes);
  store(h->channels_offset, f.channels_offset);
  store(h->arena_offset, f.arena_offset);
}

uint64_t format_region(void* base, const RegionConfig& c, const Layout& l) {
  auto* h = header_of(base);
  std::memset(static_cast<void*>(h), 0, sizeof(RegionHeader));
  write_header(h, header_fields_for(c, l));
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (uint64_t(rd()) << 32) ^ rd();
  h->session_id.store(id, std::memory_order_relaxed);
  h->host_heartbeat.store(0, std::memory_order_relaxed);
  h->host_state.store(static_cast<uint32_t>(HostState::kInit), std::memory_order_relaxed);
  auto* b = static_cast<std::byte*>(base);
  for (uint32_t s = 0; s < c.slot_count; ++s) {
    // Control blocks and ring memory only; arenas need no clearing.
    std::memset(b + l.slots_offset + uint64_t(s) * l.slot_bytes, 0, l.arena_offset);
  }
  return id;
}

const char* validate_header(const HeaderFields& f, uint64_t mapped_bytes, Layout* layout) {
  if (mapped_bytes < sizeof(RegionHeader)) return "region smaller than its header";
  if (f.magic != kRegionMagic) return "bad magic (not a vgpu region, or not initialised yet)";
  if (f.version != kLayoutVersion) return "layout version mismatch between guest and host";
  if (f.header_bytes != sizeof(RegionHeader)) return "header size mismatch";
  Layout l;
  const char* why = nullptr;
  if (!compute_layout(f.config, &l, &why)) return why;
  if (f.total_bytes != l.total_bytes || f.slot_bytes != l.slot_bytes || f.slots_offset != l.slots_offset ||
      f.channel_bytes != l.channel_bytes || f.channels_offset != l.channels_offset || f.arena_offset != l.arena_offset)
    return "header offsets disagree with the layout its sizes give";
  if (f.total_bytes > mapped_bytes) return "region is larger than the mapping";
  if (layout) *layout = l;
  return nullptr;
}

}  // namespace vgpu
