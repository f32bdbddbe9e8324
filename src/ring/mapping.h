// Mapping the shared region: the host creates it in a file, a guest attaches
// by path (VGPU_REGION) or finds the ivshmem PCI device and maps its BAR2.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "vgpu/region.h"

namespace vgpu {

class Mapping {
 public:
  Mapping(void* base, uint64_t bytes, std::string source) : base_(base), bytes_(bytes), source_(std::move(source)) {}
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  void* base() const { return base_; }
  uint64_t bytes() const { return bytes_; }
  const std::string& source() const { return source_; }
  RegionHeader* header() const { return header_of(base_); }

 private:
  void* base_;
  uint64_t bytes_;
  std::string source_;
};

// Default region file for a name: /dev/shm/vgpu-NAME.
std::string default_region_path(const std::string& name);

// Host: creates (or truncates and reuses) `path` with mode 0600, sizes it for
// `cfg` and formats it (fresh session id, host_state kInit).
std::unique_ptr<Mapping> create_region_file(const std::string& path, const RegionConfig& cfg, std::string* err);

// Maps an existing region file and validates its header.
std::unique_ptr<Mapping> attach_region_file(const std::string& path, std::string* err);

// Finds the ivshmem-plain device (PCI 1af4:1110) under `sysfs_pci` (normally
// /sys/bus/pci/devices), maps its BAR2 and validates the header. See
// docs/vm.md for why resource2 (not resource2_wc) is used.
std::unique_ptr<Mapping> attach_ivshmem(const std::string& sysfs_pci, std::string* err);

// What a guest library does: $VGPU_REGION if set (a file path), else the
// default region file if it exists, else the ivshmem device.
std::unique_ptr<Mapping> attach_guest_region(std::string* err);

}  // namespace vgpu
