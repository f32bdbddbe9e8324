// Copies between guest memory and the device, and the arena policy they
// depend on.
//
// Memory inside the arena (pinned host memory) moves by DMA with no guest
// copy: one record. Other (pageable) memory is staged through per-channel
// arena chunks, up to kStageChunks in rotation: the guest fills chunk i+1
// while the host DMAs chunk i, and a chunk is reused only once its copy is
// done (its record is one of the channel's deferred places, Channel::defer).
//
// The arena is shared between those chunks and pinned host memory: staging
// may take half of it (the budget), and a pinned allocation may not take the
// room a channel without chunks yet needs for one.
//
// Memory ordering: the budget counters are relaxed. They only steer
// allocations; the arena's own lock orders the allocations themselves.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "arena.h"
#include "async_errors.h"
#include "channel.h"
#include "copier.h"
#include "vgpu/ops.h"
#include "vgpu/status.h"

namespace vgpu::guest {

class StagedCopies {
 public:
  static constexpr uint32_t kStageChunks = 4;
  static constexpr uint64_t kStageChunkBytes = 2ull << 20;
  static_assert(kStageChunks <= Channel::kDeferred, "each chunk's copy is one deferred place of its channel");

  // `channels`: the slot's channel count; `copy_threads`: VGPU_COPY_THREADS.
  StagedCopies(Arena& arena, uint32_t channels, unsigned copy_threads, AsyncErrors& errors);

  // copy_htod returns when the source may be reused (at once for arena
  // memory when !sync); copy_dtoh returns when the bytes are in `dst` unless
  // dst is arena memory and !sync. Errors of an asynchronous copy's chunks
  // come back as asynchronous errors. `n` is not 0.
  Status htod(Channel& ch, DevPtr dst, const void* src, uint64_t n, Handle stream, bool sync);
  Status dtoh(Channel& ch, void* dst, DevPtr src, uint64_t n, Handle stream, bool sync);

  // Arena memory for pinned host memory, or nullptr when the arena cannot
  // hold `n` bytes while leaving each channel that has no staging chunk yet
  // room for one (within the staging budget): a pinned buffer that took the
  // arena's last bytes would make every later pageable copy on a new thread
  // fail for want of staging.
  void* alloc_pinned(uint64_t n);

 private:
  // One channel's chunks.
  struct Chunks {
    std::byte* at[kStageChunks] = {};
    uint32_t count = 0;
    uint32_t next = 0;
    uint32_t take() {
      const uint32_t k = next % count;
      next = (k + 1) % count;
      return k;
    }
  };
  Status ensure_chunks(Chunks& c);

  Arena& arena_;
  AsyncErrors& errors_;
  const uint32_t channels_;
  std::unique_ptr<Chunks[]> chunks_;           // by channel index; each used by its channel's lease holder only
  std::atomic<uint64_t> staging_bytes_{0};     // arena bytes held by channels' chunks
  std::atomic<uint32_t> staged_channels_{0};   // channels holding at least one chunk
  ParallelCopier copier_;
};

}  // namespace vgpu::guest
