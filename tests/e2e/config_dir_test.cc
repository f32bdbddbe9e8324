// vgpu-hostd --config-dir: one region per DIR/*.conf, started, restarted and
// stopped as files appear, change and go, alongside the daemon's own
// --region, with the real daemon (CPU backend) and real guest processes
// (e2e_guest). This process never makes a CUDA call itself. Also the .conf
// parser itself (src/host/region_conf.h).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "daemon_fixture.h"
#include "region_conf.h"

namespace {

using vgpu::HostState;
using vgpu::e2e::Daemon;
using vgpu::e2e::DaemonConfig;
using vgpu::e2e::FileView;
using vgpu::e2e::GuestProcess;
using vgpu::e2e::StatsView;
using vgpu::e2e::wait_until;

constexpr int kDeviceUnavailable = 46;  // CUDA_ERROR_DEVICE_UNAVAILABLE
constexpr uint64_t kDeadlineMs = 20000;  // only stops a broken test from hanging
constexpr uint64_t kMiB = 1u << 20;

class ConfigDir : public ::testing::Test {
 protected:
  virtual std::vector<std::string> extra_args() const { return {}; }

  void SetUp() override {
    char tmpl[] = "/tmp/vgpu-confdir-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(tmpl));
    dir_ = tmpl;
    // What the command line gives is the default for what a .conf leaves out.
    DaemonConfig cfg;
    cfg.slots = 2;
    cfg.arena_mb = 32;
    cfg.extra_args = {"--config-dir", dir_};
    for (const auto& a : extra_args()) cfg.extra_args.push_back(a);
    daemon_ = std::make_unique<Daemon>(cfg);
    std::string err;
    ASSERT_TRUE(daemon_->start(&err)) << err;  // its own --region is ready
  }

  void TearDown() override {
    if (HasFailure() && daemon_) std::fprintf(stderr, "[vgpu-e2e] daemon log:\n%s\n", daemon_->log().c_str());
    daemon_.reset();
    for (const auto& f : confs_) unlink((dir_ + "/" + f).c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
    for (const auto& r : regions_) unlink(r.c_str()), unlink((r + ".stats").c_str());
  }

  // A region file for this test (removed at the end).
  std::string region(const std::string& name) {
    regions_.push_back("/dev/shm/vgpu-test-" + std::to_string(getpid()) + "-cfg-" + name);
    return regions_.back();
  }

  // Writes DIR/NAME whole (a dot file renamed over it), as a config tool should.
  void write_conf(const std::string& name, const std::string& text) {
    confs_.push_back(name);
    const std::string tmp = dir_ + "/." + name + ".tmp";
    {
      std::ofstream f(tmp);
      f << text;
    }
    ASSERT_EQ(0, rename(tmp.c_str(), (dir_ + "/" + name).c_str())) << std::strerror(errno);
  }
  void remove_conf(const std::string& name) { ASSERT_EQ(0, unlink((dir_ + "/" + name).c_str())); }

  // The region's session id if our daemon serves it (header ready), else 0.
  uint64_t session(const std::string& path) const {
    FileView v;
    if (!v.open(path, false) || v.bytes() < sizeof(vgpu::RegionHeader)) return 0;
    auto* h = static_cast<const vgpu::RegionHeader*>(v.base());
    if (h->magic != vgpu::kRegionMagic || h->host_pid != static_cast<uint32_t>(daemon_->pid()) ||
        h->host_state.load() != static_cast<uint32_t>(HostState::kReady))
      return 0;
    return h->session_id.load();
  }
  // Waits until our daemon serves `path` with a session other than `old`.
  bool wait_served(const std::string& path, uint64_t old = 0) {
    return wait_until([&] { return session(path) != 0 && session(path) != old; }, kDeadlineMs, 10);
  }
  bool is_stopped(const std::string& path) const {
    FileView v;
    if (!v.open(path, false) || v.bytes() < sizeof(vgpu::RegionHeader)) return false;
    return static_cast<const vgpu::RegionHeader*>(v.base())->host_state.load() ==
           static_cast<uint32_t>(HostState::kStopped);
  }
  uint32_t slot_count(const std::string& path) const {
    FileView v;
    return v.open(path, false) ? static_cast<const vgpu::RegionHeader*>(v.base())->slot_count : 0;
  }
  bool log_has(const std::string& s) {
    return wait_until([&] { return daemon_->log().find(s) != std::string::npos; }, kDeadlineMs, 10);
  }

  bool start(GuestProcess& g, const std::string& path, std::vector<std::string> args) {
    args.insert(args.begin(), E2E_GUEST_PATH);
    return g.start(args, path);
  }
  // `e2e_guest meminfo` on `path`: {cuDeviceTotalMem, cuMemGetInfo's total}, or {0, 0}.
  std::pair<uint64_t, uint64_t> meminfo(const std::string& path) {
    GuestProcess g;
    if (!start(g, path, {"meminfo"})) return {0, 0};
    unsigned long long total = 0, info_total = 0, info_free = 0;
    const std::string line = g.wait_line("MEM");
    EXPECT_EQ(0, g.exit_code()) << g.output();
    if (std::sscanf(line.c_str(), "MEM %llu %llu %llu", &total, &info_total, &info_free) != 3) return {0, 0};
    return {total, info_total};
  }
  // A short checked copy workload on `path`.
  void expect_works(const std::string& path, const std::string& seed) {
    GuestProcess g;
    ASSERT_TRUE(start(g, path, {"work", "5", seed}));
    EXPECT_FALSE(g.wait_line("DONE ok").empty()) << path << ": " << g.output();
    EXPECT_EQ(0, g.exit_code());
  }

  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
  std::vector<std::string> confs_, regions_;
};

TEST_F(ConfigDir, EachFileIsARegionWithItsOwnSettingsBesideTheCommandLineOne) {
  const std::string a = region("a"), b = region("b");
  write_conf("a.conf", "# VM a\nregion = " + a + "\nmem_quota_mb = 96\n");
  write_conf("b.conf", "region=" + b + "   # VM b\n  mem_quota_mb = 160  \nslots = 3\nmode = 0640\n\n");
  ASSERT_TRUE(wait_served(a)) << a;
  ASSERT_TRUE(wait_served(b)) << b;
  EXPECT_EQ(2u, slot_count(a)) << "a .conf without slots takes the command line's --slots";
  EXPECT_EQ(3u, slot_count(b));
  struct stat st{};
  ASSERT_EQ(0, stat(b.c_str(), &st));
  EXPECT_EQ(0640u, st.st_mode & 07777);
  StatsView stats;
  std::string err;
  EXPECT_TRUE(stats.open(b + ".stats", &err)) << err;
  EXPECT_EQ(3u, stats.slot_count());

  // Each guest sees its region's quota as its whole device.
  EXPECT_EQ(std::make_pair(96 * kMiB, 96 * kMiB), meminfo(a));
  EXPECT_EQ(std::make_pair(160 * kMiB, 160 * kMiB), meminfo(b));

  // Guests on all three regions at once, each correct.
  GuestProcess ga, gb, gc;
  ASSERT_TRUE(start(ga, a, {"work", "40", "11", "8"}));
  ASSERT_TRUE(start(gb, b, {"work", "40", "22", "8"}));
  ASSERT_TRUE(start(gc, daemon_->region_path(), {"work", "40", "33", "8"}));
  for (GuestProcess* g : {&ga, &gb, &gc}) {
    EXPECT_FALSE(g->wait_line("DONE ok").empty()) << g->output();
    EXPECT_EQ(0, g->exit_code());
  }
  EXPECT_NE(std::string::npos, daemon_->log().find("from a.conf")) << daemon_->log();
}

TEST_F(ConfigDir, RemovedFileStopsItsRegionAndItsGuestsGetAnErrorNotAHang) {
  const std::string a = region("a"), b = region("b");
  write_conf("a.conf", "region = " + a + "\n");
  write_conf("b.conf", "region = " + b + "\n");
  ASSERT_TRUE(wait_served(a));
  ASSERT_TRUE(wait_served(b));
  const uint64_t old_session = session(a);
  GuestProcess waiter, other;
  ASSERT_TRUE(start(waiter, a, {"waiter"}));
  ASSERT_FALSE(waiter.wait_line("READY").empty()) << waiter.output();
  ASSERT_TRUE(start(other, b, {"work", "0", "44"}));  // copies until told to stop
  ASSERT_FALSE(other.wait_line("READY").empty()) << other.output();
  StatsView stats;
  std::string err;
  ASSERT_TRUE(stats.open(a + ".stats", &err)) << err;
  int slot = -1;
  ASSERT_TRUE(wait_until([&] { return (slot = stats.slot_of_guest(waiter.pid())) >= 0; }, kDeadlineMs));

  remove_conf("a.conf");
  ASSERT_TRUE(wait_until([&] { return is_stopped(a); }, kDeadlineMs)) << "region not marked stopped";
  EXPECT_TRUE(log_has("stopped " + a)) << "its worker was not reaped";
  EXPECT_EQ(0u, stats.slot(slot).active.load());
  EXPECT_NE(std::string::npos, daemon_->log().find("stopping " + a + " (its config file was removed)"));
  EXPECT_EQ(0, access(a.c_str(), F_OK)) << "the region file is left for the VM that maps it";
  EXPECT_NE(0, access((a + ".stats").c_str(), F_OK)) << "its stats file is gone (vgpu-smi lists it no more)";

  ASSERT_TRUE(waiter.send_line("call"));
  const std::string r = waiter.wait_line("RESULT", 30000);
  ASSERT_FALSE(r.empty()) << "the guest's call hung after its region stopped";
  EXPECT_EQ(kDeviceUnavailable, std::atoi(r.c_str() + 7)) << r;

  // The other region never noticed.
  ASSERT_TRUE(other.send_line("stop"));
  EXPECT_FALSE(other.wait_line("DONE ok").empty()) << other.output();
  EXPECT_EQ(0, other.exit_code());

  // The file comes back: the same region file is served again, new guests work.
  write_conf("a.conf", "region = " + a + "\n");
  ASSERT_TRUE(wait_served(a, old_session));
  expect_works(a, "45");
  waiter.send_line("exit");
  EXPECT_EQ(0, waiter.exit_code());
}

TEST_F(ConfigDir, MalformedFilesAreSkippedAndTheOthersServed) {
  const std::string good = region("good"), c = region("c"), d = region("d");
  write_conf("bad-key.conf", "region = " + c + "\ncolour = blue\n");
  write_conf("no-region.conf", "slots = 2\n");
  write_conf("bad-number.conf", "region = " + d + "\nslots = four\n");
  write_conf("bad-layout.conf", "region = " + d + "\nslots = 1000\n");
  write_conf("relative.conf", "region = vgpu-relative\n");
  write_conf("twice.conf", "region = " + d + "\nregion = " + d + "\n");
  write_conf("good.conf", "region = " + good + "\n");
  ASSERT_TRUE(wait_served(good));
  // One scan parses every file before it starts any region: the lines are there.
  const std::string log = daemon_->log();
  for (const char* want :
       {"bad-key.conf: line 2: unknown key 'colour'; file skipped", "no-region.conf: no region = PATH",
        "bad-number.conf: line 2: bad value for slots: 'four'", "bad-layout.conf: bad region layout",
        "relative.conf: line 1: region must be an absolute path", "twice.conf: line 2: region given twice"})
    EXPECT_NE(std::string::npos, log.find(want)) << want << "\n" << log;
  EXPECT_NE(0, access(c.c_str(), F_OK)) << "a malformed file's region was created";
  EXPECT_NE(0, access(d.c_str(), F_OK)) << "a malformed file's region was created";
  EXPECT_FALSE(daemon_->exited()) << "the daemon died";
  expect_works(good, "51");
  expect_works(daemon_->region_path(), "52");

  // A served file edited into a malformed one: logged, the region keeps its old settings and session.
  const uint64_t s = session(good);
  write_conf("good.conf", "region = " + good + "\nmem_quota_mb = lots\n");
  EXPECT_TRUE(log_has("good.conf: line 2: bad value for mem_quota_mb"));
  EXPECT_EQ(s, session(good));
  // Fixed files are picked up.
  write_conf("bad-key.conf", "region = " + c + "\n");
  EXPECT_TRUE(wait_served(c));
  expect_works(c, "53");
}

TEST_F(ConfigDir, ChangedFileRestartsItsRegionWithTheNewSettings) {
  const std::string a = region("a"), z = region("z");
  write_conf("a.conf", "region = " + a + "\nmem_quota_mb = 64\n");
  ASSERT_TRUE(wait_served(a));
  EXPECT_EQ(64 * kMiB, meminfo(a).first);
  const uint64_t s1 = session(a);

  // Only a comment changes: no restart. z.conf's region appearing shows a scan
  // read both files (one scan stops changed regions before it starts new ones).
  write_conf("a.conf", "# quota for VM a\nregion = " + a + "\nmem_quota_mb = 64\n");
  write_conf("z.conf", "region = " + z + "\n");
  ASSERT_TRUE(wait_served(z));
  EXPECT_EQ(s1, session(a)) << "a comment restarted the region";

  GuestProcess waiter;
  ASSERT_TRUE(start(waiter, a, {"waiter"}));
  ASSERT_FALSE(waiter.wait_line("READY").empty()) << waiter.output();
  write_conf("a.conf", "region = " + a + "\nmem_quota_mb = 128\n");
  ASSERT_TRUE(wait_served(a, s1)) << "not restarted";
  EXPECT_NE(std::string::npos, daemon_->log().find("stopping " + a + " (its config file changed)"));
  EXPECT_EQ(128 * kMiB, meminfo(a).first);
  ASSERT_TRUE(waiter.send_line("call"));
  const std::string r = waiter.wait_line("RESULT", 30000);
  ASSERT_FALSE(r.empty()) << "the old session's call hung";
  EXPECT_EQ(kDeviceUnavailable, std::atoi(r.c_str() + 7)) << r;
  waiter.send_line("exit");
  EXPECT_EQ(0, waiter.exit_code());
}

// No periodic rescan: only SIGHUP can pick the file up.
class ConfigDirHup : public ConfigDir {
 protected:
  std::vector<std::string> extra_args() const override { return {"--rescan-ms", "0"}; }
};

TEST_F(ConfigDirHup, SighupRescans) {
  const std::string a = region("a");
  write_conf("a.conf", "region = " + a + "\n");
  ASSERT_EQ(0, kill(daemon_->pid(), SIGHUP));
  ASSERT_TRUE(wait_served(a));
  EXPECT_FALSE(daemon_->exited()) << "SIGHUP killed the daemon";
  expect_works(a, "61");
  remove_conf("a.conf");
  ASSERT_EQ(0, kill(daemon_->pid(), SIGHUP));
  EXPECT_TRUE(wait_until([&] { return is_stopped(a); }, kDeadlineMs));
  expect_works(daemon_->region_path(), "62");
}

// ---- the .conf parser -------------------------------------------------------------

using vgpu::host::BackendChoice;
using vgpu::host::parse_region_conf;
using vgpu::host::RegionOptions;

TEST(RegionConf, EveryKey) {
  RegionOptions def, o;
  def.config.slot_count = 7;
  def.worker.trace = true;
  std::string err;
  ASSERT_TRUE(parse_region_conf("region = /dev/shm/vgpu-x\nslots = 3\nchannels=4\narena_mb = 16\nring_kb = 256\n"
                                "mem_quota_mb = 512\nbackend = cpu\nowner = root:root\nmode = 0660\n"
                                "guest_timeout_ms = 900\nisolation = strict\nsm_percent = 25\n",
                                def, &o, &err))
      << err;
  EXPECT_EQ("/dev/shm/vgpu-x", o.path);
  EXPECT_EQ(3u, o.config.slot_count);
  EXPECT_EQ(4u, o.config.channels_per_slot);
  EXPECT_EQ(16 * kMiB, o.config.arena_bytes);
  EXPECT_EQ(256u << 10, o.config.cmd_ring_bytes);
  EXPECT_EQ(512 * kMiB, o.worker.mem_quota);
  EXPECT_EQ(BackendChoice::kCpu, o.worker.backend);
  EXPECT_EQ(0, o.uid);
  EXPECT_EQ(0, o.gid);
  EXPECT_EQ(0660u, o.mode);
  EXPECT_EQ(900u, o.worker.guest_timeout_ms);
  EXPECT_TRUE(o.worker.strict_isolation);
  EXPECT_EQ(25u, o.worker.sm_percent);
  EXPECT_TRUE(o.worker.trace) << "what a file cannot say comes from the defaults";
  ASSERT_TRUE(parse_region_conf("region = /r\n", def, &o, &err)) << err;
  EXPECT_EQ(7u, o.config.slot_count);
}

TEST(RegionConf, Errors) {
  const RegionOptions def;
  RegionOptions o;
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"", "no region = PATH"},
      {"region = /r\nslot = 2\n", "line 2: unknown key 'slot'"},
      {"region /r\n", "line 1: expected key = value"},
      {"region = /r\nslots = -1\n", "bad value for slots"},
      {"region = /r\nslots = 2x\n", "bad value for slots"},
      {"region = /r\narena_mb = 99999999999999999999\n", "bad value for arena_mb"},
      {"region = /r\nring_kb = 3\n", "bad region layout"},
      {"region = /r\nbackend = gpu\n", "bad value for backend"},
      {"region = /r\nmode = 0869\n", "bad value for mode"},
      {"region = /r\nowner = no-such-user-vgpu\n", "no user no-such-user-vgpu"},
      {"region = /r\nowner = root:no-such-group-vgpu\n", "no group no-such-group-vgpu"},
      {"region = /r\nguest_timeout_ms = 0\n", "bad value for guest_timeout_ms"},
      {"region = /r\nisolation = none\n", "bad value for isolation"},
      {"region = /r\nsm_percent = 0\n", "bad value for sm_percent"},
      {"region = /r\nsm_percent = 101\n", "bad value for sm_percent"},
  };
  for (const auto& c : cases) {
    std::string err;
    EXPECT_FALSE(parse_region_conf(c.text, def, &o, &err)) << c.text;
    EXPECT_NE(std::string::npos, err.find(c.error)) << c.text << " -> " << err;
  }
}

}  // namespace
