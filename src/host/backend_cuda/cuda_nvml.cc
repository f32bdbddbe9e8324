// CudaBackend: NVML figures (utilisation, temperature, power) for the
// guest's libnvidia-ml. NVML is dlopen'ed on the first nvml_query, so a host
// without it (or with a broken one) fails only this call.
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
  nvmlDevice_t device = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
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

Status CudaBackend::nvml_query(NvmlRep* out) {
  std::memset(out, 0, sizeof *out);
  if (!initialized_) {  // the device's PCI bus id names the NVML device
    out->status = NVML_ERROR_UNINITIALIZED;
    return st::kNotInitialized;
  }
  if (!nvml_tried_) {
    nvml_tried_ = true;
    nvml_load_status_ = NVML_SUCCESS;
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* e = dlerror();
      log("NVML unavailable: %s", e ? e : "dlopen(libnvidia-ml.so.1) failed");
      nvml_load_status_ = NVML_ERROR_LIBRARY_NOT_FOUND;
    } else if (dlsym(lib, "vgpu_guest_marker") != nullptr) {
      log("NVML unavailable: libnvidia-ml.so.1 on the daemon's library path is the vgpu GUEST library");
      nvml_load_status_ = NVML_ERROR_LIBRARY_NOT_FOUND;
      dlclose(lib);
    } else {
      auto* n = new Nvml;
      n->lib = lib;
      bind(lib, "nvmlInit_v2", &n->init);
      bind(lib, "nvmlShutdown", &n->shutdown);
      bind(lib, "nvmlDeviceGetHandleByPciBusId_v2", &n->handle_by_pci);
      bind(lib, "nvmlDeviceGetUtilizationRates", &n->utilization);
      bind(lib, "nvmlDeviceGetTemperature", &n->temperature);
      bind(lib, "nvmlDeviceGetPowerUsage", &n->power);
      if (!n->init || !n->shutdown || !n->handle_by_pci) {
        log("NVML unavailable: libnvidia-ml.so.1 lacks nvmlInit_v2 / nvmlDeviceGetHandleByPciBusId_v2");
        nvml_load_status_ = NVML_ERROR_FUNCTION_NOT_FOUND;
        delete n;
      } else if (nvmlReturn_t r = n->init(); r != NVML_SUCCESS) {
        log("nvmlInit_v2 failed: %d", r);
        nvml_load_status_ = r;
        delete n;
      } else {
        n->initialized = true;
        char bus[32] = {};
        CUresult cr = cuDeviceGetPCIBusId(bus, sizeof bus - 1, dev_);
        if (cr != CUDA_SUCCESS) {
          log("NVML: no PCI bus id for the device: %s", cu_error_name(cr));
          nvml_load_status_ = NVML_ERROR_UNINITIALIZED;
        } else if (nvmlReturn_t hr = n->handle_by_pci(bus, &n->device); hr != NVML_SUCCESS) {
          log("nvmlDeviceGetHandleByPciBusId_v2(%s) failed: %d", bus, hr);
          nvml_load_status_ = hr;
        }
        nvml_ = n;
        if (nvml_load_status_ != NVML_SUCCESS) nvml_unload();
      }
    }
  }
  if (nvml_ == nullptr) {
    out->status = nvml_load_status_;
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
