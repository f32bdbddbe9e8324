// Forged driver handles for the handle-validation tests. CUmodule and
// CUfunction are, in our libcuda.so.1, pointers to the library's own records
// (src/guest/cuda/driver.h) holding the id the host issued; a forged handle a
// guest could present to the host is such a record with an id the host never
// issued (or no longer knows). This file alone sees the library's internal
// layout (its header defines __CUDA_API_VERSION_INTERNAL, so it must not share
// a translation unit with ordinary <cuda.h> users).
#include "driver.h"

extern "C" CUmodule vgpu_e2e_forge_module(uint64_t host_id) {
  return reinterpret_cast<CUmodule>(new vgpu::guest::GuestModule{host_id});
}

extern "C" CUfunction vgpu_e2e_forge_function(uint64_t host_id) {
  auto* f = new vgpu::guest::GuestFunction{};
  f->host = host_id;
  f->param_status = vgpu::st::kOk;  // as if the host had reported a layout
  f->param_bytes = 8;
  f->params = {{0, 8}};
  f->name = "forged";
  return reinterpret_cast<CUfunction>(f);
}

// The host id behind a real handle.
extern "C" uint64_t vgpu_e2e_function_id(CUfunction f) { return reinterpret_cast<vgpu::guest::GuestFunction*>(f)->host; }
extern "C" uint64_t vgpu_e2e_module_id(CUmodule m) { return reinterpret_cast<vgpu::guest::GuestModule*>(m)->host; }
