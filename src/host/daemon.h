// vgpu-hostd's supervisor: owns the regions (one per VM, or per group of
// same-host guests), publishes the host heartbeat, forks one worker process
// per claimed guest slot, reaps workers and wipes their slots for reuse.
// It never touches the GPU itself, so forking it is safe. Where NVIDIA's MPS
// is on (mps.h) it starts or joins the MPS control daemon first and makes
// each worker of a shared region an MPS client.
//
// Regions come from the command line (served until the daemon stops) and,
// with a config dir, from its *.conf files (region_conf.h), one region per
// file, each with its own settings. The dir is rescanned every second and on
// SIGHUP: a new file starts its region, a changed one restarts it (only if a
// setting changed; a file that became malformed is logged and the region
// keeps its old settings), a removed one stops it.
//
// Stopping a region (its .conf removed or changed, or the daemon exiting):
// host_state becomes kStopped (guests' calls fail with
// CUDA_ERROR_DEVICE_UNAVAILABLE), its workers get SIGTERM (SIGKILL after 5 s)
// and are reaped. The region file is left in place: a VM's QEMU may still map
// it, and when its .conf comes back the same file is served again, so the
// running VM reconnects without a restart (delete it by hand once the VM is
// gone). The host-only stats file goes with a .conf's region, so vgpu-smi no
// longer lists it; at daemon exit both files stay, as they always have.
#pragma once

#include <string>
#include <vector>

#include "mps.h"
#include "region_conf.h"

namespace vgpu::host {

struct DaemonOptions {
  std::vector<std::string> regions;  // --region paths, served with `defaults`
  RegionOptions defaults;            // command-line settings; also what a .conf leaves out
  std::string config_dir;            // serve DIR/*.conf too ("" = none)
  uint32_t rescan_ms = 1000;         // config dir rescan period (0: only on SIGHUP)
  MpsOptions mps;                    // NVIDIA MPS for the served GPU (mps.h)
};

// Runs until SIGINT/SIGTERM. Returns the process exit code.
int run_daemon(const DaemonOptions& opt);

}  // namespace vgpu::host
