// Starts the real vgpu-hostd on a fresh region file for a test process and
// stops it afterwards. Header-only, no link dependencies beyond libc: test
// programs that link our guest libraries must not link the ring code again.
//
//   vgpu::test::HostDaemon d;
//   std::string why;
//   if (!d.start(VGPU_HOSTD_PATH, "cpu", 64, &why)) ...;
//   setenv("VGPU_REGION", d.region().c_str(), 1);   // before the first CUDA call
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "vgpu/region.h"

extern char** environ;

namespace vgpu::test {

class HostDaemon {
 public:
  HostDaemon() = default;
  HostDaemon(const HostDaemon&) = delete;
  HostDaemon& operator=(const HostDaemon&) = delete;
  ~HostDaemon() { stop(); }

  // Launches `hostd --region /dev/shm/vgpu-test-<unique> --backend B
  // --arena-mb N [extra...]` and waits until it serves the region.
  bool start(const std::string& hostd, const std::string& backend, int arena_mb, std::string* why,
             const std::vector<std::string>& extra = {}, int timeout_ms = 20000) {
    std::random_device rd;
    region_ = "/dev/shm/vgpu-test-" + std::to_string(getpid()) + "-" + std::to_string(rd() % 1000000);
    std::vector<std::string> args = {hostd, "--region", region_, "--backend", backend, "--arena-mb",
                                     std::to_string(arena_mb)};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (int rc = posix_spawn(&pid_, hostd.c_str(), nullptr, nullptr, argv.data(), environ); rc != 0) {
      *why = "cannot start " + hostd + ": " + std::strerror(rc);
      pid_ = 0;
      return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        *why = "vgpu-hostd exited before serving " + region_ + " (status " + std::to_string(status) + ")";
        pid_ = 0;
        return false;
      }
      if (serving()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *why = "vgpu-hostd did not serve " + region_ + " in time";
    stop();
    return false;
  }

  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 500 && waitpid(pid_, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      pid_ = 0;
    }
    if (!region_.empty()) {
      unlink(region_.c_str());
      unlink((region_ + ".stats").c_str());
    }
  }

  const std::string& region() const { return region_; }
  pid_t pid() const { return pid_; }

 private:
  // The header says: formatted and served.
  bool serving() const {
    const int fd = open(region_.c_str(), O_RDONLY);
    if (fd < 0) return false;
    struct stat st {};
    bool ok = false;
    if (fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(RegionHeader))) {
      void* p = mmap(nullptr, sizeof(RegionHeader), PROT_READ, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) {
        const auto* h = static_cast<const RegionHeader*>(p);
        ok = h->magic == kRegionMagic &&
             h->host_state.load(std::memory_order_acquire) == static_cast<uint32_t>(HostState::kReady);
        munmap(p, sizeof(RegionHeader));
      }
    }
    close(fd);
    return ok;
  }

  std::string region_;
  pid_t pid_ = 0;
};

}  // namespace vgpu::test
