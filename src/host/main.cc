// vgpu-hostd: serves CUDA calls from guests through shared-memory regions.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "daemon.h"
#include "host_config.h"

int main(int argc, char** argv) {
  // The one place the daemon reads its environment (host_config.h).
  const vgpu::host::EnvLookup env = [](const char* name) -> const char* { return std::getenv(name); };
  vgpu::host::HostConfig cfg;
  std::string err;
  if (!vgpu::host::parse_host_config({argv + 1, static_cast<size_t>(argc > 0 ? argc - 1 : 0)}, env, &cfg, &err)) {
    std::fprintf(stderr, "vgpu-hostd: %s (vgpu-hostd --help lists the options)\n", err.c_str());
    return 2;
  }
  if (cfg.help) {
    std::fputs(vgpu::host::host_config_usage().c_str(), stderr);
    return 0;
  }
  return vgpu::host::run_daemon(cfg.daemon);
}
