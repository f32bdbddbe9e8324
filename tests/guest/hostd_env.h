// A real vgpu-hostd (CPU backend; VGPU_TEST_BACKEND=cuda for the GPU) for the duration of one test process, as a
// GoogleTest environment (for the cuBLAS and NVML tests).
//
// Register it once per test program:
//   static auto* const env = ::testing::AddGlobalTestEnvironment(new vgpu::test::HostdEnvironment("blas"));
// SetUp starts `vgpu-hostd --region /dev/shm/vgpu-test-<tag>-<pid>-<n> --backend cpu --arena-mb 64`,
// waits until the region's header says the host is ready, and points
// VGPU_REGION at it, so the first CUDA call of the process attaches there.
// TearDown stops the daemon and removes the region file.
//
// VGPU_HOSTD (the daemon's path) is given by the build.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "../e2e/hostd_path.h"
#include "vgpu/region.h"

namespace vgpu::test {

class HostdEnvironment : public ::testing::Environment {
 public:
  // `extra`: more daemon options (a quota, say), after the defaults.
  explicit HostdEnvironment(std::string tag, std::vector<std::string> extra = {})
      : tag_(std::move(tag)), extra_(std::move(extra)) {}

  void SetUp() override {
    static std::atomic<int> n{0};
    region_ = "/dev/shm/vgpu-test-" + tag_ + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
    unlink(region_.c_str());
    pid_ = fork();
    ASSERT_GE(pid_, 0) << "fork failed";
    if (pid_ == 0) {
      // VGPU_TEST_BACKEND=cuda runs these tests against the GPU (default: cpu).
      // The daemon must load NVIDIA's libcuda, not ours: drop our library
      // folder (beside the daemon's bin/) from the path it inherits.
      const char* be = std::getenv("VGPU_TEST_BACKEND");
      drop_guest_libs_from_ld_path(VGPU_HOSTD);
      std::vector<std::string> args = {"vgpu-hostd", "--region", region_, "--backend", be && *be ? be : "cpu",
                                       "--arena-mb", "64"};
      args.insert(args.end(), extra_.begin(), extra_.end());
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(VGPU_HOSTD, argv.data());
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!ready()) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << VGPU_HOSTD << " exited before serving " << region_ << " (status " << status << ")";
      }
      if (std::chrono::steady_clock::now() > deadline) FAIL() << VGPU_HOSTD << " did not become ready on " << region_;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    setenv("VGPU_REGION", region_.c_str(), 1);
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    unlink(region_.c_str());
    unlink((region_ + ".stats").c_str());
  }

  const std::string& region() const { return region_; }

 private:

  // The header is written before host_state turns kReady.
  bool ready() const {
    int fd = open(region_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st {};
    bool ok = false;
    if (fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(RegionHeader))) {
      void* p = mmap(nullptr, sizeof(RegionHeader), PROT_READ, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) {
        const auto* h = static_cast<const RegionHeader*>(p);
        ok = h->host_state.load(std::memory_order_acquire) == static_cast<uint32_t>(HostState::kReady);
        munmap(p, sizeof(RegionHeader));
      }
    }
    close(fd);
    return ok;
  }

  std::string tag_;
  std::vector<std::string> extra_;
  std::string region_;
  pid_t pid_ = -1;
};

}  // namespace vgpu::test
