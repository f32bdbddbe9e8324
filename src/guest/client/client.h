// The guest side of the wire: one Client per process, shared by every library
// we stand in for (libcuda, libcudart, libcublas, libnvidia-ml all reach the
// one instance that lives in our libcuda.so.1, so they share one host session
// and one device address space).
//
// The Client ties together the parts that do the work, each in a file of its
// own: the slot and session life cycle (slot.h: claim, heartbeats, fork,
// leaving; liveness.h: whether the session stands), the calling thread's
// channel (channel_pool.h) and the channel itself (channel.h: records,
// completions, waiting), the prologue every call starts with (call_lease.h),
// the staged copies and the arena's budget (copies.h), the configuration
// (config.h) and logging (log.h). What is left here: attaching, Hello, the
// device cache, and the typed call<Op>/post<Op> the libraries use.
//
// A process claims one slot of the region. Each guest thread gets its own
// channel (its own single-producer command ring); when there are more threads
// than channels, the extra threads share one channel under a mutex. Every
// record carries a process-wide sequence number and the host executes records
// in that order across channels, so CUDA's ordering between threads (a launch
// on thread A, then a copy on thread B of the same stream) is kept.
//
// Memory ordering: see ring.h for records and completions, wait.h for
// sleeping, channel.h for the sequence numbers and liveness.h for the
// session's status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "arena.h"
#include "call_lease.h"
#include "channel.h"
#include "channel_pool.h"
#include "config.h"
#include "copies.h"
#include "log.h"
#include "slot.h"
#include "vgpu/ops.h"
#include "vgpu/status.h"
#include "wait_mode.h"

namespace vgpu::guest {

inline Bytes as_bytes(const void* p, size_t n) { return {static_cast<const std::byte*>(p), n}; }

template <class T>
constexpr uint32_t wire_size() {
  return std::is_empty_v<T> ? 0 : sizeof(T);
}

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
  Status take_async_error() { return shared_.errors.take(); }
  void note_async_error(Status s) { shared_.errors.note(s); }

  // How a thread waits for the host's answer (wait_mode.h), from the
  // context's scheduling flags.
  using WaitMode = guest::WaitMode;
  static constexpr uint32_t kSpinWaitUs = WaitTuning::kSpinWaitUs;
  void set_wait_mode(WaitMode m) { shared_.wait.set_mode(m); }
  WaitMode wait_mode() const { return shared_.wait.mode(); }

  // Called by our libraries' ELF destructor: tells the host we are done.
  void shutdown();

  // Marks a failing host: from now on every call fails fast with `s`.
  void fail(Status s, const std::string& why) { slot_.liveness().fail(s, why); }

 private:
  explicit Client(const GuestConfig& cfg);
  Status connect();
  // The prologue of every call (call_lease.h).
  CallLease lease() { return CallLease(init_status_, slot_.liveness(), channels_.get()); }
  Status exec(uint16_t op, bool sync, const void* req, uint32_t req_len, Bytes in, void* rep, uint32_t rep_len,
              MutBytes extra, uint32_t* extra_len);
  Status exec(const CallLease& lease, uint16_t op, bool sync, const void* req, uint32_t req_len, Bytes in,
              void* rep, uint32_t rep_len, MutBytes extra, uint32_t* extra_len);

  const GuestConfig& cfg_;
  Status init_status_ = st::kNotInitialized;
  std::string init_text_;
  Slot slot_;
  ChannelShared shared_{slot_.liveness()};
  std::unique_ptr<Arena> arena_;
  std::unique_ptr<ChannelPool> channels_;
  std::unique_ptr<StagedCopies> copies_;
  HelloRep hello_{};
  std::mutex devices_mu_;
  std::vector<std::unique_ptr<DeviceInfoRep>> devices_;
};

}  // namespace vgpu::guest
