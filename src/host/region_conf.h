// How vgpu-hostd serves one region, and the per-VM .conf files that say it.
//
// A .conf file (vgpu-hostd --config-dir DIR serves every DIR/*.conf) holds
// `key = value` lines; a '#' at the start of a line or after a blank starts a
// comment:
//
//   region = /dev/shm/vgpu-vm1     # required, an absolute path
//   slots = 4                      # guest processes at once
//   channels = 8                   # guest threads per process
//   arena_mb = 256                 # bulk data arena per slot
//   ring_kb = 1024                 # command ring per channel (power of two)
//   mem_quota_mb = 8192            # device memory per guest process (0: none)
//   backend = cuda                 # auto, cuda or cpu
//   owner = libvirt-qemu:kvm       # user[:group] given the region file
//   mode = 0660                    # octal mode of the region file
//   guest_timeout_ms = 5000        # end a session whose guest stops its heartbeat
//   isolation = shared             # shared: guests are MPS clients when MPS is on;
//                                  # strict: own CUDA contexts, never MPS (mps.h)
//   sm_percent = 50                # an MPS client's share of the SMs (1-100)
//
// A key left out takes the daemon's command-line value. An unknown key, a
// repeated key or a bad value makes the whole file an error.
#pragma once

#include <string>

#include "vgpu/region.h"
#include "worker.h"

namespace vgpu::host {

struct RegionOptions {
  std::string path;  // the region file; its stats file is path + ".stats"
  RegionConfig config;
  WorkerOptions worker;
  // Who may open the region file besides the daemon (the VM's QEMU): owner
  // and group to give it (-1: leave), and its mode.
  int uid = -1;
  int gid = -1;
  unsigned mode = 0600;
};

// "user", "user:group" or ":group" -> uid/gid (a user alone also gives its
// primary group). False with a message if a name is unknown.
bool parse_owner(const std::string& spec, int* uid, int* gid, std::string* err);

// Parses a .conf file's text on top of `defaults`. False with a message
// ("line N: ...") if the file is malformed or its layout impossible.
bool parse_region_conf(const std::string& text, const RegionOptions& defaults, RegionOptions* out, std::string* err);

// Every setting a .conf can change, on one line: for the log, and equal
// strings mean no restart is needed.
std::string describe(const RegionOptions& o);

}  // namespace vgpu::host
