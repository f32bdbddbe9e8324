// Refuses a mixed install at load (build_stamp.h): compiled into every guest
// library but libcuda.so.1, whose stamp it compares with its own.
//
// Refused at load, by ending the process, rather than by making every entry
// point fail: a mismatched library has already been mapped next to one whose
// internal structs and calls it may misread, and code of ours runs before
// any entry point (constructors, the C++ runtime's initialisers); and a
// framework that sees cudaErrorInitializationError falls back to the CPU and
// hides an install bug behind a slow run. The exit status is the dynamic
// loader's own for a library that cannot be loaded (127).
#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "build_stamp.h"
#include "vgpu_build_stamp.h"  // generated: VGPU_BUILD_STAMP

// Weak: a libcuda.so.1 that has no stamp (NVIDIA's, or ours from before
// stamps) must reach the message below, not a loader error about a symbol.
#pragma weak vgpu_build_stamp

namespace {

const char* file_of(const void* addr) {
  Dl_info info{};
  return dladdr(addr, &info) != 0 && info.dli_fname != nullptr ? info.dli_fname : "(unknown file)";
}

// The libcuda.so.1 this process loaded, where its stamp cannot tell us.
const char* loaded_libcuda() {
  void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
  link_map* map = nullptr;
  if (h == nullptr || dlinfo(h, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr || map->l_name == nullptr)
    return "libcuda.so.1 (file unknown)";
  return map->l_name;  // the handle stays: the library is loaded anyway, and this process is about to end
}

__attribute__((constructor)) void refuse_a_mixed_install() {
  static const char ours[] = VGPU_BUILD_STAMP;
  const char* theirs = vgpu_build_stamp;
  if (theirs != nullptr && std::strcmp(theirs, ours) == 0) return;
  const char* self = file_of(reinterpret_cast<const void*>(&refuse_a_mixed_install));
  if (theirs != nullptr)
    std::fprintf(stderr,
                 "vgpu: refusing a mixed install: %s is %s, but the libcuda.so.1 it loaded, %s, is %s. Our guest "
                 "libraries share internal interfaces: install them all from one build (tools/vgpu-install).\n",
                 self, ours, file_of(theirs), theirs);
  else
    std::fprintf(stderr,
                 "vgpu: refusing a mixed install: %s is %s, but the libcuda.so.1 it loaded, %s, has no vgpu build "
                 "stamp (NVIDIA's driver, or ours from an older build). Our guest libraries need our libcuda.so.1 of "
                 "the same build: install them all from one build (tools/vgpu-install).\n",
                 self, ours, loaded_libcuda());
  std::fflush(stderr);
  _exit(127);
}

}  // namespace
