// The worker's second mapping of a slot at the guest's address
// (src/host/same_address.h): the same pages where the range is free, nothing
// where it is not, and nothing for an address no mapping can have.
#include "same_address.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

namespace vgpu::host {
namespace {

constexpr uint64_t kBytes = 16 * 4096;

// A shared mapping, as the region is.
struct Shared {
  void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ~Shared() { munmap(p, kBytes); }
};

// An address range free in this process: reserved, then given back.
uint64_t free_range() {
  void* r = mmap(nullptr, kBytes * 4, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(r, kBytes * 4);
  return reinterpret_cast<uint64_t>(r) + kBytes;  // the middle: clear of neighbours
}

TEST(SameAddress, MapsTheSamePagesAtAFreeAddress) {
  Shared s;
  ASSERT_NE(s.p, MAP_FAILED);
  const uint64_t want = free_range();
  void* at = map_again_at(s.p, kBytes, want);
  ASSERT_EQ(reinterpret_cast<uint64_t>(at), want);
  auto* a = static_cast<uint32_t*>(s.p);
  auto* b = static_cast<uint32_t*>(at);
  a[7] = 0x1234;
  EXPECT_EQ(b[7], 0x1234u);
  b[kBytes / 4 - 1] = 0xabcd;  // the last word too
  EXPECT_EQ(a[kBytes / 4 - 1], 0xabcdu);
  unmap_again(at, s.p, kBytes);
  EXPECT_EQ(a[7], 0x1234u);  // the first mapping lives on
}

TEST(SameAddress, LeavesATakenRangeAlone) {
  Shared s, other;
  auto* o = static_cast<uint32_t*>(other.p);
  o[0] = 42;
  // Overlapping its last page only: still taken.
  const uint64_t want = reinterpret_cast<uint64_t>(other.p) + kBytes - 4096;
  EXPECT_EQ(map_again_at(s.p, kBytes, want), nullptr);
  EXPECT_EQ(o[0], 42u);
}

TEST(SameAddress, RefusesAddressesNoMappingHas) {
  Shared s;
  EXPECT_EQ(map_again_at(s.p, kBytes, 0), nullptr);
  EXPECT_EQ(map_again_at(s.p, kBytes, free_range() + 1), nullptr);  // not page-aligned
  EXPECT_EQ(map_again_at(s.p, kBytes, 4096), nullptr);               // the null guard pages
  EXPECT_EQ(map_again_at(s.p, kBytes, 0xffff'8000'0000'0000ull), nullptr);  // kernel half
  EXPECT_EQ(map_again_at(s.p, kBytes, 0x7fff'ffff'e000ull), nullptr);       // runs past the top
  EXPECT_EQ(map_again_at(s.p, kBytes + 1, free_range()), nullptr);          // not whole pages
}

TEST(SameAddress, AlreadyThereIsThere) {
  Shared s;
  EXPECT_EQ(map_again_at(s.p, kBytes, reinterpret_cast<uint64_t>(s.p)), s.p);
  unmap_again(s.p, s.p, kBytes);  // nothing to undo: still mapped
  static_cast<uint32_t*>(s.p)[0] = 1;
}

}  // namespace
}  // namespace vgpu::host
