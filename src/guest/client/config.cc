#include "config.h"

#include <cstdio>
#include <cstdlib>

namespace vgpu::guest {

namespace env {

namespace {
bool same_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}
}  // namespace

bool Flag::parse(std::string_view s, Value* out) {
  for (const char* on : {"1", "true", "yes", "on"}) {
    if (same_ignoring_case(s, on)) {
      *out = true;
      return true;
    }
  }
  for (const char* off : {"0", "false", "no", "off"}) {
    if (same_ignoring_case(s, off)) {
      *out = false;
      return true;
    }
  }
  return false;
}

bool ModuleLoadingMode::parse(std::string_view s, Value* out) {
  if (s == "EAGER") {
    *out = ModuleLoading::kEager;
    return true;
  }
  if (s == "LAZY" || s == "DEFAULT") {
    *out = ModuleLoading::kLazy;
    return true;
  }
  return false;
}

}  // namespace env

namespace {

// The value as the message quotes it: printable ASCII kept, anything else
// escaped, and cut short, so a binary or huge value makes one readable line.
std::string quoted(std::string_view v) {
  constexpr size_t kMaxShown = 64;
  std::string q = "\"";
  for (size_t i = 0; i < v.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      q += static_cast<char>(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      q += esc;
    }
  }
  if (v.size() > kMaxShown) q += "...";
  return q + "\"";
}

template <class Kind>
void read_one(const EnvLookup& env, const char* name, typename Kind::Value* field,
              std::vector<std::string>* complaints) {
  const char* raw = env(name);
  if (!raw || (!*raw && !Kind::kEmptyIsAValue)) return;
  typename Kind::Value v{};
  if (Kind::parse(raw, &v)) {
    *field = std::move(v);
    return;
  }
  complaints->push_back(std::string(name) + "=" + quoted(raw) + " is not valid (expected " + Kind::form() +
                        "); using the default, " + Kind::show(*field));
}

}  // namespace

GuestConfig parse_guest_config(const EnvLookup& env, std::vector<std::string>* complaints) {
  GuestConfig c;
#define VGPU_GUEST_ENV_READ(NAME, field, Kind, def, what) read_one<Kind>(env, #NAME, &c.field, complaints);
  VGPU_GUEST_ENV(VGPU_GUEST_ENV_READ)
#undef VGPU_GUEST_ENV_READ
  return c;
}

const GuestConfig& guest_config() {
  // Never destroyed: other libraries' destructors may still log at exit.
  static const GuestConfig* c = [] {
    std::vector<std::string> complaints;
    auto* parsed = new GuestConfig(parse_guest_config([](const char* name) { return std::getenv(name); }, &complaints));
    for (const std::string& line : complaints) std::fprintf(stderr, "vgpu: %s\n", line.c_str());
    return parsed;
  }();
  return *c;
}

}  // namespace vgpu::guest
