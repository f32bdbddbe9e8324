// Bounded views of a mapped region: the header, each slot, each slot's
// channels (command ring, completion entries, reply buffer) and arena.
//
// A RegionView is built once from a layout its owner trusts, and every address
// it hands out is computed from that layout, never from bytes read back out of
// shared memory:
//   * the host builds it from the RegionConfig it created the region with
//     (RegionView::of_config): a VM owns its whole ivshmem BAR, header
//     included, so nothing the header says may move a host pointer;
//   * a guest builds it from one validated copy of the header
//     (RegionView::of_header): later header writes, by the host re-asserting
//     it or by anyone else, do not change a view already built.
// The view checks at construction that the whole layout fits the mapping, so
// each span below lies inside it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "vgpu/region.h"
#include "vgpu/ring.h"

namespace vgpu {

struct ChannelView {
  ChannelCtl* ctl;
  std::span<std::byte> cmd;    // command ring bytes (a power of two)
  std::span<Completion> cpl;   // completion entries (a power of two)
  std::span<std::byte> reply;  // reply buffer
  uint64_t slot_offset;        // of ctl, from the start of its slot
};

struct SlotView {
  SlotCtl* ctl;
  std::span<std::byte> bytes;    // the whole slot
  std::span<std::byte> control;  // control block and channels: what a wipe clears
  std::span<std::byte> arena;
};

class RegionView {
 public:
  // Host side: the layout of `cfg`. nullopt (and *why) if `cfg` cannot be
  // laid out or does not fit `mapped_bytes`.
  static std::optional<RegionView> of_config(void* base, uint64_t mapped_bytes, const RegionConfig& cfg,
                                             const char** why);
  // Guest side: one copy of the header at `base`, validated.
  static std::optional<RegionView> of_header(void* base, uint64_t mapped_bytes, const char** why);

  RegionHeader* header() const { return header_of(base_); }
  std::byte* base() const { return static_cast<std::byte*>(base_); }
  const RegionConfig& config() const { return cfg_; }
  const Layout& layout() const { return layout_; }
  uint32_t slot_count() const { return cfg_.slot_count; }
  uint32_t channel_count() const { return cfg_.channels_per_slot; }

  // `s` < slot_count(), `c` < channel_count(): indices come from the
  // viewer's own loops, never from shared memory; out of range aborts.
  SlotView slot(uint32_t s) const;
  ChannelView channel(uint32_t s, uint32_t c) const;

 private:
  RegionView(void* base, const RegionConfig& cfg, const Layout& l) : base_(base), cfg_(cfg), layout_(l) {}

  void* base_;
  RegionConfig cfg_;
  Layout layout_;
};

}  // namespace vgpu
