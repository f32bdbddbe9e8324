// The guest's Channel (src/guest/client/channel.h) against a region made in
// this process: the test plays the host with the rings' host ends
// (RingConsumer on the command ring, CplProducer on the completion ring), so
// every record the channel publishes and every completion it takes is seen
// on the wire. Also the call prologue (CallLease) and the channel pool it
// claims from.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "client/call_lease.h"
#include "client/channel.h"
#include "client/channel_pool.h"
#include "vgpu/region.h"
#include "vgpu/region_view.h"
#include "vgpu/ring.h"

namespace vgpu::guest {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kToken = 0x5eed'1234'abcd'0001ull;
constexpr uint16_t kOp = 7;  // any opcode: the channel does not read it

RegionConfig small_config() {
  RegionConfig c;
  c.slot_count = 1;
  c.channels_per_slot = 2;
  c.cmd_ring_bytes = 4096;  // max payload 992 bytes, ~30 small records
  c.cpl_ring_entries = 8;
  c.reply_bytes = 16384;
  c.arena_bytes = 1 << 20;
  return c;
}

// A formatted region in anonymous memory, as the host would create it.
class LocalRegion {
 public:
  explicit LocalRegion(const RegionConfig& cfg) {
    const char* why = nullptr;
    if (!compute_layout(cfg, &layout_, &why)) std::abort();
    bytes_ = layout_.total_bytes;
    base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) std::abort();
    session_ = format_region(base_, cfg, layout_);
    view_ = RegionView::of_config(base_, bytes_, cfg, &why);
    if (!view_) std::abort();
  }
  ~LocalRegion() { munmap(base_, bytes_); }
  LocalRegion(const LocalRegion&) = delete;
  LocalRegion& operator=(const LocalRegion&) = delete;

  const RegionView& view() const { return *view_; }
  uint64_t session() const { return session_; }

 private:
  Layout layout_{};
  uint64_t bytes_ = 0;
  void* base_ = nullptr;
  uint64_t session_ = 0;
  std::optional<RegionView> view_;
};

// A served slot and channel 0 of it, with the host's ends of its rings.
class ChannelTest : public ::testing::Test {
 protected:
  ChannelTest() : region_(small_config()), shared_(live_) {
    slot_ = region_.view().slot(0).ctl;
    cv_ = region_.view().channel(0, 0);
    slot_->served_token.store(kToken);
    live_.watch(region_.view().header(), slot_, region_.session(), kToken);
    ch_ = std::make_unique<Channel>(cv_, 0, slot_, shared_, false);
    host_cmd_ = RingConsumer(&cv_.ctl->cmd, cv_.cmd.data(), static_cast<uint32_t>(cv_.cmd.size()), 0);
    host_cpl_ = CplProducer(&cv_.ctl->cpl, cv_.cpl.data(), static_cast<uint32_t>(cv_.cpl.size()), 0);
  }

  // The host takes the next record; false if there is none.
  bool host_take(RingConsumer::View* v, std::vector<std::byte>* payload = nullptr) {
    if (host_cmd_.peek(v) != RingError::kNone) return false;
    if (payload) payload->assign(v->payload, v->payload + v->payload_bytes);
    host_cmd_.pop(*v);
    return true;
  }
  void host_answer(uint64_t seq, Status status, uint32_t reply_bytes = 0, Status async_error = st::kOk) {
    ASSERT_TRUE(host_cpl_.try_post(status, seq, 0, reply_bytes, async_error));
  }
  Status send(uint64_t* seq, uint16_t flags = kFlagWantCompletion) {
    const uint64_t req = 0x1122334455667788ull;
    return ch_->send(kOp, flags, &req, sizeof req, {}, seq);
  }

  LocalRegion region_;
  SessionLiveness live_;
  ChannelShared shared_;
  SlotCtl* slot_ = nullptr;
  ChannelView cv_{};
  std::unique_ptr<Channel> ch_;
  RingConsumer host_cmd_;
  CplProducer host_cpl_;
};

TEST_F(ChannelTest, SendPublishesTheRequestThenTheInlineBytes) {
  struct Req {
    uint64_t a, b;
  } req{1, 2};
  const std::byte in[5] = {std::byte{9}, std::byte{8}, std::byte{7}, std::byte{6}, std::byte{5}};
  uint64_t seq = 0;
  ASSERT_EQ(ch_->send(kOp, kFlagWantCompletion, &req, sizeof req, in, &seq), st::kOk);
  EXPECT_EQ(seq, 1u);
  RingConsumer::View v{};
  std::vector<std::byte> payload;
  ASSERT_TRUE(host_take(&v, &payload));
  EXPECT_EQ(v.op, kOp);
  EXPECT_EQ(v.flags, kFlagWantCompletion);
  EXPECT_EQ(v.seq, 1u);
  ASSERT_EQ(payload.size(), sizeof req + sizeof in);
  EXPECT_EQ(std::memcmp(payload.data(), &req, sizeof req), 0);
  EXPECT_EQ(std::memcmp(payload.data() + sizeof req, in, sizeof in), 0);
  EXPECT_FALSE(host_take(&v));
}

// Every record of the process takes the next number of the one sequence the
// channels share, whichever channel sends it.
TEST_F(ChannelTest, SequenceNumbersAreSharedByTheProcessChannels) {
  Channel other(region_.view().channel(0, 1), 1, slot_, shared_, false);
  uint64_t a = 0, b = 0, c = 0;
  ASSERT_EQ(send(&a), st::kOk);
  const uint64_t req = 0;
  ASSERT_EQ(other.send(kOp, 0, &req, sizeof req, {}, &b), st::kOk);
  ASSERT_EQ(send(&c), st::kOk);
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(c, 3u);
}

TEST_F(ChannelTest, TheDoorbellRingsOnlyForASleepingWorker) {
  uint64_t seq = 0;
  ASSERT_EQ(send(&seq), st::kOk);
  EXPECT_EQ(slot_->doorbell.load(), 0u);
  slot_->need_wakeup.store(1);
  ASSERT_EQ(send(&seq), st::kOk);
  EXPECT_EQ(slot_->doorbell.load(), 1u);
}

TEST_F(ChannelTest, APayloadTheRingCannotHoldIsRefused) {
  std::vector<std::byte> big(ch_->max_payload() + 1);
  uint64_t seq = 0;
  EXPECT_EQ(ch_->send(kOp, 0, nullptr, 0, big, &seq), st::kInvalidValue);
  RingConsumer::View v{};
  EXPECT_FALSE(host_take(&v));
  big.resize(ch_->max_payload());
  EXPECT_EQ(ch_->send(kOp, 0, nullptr, 0, big, &seq), st::kOk);
  EXPECT_TRUE(host_take(&v));
}

TEST_F(ChannelTest, WaitReturnsItsOwnCompletionAndKeepsTheOthers) {
  uint64_t a = 0, b = 0;
  ASSERT_EQ(send(&a), st::kOk);
  ASSERT_EQ(send(&b), st::kOk);
  host_answer(b, st::kInvalidValue);
  host_answer(a, st::kOk);
  CompletionData c{};
  ASSERT_EQ(ch_->wait(a, &c), st::kOk);
  EXPECT_EQ(c.seq, a);
  EXPECT_EQ(c.status, st::kOk);
  ASSERT_EQ(ch_->wait(b, &c), st::kOk);  // taken on the way to a's, kept
  EXPECT_EQ(c.seq, b);
  EXPECT_EQ(c.status, st::kInvalidValue);
}

TEST_F(ChannelTest, AsyncErrorsRideOnCompletionsAndTheFirstWins) {
  uint64_t a = 0, b = 0;
  ASSERT_EQ(send(&a), st::kOk);
  ASSERT_EQ(send(&b), st::kOk);
  host_answer(a, st::kOk, 0, st::kOutOfMemory);
  host_answer(b, st::kOk, 0, st::kInvalidValue);
  CompletionData c{};
  ASSERT_EQ(ch_->wait(b, &c), st::kOk);
  EXPECT_EQ(c.status, st::kOk);
  EXPECT_EQ(shared_.errors.take(), st::kOutOfMemory);
  EXPECT_EQ(shared_.errors.take(), st::kOk);  // reading cleared it
}

TEST_F(ChannelTest, TheReplyIsReadWithinItsBuffer) {
  auto* reply = cv_.reply.data();
  for (size_t i = 0; i < cv_.reply.size(); ++i) reply[i] = static_cast<std::byte>(i & 0xff);
  uint64_t rep = 0;
  std::byte extra[16] = {};
  uint32_t extra_len = 99;

  // The host says it wrote more than the buffer holds: nothing past the
  // buffer, nor past the caller's spans, is read or written.
  CompletionData c{st::kOk, 1, 0, 1u << 30, st::kOk};
  ch_->read_reply(c, &rep, sizeof rep, extra, &extra_len);
  EXPECT_EQ(std::memcmp(&rep, reply, sizeof rep), 0);
  EXPECT_EQ(extra_len, sizeof extra);
  EXPECT_EQ(std::memcmp(extra, reply + sizeof rep, sizeof extra), 0);

  // A reply shorter than the struct: only what the host wrote, no extra.
  rep = 0;
  c.reply_bytes = 3;
  ch_->read_reply(c, &rep, sizeof rep, extra, &extra_len);
  EXPECT_EQ(extra_len, 0u);
  uint64_t want = 0;
  std::memcpy(&want, reply, 3);
  EXPECT_EQ(rep, want);
}

// A device answer: the stream stores the record's seq into device_seq and
// that is the answer. Should the host answer it too (the device's store
// raced a failure), that failure comes back as an asynchronous error, and
// the completion is not kept for anyone.
TEST_F(ChannelTest, ADeviceAnswerNeedsNoCompletion) {
  uint64_t a = 0, b = 0;
  ASSERT_EQ(send(&a, kFlagWantCompletion | kFlagDeviceAnswer), st::kOk);
  cv_.ctl->device_seq.store(a);
  CompletionData c{};
  ASSERT_EQ(ch_->wait(a, &c, true), st::kOk);
  EXPECT_EQ(c.seq, a);
  EXPECT_EQ(c.status, st::kOk);

  ASSERT_EQ(send(&b), st::kOk);
  host_answer(a, st::kLaunchFailed);
  host_answer(b, st::kOk);
  ASSERT_EQ(ch_->wait(b, &c), st::kOk);
  EXPECT_EQ(c.status, st::kOk);
  EXPECT_EQ(shared_.errors.take(), st::kLaunchFailed);
}

// A deferred record whose caller returned (an asynchronous staged copy):
// its failure is an asynchronous error as soon as its completion is seen,
// and whoever collects its place later gets kOk.
TEST_F(ChannelTest, AnAsyncDeferredFailureBecomesAnAsyncError) {
  uint64_t a = 0, b = 0;
  ASSERT_EQ(send(&a), st::kOk);
  ch_->defer(0, a, true);
  ASSERT_EQ(send(&b), st::kOk);
  host_answer(a, st::kInvalidValue);
  host_answer(b, st::kOk);
  CompletionData c{};
  ASSERT_EQ(ch_->wait(b, &c), st::kOk);
  EXPECT_EQ(shared_.errors.take(), st::kInvalidValue);
  EXPECT_EQ(ch_->collect(0), st::kOk);
  EXPECT_EQ(shared_.errors.take(), st::kOk);  // reported once
}

// The same when the collector itself takes the completion.
TEST_F(ChannelTest, AnAsyncDeferredFailureCollectedIsStillAnAsyncError) {
  uint64_t a = 0;
  ASSERT_EQ(send(&a), st::kOk);
  ch_->defer(2, a, true);
  host_answer(a, st::kInvalidValue);
  EXPECT_EQ(ch_->collect(2), st::kOk);
  EXPECT_EQ(shared_.errors.take(), st::kInvalidValue);
}

// A deferred record whose caller still waits (a synchronous staged copy):
// its status is the collector's, and the place is free afterwards.
TEST_F(ChannelTest, ASyncDeferredFailureIsCollected) {
  uint64_t a = 0;
  ASSERT_EQ(send(&a), st::kOk);
  ch_->defer(1, a, false);
  host_answer(a, st::kInvalidValue);
  EXPECT_EQ(ch_->collect(1), st::kInvalidValue);
  EXPECT_EQ(shared_.errors.take(), st::kOk);
  EXPECT_EQ(ch_->collect(1), st::kOk);  // nothing deferred there any more
  EXPECT_EQ(ch_->collect(3), st::kOk);  // never used
}

// After a host restart the region may belong to another session: the
// channel writes nothing more into it.
TEST_F(ChannelTest, NothingIsSentAfterTheHostRestarted) {
  region_.view().header()->session_id.store(region_.session() + 1);
  uint64_t seq = 0;
  EXPECT_EQ(send(&seq), st::kDeviceUnavailable);
  RingConsumer::View v{};
  EXPECT_FALSE(host_take(&v));
  EXPECT_EQ(live_.dead(), st::kDeviceUnavailable);
}

TEST_F(ChannelTest, NothingIsSentAfterTheSessionEnded) {
  live_.end(st::kNotInitialized);  // as in a fork()ed child
  uint64_t seq = 0;
  EXPECT_EQ(send(&seq), st::kNotInitialized);
  RingConsumer::View v{};
  EXPECT_FALSE(host_take(&v));
}

// A waiter blocked on an answer that never comes is released by the host
// ending the session (fatal), with the session's status.
TEST_F(ChannelTest, AWaitEndsWhenTheHostEndsTheSession) {
  uint64_t seq = 0;
  ASSERT_EQ(send(&seq), st::kOk);
  std::thread host([&] {
    std::this_thread::sleep_for(50ms);
    slot_->fatal.store(1);
  });
  CompletionData c{};
  EXPECT_EQ(ch_->wait(seq, &c), st::kDeviceUnavailable);
  host.join();
}

// A full ring is waited on, not failed: a host thread that drains it late
// still gets every record, in order, and answers the last.
TEST_F(ChannelTest, AFullRingWaitsForTheHost) {
  constexpr int kRecords = 200;  // several laps of a 4 KiB ring
  std::atomic<bool> go{false};
  std::thread host([&] {
    while (!go.load()) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);  // the guest is stuck on a full ring by now
    uint64_t expect = 1;
    RingConsumer::View v{};
    while (expect <= kRecords) {
      if (!host_take(&v)) {
        std::this_thread::yield();
        continue;
      }
      EXPECT_EQ(v.seq, expect);
      if (v.seq == kRecords) host_answer(v.seq, st::kOk, 0);
      ++expect;
    }
  });
  go.store(true);
  uint64_t seq = 0;
  for (int i = 0; i < kRecords; ++i) ASSERT_EQ(send(&seq, i + 1 == kRecords ? kFlagWantCompletion : 0), st::kOk);
  CompletionData c{};
  EXPECT_EQ(ch_->wait(seq, &c), st::kOk);
  EXPECT_EQ(c.seq, static_cast<uint64_t>(kRecords));
  host.join();
}

// ---- the call prologue and the pool it claims from ----------------------

TEST_F(ChannelTest, ALeaseIsRefusedBeforeAttachAndAfterTheSessionEnded) {
  // No pool at all: a refused lease must not reach for a channel.
  const CallLease before(st::kNoDevice, live_, nullptr);
  EXPECT_FALSE(before);
  EXPECT_EQ(before.status(), st::kNoDevice);
  live_.end(st::kDeinitialized);
  const CallLease after(st::kOk, live_, nullptr);
  EXPECT_EQ(after.status(), st::kDeinitialized);
  EXPECT_EQ(CallLease::ready(st::kOk, live_), st::kDeinitialized);
}

// Threads of their own, so that each thread's channel binding dies with it.
TEST_F(ChannelTest, EachThreadLeasesItsOwnChannelAndTheRestShareTheLast) {
  ChannelShared shared(live_);
  ChannelPool pool(region_.view(), 0, shared);
  ASSERT_EQ(pool.size(), 2u);
  const ChannelView own = region_.view().channel(0, 0), last = region_.view().channel(0, 1);

  std::atomic<int> stage{0};
  std::thread first([&] {
    const CallLease l(st::kOk, live_, &pool);
    ASSERT_TRUE(l);
    EXPECT_EQ(l.channel().index(), 0u);
    EXPECT_FALSE(l.channel().shared_by_threads());
    EXPECT_EQ(&CallLease(st::kOk, live_, &pool).channel(), &l.channel());  // the same one again
    stage.store(1);
    while (stage.load() != 2) std::this_thread::yield();
  });
  while (stage.load() != 1) std::this_thread::yield();
  EXPECT_EQ(own.ctl->in_use.load(), 1u);

  // The second thread finds channel 0 taken; the last is shared, and its
  // lease holds the channel's mutex.
  std::thread second([&] {
    const CallLease l(st::kOk, live_, &pool);
    ASSERT_TRUE(l);
    EXPECT_EQ(l.channel().index(), 1u);
    EXPECT_TRUE(l.channel().shared_by_threads());
    bool locked_elsewhere = true;
    std::thread probe([&] {
      locked_elsewhere = !l.channel().mu().try_lock();
      if (!locked_elsewhere) l.channel().mu().unlock();
    });
    probe.join();
    EXPECT_TRUE(locked_elsewhere);
  });
  second.join();
  EXPECT_EQ(last.ctl->in_use.load(), 1u);  // the shared channel stays claimed

  stage.store(2);
  first.join();
  EXPECT_EQ(own.ctl->in_use.load(), 0u);  // given back when its thread exited
}

}  // namespace
}  // namespace vgpu::guest
