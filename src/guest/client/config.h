// The guest libraries' configuration: every environment variable they read,
// declared once, parsed once, handed down from there.
//
// VGPU_GUEST_ENV(X) names each variable with the GuestConfig field it sets,
// the kind of value it takes (the kind parses it and says which form it
// accepts) and its default. GuestConfig's fields and the parser both come
// from that list; nothing else in the guest libraries or the ring layer reads
// the environment (guest_config() is the one place that calls getenv).
//
// Rejected values: a library cannot refuse to load over a bad environment
// variable (the program linking it would die before main, over a typo), so a
// value the parser rejects is reported once, on stderr, naming the variable,
// its value and the form it accepts, and the default is used instead.
//
// Empty values: an empty value is the same as an unset one, except where
// CUDA itself gives the empty value a meaning (CUDA_VISIBLE_DEVICES= hides
// every device), which the Verbatim kind keeps.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host_watch.h"

namespace vgpu::guest {

// CUDA_MODULE_LOADING, as NVIDIA's driver reads it.
enum class ModuleLoading : uint8_t { kLazy, kEager };

// The kinds of value a variable takes. Each has:
//   Value                  the field's type;
//   parse(text, &value)    false for text it does not accept (value untouched);
//   form()                 the accepted form, for the message;
//   show(value)            a value as the message prints the default;
//   kEmptyIsAValue         whether an empty value is parsed rather than unset.
namespace env {

// A whole decimal number from Min to Max (digits only: no sign, no spaces,
// no unit), as the _MS and _THREADS variables take.
template <uint32_t Min, uint32_t Max>
struct Number {
  static_assert(Min <= Max);
  using Value = uint32_t;
  static constexpr bool kEmptyIsAValue = false;
  static bool parse(std::string_view s, Value* out) {
    if (s.empty()) return false;
    uint64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
      if (v > Max) return false;  // also keeps v from overflowing
    }
    if (v < Min) return false;
    *out = static_cast<Value>(v);
    return true;
  }
  static std::string form() { return "a whole number from " + std::to_string(Min) + " to " + std::to_string(Max); }
  static std::string show(Value v) { return std::to_string(v); }
};

// On or off: 1, true, yes, on / 0, false, no, off (any case).
struct Flag {
  using Value = bool;
  static constexpr bool kEmptyIsAValue = false;
  static bool parse(std::string_view s, Value* out);
  static std::string form() { return "1, true, yes or on; 0, false, no or off"; }
  static std::string show(Value v) { return v ? "on" : "off"; }
};

// A file or folder name: any text is one (whether it exists is for the code
// that opens it to say).
struct Path {
  using Value = std::string;
  static constexpr bool kEmptyIsAValue = false;
  static bool parse(std::string_view s, Value* out) {
    out->assign(s);
    return true;
  }
  static std::string form() { return "a path"; }
  static std::string show(const Value& v) { return v.empty() ? "unset" : v; }
};

// LAZY, EAGER or DEFAULT (lazy), spelled as NVIDIA's driver spells them.
struct ModuleLoadingMode {
  using Value = ModuleLoading;
  static constexpr bool kEmptyIsAValue = false;
  static bool parse(std::string_view s, Value* out);
  static std::string form() { return "LAZY, EAGER or DEFAULT"; }
  static std::string show(Value v) { return v == ModuleLoading::kEager ? "EAGER" : "LAZY"; }
};

// Kept as it is, set (even empty) or not: for a variable whose every value
// means something to the code reading it, as CUDA_VISIBLE_DEVICES' does
// (an entry that names no device hides the devices from there on).
struct Verbatim {
  using Value = std::optional<std::string>;
  static constexpr bool kEmptyIsAValue = true;
  static bool parse(std::string_view s, Value* out) {
    out->emplace(s);
    return true;
  }
  static std::string form() { return "any text"; }
  static std::string show(const Value& v) { return v ? *v : "unset"; }
};

using ConnectTimeoutMs = Number<1, 3'600'000>;
// A live host beats every 100 ms: below two beats it would look dead.
using HostTimeoutMs = Number<200, 3'600'000>;
using CopyThreads = Number<1, 64>;

}  // namespace env

// NAME, field, kind, default, what it does.
#define VGPU_GUEST_ENV(X)                                                                                    \
  X(VGPU_REGION, region, env::Path, "",                                                                      \
    "the region file to attach; unset: /dev/shm/vgpu-0 if it exists, else the ivshmem device")              \
  X(VGPU_SYSFS_PCI, sysfs_pci, env::Path, "/sys/bus/pci/devices", "where to look for the ivshmem device")  \
  X(VGPU_CONNECT_TIMEOUT_MS, connect_timeout_ms, env::ConnectTimeoutMs, 30000,                              \
    "how long a starting guest waits for a live but slow host to serve it")                                 \
  X(VGPU_HOST_TIMEOUT_MS, host_timeout_ms, env::HostTimeoutMs, HostWatch::kRunningStaleMs,                  \
    "how long a still host heartbeat takes to fail a running guest's calls")                                \
  X(VGPU_COPY_THREADS, copy_threads, env::CopyThreads, 4,                                                   \
    "threads splitting a staged copy's memcpy (at most half this machine's CPUs are used)")                 \
  X(VGPU_DEBUG, debug, env::Flag, false, "debug lines on stderr")                                           \
  X(VGPU_TRACE_EXPORTS, trace_exports, env::Flag, false, "trace the export tables NVIDIA's runtime uses")   \
  X(CUDA_MODULE_LOADING, module_loading, env::ModuleLoadingMode, ModuleLoading::kLazy,                      \
    "when a module's code is loaded, as NVIDIA's driver reads it")                                          \
  X(CUDA_VISIBLE_DEVICES, visible_devices, env::Verbatim, std::nullopt,                                     \
    "which devices CUDA shows, as NVIDIA's driver reads it")

struct GuestConfig {
#define VGPU_GUEST_ENV_FIELD(NAME, field, Kind, def, what) Kind::Value field = def;
  VGPU_GUEST_ENV(VGPU_GUEST_ENV_FIELD)
#undef VGPU_GUEST_ENV_FIELD
};

// Where the parser reads a variable: nullptr when unset. The process'
// environment for guest_config(), a test's table otherwise.
using EnvLookup = std::function<const char*(const char* name)>;

// Parses every variable of VGPU_GUEST_ENV. Each value rejected leaves its
// field at the default and adds one line to *complaints, naming the
// variable, the value, the accepted form and the default used.
GuestConfig parse_guest_config(const EnvLookup& env, std::vector<std::string>* complaints);

// The process' configuration, parsed from its environment on first use; the
// complaints, if any, go to stderr then, once.
const GuestConfig& guest_config();

}  // namespace vgpu::guest
