// For a test that starts vgpu-hostd from a guest process: the daemon must
// load NVIDIA's libcuda, never ours. Call in the forked child before exec:
// drops our library folder (lib/ beside the daemon's bin/) from the
// LD_LIBRARY_PATH the daemon inherits. (On the CPU backend it would not
// matter; with VGPU_TEST_BACKEND=cuda the CUDA backend refuses to start
// when it finds our libcuda.so.1 in its own process.)
#pragma once

#include <climits>
#include <cstdlib>
#include <string>

namespace vgpu::test {

inline std::string canonical_path(const std::string& p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) ? std::string(buf) : p;
}

inline void drop_guest_libs_from_ld_path(const std::string& hostd_path) {
  const char* lp = std::getenv("LD_LIBRARY_PATH");
  if (!lp) return;
  const std::string bin = hostd_path.substr(0, hostd_path.find_last_of('/'));
  const std::string ours = canonical_path(bin.substr(0, bin.find_last_of('/')) + "/lib");
  const std::string all = lp;
  std::string kept;
  for (size_t start = 0; start <= all.size();) {
    size_t end = all.find(':', start);
    if (end == std::string::npos) end = all.size();
    const std::string dir = all.substr(start, end - start);
    if (!dir.empty() && canonical_path(dir) != ours) kept += (kept.empty() ? "" : ":") + dir;
    start = end + 1;
  }
  setenv("LD_LIBRARY_PATH", kept.c_str(), 1);
}

}  // namespace vgpu::test
