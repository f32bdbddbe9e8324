// The bulk data arena of one slot, as its guest sees it: an allocator over a
// byte range of the shared region (copy staging, fatbins, pinned host memory).
//
// The allocator's bookkeeping is Boost.Interprocess' best-fit allocator placed
// inside the arena itself, guarded by its own process-shared mutex, so any
// guest thread may allocate. The host never reads that bookkeeping: it only
// touches ranges named in records, after arena_range_ok().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace vgpu {

// Host-side check of a range a record names: [off, off+n) inside the arena.
inline bool arena_range_ok(uint64_t off, uint64_t n, uint64_t arena_bytes) {
  return off <= arena_bytes && n <= arena_bytes - off;
}

class Arena {
 public:
  // Formats `bytes` at `base` as an empty arena.
  Arena(std::byte* base, uint64_t bytes);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // nullptr when no free range is large enough, or `align` is not a power of
  // two.
  void* allocate(uint64_t bytes, uint64_t align = 64);
  void deallocate(void* p);

  bool contains(const void* p, uint64_t n = 1) const {
    auto* b = static_cast<const std::byte*>(p);
    return b >= base_ && n <= bytes_ && b <= base_ + (bytes_ - n);
  }
  uint64_t offset_of(const void* p) const { return static_cast<uint64_t>(static_cast<const std::byte*>(p) - base_); }
  void* at(uint64_t off) const { return base_ + off; }
  std::byte* base() const { return base_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t free_bytes() const;

 private:
  struct Impl;
  std::byte* base_;
  uint64_t bytes_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vgpu
