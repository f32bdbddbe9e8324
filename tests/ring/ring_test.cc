// Command ring (RingProducer/RingConsumer) in one thread: layout of records,
// wrap markers, full/empty, batching, and refusal of forged records.
#include <gtest/gtest.h>

#include <deque>
#include <random>

#include "ring_testing.h"
#include "vgpu/ring.h"

namespace vgpu {
namespace {

using testing::LocalRing;
using testing::check_pattern;
using testing::push;

constexpr uint32_t kCap = 4096;

// Pops one record and checks it is `seq` with `payload` bytes of its pattern.
void expect_pop(RingConsumer& cons, uint64_t seq, uint32_t payload) {
  RingConsumer::View v{};
  ASSERT_EQ(cons.peek(&v), RingError::kNone) << "seq " << seq;
  EXPECT_EQ(v.seq, seq);
  EXPECT_EQ(v.aux, ~seq);
  EXPECT_EQ(v.op, 1);
  EXPECT_EQ(v.payload_bytes, payload);
  EXPECT_EQ(v.size, round_up(kRecordAlign + payload, kRecordAlign));
  EXPECT_TRUE(check_pattern(v.payload, payload, seq)) << "seq " << seq;
  cons.pop(v);
}

TEST(Ring, FreshRingIsEmpty) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  RingConsumer::View v{};
  EXPECT_EQ(cons.peek(&v), RingError::kEmpty);
  EXPECT_TRUE(prod.drained());
  EXPECT_EQ(prod.tail(), 0u);
  EXPECT_EQ(cons.head(), 0u);
}

TEST(Ring, EmptyAgainAfterPop) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  ASSERT_TRUE(push(prod, 100, 7));
  EXPECT_FALSE(prod.drained());
  expect_pop(cons, 7, 100);
  RingConsumer::View v{};
  EXPECT_EQ(cons.peek(&v), RingError::kEmpty);
  EXPECT_TRUE(prod.drained());
  EXPECT_EQ(cons.head(), prod.tail());
  // The published indices agree with the private ones.
  EXPECT_EQ(r.ctl()->tail.load(), prod.tail());
  EXPECT_EQ(r.ctl()->head.load(), cons.head());
}

TEST(Ring, EveryPayloadSizeUpToMax) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  ASSERT_EQ(prod.max_payload(), kCap / 4 - kRecordAlign);
  // One at a time: each size at many ring offsets, wrapping many times.
  for (uint32_t p = 0; p <= prod.max_payload(); ++p) {
    ASSERT_TRUE(push(prod, p, p)) << p;
    expect_pop(cons, p, p);
  }
  EXPECT_TRUE(prod.drained());
}

TEST(Ring, RefusesPayloadAboveMax) {
  for (uint32_t cap : {4096u, 1u << 20}) {
    LocalRing r(cap);
    auto prod = r.producer();
    auto cons = r.consumer();
    const uint32_t max = prod.max_payload();
    EXPECT_EQ(prod.try_reserve(max + 1), nullptr);
    EXPECT_EQ(prod.try_reserve(UINT32_MAX), nullptr);
    EXPECT_EQ(prod.tail(), 0u) << "a refused reservation must not move the tail";
    // The largest record is exactly a quarter of the ring, the consumer's limit.
    ASSERT_TRUE(push(prod, max, 1));
    RingConsumer::View v{};
    ASSERT_EQ(cons.peek(&v), RingError::kNone);
    EXPECT_EQ(v.size, cap / 4);
    EXPECT_TRUE(check_pattern(v.payload, max, 1));
    cons.pop(v);
  }
}

TEST(Ring, RecordCrossingTheEndGetsWrapMarker) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  // 96-byte records: 42 of them end at 4032, the 43rd does not fit in the
  // remaining 64 bytes.
  for (uint64_t s = 0; s < 42; ++s) {
    ASSERT_TRUE(push(prod, 64, s));
    expect_pop(cons, s, 64);
  }
  ASSERT_EQ(prod.tail(), 4032u);
  ASSERT_TRUE(push(prod, 64, 42));
  const RecordHeader* w = r.header_at(4032);
  EXPECT_EQ(w->op, kOpWrap);
  EXPECT_EQ(w->size, 64u);
  EXPECT_EQ(w->stamp.load(), stamp_for(4032, 5));
  EXPECT_EQ(prod.tail(), kCap + 96);
  // The record itself starts at offset 0.
  RingConsumer::View v{};
  ASSERT_EQ(cons.peek(&v), RingError::kNone);
  EXPECT_EQ(v.payload, r.data() + kRecordAlign);
  EXPECT_EQ(v.seq, 42u);
  cons.pop(v);
  EXPECT_EQ(cons.head(), kCap + 96);
  EXPECT_TRUE(prod.drained());
}

TEST(Ring, RecordEndingExactlyAtTheEndNeedsNoMarker) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  // 512-byte records tile the ring exactly.
  for (uint64_t s = 0; s < 8; ++s) {
    ASSERT_TRUE(push(prod, 480, s));
    expect_pop(cons, s, 480);
  }
  ASSERT_EQ(prod.tail(), kCap);
  ASSERT_TRUE(push(prod, 480, 8));
  EXPECT_EQ(prod.tail(), kCap + 512) << "no padding expected";
  EXPECT_NE(r.header_at(3584)->op, kOpWrap);
  expect_pop(cons, 8, 480);
}

TEST(Ring, FullRingRefusesThenAcceptsAfterPop) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  uint64_t n = 0;
  while (push(prod, 480, n)) ++n;
  // 7 records of 512 bytes plus the next record's stamp word fit; 8 do not.
  EXPECT_EQ(n, 7u);
  EXPECT_LE(prod.tail() - cons.head(), kCap);
  const uint64_t tail = prod.tail();
  EXPECT_EQ(prod.try_reserve(480), nullptr);
  EXPECT_EQ(prod.tail(), tail) << "refusal must not move the tail";
  expect_pop(cons, 0, 480);
  ASSERT_TRUE(push(prod, 480, n++));
  EXPECT_EQ(prod.try_reserve(480), nullptr);
  for (uint64_t s = 1; s < n; ++s) expect_pop(cons, s, 480);
  EXPECT_TRUE(prod.drained());
}

TEST(Ring, FullCheckCountsTheWrapPadding) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  // Indices to 512, then 3520 bytes in flight, ending at offset 4032.
  ASSERT_TRUE(push(prod, 480, 0));
  expect_pop(cons, 0, 480);
  for (uint64_t s = 1; s <= 6; ++s) ASSERT_TRUE(push(prod, 480, s));
  ASSERT_TRUE(push(prod, 416, 7));
  ASSERT_EQ(prod.tail(), 4032u);
  // A 512-byte record would fit in the 576 free bytes, but not with the 64
  // bytes of padding to the end in front of it.
  EXPECT_EQ(prod.try_reserve(480), nullptr);
  EXPECT_EQ(prod.tail(), 4032u);
  EXPECT_EQ(r.header_at(4032)->stamp.load(), 0u) << "no wrap marker may be published on refusal";
  expect_pop(cons, 1, 480);
  ASSERT_TRUE(push(prod, 480, 8));
  EXPECT_EQ(r.header_at(4032)->op, kOpWrap);
  for (uint64_t s = 2; s <= 6; ++s) expect_pop(cons, s, 480);
  expect_pop(cons, 7, 416);
  expect_pop(cons, 8, 480);
  EXPECT_TRUE(prod.drained());
}

TEST(Ring, FreshRingReadsNothingAfterFullLaps) {
  // After whole laps, every header in the ring carries some earlier lap's
  // stamp; none of them may look valid at the consumer's position.
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  for (uint64_t s = 0; s < 1000; ++s) {
    ASSERT_TRUE(push(prod, static_cast<uint32_t>(s * 37 % 700), s));
    expect_pop(cons, s, static_cast<uint32_t>(s * 37 % 700));
    RingConsumer::View v{};
    ASSERT_EQ(cons.peek(&v), RingError::kEmpty) << "after " << s;
  }
}

TEST(Ring, BatchIsInvisibleUntilEndBatch) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  ASSERT_TRUE(push(prod, 10, 0));
  const uint64_t published = r.ctl()->tail.load();
  prod.begin_batch();
  for (uint64_t s = 1; s <= 5; ++s) ASSERT_TRUE(push(prod, 50 * s, s));
  // The record before the batch is visible; the batch is not.
  expect_pop(cons, 0, 10);
  RingConsumer::View v{};
  EXPECT_EQ(cons.peek(&v), RingError::kEmpty);
  EXPECT_EQ(r.ctl()->tail.load(), published);
  prod.end_batch();
  EXPECT_EQ(r.ctl()->tail.load(), prod.tail());
  for (uint64_t s = 1; s <= 5; ++s) expect_pop(cons, s, 50 * s);
  EXPECT_EQ(cons.peek(&v), RingError::kEmpty);
  EXPECT_TRUE(prod.drained());
}

TEST(Ring, NestedBatchPublishesAtOutermostEnd) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  prod.begin_batch();
  ASSERT_TRUE(push(prod, 1, 1));
  prod.begin_batch();
  ASSERT_TRUE(push(prod, 2, 2));
  prod.end_batch();
  ASSERT_TRUE(push(prod, 3, 3));
  RingConsumer::View v{};
  EXPECT_EQ(cons.peek(&v), RingError::kEmpty);
  prod.end_batch();
  for (uint64_t s = 1; s <= 3; ++s) expect_pop(cons, s, static_cast<uint32_t>(s));
}

TEST(Ring, EmptyBatchPublishesNothing) {
  LocalRing r(kCap);
  auto prod = r.producer();
  auto cons = r.consumer();
  prod.begin_batch();
  prod.end_batch();
  RingConsumer::View v{};
  EXPECT_EQ(cons.peek(&v), RingError::kEmpty);
  ASSERT_TRUE(push(prod, 8, 9));
  expect_pop(cons, 9, 8);
}

TEST(Ring, BatchAcrossTheEnd) {
  // Batches whose first record, or a later one, needs a wrap marker.
  for (uint32_t lead : {0u, 1u, 2u}) {
    LocalRing r(kCap);
    auto prod = r.producer();
    auto cons = r.consumer();
    uint64_t seq = 0;
    while (prod.tail() + 512 * (lead + 1) <= kCap - 256) {
      ASSERT_TRUE(push(prod, 480, seq));
      expect_pop(cons, seq++, 480);
    }
    const uint64_t first = seq;
    prod.begin_batch();
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(push(prod, 480, seq++));
    RingConsumer::View v{};
    EXPECT_EQ(cons.peek(&v), RingError::kEmpty) << "lead " << lead;
    prod.end_batch();
    for (uint64_t s = first; s < seq; ++s) expect_pop(cons, s, 480);
    EXPECT_TRUE(prod.drained());
  }
}

// Random pushes, batches and pops checked against a model queue, from
// several starting positions: 0, just below 2^32 (where the 32-bit offset
// arithmetic wraps) and just below 2^36 (where 31-bit stamps wrap).
class RingModel : public ::testing::TestWithParam<uint64_t> {};

TEST_P(RingModel, RandomOpsMatchModel) {
  LocalRing r(kCap, GetParam());
  auto prod = r.producer();
  auto cons = r.consumer();
  struct Rec {
    uint64_t seq;
    uint32_t payload;
  };
  std::deque<Rec> visible, pending;  // pending: committed inside an open batch
  std::mt19937_64 rng(GetParam() + 1);
  uint64_t seq = 0;
  bool in_batch = false;
  for (int step = 0; step < 200000; ++step) {
    const unsigned what = rng() % 8;
    if (what < 4) {
      const uint32_t payload = (rng() % 4 == 0) ? static_cast<uint32_t>(rng() % (prod.max_payload() + 1))
                                                : static_cast<uint32_t>(rng() % 128);
      if (push(prod, payload, seq)) (in_batch ? pending : visible).push_back({seq++, payload});
    } else if (what == 4) {
      if (in_batch) {
        prod.end_batch();
        visible.insert(visible.end(), pending.begin(), pending.end());
        pending.clear();
      } else {
        prod.begin_batch();
      }
      in_batch = !in_batch;
    } else {
      RingConsumer::View v{};
      const RingError e = cons.peek(&v);
      if (visible.empty()) {
        ASSERT_EQ(e, RingError::kEmpty) << "step " << step;
        continue;
      }
      ASSERT_EQ(e, RingError::kNone) << "step " << step;
      ASSERT_EQ(v.seq, visible.front().seq);
      ASSERT_EQ(v.payload_bytes, visible.front().payload);
      ASSERT_TRUE(check_pattern(v.payload, v.payload_bytes, v.seq));
      cons.pop(v);
      visible.pop_front();
    }
    ASSERT_LE(prod.tail() - cons.head(), kCap);
  }
  EXPECT_GT(cons.head() - GetParam(), 50u * kCap) << "the test should run many laps";
}

INSTANTIATE_TEST_SUITE_P(StartPositions, RingModel,
                         ::testing::Values(uint64_t{0}, (uint64_t{1} << 32) - 32 * 93,
                                           (uint64_t{1} << 36) - 32 * 157));

}  // namespace
}  // namespace vgpu
