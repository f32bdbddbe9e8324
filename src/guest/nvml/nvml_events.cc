// Event sets. nvidia-smi creates one at start and quits ("Internal NVML
// error") when it cannot, so the set is real here: a guest-side object that
// can be waited on and freed. No event type can be registered in it (the
// host's events are not forwarded): nvmlDeviceGetSupportedEventTypes says
// none, nvmlDeviceRegisterEvents refuses any type, and a wait on the set ends with
// NVML_ERROR_TIMEOUT after its timeout, as NVIDIA's does when no event comes.
#include <chrono>
#include <new>
#include <thread>

#include "nvml_internal.h"

using namespace vgpu::guest;
using namespace vgpu::guest::nvml;

struct nvmlEventSet_st {
  unsigned magic;
};

namespace {
constexpr unsigned kSetMagic = 0x45564e54;  // "EVNT": tells our sets from stray pointers
bool valid(nvmlEventSet_st* set) { return set != nullptr && set->magic == kSetMagic; }

nvmlReturn_t wait(nvmlEventSet_st* set, unsigned int timeout_ms) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  if (!valid(set)) return NVML_ERROR_INVALID_ARGUMENT;
  std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));  // nothing can arrive
  return NVML_ERROR_TIMEOUT;
}
}  // namespace

extern "C" {

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_st** set) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  if (set == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  auto* s = new (std::nothrow) nvmlEventSet_st{kSetMagic};
  if (s == nullptr) return NVML_ERROR_MEMORY;
  *set = s;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_st* set) {
  if (!ready()) return NVML_ERROR_UNINITIALIZED;
  if (!valid(set)) return NVML_ERROR_INVALID_ARGUMENT;
  set->magic = 0;
  delete set;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t dev, unsigned long long* types) {
  VGPU_NVML_DEVICE(d, dev);
  (void)d;
  if (types == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *types = 0;
  return NVML_SUCCESS;
}

// Tools register the supported types they want, so nvidia-smi -l registers
// none (0 & what it wants); that is done, truly. Any type is refused.
nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t dev, unsigned long long types, nvmlEventSet_st* set) {
  VGPU_NVML_DEVICE(d, dev);
  (void)d;
  if (!valid(set)) return NVML_ERROR_INVALID_ARGUMENT;
  if (types == 0) return NVML_SUCCESS;
  log_unsupported("nvmlDeviceRegisterEvents");
  return NVML_ERROR_NOT_SUPPORTED;
}

nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_st* set, void*, unsigned int timeout_ms) { return wait(set, timeout_ms); }
nvmlReturn_t nvmlEventSetWait(nvmlEventSet_st* set, void*, unsigned int timeout_ms) { return wait(set, timeout_ms); }

}  // extern "C"
