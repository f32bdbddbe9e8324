// The NVML handlers (src/host/handlers_nvml.cc) against what a guest may
// send: a request is checked before the backend (the host's NVML) sees it.
#include <gtest/gtest.h>

#include "fake_backend.h"
#include "one_of_each.h"

namespace vgpu::host {
namespace {

using test::FakeBackend;
using test::TestSession;

// nvmlDeviceGetP2PStatus's index: the backend answers the five NVML defines;
// any other index a guest forges is refused before NVML is asked.
TEST(HandlersNvml, P2PStatusIndexCheckedBeforeTheBackend) {
  FakeBackend fake;
  TestSession t(&fake);
  NvmlP2PStatusRep rep{-1, -1};
  for (uint32_t i = 0; i < kNvmlP2PCapsIndexCount; ++i) {
    ASSERT_EQ(st::kOk, t.d.call<Op::NvmlP2PStatus>({i, 0}, &rep)) << i;
    EXPECT_EQ(0, rep.nvml_return);
    EXPECT_EQ(0, rep.status);
  }
  EXPECT_EQ(static_cast<int>(kNvmlP2PCapsIndexCount), fake.p2p_questions);
  for (uint32_t bad : {kNvmlP2PCapsIndexCount, 77u, 0xffffffffu})
    EXPECT_EQ(st::kInvalidValue, t.d.call<Op::NvmlP2PStatus>({bad, 0}, &rep)) << bad;
  EXPECT_EQ(static_cast<int>(kNvmlP2PCapsIndexCount), fake.p2p_questions);
}

}  // namespace
}  // namespace vgpu::host
