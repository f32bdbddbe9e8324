#include "host_config.h"

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "config_values.h"
#include "mapping.h"

namespace vgpu::host {
namespace {

constexpr uint64_t kMiB = uint64_t(1) << 20;

// One setting: its flag and/or its variable, and how a value is applied.
// `apply` gets the text as given (a switch's flag passes "1") and sets the
// setting, or returns false with the accepted form in `why`.
struct Setting {
  const char* flag;  // nullptr: environment only
  const char* arg;   // the value's name in --help; nullptr: a switch, no value
  const char* env;   // nullptr: command line only
  const char* help;  // for --help; '\n' continues on the next line
  bool (*apply)(std::string_view v, HostConfig& c, std::string* why);
};

WorkerOptions& worker(HostConfig& c) { return c.daemon.defaults.worker; }
RegionConfig& layout(HostConfig& c) { return c.daemon.defaults.config; }

// A whole number in [lo, hi] times `unit` into *out; hi * unit must fit T.
template <class T>
bool number(std::string_view v, uint64_t lo, uint64_t hi, uint64_t unit, T* out, std::string* why,
            const char* unit_name = nullptr) {
  uint64_t n = 0;
  if (!parse_whole_number(v, lo, hi, &n, why)) {
    if (unit_name) *why += std::string(" (") + unit_name + ")";
    return false;
  }
  *out = static_cast<T>(n * unit);
  return true;
}

bool pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

const Setting kSettings[] = {
    {"--region", "PATH", nullptr,
     "region file to serve (repeatable; default /dev/shm/vgpu-0\nunless --config-dir is given)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       std::string p;
       if (!parse_path(v, false, &p, why)) return false;
       c.daemon.regions.push_back(p);
       return true;
     }},
    {"--name", "NAME", nullptr, "same as --region /dev/shm/vgpu-NAME",
     [](std::string_view v, HostConfig& c, std::string* why) {
       std::string n;
       if (!parse_path(v, false, &n, why) || n.find('/') != std::string::npos)
         return *why = "a name without '/' or control characters", false;
       c.daemon.regions.push_back(default_region_path(n));
       return true;
     }},
    {"--config-dir", "DIR", nullptr,
     "also serve one region per DIR/*.conf (see docs/vm.md), picked up,\nrestarted or stopped as files appear, change "
     "or go; the options\nbelow are the defaults for what a file leaves out",
     [](std::string_view v, HostConfig& c, std::string* why) { return parse_path(v, false, &c.daemon.config_dir, why); }},
    {"--rescan-ms", "N", nullptr, "rescan DIR this often (default 1000; 0: only on SIGHUP)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return number(v, 0, UINT32_MAX, 1, &c.daemon.rescan_ms, why, "milliseconds");
     }},
    {"--backend", "B", nullptr, "auto (CUDA if a GPU works, else CPU), cuda, or cpu (default auto)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       unsigned i = 0;
       if (!parse_choice(v, {"auto", "cuda", "cpu"}, &i, why)) return false;
       worker(c).backend = static_cast<BackendChoice>(i);
       return true;
     }},
    {"--device", "N", nullptr, "host GPU ordinal to serve (default 0)",
     [](std::string_view v, HostConfig& c, std::string* why) { return number(v, 0, 1023, 1, &worker(c).device, why); }},
    {"--slots", "N", nullptr, "guest processes per region, 1-64 (default 4)",
     [](std::string_view v, HostConfig& c, std::string* why) { return number(v, 1, 64, 1, &layout(c).slot_count, why); }},
    {"--channels", "N", nullptr, "channels (guest threads) per slot, 1-64 (default 8)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return number(v, 1, 64, 1, &layout(c).channels_per_slot, why);
     }},
    {"--arena-mb", "N", nullptr, "bulk data arena per slot, MiB, 1-65536 (default 256)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return number(v, 1, 65536, kMiB, &layout(c).arena_bytes, why, "MiB");
     }},
    {"--ring-kb", "N", nullptr, "command ring per channel, KiB, a power of two, 4-262144 (default 1024)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       uint64_t kb = 0;
       if (!parse_whole_number(v, 4, 262144, &kb, why) || !pow2(kb))
         return *why = "a power of two from 4 to 262144 (KiB)", false;
       layout(c).cmd_ring_bytes = static_cast<uint32_t>(kb << 10);
       return true;
     }},
    {"--mem-quota-mb", "N", nullptr, "device memory limit per guest process, MiB (default 0: none)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return number(v, 0, UINT64_MAX / kMiB, kMiB, &worker(c).mem_quota, why, "MiB");
     }},
    {"--guest-timeout-ms", "N", nullptr, "end a session whose guest stops its heartbeat this long (default 5000)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return number(v, 1, UINT32_MAX, 1, &worker(c).guest_timeout_ms, why, "milliseconds");
     }},
    {"--region-owner", "U[:G]", nullptr, "give the region files to this user/group (the VM's QEMU)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       RegionOptions& d = c.daemon.defaults;
       std::string unknown;
       if (!v.empty() && parse_owner(std::string(v), &d.uid, &d.gid, &unknown)) return true;
       *why = "user, user:group or :group, of names this host knows";
       if (!unknown.empty()) *why += " (" + unknown + ")";
       return false;
     }},
    {"--region-mode", "MODE", nullptr, "octal file mode of the region files (default 0600)",
     [](std::string_view v, HostConfig& c, std::string* why) { return parse_octal_mode(v, &c.daemon.defaults.mode, why); }},
    {"--mps", "M", nullptr,
     "NVIDIA MPS for the GPU: auto (on when nvidia-cuda-mps-control is\nthere and a client can join), on, off (default "
     "auto)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       unsigned i = 0;
       if (!parse_choice(v, {"auto", "on", "off"}, &i, why)) return false;
       c.daemon.mps.mode = i == 0 ? MpsMode::kAuto : i == 1 ? MpsMode::kOn : MpsMode::kOff;
       return true;
     }},
    {"--mps-pipe-dir", "DIR", nullptr,
     "MPS control daemon's pipe folder: joined if one runs there, else\nours is started there (default: a running one in\n"
     "$CUDA_MPS_PIPE_DIRECTORY or /tmp/nvidia-mps, else /run/vgpu-hostd/mps)",
     [](std::string_view v, HostConfig& c, std::string* why) { return parse_path(v, false, &c.daemon.mps.pipe_dir, why); }},
    {"--mps-log-dir", "DIR", nullptr, "its log folder (default PIPE_DIR/log)",
     [](std::string_view v, HostConfig& c, std::string* why) { return parse_path(v, false, &c.daemon.mps.log_dir, why); }},
    {"--isolation", "I", nullptr,
     "shared (guests are MPS clients when MPS is on) or strict (own\ncontexts, never MPS: a GPU fault ends only that "
     "guest) (default shared)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       unsigned i = 0;
       if (!parse_choice(v, {"shared", "strict"}, &i, why)) return false;
       worker(c).strict_isolation = i == 1;
       return true;
     }},
    {"--sm-percent", "N", nullptr, "an MPS client's share of the SMs, 1-100 (default: all)",
     [](std::string_view v, HostConfig& c, std::string* why) { return number(v, 1, 100, 1, &worker(c).sm_percent, why); }},
    // The per-session limits (session_limits.h); the e2e tests lower them
    // through the daemon's environment.
    {"--max-module-mb", "N", "VGPU_MAX_MODULE_MB", "module images a guest process may hold loaded, MiB\n(default 4096)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return number(v, 1, UINT64_MAX / kMiB, kMiB, &worker(c).limits.module_bytes, why, "MiB");
     }},
    {"--max-reserve-mb", "N", "VGPU_MAX_RESERVE_MB",
     "address space a guest process may reserve (cuMemAddressReserve),\nMiB (default 4194304)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return number(v, 1, UINT64_MAX / kMiB, kMiB, &worker(c).limits.reserved_bytes, why, "MiB");
     }},
    // 2^36: the handle table issues no more ids than that (handles.h).
    {"--max-handles", "N", "VGPU_MAX_HANDLES",
     "live handles, and separately live allocations, per guest process\n(default 1048576)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return number(v, 1, uint64_t(1) << 36, 1, &worker(c).limits.handles, why);
     }},
    {"--cpu-mem-mb", "N", "VGPU_CPU_MEM_MB", "the CPU backend's device memory (host RAM), MiB\n(default 4096)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return number(v, 1, (uint64_t(1) << 24) - 1, kMiB, &worker(c).cpu_memory_bytes, why, "MiB");
     }},
    {"--trace", nullptr, "VGPU_TRACE", "log every call",
     [](std::string_view v, HostConfig& c, std::string* why) { return parse_bool(v, &worker(c).trace, why); }},
    {"--profile", nullptr, "VGPU_PROFILE", "time every op on the host; a table per session when it ends",
     [](std::string_view v, HostConfig& c, std::string* why) { return parse_bool(v, &worker(c).profile, why); }},
    // What the MPS code interprets of the environment (mps.h says why these
    // are configuration and the rest of CUDA_MPS_* is not).
    {nullptr, nullptr, "CUDA_MPS_PIPE_DIRECTORY", "an operator's MPS control daemon to join (absolute path)",
     [](std::string_view v, HostConfig& c, std::string* why) {
       return parse_path(v, true, &c.daemon.mps.operator_pipe_dir, why);
     }},
    {nullptr, nullptr, "TMPDIR", "where our MPS folders go when /run is not writable (absolute path)",
     [](std::string_view v, HostConfig& c, std::string* why) { return parse_path(v, true, &c.daemon.mps.tmp_dir, why); }},
    {nullptr, nullptr, "PATH", "where nvidia-cuda-mps-control is looked for first",
     [](std::string_view v, HostConfig& c, std::string*) {
       c.daemon.mps.search_path = std::string(v);
       return true;
     }},
};

std::string quoted(std::string_view v) { return "'" + std::string(v) + "'"; }

}  // namespace

bool parse_host_config(std::span<const char* const> args, const EnvLookup& env, HostConfig* out,
                       std::string* err) {
  HostConfig c;
  std::string why;
  for (const Setting& s : kSettings) {
    if (!s.env) continue;
    const char* v = env(s.env);
    if (v == nullptr || *v == '\0') continue;
    if (!s.apply(v, c, &why)) return *err = std::string(s.env) + "=" + quoted(v) + ": expected " + why, false;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      c.help = true;
      continue;
    }
    const Setting* s = nullptr;
    for (const Setting& t : kSettings)
      if (t.flag && a == t.flag) s = &t;
    if (!s) return *err = "unknown option " + quoted(a), false;
    if (!s->arg) {
      if (!s->apply("1", c, &why)) return *err = std::string(a) + ": " + why, false;
      continue;
    }
    if (i + 1 >= args.size()) {
      s->apply("", c, &why);  // for the accepted form; an empty value is refused by every setting with a value
      return *err = std::string(a) + " needs a value: " + why, false;
    }
    const std::string_view v = args[++i];
    if (!s->apply(v, c, &why)) return *err = std::string(a) + " " + quoted(v) + ": expected " + why, false;
  }
  if (c.help) return *out = std::move(c), true;

  DaemonOptions& d = c.daemon;
  if (d.regions.empty() && d.config_dir.empty()) d.regions.push_back(default_region_path("0"));
  while (d.config_dir.size() > 1 && d.config_dir.back() == '/') d.config_dir.pop_back();
  // A backstop: each layout flag's range is compute_layout's, so this fails
  // only if the two drift apart.
  Layout l;
  const char* bad = nullptr;
  if (!compute_layout(d.defaults.config, &l, &bad)) return *err = std::string("the region layout: ") + bad, false;
  *out = std::move(c);
  return true;
}

std::string host_config_usage() {
  std::string u = "usage: vgpu-hostd [options]\n";
  auto help = [&u](std::string_view h) {
    for (size_t b = 0, e; b < h.size(); b = e + 1) {
      e = h.find('\n', b);
      if (e == std::string_view::npos) e = h.size();
      if (b) u.append(23, ' ');
      u.append(h.substr(b, e - b)).push_back('\n');
    }
  };
  for (const Setting& s : kSettings) {
    if (!s.flag) continue;
    std::string left = std::string("  ") + s.flag + (s.arg ? std::string(" ") + s.arg : "");
    left.resize(std::max<size_t>(left.size() + 1, 23), ' ');
    u += left;
    std::string h = s.help;
    if (s.env) h += std::string(" (also ") + s.env + (s.arg ? "=N)" : "=1)");
    help(h);
  }
  u += "environment (a flag wins over its variable; an empty variable is unset;\n"
       "a malformed one stops the daemon):\n";
  for (const Setting& s : kSettings) {
    if (s.flag) continue;
    std::string left = std::string("  ") + s.env;
    left.resize(std::max<size_t>(left.size() + 1, 23), ' ');
    u += left;
    help(s.help);
  }
  u += "switch variables (VGPU_TRACE, VGPU_PROFILE) take 1, true, yes, on or 0, false, no, off\n";
  return u;
}

}  // namespace vgpu::host
