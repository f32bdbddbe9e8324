#include "same_address.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace vgpu::host {
namespace {
// x86-64's (and AArch64's 48-bit) user address space ends below 128 TiB;
// anything above it cannot be a guest process' mapping.
constexpr uint64_t kUserTop = 0x7fff'ffff'f000ull;
}  // namespace

void* map_again_at(void* from, uint64_t bytes, uint64_t want) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (from == nullptr || want == 0 || bytes == 0 || want % page || bytes % page) return nullptr;
  if (want < page * 16 || want > kUserTop || bytes > kUserTop - want) return nullptr;
  if (reinterpret_cast<uint64_t>(from) == want) return from;
  void* at = reinterpret_cast<void*>(want);
  // Claim the range first: MAP_FIXED_NOREPLACE fails where anything of ours
  // (a library, the heap, the driver's reservations) lies, and the range is
  // then ours alone to replace.
  void* hold = mmap(at, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (hold == MAP_FAILED) return nullptr;
  if (hold != at) {  // a kernel older than 4.17 took the flag as a hint
    munmap(hold, bytes);
    return nullptr;
  }
  // old_size 0 on a shared mapping: a new mapping of the same pages (the
  // region is always MAP_SHARED: a /dev/shm file or the VM's ivshmem memory).
  void* p = mremap(from, 0, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, at);
  if (p == MAP_FAILED) {
    munmap(hold, bytes);
    return nullptr;
  }
  return p;
}

void unmap_again(void* at, void* from, uint64_t bytes) {
  if (at != nullptr && at != from) munmap(at, bytes);
}

}  // namespace vgpu::host
