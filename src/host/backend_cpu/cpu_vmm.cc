// CpuBackend: virtual memory management, for real.
//
//   cuMemAddressReserve  mmap(PROT_NONE) of the size, aligned by over-reserving and trimming
//   cuMemCreate          a memfd of the size, charged to the quota
//   cuMemMap             mmap(MAP_FIXED | MAP_SHARED) of the memfd over part of a reservation,
//                        still inaccessible (PROT_NONE), as CUDA's mappings are until...
//   cuMemSetAccess       mprotect: flags 3 = read/write, 1 = read, 0 = none
//   cuMemUnmap           an anonymous PROT_NONE mapping put back over the range
//   cuMemRelease         closes the memfd; its pages live on while mappings refer to them
//   cuMemAddressFree     munmap
//
// Two mappings of one allocation alias: they are two views of the same memfd
// pages, which is what ggml's VMM pool and other VMM users rely on.
// Mapped ranges with access count as device memory for every address check
// (CpuBackend::dev), and a run of adjacent mappings counts as one range.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "cpu_backend.h"

namespace vgpu::host::cpu {
namespace {

uint64_t page_size() {
  static const uint64_t p = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return p;
}
uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
bool aligned(uint64_t v, uint64_t a) { return v % a == 0; }

constexpr int kNoReserve = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

}  // namespace

Status CpuBackend::va_reserve(uint64_t size, uint64_t alignment, uint64_t addr, uint64_t, DevPtr* out) {
  if (size == 0) return st::kInvalidValue;
  if (alignment == 0) alignment = kVmmGranularity;
  if ((alignment & (alignment - 1)) != 0) return st::kInvalidValue;
  if (alignment < page_size()) alignment = page_size();
  if (size > (1ull << 46) || alignment > (1ull << 40)) return st::kOutOfMemory;  // beyond any address space
  const uint64_t len = round_up(size, kVmmGranularity);

  // The address is a hint, as CUDA's is: honoured when that range is free.
  if (addr != 0 && aligned(addr, alignment)) {
    void* p = mmap(reinterpret_cast<void*>(addr), len, PROT_NONE, kNoReserve | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != MAP_FAILED) {
      if (reinterpret_cast<uint64_t>(p) == addr) {
        reservations_[addr] = len;
        *out = addr;
        return st::kOk;
      }
      munmap(p, len);  // old kernels treat MAP_FIXED_NOREPLACE as a plain hint
    }
  }
  // In the device window (map_device), aligned there.
  const uint64_t over = len + alignment;
  void* p = map_device(over, alignment, PROT_NONE, kNoReserve);
  if (p == MAP_FAILED) return st::kOutOfMemory;
  const auto base = reinterpret_cast<uint64_t>(p);
  const uint64_t start = round_up(base, alignment);
  if (start > base) munmap(p, start - base);
  const uint64_t tail = base + over - (start + len);
  if (tail > 0) munmap(reinterpret_cast<void*>(start + len), tail);
  reservations_[start] = len;
  *out = start;
  return st::kOk;
}

Status CpuBackend::va_free(DevPtr ptr, uint64_t size) {
  auto r = reservations_.find(ptr);
  if (r == reservations_.end() || size == 0 || round_up(size, kVmmGranularity) != r->second)
    return st::kInvalidValue;
  // Mappings still inside go with the range (their allocations lose a reference).
  for (auto m = mappings_.lower_bound(ptr); m != mappings_.end() && m->first < ptr + r->second;) {
    const Native alloc = m->second.alloc;
    m = mappings_.erase(m);
    vmm_unref(alloc);
  }
  munmap(reinterpret_cast<void*>(ptr), r->second);
  reservations_.erase(r);
  return st::kOk;
}

Status CpuBackend::mem_create(const MemProp& r, Native* out) {
  if (r.location_id != 0) return st::kInvalidDevice;
  if (r.size == 0) return st::kInvalidValue;
  if (r.size > quota_) return st::kOutOfMemory;
  const uint64_t len = round_up(r.size, page_size());
  if (len > quota_ - used_) return st::kOutOfMemory;
  const int fd = memfd_create("vgpu-cpu-vmm", MFD_CLOEXEC);
  if (fd < 0) return st::kOutOfMemory;
  if (ftruncate(fd, static_cast<off_t>(len)) != 0) {
    close(fd);
    return st::kOutOfMemory;
  }
  // Commit the pages now, so running out of memory is this call's error and
  // not a SIGBUS in the daemon when the memory is first touched.
  const int rc = posix_fallocate(fd, 0, static_cast<off_t>(len));
  if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
    close(fd);
    return st::kOutOfMemory;
  }
  *out = next_handle();
  vmm_allocs_[*out] = VmmAlloc{fd, len, len, 0, false};
  used_ += len;
  return st::kOk;
}

void CpuBackend::vmm_unref(Native h) {
  auto a = vmm_allocs_.find(h);
  if (a == vmm_allocs_.end()) return;
  if (a->second.mappings > 0) --a->second.mappings;
  if (a->second.released && a->second.mappings == 0) {
    used_ -= a->second.charged;
    vmm_allocs_.erase(a);
  }
}

Status CpuBackend::mem_release(Native h) {
  auto a = vmm_allocs_.find(h);
  if (a == vmm_allocs_.end() || a->second.released) return st::kInvalidHandle;
  close(a->second.fd);  // mappings keep the pages
  a->second.fd = -1;
  a->second.released = true;
  if (a->second.mappings == 0) {
    used_ -= a->second.charged;
    vmm_allocs_.erase(a);
  }
  return st::kOk;
}

Status CpuBackend::mem_map(DevPtr ptr, uint64_t size, uint64_t offset, Native h) {
  auto a = vmm_allocs_.find(h);
  if (a == vmm_allocs_.end() || a->second.released) return st::kInvalidHandle;
  const uint64_t pg = page_size();
  uint64_t end, oend;
  if (size == 0 || !aligned(ptr, pg) || !aligned(size, pg) || !aligned(offset, pg) ||
      __builtin_add_overflow(ptr, size, &end) || __builtin_add_overflow(offset, size, &oend) ||
      oend > a->second.size)
    return st::kInvalidValue;
  // Inside one reservation...
  auto r = reservations_.upper_bound(ptr);
  if (r == reservations_.begin()) return st::kInvalidValue;
  --r;
  if (ptr < r->first || end > r->first + r->second) return st::kInvalidValue;
  // ...and over nothing already mapped.
  auto next = mappings_.lower_bound(ptr);
  if (next != mappings_.end() && next->first < end) return st::kInvalidValue;
  if (next != mappings_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size > ptr) return st::kInvalidValue;
  }
  void* p = mmap(reinterpret_cast<void*>(ptr), size, PROT_NONE, MAP_SHARED | MAP_FIXED, a->second.fd,
                 static_cast<off_t>(offset));
  if (p == MAP_FAILED) return st::kOutOfMemory;
  mappings_[ptr] = Mapping{size, h, offset, 0};
  ++a->second.mappings;
  return st::kOk;
}

bool CpuBackend::whole_mappings(DevPtr ptr, uint64_t size,
                                std::vector<std::map<uint64_t, Mapping>::iterator>* out) {
  out->clear();
  uint64_t end;
  if (size == 0 || __builtin_add_overflow(ptr, size, &end)) return false;
  auto m = mappings_.find(ptr);
  uint64_t cur = ptr;
  while (cur < end) {
    if (m == mappings_.end() || m->first != cur) return false;
    out->push_back(m);
    cur += m->second.size;
    ++m;
  }
  return cur == end;
}

Status CpuBackend::mem_unmap(DevPtr ptr, uint64_t size) {
  std::vector<std::map<uint64_t, Mapping>::iterator> ms;
  if (!whole_mappings(ptr, size, &ms)) return st::kInvalidValue;
  for (auto m : ms) {
    void* p = mmap(reinterpret_cast<void*>(m->first), m->second.size, PROT_NONE, kNoReserve | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) return st::kUnknown;  // the range keeps its mapping; nothing inconsistent
    const Native alloc = m->second.alloc;
    mappings_.erase(m);
    vmm_unref(alloc);
  }
  return st::kOk;
}

Status CpuBackend::mem_set_access(DevPtr ptr, uint64_t size, int device, uint32_t flags) {
  if (device != 0) return st::kInvalidDevice;
  int prot, access;
  switch (flags) {  // CUmemAccess_flags
    case 0: prot = PROT_NONE, access = 0; break;
    case 1: prot = PROT_READ, access = kRead; break;
    case 3: prot = PROT_READ | PROT_WRITE, access = kRead | kWrite; break;
    default: return st::kInvalidValue;
  }
  std::vector<std::map<uint64_t, Mapping>::iterator> ms;
  if (!whole_mappings(ptr, size, &ms)) return st::kInvalidValue;
  for (auto m : ms) {
    if (mprotect(reinterpret_cast<void*>(m->first), m->second.size, prot) != 0) return st::kUnknown;
    m->second.access = access;
  }
  return st::kOk;
}

Status CpuBackend::mem_granularity(const MemProp& r, uint32_t, uint64_t* out) {
  if (r.location_id != 0) return st::kInvalidDevice;
  *out = kVmmGranularity;  // minimum and recommended alike
  return st::kOk;
}

}  // namespace vgpu::host::cpu
