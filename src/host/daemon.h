// vgpu-hostd's supervisor: owns the regions (one per VM, or per group of
// same-host guests), publishes the host heartbeat, forks one worker process
// per claimed guest slot, reaps workers and wipes their slots for reuse.
// It never touches the GPU itself, so forking it is safe.
#pragma once

#include <string>
#include <vector>

#include "vgpu/region.h"
#include "worker.h"

namespace vgpu::host {

struct DaemonOptions {
  std::vector<std::string> regions;  // region file paths
  RegionConfig config;
  WorkerOptions worker;
  // Who may open the region files besides the daemon (the QEMU process of
  // the VM): owner and group to give them, and their mode (default 0600).
  int region_uid = -1;
  int region_gid = -1;
  unsigned region_mode = 0600;
};

// Runs until SIGINT/SIGTERM. Returns the process exit code.
int run_daemon(const DaemonOptions& opt);

}  // namespace vgpu::host
