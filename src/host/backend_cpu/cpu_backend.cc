// CpuBackend: device info, memory, copies, memsets, streams, events, fences,
// capture/graphs (refused), modules. VMM is in cpu_vmm.cc, cuBLAS in cpu_blas.cc.
#include "cpu_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

namespace vgpu::host::cpu {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t page_size() {
  static const uint64_t p = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return p;
}

uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

// [a, a + n) as a checked range: false if it wraps.
bool range_end(uint64_t a, uint64_t n, uint64_t* end) { return !__builtin_add_overflow(a, n, end); }

// CUdevice_attribute values (cuda.h), filled for the device we describe.
void fill_attributes(int32_t* a) {
  auto set = [a](int idx, int32_t v) {
    if (idx >= 0 && idx < static_cast<int>(kMaxDeviceAttr)) a[idx] = v;
  };
  set(1, 1024);         // MAX_THREADS_PER_BLOCK
  set(2, 1024);         // MAX_BLOCK_DIM_X
  set(3, 1024);         // MAX_BLOCK_DIM_Y
  set(4, 64);           // MAX_BLOCK_DIM_Z
  set(5, 2147483647);   // MAX_GRID_DIM_X
  set(6, 65535);        // MAX_GRID_DIM_Y
  set(7, 65535);        // MAX_GRID_DIM_Z
  set(8, 49152);        // MAX_SHARED_MEMORY_PER_BLOCK
  set(9, 65536);        // TOTAL_CONSTANT_MEMORY
  set(10, 32);          // WARP_SIZE
  set(11, 2147483647);  // MAX_PITCH
  set(12, 65536);       // MAX_REGISTERS_PER_BLOCK
  set(13, 1755000);     // CLOCK_RATE (kHz)
  set(14, 512);         // TEXTURE_ALIGNMENT
  set(15, 1);           // GPU_OVERLAP
  set(16, 16);          // MULTIPROCESSOR_COUNT
  set(17, 0);           // KERNEL_EXEC_TIMEOUT
  set(18, 0);           // INTEGRATED
  set(19, 0);           // CAN_MAP_HOST_MEMORY: the arena is not device-mapped here
  set(20, 0);           // COMPUTE_MODE: default
  set(21, 131072);      // MAXIMUM_TEXTURE1D_WIDTH
  set(22, 131072);      // MAXIMUM_TEXTURE2D_WIDTH
  set(23, 65536);       // MAXIMUM_TEXTURE2D_HEIGHT
  set(24, 16384);       // MAXIMUM_TEXTURE3D_WIDTH
  set(25, 16384);       // MAXIMUM_TEXTURE3D_HEIGHT
  set(26, 16384);       // MAXIMUM_TEXTURE3D_DEPTH
  set(30, 512);         // SURFACE_ALIGNMENT
  set(31, 1);           // CONCURRENT_KERNELS
  set(32, 0);           // ECC_ENABLED
  set(33, 0);           // PCI_BUS_ID      } "0000:00:00.0"
  set(34, 0);           // PCI_DEVICE_ID   }
  set(35, 0);           // TCC_DRIVER
  set(36, 2619000);     // MEMORY_CLOCK_RATE (kHz)
  set(37, 5120);        // GLOBAL_MEMORY_BUS_WIDTH (bits)
  set(38, 50 << 20);    // L2_CACHE_SIZE
  set(39, 2048);        // MAX_THREADS_PER_MULTIPROCESSOR
  set(40, 2);           // ASYNC_ENGINE_COUNT
  set(41, 1);           // UNIFIED_ADDRESSING
  set(50, 0);           // PCI_DOMAIN_ID
  set(51, 32);          // TEXTURE_PITCH_ALIGNMENT
  set(75, 9);           // COMPUTE_CAPABILITY_MAJOR
  set(76, 0);           // COMPUTE_CAPABILITY_MINOR
  set(78, 1);           // STREAM_PRIORITIES_SUPPORTED
  set(79, 1);           // GLOBAL_L1_CACHE_SUPPORTED
  set(80, 1);           // LOCAL_L1_CACHE_SUPPORTED
  set(81, 233472);      // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
  set(82, 65536);       // MAX_REGISTERS_PER_MULTIPROCESSOR
  set(83, 0);           // MANAGED_MEMORY
  set(84, 0);           // MULTI_GPU_BOARD
  set(85, 0);           // MULTI_GPU_BOARD_GROUP_ID
  set(86, 0);           // HOST_NATIVE_ATOMIC_SUPPORTED
  set(87, 2);           // SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO
  set(88, 0);           // PAGEABLE_MEMORY_ACCESS
  set(89, 0);           // CONCURRENT_MANAGED_ACCESS
  set(90, 1);           // COMPUTE_PREEMPTION_SUPPORTED
  set(91, 0);           // CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM
  set(95, 0);           // COOPERATIVE_LAUNCH: no kernels run here
  set(97, 232448);      // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
  set(99, 0);           // HOST_REGISTER_SUPPORTED
  set(102, 1);          // VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED (cpu_vmm.cc)
  set(103, 0);          // HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED: no export
  set(106, 32);         // MAX_BLOCKS_PER_MULTIPROCESSOR
  set(107, 0);          // GENERIC_COMPRESSION_SUPPORTED
  set(111, 1024);       // RESERVED_SHARED_MEMORY_PER_BLOCK
  set(115, 0);          // MEMORY_POOLS_SUPPORTED: no cuMemPool ops on the wire
  set(120, 0);          // CLUSTER_LAUNCH
  set(126, 1);          // MEM_SYNC_DOMAIN_COUNT
  set(130, 0);          // NUMA_CONFIG: none
  set(131, -1);         // NUMA_ID
  set(134, -1);         // HOST_NUMA_ID
}

}  // namespace

CpuBackend::CpuBackend(uint64_t quota_bytes) : quota_(quota_bytes != 0 ? quota_bytes : kDefaultQuotaMiB << 20) {}

CpuBackend::~CpuBackend() {
  for (auto& [addr, len] : alloc_maps_) munmap(reinterpret_cast<void*>(addr), len);
  // Reservations cover every mapping; unmapping them drops the mappings too.
  for (auto& [addr, len] : reservations_) munmap(reinterpret_cast<void*>(addr), len);
  for (auto& [h, a] : vmm_allocs_)
    if (a.fd >= 0) close(a.fd);
}

// ---- session, device ---------------------------------------------------------------
Status CpuBackend::init(int device) { return device == 0 ? st::kOk : st::kInvalidDevice; }

Status CpuBackend::register_host(void* base, uint64_t bytes, uint64_t* device_base) {
  // This "device" reaches host memory directly: a registered range's device
  // address is its address here, as under the CUDA backend with unified
  // addressing, and copies and memsets accept it (dev() below).
  *device_base = 0;
  uint64_t end;
  if (base == nullptr || bytes == 0 || !range_end(reinterpret_cast<uint64_t>(base), bytes, &end))
    return st::kInvalidValue;
  host_ranges_[reinterpret_cast<uint64_t>(base)] = bytes;
  *device_base = reinterpret_cast<uint64_t>(base);
  return st::kOk;
}

Status CpuBackend::device_info(int ordinal, DeviceInfoRep* out) {
  if (ordinal != 0) return st::kInvalidDevice;
  std::memset(out, 0, sizeof(*out));
  std::snprintf(out->name, sizeof(out->name), "%s", "vgpu CPU backend");
  // A UUID fixed by the host name, so it is stable across runs and differs
  // between machines; version 8 ("custom") / RFC 4122 variant bits.
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const size_t hn = std::strlen(host);
  const uint64_t h1 = fnv1a(host, hn, fnv1a("vgpu-cpu", 8, 0xcbf29ce484222325ull));
  const uint64_t h2 = fnv1a(host, hn, fnv1a("vgpu-uuid", 9, 0x84222325cbf29ce4ull));
  std::memcpy(out->uuid, &h1, 8);
  std::memcpy(out->uuid + 8, &h2, 8);
  out->uuid[6] = static_cast<uint8_t>((out->uuid[6] & 0x0f) | 0x80);
  out->uuid[8] = static_cast<uint8_t>((out->uuid[8] & 0x3f) | 0x80);
  std::snprintf(out->pci_bus_id, sizeof(out->pci_bus_id), "%s", "0000:00:00.0");
  out->total_mem = quota_;
  fill_attributes(out->attr);
  return st::kOk;
}

Status CpuBackend::mem_get_info(uint64_t* free_bytes, uint64_t* total_bytes) {
  *total_bytes = quota_;
  *free_bytes = quota_ > used_ ? quota_ - used_ : 0;
  return st::kOk;
}

// ---- address lookup --------------------------------------------------------------------
uint8_t* CpuBackend::dev(DevPtr p, uint64_t n, int access) const {
  uint64_t end;
  if (n == 0 || !range_end(p, n, &end)) return nullptr;
  // Plain allocations (always readable and writable).
  auto a = allocs_.upper_bound(p);
  if (a != allocs_.begin()) {
    --a;
    if (p >= a->first && end <= a->first + a->second) return reinterpret_cast<uint8_t*>(p);
    if (p < a->first + a->second) return nullptr;  // starts inside, runs past the end
  }
  // Registered host memory (the guest's pinned memory).
  auto h = host_ranges_.upper_bound(p);
  if (h != host_ranges_.begin()) {
    --h;
    if (p >= h->first && end <= h->first + h->second) return reinterpret_cast<uint8_t*>(p);
    if (p < h->first + h->second) return nullptr;
  }
  // VMM: a contiguous run of mappings, each granting `access`.
  auto m = mappings_.upper_bound(p);
  if (m == mappings_.begin()) return nullptr;
  --m;
  uint64_t cur = p;
  while (true) {
    if (m == mappings_.end() || m->first > cur || cur >= m->first + m->second.size) return nullptr;
    if ((m->second.access & access) != access) return nullptr;
    const uint64_t mend = m->first + m->second.size;
    if (end <= mend) return reinterpret_cast<uint8_t*>(p);
    cur = mend;
    ++m;
  }
}

// ---- memory -------------------------------------------------------------------------------
// Far below where Linux places a process' mmaps (top down from 128 TiB) and
// far above its heap and binaries: guest processes on this machine do not
// have host memory here, so device and host addresses stay apart, as unified
// addressing promises. Falls back to any address if the window is taken.
constexpr uint64_t kDeviceWindow = 0x6000'0000'0000ull;  // 96 TiB

void* CpuBackend::map_device(uint64_t len, uint64_t alignment, int prot, int flags) {
  if (next_device_va_ == 0) next_device_va_ = kDeviceWindow;
  for (int tries = 0; tries < 64; ++tries) {
    const uint64_t at = round_up(next_device_va_, alignment ? alignment : page_size());
    next_device_va_ = at + len + (2ull << 20);  // a guard gap: overruns fault instead of reaching the next
    void* p = mmap(reinterpret_cast<void*>(at), len, prot, flags | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) continue;  // taken: try further up
    if (reinterpret_cast<uint64_t>(p) == at) return p;
    munmap(p, len);  // a kernel that treats MAP_FIXED_NOREPLACE as a hint
    break;
  }
  return mmap(nullptr, len, prot, flags, -1, 0);
}

Status CpuBackend::mem_alloc(uint64_t bytes, DevPtr* out) {
  if (bytes == 0) return st::kInvalidValue;
  if (bytes > quota_) return st::kOutOfMemory;
  const uint64_t charged = round_up(bytes, 256);
  if (charged > quota_ - used_) return st::kOutOfMemory;
  const uint64_t len = round_up(bytes, page_size());
  void* p = map_device(len, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (p == MAP_FAILED) return st::kOutOfMemory;
  const auto addr = reinterpret_cast<uint64_t>(p);
  allocs_[addr] = bytes;
  alloc_maps_[addr] = len;
  used_ += charged;
  *out = addr;
  return st::kOk;
}

Status CpuBackend::mem_free(DevPtr p) {
  auto a = allocs_.find(p);
  if (a == allocs_.end()) return st::kInvalidValue;
  used_ -= round_up(a->second, 256);
  auto m = alloc_maps_.find(p);
  munmap(reinterpret_cast<void*>(p), m->second);
  alloc_maps_.erase(m);
  allocs_.erase(a);
  return st::kOk;
}

Status CpuBackend::copy_htod(DevPtr dst, const void* src, uint64_t n, Native stream) {
  if (!stream_ok(stream)) return st::kInvalidHandle;
  if (n == 0) return st::kOk;
  uint8_t* d = dev(dst, n, kWrite);
  if (d == nullptr) return st::kInvalidValue;
  std::memcpy(d, src, n);
  return st::kOk;
}

Status CpuBackend::copy_dtoh(void* dst, DevPtr src, uint64_t n, Native stream) {
  if (!stream_ok(stream)) return st::kInvalidHandle;
  if (n == 0) return st::kOk;
  const uint8_t* s = dev(src, n, kRead);
  if (s == nullptr) return st::kInvalidValue;
  std::memcpy(dst, s, n);
  return st::kOk;
}

Status CpuBackend::copy_dtod(DevPtr dst, DevPtr src, uint64_t n, Native stream) {
  if (!stream_ok(stream)) return st::kInvalidHandle;
  if (n == 0) return st::kOk;
  const uint8_t* s = dev(src, n, kRead);
  uint8_t* d = dev(dst, n, kWrite);
  if (s == nullptr || d == nullptr) return st::kInvalidValue;
  std::memmove(d, s, n);
  return st::kOk;
}

Status CpuBackend::copy_2d(CopyKind kind, uint64_t dst, uint64_t dpitch, uint64_t src, uint64_t spitch,
                           uint64_t width, uint64_t height, Native stream) {
  if (!stream_ok(stream)) return st::kInvalidHandle;
  if (kind != CopyKind::kHtoD && kind != CopyKind::kDtoH && kind != CopyKind::kDtoD) return st::kInvalidValue;
  if (width == 0 || height == 0) return st::kOk;
  if (width > dpitch || width > spitch) return st::kInvalidValue;
  // Footprint of each side: (height - 1) * pitch + width bytes.
  uint64_t dspan, sspan;
  if (__builtin_mul_overflow(height - 1, dpitch, &dspan) || __builtin_add_overflow(dspan, width, &dspan) ||
      __builtin_mul_overflow(height - 1, spitch, &sspan) || __builtin_add_overflow(sspan, width, &sspan))
    return st::kInvalidValue;
  uint8_t* d;
  const uint8_t* s;
  if (kind == CopyKind::kHtoD) {
    d = dev(dst, dspan, kWrite);
    s = reinterpret_cast<const uint8_t*>(src);  // arena memory, checked by the handler
  } else if (kind == CopyKind::kDtoH) {
    d = reinterpret_cast<uint8_t*>(dst);
    s = dev(src, sspan, kRead);
  } else {
    d = dev(dst, dspan, kWrite);
    s = dev(src, sspan, kRead);
  }
  if (d == nullptr || s == nullptr) return st::kInvalidValue;
  for (uint64_t row = 0; row < height; ++row) std::memmove(d + row * dpitch, s + row * spitch, width);
  return st::kOk;
}

Status CpuBackend::memset(DevPtr dst, uint32_t value, uint32_t elem_bytes, uint64_t count, Native stream) {
  if (!stream_ok(stream)) return st::kInvalidHandle;
  if (elem_bytes != 1 && elem_bytes != 2 && elem_bytes != 4) return st::kInvalidValue;
  if (count == 0) return st::kOk;
  uint64_t n;
  if (__builtin_mul_overflow(count, elem_bytes, &n)) return st::kInvalidValue;
  uint8_t* d = dev(dst, n, kWrite);
  if (d == nullptr) return st::kInvalidValue;
  const uint32_t b0 = value & 0xff;
  const bool uniform = elem_bytes == 1 || (elem_bytes == 2 && ((value >> 8) & 0xff) == b0) ||
                       (elem_bytes == 4 && value == b0 * 0x01010101u);
  if (uniform) {
    std::memset(d, static_cast<int>(b0), n);
  } else if (elem_bytes == 2) {
    const auto v = static_cast<uint16_t>(value);
    for (uint64_t i = 0; i < count; ++i) std::memcpy(d + 2 * i, &v, 2);
  } else {
    for (uint64_t i = 0; i < count; ++i) std::memcpy(d + 4 * i, &value, 4);
  }
  return st::kOk;
}

// ---- streams, events, fences ---------------------------------------------------------------
// Work is done when it is enqueued, so streams are always idle and every
// event and fence has completed by the time anyone asks.
Status CpuBackend::stream_create(uint32_t, int, Native* out) {
  *out = next_handle();
  streams_.insert(*out);
  return st::kOk;
}

Status CpuBackend::stream_destroy(Native s) { return streams_.erase(s) != 0 ? st::kOk : st::kInvalidHandle; }

Status CpuBackend::stream_query(Native s) { return stream_ok(s) ? st::kOk : st::kInvalidHandle; }

// Work is done at enqueue time (streams are in order), so the store is too.
// The flags only relax memory ordering, which a store done here needs none of.
Status CpuBackend::stream_store(Native s, DevPtr addr, uint64_t value, uint32_t bytes, uint32_t) {
  if (!stream_ok(s)) return st::kInvalidHandle;
  if (addr % bytes != 0) return st::kInvalidValue;  // the driver requires natural alignment
  uint8_t* p = dev(addr, bytes, kWrite);
  if (p == nullptr) return st::kInvalidValue;
  std::memcpy(p, &value, bytes);  // little-endian: the low 4 bytes for a 32-bit store
  return st::kOk;
}

namespace {
// cuStreamWaitValue's condition (CUstreamWaitValue_flags, cuda.h: GEQ 0, EQ 1,
// AND 2, NOR 3; FLUSH 1 << 30 changes nothing here) on a word of `bytes`.
// -1: not a condition.
int wait_condition_met(uint64_t v, uint64_t value, uint32_t bytes, uint32_t flags) {
  const uint64_t mask = bytes == 4 ? 0xffffffffull : ~0ull;
  v &= mask;
  value &= mask;
  switch (flags & ~(1u << 30)) {
    case 0:  // GEQ: a wrapping comparison, as the driver makes it
      return bytes == 4 ? static_cast<int32_t>(static_cast<uint32_t>(v - value)) >= 0
                        : static_cast<int64_t>(v - value) >= 0;
    case 1: return v == value;
    case 2: return (v & value) != 0;
    case 3: return (~(v | value) & mask) != 0;
    default: return -1;
  }
}
uint64_t load_word(const uint8_t* p, uint32_t bytes) {  // aligned: checked by the caller
  return bytes == 4 ? __atomic_load_n(reinterpret_cast<const uint32_t*>(p), __ATOMIC_ACQUIRE)
                    : __atomic_load_n(reinterpret_cast<const uint64_t*>(p), __ATOMIC_ACQUIRE);
}
// How long a wait on registered host memory may hold the stream (below).
constexpr auto kHostWordWait = std::chrono::seconds(2);
}  // namespace

// Stream work here runs when it arrives, so device memory already holds all
// the stream's earlier work wrote: a condition that holds lets the stream go
// on, and one that does not would block it for ever, so it is refused.
// Registered host memory (the guest's pinned memory) is different: the
// guest's own threads write it while the stream waits (a host function's
// done word, host_func.cc), so there the stream is held, polling, as a GPU's
// would be, for up to kHostWordWait; then refused.
Status CpuBackend::stream_wait_value(Native s, DevPtr addr, uint64_t value, uint32_t bytes, uint32_t flags) {
  if (!stream_ok(s)) return st::kInvalidHandle;
  if (addr % bytes != 0) return st::kInvalidValue;
  const uint8_t* p = dev(addr, bytes, kRead);
  if (p == nullptr) return st::kInvalidValue;
  int met = wait_condition_met(load_word(p, bytes), value, bytes, flags);
  if (met < 0) return st::kInvalidValue;
  if (met || !in_host_range(addr, bytes)) return met ? st::kOk : st::kNotSupported;
  const auto until = std::chrono::steady_clock::now() + kHostWordWait;
  for (uint32_t i = 0; !met; ++i) {
    if (std::chrono::steady_clock::now() > until) return st::kNotSupported;
    if (i < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    met = wait_condition_met(load_word(p, bytes), value, bytes, flags);
  }
  return st::kOk;
}

bool CpuBackend::in_host_range(DevPtr p, uint64_t n) const {
  uint64_t end;
  if (!range_end(p, n, &end)) return false;
  auto h = host_ranges_.upper_bound(p);
  if (h == host_ranges_.begin()) return false;
  --h;
  return p >= h->first && end <= h->first + h->second;
}

Status CpuBackend::stream_wait_event(Native s, Native e, uint32_t) {
  if (!stream_ok(s) || events_.count(e) == 0) return st::kInvalidHandle;
  return st::kOk;
}

Status CpuBackend::event_create(uint32_t flags, Native* out) {
  *out = next_handle();
  events_[*out] = Event{flags, false, 0};
  return st::kOk;
}

Status CpuBackend::event_destroy(Native e) { return events_.erase(e) != 0 ? st::kOk : st::kInvalidHandle; }

Status CpuBackend::event_record(Native e, Native s, uint32_t) {
  auto it = events_.find(e);
  if (it == events_.end() || !stream_ok(s)) return st::kInvalidHandle;
  it->second.recorded = true;
  it->second.ns = now_ns();
  return st::kOk;
}

Status CpuBackend::event_query(Native e) { return events_.count(e) != 0 ? st::kOk : st::kInvalidHandle; }

Status CpuBackend::event_elapsed(Native start, Native end, float* ms) {
  auto a = events_.find(start);
  auto b = events_.find(end);
  if (a == events_.end() || b == events_.end()) return st::kInvalidHandle;
  constexpr uint32_t kDisableTiming = 2;  // CU_EVENT_DISABLE_TIMING
  // As cuEventElapsedTime: never-recorded or timing-disabled events are invalid handles here.
  if (!a->second.recorded || !b->second.recorded) return st::kInvalidHandle;
  if ((a->second.flags | b->second.flags) & kDisableTiming) return st::kInvalidHandle;
  *ms = static_cast<float>(static_cast<double>(b->second.ns - a->second.ns) / 1e6);
  return st::kOk;
}

Status CpuBackend::fence_create(Native stream, bool all_streams, uint64_t* fence) {
  if (!all_streams && !stream_ok(stream)) return st::kInvalidHandle;
  *fence = next_handle();
  fences_.insert(*fence);
  return st::kOk;
}

Status CpuBackend::fence_poll(uint64_t fence) { return fences_.count(fence) != 0 ? st::kOk : st::kInvalidHandle; }

void CpuBackend::fence_release(uint64_t fence) { fences_.erase(fence); }

// ---- capture and graphs: refused -----------------------------------------------------------
// Recording a captured stream's copies, memsets and GEMMs into a replayable
// graph is possible here, but the kernels that real captures consist of cannot
// run on the CPU anyway, so capture is refused honestly instead.
Status CpuBackend::begin_capture(Native s, uint32_t) {
  if (!stream_ok(s)) return st::kInvalidHandle;
  return st::kNotSupported;
}
Status CpuBackend::end_capture(Native s, Native*) {
  if (!stream_ok(s)) return st::kInvalidHandle;
  return st::kNotSupported;
}
Status CpuBackend::capture_status(Native s, uint32_t* status, uint64_t* id) {
  // A true answer, not a pretence: capture never begins here, so no stream is capturing.
  if (!stream_ok(s)) return st::kInvalidHandle;
  *status = 0;  // CU_STREAM_CAPTURE_STATUS_NONE
  *id = 0;
  return st::kOk;
}
Status CpuBackend::graph_instantiate(Native, uint64_t, Native*) { return st::kNotSupported; }
Status CpuBackend::graph_node_count(Native, uint64_t*) { return st::kNotSupported; }
Status CpuBackend::graph_exec_update(Native, Native, int32_t*) { return st::kNotSupported; }
Status CpuBackend::graph_launch(Native, Native) { return st::kNotSupported; }
Status CpuBackend::graph_exec_destroy(Native) { return st::kNotSupported; }
Status CpuBackend::graph_destroy(Native) { return st::kNotSupported; }

// ---- modules --------------------------------------------------------------------------------
namespace {

bool ident_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
         c == '.';
}

// Is `name` a symbol of the image? ELF string tables hold it NUL-terminated
// (possibly as the tail of a longer string: linkers merge suffixes); PTX text
// names it as a token (".entry name(").
bool image_names(const std::vector<uint8_t>& img, const std::string& name) {
  if (name.empty() || name.size() >= img.size()) return false;
  const auto* first = img.data();
  const auto* last = img.data() + img.size();
  const auto* p = first;
  while (true) {
    p = std::search(p, last, name.begin(), name.end());
    if (p == last) return false;
    const auto* after = p + name.size();
    if (after < last) {
      if (*after == 0) return true;
      const bool starts_token = p == first || !ident_char(p[-1]);
      if (starts_token && !ident_char(*after)) return true;
    }
    ++p;
  }
}

// Fatbin containers (magic 0xBA55ED50) hold one translation unit's kernels
// once per entry (an ELF per architecture, PTX). Entries may be compressed
// (flag 0x2000: LZ4, 0x8000: ZSTD; CUDA 13's nvcc compresses PTX by default),
// which hides their names; we carry no decompressor. A container with at least
// one uncompressed entry shows all its names in the raw bytes; one whose every
// entry is compressed does not, and absence of a name cannot be established.
bool has_opaque_fatbin(const std::vector<uint8_t>& img) {
  auto rd = [&](uint64_t off, auto* v) {
    if (off + sizeof(*v) > img.size()) return false;
    std::memcpy(v, img.data() + off, sizeof(*v));
    return true;
  };
  uint64_t off = 0;
  // The image may hold several containers back to back; look for each header.
  while (off + 16 <= img.size()) {
    uint32_t magic = 0;
    uint16_t hsize = 0;
    uint64_t fat = 0;
    if (!rd(off, &magic) || magic != 0xBA55ED50u) {
      off += 8;
      continue;
    }
    rd(off + 6, &hsize);
    rd(off + 8, &fat);
    const uint64_t end = fat > img.size() ? img.size() : std::min<uint64_t>(img.size(), off + hsize + fat);
    int entries = 0, compressed = 0;
    for (uint64_t e = off + hsize; e + 0x30 <= end;) {
      uint32_t eh = 0;
      uint64_t payload = 0, flags = 0;
      rd(e + 4, &eh);
      rd(e + 8, &payload);
      rd(e + 0x28, &flags);
      ++entries;
      if (flags & 0xA000u) ++compressed;
      if (eh == 0 || payload > end || e + eh + payload <= e) break;
      e += eh + payload;
    }
    if (entries > 0 && compressed == entries) return true;
    off = std::max(off + 16, end);
    off = (off + 7) & ~7ull;
  }
  return false;
}

// Whether a fatbin image holds code this device (compute capability 9.0)
// can run, as the driver decides: an ELF for sm_90 (cubins run only on their
// own major version, at the same or a higher minor), or PTX for 9.0 or older,
// which the driver compiles. Containers built for other GPUs only (cuBLAS 13
// ships some for sm_75 or sm_120 alone) give CUDA_ERROR_NO_BINARY_FOR_GPU.
// Entry headers: kind at +0 (1 PTX, 2 ELF), header size at +4, payload size
// at +8, architecture (major * 10 + minor) at +0x1c.
bool fatbin_has_code_for(const std::vector<uint8_t>& img, uint32_t arch) {
  auto rd = [&](uint64_t off, auto* v) {
    if (off + sizeof(*v) > img.size()) return false;
    std::memcpy(v, img.data() + off, sizeof(*v));
    return true;
  };
  uint64_t off = 0;
  bool any_container = false;
  while (off + 16 <= img.size()) {
    uint32_t magic = 0;
    uint16_t hsize = 0;
    uint64_t fat = 0;
    if (!rd(off, &magic) || magic != 0xBA55ED50u) {
      off += 8;
      continue;
    }
    any_container = true;
    rd(off + 6, &hsize);
    rd(off + 8, &fat);
    const uint64_t end = std::min<uint64_t>(img.size(), off + hsize + std::min<uint64_t>(fat, img.size()));
    for (uint64_t e = off + hsize; e + 0x20 <= end;) {
      uint16_t kind = 0;
      uint32_t eh = 0, entry_arch = 0;
      uint64_t payload = 0;
      rd(e, &kind);
      rd(e + 4, &eh);
      rd(e + 8, &payload);
      rd(e + 0x1c, &entry_arch);
      if (kind == 2 && entry_arch / 10 == arch / 10 && entry_arch % 10 <= arch % 10) return true;
      if (kind == 1 && entry_arch <= arch) return true;
      if (eh == 0 || payload > end || e + eh + payload <= e) break;
      e += eh + payload;
    }
    off = std::max(off + 16, end);
    off = (off + 7) & ~7ull;
  }
  return !any_container;
}

}  // namespace

namespace {
// What the driver would accept as an image: an ELF (cubin), a fatbin
// container, or PTX text. Anything else is refused as CUDA refuses it.
bool looks_like_image(const uint8_t* p, uint64_t n) {
  if (n >= 4 && std::memcmp(p, "\x7f" "ELF", 4) == 0) return true;
  uint32_t magic = 0;
  if (n >= 16) std::memcpy(&magic, p, 4);
  if (magic == 0xBA55ED50u) return true;
  const std::string_view text(reinterpret_cast<const char*>(p), n);
  return text.find(".version") != std::string_view::npos && text.find(".target") != std::string_view::npos;
}
}  // namespace

Status CpuBackend::module_load(const void* image, uint64_t bytes, Native* out) {
  if (image == nullptr || bytes == 0) return st::kInvalidImage;
  if (!looks_like_image(static_cast<const uint8_t*>(image), bytes)) return st::kInvalidImage;
  Module m;
  m.image.assign(static_cast<const uint8_t*>(image), static_cast<const uint8_t*>(image) + bytes);
  if (!fatbin_has_code_for(m.image, 90)) return st::kNoBinaryForGpu;
  *out = next_handle();
  modules_[*out] = std::move(m);
  return st::kOk;
}

Status CpuBackend::module_unload(Native m) {
  if (modules_.erase(m) == 0) return st::kInvalidHandle;
  std::erase_if(functions_, [m](const auto& kv) { return kv.second.module == m; });
  std::erase_if(function_by_name_, [m](const auto& kv) { return kv.first.first == m; });
  return st::kOk;
}

Status CpuBackend::module_function(Native m, const char* name, Native* fn, std::vector<ParamSlot>* params,
                                   Status* param_status) {
  auto it = modules_.find(m);
  if (it == modules_.end()) return st::kInvalidHandle;
  if (name == nullptr || *name == '\0') return st::kInvalidValue;
  const std::string n(name);
  // Fully compressed fatbins: names cannot be checked without a decompressor;
  // the handle is given (registration works) and every launch is refused anyway.
  if (!image_names(it->second.image, n) && !has_opaque_fatbin(it->second.image)) return st::kNotFound;
  // One function per (module, name), as the driver gives: asking again must
  // not grow the table (nor make the session give the kernel a new id).
  auto [f, added] = function_by_name_.try_emplace({m, n}, 0);
  if (added) {
    f->second = next_handle();
    functions_[f->second] = Function{m, n};
  }
  *fn = f->second;
  params->clear();
  *param_status = st::kNotSupported;  // no parameter layout: kernels cannot run on the CPU
  return st::kOk;
}

// The kernels the image defines (cpu_kernels.cc reads them from it).
Status CpuBackend::module_functions(Native m, std::vector<std::string>* names) {
  auto it = modules_.find(m);
  if (it == modules_.end()) return st::kInvalidHandle;
  return image_kernel_names(it->second.image, names);
}

// Refused: a __device__ variable needs storage laid out and initialised as
// the image's ELF says (size, alignment, initial bytes, relocations); we do
// not parse cubins, so we cannot allocate globals we don't understand, and a
// made-up address would be a success that did nothing.
Status CpuBackend::module_global(Native m, const char*, DevPtr*, uint64_t*) {
  if (modules_.count(m) == 0) return st::kInvalidHandle;
  return st::kNotSupported;
}

Status CpuBackend::func_get_attribute(Native fn, int, int*) {
  if (functions_.count(fn) == 0) return st::kInvalidHandle;
  return st::kNotSupported;
}

Status CpuBackend::func_set_attribute(Native fn, int, int) {
  if (functions_.count(fn) == 0) return st::kInvalidHandle;
  return st::kNotSupported;
}

// A kernel's cache preference: no kernel runs here, so refused like its attributes.

Status CpuBackend::occupancy_max_blocks(Native fn, int, uint64_t, uint32_t, int*) {
  if (functions_.count(fn) == 0) return st::kInvalidHandle;
  return st::kNotSupported;
}
Status CpuBackend::occupancy_available_smem(Native fn, int, int, uint64_t*) {
  if (functions_.count(fn) == 0) return st::kInvalidHandle;
  return st::kNotSupported;
}
Status CpuBackend::occupancy_clusters(Native fn, const OccupancyClustersReq&, int*) {
  if (functions_.count(fn) == 0) return st::kInvalidHandle;
  return st::kNotSupported;
}

// App kernels are device code; they cannot run on the CPU. Always refused.
Status CpuBackend::launch(Native, const LaunchReq&, Native, void*, uint32_t) { return st::kNotSupported; }

// ---- NVML -------------------------------------------------------------------------------------
// There is no NVML for a CPU: every figure and field value is refused; the
// guest's NVML then answers from what it has (identity, memory, processes).
Status CpuBackend::nvml_query(uint32_t, NvmlRep*) { return st::kNotSupported; }
Status CpuBackend::nvml_field_values(const NvmlFieldValuesReq&, NvmlFieldValuesRep*) { return st::kNotSupported; }

// The "driver" here is this backend, not NVIDIA's: its name, which no tool
// can mistake for an NVIDIA version number. There is no NVML whose version
// could be reported, so nvml_version_text stays empty (refused in the guest).
void CpuBackend::version_texts(HelloRep* out) {
  std::snprintf(out->driver_version_text, sizeof out->driver_version_text, "%s", "vgpu-cpu");
  out->nvml_version_text[0] = '\0';
}

// Answers that need no work.
BackendKind CpuBackend::kind() const { return BackendKind::kCpu; }
const char* CpuBackend::name() const { return "cpu"; }
int CpuBackend::driver_version() { return 13000; }
int CpuBackend::device_count() { return 1; }
Status CpuBackend::wait_idle() { return st::kOk; }  // nothing is ever queued

}  // namespace vgpu::host::cpu

namespace vgpu::host {
std::unique_ptr<Backend> make_cpu_backend(uint64_t memory_bytes) { return std::make_unique<cpu::CpuBackend>(memory_bytes); }
}  // namespace vgpu::host
