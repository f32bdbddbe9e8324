// RegionHost, the supervisor's side of a region, against a region whose
// every byte the test (a hostile guest) may write: the header heals, the
// host's addresses never move, a slot state outside the protocol is freed,
// and a guest cycling its slot gets a bounded number of wipes and workers.
#include "region_host.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <vector>

namespace vgpu::host {
namespace {

RegionConfig small_config() {
  RegionConfig c;
  c.slot_count = 3;
  c.channels_per_slot = 2;
  c.cmd_ring_bytes = 4096;
  c.cpl_ring_entries = 8;
  c.reply_bytes = 16384;
  c.arena_bytes = 1 << 20;
  return c;
}

class RegionHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    compute_layout(cfg_, &layout_, nullptr);
    bytes_ = layout_.total_bytes;
    base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(base_, MAP_FAILED);
    session_ = format_region(base_, cfg_, layout_);
    view_.emplace(*RegionView::of_config(base_, bytes_, cfg_, nullptr));
    host_.emplace(*view_, session_, "test");
    host_->beat(HostState::kReady);
  }
  void TearDown() override { munmap(base_, bytes_); }

  uint32_t state(uint32_t s) const { return view_->slot(s).ctl->state.load(); }
  void set_state(uint32_t s, uint32_t v) { view_->slot(s).ctl->state.store(v); }
  // One serve() pass; returns the slots a worker was started for.
  std::vector<uint32_t> pass(uint64_t now) {
    std::vector<uint32_t> started;
    host_->serve(now, [&](uint32_t s) {
      started.push_back(s);
      return static_cast<pid_t>(100 + s);
    });
    return started;
  }

  RegionConfig cfg_ = small_config();
  Layout layout_{};
  uint64_t bytes_ = 0;
  void* base_ = nullptr;
  uint64_t session_ = 0;
  std::optional<RegionView> view_;
  std::optional<RegionHost> host_;
};

TEST_F(RegionHostTest, BeatHealsAScribbledHeader) {
  RegionHeader* h = view_->header();
  for (uint64_t x : {uint64_t{0}, uint64_t{1}, uint64_t{0xffffffff}, uint64_t{1} << 63, ~uint64_t{0}}) {
    std::memset(static_cast<void*>(h), static_cast<int>(x & 0xff), sizeof(RegionHeader));
    h->slots_offset = h->slot_bytes = h->channel_bytes = x;
    h->session_id.store(x);
    EXPECT_NE(validate_header(h, bytes_), nullptr);
    const uint64_t before = h->host_heartbeat.load();
    host_->beat(HostState::kReady);
    EXPECT_EQ(validate_header(h, bytes_), nullptr) << x;
    EXPECT_EQ(h->session_id.load(), session_);
    EXPECT_EQ(h->host_state.load(), static_cast<uint32_t>(HostState::kReady));
    EXPECT_NE(h->host_heartbeat.load(), before) << "the heartbeat must move whatever the guest wrote";
  }
}

TEST_F(RegionHostTest, ClaimStartsAWorkerAndItsExitFreesTheSlot) {
  set_state(1, static_cast<uint32_t>(SlotState::kClaimed));
  view_->channel(1, 1).ctl->cmd.head.store(12345);
  EXPECT_EQ(pass(1000), std::vector<uint32_t>{1});
  EXPECT_EQ(host_->worker(1), 101);
  EXPECT_TRUE(pass(1001).empty()) << "a slot with a worker is the worker's";
  set_state(1, static_cast<uint32_t>(SlotState::kClosing));
  host_->worker_exited(1);
  EXPECT_EQ(state(1), static_cast<uint32_t>(SlotState::kFree));
  EXPECT_EQ(view_->channel(1, 1).ctl->cmd.head.load(), 0u) << "the wipe clears the rings' control";
  EXPECT_TRUE(host_->idle());
}

TEST_F(RegionHostTest, StatesOutsideTheProtocolAreFreed) {
  for (uint32_t v : {5u, 7u, 0xffffffffu, 0x80000000u}) {
    set_state(0, v);
    EXPECT_TRUE(pass(1000).empty());
    EXPECT_EQ(state(0), static_cast<uint32_t>(SlotState::kFree)) << v;
  }
}

TEST_F(RegionHostTest, AnAbandonedClaimIsFreedAfterItsTimeout) {
  set_state(2, static_cast<uint32_t>(SlotState::kClaiming));
  pass(1000);
  pass(1000 + RegionHost::kClaimingMs);
  EXPECT_EQ(state(2), static_cast<uint32_t>(SlotState::kClaiming)) << "a claim being filled in is left alone";
  pass(1001 + RegionHost::kClaimingMs);
  EXPECT_EQ(state(2), static_cast<uint32_t>(SlotState::kFree));
}

// A guest that flips its state as fast as it can, and one that claims and
// abandons its slot: the host's wipes and worker starts per slot stay within
// the budget, and the other slots are served all the while.
TEST_F(RegionHostTest, ASlotCyclingItsStateGetsBoundedWork) {
  uint64_t wipes_or_starts = 0, other_served = 0;
  const uint64_t seconds = 10;
  for (uint64_t now = 1000; now < 1000 + seconds * 1000; now += 2) {  // a pass every 2 ms
    // Slot 0 flips to a state the host must act on, every pass: one it
    // wipes (a session with no worker) or one it starts a worker for.
    const bool claim = now % 4 == 0;
    set_state(0, static_cast<uint32_t>(claim ? SlotState::kClaimed : SlotState::kServing));
    // Slot 2 is an honest guest claiming now and then.
    if (now % 500 == 0 && !host_->worker(2)) set_state(2, static_cast<uint32_t>(SlotState::kClaimed));
    bool started0 = false;
    for (uint32_t s : pass(now)) {
      if (s == 0) started0 = true;
      if (s == 2) ++other_served, host_->worker_exited(2);
    }
    if (started0) {
      ++wipes_or_starts;
      host_->worker_exited(0);  // its worker ends at once (that wipe is part of the start)
    } else if (!claim && state(0) == static_cast<uint32_t>(SlotState::kFree)) {
      ++wipes_or_starts;  // wiped by the pass
    }
  }
  const double budget = RegionHost::kBurst + RegionHost::kPerSecond * seconds;
  EXPECT_LE(double(wipes_or_starts), budget + 1);
  EXPECT_GE(other_served, seconds * 2 - 1) << "the honest slot must be served while the other cycles";
}

}  // namespace
}  // namespace vgpu::host
