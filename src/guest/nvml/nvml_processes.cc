// The guest's processes on the device: every process of this guest that has
// a session with the host (one per slot of the guest's region), with the pid
// it has in the guest and the device memory its session holds, as the host
// counts it (Op::NvmlProcesses). Processes of other guests are never listed:
// the host answers from this region's slots only. There are no graphics or
// MPS processes in a remoted guest, so those lists are truly empty.
#include <cstdio>
#include <cstring>

#include "nvml_internal.h"
#include "nvml_processes.h"

using namespace vgpu;
using namespace vgpu::guest;
using namespace vgpu::guest::nvml;

namespace vgpu::guest::nvml {

nvmlReturn_t processes(nvmlDevice_t dev, NvmlProcessesRep* out) {
  VGPU_NVML_DEVICE(d, dev);
  (void)d;
  *out = {};
  if (Client::get().call<Op::NvmlProcesses>(Empty{}, out) != st::kOk) return NVML_ERROR_GPU_IS_LOST;
  if (out->count > kNvmlMaxProcesses) out->count = kNvmlMaxProcesses;
  return NVML_SUCCESS;
}

bool process_name(unsigned pid, char* out, size_t length) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%u/cmdline", pid);
  FILE* f = std::fopen(path, "re");
  size_t n = 0;
  if (f != nullptr) {
    n = std::fread(out, 1, length - 1, f);
    std::fclose(f);
  }
  if (n == 0) {  // a kernel thread or a process gone: its comm, if any
    std::snprintf(path, sizeof path, "/proc/%u/comm", pid);
    f = std::fopen(path, "re");
    if (f == nullptr) return false;
    n = std::fread(out, 1, length - 1, f);
    std::fclose(f);
    if (n > 0 && out[n - 1] == '\n') --n;
  }
  out[n] = '\0';  // cmdline's first argument ends at its NUL
  return n > 0;
}

}  // namespace vgpu::guest::nvml

namespace {

// NVML's protocol for these lists: *count in is the room in infos; out, the
// number of processes. Too little room: INSUFFICIENT_SIZE with the number.
template <class Info>
nvmlReturn_t compute_processes(nvmlDevice_t dev, unsigned int* count, Info* infos) {
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  NvmlProcessesRep rep{};
  if (nvmlReturn_t r = processes(dev, &rep)) return r;
  const unsigned room = *count;
  *count = rep.count;
  if (rep.count == 0) return NVML_SUCCESS;
  if (infos == nullptr || room < rep.count) return NVML_ERROR_INSUFFICIENT_SIZE;
  for (unsigned i = 0; i < rep.count; ++i) {
    Info x{};
    x.pid = rep.proc[i].pid;
    x.usedGpuMemory = rep.proc[i].used_bytes;
    if constexpr (sizeof(Info) > sizeof(nvmlProcessInfo_v1_t)) {
      x.gpuInstanceId = ~0u;  // not MIG
      x.computeInstanceId = ~0u;
    }
    infos[i] = x;
  }
  return NVML_SUCCESS;
}

nvmlReturn_t no_processes(nvmlDevice_t dev, unsigned int* count) {
  VGPU_NVML_DEVICE(d, dev);
  (void)d;
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *count = 0;
  return NVML_SUCCESS;
}

}  // namespace

extern "C" {

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t dev, unsigned int* count, nvmlProcessInfo_v1_t* infos) {
  return compute_processes(dev, count, infos);
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t dev, unsigned int* count, nvmlProcessInfo_t* infos) {
  return compute_processes(dev, count, infos);
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t dev, unsigned int* count, nvmlProcessInfo_t* infos) {
  return compute_processes(dev, count, infos);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t dev, unsigned int* count, void*) {
  return no_processes(dev, count);
}
nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t dev, unsigned int* count, void*) {
  return no_processes(dev, count);
}
nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t dev, unsigned int* count, nvmlProcessInfo_t*) {
  return no_processes(dev, count);
}
nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses(nvmlDevice_t dev, unsigned int* count, void*) {
  return no_processes(dev, count);
}
nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v2(nvmlDevice_t dev, unsigned int* count, void*) {
  return no_processes(dev, count);
}
nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v3(nvmlDevice_t dev, unsigned int* count, void*) {
  return no_processes(dev, count);
}

// A guest process' name, from the guest's own /proc (the pids NVML lists
// here are the guest's).
nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char* name, unsigned int length) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  if (name == nullptr || length == 0) return NVML_ERROR_INVALID_ARGUMENT;
  char buf[4096];
  if (!process_name(pid, buf, sizeof buf)) return NVML_ERROR_NOT_FOUND;
  return copy_text(buf, name, length);
}

}  // extern "C"
