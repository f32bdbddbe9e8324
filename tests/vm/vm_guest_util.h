// Small helpers shared by the VM test's guest programs (vm_blas_check,
// vm_api_bench): driver-API error checks and "which file did the dynamic
// loader give us for this SONAME" (so the test can prove that the guest ran
// our libcuda.so.1 / libcublas.so.13, not some other copy).
#pragma once

#include <cuda.h>
#include <link.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace vgpu::vmtest {

inline const char* cu_error_name(CUresult r) {
  const char* s = nullptr;
  cuGetErrorName(r, &s);
  return s ? s : "?";
}

// Exits with status 1 and the call's text when a driver call fails.
#define VM_CHECK_CU(prog, call)                                                            \
  do {                                                                                     \
    CUresult r_ = (call);                                                                  \
    if (r_ != CUDA_SUCCESS) {                                                              \
      std::fprintf(stderr, "%s: %s failed: %s\n", prog, #call, vgpu::vmtest::cu_error_name(r_)); \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

// The path the loader mapped for the library whose file name is `soname`
// (e.g. "libcuda.so.1"), or "" when it is not loaded.
inline std::string loaded_path(const char* soname) {
  struct Ctx {
    const char* want;
    std::string found;
  } ctx{soname, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* p) -> int {
        auto* c = static_cast<Ctx*>(p);
        const char* name = info->dlpi_name;
        if (!name || !*name) return 0;
        const char* base = std::strrchr(name, '/');
        base = base ? base + 1 : name;
        if (std::strcmp(base, c->want) == 0) {
          c->found = name;
          return 1;
        }
        return 0;
      },
      &ctx);
  return ctx.found;
}

// Prints where `soname` was loaded from; with a non-empty `expect_dir`,
// returns false (and says why) unless it came from that folder.
inline bool report_library(const char* prog, const char* soname, const std::string& expect_dir) {
  const std::string path = loaded_path(soname);
  std::printf("%s: %s loaded from %s\n", prog, soname, path.empty() ? "(not loaded)" : path.c_str());
  if (expect_dir.empty()) return true;
  if (path != expect_dir + "/" + soname) {
    std::fprintf(stderr, "%s: expected %s/%s, got %s\n", prog, expect_dir.c_str(), soname,
                 path.empty() ? "nothing" : path.c_str());
    return false;
  }
  return true;
}

}  // namespace vgpu::vmtest
