// RegionView: a region's parts as bounded spans, from a layout the viewer owns.
#include "vgpu/region_view.h"

#include <cstdio>
#include <cstdlib>

namespace vgpu {

std::optional<RegionView> RegionView::of_config(void* base, uint64_t mapped_bytes, const RegionConfig& cfg,
                                                const char** why) {
  Layout l;
  const char* w = nullptr;
  if (!compute_layout(cfg, &l, &w)) {
    if (why) *why = w;
    return std::nullopt;
  }
  if (l.total_bytes > mapped_bytes) {
    if (why) *why = "region is larger than the mapping";
    return std::nullopt;
  }
  return RegionView(base, cfg, l);
}

std::optional<RegionView> RegionView::of_header(void* base, uint64_t mapped_bytes, const char** why) {
  if (mapped_bytes < sizeof(RegionHeader)) {
    if (why) *why = "region smaller than its header";
    return std::nullopt;
  }
  // One copy, validated; the view is built from the copy alone.
  const HeaderFields f = read_header(header_of(base));
  Layout l;
  if (const char* w = validate_header(f, mapped_bytes, &l)) {
    if (why) *why = w;
    return std::nullopt;
  }
  return RegionView(base, f.config, l);
}

SlotView RegionView::slot(uint32_t s) const {
  if (s >= cfg_.slot_count) {
    std::fprintf(stderr, "vgpu: RegionView::slot(%u) of %u slots\n", s, cfg_.slot_count);
    std::abort();
  }
  std::byte* b = base() + layout_.slots_offset + uint64_t(s) * layout_.slot_bytes;
  return SlotView{reinterpret_cast<SlotCtl*>(b), {b, layout_.slot_bytes}, {b, layout_.arena_offset},
                  {b + layout_.arena_offset, cfg_.arena_bytes}};
}

ChannelView RegionView::channel(uint32_t s, uint32_t c) const {
  if (c >= cfg_.channels_per_slot) {
    std::fprintf(stderr, "vgpu: RegionView::channel(%u, %u) of %u channels\n", s, c, cfg_.channels_per_slot);
    std::abort();
  }
  const SlotView sv = slot(s);
  const uint64_t off = layout_.channels_offset + uint64_t(c) * layout_.channel_bytes;
  std::byte* b = sv.bytes.data() + off;
  return ChannelView{reinterpret_cast<ChannelCtl*>(b),
                     {b + layout_.cmd_offset, cfg_.cmd_ring_bytes},
                     {reinterpret_cast<Completion*>(b + layout_.cpl_offset), cfg_.cpl_ring_entries},
                     {b + layout_.reply_offset, cfg_.reply_bytes},
                     off};
}

}  // namespace vgpu
