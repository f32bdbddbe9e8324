// The process list, shared by the public entry points (nvml_processes.cc)
// and nvidia-smi's private table (nvml_export_table.cc).
#pragma once

#include <cstddef>

#include "nvml_internal.h"

namespace vgpu::guest::nvml {

// The guest's processes on the device (Op::NvmlProcesses).
nvmlReturn_t processes(nvmlDevice_t dev, NvmlProcessesRep* out);
// A guest pid's command name (its cmdline's first argument, else its comm), NUL-terminated.
bool process_name(unsigned pid, char* out, size_t length);

}  // namespace vgpu::guest::nvml
