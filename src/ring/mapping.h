// Mapping the shared region: the host creates it in a file, a guest attaches
// by path (VGPU_REGION) or finds the ivshmem PCI device and maps its BAR2.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "vgpu/region.h"
#include "vgpu/region_view.h"

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
  // The parts of the region, laid out by the host's config (a region this
  // process created) or by one validated copy of the header (one it
  // attached). Set by every function below that returns a Mapping.
  const RegionView& view() const { return *view_; }
  void set_view(const RegionView& v) { view_ = v; }
  // A region this process created: the session id it formatted it with (the
  // host's own copy; the header's may have been overwritten since). 0 else.
  uint64_t session_id() const { return session_id_; }
  // A region file of this machine (created or attached by path), not a VM's
  // ivshmem BAR: the header's host_pid is a process of this machine.
  bool same_host() const { return same_host_; }
  void set_same_host(bool v) { same_host_ = v; }
  void set_session_id(uint64_t id) { session_id_ = id; }

 private:
  void* base_;
  uint64_t bytes_;
  std::string source_;
  std::optional<RegionView> view_;
  uint64_t session_id_ = 0;
  bool same_host_ = false;
};

// Default region file for a name: /dev/shm/vgpu-NAME.
std::string default_region_path(const std::string& name);

// Host: creates (or truncates and reuses) `path` with mode 0600, sizes it for
// `cfg` and formats it (fresh session id, host_state kInit).
std::unique_ptr<Mapping> create_region_file(const std::string& path, const RegionConfig& cfg, std::string* err);

// Maps an existing region file and validates (a copy of) its header.
std::unique_ptr<Mapping> attach_region_file(const std::string& path, std::string* err);

// Finds the ivshmem-plain device (PCI 1af4:1110) under `sysfs_pci` (normally
// /sys/bus/pci/devices), maps its BAR2 and validates the header. See
// docs/vm.md for why resource2 (not resource2_wc) is used.
std::unique_ptr<Mapping> attach_ivshmem(const std::string& sysfs_pci, std::string* err);

// What a guest library does: the region file `region_path` if not empty
// (VGPU_REGION), else the default region file if it exists, else the ivshmem
// device under `sysfs_pci` (VGPU_SYSFS_PCI). The guest's configuration
// (src/guest/client/config.h) supplies both: this layer reads no environment.
std::unique_ptr<Mapping> attach_guest_region(const std::string& region_path, const std::string& sysfs_pci,
                                             std::string* err);

}  // namespace vgpu
