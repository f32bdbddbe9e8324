// The session's teardown on a real GPU, part of cuda_backend_test: a session
// over the CUDA backend (loaded as vgpu-hostd loads it) that ends holding one
// object of every kind (a captured graph, its executable, a capture left
// open, a JIT'ed module, a cuBLAS handle used on a stream, a VMM mapping,
// allocations) releases each exactly once, in the order of
// src/host/session_teardown.cc, every driver call of it succeeding, and the
// GPU's free memory is back where it was. session_teardown_test.cc holds the
// same guest to the same order over a fake and the CPU backend. Skips, with
// the reason, where there is no GPU.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend.h"
#include "backend_recorder.h"
#include "cuda_backend_module.h"
#include "one_of_each.h"

namespace vgpu::host {
namespace {

using test::expected_teardown;
using test::Held;
using test::hold_one_of_each;
using test::leave_capture_open;
using test::Record;
using test::RecordingBackend;
using test::TestSession;
using test::text;

constexpr uint64_t kArenaBytes = 4 << 20;
constexpr uint64_t kBigBytes = 64 << 20;
// cuMemGetInfo counts the device's memory as the driver manages it (in 2 MiB
// pages, with pools of its own): "back" means within this of where it was.
constexpr uint64_t kSlack = 2 << 20;

class CudaSessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Backend* b = test::open_cuda_backend(&skip_);
    if (!b) return;
    arena_ = static_cast<std::byte*>(std::aligned_alloc(4096, kArenaBytes));
    uint64_t device_base = 0;
    if (Status s = b->register_host(arena_, kArenaBytes, &device_base); s != st::kOk) {
      skip_ = "register_host failed with status " + std::to_string(s);
      delete b;
      std::free(arena_);
      arena_ = nullptr;
      return;
    }
    be_ = b;
  }

  static void TearDownTestSuite() {
    delete be_;
    be_ = nullptr;
    std::free(arena_);
    arena_ = nullptr;
  }

  void SetUp() override {
    if (!be_) GTEST_SKIP() << skip_;
  }

  // One session's life through `rec`: it holds one of each, the device's free
  // memory is read meanwhile (*free_held, all work done), then it leaves a
  // capture open and dies. *from: the first record of its teardown.
  static void live_and_die(RecordingBackend& rec, size_t* from, uint64_t* free_held) {
    TestSession t(&rec, arena_, kArenaBytes);
    Held h;
    ASSERT_NO_FATAL_FAILURE(hold_one_of_each(t.d, true, &h, kBigBytes));
    ASSERT_EQ(st::kOk, t.d.call<Op::CtxSynchronize>({}));
    uint64_t total = 0;
    ASSERT_EQ(st::kOk, be_->mem_get_info(free_held, &total));
    ASSERT_NO_FATAL_FAILURE(leave_capture_open(t.d, h));
    *from = rec.records.size();
  }

  static inline Backend* be_ = nullptr;
  static inline std::string skip_;
  static inline std::byte* arena_ = nullptr;
};

TEST_F(CudaSessionTest, ASessionDyingWithOneOfEachReleasesItAllAndTheMemoryIsBack) {
  // A first session makes what the driver and cuBLAS make once per process
  // and keep (the JIT'ed code, cuBLAS's own kernels and pools); the second
  // must then give back all it takes.
  {
    RecordingBackend warm(be_);
    size_t from = 0;
    uint64_t held = 0;
    ASSERT_NO_FATAL_FAILURE(live_and_die(warm, &from, &held));
    EXPECT_EQ("", warm.each_created_destroyed_once());
  }
  uint64_t free0 = 0, total = 0;
  ASSERT_EQ(st::kOk, be_->mem_get_info(&free0, &total));

  RecordingBackend rec(be_);
  size_t from = 0;
  uint64_t held = 0;
  ASSERT_NO_FATAL_FAILURE(live_and_die(rec, &from, &held));
  uint64_t free1 = 0;
  ASSERT_EQ(st::kOk, be_->mem_get_info(&free1, &total));
  std::printf("[ info ] device memory free: %llu MiB before the session, %llu MiB while it held, %llu MiB after\n",
              static_cast<unsigned long long>(free0 >> 20), static_cast<unsigned long long>(held >> 20),
              static_cast<unsigned long long>(free1 >> 20));
  EXPECT_LE(held + kBigBytes, free0 + kSlack) << "the session's memory did not show";
  EXPECT_GE(free1 + kSlack, free0) << "the session's memory is not back";

  const std::vector<Record> expected = expected_teardown(rec);
  ASSERT_FALSE(expected.empty()) << text(rec.records);
  EXPECT_EQ(text(expected), text(rec.records, from));
  EXPECT_EQ("", rec.each_created_destroyed_once());
}

}  // namespace
}  // namespace vgpu::host
