#include "mapping.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace vgpu {
namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::unique_ptr<Mapping> map_fd(int fd, uint64_t bytes, const std::string& source, std::string* err) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *err = errno_text("mmap " + source);
    return nullptr;
  }
  return std::make_unique<Mapping>(p, bytes, source);
}

std::unique_ptr<Mapping> validated(std::unique_ptr<Mapping> m, std::string* err) {
  if (!m) return m;
  const char* why = nullptr;
  auto v = RegionView::of_header(m->base(), m->bytes(), &why);
  if (!v) {
    *err = m->source() + ": " + why;
    return nullptr;
  }
  m->set_view(*v);
  return m;
}

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

}  // namespace

Mapping::~Mapping() {
  if (base_) munmap(base_, bytes_);
}

std::string default_region_path(const std::string& name) { return "/dev/shm/vgpu-" + name; }

std::unique_ptr<Mapping> create_region_file(const std::string& path, const RegionConfig& cfg, std::string* err) {
  Layout l;
  const char* why = nullptr;
  if (!compute_layout(cfg, &l, &why)) {
    *err = std::string("bad region config: ") + why;
    return nullptr;
  }
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *err = errno_text("open " + path);
    return nullptr;
  }
  fchmod(fd, 0600);
  // QEMU's ivshmem needs a power-of-two BAR, so the file is that large (the
  // tail past total_bytes is never touched; the file is sparse). A file that
  // already has the right size keeps its pages: a VM may have it mapped, and
  // shrinking it under QEMU would fault the guest. Otherwise shrink first so
  // every byte of the new region reads as zero.
  uint64_t file_bytes = 1;
  while (file_bytes < l.total_bytes) file_bytes <<= 1;
  struct stat st{};
  fstat(fd, &st);
  if (static_cast<uint64_t>(st.st_size) != file_bytes &&
      (ftruncate(fd, 0) != 0 || ftruncate(fd, static_cast<off_t>(file_bytes)) != 0)) {
    *err = errno_text("ftruncate " + path);
    close(fd);
    return nullptr;
  }
  auto m = map_fd(fd, file_bytes, path, err);
  close(fd);
  if (!m) return m;
  m->set_session_id(format_region(m->base(), cfg, l));
  m->set_same_host(true);
  m->set_view(*RegionView::of_config(m->base(), m->bytes(), cfg, nullptr));  // fits: sized above
  return m;
}

std::unique_ptr<Mapping> attach_region_file(const std::string& path, std::string* err) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *err = errno_text("open " + path + " (is vgpu-hostd running?)");
    return nullptr;
  }
  struct stat st{};
  fstat(fd, &st);
  auto m = map_fd(fd, static_cast<uint64_t>(st.st_size), path, err);
  close(fd);
  if (m) m->set_same_host(true);
  return validated(std::move(m), err);
}

std::unique_ptr<Mapping> attach_ivshmem(const std::string& sysfs_pci, std::string* err) {
  DIR* d = opendir(sysfs_pci.c_str());
  if (!d) {
    *err = errno_text("opendir " + sysfs_pci);
    return nullptr;
  }
  std::string found;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string dev = sysfs_pci + "/" + e->d_name;
    if (read_line(dev + "/vendor") == "0x1af4" && read_line(dev + "/device") == "0x1110") {
      found = dev;
      break;
    }
  }
  closedir(d);
  if (found.empty()) {
    *err = "no ivshmem device (PCI 1af4:1110) under " + sysfs_pci;
    return nullptr;
  }
  // resource2 is BAR2, the shared memory. Under KVM its pages are the host's
  // ordinary write-back RAM, so polling it is as cheap as polling a file
  // mapping; resource2_wc would make every poll an uncached read.
  const std::string res = found + "/resource2";
  int fd = open(res.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *err = errno_text("open " + res + " (run as root or grant access to the device)");
    return nullptr;
  }
  struct stat st{};
  fstat(fd, &st);
  auto m = map_fd(fd, static_cast<uint64_t>(st.st_size), res, err);
  close(fd);
  return validated(std::move(m), err);
}

std::unique_ptr<Mapping> attach_guest_region(const std::string& region_path, const std::string& sysfs_pci,
                                             std::string* err) {
  if (!region_path.empty()) return attach_region_file(region_path, err);
  const std::string def = default_region_path("0");
  if (access(def.c_str(), F_OK) == 0) return attach_region_file(def, err);
  return attach_ivshmem(sysfs_pci, err);
}

}  // namespace vgpu
