// Completion ring (CplProducer/CplConsumer): order, full, empty, and stamps
// that stay unambiguous across many laps.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <random>
#include <thread>

#include "vgpu/ring.h"

namespace vgpu {
namespace {

// Control lines + entries in zeroed anonymous memory.
class LocalCpl {
 public:
  explicit LocalCpl(uint32_t n, uint64_t start = 0) : n_(n) {
    bytes_ = sizeof(RingCtl) + n * sizeof(Completion);
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    mem_ = static_cast<std::byte*>(p);
    ctl_ = new (mem_) RingCtl{};
    ctl_->head.store(start);
    ctl_->tail.store(start);
  }
  ~LocalCpl() { munmap(mem_, bytes_); }
  LocalCpl(const LocalCpl&) = delete;
  LocalCpl& operator=(const LocalCpl&) = delete;

  Completion* entries() { return reinterpret_cast<Completion*>(mem_ + sizeof(RingCtl)); }
  CplProducer producer() { return CplProducer(ctl_, entries(), n_, ctl_->tail.load()); }
  CplConsumer consumer() { return CplConsumer(ctl_, entries(), n_); }
  RingCtl* ctl() { return ctl_; }

 private:
  uint32_t n_;
  size_t bytes_;
  std::byte* mem_;
  RingCtl* ctl_;
};

// Every field derives from seq, so a mixed-up entry is noticed.
bool post(CplProducer& p, uint64_t seq) {
  return p.try_post(static_cast<int32_t>(seq % 1000), seq, seq * 3 + 1, static_cast<uint32_t>(seq * 7),
                    -static_cast<int32_t>(seq % 17));
}
void expect_take(CplConsumer& c, uint64_t seq) {
  Completion got{};
  ASSERT_TRUE(c.try_take(&got)) << "seq " << seq;
  EXPECT_EQ(got.seq, seq);
  EXPECT_EQ(got.status, static_cast<int32_t>(seq % 1000));
  EXPECT_EQ(got.value, seq * 3 + 1);
  EXPECT_EQ(got.reply_bytes, static_cast<uint32_t>(seq * 7));
  EXPECT_EQ(got.async_error, -static_cast<int32_t>(seq % 17));
}

TEST(CplRing, EmptyRingHasNothing) {
  LocalCpl r(8);
  auto c = r.consumer();
  Completion got{};
  EXPECT_FALSE(c.try_take(&got));
}

TEST(CplRing, TakesInPostOrder) {
  LocalCpl r(16);
  auto p = r.producer();
  auto c = r.consumer();
  for (uint64_t s = 0; s < 10; ++s) ASSERT_TRUE(post(p, s));
  EXPECT_EQ(r.ctl()->tail.load(), 10u);
  for (uint64_t s = 0; s < 10; ++s) expect_take(c, s);
  Completion got{};
  EXPECT_FALSE(c.try_take(&got));
  EXPECT_EQ(r.ctl()->head.load(), 10u);
}

TEST(CplRing, FullRingRefusesUntilTaken) {
  LocalCpl r(8);
  auto p = r.producer();
  auto c = r.consumer();
  for (uint64_t s = 0; s < 8; ++s) ASSERT_TRUE(post(p, s));
  EXPECT_FALSE(post(p, 8));
  EXPECT_FALSE(post(p, 8)) << "refusal must not change anything";
  expect_take(c, 0);
  ASSERT_TRUE(post(p, 8));
  EXPECT_FALSE(post(p, 9));
  for (uint64_t s = 1; s <= 8; ++s) expect_take(c, s);
  Completion got{};
  EXPECT_FALSE(c.try_take(&got));
}

// Random bursts over many laps, starting at 0 and just below 2^31, where
// the 31-bit stamps of entry indices wrap. After each burst is drained, every
// entry holds a stamp of the current or previous lap; none may be taken again.
class CplLaps : public ::testing::TestWithParam<uint64_t> {};

TEST_P(CplLaps, StampsStayUnambiguous) {
  constexpr uint32_t kN = 8;
  LocalCpl r(kN, GetParam());
  auto p = r.producer();
  auto c = r.consumer();
  std::mt19937 rng(7);
  uint64_t next_post = 0, next_take = 0;
  for (int round = 0; round < 20000; ++round) {
    const uint32_t k = 1 + rng() % kN;
    for (uint32_t i = 0; i < k; ++i) {
      if (next_post - next_take == kN) {
        ASSERT_FALSE(post(p, next_post));
        break;
      }
      ASSERT_TRUE(post(p, next_post++));
    }
    const uint32_t t = rng() % (kN + 2);
    for (uint32_t i = 0; i < t; ++i) {
      if (next_take == next_post) {
        Completion got{};
        ASSERT_FALSE(c.try_take(&got)) << "round " << round;
        break;
      }
      expect_take(c, next_take++);
    }
  }
  EXPECT_GT(next_take, 5000u * kN);
}

INSTANTIATE_TEST_SUITE_P(StartPositions, CplLaps,
                         ::testing::Values(uint64_t{0}, (uint64_t{1} << 31) - 5, (uint64_t{1} << 32) - 3));

TEST(CplRing, TwoThreads) {
  // Ordering between real threads; under ThreadSanitizer this also checks
  // that the stamp's release/acquire covers every field of the entry.
  constexpr uint64_t kCount = 200000;
  LocalCpl r(16);
  std::thread producer([&] {
    auto p = r.producer();
    for (uint64_t s = 0; s < kCount;)
      if (post(p, s)) ++s;
      else std::this_thread::yield();
  });
  auto c = r.consumer();
  uint64_t bad = 0;
  for (uint64_t s = 0; s < kCount;) {
    Completion got{};
    if (!c.try_take(&got)) {
      std::this_thread::yield();
      continue;
    }
    if (got.seq != s || got.value != s * 3 + 1 || got.reply_bytes != static_cast<uint32_t>(s * 7)) ++bad;
    ++s;
  }
  producer.join();
  EXPECT_EQ(bad, 0u);
}

}  // namespace
}  // namespace vgpu
