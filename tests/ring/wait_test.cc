// wait_until: each phase ends the way its policy says, and a wake-up is never
// lost between a waiter going to sleep and a waker publishing.
#include "vgpu/wait.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace vgpu {
namespace {

using Clock = std::chrono::steady_clock;

TEST(Wait, ReadyAtOnceReturnsTrueWithoutSleeping) {
  std::atomic<uint32_t> flag{0}, bell{0};
  int gave_up_asked = 0;
  EXPECT_TRUE(wait_until([] { return true; }, [&] { return ++gave_up_asked, true; }, &flag, &bell));
  EXPECT_EQ(gave_up_asked, 0);
  EXPECT_EQ(flag.load(), 0u);
}

TEST(Wait, GiveUpEndsTheWaitAfterASleep) {
  std::atomic<uint32_t> flag{0}, bell{0};
  WaitPolicy p{100, 2, 100};
  EXPECT_FALSE(wait_until([] { return false; }, [] { return true; }, &flag, &bell, p));
  EXPECT_EQ(flag.load(), 0u) << "need_wakeup is lowered after the sleep";
}

// A timed spin phase keeps polling for (about) spin_us before the first sleep:
// the give-up check, which runs only after a sleep, is not reached earlier.
TEST(Wait, TimedSpinPhaseLastsItsDuration) {
  std::atomic<uint32_t> flag{0}, bell{0};
  WaitPolicy p{0, 0, 100};
  p.spin_us = 20000;
  const auto t0 = Clock::now();
  Clock::time_point first_give_up{};
  EXPECT_FALSE(wait_until([] { return false; },
                          [&] {
                            first_give_up = Clock::now();
                            return true;
                          },
                          &flag, &bell, p));
  EXPECT_GE(first_give_up - t0, std::chrono::microseconds(20000));
}

// The timed spin phase still sees the condition as soon as it holds.
TEST(Wait, TimedSpinSeesAnotherThreadsWork) {
  std::atomic<uint32_t> flag{0}, bell{0};
  std::atomic<bool> done{false};
  WaitPolicy p;
  p.spin_us = 5'000'000;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    done.store(true, std::memory_order_release);
  });
  const auto t0 = Clock::now();
  EXPECT_TRUE(wait_until([&] { return done.load(std::memory_order_acquire); }, [] { return true; }, &flag, &bell, p));
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(4));
  t.join();
}

// The sleeping phase: the waker publishes, then rings only if need_wakeup is
// raised; the waiter must wake (long before its 10 s bounded sleep ends).
TEST(Wait, SleeperIsWokenByTheDoorbell) {
  std::atomic<uint32_t> flag{0}, bell{0};
  std::atomic<bool> done{false};
  WaitPolicy p{0, 0, 10'000'000};
  std::thread t([&] {
    while (!flag.load()) std::this_thread::yield();  // the waiter is about to sleep
    done.store(true, std::memory_order_release);
    wake_if_needed(&flag, &bell);
  });
  const auto t0 = Clock::now();
  EXPECT_TRUE(wait_until([&] { return done.load(std::memory_order_acquire); }, [] { return false; }, &flag, &bell, p));
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  t.join();
}

}  // namespace
}  // namespace vgpu
