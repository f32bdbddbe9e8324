#include "log.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>

#include "config.h"

namespace vgpu::guest {

void debug_log(const char* fmt, ...) {
  if (!guest_config().debug) return;
  va_list ap;
  va_start(ap, fmt);
  std::fputs("vgpu: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

void log_unsupported(const char* name) {
  // Never destroyed: NVIDIA's runtime calls the driver from its own ELF
  // destructor, after this library's static destructors.
  static std::mutex& mu = *new std::mutex;
  static auto& seen = *new std::set<std::string>;
  std::lock_guard lk(mu);
  if (seen.insert(name).second) std::fprintf(stderr, "vgpu: %s is not supported; returning an error\n", name);
}

}  // namespace vgpu::guest
