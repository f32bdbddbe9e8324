// Finds the CUDA backend module at run time, so vgpu-hostd itself needs no
// GPU driver: on a machine without one it serves guests with the CPU backend.
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <string>

#include "backend.h"

namespace vgpu::host {

std::unique_ptr<Backend> load_cuda_backend(std::string* why) {
  // Next to the daemon first (build/bin -> build/lib/host, or an install's
  // bin -> lib/vgpu), then the library path.
  char self[PATH_MAX] = {};
  std::string dir;
  if (ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1); n > 0) {
    dir = std::string(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
  }
  const std::string candidates[] = {dir + "/../lib/host/libvgpu-backend-cuda.so",
                                    dir + "/../lib/vgpu/libvgpu-backend-cuda.so", "libvgpu-backend-cuda.so"};
  void* h = nullptr;
  std::string errors;
  for (const auto& c : candidates) {
    if ((h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL))) break;
    errors += std::string(dlerror()) + "; ";
  }
  if (!h) {
    *why = "CUDA backend not loadable (" + errors + ")";
    return nullptr;
  }
  using Factory = Backend* (*)();
  auto make = reinterpret_cast<Factory>(dlsym(h, "vgpu_create_cuda_backend"));
  if (!make) {
    *why = "libvgpu-backend-cuda.so has no vgpu_create_cuda_backend";
    return nullptr;
  }
  return std::unique_ptr<Backend>(make());
}

}  // namespace vgpu::host
