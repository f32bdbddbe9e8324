// The channels of this process' slot, and which one each thread uses.
//
// A thread claims a channel of its own on its first call and gives it back
// when it exits. The slot's last channel is kept for the threads beyond the
// first channels-1: they share it, one call at a time under its mutex
// (CallLease takes it). A channel claimed is claimed in the region too
// (ChannelCtl::in_use), for vgpu-smi and for the next process in the slot.
//
// One pool per process: the calling thread's channel is a thread_local,
// whatever the pool. A fork()ed child's thread drops the parent's channel
// without touching it (the child's calls fail: see Slot).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "channel.h"
#include "vgpu/region_view.h"

namespace vgpu::guest {

class ChannelPool {
 public:
  ChannelPool(const RegionView& view, uint32_t slot, ChannelShared& shared);
  ChannelPool(const ChannelPool&) = delete;
  ChannelPool& operator=(const ChannelPool&) = delete;

  // The calling thread's channel, claimed on first use.
  Channel& mine();
  uint32_t size() const { return static_cast<uint32_t>(channels_.size()); }

 private:
  Channel& claim();

  const RegionView& view_;
  uint32_t slot_;
  SlotCtl* slot_ctl_;
  ChannelShared& shared_;
  std::mutex mu_;  // claims
  std::vector<std::unique_ptr<Channel>> channels_;
  Channel* shared_channel_ = nullptr;  // used by threads beyond channels_per_slot - 1
};

}  // namespace vgpu::guest
