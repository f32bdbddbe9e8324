// What the files of our libnvidia-ml.so.1 share: the device handles, the
// host's NVML figures (ops.h NvmlFig) and the helpers every entry point uses.
#pragma once

#include <cstdint>

#include "client/client.h"
#include "nvml_abi.h"

struct nvmlDevice_st {
  unsigned int index;
};

namespace vgpu::guest::nvml {

inline constexpr unsigned kMaxDevices = 64;  // as many as Client::device_info serves
extern nvmlDevice_st g_devices[kMaxDevices];

bool ready();             // between nvmlInit and the last nvmlShutdown
unsigned device_count();  // devices the host serves

// The description of a device handle, or nullptr with *err set
// (UNINITIALIZED, INVALID_ARGUMENT for a handle that is not ours, GPU_IS_LOST).
const DeviceInfoRep* info_of(nvmlDevice_t d, nvmlReturn_t* err);

// The host NVML's figures for the device: the fixed ones from the first
// answer (cached), the live ones at most kLiveMaxAgeMs old. nullptr with *err
// where the handle is bad or the host cannot be reached.
const NvmlRep* figures(nvmlDevice_t d, nvmlReturn_t* err);
inline constexpr int kLiveMaxAgeMs = 50;

// One figure into *out (converted to T): the host's status where it could
// not read it, NOT_SUPPORTED logged once under `name`.
template <class T>
nvmlReturn_t figure(nvmlDevice_t d, NvmlFig f, const char* name, T* out);
nvmlReturn_t figure_status(const NvmlRep& rep, NvmlFig f, const char* name);

nvmlReturn_t copy_text(const char* text, char* out, unsigned int length);
// "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as NVIDIA's NVML and CUDA_VISIBLE_DEVICES write it.
void uuid_text(const DeviceInfoRep* d, char out[48]);

template <class T>
nvmlReturn_t figure(nvmlDevice_t d, NvmlFig f, const char* name, T* out) {
  if (out == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t err = NVML_SUCCESS;
  const NvmlRep* rep = figures(d, &err);
  if (rep == nullptr) return err;
  if (nvmlReturn_t r = figure_status(*rep, f, name)) return r;
  *out = static_cast<T>(rep->fig[static_cast<uint32_t>(f)].value);
  return NVML_SUCCESS;
}

}  // namespace vgpu::guest::nvml

#define VGPU_NVML_DEVICE(info, dev)                                       \
  nvmlReturn_t vgpu_err_ = NVML_SUCCESS;                                  \
  const ::vgpu::DeviceInfoRep* info = ::vgpu::guest::nvml::info_of(dev, &vgpu_err_); \
  if (!info) return vgpu_err_
