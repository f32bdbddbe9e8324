// The module handlers (src/host/handlers_module.cc) against what a guest may
// send: ModuleFunctions' paging and its checks, before and after the backend.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_backend.h"
#include "one_of_each.h"

namespace vgpu::host {
namespace {

using test::FakeBackend;
using test::TestSession;

// The NUL-terminated names of a ModuleFunctions reply.
std::vector<std::string> names_in(std::span<const std::byte> b) {
  std::vector<std::string> out;
  std::string cur;
  for (std::byte c : b) {
    if (c == std::byte{0}) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(c));
    }
  }
  EXPECT_TRUE(cur.empty()) << "a name without its NUL";
  return out;
}

TEST(HandlersModule, FunctionsComeInPagesThatFitTheRoom) {
  FakeBackend fake;
  fake.kernel_names = {"_Z1av", "_Z1bv", "kernel_c"};
  TestSession t(&fake);
  const Handle m = t.d.load_module("an image");
  ASSERT_NE(0u, m);

  ModuleFunctionsRep rep{};
  ASSERT_EQ(st::kOk, t.d.call<Op::ModuleFunctions>({m, 0, 4096}, &rep));
  EXPECT_EQ(3u, rep.count);
  EXPECT_EQ(3u, rep.returned);
  EXPECT_EQ(fake.kernel_names, names_in(t.d.reply_extra<Op::ModuleFunctions>()));

  // Room for two names ("_Z1av\0_Z1bv\0" is 12 bytes), then the rest.
  ASSERT_EQ(st::kOk, t.d.call<Op::ModuleFunctions>({m, 0, 13}, &rep));
  EXPECT_EQ(3u, rep.count);
  EXPECT_EQ(2u, rep.returned);
  EXPECT_EQ((std::vector<std::string>{"_Z1av", "_Z1bv"}), names_in(t.d.reply_extra<Op::ModuleFunctions>()));
  ASSERT_EQ(st::kOk, t.d.call<Op::ModuleFunctions>({m, 2, 13}, &rep));
  EXPECT_EQ(1u, rep.returned);
  EXPECT_EQ((std::vector<std::string>{"kernel_c"}), names_in(t.d.reply_extra<Op::ModuleFunctions>()));
  // From the end: none, no error.
  ASSERT_EQ(st::kOk, t.d.call<Op::ModuleFunctions>({m, 3, 13}, &rep));
  EXPECT_EQ(0u, rep.returned);
}

TEST(HandlersModule, FunctionsRequestsAreChecked) {
  FakeBackend fake;
  fake.kernel_names = {"_Z1av"};
  TestSession t(&fake);
  const Handle m = t.d.load_module("an image");
  ModuleFunctionsRep rep{};
  EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::ModuleFunctions>({m + 77, 0, 4096}, &rep));
  EXPECT_EQ(st::kInvalidValue, t.d.call<Op::ModuleFunctions>({m, 2, 4096}, &rep));   // past the end
  EXPECT_EQ(st::kInvalidValue, t.d.call<Op::ModuleFunctions>({m, 0, 3}, &rep));      // no room for the next name
  // A name the guest could not ask ModuleGetFunction for: the list is refused, not cut.
  fake.kernel_names = {"_Z1av", std::string(5000, 'k')};
  EXPECT_EQ(st::kNotSupported, t.d.call<Op::ModuleFunctions>({m, 0, 65536}, &rep));
}

}  // namespace
}  // namespace vgpu::host
