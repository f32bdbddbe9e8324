#include "worker.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include "backend.h"
#include "dispatch.h"
#include "same_address.h"
#include "session.h"
#include "worker_profile.h"
#include "vgpu/region.h"
#include "vgpu/ring.h"
#include "vgpu/wait.h"

// Under AddressSanitizer, a worker checks for leaks before it _exit()s (which
// skips LeakSanitizer's exit-time check): everything a session held must be
// gone once it is released.
#if defined(__SANITIZE_ADDRESS__)
#define VGPU_WORKER_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VGPU_WORKER_LSAN 1
#endif
#endif
#ifdef VGPU_WORKER_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace vgpu::host {
namespace {

using Clock = std::chrono::steady_clock;

// This worker is the only writer of its slot's counters (vgpu-smi only reads
// them), so a relaxed load and store is an exact increment and avoids a locked
// read-modify-write per record.
inline void bump(std::atomic<uint64_t>& c) { c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }

uint64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

struct ChannelState {
  ChannelCtl* ctl;
  RingConsumer cmd;
  CplProducer cpl;
  std::span<std::byte> reply;
  uint64_t device_seq_addr;  // device address of ctl->device_seq; 0: no device answers
};

// Seconds the end of a session may take (Worker::run).
constexpr unsigned kTeardownDeadlineS = 20;

// Set by SIGTERM in a worker process (the daemon stopping, or dying: the
// worker's PR_SET_PDEATHSIG): the loop ends the session at its next
// housekeeping, so its objects are released in order and its profile printed.
volatile sig_atomic_t g_stop_requested = 0;
void on_sigterm(int) { g_stop_requested = 1; }

// A device answer (kFlagDeviceAnswer) whose stream is idle but whose store the
// host has not seen yet is given this long before the host answers the usual
// way instead (it never should be needed: the store is ordered before idle).
constexpr uint64_t kDeviceAnswerGraceUs = 100000;

// A completion owed to the guest: waiting for the device (fence or event), or
// for room in the completion ring.
struct Owed {
  uint32_t channel;
  uint64_t seq;
  Status status;
  uint32_t reply_len;
  uint64_t fence;
  Native event;
  Native idle_stream;
  bool has_fence, has_event, has_idle;
  uint16_t op;
  uint64_t since_ns;  // when the record ran (--profile only)
  bool device;        // the device answers by storing seq in device_seq; the host only reports failure
  uint64_t idle_seen_us;
};

class Worker {
 public:
  Worker(const RegionView& view, uint32_t slot, SlotStats* stats, const WorkerOptions& opt)
      : view_(view), slot_(slot), opt_(opt), sv_(view.slot(slot)), ctl_(sv_.ctl), s_(opt.limits) {
    s_.slot = slot;
    s_.ctl = ctl_;
    s_.stats = stats;
    if (stats) {  // stats is this slot's block of the region's stats file (stats_slot)
      s_.region_stats = stats - slot;
      s_.region_slots = view.slot_count();
    }
    s_.trace = opt.trace;
    s_.mem_quota = opt.mem_quota;
  }

  // The end of the session gets kTeardownDeadlineS, then SIGALRM ends the process.
  void teardown_deadline() { teardown_deadline_ = true; }

  int run() {
    std::string why;
    if (!open_backend(&why)) return fail(st::kNoDevice, why);
    uint64_t dev_base = 0;
    std::byte* const slot = register_slot(&dev_base);
    if (!slot) return fail(st::kOutOfMemory, "cannot register the slot's shared memory with the device");
    // Copies stage through the registered mapping (the same pages as sv_'s):
    // DMA needs registered memory to run asynchronously.
    s_.arena = slot + (sv_.arena.data() - sv_.bytes.data());
    s_.arena_bytes = sv_.arena.size();
    s_.device_arena_base = dev_base ? dev_base + view_.layout().arena_offset : 0;
    // The channels start clean, whatever the slot held: its state word may
    // have read kFree without the supervisor's wipe behind it (a guest can
    // write any word), and stale indices or records would then reach this
    // session. The guest touches no channel before the token is echoed.
    const uint64_t ch0 = view_.layout().channels_offset;
    std::memset(sv_.control.data() + ch0, 0, sv_.control.size() - ch0);
    std::atomic_thread_fence(std::memory_order_release);
    for (uint32_t i = 0; i < view_.channel_count(); ++i) {
      const ChannelView cv = view_.channel(slot_, i);
      const uint64_t dseq = dev_base ? dev_base + cv.slot_offset + offsetof(ChannelCtl, device_seq) : 0;
      // The host's ends of the rings start at 0, where the wipe left them,
      // whatever the guest may have written there since.
      chans_.push_back({cv.ctl, RingConsumer(&cv.ctl->cmd, cv.cmd.data(), static_cast<uint32_t>(cv.cmd.size()), 0),
                        CplProducer(&cv.ctl->cpl, cv.cpl.data(), static_cast<uint32_t>(cv.cpl.size()), 0), cv.reply,
                        dseq});
    }
    if (s_.stats) {
      // Counters are per session: a new guest in this slot starts from zero.
      SlotStats& x = *s_.stats;
      for (auto* f : {&x.mem_held, &x.mem_peak, &x.bytes_htod, &x.bytes_dtoh, &x.launches, &x.gemms, &x.graph_launches,
                      &x.errors, &x.records})
        f->store(0, std::memory_order_relaxed);
      for (size_t k = 0; k < kOpCount; ++k) {
        x.calls[k].store(0, std::memory_order_relaxed);
        x.op_errors[k].store(0, std::memory_order_relaxed);
      }
      s_.stats->generation.fetch_add(1, std::memory_order_relaxed);
      s_.stats->worker_pid.store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
      s_.stats->backend.store(static_cast<uint32_t>(be_->kind()), std::memory_order_relaxed);
      s_.stats->mem_quota.store(opt_.mem_quota, std::memory_order_relaxed);
      const bool mps = opt_.mps_client && be_->kind() == BackendKind::kCuda;
      s_.stats->mps.store(mps ? 1 : 0, std::memory_order_relaxed);
      s_.stats->sm_percent.store(mps ? opt_.sm_percent : 0, std::memory_order_relaxed);
      s_.stats->mps_mem_limit.store(mps ? opt_.mps_mem_limit : 0, std::memory_order_relaxed);
      s_.stats->started_unix_ms.store(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch()).count()),
                                      std::memory_order_relaxed);
      s_.stats->active.store(1, std::memory_order_release);
    }
    // Guest-written, read once each: what the log lines name and the token echoed.
    guest_pid_ = load_once(ctl_->guest_pid);
    const uint64_t token = load_once(ctl_->claim_token);
    ctl_->worker_pid = static_cast<uint32_t>(getpid());
    uint32_t expect = static_cast<uint32_t>(SlotState::kClaimed);
    if (!ctl_->state.compare_exchange_strong(expect, static_cast<uint32_t>(SlotState::kServing)))
      return fail(st::kUnknown, "slot state became " + std::to_string(expect) + " before the session started");
    ctl_->served_token.store(token, std::memory_order_release);
    std::fprintf(stderr, "vgpu-hostd: %s slot %u: serving guest pid %u on %s (worker pid %d)\n", opt_.region.c_str(),
                 slot_, guest_pid_, be_->name(), getpid());
    const int rc = loop();
    // The end of the session waits for the device (queued work must finish
    // before what it uses is freed). Work that never finishes (a kernel that
    // spins for ever, a stream waiting for a word the gone guest was to write,
    // as a host function's) would hold the slot for ever: past the deadline
    // SIGALRM's default action ends this worker, its exit tears the context
    // down with its work, and the supervisor frees the slot as for any exit.
    if (teardown_deadline_) alarm(kTeardownDeadlineS);
    if (opt_.profile) prof_.print(("slot " + std::to_string(slot_)).c_str());
    end_session();
    if (teardown_deadline_) alarm(0);  // ended in time
    return rc;
  }

 private:
  bool open_backend(std::string* why) {
    if (opt_.backend != BackendChoice::kCpu) {
      be_ = load_cuda_backend(why);
      if (be_ && be_->init(opt_.device) != st::kOk) {
        *why = "CUDA backend failed to initialise device " + std::to_string(opt_.device);
        be_.reset();
      }
      if (!be_ && opt_.backend == BackendChoice::kCuda) return false;
    }
    if (!be_) {
      be_ = make_cpu_backend(opt_.cpu_memory_bytes);
      if (be_->init(opt_.device) != st::kOk) {
        *why = "CPU backend failed to initialise";
        return false;
      }
    }
    s_.be = be_.get();
    return true;
  }

  // Registers the slot's pages with the device, at the guest's address for
  // them where that is free here (same_address.h), else where the region is
  // mapped. Returns the registered mapping's first byte (nullptr: failed).
  std::byte* register_slot(uint64_t* dev_base) {
    const uint64_t want = load_once(ctl_->guest_slot_address);
    void* at = map_again_at(sv_.bytes.data(), sv_.bytes.size(), want);
    if (at && at != sv_.bytes.data()) {
      if (be_->register_host(at, sv_.bytes.size(), dev_base) == st::kOk) {
        again_ = at;
        if (opt_.trace)
          std::fprintf(stderr, "vgpu-hostd: %s slot %u: slot mapped at the guest's address %#llx; device address %#llx\n",
                       opt_.region.c_str(), slot_, static_cast<unsigned long long>(want),
                       static_cast<unsigned long long>(*dev_base));
        return static_cast<std::byte*>(at);
      }
      unmap_again(at, sv_.bytes.data(), sv_.bytes.size());
    } else if (want && !at) {
      std::fprintf(stderr,
                   "vgpu-hostd: %s slot %u: the guest's address of the slot (%#llx) is taken in the worker: pinned "
                   "memory keeps a device address of its own (kernels given its host pointer would fault)\n",
                   opt_.region.c_str(), slot_, static_cast<unsigned long long>(want));
    }
    if (be_->register_host(sv_.bytes.data(), sv_.bytes.size(), dev_base) != st::kOk) return nullptr;
    return sv_.bytes.data();
  }

  // The worker's own fences go first (completions that will never be posted
  // now), then what the guest held (the session's teardown), then the
  // backend itself: its context, registrations and caches.
  void end_session() {
    for (const Owed& o : waiting_)
      if (o.has_fence) be_->fence_release(o.fence);
    waiting_.clear();
    unposted_.clear();
    const Session::Released left = s_.release_all();
    if (left.any())
      std::fprintf(stderr, "vgpu-hostd: %s slot %u: the session ended holding %s: released\n", opt_.region.c_str(),
                   slot_, left.text().c_str());
    s_.be = nullptr;  // nothing of the session may reach the backend after this
    be_.reset();      // (unregisters the slot's pages)
    unmap_again(again_, sv_.bytes.data(), sv_.bytes.size());
    again_ = nullptr;
    if (s_.stats) s_.stats->active.store(0, std::memory_order_release);
  }

  int fail(Status s, const std::string& why) {
    std::fprintf(stderr, "vgpu-hostd: %s slot %u: ending session: %s\n", opt_.region.c_str(), slot_, why.c_str());
    ctl_->fatal.store(static_cast<uint32_t>(s ? s : st::kUnknown), std::memory_order_release);
    return 2;
  }

  // Runs every record that is next in sequence, from whichever channel holds it.
  // Returns -1 on a protocol error, else how many records ran.
  int drain() {
    int ran = 0;
    for (bool any = true; any;) {
      any = false;
      for (uint32_t i = 0; i < chans_.size(); ++i) {
        ChannelState& ch = chans_[i];
        RingConsumer::View v;
        for (;;) {
          const RingError e = ch.cmd.peek(&v);
          if (e == RingError::kEmpty) break;
          if (e != RingError::kNone) {
            why_ = e == RingError::kBadWrap ? "malformed wrap marker" : "malformed record size";
            return -1;
          }
          if (v.seq != next_seq_) {
            if (v.seq < next_seq_) {
              why_ = "record sequence went backwards";
              return -1;
            }
            break;  // another channel holds the next record
          }
          ch.cmd.prefetch_next(v);  // the next record arrives while this one runs on the device API
          if (!execute(i, ch, v)) return -1;
          any = true;
          // Let waiting completions and housekeeping in between long bursts.
          if (++ran >= 512) return ran;
        }
      }
    }
    return ran;
  }

  bool execute(uint32_t index, ChannelState& ch, const RingConsumer::View& v) {
    const uint64_t t0 = s_.trace ? now_us() : 0;
    const uint64_t p0 = opt_.profile ? WorkerProfile::now_ns() : 0;
    if (opt_.profile && last_end_ns_) prof_.gap(p0 - last_end_ns_);
    Call call{s_, index, v.seq, v.flags};
    uint32_t reply_len = 0;
    const Status st = dispatch(call, v.op, v.payload, v.payload_bytes, ch.reply.data(),
                               static_cast<uint32_t>(ch.reply.size()), &reply_len);
    if (opt_.profile) prof_.dispatched(v.op, (last_end_ns_ = WorkerProfile::now_ns()) - p0);
    if (s_.trace) trace_call(call, v.op, v.payload, v.payload_bytes, st, double(now_us() - t0));
    ch.cmd.pop(v);
    ++next_seq_;
    if (st == kProtocolError) {
      why_ = std::string(op_name(v.op)) + ": " + (call.protocol_error ? call.protocol_error : "protocol error");
      return false;
    }
    if (s_.stats) {
      bump(s_.stats->records);
      bump(s_.stats->calls[v.op]);
      // "Not ready" and ModuleLoad's "upload it" are answers, not errors.
      const bool answer = st == vgpu::st::kNotReady || (st == vgpu::st::kNotFound && v.op == uint16_t(Op::ModuleLoad));
      if (st != vgpu::st::kOk && !answer) {
        s_.stats->op_errors[v.op].fetch_add(1, std::memory_order_relaxed);
        s_.stats->errors.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (call.wants_completion()) {
      Owed o{index, v.seq, st, reply_len, call.fence, call.event, call.idle_stream,
             call.has_fence, call.has_event, call.has_idle, v.op, opt_.profile ? WorkerProfile::now_ns() : 0,
             false, 0};
      if (st == vgpu::st::kOk && (call.has_fence || call.has_event || call.has_idle)) {
        // A synchronise the device can answer by itself: only with no earlier
        // error to report (a device answer carries none) and a reply-less op.
        // The flag counts only on an op whose policy allows it (ops.h, Policy).
        if (call.has_idle && (v.flags & kFlagDeviceAnswer) && op_device_answerable(v.op) && ch.device_seq_addr &&
            reply_len == 0 &&
            s_.async_error == vgpu::st::kOk &&
            be_->stream_write_value(call.idle_stream, ch.device_seq_addr, v.seq) == vgpu::st::kOk)
          o.device = true;
        waiting_.push_back(o);
      } else {
        if (call.has_fence) be_->fence_release(call.fence);
        owe(o);
      }
    } else if (st != vgpu::st::kOk && s_.async_error == vgpu::st::kOk) {
      s_.async_error = st;  // reported by the next synchronising call
    }
    return true;
  }

  void owe(const Owed& o) {
    ChannelState& ch = chans_[o.channel];
    const Status async = s_.async_error;
    if (ch.cpl.try_post(o.status, o.seq, 0, o.reply_len, async)) {
      s_.async_error = st::kOk;
      wake_if_needed(&ch.ctl->guest_need_wakeup, &ch.ctl->cpl_doorbell);
    } else if (ch.cpl.broken()) {
      if (why_.empty()) why_ = "completion ring head out of range";  // loop() ends the session
    } else {
      unposted_.push_back(o);  // the guest is behind on its completions
    }
  }

  bool poll_waiting() {
    bool done_any = false;
    for (size_t i = 0; i < waiting_.size();) {
      Owed& o = waiting_[i];
      const Status s = o.device      ? poll_device_answer(o)
                       : o.has_fence ? be_->fence_poll(o.fence)
                       : o.has_event ? be_->event_query(o.event)
                                     : be_->stream_query(o.idle_stream);
      if (s == st::kNotReady) {
        ++i;
        continue;
      }
      if (o.has_fence) be_->fence_release(o.fence);
      if (opt_.profile) prof_.answered(o.op, WorkerProfile::now_ns() - o.since_ns);
      if (!o.device) {  // (a device answer that landed needs nothing posted)
        o.status = s;
        owe(o);
      }
      waiting_[i] = waiting_.back();
      waiting_.pop_back();
      done_any = true;
    }
    if (!unposted_.empty()) {
      std::vector<Owed> retry;
      retry.swap(unposted_);
      for (auto& o : retry) owe(o);
    }
    return done_any;
  }

  // A synchronise the device answers (Owed::device): kNotReady while it is
  // pending. Once settled, o.device stays true if the device's store landed
  // (the guest has its answer), or turns false and the result is the answer
  // to post: the stream's error, or success if the stream went idle and the
  // store did not show within the grace.
  Status poll_device_answer(Owed& o) {
    auto landed = [&] { return chans_[o.channel].ctl->device_seq.load(std::memory_order_acquire) == o.seq; };
    if (landed()) return st::kOk;
    const Status s = be_->stream_query(o.idle_stream);
    if (s == st::kNotReady) return s;
    if (s == st::kOk) {  // idle: the store is ordered before, so it is on its way
      const uint64_t t = now_us();
      if (!o.idle_seen_us) o.idle_seen_us = t;
      if (t - o.idle_seen_us < kDeviceAnswerGraceUs) return st::kNotReady;
    }
    // Past the grace, or failed. If the success store landed meanwhile, a
    // failure belongs to later work and a later call reports it.
    if (landed()) return st::kOk;
    o.device = false;
    return s;
  }

  // Something for drain() to do: the next record in sequence, or a
  // malformed one (which ends the session). A record further ahead is not:
  // it waits for another channel's, and a guest that publishes only such
  // records must cost the host a sleeping worker, not a spinning one.
  bool any_ready() {
    for (auto& ch : chans_) {
      RingConsumer::View v;
      const RingError e = ch.cmd.peek(&v);
      if (e != RingError::kEmpty && (e != RingError::kNone || v.seq <= next_seq_)) return true;
    }
    return false;
  }

  // Returns an exit code when the session should end, else -1.
  int housekeeping() {
    if (g_stop_requested) return fail(st::kNoDevice, "the daemon is stopping");
    ctl_->worker_heartbeat.fetch_add(1, std::memory_order_relaxed);
    const uint64_t now = now_us();
    const uint64_t beat = ctl_->guest_heartbeat.load(std::memory_order_relaxed);
    if (beat != last_guest_beat_) last_guest_beat_ = beat, last_guest_change_ = now;
    // No check of the header's session id: it is the guest's to scribble on,
    // and this worker dies with the daemon that owns the session anyway
    // (PR_SET_PDEATHSIG). The slot's state word, read once:
    const uint32_t state = ctl_->state.load(std::memory_order_acquire);
    if (state == static_cast<uint32_t>(SlotState::kClosing) || s_.bye) {
      std::fprintf(stderr, "vgpu-hostd: %s slot %u: guest pid %u left\n", opt_.region.c_str(), slot_, guest_pid_);
      return 0;
    }
    if (state != static_cast<uint32_t>(SlotState::kServing))
      return fail(st::kUnknown, "slot state " + std::to_string(state) + " is outside the protocol");
    if (now - last_guest_change_ > uint64_t(opt_.guest_timeout_ms) * 1000) {
      std::fprintf(stderr, "vgpu-hostd: %s slot %u: guest pid %u stopped answering; releasing its resources\n",
                   opt_.region.c_str(), slot_, guest_pid_);
      return 3;
    }
    return -1;
  }

  int loop() {
    last_guest_change_ = now_us();
    uint64_t last_work = now_us(), last_house = 0;
    for (;;) {
      const int ran = drain();
      if (ran < 0) return fail(st::kUnknown, why_);
      const bool completed = !waiting_.empty() || !unposted_.empty() ? poll_waiting() : false;
      if (!why_.empty()) return fail(st::kUnknown, why_);  // owe() met a broken completion ring
      const uint64_t now = now_us();
      if (ran || completed) last_work = now;
      if (now - last_house > opt_.housekeeping_us) {
        last_house = now;
        if (int rc = housekeeping(); rc >= 0) return rc;
      }
      if (ran || completed) continue;
      if (!waiting_.empty() && opt_.profile) last_end_ns_ = 0;  // a wait on the device is not a gap
      if (!waiting_.empty() || now - last_work < opt_.spin_us) {
        cpu_relax();  // the device or the guest is about to have something
        continue;
      }
      WaitPolicy p{0, 0, opt_.idle_sleep_us};
      last_end_ns_ = 0;  // idle: the next record's gap is the guest's, not ours
      wait_until([&] { return any_ready(); }, [] { return true; }, &ctl_->need_wakeup, &ctl_->doorbell, p);
      last_work = now_us() - opt_.spin_us + 200;  // after a wake, spin a little before sleeping again
    }
  }

  RegionView view_;
  uint32_t slot_;
  WorkerOptions opt_;
  SlotView sv_;
  SlotCtl* ctl_;
  uint32_t guest_pid_ = 0;
  std::unique_ptr<Backend> be_;
  bool teardown_deadline_ = false;
  void* again_ = nullptr;  // the slot's second mapping, at the guest's address (register_slot)
  Session s_;
  std::vector<ChannelState> chans_;
  std::vector<Owed> waiting_, unposted_;
  uint64_t next_seq_ = 1;
  uint64_t last_guest_beat_ = 0, last_guest_change_ = 0;
  std::string why_;
  WorkerProfile prof_;
  uint64_t last_end_ns_ = 0;
};

}  // namespace

int serve_slot(const RegionView& view, uint32_t slot, SlotStats* stats, const WorkerOptions& opt) {
  Worker w(view, slot, stats, opt);
  return w.run();
}

int run_worker(const RegionView& view, uint32_t slot, SlotStats* stats, const WorkerOptions& opt) {
  // SIGTERM ends the session in order (on_sigterm); without SA_RESTART, so a
  // worker asleep on its doorbell wakes for it.
  struct sigaction sa{};
  sa.sa_handler = &on_sigterm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the daemon
  Worker w(view, slot, stats, opt);
  w.teardown_deadline();  // a worker process may be ended by its own alarm; an in-process test may not
  const int rc = w.run();
#ifdef VGPU_WORKER_LSAN
  if (__lsan_do_recoverable_leak_check() != 0)
    std::fprintf(stderr, "vgpu-hostd: slot %u: the worker leaked memory (LeakSanitizer report above)\n", slot);
#endif
  return rc;
}

}  // namespace vgpu::host
