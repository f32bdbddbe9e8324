#include "daemon.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "mapping.h"
#include "region_host.h"
#include "vgpu/stats.h"
#include "vgpu/status.h"

namespace vgpu::host {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_rescan{false};
void on_stop(int) { g_stop.store(true); }
void on_hup(int) { g_rescan.store(true); }

constexpr uint64_t kStopGraceMs = 5000;  // SIGTERM, then SIGKILL after this

uint64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// One served region: its settings, its file mapped, its stats, a worker per busy slot.
struct Region {
  RegionOptions opt;
  std::string conf;  // the .conf file it comes from ("" = the command line)
  std::unique_ptr<Mapping> map;
  void* stats = nullptr;
  uint64_t stats_bytes = 0;
  std::unique_ptr<RegionHost> host;  // header and slots, as the host's own config lays them out
  uint64_t stop_deadline = 0;  // != 0: stopping; what is left gets SIGKILL after it

  ~Region() {
    if (stats) munmap(stats, stats_bytes);
  }
  bool stopping() const { return stop_deadline != 0; }
  bool idle() const { return host->idle(); }
  uint32_t slots() const { return opt.config.slot_count; }
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

// Creates and formats the region file, gives it its owner and mode, creates
// its stats file and marks it ready. nullptr (and *err) on failure.
std::unique_ptr<Region> open_region(const RegionOptions& o, const std::string& conf, std::string* err) {
  auto r = std::make_unique<Region>();
  r->opt = o;
  r->opt.worker.region = o.path;
  r->conf = conf;
  r->map = create_region_file(o.path, o.config, err);
  if (!r->map) return nullptr;
  if ((o.uid >= 0 || o.gid >= 0) && chown(o.path.c_str(), o.uid, o.gid) != 0)
    return *err = "chown " + o.path + ": " + std::strerror(errno), nullptr;
  if (chmod(o.path.c_str(), o.mode) != 0) return *err = "chmod " + o.path + ": " + std::strerror(errno), nullptr;
  const std::string stats_path = o.path + ".stats";
  r->stats = create_stats(stats_path, o.config.slot_count, &r->stats_bytes);
  if (!r->stats) return *err = "cannot create " + stats_path + ": " + std::strerror(errno), nullptr;
  std::snprintf(static_cast<StatsHeader*>(r->stats)->region_path, 256, "%s", o.path.c_str());
  r->host = std::make_unique<RegionHost>(r->map->view(), r->map->session_id(), o.path);
  r->host->beat(HostState::kReady);
  std::fprintf(stderr, "vgpu-hostd: serving %s (%.1f MiB region%s%s)\n", describe(o).c_str(),
               double(r->map->bytes()) / (1 << 20), conf.empty() ? "" : ", from ", conf.c_str());
  return r;
}

class Supervisor {
 public:
  explicit Supervisor(const DaemonOptions& opt) : opt_(opt) {}
  int run();

 private:
  struct ConfFile {
    std::string text;
    bool ok = false;      // parsed
    RegionOptions opt;    // if ok
    bool failed = false;  // its region could not be created: not retried until the file changes (or SIGHUP)
    bool told = false;    // "already served" logged
  };

  void rescan(bool forget);
  void serve(Region& r, uint64_t now);
  void reap();
  void stop(Region& r, const char* why, uint64_t now);
  Region* find(const std::string& path) {
    for (auto& r : regions_)
      if (r->opt.path == path) return r.get();
    return nullptr;
  }

  const DaemonOptions& opt_;
  std::vector<std::unique_ptr<Region>> regions_;
  std::map<std::string, ConfFile> confs_;  // by file name in the config dir
  Mps mps_;
  bool dir_told_ = false;
};

// Reads the config dir and makes the served regions match its *.conf files.
void Supervisor::rescan(bool forget) {
  if (forget) confs_.clear();
  const std::string& dir = opt_.config_dir;
  DIR* d = opendir(dir.c_str());
  if (!d) {
    // Keeps serving what it serves: a dir that is briefly away stops nothing.
    if (!dir_told_) std::fprintf(stderr, "vgpu-hostd: config dir %s: %s\n", dir.c_str(), std::strerror(errno));
    dir_told_ = true;
    return;
  }
  dir_told_ = false;
  std::map<std::string, ConfFile> seen;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name, file = dir + "/" + name;
    struct stat st{};
    if (name[0] == '.' || !name.ends_with(".conf") || stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    auto old = confs_.find(name);
    std::ifstream f(file);
    std::ostringstream text;
    text << f.rdbuf();
    if (!f) {  // unreadable: said once, the region (if any) keeps going
      if (old == confs_.end()) std::fprintf(stderr, "vgpu-hostd: %s: cannot read; file skipped\n", file.c_str());
      seen[name] = old != confs_.end() ? std::move(old->second) : ConfFile{};
      continue;
    }
    if (old != confs_.end() && old->second.text == text.str()) {
      seen[name] = std::move(old->second);
      continue;
    }
    ConfFile c;
    c.text = text.str();
    std::string err;
    c.ok = parse_region_conf(c.text, opt_.defaults, &c.opt, &err);
    if (!c.ok) std::fprintf(stderr, "vgpu-hostd: %s: %s; file skipped\n", file.c_str(), err.c_str());
    seen[name] = std::move(c);
  }
  closedir(d);
  confs_ = std::move(seen);

  const uint64_t now = now_ms();
  for (auto& r : regions_) {
    if (r->conf.empty() || r->stopping()) continue;
    const auto c = confs_.find(r->conf);
    if (c == confs_.end()) stop(*r, "its config file was removed", now);
    else if (c->second.ok && describe(c->second.opt) != describe(r->opt)) stop(*r, "its config file changed", now);
  }
  for (auto& [name, c] : confs_) {
    if (!c.ok || c.failed) continue;
    bool served = false;
    for (auto& r : regions_) served |= r->conf == name && !r->stopping();
    if (served) continue;
    if (Region* other = find(c.opt.path)) {
      // A region still stopping is replaced once its workers are gone.
      if (!other->stopping() && !c.told)
        std::fprintf(stderr, "vgpu-hostd: %s/%s: %s is already served (%s); file skipped\n", dir.c_str(), name.c_str(),
                     c.opt.path.c_str(), other->conf.empty() ? "command line" : other->conf.c_str());
      c.told |= !other->stopping();
      continue;
    }
    std::string err;
    auto r = open_region(c.opt, name, &err);
    if (!r) {
      std::fprintf(stderr, "vgpu-hostd: %s/%s: %s; file skipped\n", dir.c_str(), name.c_str(), err.c_str());
      c.failed = true;
      continue;
    }
    regions_.push_back(std::move(r));
  }
}

// Starts a worker for every newly claimed slot and frees abandoned ones.
void Supervisor::serve(Region& r, uint64_t now) {
  r.host->serve(now, [&](uint32_t s) -> pid_t {
    const pid_t pid = fork();
    if (pid == 0) {
      for (auto& other : regions_) {  // a worker sees its own region only
        if (other.get() == &r) continue;
        munmap(other->map->base(), other->map->bytes());
        munmap(other->stats, other->stats_bytes);
      }
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGHUP, SIG_IGN);
      WorkerOptions w = r.opt.worker;
      // Before anything loads CUDA: an MPS client (with its limits) or not.
      w.mps_client = enter_mps(mps_.client_for(w.strict_isolation), w.device, w.sm_percent,
                               mps_mem_limit_for(w.mem_quota));
      w.mps_mem_limit = w.mps_client ? mps_mem_limit_for(w.mem_quota) : 0;
      _exit(run_worker(r.host->view(), s, stats_slot(r.stats, s), w));
    }
    if (pid < 0) {
      std::fprintf(stderr, "vgpu-hostd: fork: %s\n", std::strerror(errno));
      r.host->view().slot(s).ctl->fatal.store(vgpu::st::kOperatingSystem, std::memory_order_release);
      return 0;
    }
    return pid;
  });
}

void Supervisor::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto& r : regions_) {
      for (uint32_t s = 0; s < r->slots(); ++s) {
        if (r->host->worker(s) != pid) continue;
        if (WIFSIGNALED(status) && !r->stopping())
          std::fprintf(stderr, "vgpu-hostd: %s slot %u: worker %d killed by signal %d\n", r->opt.path.c_str(), s, pid,
                       WTERMSIG(status));
        stats_slot(r->stats, s)->active.store(0, std::memory_order_release);
        r->host->worker_exited(s);
      }
    }
  }
}

// Guests see the region stopped; its workers are told to end. The region is
// dropped once they are reaped (its region file left, its stats file removed).
void Supervisor::stop(Region& r, const char* why, uint64_t now) {
  std::fprintf(stderr, "vgpu-hostd: stopping %s (%s)\n", r.opt.path.c_str(), why);
  r.host->beat(HostState::kStopped);
  for (uint32_t s = 0; s < r.slots(); ++s)
    if (pid_t p = r.host->worker(s)) kill(p, SIGTERM);
  r.stop_deadline = now + kStopGraceMs;
}

int Supervisor::run() {
  struct sigaction sa{};
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  {
    std::string why;
    if (!mps_.start(opt_.mps, opt_.defaults.worker.device, opt_.defaults.worker.backend == BackendChoice::kCpu,
                    &why)) {
      std::fprintf(stderr, "vgpu-hostd: %s\n", why.c_str());
      return 1;
    }
    std::fprintf(stderr, "vgpu-hostd: %s\n", mps_.describe().c_str());
  }
  for (const auto& path : opt_.regions) {
    RegionOptions o = opt_.defaults;
    o.path = path;
    std::string err;
    auto r = open_region(o, "", &err);
    if (!r) {
      std::fprintf(stderr, "vgpu-hostd: %s\n", err.c_str());
      return 1;
    }
    regions_.push_back(std::move(r));
  }
  if (!opt_.config_dir.empty())
    std::fprintf(stderr, "vgpu-hostd: serving %s/*.conf (rescanned every %u ms and on SIGHUP)\n",
                 opt_.config_dir.c_str(), opt_.rescan_ms);

  uint64_t last_beat = 0, last_scan = 0;
  bool scan_soon = !opt_.config_dir.empty();
  while (!g_stop.load()) {
    uint64_t now = now_ms();
    const bool hup = g_rescan.exchange(false);
    if (!opt_.config_dir.empty() && (hup || scan_soon || (opt_.rescan_ms && now - last_scan >= opt_.rescan_ms))) {
      rescan(hup);
      last_scan = now = now_ms();
      scan_soon = false;
    }
    if (now - last_beat >= 100) {
      last_beat = now;
      for (auto& r : regions_) {
        if (r->stopping()) continue;
        r->host->beat(HostState::kReady);  // heals a header the guest scribbled on
        static_cast<StatsHeader*>(r->stats)->heartbeat.fetch_add(1, std::memory_order_relaxed);
      }
    }
    for (auto& r : regions_)
      if (!r->stopping()) serve(*r, now);
    reap();
    for (auto it = regions_.begin(); it != regions_.end();) {
      Region& r = **it;
      if (r.stopping() && r.idle()) {
        std::fprintf(stderr, "vgpu-hostd: stopped %s\n", r.opt.path.c_str());
        unlink((r.opt.path + ".stats").c_str());  // vgpu-smi lists it no more
        it = regions_.erase(it);
        scan_soon = true;  // a changed file waits for its old region to be gone
        continue;
      }
      if (r.stopping() && now > r.stop_deadline) {
        for (uint32_t s = 0; s < r.slots(); ++s)
          if (pid_t p = r.host->worker(s)) kill(p, SIGKILL);
        r.stop_deadline = UINT64_MAX;
      }
      ++it;
    }
    usleep(2000);
  }

  std::fprintf(stderr, "vgpu-hostd: stopping\n");
  for (auto& r : regions_) {
    r->host->beat(HostState::kStopped);
    for (uint32_t s = 0; s < r->slots(); ++s)
      if (pid_t p = r->host->worker(s)) kill(p, SIGTERM);
  }
  for (auto& r : regions_)
    for (uint32_t s = 0; s < r->slots(); ++s)
      if (pid_t p = r->host->worker(s)) waitpid(p, nullptr, 0);
  mps_.stop();  // after its clients are gone
  return 0;
}

}  // namespace

int run_daemon(const DaemonOptions& opt) { return Supervisor(opt).run(); }

}  // namespace vgpu::host
