#include "region_conf.h"

#include <grp.h>
#include <pwd.h>

#include <cstdint>
#include <limits>
#include <set>
#include <sstream>

#include "config_values.h"

namespace vgpu::host {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") + 1 - b);
}

// Decimal digits only (no sign, no suffix), at most `max`: the form of the
// command line's numbers (config_values.h).
bool number(const std::string& v, uint64_t max, uint64_t* out) {
  std::string why;
  return parse_whole_number(v, 0, max, out, &why);
}

}  // namespace

bool parse_owner(const std::string& spec, int* uid, int* gid, std::string* err) {
  const auto colon = spec.find(':');
  const std::string user = spec.substr(0, colon);
  const std::string group = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (!user.empty()) {
    const passwd* pw = getpwnam(user.c_str());
    if (!pw) return *err = "no user " + user, false;
    *uid = static_cast<int>(pw->pw_uid);
    *gid = static_cast<int>(pw->pw_gid);
  }
  if (!group.empty()) {
    const struct group* gr = getgrnam(group.c_str());
    if (!gr) return *err = "no group " + group, false;
    *gid = static_cast<int>(gr->gr_gid);
  }
  return true;
}

bool parse_region_conf(const std::string& text, const RegionOptions& defaults, RegionOptions* out, std::string* err) {
  RegionOptions o = defaults;
  o.path.clear();
  std::set<std::string> seen;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    for (size_t h = line.find('#'); h != std::string::npos; h = line.find('#', h + 1))
      if (h == 0 || line[h - 1] == ' ' || line[h - 1] == '\t') {
        line.erase(h);
        break;
      }
    line = trim(line);
    if (line.empty()) continue;
    auto fail = [&](const std::string& m) { return *err = "line " + std::to_string(n) + ": " + m, false; };
    const auto eq = line.find('=');
    if (eq == std::string::npos) return fail("expected key = value");
    const std::string key = trim(line.substr(0, eq)), v = trim(line.substr(eq + 1));
    if (!seen.insert(key).second) return fail(key + " given twice");
    uint64_t x = 0;
    auto num = [&](uint64_t max) { return number(v, max, &x); };
    const std::string bad = "bad value for " + key + ": '" + v + "'";
    if (key == "region") {
      if (v.empty() || v[0] != '/') return fail("region must be an absolute path");
      o.path = v;
    } else if (key == "slots") {
      if (!num(UINT32_MAX)) return fail(bad);
      o.config.slot_count = static_cast<uint32_t>(x);
    } else if (key == "channels") {
      if (!num(UINT32_MAX)) return fail(bad);
      o.config.channels_per_slot = static_cast<uint32_t>(x);
    } else if (key == "arena_mb") {
      if (!num(UINT64_MAX >> 20)) return fail(bad);
      o.config.arena_bytes = x << 20;
    } else if (key == "ring_kb") {
      if (!num(UINT32_MAX >> 10)) return fail(bad);
      o.config.cmd_ring_bytes = static_cast<uint32_t>(x << 10);
    } else if (key == "mem_quota_mb") {
      if (!num(UINT64_MAX >> 20)) return fail(bad);
      o.worker.mem_quota = x << 20;
    } else if (key == "guest_timeout_ms") {
      if (!num(UINT32_MAX) || x == 0) return fail(bad);
      o.worker.guest_timeout_ms = static_cast<uint32_t>(x);
    } else if (key == "backend") {
      if (v == "auto") o.worker.backend = BackendChoice::kAuto;
      else if (v == "cuda") o.worker.backend = BackendChoice::kCuda;
      else if (v == "cpu") o.worker.backend = BackendChoice::kCpu;
      else return fail(bad + " (auto, cuda or cpu)");
    } else if (key == "isolation") {
      if (v == "shared") o.worker.strict_isolation = false;
      else if (v == "strict") o.worker.strict_isolation = true;
      else return fail(bad + " (shared or strict)");
    } else if (key == "sm_percent") {
      if (!num(100) || x == 0) return fail(bad + " (1 to 100)");
      o.worker.sm_percent = static_cast<uint32_t>(x);
    } else if (key == "owner") {
      std::string why;
      o.uid = o.gid = -1;
      if (v.empty() || !parse_owner(v, &o.uid, &o.gid, &why)) return fail(v.empty() ? bad : why);
    } else if (key == "mode") {
      std::string why;
      if (!parse_octal_mode(v, &o.mode, &why)) return fail(bad + " (octal)");
    } else {
      return fail("unknown key '" + key + "'");
    }
  }
  if (o.path.empty()) return *err = "no region = PATH", false;
  Layout l;
  const char* why = nullptr;
  if (!compute_layout(o.config, &l, &why)) return *err = std::string("bad region layout: ") + why, false;
  *out = std::move(o);
  return true;
}

std::string describe(const RegionOptions& o) {
  static const char* const backends[] = {"auto", "cuda", "cpu"};
  std::ostringstream s;
  s << o.path << ": " << o.config.slot_count << " slots, " << o.config.channels_per_slot << " channels, "
    << (o.config.arena_bytes >> 20) << " MiB arena, " << (o.config.cmd_ring_bytes >> 10) << " KiB rings, quota ";
  if (o.worker.mem_quota) s << (o.worker.mem_quota >> 20) << " MiB";
  else s << "none";
  s << ", backend " << backends[static_cast<int>(o.worker.backend)] << ", guest timeout " << o.worker.guest_timeout_ms
    << " ms, isolation " << (o.worker.strict_isolation ? "strict" : "shared") << ", SM share ";
  if (o.worker.sm_percent) s << o.worker.sm_percent << "%";
  else s << "all";
  s << ", owner " << o.uid << ":" << o.gid << ", mode 0" << std::oct << o.mode;
  return s.str();
}

}  // namespace vgpu::host
