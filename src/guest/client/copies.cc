#include "copies.h"

#include <algorithm>

namespace vgpu::guest {

namespace {
// A copy of pinned (arena) memory: one record; with `sync`, the host
// answers once the copy is done on the device, and that answer is returned.
template <Op op>
Status send_and_maybe_wait(Channel& ch, const typename OpTraits<op>::Request& req, bool sync) {
  uint64_t seq = 0;
  Status s = ch.send(kOpcode<op>, sync ? awaited_flags<op>() : 0, &req, sizeof req, {}, &seq);
  if (s || !sync) return s;
  CompletionData c{};
  return (s = ch.wait(seq, &c)) ? s : c.status;
}
}  // namespace

StagedCopies::StagedCopies(Arena& arena, uint32_t channels, unsigned copy_threads, AsyncErrors& errors)
    : arena_(arena),
      errors_(errors),
      channels_(channels),
      chunks_(std::make_unique<Chunks[]>(channels)),
      copier_(copy_threads) {}

// Allocates the channel's staging chunks from the arena on first use: up to
// kStageChunks, fewer when the arena is short or the process' staging budget
// (half the arena; pinned host memory needs the rest) is spent, but at least
// one. kOutOfMemory if not even one chunk can be had.
Status StagedCopies::ensure_chunks(Chunks& c) {
  if (c.count) return st::kOk;
  const uint64_t budget = arena_.bytes() / 2;
  uint32_t n = 0;
  for (; n < kStageChunks; ++n) {
    if (n > 0 && staging_bytes_.load(std::memory_order_relaxed) + kStageChunkBytes > budget) break;
    c.at[n] = static_cast<std::byte*>(arena_.allocate(kStageChunkBytes, 4096));
    if (!c.at[n]) break;
    staging_bytes_.fetch_add(kStageChunkBytes, std::memory_order_relaxed);
  }
  c.count = n;
  if (n) staged_channels_.fetch_add(1, std::memory_order_relaxed);
  return n ? st::kOk : st::kOutOfMemory;
}

void* StagedCopies::alloc_pinned(uint64_t n) {
  // The same budget as ensure_chunks: half the arena for staging. The check
  // is advisory (another thread may allocate between it and the allocation,
  // and free bytes may be fragmented); it keeps the common case, a big
  // pinned buffer taken before the first copies, from starving staging.
  const uint64_t budget = arena_.bytes() / 2;
  const uint64_t held = staging_bytes_.load(std::memory_order_relaxed);
  const uint64_t staged = staged_channels_.load(std::memory_order_relaxed);
  const uint64_t unstaged = channels_ > staged ? channels_ - staged : 0;
  const uint64_t reserve = std::min(budget > held ? budget - held : 0, unstaged * kStageChunkBytes);
  const uint64_t free_bytes = arena_.free_bytes();
  if (n > free_bytes || free_bytes - n < reserve) return nullptr;
  return arena_.allocate(n, 4096);
}

Status StagedCopies::htod(Channel& ch, DevPtr dst, const void* src, uint64_t n, Handle stream, bool sync) {
  if (arena_.contains(src, n)) {
    const MemcpyHtoDReq r{dst, arena_.offset_of(src), n, stream};
    return send_and_maybe_wait<Op::MemcpyHtoD>(ch, r, sync);
  }
  // Pageable: stage through the channel's chunks. The guest fills chunk i+1
  // while the host DMAs chunk i; a chunk is reused once its copy completed.
  // An asynchronous copy returns once its bytes are staged; errors of its
  // chunks come back as asynchronous errors (see Channel::defer).
  Chunks& chunks = chunks_[ch.index()];
  if (Status s = ensure_chunks(chunks)) return s;
  Status first = st::kOk;
  auto* p = static_cast<const std::byte*>(src);
  uint64_t seq = 0;
  for (uint64_t off = 0; off < n;) {
    const uint32_t k = chunks.take();
    if (Status s = ch.collect(k); s && !first) first = s;
    std::byte* buf = chunks.at[k];
    const uint64_t len = std::min(kStageChunkBytes, n - off);
    copier_.copy(buf, p + off, len);
    const MemcpyHtoDReq r{dst + off, arena_.offset_of(buf), len, stream};
    if (Status s = ch.send(kOpcode<Op::MemcpyHtoD>, awaited_flags<Op::MemcpyHtoD>(), &r, sizeof r, {}, &seq)) return s;
    ch.defer(k, seq, !sync);
    off += len;
  }
  if (sync) {
    for (uint32_t k = 0; k < chunks.count; ++k)
      if (Status s = ch.collect(k); s && !first) first = s;
  } else if (first) {
    errors_.note(first);
    first = st::kOk;
  }
  return first;
}

Status StagedCopies::dtoh(Channel& ch, void* dst, DevPtr src, uint64_t n, Handle stream, bool sync) {
  if (arena_.contains(dst, n)) {
    const MemcpyDtoHReq r{arena_.offset_of(dst), src, n, stream};
    return send_and_maybe_wait<Op::MemcpyDtoH>(ch, r, sync);
  }
  // Pageable: keep up to kStageChunks copies in flight; copy each out as it
  // lands, in the order they were issued.
  struct Piece {
    uint32_t k;
    uint64_t off, len;
  };
  Piece inflight[kStageChunks];
  uint32_t head = 0, count = 0;  // a FIFO of at most chunks.count pieces
  Chunks& chunks = chunks_[ch.index()];
  if (Status s = ensure_chunks(chunks)) return s;
  Status first = st::kOk;
  auto* out = static_cast<std::byte*>(dst);
  uint64_t next = 0;
  auto issue = [&]() -> Status {
    const uint32_t k = chunks.take();
    if (Status s = ch.collect(k); s && !first) first = s;
    std::byte* buf = chunks.at[k];
    const uint64_t len = std::min(kStageChunkBytes, n - next);
    const MemcpyDtoHReq r{arena_.offset_of(buf), src + next, len, stream};
    uint64_t seq = 0;
    if (Status s = ch.send(kOpcode<Op::MemcpyDtoH>, awaited_flags<Op::MemcpyDtoH>(), &r, sizeof r, {}, &seq)) return s;
    ch.defer(k, seq, false);
    inflight[(head + count++) % kStageChunks] = {k, next, len};
    next += len;
    return st::kOk;
  };
  while (next < n && count < chunks.count)
    if (Status s = issue()) return s;
  while (count) {
    const Piece pc = inflight[head];
    head = (head + 1) % kStageChunks;
    --count;
    if (Status s = ch.collect(pc.k)) {
      if (!first) first = s;
    } else {
      copier_.copy(out + pc.off, chunks.at[pc.k], pc.len);
    }
    if (next < n)
      if (Status s = issue()) return s;
  }
  return first;
}

}  // namespace vgpu::guest
