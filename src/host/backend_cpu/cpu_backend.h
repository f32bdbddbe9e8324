// CpuBackend: "the GPU" in host RAM, so CI machines run the whole product
// path (guest -> ring -> host -> completion) without a GPU.
//
// Real or refused:
//   real     device memory (host RAM, quota-limited), copies, memsets, streams,
//            events (timestamps), fences, VMM (reserve/create/map/access with
//            mmap + memfd, so aliasing mappings really alias), cuBLAS GEMM
//            (f32/f16/bf16/f64, single/strided/batched), trsm batched, Saxpy,
//            Sscal, Sdot, Snrm2, Sgemv, cuBLASLt matmul (f32/f16/bf16, strided
//            batches, bias/ReLU/GELU epilogues), module images kept and searched
//            (kernel names, listed as cuModuleEnumerateFunctions lists them).
//   refused  (st::kNotSupported) kernel launches, function attributes,
//            occupancy, module globals, stream capture and graphs, NVML.
//
// Device addresses are the host addresses of the backing memory. Every device
// range a call names is looked up before it is touched: it must lie inside one
// live allocation, or inside one contiguous run of VMM mappings whose access
// flags allow the use; otherwise the call is refused (copies and memsets:
// kInvalidValue; cuBLAS operands: kIllegalAddress). The guest is untrusted:
// without this a guest could make the daemon read or write anywhere.
//
// Work is done at enqueue time, on the executor's thread: streams are in
// order, so doing each operation when it arrives keeps CUDA's ordering, and
// every fence has passed by the time it is created.
//
// The maps below are the device itself, not a list of what to destroy (the
// session owns its objects and destroys them, Session::release_all): the
// memory behind each address, the mappings' access rights, event timestamps,
// module images, which handles are live (a device refuses one it does not
// know, and the tests of this backend check that it does). The destructor
// gives back the RAM of whatever a caller left, as freeing any storage does.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backend.h"

namespace vgpu::host::cpu {

// ---- numeric formats (IEEE binary16 and bfloat16), no CUDA headers ----------
inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// binary16 -> binary32, exact (subnormals, infinities and NaNs included).
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));  // inf / NaN (payload kept)
  if (exp != 0) return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return bits_f32(sign);  // +-0
  // Subnormal: normalise.
  int e = -1;
  do {
    ++e;
    mant <<= 1;
  } while ((mant & 0x400u) == 0);
  mant &= 0x3ffu;
  return bits_f32(sign | static_cast<uint32_t>(112 - e) << 23 | (mant << 13));
}

// binary32 -> binary16, round to nearest, ties to even; overflow -> inf,
// NaN stays NaN (quiet), underflow to subnormals / zero correctly rounded.
inline uint16_t float_to_half(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    if (abs == 0x7f800000u) return sign | 0x7c00u;
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  }
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: overflow
  if (abs < 0x38800000u) {                        // below the smallest normal half (2^-14)
    if (abs < 0x33000000u) return sign;           // below half the smallest subnormal: +-0
    // Subnormal half: value = mant * 2^-24.
    const uint32_t e = abs >> 23;
    const uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24 (e in 102..112)
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  // Normal: rebias the exponent, round the 13 dropped bits.
  uint32_t r = abs - (112u << 23);
  const uint32_t rem = r & 0x1fffu;
  r >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) ++r;  // may carry into the exponent: fine
  return static_cast<uint16_t>(sign | r);
}

inline float bf16_to_float(uint16_t b) { return bits_f32(static_cast<uint32_t>(b) << 16); }

inline uint16_t float_to_bf16(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

// ---- values used on the wire (CUDA's own numbers, no headers) ------------------
namespace dt {  // cudaDataType
inline constexpr int kR32F = 0, kR64F = 1, kR16F = 2, kR16BF = 14;
}
namespace blas_st {  // cublasStatus_t
inline constexpr int kSuccess = 0, kNotInitialized = 1, kAllocFailed = 3, kInvalidValue = 7,
                     kExecutionFailed = 13, kNotSupported = 15;
}

inline constexpr uint64_t kVmmGranularity = 2ull << 20;
inline constexpr uint64_t kDefaultQuotaMiB = 4096;

// ---- module images (cpu_kernels.cc) ----------------------------------------------
// LZ4's block format (the LZ4 project's "Block Format Description"), into
// `out`: false on malformed input or more than `limit` bytes of output.
bool lz4_block_decode(const uint8_t* src, size_t n, size_t limit, std::vector<uint8_t>* out);
// The kernels an image (fatbin, cubin or PTX) defines, by name, in the order
// the image lists them: kNotSupported where every fatbin entry is compressed
// in a form this backend cannot read (ZSTD), kInvalidImage for a damaged ELF.
Status image_kernel_names(const std::vector<uint8_t>& img, std::vector<std::string>* names);

class CpuBackend : public Backend {
 public:
  // quota_bytes == 0: kDefaultQuotaMiB.
  explicit CpuBackend(uint64_t quota_bytes = 0);
  ~CpuBackend() override;
  CpuBackend(const CpuBackend&) = delete;
  CpuBackend& operator=(const CpuBackend&) = delete;

  // Every method of backend.h's list: cpu_backend.cc, cpu_blas.cc, cpu_lt.cc,
  // cpu_vmm.cc. (The optional ones keep Backend's refusals: no kernels run here.)
  VGPU_BACKEND_METHODS(VGPU_BACKEND_OVERRIDE)

  // For tests and the status tool.
  uint64_t quota() const { return quota_; }
  uint64_t used() const { return used_; }

  // Access wanted on a device range.
  static constexpr int kRead = 1, kWrite = 2;
  // The host bytes of device range [p, p + n), or nullptr unless it lies
  // entirely inside one live allocation or one contiguous run of mappings
  // whose access allows `access`. n == 0 is never valid here: callers
  // return early for empty work.
  uint8_t* dev(DevPtr p, uint64_t n, int access) const;

 private:
  struct Event {
    uint32_t flags = 0;
    bool recorded = false;
    int64_t ns = 0;  // steady clock at the last record
  };
  struct Module {
    std::vector<uint8_t> image;
  };
  struct Function {
    Native module;
    std::string name;
  };
  // One cuMemCreate allocation: a memfd. Its bytes live until it is released
  // and no mapping refers to it any more; the quota is charged until then.
  struct VmmAlloc {
    int fd = -1;
    uint64_t size = 0;     // bytes of the memfd (page-rounded request)
    uint64_t charged = 0;  // against the quota
    uint32_t mappings = 0;
    bool released = false;
  };
  struct Mapping {
    uint64_t size;
    Native alloc;  // key into vmm_allocs_
    uint64_t offset;
    int access;  // kRead | kWrite bits granted by mem_set_access
  };

  Native next_handle() { return next_handle_++; }
  bool stream_ok(Native s) const { return s == kNativeLegacyStream || streams_.count(s) != 0; }
  void vmm_unref(Native alloc);
  // Mappings covering exactly [ptr, ptr + size) as a contiguous run of whole
  // mappings; false if the range is not that.
  bool whole_mappings(DevPtr ptr, uint64_t size, std::vector<std::map<uint64_t, Mapping>::iterator>* out);

  uint64_t quota_;
  uint64_t used_ = 0;
  // Device addresses come from a window of their own (cpu_backend.cc,
  // map_device): a worker's "device" memory is ordinary memory, and an
  // address anywhere in its mmap area could equal a host address in the
  // guest process, which would make the guest take host memory for device
  // memory (cudaMemcpyDefault, cuPointerGetAttribute).
  uint64_t next_device_va_ = 0;
 public:
  void* map_device(uint64_t len, uint64_t alignment, int prot, int flags);
 private:
  Native next_handle_ = 0x100;

  std::map<uint64_t, uint64_t> allocs_;        // mem_alloc: address -> requested bytes
  bool in_host_range(DevPtr p, uint64_t n) const;  // within one register_host range
  std::map<uint64_t, uint64_t> host_ranges_;   // register_host: address -> bytes (device-mapped host memory)
  std::map<uint64_t, uint64_t> alloc_maps_;    // address -> mmap length
  std::map<uint64_t, uint64_t> reservations_;  // va_reserve: address -> size
  std::map<Native, VmmAlloc> vmm_allocs_;
  std::map<uint64_t, Mapping> mappings_;       // address -> mapping
  std::set<Native> streams_;
  std::map<Native, Event> events_;
  std::set<uint64_t> fences_;
  std::map<Native, Module> modules_;
  std::map<Native, Function> functions_;
  std::map<std::pair<Native, std::string>, Native> function_by_name_;  // (module, name) -> functions_ key
  std::set<Native> blas_handles_;
};

}  // namespace vgpu::host::cpu
