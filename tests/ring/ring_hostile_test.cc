// The host consumes command rings written by an untrusted guest: every
// forged header must be refused (kBadSize / kBadWrap), never followed.
#include <gtest/gtest.h>

#include "ring_testing.h"
#include "vgpu/ring.h"

namespace vgpu {
namespace {

using testing::LocalRing;

constexpr uint32_t kCap = 4096;

// Writes a header at `pos` the way a hostile producer could: any fields,
// with the stamp the consumer expects there (unless told otherwise).
void forge(LocalRing& r, uint64_t pos, uint16_t op, uint32_t size, uint32_t payload) {
  RecordHeader* h = r.header_at(pos);
  h->op = op;
  h->flags = 0;
  h->size = size;
  h->payload = payload;
  h->seq = 0;
  h->aux = 0;
  h->stamp.store(stamp_for(pos, 5), std::memory_order_release);
}

RingError peek_at(LocalRing& r) {
  RingConsumer cons = r.consumer();
  RingConsumer::View v{};
  return cons.peek(&v);
}

struct Forged {
  const char* what;
  uint64_t pos;  // consumer's head (offset pos % kCap)
  uint16_t op;
  uint32_t size;
  uint32_t payload;
  RingError want;
};

class Hostile : public ::testing::TestWithParam<Forged> {};

TEST_P(Hostile, RecordIsJudged) {
  const Forged& f = GetParam();
  LocalRing r(kCap, f.pos);
  forge(r, f.pos, f.op, f.size, f.payload);
  RingConsumer cons = r.consumer();
  RingConsumer::View v{};
  EXPECT_EQ(cons.peek(&v), f.want) << f.what;
  if (f.want == RingError::kBadSize || f.want == RingError::kBadWrap) {
    // A refusal is sticky: the consumer does not move past a bad record.
    EXPECT_EQ(cons.peek(&v), f.want) << f.what;
    EXPECT_EQ(cons.head(), f.pos);
    EXPECT_EQ(r.ctl()->head.load(), f.pos);
  }
}

constexpr uint32_t kQuarter = kCap / 4;
constexpr auto kNone = RingError::kNone;
constexpr auto kBadSize = RingError::kBadSize;
constexpr auto kBadWrap = RingError::kBadWrap;

INSTANTIATE_TEST_SUITE_P(
    Forgeries, Hostile,
    ::testing::Values(
        // Sanity: well-formed records at the limits are accepted.
        Forged{"smallest record", 0, 1, 32, 0, kNone},
        Forged{"largest record", 0, 1, kQuarter, kQuarter - 32, kNone},
        Forged{"record ending at the end", kCap - 64, 1, 64, 32, kNone},
        Forged{"wrap marker reaching the end", kCap - 64, kOpWrap, 64, 0, RingError::kEmpty},
        // Sizes.
        Forged{"size zero", 0, 1, 0, 0, kBadSize},
        Forged{"size below a header", 0, 1, 16, 0, kBadSize},
        Forged{"size not a multiple of 32", 0, 1, 40, 0, kBadSize},
        Forged{"size one past a multiple of 32", 0, 1, 65, 0, kBadSize},
        Forged{"size past the ring's end", kCap - 64, 1, 128, 0, kBadSize},
        Forged{"size far past the ring", 1024, 1, 0xffffffe0u, 0, kBadSize},
        Forged{"size above a quarter of the ring", 0, 1, kQuarter + 32, 0, kBadSize},
        Forged{"size of the whole ring", 0, 1, kCap, 0, kBadSize},
        // Payloads.
        Forged{"payload one byte past the record", 0, 1, 64, 33, kBadSize},
        Forged{"payload in an empty record", 0, 1, 32, 1, kBadSize},
        Forged{"payload 2^32-1", 0, 1, 64, 0xffffffffu, kBadSize},
        // Wrap markers.
        Forged{"wrap marker short of the end", 1024, kOpWrap, 64, 0, kBadWrap},
        Forged{"wrap marker past the end", kCap - 64, kOpWrap, 96, 0, kBadWrap},
        Forged{"wrap marker of size zero", kCap - 64, kOpWrap, 0, 0, kBadWrap},
        Forged{"wrap marker at offset 0 spanning the ring", 0, kOpWrap, kCap, 0, kBadWrap},
        Forged{"wrap marker at offset 0, lap 2", 2 * kCap, kOpWrap, kCap, 0, kBadWrap}),
    [](const ::testing::TestParamInfo<Forged>& i) { return "case" + std::to_string(i.index); });

TEST(HostileRing, StampOfAnotherLapIsNotARecord) {
  LocalRing r(kCap, kCap);  // consumer at lap 1, offset 0
  RecordHeader* h = r.header_at(0);
  h->op = 1;
  h->size = 64;
  h->payload = 0;
  for (uint64_t pos : {uint64_t{0}, uint64_t{2} * kCap, uint64_t{kCap} + 32}) {
    h->stamp.store(stamp_for(pos, 5));
    EXPECT_EQ(peek_at(r), RingError::kEmpty) << pos;
  }
  h->stamp.store(0);
  EXPECT_EQ(peek_at(r), RingError::kEmpty);
  h->stamp.store(stamp_for(kCap, 5) & 0x7fffffffu);  // valid bit missing
  EXPECT_EQ(peek_at(r), RingError::kEmpty);
  h->stamp.store(stamp_for(kCap, 5));
  EXPECT_EQ(peek_at(r), RingError::kNone);
}

TEST(HostileRing, BadRecordAfterAValidWrapMarker) {
  LocalRing r(kCap, kCap - 128);
  forge(r, kCap - 128, kOpWrap, 128, 0);
  forge(r, kCap, 1, 48, 0);
  RingConsumer cons = r.consumer();
  RingConsumer::View v{};
  EXPECT_EQ(cons.peek(&v), RingError::kBadSize);
  // Nothing was popped, so nothing was handed back to the producer.
  EXPECT_EQ(r.ctl()->head.load(), kCap - 128);
}

TEST(HostileRing, TwoWrapMarkersInARow) {
  // A marker at the end, then one at offset 0 claiming the whole ring.
  LocalRing r(kCap, kCap - 64);
  forge(r, kCap - 64, kOpWrap, 64, 0);
  forge(r, kCap, kOpWrap, kCap, 0);
  EXPECT_EQ(peek_at(r), RingError::kBadWrap);
}

TEST(HostileRing, ConsumerReadsEachFieldOnce) {
  // The view reports the values that were validated, not re-read ones.
  LocalRing r(kCap);
  forge(r, 0, 5, 96, 64);
  RingConsumer cons = r.consumer();
  RingConsumer::View v{};
  ASSERT_EQ(cons.peek(&v), RingError::kNone);
  r.header_at(0)->size = 0xffffffe0u;  // rewritten after validation
  r.header_at(0)->payload = 0xffffffffu;
  EXPECT_EQ(v.size, 96u);
  EXPECT_EQ(v.payload_bytes, 64u);
  EXPECT_EQ(v.op, 5);
  cons.pop(v);
  EXPECT_EQ(cons.head(), 96u);
}

}  // namespace
}  // namespace vgpu
