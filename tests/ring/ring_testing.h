// Helpers shared by the ring tests: a ring in private memory, payload
// patterns, a temporary directory.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "vgpu/ring.h"

namespace vgpu::testing {

// A command ring (control lines + data) in anonymous memory. mmap gives
// zeroed, page-aligned bytes, as a freshly formatted region would.
class LocalRing {
 public:
  // `start` sets both free-running indices, to test positions far from 0.
  explicit LocalRing(uint32_t capacity, uint64_t start = 0) : cap_(capacity) {
    bytes_ = sizeof(RingCtl) + capacity;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    mem_ = static_cast<std::byte*>(p);
    ctl_ = new (mem_) RingCtl{};
    ctl_->tail.store(start);
    ctl_->head.store(start);
  }
  ~LocalRing() { munmap(mem_, bytes_); }
  LocalRing(const LocalRing&) = delete;
  LocalRing& operator=(const LocalRing&) = delete;

  RingCtl* ctl() { return ctl_; }
  std::byte* data() { return mem_ + sizeof(RingCtl); }
  uint32_t capacity() const { return cap_; }
  RingProducer producer() { return RingProducer(ctl_, data(), cap_); }
  RingConsumer consumer() { return RingConsumer(ctl_, data(), cap_, ctl_->head.load()); }
  RecordHeader* header_at(uint64_t pos) { return reinterpret_cast<RecordHeader*>(data() + (pos & (cap_ - 1))); }

 private:
  uint32_t cap_;
  size_t bytes_;
  std::byte* mem_;
  RingCtl* ctl_;
};

// A directory for shared-memory files: /dev/shm when there is one, so the
// pages are never written back to a disk while two sides hammer them.
inline const char* shm_parent() { return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : nullptr; }

// Payload bytes that depend on the record's seq and index, so a payload that
// is shifted, truncated or belongs to another record does not match.
inline std::byte pattern_byte(uint64_t seq, uint32_t i) {
  return static_cast<std::byte>((seq * 131 + i * 7 + (i >> 8)) & 0xff);
}
inline void fill_pattern(std::byte* p, uint32_t n, uint64_t seq) {
  for (uint32_t i = 0; i < n; ++i) p[i] = pattern_byte(seq, i);
}
inline bool check_pattern(const std::byte* p, uint32_t n, uint64_t seq) {
  for (uint32_t i = 0; i < n; ++i)
    if (p[i] != pattern_byte(seq, i)) return false;
  return true;
}

// Writes one record and publishes it; false if the ring is full.
inline bool push(RingProducer& prod, uint32_t payload, uint64_t seq, uint16_t op = 1) {
  RecordHeader* h = prod.try_reserve(payload);
  if (!h) return false;
  fill_pattern(reinterpret_cast<std::byte*>(h + 1), payload, seq);
  prod.commit(h, op, 0, seq, ~seq);
  return true;
}

// A fresh directory under `parent` (default $TMPDIR or /tmp), removed with
// its contents.
class TempDir {
 public:
  explicit TempDir(const char* parent = nullptr) {
    const char* base = parent ? parent : std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/vgpu-ring-test-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace vgpu::testing
