// The guest side of the wire: one Client per process, shared by every library
// we stand in for (libcuda, libcudart, libcublas, libnvidia-ml all reach the
// one instance that lives in our libcuda.so.1, so they share one host session
// and one device address space).
//
// A process claims one slot of the region. Each guest thread gets its own
// channel (its own single-producer command ring); when there are more threads
// than channels, the extra threads share one channel under a mutex. Every
// record carries a process-wide sequence number and the host executes records
// in that order across channels, so CUDA's ordering between threads (a launch
// on thread A, then a copy on thread B of the same stream) is kept.
//
// Memory ordering: see ring.h for records and completions and wait.h for
// sleeping. `seq_` is taken with a relaxed fetch_add after the ring space is
// reserved; the record's release-store publish orders it for the host.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "arena.h"
#include "config.h"
#include "mapping.h"
#include "vgpu/ops.h"
#include "vgpu/region.h"
#include "vgpu/ring.h"
#include "vgpu/status.h"

namespace vgpu::guest {

using Bytes = std::span<const std::byte>;
using MutBytes = std::span<std::byte>;

inline Bytes as_bytes(const void* p, size_t n) { return {static_cast<const std::byte*>(p), n}; }

template <class T>
constexpr uint32_t wire_size() {
  return std::is_empty_v<T> ? 0 : sizeof(T);
}

class Channel;

class Client {
 public:
  // The process' client, attached on first use. Check status() before use.
  static Client& get();
  // The client if get() has run in this process, else nullptr (never attaches).
  static Client* existing();

  // kOk once attached and greeted; otherwise why not (kNoDevice if no host
  // region could be found, kDeviceUnavailable if the host went away).
  Status status() const { return init_status_; }
  const std::string& status_text() const { return init_text_; }

  // A Sync call: waits for the host's answer. `extra` receives variable-size
  // reply bytes that follow the reply struct (their count in *extra_len).
  template <Op op>
  Status call(const typename OpTraits<op>::Request& req, typename OpTraits<op>::Reply* rep = nullptr,
              Bytes in = {}, MutBytes extra = {}, uint32_t* extra_len = nullptr) {
    static_assert(OpTraits<op>::mode == Mode::kSync);
    return exec(static_cast<uint16_t>(op), true, &req, wire_size<typename OpTraits<op>::Request>(), in,
                rep, wire_size<typename OpTraits<op>::Reply>(), extra, extra_len);
  }

  // A Posted call: returns once the record is in the ring.
  template <Op op>
  Status post(const typename OpTraits<op>::Request& req, Bytes in = {}) {
    static_assert(OpTraits<op>::mode == Mode::kPosted);
    return exec(static_cast<uint16_t>(op), false, &req, wire_size<typename OpTraits<op>::Request>(), in,
                nullptr, 0, {}, nullptr);
  }

  // Copies between guest memory and the device. Memory inside the arena
  // (pinned host memory) moves by DMA with no guest copy; other memory is
  // staged through per-channel arena chunks, pipelined. copy_htod returns
  // when the source may be reused (at once for arena memory when !sync);
  // copy_dtoh returns when the bytes are in `dst` unless dst is arena memory
  // and !sync.
  Status copy_htod(DevPtr dst, const void* src, uint64_t n, Handle stream, bool sync);
  Status copy_dtoh(void* dst, DevPtr src, uint64_t n, Handle stream, bool sync);

  // Sends a large blob (a fatbin) by BlobAppend chunks.
  Status upload_blob(const void* data, uint64_t n);

  Arena& arena() { return *arena_; }
  // Arena memory for pinned host memory (cuMemHostAlloc & co.), or nullptr
  // when the arena cannot hold `n` bytes while leaving each channel that has
  // no staging chunk yet room for one (within the staging budget): a pinned
  // buffer that took the arena's last bytes would make every later pageable
  // copy on a new thread fail for want of staging.
  void* arena_alloc_pinned(uint64_t n);
  bool in_arena(const void* p, uint64_t n) const { return arena_ && arena_->contains(p, n ? n : 1); }
  uint64_t arena_off(const void* p) const { return arena_->offset_of(p); }
  // The device address (host's mapping) of arena memory, for cudaHostGetDevicePointer.
  uint64_t device_address_of(const void* p) const { return hello_.host_arena_base + arena_off(p); }

  const HelloRep& hello() const { return hello_; }
  // Cached description of the host's device `ordinal` (nullptr if none).
  const DeviceInfoRep* device_info(int ordinal);

  // Earliest error met by a posted call and not yet reported; cleared by reading.
  Status take_async_error() { return async_error_.exchange(st::kOk, std::memory_order_acq_rel); }
  void note_async_error(Status s) {
    Status expected = st::kOk;
    if (s != st::kOk) async_error_.compare_exchange_strong(expected, s, std::memory_order_acq_rel);
  }

  // How a thread waits for the host's answer, from the context's scheduling
  // flags (CU_CTX_SCHED_*: cuDevicePrimaryCtxSetFlags, cudaSetDeviceFlags,
  // cuCtxCreate; the last one set applies to the whole process):
  //   kSpin  (AUTO, SPIN) spins through waits of up to kSpinWaitUs, as CUDA's
  //          synchronise spins for a process with fewer contexts than CPUs; a
  //          sleep would add a wake-up (tens of microseconds in a VM) to every
  //          synchronise that waits on the device. Only with a GPU host and
  //          fewer spinning threads than CPUs; otherwise as the default below;
  //   kYield (YIELD) spins briefly, then yields the CPU between polls;
  //   kBlock (BLOCKING_SYNC) spins briefly, then sleeps until woken.
  // The default policy (wait.h's WaitPolicy) spins ~tens of microseconds,
  // yields a while, then sleeps.
  enum class WaitMode : uint32_t { kSpin, kYield, kBlock };
  static constexpr uint32_t kSpinWaitUs = 100000;
  void set_wait_mode(WaitMode m) { wait_mode_.store(m, std::memory_order_relaxed); }
  WaitMode wait_mode() const { return wait_mode_.load(std::memory_order_relaxed); }

  // Called by our libraries' ELF destructor: tells the host we are done.
  void shutdown();

  // Marks a failing host: from now on every call fails fast with `s`.
  void fail(Status s, const std::string& why);

 private:
  explicit Client(const GuestConfig& cfg);
  friend class Channel;
  Status exec(uint16_t op, bool sync, const void* req, uint32_t req_len, Bytes in, void* rep, uint32_t rep_len,
              MutBytes extra, uint32_t* extra_len);
  Status connect();
  static void after_fork_in_child();
  Channel* channel();  // the calling thread's channel, claimed on first use
  bool host_gone();    // true (and fail()s) if the host died, restarted or ended the session
  void heartbeat_loop();

  const GuestConfig& cfg_;
  Status init_status_ = st::kNotInitialized;
  std::string init_text_;
  std::atomic<Status> dead_{st::kOk};
  std::atomic<WaitMode> wait_mode_{WaitMode::kSpin};
  std::atomic<uint32_t> long_spinners_{0};  // threads now in a kSpinWaitUs spin
  uint32_t max_long_spinners_ = 1;          // this machine's CPUs less one, at least one
  std::unique_ptr<Mapping> map_;
  uint32_t slot_ = 0;
  SlotCtl* ctl_ = nullptr;
  uint64_t session_id_ = 0;
  uint64_t token_ = 0;
  int pid_ = 0;
  std::unique_ptr<Arena> arena_;
  HelloRep hello_{};
  std::atomic<uint64_t> seq_{0};
  std::atomic<Status> async_error_{st::kOk};
  std::atomic<uint64_t> staging_bytes_{0};  // arena bytes held by channels' staging chunks
  std::atomic<uint32_t> staged_channels_{0};  // channels holding at least one staging chunk
  std::mutex mu_;  // channel claims, device cache, shared channel
  std::vector<std::unique_ptr<Channel>> channels_;
  std::vector<std::unique_ptr<DeviceInfoRep>> devices_;
  Channel* shared_ = nullptr;  // used by threads beyond channels_per_slot
};

// Logs "vgpu: <name> is not supported" once per name, to stderr.
void log_unsupported(const char* name);
// Logs a line to stderr under VGPU_DEBUG.
void debug_log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace vgpu::guest
