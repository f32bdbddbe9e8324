// End-to-end test support: a real vgpu-hostd for the tests of this process.
//
// What it gives:
//   vgpu::e2e::Daemon          starts `vgpu-hostd --region /dev/shm/vgpu-test-<pid>-<n>
//                              --backend cpu --arena-mb 64 --slots 4 --guest-timeout-ms 1500`,
//                              waits until the region header says HostState::kReady,
//                              stops it (SIGTERM, wait; SIGKILL after 10 s) and removes the
//                              region, its .stats file and the daemon's log at the end.
//                              Also: restart(), views of the region and of the stats file.
//   vgpu::e2e::DaemonEnvironment  one daemon for the whole test binary, VGPU_REGION exported
//                              before any test runs. Use it when the test process itself is
//                              a guest (links our libcuda.so.1 / libcudart ...): the guest
//                              library attaches once per process and keeps its session, so
//                              the daemon must outlive every test. Register it with
//                                VGPU_E2E_GLOBAL_DAEMON();      // at namespace scope, once
//                              and reach it with vgpu::e2e::DaemonEnvironment::daemon().
//   vgpu::e2e::DaemonTest      a fixture with a daemon of its own per test (daemon_), for
//                              tests whose guests are other processes (GuestProcess below):
//                              a test process that never makes a CUDA call itself.
//   vgpu::e2e::GuestProcess    runs a helper program (a guest) with VGPU_REGION set, reads
//                              its stdout line by line (wait_line), kills or waits for it.
//   vgpu::e2e::wait_until      polls a condition with a deadline (deadlines only stop a
//                              broken test from hanging; tests assert outcomes, never speed).
//
// The path of vgpu-hostd comes from the compile definition VGPU_HOSTD_PATH (CMake:
// target_compile_definitions(t PRIVATE VGPU_HOSTD_PATH="$<TARGET_FILE:vgpu-hostd>")), or
// at run time from $VGPU_HOSTD. Header-only; needs include/ (vgpu/region.h, vgpu/stats.h)
// and GoogleTest. $VGPU_E2E_KEEP_LOGS=1 keeps the daemon's log (its path is printed).
//
// The daemon dies with the thread that started it (PR_SET_PDEATHSIG), so a crashed test
// leaves no daemon behind; start it from the main thread (gtest does).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "vgpu/region.h"
#include "vgpu/region_view.h"
#include "hostd_path.h"
#include "vgpu/stats.h"

namespace vgpu::e2e {

inline uint64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Polls `pred` every `period_ms` until it holds or `timeout_ms` passes; returns its last value.
inline bool wait_until(const std::function<bool()>& pred, uint64_t timeout_ms, uint64_t period_ms = 5) {
  const uint64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    if (pred()) return true;
    if (now_ms() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(period_ms));
  }
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A read-only or read-write MAP_SHARED view of a whole file.
class FileView {
 public:
  FileView() = default;
  FileView(const FileView&) = delete;
  FileView& operator=(const FileView&) = delete;
  ~FileView() { reset(); }

  bool open(const std::string& path, bool writable, std::string* err = nullptr) {
    reset();
    int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
      if (err) *err = "open " + path + ": " + std::strerror(errno);
      return false;
    }
    struct stat st {};
    fstat(fd, &st);
    if (st.st_size <= 0) {
      ::close(fd);
      if (err) *err = path + " is empty";
      return false;
    }
    void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) {
      if (err) *err = "mmap " + path + ": " + std::strerror(errno);
      return false;
    }
    base_ = p;
    bytes_ = static_cast<uint64_t>(st.st_size);
    return true;
  }
  void reset() {
    if (base_) munmap(base_, bytes_);
    base_ = nullptr;
    bytes_ = 0;
  }
  void* base() const { return base_; }
  uint64_t bytes() const { return bytes_; }
  explicit operator bool() const { return base_ != nullptr; }

 private:
  void* base_ = nullptr;
  uint64_t bytes_ = 0;
};

struct DaemonConfig {
  std::string backend = "cpu";
  uint32_t slots = 4;
  uint32_t arena_mb = 64;
  uint32_t guest_timeout_ms = 1500;
  std::vector<std::string> extra_args;  // e.g. {"--trace"} or {"--mem-quota-mb", "128"}
};

class Daemon {
 public:
  explicit Daemon(DaemonConfig cfg = {}) : cfg_(std::move(cfg)) {
    static std::atomic<int> counter{0};
    region_ = "/dev/shm/vgpu-test-" + std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1));
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon() {
    stop();
    remove_files();
  }

  static std::string binary() {
    if (const char* p = std::getenv("VGPU_HOSTD"); p && *p) return p;
#ifdef VGPU_HOSTD_PATH
    return VGPU_HOSTD_PATH;
#else
    return "vgpu-hostd";
#endif
  }

  const std::string& region_path() const { return region_; }
  std::string stats_path() const { return region_ + ".stats"; }
  std::string log_path() const { return region_ + ".log"; }
  std::string log() const { return read_file(log_path()); }
  const DaemonConfig& config() const { return cfg_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Sets VGPU_REGION for this process and the guests it starts from now on.
  void export_env() const { setenv("VGPU_REGION", region_.c_str(), 1); }

  // Starts the daemon and waits (up to timeout_ms) until it serves the region.
  bool start(std::string* err = nullptr, uint64_t timeout_ms = 20000) {
    std::string dummy;
    if (!err) err = &dummy;
    if (pid_ > 0) return true;
    std::vector<std::string> args = {binary(),
                                     "--region",
                                     region_,
                                     "--backend",
                                     cfg_.backend,
                                     "--arena-mb",
                                     std::to_string(cfg_.arena_mb),
                                     "--slots",
                                     std::to_string(cfg_.slots),
                                     "--guest-timeout-ms",
                                     std::to_string(cfg_.guest_timeout_ms)};
    args.insert(args.end(), cfg_.extra_args.begin(), cfg_.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int logfd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      *err = std::string("fork: ") + std::strerror(errno);
      if (logfd >= 0) ::close(logfd);
      return false;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      if (logfd >= 0) {
        dup2(logfd, 1);
        dup2(logfd, 2);
      }
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, 0);
      // The daemon must never load our guest libraries.
      unsetenv("LD_PRELOAD");
      unsetenv("VGPU_REGION");
      vgpu::test::drop_guest_libs_from_ld_path(argv[0]);
      execv(argv[0], argv.data());
      std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
      _exit(127);
    }
    if (logfd >= 0) ::close(logfd);
    pid_ = pid;
    const bool ok = wait_until([&] { return ready() || exited(); }, timeout_ms, 2) && ready();
    if (!ok) {
      *err = "vgpu-hostd (" + binary() + ") did not become ready; its log:\n" + log();
      stop();
      return false;
    }
    return true;
  }

  // SIGTERM, then waits (SIGKILL after 10 s). Returns the wait status, or -1 if not running.
  int stop() {
    if (pid_ <= 0) return -1;
    int status = -1;
    if (!reaped_) {
      kill(pid_, SIGTERM);
      const uint64_t deadline = now_ms() + 10000;
      for (;;) {
        pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) break;
        if (now_ms() > deadline) {
          kill(pid_, SIGKILL);
          waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    } else {
      status = reaped_status_;
    }
    pid_ = -1;
    reaped_ = false;
    return status;
  }

  // Stops and starts again on the same region file (a new session id).
  bool restart(std::string* err = nullptr) {
    stop();
    return start(err);
  }

  void remove_files() {
    unlink(region_.c_str());
    unlink(stats_path().c_str());
    const char* keep = std::getenv("VGPU_E2E_KEEP_LOGS");
    if (keep && *keep && std::strcmp(keep, "0") != 0)
      std::fprintf(stderr, "[vgpu-e2e] daemon log kept: %s\n", log_path().c_str());
    else
      unlink(log_path().c_str());
  }

  // True once the child has exited (reaps it).
  bool exited() {
    if (pid_ <= 0) return true;
    if (reaped_) return true;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      reaped_status_ = status;
      return true;
    }
    return false;
  }

  // The region header says kReady and names this daemon.
  bool ready() const {
    FileView v;
    if (!v.open(region_, false) || v.bytes() < sizeof(RegionHeader)) return false;
    auto* h = static_cast<const RegionHeader*>(v.base());
    return h->magic == kRegionMagic &&
           h->host_state.load(std::memory_order_acquire) == static_cast<uint32_t>(HostState::kReady) &&
           h->host_pid == static_cast<uint32_t>(pid_);
  }

 private:
  DaemonConfig cfg_;
  std::string region_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int reaped_status_ = 0;
};

// The region as the host laid it out, mapped read-write (tests may play a
// hostile guest through it). Re-open after a daemon restart.
class RegionView {
 public:
  bool open(const std::string& path, std::string* err = nullptr) {
    if (!view_.open(path, true, err)) return false;
    const char* why = nullptr;
    layout_ = vgpu::RegionView::of_header(view_.base(), view_.bytes(), &why);
    if (!layout_ && err) *err = path + ": " + why;
    return layout_.has_value();
  }
  void* base() const { return view_.base(); }
  RegionHeader* header() const { return header_of(view_.base()); }
  // The parts of the region, as laid out when it was opened.
  const vgpu::RegionView& parts() const { return *layout_; }
  uint32_t slot_count() const { return layout_->slot_count(); }
  SlotCtl* slot(uint32_t s) const { return layout_->slot(s).ctl; }
  SlotState state(uint32_t s) const { return static_cast<SlotState>(slot(s)->state.load(std::memory_order_acquire)); }
  // The slot whose claim names guest `pid`, or -1.
  int slot_of_guest(pid_t pid) const {
    for (uint32_t s = 0; s < slot_count(); ++s)
      if (slot(s)->guest_pid == static_cast<uint32_t>(pid) && state(s) != SlotState::kFree) return static_cast<int>(s);
    return -1;
  }

 private:
  FileView view_;
  std::optional<vgpu::RegionView> layout_;
};

// The host's stats file (include/vgpu/stats.h), mapped read-only.
class StatsView {
 public:
  bool open(const std::string& path, std::string* err = nullptr) {
    if (!view_.open(path, false, err)) return false;
    if (view_.bytes() < sizeof(StatsHeader) || header()->magic != kStatsMagic || header()->version != kStatsVersion ||
        header()->op_count != kOpCount || view_.bytes() < stats_file_bytes(header()->slot_count)) {
      if (err) *err = path + ": not a stats file of this build";
      view_.reset();
      return false;
    }
    return true;
  }
  const StatsHeader* header() const { return static_cast<const StatsHeader*>(view_.base()); }
  const SlotStats& slot(uint32_t s) const { return *stats_slot(view_.base(), s); }
  uint32_t slot_count() const { return header()->slot_count; }
  // The active slot serving guest `pid`, or -1.
  int slot_of_guest(pid_t pid) const {
    for (uint32_t s = 0; s < slot_count(); ++s)
      if (slot(s).active.load() && slot(s).guest_pid.load() == static_cast<uint32_t>(pid)) return static_cast<int>(s);
    return -1;
  }

 private:
  FileView view_;
};

// A helper program run as a guest: VGPU_REGION set to the daemon's region,
// stdout captured (read with wait_line), stderr passed through to the test's.
class GuestProcess {
 public:
  GuestProcess() = default;
  GuestProcess(const GuestProcess&) = delete;
  GuestProcess& operator=(const GuestProcess&) = delete;
  ~GuestProcess() {
    if (pid_ > 0 && !done_) {
      kill(pid_, SIGKILL);
      wait(5000);
    }
    if (out_ >= 0) ::close(out_);
    if (in_ >= 0) ::close(in_);
  }

  // Starts `argv[0]` with `argv`, plus `env` entries ("NAME=value") on top of this
  // process' environment. stdin is a pipe (send_line), stdout a pipe (wait_line).
  bool start(const std::vector<std::string>& argv, const std::string& region,
             const std::vector<std::string>& env = {}) {
    // Writing to a guest that has exited must be an error, not a SIGPIPE that kills the test.
    ::signal(SIGPIPE, SIG_IGN);
    int outp[2], inp[2];
    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(inp, O_CLOEXEC) != 0) return false;
    std::vector<std::string> a = argv;
    std::vector<char*> cargv;
    for (auto& s : a) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    std::vector<std::string> e = env;
    e.push_back("VGPU_REGION=" + region);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      ::signal(SIGPIPE, SIG_DFL);
      dup2(outp[1], 1);
      dup2(inp[0], 0);
      for (auto& kv : e) putenv(kv.data());
      execv(cargv[0], cargv.data());
      std::fprintf(stderr, "exec %s: %s\n", cargv[0], std::strerror(errno));
      _exit(127);
    }
    ::close(outp[1]);
    ::close(inp[0]);
    out_ = outp[0];
    in_ = inp[1];
    return true;
  }

  pid_t pid() const { return pid_; }

  // Waits for a stdout line starting with `prefix`; returns it (or "" on EOF or
  // timeout). Earlier lines are kept in lines().
  std::string wait_line(const std::string& prefix, uint64_t timeout_ms = 20000) {
    const uint64_t deadline = now_ms() + timeout_ms;
    for (;;) {
      for (; next_ < lines_.size(); ++next_)
        if (lines_[next_].rfind(prefix, 0) == 0) return lines_[next_++];
      if (eof_ || now_ms() > deadline) return "";
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(out_, &rd);
      timeval tv{0, 20000};
      if (select(out_ + 1, &rd, nullptr, nullptr, &tv) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(out_, buf, sizeof buf);
      if (n <= 0) {
        eof_ = true;
        if (!partial_.empty()) lines_.push_back(partial_), partial_.clear();
        continue;
      }
      partial_.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
        lines_.push_back(partial_.substr(0, nl));
        partial_.erase(0, nl + 1);
      }
    }
  }
  const std::vector<std::string>& lines() const { return lines_; }
  std::string output() const {
    std::string s;
    for (auto& l : lines_) s += l + "\n";
    return s;
  }

  bool send_line(const std::string& line) {
    std::string l = line + "\n";
    return write(in_, l.data(), l.size()) == static_cast<ssize_t>(l.size());
  }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

  void signal(int sig) {
    if (pid_ > 0 && !done_) kill(pid_, sig);
  }

  // Waits for exit; returns the wait status, or -1 on timeout (the process is left running).
  int wait(uint64_t timeout_ms = 30000) {
    if (done_) return status_;
    const uint64_t deadline = now_ms() + timeout_ms;
    for (;;) {
      int st;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        done_ = true;
        status_ = st;
        wait_line("\x01", 0);  // drain what it printed
        return st;
      }
      if (now_ms() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  // Exit code if it exited normally, 128+signal if killed, -1 if still running.
  int exit_code(uint64_t timeout_ms = 30000) {
    const int st = wait(timeout_ms);
    if (st == -1 && !done_) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
  bool done_ = false, eof_ = false;
  int status_ = 0;
  std::string partial_;
  std::vector<std::string> lines_;
  size_t next_ = 0;
};

// One daemon for the whole test binary; VGPU_REGION exported in SetUp.
class DaemonEnvironment : public ::testing::Environment {
 public:
  explicit DaemonEnvironment(DaemonConfig cfg = {}) : cfg_(std::move(cfg)) {}
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(cfg_);
    std::string err;
    if (!daemon_->start(&err)) {
      std::fprintf(stderr, "[vgpu-e2e] %s\n", err.c_str());
      std::fflush(stderr);
      std::_Exit(1);  // nothing in this binary can run without it
    }
    daemon_->export_env();
    instance() = this;
  }
  void TearDown() override {
    daemon_.reset();
    instance() = nullptr;
  }
  static Daemon& daemon() { return *instance()->daemon_; }
  static DaemonEnvironment*& instance() {
    static DaemonEnvironment* p = nullptr;
    return p;
  }

 private:
  DaemonConfig cfg_;
  std::unique_ptr<Daemon> daemon_;
};

#define VGPU_E2E_GLOBAL_DAEMON_CONFIG(cfg)                                                     \
  [[maybe_unused]] static ::testing::Environment* const vgpu_e2e_global_daemon_env_ =          \
      ::testing::AddGlobalTestEnvironment(new ::vgpu::e2e::DaemonEnvironment(cfg))
#define VGPU_E2E_GLOBAL_DAEMON() VGPU_E2E_GLOBAL_DAEMON_CONFIG(::vgpu::e2e::DaemonConfig{})

// A daemon of its own for each test (daemon_), VGPU_REGION exported. Override
// config() to change its options.
class DaemonTest : public ::testing::Test {
 protected:
  virtual DaemonConfig config() const { return {}; }
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(config());
    std::string err;
    ASSERT_TRUE(daemon_->start(&err)) << err;
    daemon_->export_env();
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::fprintf(stderr, "[vgpu-e2e] daemon log:\n%s\n", daemon_->log().c_str());
    daemon_.reset();
  }
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace vgpu::e2e
