// vgpu-hostd's configuration: its command line and its environment, parsed
// once, in main, by parse_host_config, and passed down from there
// (DaemonOptions -> RegionOptions -> WorkerOptions -> the session's limits
// and the CPU backend's size, MpsOptions). Nothing below main reads the
// environment: a setting has one meaning, fixed at start, visible in one
// place (the table in host_config.cc, which --help prints).
//
// Every value is checked (config_values.h); a malformed or out-of-range one
// stops the daemon before it serves anything, with a message naming the flag
// or variable, what it was given and the form it takes. A daemon that refuses
// to start is found at once; one that quietly used a default instead of what
// the operator wrote is found when a guest hits the wrong limit.
#pragma once

#include <functional>
#include <span>
#include <string>

#include "daemon.h"

namespace vgpu::host {

struct HostConfig {
  DaemonOptions daemon;  // the regions, their defaults, MPS
  bool help = false;     // -h / --help: print host_config_usage() and exit 0
};

// The environment the daemon started with: a variable's value, nullptr where
// it is unset. main passes getenv; tests pass a table.
using EnvLookup = std::function<const char*(const char* name)>;

// Parses `args` (argv without argv[0]) over the environment's settings: a
// setting given both ways takes the command line's value, a flag given twice
// its last (--region adds a region each time). An empty variable counts as
// unset (a shell's `VAR= vgpu-hostd`); an empty flag value is an error, as is
// a malformed variable even where a flag overrides it. Then the defaults
// that depend on others (the region /dev/shm/vgpu-0 where none is given and
// no --config-dir) and the region layout are checked. False with `*err` set.
bool parse_host_config(std::span<const char* const> args, const EnvLookup& env, HostConfig* out,
                       std::string* err);

// The --help text: every flag and variable parse_host_config knows.
std::string host_config_usage();

}  // namespace vgpu::host
