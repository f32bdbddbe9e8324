// The guest configuration's parser (src/guest/client/config.h): every
// variable's default, good values, garbage, values out of range and empty
// values, against a table instead of the process' environment.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "client/config.h"

namespace vgpu::guest {
namespace {

struct Parsed {
  GuestConfig config;
  std::vector<std::string> complaints;
};

Parsed parse(const std::map<std::string, std::string>& vars) {
  Parsed p;
  p.config = parse_guest_config(
      [&](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
      },
      &p.complaints);
  return p;
}

bool mentions(const std::string& line, const std::string& what) { return line.find(what) != std::string::npos; }

TEST(GuestConfig, DefaultsWithNothingSet) {
  const Parsed p = parse({});
  EXPECT_TRUE(p.complaints.empty());
  EXPECT_EQ(p.config.region, "");
  EXPECT_EQ(p.config.sysfs_pci, "/sys/bus/pci/devices");
  EXPECT_EQ(p.config.connect_timeout_ms, 30000u);
  EXPECT_EQ(p.config.host_timeout_ms, HostWatch::kRunningStaleMs);
  EXPECT_EQ(p.config.copy_threads, 4u);
  EXPECT_FALSE(p.config.debug);
  EXPECT_FALSE(p.config.trace_exports);
  EXPECT_EQ(p.config.module_loading, ModuleLoading::kLazy);
  EXPECT_FALSE(p.config.visible_devices.has_value());
}

TEST(GuestConfig, GoodValues) {
  const Parsed p = parse({{"VGPU_REGION", "/dev/shm/vgpu-test"},
                          {"VGPU_SYSFS_PCI", "/tmp/fake-sysfs"},
                          {"VGPU_CONNECT_TIMEOUT_MS", "2500"},
                          {"VGPU_HOST_TIMEOUT_MS", "2000"},
                          {"VGPU_COPY_THREADS", "1"},
                          {"VGPU_DEBUG", "1"},
                          {"VGPU_TRACE_EXPORTS", "yes"},
                          {"CUDA_MODULE_LOADING", "EAGER"},
                          {"CUDA_VISIBLE_DEVICES", "GPU-1234,1"}});
  EXPECT_TRUE(p.complaints.empty()) << p.complaints.front();
  EXPECT_EQ(p.config.region, "/dev/shm/vgpu-test");
  EXPECT_EQ(p.config.sysfs_pci, "/tmp/fake-sysfs");
  EXPECT_EQ(p.config.connect_timeout_ms, 2500u);
  EXPECT_EQ(p.config.host_timeout_ms, 2000u);
  EXPECT_EQ(p.config.copy_threads, 1u);
  EXPECT_TRUE(p.config.debug);
  EXPECT_TRUE(p.config.trace_exports);
  EXPECT_EQ(p.config.module_loading, ModuleLoading::kEager);
  EXPECT_EQ(p.config.visible_devices, std::optional<std::string>("GPU-1234,1"));
}

TEST(GuestConfig, RangeEndsAreAccepted) {
  Parsed p = parse({{"VGPU_CONNECT_TIMEOUT_MS", "1"}, {"VGPU_HOST_TIMEOUT_MS", "200"}, {"VGPU_COPY_THREADS", "64"}});
  EXPECT_TRUE(p.complaints.empty());
  EXPECT_EQ(p.config.connect_timeout_ms, 1u);
  EXPECT_EQ(p.config.host_timeout_ms, 200u);
  EXPECT_EQ(p.config.copy_threads, 64u);
  p = parse(
      {{"VGPU_CONNECT_TIMEOUT_MS", "3600000"}, {"VGPU_HOST_TIMEOUT_MS", "3600000"}, {"VGPU_COPY_THREADS", "007"}});
  EXPECT_TRUE(p.complaints.empty());
  EXPECT_EQ(p.config.connect_timeout_ms, 3600000u);
  EXPECT_EQ(p.config.host_timeout_ms, 3600000u);
  EXPECT_EQ(p.config.copy_threads, 7u);
}

TEST(GuestConfig, FlagsTakeEveryWrittenForm) {
  for (const char* on : {"1", "true", "TRUE", "Yes", "on"}) {
    const Parsed p = parse({{"VGPU_DEBUG", on}});
    EXPECT_TRUE(p.complaints.empty()) << on;
    EXPECT_TRUE(p.config.debug) << on;
  }
  for (const char* off : {"0", "false", "No", "OFF"}) {
    const Parsed p = parse({{"VGPU_DEBUG", off}});
    EXPECT_TRUE(p.complaints.empty()) << off;
    EXPECT_FALSE(p.config.debug) << off;
  }
}

TEST(GuestConfig, ModuleLoadingAsNvidiaSpellsIt) {
  EXPECT_EQ(parse({{"CUDA_MODULE_LOADING", "LAZY"}}).config.module_loading, ModuleLoading::kLazy);
  EXPECT_EQ(parse({{"CUDA_MODULE_LOADING", "DEFAULT"}}).config.module_loading, ModuleLoading::kLazy);
  EXPECT_EQ(parse({{"CUDA_MODULE_LOADING", "EAGER"}}).config.module_loading, ModuleLoading::kEager);
  const Parsed p = parse({{"CUDA_MODULE_LOADING", "eager"}});
  ASSERT_EQ(p.complaints.size(), 1u);
  EXPECT_TRUE(mentions(p.complaints[0], "CUDA_MODULE_LOADING")) << p.complaints[0];
  EXPECT_TRUE(mentions(p.complaints[0], "LAZY, EAGER or DEFAULT")) << p.complaints[0];
  EXPECT_EQ(p.config.module_loading, ModuleLoading::kLazy);
}

// Each rejected value: one line naming the variable, the value, the form
// accepted and the default used; the field keeps its default.
TEST(GuestConfig, GarbageIsRefusedWithTheFormAndTheDefault) {
  const Parsed p = parse({{"VGPU_CONNECT_TIMEOUT_MS", "30s"},
                          {"VGPU_HOST_TIMEOUT_MS", "-1"},
                          {"VGPU_COPY_THREADS", "four"},
                          {"VGPU_DEBUG", "verbose"},
                          {"VGPU_TRACE_EXPORTS", " 1"},
                          {"CUDA_MODULE_LOADING", "SOMETIMES"}});
  ASSERT_EQ(p.complaints.size(), 6u);
  const GuestConfig defaults;
  EXPECT_EQ(p.config.connect_timeout_ms, defaults.connect_timeout_ms);
  EXPECT_EQ(p.config.host_timeout_ms, defaults.host_timeout_ms);
  EXPECT_EQ(p.config.copy_threads, defaults.copy_threads);
  EXPECT_EQ(p.config.debug, defaults.debug);
  EXPECT_EQ(p.config.trace_exports, defaults.trace_exports);
  EXPECT_EQ(p.config.module_loading, defaults.module_loading);
  // In the list's order, so the lines are in a fixed order too.
  EXPECT_EQ(p.complaints[0],
            "VGPU_CONNECT_TIMEOUT_MS=\"30s\" is not valid (expected a whole number from 1 to 3600000); "
            "using the default, 30000");
  EXPECT_TRUE(mentions(p.complaints[1], "VGPU_HOST_TIMEOUT_MS=\"-1\"")) << p.complaints[1];
  EXPECT_TRUE(mentions(p.complaints[2], "VGPU_COPY_THREADS=\"four\"")) << p.complaints[2];
  EXPECT_TRUE(mentions(p.complaints[2], "from 1 to 64")) << p.complaints[2];
  EXPECT_TRUE(mentions(p.complaints[2], "using the default, 4")) << p.complaints[2];
  EXPECT_TRUE(mentions(p.complaints[3], "VGPU_DEBUG=\"verbose\"")) << p.complaints[3];
  EXPECT_TRUE(mentions(p.complaints[3], "1, true, yes or on; 0, false, no or off")) << p.complaints[3];
  EXPECT_TRUE(mentions(p.complaints[3], "using the default, off")) << p.complaints[3];
  EXPECT_TRUE(mentions(p.complaints[4], "VGPU_TRACE_EXPORTS=\" 1\"")) << p.complaints[4];
  EXPECT_TRUE(mentions(p.complaints[5], "CUDA_MODULE_LOADING=\"SOMETIMES\"")) << p.complaints[5];
}

TEST(GuestConfig, NumbersOutOfRangeAreRefused) {
  const Parsed p = parse({{"VGPU_CONNECT_TIMEOUT_MS", "0"},
                          {"VGPU_HOST_TIMEOUT_MS", "199"},
                          {"VGPU_COPY_THREADS", "65"}});
  ASSERT_EQ(p.complaints.size(), 3u);
  EXPECT_TRUE(mentions(p.complaints[0], "VGPU_CONNECT_TIMEOUT_MS=\"0\"")) << p.complaints[0];
  EXPECT_TRUE(mentions(p.complaints[1], "from 200 to 3600000")) << p.complaints[1];
  EXPECT_TRUE(mentions(p.complaints[2], "VGPU_COPY_THREADS=\"65\"")) << p.complaints[2];
  EXPECT_EQ(p.config.connect_timeout_ms, 30000u);
  EXPECT_EQ(p.config.host_timeout_ms, HostWatch::kRunningStaleMs);
  EXPECT_EQ(p.config.copy_threads, 4u);
}

// A number past 32 bits must not wrap into range (strtoul into a uint32_t
// once made 4294967297 ms read as 1 ms).
TEST(GuestConfig, HugeNumbersDoNotWrap) {
  const Parsed p = parse({{"VGPU_COPY_THREADS", "4294967297"}, {"VGPU_CONNECT_TIMEOUT_MS", "99999999999999999999999"}});
  ASSERT_EQ(p.complaints.size(), 2u);
  EXPECT_EQ(p.config.copy_threads, 4u);
  EXPECT_EQ(p.config.connect_timeout_ms, 30000u);
}

// Empty is unset, with no complaint; except CUDA_VISIBLE_DEVICES, where an
// empty value hides every device, as under NVIDIA's driver.
TEST(GuestConfig, EmptyValues) {
  const Parsed p = parse({{"VGPU_REGION", ""},
                          {"VGPU_SYSFS_PCI", ""},
                          {"VGPU_CONNECT_TIMEOUT_MS", ""},
                          {"VGPU_HOST_TIMEOUT_MS", ""},
                          {"VGPU_COPY_THREADS", ""},
                          {"VGPU_DEBUG", ""},
                          {"VGPU_TRACE_EXPORTS", ""},
                          {"CUDA_MODULE_LOADING", ""},
                          {"CUDA_VISIBLE_DEVICES", ""}});
  EXPECT_TRUE(p.complaints.empty()) << p.complaints.front();
  EXPECT_EQ(p.config.region, "");
  EXPECT_EQ(p.config.sysfs_pci, "/sys/bus/pci/devices");
  EXPECT_EQ(p.config.connect_timeout_ms, 30000u);
  EXPECT_EQ(p.config.copy_threads, 4u);
  EXPECT_FALSE(p.config.debug);
  EXPECT_EQ(p.config.module_loading, ModuleLoading::kLazy);
  EXPECT_EQ(p.config.visible_devices, std::optional<std::string>(""));
}

// A value the message quotes is printable and bounded whatever its bytes.
TEST(GuestConfig, MessagesQuoteOddValuesReadably) {
  const Parsed p = parse({{"VGPU_COPY_THREADS", "4\n\x01\"" + std::string(200, 'x')}});
  ASSERT_EQ(p.complaints.size(), 1u);
  const std::string& line = p.complaints[0];
  EXPECT_TRUE(mentions(line, "\"4\\x0a\\x01\\x22xxx")) << line;
  EXPECT_TRUE(mentions(line, "...\"")) << line;
  EXPECT_LT(line.size(), 200u) << line;
  for (char c : line) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << line;
}

// The process' own configuration is parsed once: later changes to the
// environment do not reach it (every library of the process sees one).
TEST(GuestConfig, TheProcessConfigIsParsedOnce) {
  const GuestConfig& first = guest_config();
  setenv("VGPU_COPY_THREADS", first.copy_threads == 2 ? "3" : "2", 1);
  EXPECT_EQ(&guest_config(), &first);
  EXPECT_EQ(guest_config().copy_threads, first.copy_threads);
  unsetenv("VGPU_COPY_THREADS");
}

}  // namespace
}  // namespace vgpu::guest
