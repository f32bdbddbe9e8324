// The CUDA backend for GPU tests, made as vgpu-hostd makes it: the module
// libvgpu-backend-cuda.so dlopen'ed by path (VGPU_CUDA_BACKEND_PATH) and
// created with its one export, then initialised on device 0. The module
// stays loaded, as in the daemon.
#pragma once

#include <dlfcn.h>

#include <string>

#include "backend.h"

#ifndef VGPU_CUDA_BACKEND_PATH
#error "VGPU_CUDA_BACKEND_PATH must name the built libvgpu-backend-cuda.so"
#endif

namespace vgpu::host::test {

// The initialised backend (the caller deletes it), or nullptr with *why
// saying why not (no driver, no GPU): the tests then skip with it.
inline Backend* open_cuda_backend(std::string* why) {
  void* lib = dlopen(VGPU_CUDA_BACKEND_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    *why = std::string("CUDA backend module not loadable (no NVIDIA driver here?): ") + (e ? e : "?");
    return nullptr;
  }
  using Factory = Backend* (*)();
  auto make = reinterpret_cast<Factory>(dlsym(lib, "vgpu_create_cuda_backend"));
  if (!make) {
    *why = "vgpu_create_cuda_backend not exported";
    return nullptr;
  }
  Backend* b = make();
  if (!b) {
    *why = "vgpu_create_cuda_backend returned nullptr";
    return nullptr;
  }
  if (Status s = b->init(0); s != st::kOk) {
    *why = "CudaBackend::init(0) failed with status " + std::to_string(s) + " (no usable GPU)";
    delete b;
    return nullptr;
  }
  return b;
}

}  // namespace vgpu::host::test
