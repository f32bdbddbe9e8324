// vgpu-hostd's configuration parser (src/host/host_config.h): good values
// land where the daemon reads them, garbage, out-of-range and empty values
// are refused with a message naming the flag or variable and the accepted
// form, and a flag wins over its variable.
#include "host_config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "config_values.h"

namespace {

using vgpu::host::HostConfig;

constexpr uint64_t kMiB = uint64_t(1) << 20;

struct Parsed {
  bool ok = false;
  HostConfig cfg;
  std::string err;
};

Parsed parse(std::vector<const char*> args, std::map<std::string, std::string> env = {}) {
  Parsed p;
  const vgpu::host::EnvLookup lookup = [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  p.ok = vgpu::host::parse_host_config(args, lookup, &p.cfg, &p.err);
  return p;
}

// Refused, with a message that contains each of `parts`.
void expect_refused(const Parsed& p, std::vector<std::string> parts) {
  ASSERT_FALSE(p.ok);
  for (const auto& s : parts) EXPECT_NE(p.err.find(s), std::string::npos) << "'" << s << "' not in: " << p.err;
}

TEST(HostConfig, DefaultsWithNothingGiven) {
  const Parsed p = parse({});
  ASSERT_TRUE(p.ok) << p.err;
  const auto& d = p.cfg.daemon;
  ASSERT_EQ(d.regions.size(), 1u);
  EXPECT_EQ(d.regions[0], "/dev/shm/vgpu-0");
  const vgpu::host::WorkerOptions w;
  EXPECT_EQ(d.defaults.worker.limits.module_bytes, w.limits.module_bytes);
  EXPECT_EQ(d.defaults.worker.limits.reserved_bytes, w.limits.reserved_bytes);
  EXPECT_EQ(d.defaults.worker.limits.handles, w.limits.handles);
  EXPECT_EQ(d.defaults.worker.cpu_memory_bytes, 0u);
  EXPECT_FALSE(d.defaults.worker.trace);
  EXPECT_EQ(d.mps.tmp_dir, "/tmp");
  EXPECT_FALSE(p.cfg.help);
}

TEST(HostConfig, GoodFlagsLandInTheOptions) {
  const Parsed p = parse({"--region", "/dev/shm/a", "--name", "b", "--slots", "2", "--channels", "3", "--arena-mb",
                          "16", "--ring-kb", "64", "--mem-quota-mb", "512", "--guest-timeout-ms", "250", "--backend",
                          "cpu", "--device", "1", "--isolation", "strict", "--sm-percent", "50", "--mps", "off",
                          "--region-mode", "0660", "--rescan-ms", "0", "--max-module-mb", "8", "--max-reserve-mb", "64",
                          "--max-handles", "100", "--cpu-mem-mb", "32", "--trace", "--profile", "--config-dir",
                          "/etc/vgpu//"});
  ASSERT_TRUE(p.ok) << p.err;
  const auto& d = p.cfg.daemon;
  const auto& w = d.defaults.worker;
  EXPECT_EQ(d.regions, (std::vector<std::string>{"/dev/shm/a", "/dev/shm/vgpu-b"}));
  EXPECT_EQ(d.defaults.config.slot_count, 2u);
  EXPECT_EQ(d.defaults.config.channels_per_slot, 3u);
  EXPECT_EQ(d.defaults.config.arena_bytes, 16 * kMiB);
  EXPECT_EQ(d.defaults.config.cmd_ring_bytes, 64u << 10);
  EXPECT_EQ(w.mem_quota, 512 * kMiB);
  EXPECT_EQ(w.guest_timeout_ms, 250u);
  EXPECT_EQ(w.backend, vgpu::host::BackendChoice::kCpu);
  EXPECT_EQ(w.device, 1);
  EXPECT_TRUE(w.strict_isolation);
  EXPECT_EQ(w.sm_percent, 50u);
  EXPECT_EQ(d.mps.mode, vgpu::host::MpsMode::kOff);
  EXPECT_EQ(d.defaults.mode, 0660u);
  EXPECT_EQ(d.rescan_ms, 0u);
  EXPECT_EQ(w.limits.module_bytes, 8 * kMiB);
  EXPECT_EQ(w.limits.reserved_bytes, 64 * kMiB);
  EXPECT_EQ(w.limits.handles, 100u);
  EXPECT_EQ(w.cpu_memory_bytes, 32 * kMiB);
  EXPECT_TRUE(w.trace);
  EXPECT_TRUE(w.profile);
  EXPECT_EQ(d.config_dir, "/etc/vgpu");  // trailing slashes go
}

TEST(HostConfig, GoodEnvironmentLandsInTheOptions) {
  const Parsed p = parse({}, {{"VGPU_MAX_MODULE_MB", "1"},
                              {"VGPU_MAX_RESERVE_MB", "64"},
                              {"VGPU_MAX_HANDLES", "64"},
                              {"VGPU_CPU_MEM_MB", "4"},
                              {"VGPU_TRACE", "yes"},
                              {"VGPU_PROFILE", "0"},
                              {"CUDA_MPS_PIPE_DIRECTORY", "/var/mps"},
                              {"TMPDIR", "/scratch"},
                              {"PATH", "/opt/nvidia/bin:/usr/bin"}});
  ASSERT_TRUE(p.ok) << p.err;
  const auto& w = p.cfg.daemon.defaults.worker;
  EXPECT_EQ(w.limits.module_bytes, 1 * kMiB);
  EXPECT_EQ(w.limits.reserved_bytes, 64 * kMiB);
  EXPECT_EQ(w.limits.handles, 64u);
  EXPECT_EQ(w.cpu_memory_bytes, 4 * kMiB);
  EXPECT_TRUE(w.trace);
  EXPECT_FALSE(w.profile);
  EXPECT_EQ(p.cfg.daemon.mps.operator_pipe_dir, "/var/mps");
  EXPECT_EQ(p.cfg.daemon.mps.tmp_dir, "/scratch");
  EXPECT_EQ(p.cfg.daemon.mps.search_path, "/opt/nvidia/bin:/usr/bin");
}

TEST(HostConfig, FlagOverridesEnvironment) {
  const Parsed p = parse({"--max-handles", "7", "--cpu-mem-mb", "9", "--trace"},
                         {{"VGPU_MAX_HANDLES", "64"}, {"VGPU_CPU_MEM_MB", "4"}, {"VGPU_TRACE", "0"},
                          {"VGPU_MAX_MODULE_MB", "3"}});
  ASSERT_TRUE(p.ok) << p.err;
  const auto& w = p.cfg.daemon.defaults.worker;
  EXPECT_EQ(w.limits.handles, 7u);
  EXPECT_EQ(w.cpu_memory_bytes, 9 * kMiB);
  EXPECT_TRUE(w.trace);
  EXPECT_EQ(w.limits.module_bytes, 3 * kMiB);  // no flag: the variable stands
}

TEST(HostConfig, LastFlagWins) {
  const Parsed p = parse({"--slots", "2", "--slots", "5"});
  ASSERT_TRUE(p.ok) << p.err;
  EXPECT_EQ(p.cfg.daemon.defaults.config.slot_count, 5u);
}

TEST(HostConfig, GarbageFlagsAreRefused) {
  expect_refused(parse({"--slots", "abc"}), {"--slots 'abc'", "a whole number from 1 to 64"});
  expect_refused(parse({"--slots", "4x"}), {"--slots '4x'"});  // strtoull took this as 4
  expect_refused(parse({"--slots", "-1"}), {"--slots '-1'"});
  expect_refused(parse({"--slots", " 4"}), {"--slots ' 4'"});
  expect_refused(parse({"--arena-mb", "0x10"}), {"--arena-mb '0x10'", "(MiB)"});
  expect_refused(parse({"--backend", "gpu"}), {"--backend 'gpu'", "auto, cuda or cpu"});
  expect_refused(parse({"--mps", "maybe"}), {"--mps 'maybe'", "auto, on or off"});
  expect_refused(parse({"--isolation", "full"}), {"--isolation 'full'", "shared or strict"});
  expect_refused(parse({"--region-mode", "0800"}), {"--region-mode '0800'", "octal"});
  expect_refused(parse({"--region-mode", "rw"}), {"--region-mode 'rw'", "octal"});
  expect_refused(parse({"--ring-kb", "1000"}), {"--ring-kb '1000'", "a power of two from 4 to 262144"});
  expect_refused(parse({"--name", "a/b"}), {"--name 'a/b'", "without '/'"});
  expect_refused(parse({"--region", "/dev/shm/a\nb"}), {"--region", "control characters"});
  expect_refused(parse({"--region-owner", "no-such-user-vgpu"}), {"--region-owner", "no user no-such-user-vgpu"});
  expect_refused(parse({"--frobnicate"}), {"unknown option '--frobnicate'"});
  expect_refused(parse({"--trace=1"}), {"unknown option '--trace=1'"});
}

TEST(HostConfig, GarbageEnvironmentIsRefused) {
  expect_refused(parse({}, {{"VGPU_MAX_HANDLES", "lots"}}),
                 {"VGPU_MAX_HANDLES='lots'", "a whole number from 1 to 68719476736"});
  expect_refused(parse({}, {{"VGPU_MAX_MODULE_MB", "1.5"}}), {"VGPU_MAX_MODULE_MB='1.5'", "(MiB)"});
  expect_refused(parse({}, {{"VGPU_CPU_MEM_MB", "4G"}}), {"VGPU_CPU_MEM_MB='4G'"});
  expect_refused(parse({}, {{"VGPU_TRACE", "verbose"}}), {"VGPU_TRACE='verbose'", "1, true, yes or on"});
  expect_refused(parse({}, {{"TMPDIR", "tmp"}}), {"TMPDIR='tmp'", "an absolute path"});
  expect_refused(parse({}, {{"CUDA_MPS_PIPE_DIRECTORY", "mps"}}), {"CUDA_MPS_PIPE_DIRECTORY='mps'", "absolute"});
  // Refused even where a flag would override it: the operator wrote it for something.
  expect_refused(parse({"--max-handles", "5"}, {{"VGPU_MAX_HANDLES", "lots"}}), {"VGPU_MAX_HANDLES='lots'"});
}

TEST(HostConfig, OutOfRangeIsRefused) {
  expect_refused(parse({"--slots", "0"}), {"--slots '0'", "from 1 to 64"});
  expect_refused(parse({"--slots", "65"}), {"--slots '65'", "from 1 to 64"});
  expect_refused(parse({"--sm-percent", "101"}), {"--sm-percent '101'", "from 1 to 100"});
  expect_refused(parse({"--guest-timeout-ms", "0"}), {"--guest-timeout-ms '0'"});
  expect_refused(parse({"--rescan-ms", "4294967296"}), {"--rescan-ms '4294967296'", "to 4294967295"});
  // Past 64 bits: refused as too large, never wrapped.
  expect_refused(parse({"--mem-quota-mb", "99999999999999999999999"}), {"--mem-quota-mb", "too large"});
  // Would overflow when scaled to bytes.
  expect_refused(parse({"--mem-quota-mb", "17592186044416"}), {"--mem-quota-mb", "to 17592186044415"});
  expect_refused(parse({}, {{"VGPU_MAX_HANDLES", "0"}}), {"VGPU_MAX_HANDLES='0'", "from 1"});
  expect_refused(parse({}, {{"VGPU_MAX_HANDLES", "68719476737"}}), {"VGPU_MAX_HANDLES"});
  expect_refused(parse({}, {{"VGPU_CPU_MEM_MB", "16777216"}}), {"VGPU_CPU_MEM_MB", "to 16777215"});
}

TEST(HostConfig, EmptyValues) {
  // An empty variable is unset: the default stands.
  const Parsed p = parse({}, {{"VGPU_MAX_HANDLES", ""}, {"VGPU_TRACE", ""}, {"TMPDIR", ""}});
  ASSERT_TRUE(p.ok) << p.err;
  EXPECT_EQ(p.cfg.daemon.defaults.worker.limits.handles, vgpu::host::SessionLimits{}.handles);
  EXPECT_FALSE(p.cfg.daemon.defaults.worker.trace);
  EXPECT_EQ(p.cfg.daemon.mps.tmp_dir, "/tmp");
  // An empty flag value, or none at all, is an error naming the form.
  expect_refused(parse({"--slots", ""}), {"--slots ''", "a whole number from 1 to 64"});
  expect_refused(parse({"--region", ""}), {"--region ''", "a path"});
  expect_refused(parse({"--backend", ""}), {"--backend ''", "auto, cuda or cpu"});
  expect_refused(parse({"--slots"}), {"--slots needs a value", "a whole number from 1 to 64"});
}

TEST(HostConfig, LargestLayoutIsAccepted) {
  // Each layout flag's range is the region's own (compute_layout): its ends are served.
  const Parsed p = parse({"--slots", "64", "--channels", "64", "--arena-mb", "65536", "--ring-kb", "262144"});
  ASSERT_TRUE(p.ok) << p.err;
}

TEST(HostConfig, HelpListsEverySetting) {
  const Parsed p = parse({"--help"});
  ASSERT_TRUE(p.ok) << p.err;
  EXPECT_TRUE(p.cfg.help);
  const std::string u = vgpu::host::host_config_usage();
  for (const char* s : {"--region PATH", "--slots N", "--max-handles N", "VGPU_MAX_HANDLES", "--cpu-mem-mb N",
                        "VGPU_CPU_MEM_MB", "--trace", "VGPU_TRACE", "CUDA_MPS_PIPE_DIRECTORY", "TMPDIR"})
    EXPECT_NE(u.find(s), std::string::npos) << s;
}

TEST(ConfigValues, WholeNumbers) {
  uint64_t v = 0;
  std::string why;
  EXPECT_TRUE(vgpu::host::parse_whole_number("18446744073709551615", 0, UINT64_MAX, &v, &why));
  EXPECT_EQ(v, UINT64_MAX);
  EXPECT_FALSE(vgpu::host::parse_whole_number("18446744073709551616", 0, UINT64_MAX, &v, &why));
  EXPECT_TRUE(vgpu::host::parse_whole_number("007", 0, 10, &v, &why));
  EXPECT_EQ(v, 7u);
  EXPECT_FALSE(vgpu::host::parse_whole_number("+7", 0, 10, &v, &why));
}

}  // namespace
