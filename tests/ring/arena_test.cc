// The bulk data arena (src/ring/arena.h): allocation, exhaustion,
// fragmentation and coalescing, alignment, and the host's range checks.
#include "arena.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

namespace vgpu {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

// Zeroed anonymous memory whose start is aligned to 2 MiB, like a slot's
// arena inside a region.
class Buffer {
 public:
  explicit Buffer(uint64_t bytes) : bytes_(bytes) {
    map_bytes_ = bytes + 2 * kMiB;
    void* p = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    map_ = static_cast<std::byte*>(p);
    const uintptr_t a = (reinterpret_cast<uintptr_t>(map_) + 2 * kMiB - 1) & ~(2 * kMiB - 1);
    base_ = reinterpret_cast<std::byte*>(a);
  }
  ~Buffer() { munmap(map_, map_bytes_); }
  std::byte* base() const { return base_; }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_, map_bytes_;
  std::byte* map_;
  std::byte* base_;
};

TEST(Arena, AllocationsAreInsideAndDisjoint) {
  Buffer buf(kMiB);
  Arena a(buf.base(), buf.bytes());
  std::vector<std::pair<std::byte*, uint64_t>> got;
  for (uint64_t n : {1, 17, 64, 100, 4096, 5000, 65536}) {
    auto* p = static_cast<std::byte*>(a.allocate(n));
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(a.contains(p, n));
    std::memset(p, static_cast<int>(got.size() + 1), n);
    got.emplace_back(p, n);
  }
  // No allocation overwrote another.
  for (size_t i = 0; i < got.size(); ++i)
    for (uint64_t k = 0; k < got[i].second; ++k) ASSERT_EQ(got[i].first[k], std::byte(i + 1));
}

TEST(Arena, ExhaustionReturnsNull) {
  Buffer buf(kMiB);
  Arena a(buf.base(), buf.bytes());
  const uint64_t initial_free = a.free_bytes();
  EXPECT_GT(initial_free, kMiB - 4096) << "bookkeeping should be small";
  EXPECT_LE(initial_free, kMiB);
  std::vector<void*> blocks;
  while (void* p = a.allocate(64 << 10)) blocks.push_back(p);
  EXPECT_GE(blocks.size(), 14u);
  EXPECT_LE(blocks.size(), 16u);
  EXPECT_EQ(a.allocate(64 << 10), nullptr) << "stays exhausted";
  // Requests that can never fit, including sizes that would overflow.
  EXPECT_EQ(a.allocate(2 * kMiB), nullptr);
  EXPECT_EQ(a.allocate(UINT64_MAX / 2), nullptr);
  EXPECT_EQ(a.allocate(UINT64_MAX), nullptr);
  for (void* p : blocks) a.deallocate(p);
  EXPECT_EQ(a.free_bytes(), initial_free) << "everything freed comes back";
  EXPECT_NE(a.allocate(initial_free / 2), nullptr);
}

TEST(Arena, FragmentationThenCoalescing) {
  Buffer buf(kMiB);
  Arena a(buf.base(), buf.bytes());
  constexpr uint64_t kBlock = 32 << 10;
  std::vector<void*> blocks;
  while (void* p = a.allocate(kBlock)) blocks.push_back(p);
  ASSERT_GE(blocks.size(), 20u);
  std::sort(blocks.begin(), blocks.end());  // address order
  // Free every other block in the middle: plenty of free bytes, but no run
  // longer than one block.
  const size_t lo = 4, hi = 14;
  for (size_t i = lo; i < hi; i += 2) a.deallocate(blocks[i]);
  EXPECT_GE(a.free_bytes(), 5 * kBlock);
  EXPECT_EQ(a.allocate(2 * kBlock), nullptr) << "fragmented: no two adjacent free blocks";
  // Free the blocks between them: the neighbours merge into one run.
  for (size_t i = lo + 1; i < hi - 1; i += 2) a.deallocate(blocks[i]);
  auto* big = static_cast<std::byte*>(a.allocate(8 * kBlock));
  ASSERT_NE(big, nullptr) << "freed neighbours should coalesce";
  EXPECT_GE(big, static_cast<std::byte*>(blocks[lo]));
  EXPECT_LE(big + 8 * kBlock, static_cast<std::byte*>(blocks[hi - 1]) + kBlock);
  std::memset(big, 0xab, 8 * kBlock);
}

TEST(Arena, AlignmentIsHonoured) {
  Buffer buf(8 * kMiB);
  Arena a(buf.base(), buf.bytes());
  // Mix sizes and keep a few odd-sized blocks alive so that allocations
  // start at many different offsets.
  for (uint64_t align = 1; align <= (1u << 20); align <<= 1) {
    std::vector<void*> round;
    for (uint64_t n : {1, 3, 64, 1000, 4097}) {
      void* p = a.allocate(n, align);
      ASSERT_NE(p, nullptr) << "align " << align << " n " << n;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << "align " << align;
      // The base is 2 MiB aligned, so offsets (what records carry) are too.
      EXPECT_EQ(a.offset_of(p) % align, 0u);
      EXPECT_TRUE(a.contains(p, n));
      round.push_back(p);
      ASSERT_NE(a.allocate(align % 1000 + 8, 16), nullptr);  // shifts the next free offset
    }
    for (void* p : round) a.deallocate(p);
  }
  // The default is cache-line alignment.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(reinterpret_cast<uintptr_t>(a.allocate(1 + i)) % 64, 0u);
}

TEST(Arena, RefusesBadAlignment) {
  Buffer buf(kMiB);
  Arena a(buf.base(), buf.bytes());
  for (uint64_t align : {3, 24, 100, 4095, 4097}) EXPECT_EQ(a.allocate(64, align), nullptr) << align;
  EXPECT_EQ(a.allocate(64, 2 * kMiB), nullptr) << "alignment beyond the arena";
  EXPECT_EQ(a.allocate(64, uint64_t{1} << 63), nullptr);
  EXPECT_NE(a.allocate(64, 0), nullptr) << "0 means the default";
}

TEST(Arena, ZeroBytesGivesDistinctBlocks) {
  Buffer buf(kMiB);
  Arena a(buf.base(), buf.bytes());
  void* p = a.allocate(0);
  void* q = a.allocate(0);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  EXPECT_NE(p, q);
  a.deallocate(p);
  a.deallocate(q);
  a.deallocate(nullptr);  // allowed, like free(nullptr)
}

TEST(Arena, ContainsAndOffsets) {
  Buffer buf(kMiB);
  Arena a(buf.base(), buf.bytes());
  std::byte* b = a.base();
  const uint64_t n = a.bytes();
  EXPECT_TRUE(a.contains(b));
  EXPECT_TRUE(a.contains(b, n));
  EXPECT_TRUE(a.contains(b + n - 1));
  EXPECT_TRUE(a.contains(b + n - 16, 16));
  EXPECT_FALSE(a.contains(b + n));
  EXPECT_FALSE(a.contains(b + n - 16, 17));
  EXPECT_FALSE(a.contains(b - 1));
  EXPECT_FALSE(a.contains(b - 1, 2));
  EXPECT_FALSE(a.contains(b, n + 1));
  EXPECT_FALSE(a.contains(b + 1, n));
  // Lengths that would overflow a pointer sum.
  EXPECT_FALSE(a.contains(b, UINT64_MAX));
  EXPECT_FALSE(a.contains(b + 1, UINT64_MAX));
  EXPECT_FALSE(a.contains(reinterpret_cast<void*>(UINTPTR_MAX - 7), 16));
  EXPECT_FALSE(a.contains(nullptr));
  for (uint64_t off : {uint64_t{0}, uint64_t{1}, uint64_t{4096}, n - 1}) {
    EXPECT_EQ(a.at(off), b + off);
    EXPECT_EQ(a.offset_of(a.at(off)), off);
  }
  void* p = a.allocate(100);
  EXPECT_EQ(a.at(a.offset_of(p)), p);
}

TEST(ArenaRange, Bounds) {
  constexpr uint64_t N = 256 * kMiB;
  EXPECT_TRUE(arena_range_ok(0, 0, N));
  EXPECT_TRUE(arena_range_ok(0, N, N));
  EXPECT_TRUE(arena_range_ok(N - 16, 16, N));
  EXPECT_TRUE(arena_range_ok(N, 0, N));  // empty range at the end
  EXPECT_FALSE(arena_range_ok(N - 16, 17, N));
  EXPECT_FALSE(arena_range_ok(N, 1, N));
  EXPECT_FALSE(arena_range_ok(N + 1, 0, N));
  EXPECT_FALSE(arena_range_ok(1, N, N));
  EXPECT_FALSE(arena_range_ok(0, N + 1, N));
  EXPECT_TRUE(arena_range_ok(0, 0, 0));
  EXPECT_FALSE(arena_range_ok(0, 1, 0));
}

TEST(ArenaRange, OverflowingRanges) {
  constexpr uint64_t N = 256 * kMiB;
  // off + n wraps around to a small number: a naive `off + n <= N` passes.
  EXPECT_FALSE(arena_range_ok(UINT64_MAX, 2, N));
  EXPECT_FALSE(arena_range_ok(UINT64_MAX - 15, 32, N));
  EXPECT_FALSE(arena_range_ok(16, UINT64_MAX, N));
  EXPECT_FALSE(arena_range_ok(16, UINT64_MAX - 15, N));
  EXPECT_FALSE(arena_range_ok(UINT64_MAX, UINT64_MAX, N));
  EXPECT_FALSE(arena_range_ok(UINT64_MAX, 0, N));
  EXPECT_FALSE(arena_range_ok(N, UINT64_MAX, N));
  EXPECT_TRUE(arena_range_ok(UINT64_MAX, 0, UINT64_MAX));
  EXPECT_TRUE(arena_range_ok(0, UINT64_MAX, UINT64_MAX));
  EXPECT_FALSE(arena_range_ok(1, UINT64_MAX, UINT64_MAX));
}

TEST(Arena, ConcurrentAllocateAndFree) {
  // Any guest thread may allocate; the arena's own mutex serialises them.
  Buffer buf(4 * kMiB);
  Arena a(buf.base(), buf.bytes());
  const uint64_t initial_free = a.free_bytes();
  auto work = [&](int id) {
    std::vector<std::pair<std::byte*, uint64_t>> mine;
    for (int i = 0; i < 20000; ++i) {
      if (mine.size() < 32 && (i % 3 != 2)) {
        const uint64_t n = 16 + (i * 97 + id * 31) % 2000;
        if (auto* p = static_cast<std::byte*>(a.allocate(n))) {
          std::memset(p, id, n);
          mine.emplace_back(p, n);
        }
      } else if (!mine.empty()) {
        auto [p, n] = mine.back();
        mine.pop_back();
        for (uint64_t k = 0; k < n; ++k) ASSERT_EQ(p[k], std::byte(id)) << "block overwritten";
        a.deallocate(p);
      }
    }
    for (auto [p, n] : mine) a.deallocate(p);
  };
  std::thread t1(work, 1), t2(work, 2);
  t1.join();
  t2.join();
  EXPECT_EQ(a.free_bytes(), initial_free);
}

}  // namespace
}  // namespace vgpu
