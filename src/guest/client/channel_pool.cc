#include "channel_pool.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vgpu::guest {

namespace {
// Returns the thread's channel to the pool when the thread exits.
struct ThreadChannel {
  Channel* ch = nullptr;
  ~ThreadChannel() {
    if (ch && !ch->shared_by_threads()) ch->release();
  }
};
thread_local ThreadChannel t_channel;

// The child's thread keeps the parent's binding: drop it without touching
// the channel, which still belongs to the parent.
void forget_channel_in_child() { t_channel.ch = nullptr; }
}  // namespace

ChannelPool::ChannelPool(const RegionView& view, uint32_t slot, ChannelShared& shared)
    : view_(view), slot_(slot), slot_ctl_(view.slot(slot).ctl), shared_(shared), channels_(view.channel_count()) {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, &forget_channel_in_child); });
}

Channel& ChannelPool::mine() {
  if (t_channel.ch) return *t_channel.ch;
  return claim();
}

Channel& ChannelPool::claim() {
  std::lock_guard lk(mu_);
  const uint32_t n = size();
  // The last channel is kept for sharing by threads beyond the first n-1.
  for (uint32_t i = 0; i + 1 < n; ++i) {
    const ChannelView cv = view_.channel(slot_, i);
    uint32_t expect = 0;
    if (!cv.ctl->in_use.compare_exchange_strong(expect, 1, std::memory_order_acq_rel)) continue;
    cv.ctl->owner_tid = static_cast<uint32_t>(syscall(SYS_gettid));
    if (!channels_[i]) channels_[i] = std::make_unique<Channel>(cv, i, slot_ctl_, shared_, false);
    t_channel.ch = channels_[i].get();
    return *t_channel.ch;
  }
  if (!shared_channel_) {
    const ChannelView cv = view_.channel(slot_, n - 1);
    cv.ctl->in_use.store(1, std::memory_order_release);
    channels_[n - 1] = std::make_unique<Channel>(cv, n - 1, slot_ctl_, shared_, true);
    shared_channel_ = channels_[n - 1].get();
  }
  t_channel.ch = shared_channel_;
  return *shared_channel_;
}

}  // namespace vgpu::guest
