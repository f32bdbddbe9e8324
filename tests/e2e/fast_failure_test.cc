// Fast failure: when vgpu-hostd dies (SIGKILL: no goodbye, host_state still
// says kReady), a guest blocked in a call, or entering one, gets an error
// within 1 s; a guest that starts against the dead daemon's region fails
// within 2 s with a message naming the region. Guests judge the host by its
// heartbeat (src/guest/client/host_watch.h), which a live host stores every
// ~100 ms.
//
// The bounds are what is tested, so they are measured where they are met:
// the guest stamps the moment its call returned with the steady clock
// (CLOCK_MONOTONIC, one clock for the processes of this machine), not when
// this test got round to reading its output.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "daemon_fixture.h"

namespace {

using vgpu::e2e::DaemonTest;
using vgpu::e2e::GuestProcess;
using vgpu::e2e::StatsView;

constexpr int kDeviceUnavailable = 46;  // CUDA_ERROR_DEVICE_UNAVAILABLE

int64_t steady_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

class FastFailure : public DaemonTest {
 protected:
  bool start(GuestProcess& g, std::vector<std::string> args) {
    args.insert(args.begin(), E2E_GUEST_PATH);
    return g.start(args, daemon_->region_path());
  }
  void kill_daemon() {
    ASSERT_EQ(0, kill(daemon_->pid(), SIGKILL));
    ASSERT_TRUE(vgpu::e2e::wait_until([&] { return daemon_->exited(); }, 10000));
  }
};

TEST_F(FastFailure, GuestsInACallGetAnErrorWithinASecondOfTheDaemonsDeath) {
  StatsView stats;
  std::string err;
  ASSERT_TRUE(stats.open(daemon_->stats_path(), &err)) << err;
  GuestProcess blocked, entering;
  ASSERT_TRUE(start(blocked, {"spin"}));
  ASSERT_TRUE(start(entering, {"spin"}));
  ASSERT_FALSE(blocked.wait_line("READY").empty()) << blocked.output();
  ASSERT_FALSE(entering.wait_line("READY").empty()) << entering.output();
  int slot = -1;
  ASSERT_TRUE(vgpu::e2e::wait_until([&] { return (slot = stats.slot_of_guest(blocked.pid())) >= 0; }, 10000));
  // Stopping its worker leaves `blocked` waiting inside a call for an answer
  // that never comes, and keeps it so once the daemon is dead (a stopped
  // process does not act on the SIGTERM the daemon's death sends its workers).
  const pid_t worker = static_cast<pid_t>(stats.slot(static_cast<uint32_t>(slot)).worker_pid.load());
  ASSERT_GT(worker, 0);
  ASSERT_EQ(0, kill(worker, SIGSTOP));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int64_t died = steady_us();
  kill_daemon();

  for (GuestProcess* g : {&blocked, &entering}) {
    const std::string r = g->wait_line("FAILED", 20000);
    ASSERT_FALSE(r.empty()) << "a guest hung after the daemon died: " << g->output();
    int code = 0;
    long long at = 0;
    ASSERT_EQ(2, std::sscanf(r.c_str(), "FAILED %d %lld", &code, &at)) << r;
    EXPECT_EQ(kDeviceUnavailable, code) << r;
    const int64_t ms = (at - died) / 1000;
    std::printf("[ info ] %s guest's call failed %lld ms after the daemon was killed\n",
                g == &blocked ? "blocked" : "entering", static_cast<long long>(ms));
    EXPECT_LT(ms, 1000) << "the error came later than 1 s after the daemon's death";
    EXPECT_EQ(0, g->exit_code());
  }
  kill(worker, SIGKILL);  // the worker this test stopped
}

TEST_F(FastFailure, GuestStartingAgainstADeadDaemonFailsWithinTwoSecondsNamingTheRegion) {
  kill_daemon();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // its heartbeat is old now
  const std::string cmd = "VGPU_REGION=" + daemon_->region_path() + " " + E2E_GUEST_PATH + " visible 2>&1";
  const int64_t t0 = steady_us();
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  const int64_t ms = (steady_us() - t0) / 1000;
  std::printf("[ info ] a guest started against the dead daemon gave up after %lld ms\n", static_cast<long long>(ms));
  EXPECT_EQ(0, status) << out;
  EXPECT_NE(out.find("RESULT 100"), std::string::npos) << out;  // cuInit: CUDA_ERROR_NO_DEVICE
  EXPECT_NE(out.find(daemon_->region_path()), std::string::npos) << "the message does not name the region:\n" << out;
  EXPECT_LT(ms, 2000) << out;
}

}  // namespace

// A daemon stopped in order (SIGTERM) ends each live session in order: its
// worker releases what the guest held (and prints its profile), tells the
// guest, and the guest's next call fails.
TEST_F(FastFailure, AStoppedDaemonEndsEachLiveSessionInOrder) {
  GuestProcess g;
  ASSERT_TRUE(start(g, {"waiter"}));
  ASSERT_FALSE(g.wait_line("READY").empty()) << g.output();
  daemon_->stop();
  const std::string log = daemon_->log();
  EXPECT_NE(log.find("ending session: the daemon is stopping"), std::string::npos) << log;
  EXPECT_NE(log.find("the session ended holding"), std::string::npos) << log;  // its allocation, released
  g.send_line("call");
  const std::string r = g.wait_line("RESULT", 20000);
  ASSERT_FALSE(r.empty()) << g.output();
  EXPECT_NE(r.rfind("RESULT 0 ", 0), 0u) << r;  // an error, not a success
}
