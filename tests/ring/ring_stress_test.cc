// Stress: a guest producer and a host consumer on one channel of a real
// region, exchanging millions of records of random sizes in random batches.
// TwoProcesses is the real setting (two address spaces mapping one file);
// Threads is a smaller copy that ThreadSanitizer can watch (it does not
// follow fork, nor see ordering through memory mapped twice).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "mapping.h"
#include "ring_testing.h"
#include "stress_workload.h"

#if defined(__SANITIZE_THREAD__)
#define VGPU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VGPU_TSAN 1
#endif
#endif

namespace vgpu {
namespace {

using testing::ChannelView;
using testing::Outcome;
using testing::TempDir;
using testing::Workload;

uint64_t env_u64(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : dflt;
}

// A small region: one slot, one channel, a 64 KiB command ring (about 120
// records of average size, so it wraps and fills constantly) and a
// completion ring of 64 entries.
RegionConfig stress_config() {
  RegionConfig c;
  c.slot_count = 1;
  c.channels_per_slot = 1;
  c.cmd_ring_bytes = 64 << 10;
  c.cpl_ring_entries = 64;
  c.reply_bytes = 16 << 10;
  c.arena_bytes = 1 << 20;
  return c;
}

Workload workload(uint64_t default_records) {
  Workload w;
  w.records = env_u64("VGPU_STRESS_RECORDS", default_records);
  w.seed = env_u64("VGPU_STRESS_SEED", 1);
  return w;
}

void report(const char* what, const Workload& w, const Outcome& out, std::chrono::duration<double> t) {
  std::printf("%s: %llu records (seed %llu), %llu completions, %.2f s, %.2f M records/s, consumer slept %llu times\n",
              what, static_cast<unsigned long long>(out.records), static_cast<unsigned long long>(w.seed),
              static_cast<unsigned long long>(out.replies), t.count(), out.records / t.count() / 1e6,
              static_cast<unsigned long long>(out.sleeps));
}

TEST(RingStress, TwoProcesses) {
#ifdef VGPU_TSAN
  GTEST_SKIP() << "ThreadSanitizer does not follow fork; RingStress.Threads covers this build";
#endif
  const Workload w = workload(10'000'000);
  TempDir dir(testing::shm_parent());
  const std::string path = dir.file("region");
  std::string err;
  auto host = create_region_file(path, stress_config(), &err);
  ASSERT_TRUE(host) << err;

  std::fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The guest: its own mapping, at its own address.
    auto guest = attach_region_file(path, &err);
    if (!guest) {
      std::fprintf(stderr, "producer: %s\n", err.c_str());
      _exit(2);
    }
    const std::string e = testing::run_producer(ChannelView::of(guest->base(), guest->bytes(), 0, 0), w);
    if (!e.empty()) std::fprintf(stderr, "producer: %s\n", e.c_str());
    _exit(e.empty() ? 0 : 1);
  }

  int status = 0;
  bool reaped = false;
  auto gone = [&] {
    if (!reaped && waitpid(child, &status, WNOHANG) == child) reaped = true;
    return reaped;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const Outcome out = testing::run_consumer(ChannelView::of(host->base(), host->bytes(), 0, 0), w, gone);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  if (!out.error.empty() && !reaped) kill(child, SIGKILL);
  if (!reaped) waitpid(child, &status, 0);

  EXPECT_EQ(out.error, "");
  ASSERT_TRUE(WIFEXITED(status)) << "producer killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "producer failed (see its stderr)";
  EXPECT_EQ(out.records, w.records);
  report("two processes", w, out, took);
}

TEST(RingStress, Threads) {
  const Workload w = workload(200'000);
  TempDir dir(testing::shm_parent());
  std::string err;
  auto m = create_region_file(dir.file("region"), stress_config(), &err);
  ASSERT_TRUE(m) << err;
  // One mapping for both threads: ThreadSanitizer tracks addresses, so the
  // two sides must see the bytes at the same address.
  const ChannelView cv = ChannelView::of(m->base(), m->bytes(), 0, 0);
  std::string producer_error;
  std::atomic<bool> producer_done{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread producer([&] {
    producer_error = testing::run_producer(cv, w);
    producer_done.store(true);
  });
  const Outcome out = testing::run_consumer(cv, w, [&] { return producer_done.load() && !producer_error.empty(); });
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  producer.join();
  EXPECT_EQ(out.error, "");
  EXPECT_EQ(producer_error, "");
  EXPECT_EQ(out.records, w.records);
  report("two threads", w, out, took);
}

}  // namespace
}  // namespace vgpu
