// CudaBackend: NVML for the guest's libnvidia-ml: the device's figures
// (utilisation, temperature, power) and the system's version texts (driver,
// NVML). NVML is dlopen'ed on first use, so a host without it (or with a
// broken one) fails only these calls; the rest of the backend never needs it.
//
// The toolkit ships no nvml.h; the few declarations we need are NVML's
// stable C ABI, repeated here.
#include <dlfcn.h>

#include <cstring>

#include "cuda_backend.h"

namespace vgpu::host::cuda {

namespace {
using nvmlReturn_t = int;
struct nvmlDevice_st;
using nvmlDevice_t = nvmlDevice_st*;
struct nvmlUtilization_t {
  unsigned int gpu;
  unsigned int memory;
};
constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr nvmlReturn_t NVML_ERROR_UNINITIALIZED = 1;
constexpr nvmlReturn_t NVML_ERROR_LIBRARY_NOT_FOUND = 12;
constexpr nvmlReturn_t NVML_ERROR_FUNCTION_NOT_FOUND = 13;
constexpr int NVML_TEMPERATURE_GPU = 0;
}  // namespace

struct CudaBackend::Nvml {
  void* lib = nullptr;
  bool initialized = false;
  // The session's device in NVML, looked up (by PCI bus id) on the first
  // nvml_query; device_status is that lookup's result.
  bool device_tried = false;
  nvmlReturn_t device_status = NVML_SUCCESS;
  nvmlDevice_t device = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*driver_version)(char*, unsigned int) = nullptr;
  nvmlReturn_t (*nvml_version)(char*, unsigned int) = nullptr;
  nvmlReturn_t (*handle_by_pci)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned int*) = nullptr;
  nvmlReturn_t (*power)(nvmlDevice_t, unsigned int*) = nullptr;
};

namespace {
template <class F>
void bind(void* lib, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
}
}  // namespace

void CudaBackend::nvml_unload() {
  if (nvml_ == nullptr) return;
  if (nvml_->initialized && nvml_->shutdown) nvml_->shutdown();
  // The library stays mapped: NVML does not promise a clean dlclose.
  delete nvml_;
  nvml_ = nullptr;
}

CudaBackend::Nvml* CudaBackend::nvml_open() {
  if (nvml_tried_) return nvml_;
  nvml_tried_ = true;
  nvml_load_status_ = NVML_SUCCESS;
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    log("NVML unavailable: %s", e ? e : "dlopen(libnvidia-ml.so.1) failed");
    nvml_load_status_ = NVML_ERROR_LIBRARY_NOT_FOUND;
    return nullptr;
  }
  if (dlsym(lib, "vgpu_guest_marker") != nullptr) {
    log("NVML unavailable: libnvidia-ml.so.1 on the daemon's library path is the vgpu GUEST library");
    nvml_load_status_ = NVML_ERROR_LIBRARY_NOT_FOUND;
    dlclose(lib);
    return nullptr;
  }
  auto* n = new Nvml;
  n->lib = lib;
  bind(lib, "nvmlInit_v2", &n->init);
  bind(lib, "nvmlShutdown", &n->shutdown);
  bind(lib, "nvmlSystemGetDriverVersion", &n->driver_version);
  bind(lib, "nvmlSystemGetNVMLVersion", &n->nvml_version);
  bind(lib, "nvmlDeviceGetHandleByPciBusId_v2", &n->handle_by_pci);
  bind(lib, "nvmlDeviceGetUtilizationRates", &n->utilization);
  bind(lib, "nvmlDeviceGetTemperature", &n->temperature);
  bind(lib, "nvmlDeviceGetPowerUsage", &n->power);
  if (!n->init || !n->shutdown) {
    log("NVML unavailable: libnvidia-ml.so.1 lacks nvmlInit_v2 / nvmlShutdown");
    nvml_load_status_ = NVML_ERROR_FUNCTION_NOT_FOUND;
    delete n;
    return nullptr;
  }
  if (nvmlReturn_t r = n->init(); r != NVML_SUCCESS) {
    log("nvmlInit_v2 failed: %d", r);
    nvml_load_status_ = r;
    delete n;
    return nullptr;
  }
  n->initialized = true;
  nvml_ = n;
  return nvml_;
}

// NVML's own texts, forwarded as they are. Each is read on its own: a host
// NVML without one of the calls leaves that text empty, and the guest
// refuses just that call.
void CudaBackend::version_texts(HelloRep* out) {
  out->driver_version_text[0] = '\0';
  out->nvml_version_text[0] = '\0';
  Nvml* n = nvml_open();
  if (n == nullptr) return;
  auto read = [](nvmlReturn_t (*fn)(char*, unsigned int), const char* what, char (&dst)[kVersionTextBytes]) {
    if (fn == nullptr) {
      log("NVML: %s missing; the guest's %s is refused", what, what);
      return;
    }
    // kVersionTextBytes is NVML's own buffer size for these texts.
    if (nvmlReturn_t r = fn(dst, sizeof dst); r != NVML_SUCCESS) {
      log("%s failed: %d; the guest's %s is refused", what, r, what);
      dst[0] = '\0';
      return;
    }
    dst[sizeof dst - 1] = '\0';
  };
  read(n->driver_version, "nvmlSystemGetDriverVersion", out->driver_version_text);
  read(n->nvml_version, "nvmlSystemGetNVMLVersion", out->nvml_version_text);
}

Status CudaBackend::nvml_query(NvmlRep* out) {
  std::memset(out, 0, sizeof *out);
  if (!initialized_) {  // the device's PCI bus id names the NVML device
    out->status = NVML_ERROR_UNINITIALIZED;
    return st::kNotInitialized;
  }
  Nvml* n = nvml_open();
  if (n == nullptr) {
    out->status = nvml_load_status_;
    return st::kNotSupported;
  }
  if (!n->device_tried) {
    n->device_tried = true;
    char bus[32] = {};
    if (n->handle_by_pci == nullptr) {
      log("NVML: nvmlDeviceGetHandleByPciBusId_v2 missing; no device figures");
      n->device_status = NVML_ERROR_FUNCTION_NOT_FOUND;
    } else if (CUresult cr = cuDeviceGetPCIBusId(bus, sizeof bus - 1, dev_); cr != CUDA_SUCCESS) {
      log("NVML: no PCI bus id for the device: %s", cu_error_name(cr));
      n->device_status = NVML_ERROR_UNINITIALIZED;
    } else if (nvmlReturn_t hr = n->handle_by_pci(bus, &n->device); hr != NVML_SUCCESS) {
      log("nvmlDeviceGetHandleByPciBusId_v2(%s) failed: %d", bus, hr);
      n->device_status = hr;
    }
  }
  if (n->device_status != NVML_SUCCESS) {
    out->status = n->device_status;
    return st::kNotSupported;
  }

  // Each figure is read on its own: one the board does not report (power on
  // some boards) leaves that field 0, and status is the first failure.
  nvmlReturn_t first = NVML_SUCCESS;
  auto note = [&](nvmlReturn_t r) {
    if (r != NVML_SUCCESS && first == NVML_SUCCESS) first = r;
  };
  nvmlUtilization_t u{};
  if (nvml_->utilization) {
    nvmlReturn_t r = nvml_->utilization(nvml_->device, &u);
    note(r);
    if (r == NVML_SUCCESS) {
      out->gpu_util = u.gpu;
      out->mem_util = u.memory;
    }
  } else {
    note(NVML_ERROR_FUNCTION_NOT_FOUND);
  }
  unsigned int v = 0;
  if (nvml_->temperature) {
    nvmlReturn_t r = nvml_->temperature(nvml_->device, NVML_TEMPERATURE_GPU, &v);
    note(r);
    if (r == NVML_SUCCESS) out->temperature_c = v;
  } else {
    note(NVML_ERROR_FUNCTION_NOT_FOUND);
  }
  if (nvml_->power) {
    v = 0;
    nvmlReturn_t r = nvml_->power(nvml_->device, &v);
    note(r);
    if (r == NVML_SUCCESS) out->power_mw = v;
  } else {
    note(NVML_ERROR_FUNCTION_NOT_FOUND);
  }
  out->status = first;
  return st::kOk;
}

}  // namespace vgpu::host::cuda
