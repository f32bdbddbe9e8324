// vgpu-smi: a live view of what every guest is doing on the host's GPU.
//
// Reads the counters vgpu-hostd publishes per region in NAME.stats (see
// include/vgpu/stats.h; host-only files, mode 0600: run it as the daemon's
// user) and prints one row per guest slot: guest and worker pids, backend,
// uptime, device memory held / peak / quota, calls per second (from two
// samples --interval ms apart), bytes each way, kernel launches, GEMMs,
// graph launches, errors and the most frequent operations.
//
//   vgpu-smi                       every /dev/shm/vgpu-*.stats, one report
//   vgpu-smi --stats PATH          that stats file (repeatable)
//   vgpu-smi --region PATH         the stats file of that region (PATH.stats)
//   vgpu-smi --json                one JSON object instead of the table
//   vgpu-smi --watch               refresh every interval until interrupted
//   vgpu-smi --interval MS         sampling interval (default 1000; 0: no rates)
//   vgpu-smi --all                 also list slots no guest is using
//   vgpu-smi --top N               operations listed per slot (default 5)
//
// Exit status: 0 when every daemon read is running, 1 when one is not
// (stale heartbeat or gone), 2 on usage errors or unreadable files.
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "vgpu/ops.h"
#include "vgpu/stats.h"

namespace {

using namespace vgpu;

uint64_t mono_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
uint64_t unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct Options {
  std::vector<std::string> paths;
  bool json = false, watch = false, all = false;
  uint32_t interval_ms = 1000;
  uint32_t top = 5;
};

// A plain copy of one slot's counters at one moment.
struct SlotSample {
  uint64_t generation = 0;
  bool active = false;
  uint32_t guest_pid = 0, worker_pid = 0, backend = 0;
  uint64_t started_unix_ms = 0;
  uint64_t mem_held = 0, mem_peak = 0, mem_quota = 0;
  bool mps = false;  // an MPS client (else its own CUDA context)
  uint32_t sm_percent = 0;
  uint64_t mps_mem_limit = 0;
  uint64_t bytes_htod = 0, bytes_dtoh = 0, launches = 0, gemms = 0, graph_launches = 0, errors = 0, records = 0;
  std::vector<uint64_t> calls, op_errors;
};

struct Sample {
  uint64_t at_ms = 0;
  uint64_t heartbeat = 0;
  std::vector<SlotSample> slots;
};

class StatsFile {
 public:
  ~StatsFile() {
    if (base_) munmap(base_, bytes_);
  }
  // Maps and checks the file; false with a message in *err.
  bool open(const std::string& path, std::string* err) {
    path_ = path;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *err = path + ": " + std::strerror(errno) + (errno == EACCES ? " (stats files are the daemon's: run as its user)" : "");
      return false;
    }
    struct stat st {};
    fstat(fd, &st);
    bytes_ = static_cast<uint64_t>(st.st_size);
    if (bytes_ < sizeof(StatsHeader)) {
      ::close(fd);
      *err = path + ": not a vgpu stats file (too small)";
      return false;
    }
    base_ = mmap(nullptr, bytes_, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (base_ == MAP_FAILED) {
      base_ = nullptr;
      *err = path + ": mmap: " + std::strerror(errno);
      return false;
    }
    const auto* h = header();
    if (h->magic != kStatsMagic) {
      *err = path + ": not a vgpu stats file (bad magic)";
      return false;
    }
    if (h->version != kStatsVersion) {
      *err = path + ": stats format version " + std::to_string(h->version) + ", this vgpu-smi reads version " +
             std::to_string(kStatsVersion) + ": use the vgpu-smi of the daemon's build";
      return false;
    }
    if (h->op_count != kOpCount) {
      *err = path + ": written by a daemon with " + std::to_string(h->op_count) + " operations, this vgpu-smi knows " +
             std::to_string(kOpCount) + ": use the vgpu-smi of the daemon's build";
      return false;
    }
    if (h->slot_count == 0 || h->slot_count > 4096 || bytes_ < stats_file_bytes(h->slot_count)) {
      *err = path + ": truncated stats file (" + std::to_string(bytes_) + " bytes for " + std::to_string(h->slot_count) +
             " slots)";
      return false;
    }
    return true;
  }

  const StatsHeader* header() const { return static_cast<const StatsHeader*>(base_); }
  const std::string& path() const { return path_; }
  uint32_t slot_count() const { return header()->slot_count; }
  std::string region() const {
    const char* r = header()->region_path;
    return std::string(r, strnlen(r, sizeof(header()->region_path)));
  }

  Sample sample() const {
    Sample s;
    s.at_ms = mono_ms();
    s.heartbeat = header()->heartbeat.load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < slot_count(); ++i) {
      const SlotStats& x = *stats_slot(base_, i);
      SlotSample o;
      o.generation = x.generation.load(std::memory_order_relaxed);
      o.active = x.active.load(std::memory_order_acquire) != 0;
      o.guest_pid = x.guest_pid.load(std::memory_order_relaxed);
      o.worker_pid = x.worker_pid.load(std::memory_order_relaxed);
      o.backend = x.backend.load(std::memory_order_relaxed);
      o.started_unix_ms = x.started_unix_ms.load(std::memory_order_relaxed);
      o.mem_held = x.mem_held.load(std::memory_order_relaxed);
      o.mem_peak = x.mem_peak.load(std::memory_order_relaxed);
      o.mem_quota = x.mem_quota.load(std::memory_order_relaxed);
      o.mps = x.mps.load(std::memory_order_relaxed) != 0;
      o.sm_percent = x.sm_percent.load(std::memory_order_relaxed);
      o.mps_mem_limit = x.mps_mem_limit.load(std::memory_order_relaxed);
      o.bytes_htod = x.bytes_htod.load(std::memory_order_relaxed);
      o.bytes_dtoh = x.bytes_dtoh.load(std::memory_order_relaxed);
      o.launches = x.launches.load(std::memory_order_relaxed);
      o.gemms = x.gemms.load(std::memory_order_relaxed);
      o.graph_launches = x.graph_launches.load(std::memory_order_relaxed);
      o.errors = x.errors.load(std::memory_order_relaxed);
      o.records = x.records.load(std::memory_order_relaxed);
      o.calls.resize(kOpCount);
      o.op_errors.resize(kOpCount);
      for (size_t k = 0; k < kOpCount; ++k) {
        o.calls[k] = x.calls[k].load(std::memory_order_relaxed);
        o.op_errors[k] = x.op_errors[k].load(std::memory_order_relaxed);
      }
      s.slots.push_back(std::move(o));
    }
    return s;
  }

 private:
  std::string path_;
  void* base_ = nullptr;
  uint64_t bytes_ = 0;
};

// What one report says about one daemon.
struct Report {
  const StatsFile* file;
  Sample first, last;
  bool pid_alive = false, heartbeat_moved = false;
  bool running() const { return pid_alive && heartbeat_moved; }
  const char* state() const {
    if (!pid_alive) return "not running (daemon process gone, stale heartbeat)";
    if (!heartbeat_moved) return "not running (stale heartbeat: the daemon is hung or stopped)";
    return "running";
  }
};

bool pid_alive(uint32_t pid) { return pid != 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

const char* backend_name(uint32_t b) {
  switch (static_cast<BackendKind>(b)) {
    case BackendKind::kCpu: return "cpu";
    case BackendKind::kCuda: return "cuda";
  }
  return "?";
}

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b < 1024) std::snprintf(buf, sizeof buf, "%" PRIu64 "B", b);
  else if (b < (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1fK", double(b) / 1024);
  else if (b < (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1fM", double(b) / (1 << 20));
  else std::snprintf(buf, sizeof buf, "%.2fG", double(b) / (1ull << 30));
  return buf;
}

std::string human_count(uint64_t n) {
  char buf[32];
  if (n < 100000) std::snprintf(buf, sizeof buf, "%" PRIu64, n);
  else if (n < 100000000) std::snprintf(buf, sizeof buf, "%.1fk", double(n) / 1e3);
  else std::snprintf(buf, sizeof buf, "%.1fM", double(n) / 1e6);
  return buf;
}

std::string human_uptime(uint64_t started, uint64_t now) {
  if (!started || started > now) return "-";
  uint64_t s = (now - started) / 1000;
  char buf[32];
  if (s < 3600) std::snprintf(buf, sizeof buf, "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, (s / 60) % 60);
  return buf;
}

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += static_cast<char>(c);
    else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else o += static_cast<char>(c);
  }
  return o + "\"";
}

// Calls per second over the two samples, or -1 without a second sample (or a new session in between).
double calls_per_s(const SlotSample& a, const SlotSample& b, uint64_t dt_ms) {
  if (dt_ms == 0 || a.generation != b.generation || b.records < a.records) return -1;
  return double(b.records - a.records) * 1000.0 / double(dt_ms);
}

struct TopOp {
  size_t op;
  uint64_t calls, errors;
};
std::vector<TopOp> top_ops(const SlotSample& s, uint32_t n) {
  std::vector<TopOp> v;
  for (size_t k = 1; k < kOpCount; ++k)
    if (s.calls[k]) v.push_back({k, s.calls[k], s.op_errors[k]});
  std::stable_sort(v.begin(), v.end(), [](const TopOp& x, const TopOp& y) { return x.calls > y.calls; });
  if (v.size() > n) v.resize(n);
  return v;
}

void print_json(const std::vector<Report>& reports, const Options& o, uint64_t now) {
  std::string out = "{\"time_unix_ms\":" + std::to_string(now) + ",\"interval_ms\":" + std::to_string(o.interval_ms) +
                    ",\"daemons\":[";
  for (size_t r = 0; r < reports.size(); ++r) {
    const Report& rep = reports[r];
    const StatsHeader* h = rep.file->header();
    const uint64_t dt = rep.last.at_ms - rep.first.at_ms;
    if (r) out += ",";
    out += "{\"stats_file\":" + json_str(rep.file->path()) + ",\"region\":" + json_str(rep.file->region()) +
           ",\"daemon_pid\":" + std::to_string(h->daemon_pid) + ",\"running\":" + (rep.running() ? "true" : "false") +
           ",\"state\":" + json_str(rep.state()) + ",\"heartbeat\":" + std::to_string(rep.last.heartbeat) +
           ",\"slot_count\":" + std::to_string(h->slot_count) + ",\"op_count\":" + std::to_string(h->op_count) +
           ",\"slots\":[";
    bool first_slot = true;
    for (uint32_t i = 0; i < rep.last.slots.size(); ++i) {
      const SlotSample& s = rep.last.slots[i];
      if (!s.active && !o.all) continue;
      if (!first_slot) out += ",";
      first_slot = false;
      const double cps = calls_per_s(rep.first.slots[i], s, dt);
      char cpsbuf[32];
      std::snprintf(cpsbuf, sizeof cpsbuf, "%.1f", cps);
      uint64_t calls = 0;
      for (size_t k = 1; k < kOpCount; ++k) calls += s.calls[k];
      out += "{\"slot\":" + std::to_string(i) + ",\"active\":" + (s.active ? "true" : "false") +
             ",\"generation\":" + std::to_string(s.generation) + ",\"guest_pid\":" + std::to_string(s.guest_pid) +
             ",\"worker_pid\":" + std::to_string(s.worker_pid) + ",\"backend\":" + json_str(backend_name(s.backend)) +
             ",\"started_unix_ms\":" + std::to_string(s.started_unix_ms) + ",\"uptime_s\":" +
             std::to_string(s.started_unix_ms && now > s.started_unix_ms ? (now - s.started_unix_ms) / 1000 : 0) +
             ",\"mem_held\":" + std::to_string(s.mem_held) + ",\"mem_peak\":" + std::to_string(s.mem_peak) +
             ",\"mem_quota\":" + std::to_string(s.mem_quota) + ",\"mps\":" + (s.mps ? "true" : "false") +
             ",\"sm_percent\":" + std::to_string(s.sm_percent) + ",\"mps_mem_limit\":" +
             std::to_string(s.mps_mem_limit) + ",\"calls\":" + std::to_string(calls) +
             ",\"calls_per_s\":" + (cps < 0 ? std::string("null") : std::string(cpsbuf)) +
             ",\"bytes_htod\":" + std::to_string(s.bytes_htod) + ",\"bytes_dtoh\":" + std::to_string(s.bytes_dtoh) +
             ",\"launches\":" + std::to_string(s.launches) + ",\"gemms\":" + std::to_string(s.gemms) +
             ",\"graph_launches\":" + std::to_string(s.graph_launches) + ",\"errors\":" + std::to_string(s.errors) +
             ",\"top_ops\":[";
      const auto top = top_ops(s, o.top);
      for (size_t t = 0; t < top.size(); ++t) {
        if (t) out += ",";
        out += "{\"op\":" + json_str(op_name(static_cast<uint16_t>(top[t].op))) + ",\"calls\":" +
               std::to_string(top[t].calls) + ",\"errors\":" + std::to_string(top[t].errors) + "}";
      }
      out += "]}";
    }
    out += "]}";
  }
  out += "]}\n";
  std::fputs(out.c_str(), stdout);
}

void print_table(const std::vector<Report>& reports, const Options& o, uint64_t now) {
  for (const Report& rep : reports) {
    const StatsHeader* h = rep.file->header();
    std::printf("vgpu-hostd pid %u  region %s  %s\n", h->daemon_pid, rep.file->region().c_str(), rep.state());
    std::printf("%-4s %-8s %-8s %-4s %-8s %-7s %-24s %-9s %-9s %-9s %-7s %-7s %-6s %-6s %s\n", "SLOT", "GUEST",
                "WORKER", "BE", "SHARE", "UPTIME", "MEM held/peak/quota", "CALLS/S", "HtoD", "DtoH", "LAUNCH", "GEMM", "GRAPH", "ERR",
                "TOP OPS");
    const uint64_t dt = rep.last.at_ms - rep.first.at_ms;
    int shown = 0;
    for (uint32_t i = 0; i < rep.last.slots.size(); ++i) {
      const SlotSample& s = rep.last.slots[i];
      if (!s.active && !o.all) continue;
      ++shown;
      const double cps = calls_per_s(rep.first.slots[i], s, dt);
      char cpsbuf[32];
      if (cps < 0) std::snprintf(cpsbuf, sizeof cpsbuf, "-");
      else std::snprintf(cpsbuf, sizeof cpsbuf, "%.1f", cps);
      const std::string mem = human_bytes(s.mem_held) + "/" + human_bytes(s.mem_peak) + "/" +
                              (s.mem_quota ? human_bytes(s.mem_quota) : std::string("-"));
      std::string tops;
      for (const auto& t : top_ops(s, o.top)) {
        if (!tops.empty()) tops += " ";
        tops += std::string(op_name(static_cast<uint16_t>(t.op))) + ":" + human_count(t.calls);
        if (t.errors) tops += "(" + human_count(t.errors) + " err)";
      }
      // SHARE: "own" (its own CUDA context, time-sliced), "mps" (an MPS
      // client, all SMs) or "mps:N%" (its MPS SM share).
      const std::string share = !s.active ? "-"
                                : !s.mps  ? "own"
                                : s.sm_percent ? "mps:" + std::to_string(s.sm_percent) + "%"
                                               : "mps";
      std::printf("%-4u %-8s %-8s %-4s %-8s %-7s %-24s %-9s %-9s %-9s %-7s %-7s %-6s %-6s %s\n", i,
                  s.guest_pid ? std::to_string(s.guest_pid).c_str() : "-",
                  s.worker_pid && s.active ? std::to_string(s.worker_pid).c_str() : "-",
                  s.active ? backend_name(s.backend) : "-", share.c_str(), s.active ? human_uptime(s.started_unix_ms, now).c_str() : "idle",
                  mem.c_str(), cpsbuf, human_bytes(s.bytes_htod).c_str(), human_bytes(s.bytes_dtoh).c_str(),
                  human_count(s.launches).c_str(), human_count(s.gemms).c_str(), human_count(s.graph_launches).c_str(),
                  human_count(s.errors).c_str(), tops.c_str());
    }
    if (!shown) std::printf("(no guests)\n");
    std::printf("\n");
  }
  std::fflush(stdout);
}

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

void usage(FILE* f) {
  std::fputs(
      "usage: vgpu-smi [--stats PATH | --region PATH]... [--json] [--once | --watch] [--interval MS] [--all] [--top N]\n"
      "  --stats PATH    a stats file vgpu-hostd writes (default: every /dev/shm/vgpu-*.stats)\n"
      "  --region PATH   the region served by vgpu-hostd; reads PATH.stats\n"
      "  --json          one JSON object instead of the table\n"
      "  --once          one report, then exit (the default)\n"
      "  --watch         a report every interval until interrupted\n"
      "  --interval MS   time between the two samples that give calls/s (default 1000; 0: no rates)\n"
      "  --all           also show slots no guest is using\n"
      "  --top N         most frequent operations listed per slot (default 5)\n",
      f);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "vgpu-smi: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--stats") o.paths.push_back(value());
    else if (a == "--region") o.paths.push_back(value() + ".stats");
    else if (a == "--json") o.json = true;
    else if (a == "--once") o.watch = false;
    else if (a == "--watch") o.watch = true;
    else if (a == "--all") o.all = true;
    else if (a == "--interval") o.interval_ms = static_cast<uint32_t>(std::strtoul(value().c_str(), nullptr, 10));
    else if (a == "--top") o.top = static_cast<uint32_t>(std::strtoul(value().c_str(), nullptr, 10));
    else if (a == "-h" || a == "--help") return usage(stdout), 0;
    else {
      std::fprintf(stderr, "vgpu-smi: unknown option %s\n", a.c_str());
      return usage(stderr), 2;
    }
  }
  const bool found_by_glob = o.paths.empty();
  if (o.paths.empty()) {
    glob_t g{};
    if (glob("/dev/shm/vgpu-*.stats", 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) o.paths.push_back(g.gl_pathv[i]);
    globfree(&g);
    if (o.paths.empty()) {
      std::fprintf(stderr, "vgpu-smi: no /dev/shm/vgpu-*.stats: vgpu-hostd is not running (or serves no region)\n");
      return 1;
    }
  }
  std::vector<std::unique_ptr<StatsFile>> files;
  int rc = 0, orphans = 0;
  for (const auto& p : o.paths) {
    auto f = std::make_unique<StatsFile>();
    std::string err;
    if (!f->open(p, &err)) {
      std::fprintf(stderr, "vgpu-smi: %s\n", err.c_str());
      if (!found_by_glob) rc = 2;
      continue;
    }
    // Found by the default glob: a file left behind by a daemon that is gone
    // and whose region file is gone too is nobody's; skip it.
    if (found_by_glob && !pid_alive(f->header()->daemon_pid) && access(f->region().c_str(), F_OK) != 0) {
      ++orphans;
      continue;
    }
    files.push_back(std::move(f));
  }
  if (orphans)
    std::fprintf(stderr, "vgpu-smi: ignored %d stats file(s) left behind by daemons that are gone (their regions too)\n",
                 orphans);
  if (files.empty()) {
    if (found_by_glob && rc == 0) {
      std::fprintf(stderr, "vgpu-smi: vgpu-hostd is not running\n");
      return 1;
    }
    return rc ? rc : 2;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<Sample> prev(files.size());
  for (size_t i = 0; i < files.size(); ++i) prev[i] = files[i]->sample();
  // The daemon bumps its heartbeat every ~100 ms: allow several periods.
  constexpr uint64_t kHeartbeatWindowMs = 500;
  bool first = true;
  do {
    const uint64_t wait = o.interval_ms;
    const uint64_t t0 = mono_ms();
    while (!g_stop.load() && mono_ms() - t0 < wait) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::vector<Report> reports;
    bool all_running = true;
    for (size_t i = 0; i < files.size(); ++i) {
      Report r{files[i].get(), prev[i], files[i]->sample()};
      r.pid_alive = pid_alive(files[i]->header()->daemon_pid);
      r.heartbeat_moved = r.last.heartbeat != r.first.heartbeat;
      // A short interval may fall between two beats: watch a little longer.
      const uint64_t since = mono_ms();
      while (r.pid_alive && !r.heartbeat_moved && mono_ms() - r.first.at_ms < kHeartbeatWindowMs &&
             mono_ms() - since < kHeartbeatWindowMs) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        r.heartbeat_moved = files[i]->header()->heartbeat.load(std::memory_order_relaxed) != r.first.heartbeat;
      }
      all_running = all_running && r.running();
      prev[i] = r.last;
      reports.push_back(std::move(r));
    }
    const uint64_t now = unix_ms();
    if (o.watch && !o.json && !first) std::fputs("\033[H\033[2J", stdout);
    if (o.json) print_json(reports, o, now);
    else print_table(reports, o, now);
    if (!all_running && rc == 0) rc = 1;
    first = false;
    if (o.watch && o.interval_ms == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  } while (o.watch && !g_stop.load());
  return rc;
}
