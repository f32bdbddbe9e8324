// The guest libraries' own lines on stderr: the once-per-name refusals every
// library reports (design.md, "Real or refused") and the debug lines shown
// under VGPU_DEBUG.
#pragma once

namespace vgpu::guest {

// Logs "vgpu: <name> is not supported" once per name, to stderr.
void log_unsupported(const char* name);
// Logs a line to stderr under VGPU_DEBUG.
void debug_log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace vgpu::guest
