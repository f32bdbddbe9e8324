#include "daemon.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>

#include "mapping.h"
#include "vgpu/status.h"
#include "vgpu/stats.h"

namespace vgpu::host {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

uint64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

struct Region {
  std::string path;
  std::unique_ptr<Mapping> map;
  void* stats = nullptr;
  uint64_t stats_bytes = 0;
  std::vector<pid_t> workers;
  std::vector<uint64_t> claiming_since;
};

// The stats file is host-only (guests never see it): mode 0600 in /dev/shm.
void* create_stats(const std::string& path, uint32_t slots, uint64_t* bytes) {
  *bytes = stats_file_bytes(slots);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return nullptr;
  if (ftruncate(fd, static_cast<off_t>(*bytes)) != 0) {
    close(fd);
    return nullptr;
  }
  void* p = mmap(nullptr, *bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return nullptr;
  auto* h = static_cast<StatsHeader*>(p);
  h->magic = kStatsMagic;
  h->version = kStatsVersion;
  h->slot_count = slots;
  h->op_count = kOpCount;
  h->daemon_pid = static_cast<uint32_t>(getpid());
  return p;
}

// Back to a free slot: control block and rings zeroed (the arena needs no
// clearing: the next guest formats it). Called only with no worker running.
void wipe_slot(Region& r, uint32_t s) {
  void* base = r.map->base();
  std::memset(slot_base(base, s), 0, header_of(base)->arena_offset);
  std::atomic_thread_fence(std::memory_order_release);
  slot_ctl(base, s)->state.store(static_cast<uint32_t>(SlotState::kFree), std::memory_order_release);
}

}  // namespace

int run_daemon(const DaemonOptions& opt) {
  std::vector<Region> regions;
  for (const auto& path : opt.regions) {
    Region r;
    r.path = path;
    std::string err;
    r.map = create_region_file(path, opt.config, &err);
    if (!r.map) {
      std::fprintf(stderr, "vgpu-hostd: %s\n", err.c_str());
      return 1;
    }
    if ((opt.region_uid >= 0 || opt.region_gid >= 0) && chown(path.c_str(), opt.region_uid, opt.region_gid) != 0) {
      std::fprintf(stderr, "vgpu-hostd: chown %s: %s\n", path.c_str(), std::strerror(errno));
      return 1;
    }
    if (chmod(path.c_str(), opt.region_mode) != 0) {
      std::fprintf(stderr, "vgpu-hostd: chmod %s: %s\n", path.c_str(), std::strerror(errno));
      return 1;
    }
    const std::string stats_path = path + ".stats";
    r.stats = create_stats(stats_path, opt.config.slot_count, &r.stats_bytes);
    if (!r.stats) {
      std::fprintf(stderr, "vgpu-hostd: cannot create %s: %s\n", stats_path.c_str(), std::strerror(errno));
      return 1;
    }
    std::snprintf(static_cast<StatsHeader*>(r.stats)->region_path, 256, "%s", path.c_str());
    r.workers.assign(opt.config.slot_count, 0);
    r.claiming_since.assign(opt.config.slot_count, 0);
    RegionHeader* h = r.map->header();
    h->host_pid = static_cast<uint32_t>(getpid());
    h->host_state.store(static_cast<uint32_t>(HostState::kReady), std::memory_order_release);
    std::fprintf(stderr, "vgpu-hostd: serving %s (%u slots, %llu MiB arena each, %.1f MiB region)\n", path.c_str(),
                 opt.config.slot_count, static_cast<unsigned long long>(opt.config.arena_bytes >> 20),
                 double(r.map->bytes()) / (1 << 20));
    regions.push_back(std::move(r));
  }

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  uint64_t last_beat = 0;
  while (!g_stop.load()) {
    const uint64_t now = now_ms();
    if (now - last_beat >= 100) {
      last_beat = now;
      for (auto& r : regions) {
        r.map->header()->host_heartbeat.fetch_add(1, std::memory_order_relaxed);
        static_cast<StatsHeader*>(r.stats)->heartbeat.fetch_add(1, std::memory_order_relaxed);
      }
    }
    for (auto& r : regions) {
      for (uint32_t s = 0; s < opt.config.slot_count; ++s) {
        SlotCtl* ctl = slot_ctl(r.map->base(), s);
        const auto state = static_cast<SlotState>(ctl->state.load(std::memory_order_acquire));
        if (r.workers[s]) continue;
        if (state == SlotState::kClaiming) {
          // A guest that died between claiming and filling in its claim.
          if (!r.claiming_since[s]) r.claiming_since[s] = now;
          if (now - r.claiming_since[s] > 5000) wipe_slot(r, s), r.claiming_since[s] = 0;
          continue;
        }
        r.claiming_since[s] = 0;
        if (state == SlotState::kClosing || state == SlotState::kServing) {
          wipe_slot(r, s);  // its worker is gone
        } else if (state == SlotState::kClaimed) {
          const pid_t pid = fork();
          if (pid == 0) {
            for (auto& other : regions)
              if (&other != &r) munmap(other.map->base(), other.map->bytes());
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            _exit(run_worker(r.map->base(), s, stats_slot(r.stats, s), opt.worker));
          }
          if (pid < 0) {
            std::fprintf(stderr, "vgpu-hostd: fork: %s\n", std::strerror(errno));
            ctl->fatal.store(vgpu::st::kOperatingSystem, std::memory_order_release);
          } else {
            r.workers[s] = pid;
          }
        }
      }
    }
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (auto& r : regions) {
        for (uint32_t s = 0; s < r.workers.size(); ++s) {
          if (r.workers[s] != pid) continue;
          r.workers[s] = 0;
          if (WIFSIGNALED(status))
            std::fprintf(stderr, "vgpu-hostd: slot %u: worker %d killed by signal %d\n", s, pid, WTERMSIG(status));
          stats_slot(r.stats, s)->active.store(0, std::memory_order_release);
          wipe_slot(r, s);
        }
      }
    }
    usleep(2000);
  }

  std::fprintf(stderr, "vgpu-hostd: stopping\n");
  for (auto& r : regions) {
    r.map->header()->host_state.store(static_cast<uint32_t>(HostState::kStopped), std::memory_order_release);
    for (pid_t p : r.workers)
      if (p) kill(p, SIGTERM);
  }
  for (auto& r : regions)
    for (pid_t p : r.workers)
      if (p) waitpid(p, nullptr, 0);
  for (auto& r : regions) munmap(r.stats, r.stats_bytes);
  return 0;
}

}  // namespace vgpu::host
