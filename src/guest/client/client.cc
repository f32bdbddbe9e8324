#include "client.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "copier.h"
#include "host_watch.h"
#include "vgpu/wait.h"

namespace vgpu::guest {

namespace {
constexpr uint32_t kStageChunks = 4;
constexpr uint64_t kStageChunkBytes = 2ull << 20;

uint64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

void debug_log(const char* fmt, ...) {
  if (!guest_config().debug) return;
  va_list ap;
  va_start(ap, fmt);
  std::fputs("vgpu: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

void log_unsupported(const char* name) {
  // Never destroyed: NVIDIA's runtime calls the driver from its own ELF
  // destructor, after this library's static destructors.
  static std::mutex& mu = *new std::mutex;
  static auto& seen = *new std::set<std::string>;
  std::lock_guard lk(mu);
  if (seen.insert(name).second) std::fprintf(stderr, "vgpu: %s is not supported; returning an error\n", name);
}

// One guest thread's view of a channel: its ring producer, completion
// consumer, reply buffer and copy staging chunks.
class Channel {
 public:
  Channel(Client* c, const ChannelView& v, SlotCtl* slot) : client_(c) {
    ctl_ = v.ctl;
    slot_ctl_ = slot;
    prod_ = RingProducer(&ctl_->cmd, v.cmd.data(), static_cast<uint32_t>(v.cmd.size()));
    cons_ = CplConsumer(&ctl_->cpl, v.cpl.data(), static_cast<uint32_t>(v.cpl.size()));
    reply_ = v.reply.data();
    reply_bytes_ = static_cast<uint32_t>(v.reply.size());
  }

  std::mutex& mu() { return mu_; }
  bool shared = false;
  const std::byte* reply() const { return reply_; }
  uint32_t reply_bytes() const { return reply_bytes_; }
  uint32_t max_payload() const { return prod_.max_payload(); }

  // Publishes one record and returns its sequence number in *seq.
  Status send(uint16_t op, uint16_t flags, const void* req, uint32_t req_len, Bytes in, uint64_t* seq) {
    const uint64_t payload = uint64_t(req_len) + in.size();
    if (payload > prod_.max_payload()) return st::kInvalidValue;
    // After a host restart the region belongs to a new session (perhaps a new
    // guest in this very slot): a stale guest must not write into it.
    if (client_->host_gone()) return client_->dead_.load();
    RecordHeader* h;
    for (uint32_t spins = 0; !(h = prod_.try_reserve(static_cast<uint32_t>(payload))); ++spins) {
      // Ring full: the host is behind. Wait for it to consume.
      if (client_->host_gone()) return client_->dead_.load();
      if (spins < 1000) cpu_relax();
      else if (spins < 2000) sched_yield();
      else usleep(50);
    }
    auto* p = reinterpret_cast<std::byte*>(h) + sizeof(RecordHeader);
    if (req_len) std::memcpy(p, req, req_len);
    if (!in.empty()) std::memcpy(p + req_len, in.data(), in.size());
    *seq = client_->seq_.fetch_add(1, std::memory_order_relaxed) + 1;
    prod_.commit(h, op, flags, *seq);
    wake_if_needed(&slot_ctl_->need_wakeup, &slot_ctl_->doorbell);
    return st::kOk;
  }

  // Waits for the completion of record `seq` (sent with kFlagWantCompletion;
  // with `device_answer`, also kFlagDeviceAnswer: then the device storing
  // seq into device_seq is the answer "done, no error").
  Status wait(uint64_t seq, CompletionData* out, bool device_answer = false) {
    for (size_t i = 0; i < stash_.size(); ++i) {
      if (stash_[i].seq == seq) {
        *out = stash_[i];
        stash_.erase(stash_.begin() + static_cast<long>(i));
        return st::kOk;
      }
    }
    bool found = false;
    auto ready = [&] {
      if (device_answer && ctl_->device_seq.load(std::memory_order_acquire) == seq) {
        *out = CompletionData{st::kOk, seq, 0, 0, st::kOk};
        device_answered_ = seq;
        found = true;
        return true;
      }
      CompletionData c;
      while (cons_.try_take(&c)) {
        if (c.async_error) client_->note_async_error(c.async_error);
        // The host answers a device-answered record only if the device's
        // store raced its failure check: report that failure as an
        // asynchronous error rather than keep the completion forever.
        if (c.seq == device_answered_ && c.seq != seq) {
          client_->note_async_error(c.status);
          continue;
        }
        if (c.seq == seq) {
          *out = c;
          found = true;
          return true;
        }
        // An asynchronous staged copy's error is reported now, as an
        // asynchronous error, not later to whichever copy reuses its chunk.
        for (uint32_t k = 0; k < nstage_; ++k) {
          if (stage_seq_[k] == c.seq && stage_async_[k] && c.status != st::kOk) {
            client_->note_async_error(c.status);
            c.status = st::kOk;
          }
        }
        stash_.push_back(c);
      }
      // Gone (host restarted, session ended): stop reading a ring that may
      // now carry another session's completions.
      return client_->host_gone();
    };
    auto give_up = [&] { return client_->host_gone(); };
    WaitPolicy p;  // the default: spin briefly, yield, then sleep
    bool long_spin = false;
    switch (client_->wait_mode()) {
      case Client::WaitMode::kSpin:
        // Spin long only where spinning cannot slow the answer down: with a
        // GPU host (the CPU backend's worker shares this machine's CPUs) and
        // fewer spinning threads than CPUs, as CUDA's AUTO mode spins only
        // with fewer contexts than CPUs.
        if (client_->hello().backend == static_cast<uint32_t>(BackendKind::kCuda)) {
          if (client_->long_spinners_.fetch_add(1, std::memory_order_relaxed) < client_->max_long_spinners_) {
            p.spin_us = Client::kSpinWaitUs;
            long_spin = true;
          } else {
            client_->long_spinners_.fetch_sub(1, std::memory_order_relaxed);
          }
        }
        break;
      case Client::WaitMode::kYield: p.spin_iters = 2000, p.yield_iters = 1u << 30; break;
      case Client::WaitMode::kBlock: p.spin_iters = 2000, p.yield_iters = 0; break;
    }
    const bool ok = wait_until(ready, give_up, &ctl_->guest_need_wakeup, &ctl_->cpl_doorbell, p);
    if (long_spin) client_->long_spinners_.fetch_sub(1, std::memory_order_relaxed);
    if (!ok || !found) {
      const Status d = client_->dead_.load();
      return d ? d : st::kUnknown;
    }
    return st::kOk;
  }

  // A copy of pinned (arena) memory: one record; with `sync`, the host
  // answers once the copy is done on the device, and that answer is returned.
  template <Op op>
  Status send_and_maybe_wait(const typename OpTraits<op>::Request& req, bool sync) {
    uint64_t seq = 0;
    Status s = send(kOpcode<op>, sync ? awaited_flags<op>() : 0, &req, sizeof req, {}, &seq);
    if (s || !sync) return s;
    CompletionData c{};
    return (s = wait(seq, &c)) ? s : c.status;
  }

  // Allocates this channel's staging chunks from the arena on first use: up
  // to kStageChunks, fewer when the arena is short or the process' staging
  // budget (half the arena; pinned host memory needs the rest) is spent,
  // but at least one. kOutOfMemory if not even one chunk can be had.
  Status ensure_stages() {
    if (nstage_) return st::kOk;
    const uint64_t budget = client_->arena().bytes() / 2;
    uint32_t n = 0;
    for (; n < kStageChunks; ++n) {
      if (n > 0 && client_->staging_bytes_.load(std::memory_order_relaxed) + kStageChunkBytes > budget) break;
      stage_[n] = static_cast<std::byte*>(client_->arena().allocate(kStageChunkBytes, 4096));
      if (!stage_[n]) break;
      client_->staging_bytes_.fetch_add(kStageChunkBytes, std::memory_order_relaxed);
    }
    nstage_ = n;
    if (n) client_->staged_channels_.fetch_add(1, std::memory_order_relaxed);
    return n ? st::kOk : st::kOutOfMemory;
  }
  uint32_t nstage() const { return nstage_; }
  std::byte* stage(uint32_t k) { return stage_[k]; }
  // Waits until chunk k's last copy is done; returns that copy's status (for
  // an asynchronous copy, whose caller has returned, its error is reported
  // as an asynchronous error instead and kOk returned).
  Status free_stage(uint32_t k) {
    if (!stage_seq_[k]) return st::kOk;
    CompletionData c{};
    Status s = wait(stage_seq_[k], &c);
    stage_seq_[k] = 0;
    if (s) return s;
    if (stage_async_[k]) {
      stage_async_[k] = false;
      client_->note_async_error(c.status);
      return st::kOk;
    }
    return c.status;
  }
  void set_stage(uint32_t k, uint64_t seq, bool async) {
    stage_seq_[k] = seq;
    stage_async_[k] = async;
  }
  uint32_t next_stage() {
    uint32_t k = next_stage_ % nstage_;
    next_stage_ = (k + 1) % nstage_;
    return k;
  }

  void release() { ctl_->in_use.store(0, std::memory_order_release); }

 private:
  Client* client_;
  ChannelCtl* ctl_;
  SlotCtl* slot_ctl_;
  RingProducer prod_;
  CplConsumer cons_;
  std::byte* reply_;
  uint32_t reply_bytes_;
  std::mutex mu_;
  std::vector<CompletionData> stash_;
  uint64_t device_answered_ = 0;  // the last seq the device answered (see wait)
  std::byte* stage_[kStageChunks] = {};
  uint64_t stage_seq_[kStageChunks] = {};
  bool stage_async_[kStageChunks] = {};
  uint32_t nstage_ = 0;
  uint32_t next_stage_ = 0;
};

namespace {
// Returns the thread's channel to the pool when the thread exits.
struct Lease {
  Channel* ch = nullptr;
  ~Lease() {
    if (ch && !ch->shared) ch->release();
  }
};
thread_local Lease t_lease;
}  // namespace

namespace {
std::atomic<Client*> g_client{nullptr};
}

Client& Client::get() {
  // Never destroyed: other libraries' destructors may still call us at exit.
  static Client* c = [] {
    auto* p = new Client(guest_config());
    g_client.store(p, std::memory_order_release);
    return p;
  }();
  return *c;
}

Client* Client::existing() { return g_client.load(std::memory_order_acquire); }

// A fork()ed child of an attached process shares its parent's session
// (region, channels, sequence numbers) but must not use it: its records would
// reach the host as the parent's and break the parent's ordering. As with
// CUDA, the child's calls fail (CUDA_ERROR_NOT_INITIALIZED) and, as the
// child's thread keeps the parent's channel lease, that lease is dropped
// without touching the channel.
void Client::after_fork_in_child() {
  t_lease.ch = nullptr;
  if (Client* c = existing()) c->dead_.store(st::kNotInitialized, std::memory_order_release);
}

Client::Client(const GuestConfig& cfg) : cfg_(cfg) {
  pid_ = getpid();
  max_long_spinners_ = static_cast<uint32_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN) - 1));
  pthread_atfork(nullptr, nullptr, &Client::after_fork_in_child);
  init_status_ = connect();
  if (init_status_ != st::kOk) std::fprintf(stderr, "vgpu: no GPU available: %s\n", init_text_.c_str());
}

Status Client::connect() {
  std::string err;
  map_ = attach_guest_region(cfg_.region, cfg_.sysfs_pci, &err);
  if (!map_) {
    init_text_ = err;
    return st::kNoDevice;
  }
  // Every address below comes from the view: the layout of one validated
  // copy of the header (attach_guest_region), not from the live header.
  const RegionView& view = map_->view();
  RegionHeader* h = map_->header();
  // A live host stores a new heartbeat every ~100 ms. One that has not moved
  // for HostWatch::kStartStaleMs means no daemon serves the region (killed,
  // stopped or not started): fail now, naming it, rather than wait.
  HostWatch watch(h, now_ms(), map_->same_host());
  const uint64_t deadline = now_ms() + cfg_.connect_timeout_ms;
  auto host_dead = [&](const char* waiting_for) {
    const bool gone = watch.gone(now_ms(), HostWatch::kStartStaleMs);
    if (!gone && now_ms() <= deadline) return false;
    init_text_ = map_->source() + ": no vgpu-hostd is serving this region (" +
                 (gone ? "its heartbeat has not moved for " + std::to_string(watch.still_ms(now_ms())) + " ms"
                       : std::string("timed out")) +
                 " while waiting for " + waiting_for + ")";
    return true;
  };
  while (h->host_state.load(std::memory_order_acquire) != static_cast<uint32_t>(HostState::kReady)) {
    if (host_dead("the host to be ready")) return st::kNoDevice;
    usleep(10000);
  }
  session_id_ = h->session_id.load(std::memory_order_acquire);
  std::random_device rd;
  while (token_ == 0) token_ = (uint64_t(rd()) << 32) ^ rd();

  // Claim a free slot: kFree -> kClaiming (ours alone), fill it in, -> kClaimed.
  auto claim = [&] {
    for (uint32_t s = 0; s < view.slot_count(); ++s) {
      SlotCtl* c = view.slot(s).ctl;
      uint32_t expect = static_cast<uint32_t>(SlotState::kFree);
      if (!c->state.compare_exchange_strong(expect, static_cast<uint32_t>(SlotState::kClaiming))) continue;
      c->guest_pid = static_cast<uint32_t>(pid_);
      c->claim_token = token_;
      c->claimed_session = session_id_;
      c->guest_heartbeat.store(1, std::memory_order_relaxed);
      c->state.store(static_cast<uint32_t>(SlotState::kClaimed), std::memory_order_release);
      slot_ = s;
      ctl_ = c;
      return true;
    }
    return false;
  };
  if (!claim()) {
    init_text_ = "all " + std::to_string(view.slot_count()) + " guest slots of " + map_->source() + " are in use";
    return st::kNoDevice;
  }
  // The worker's echo of our token; a live but busy host (a loaded machine)
  // may take a while, a dead one is told by its heartbeat.
  while (ctl_->served_token.load(std::memory_order_acquire) != token_) {
    const bool refused = ctl_->fatal.load(std::memory_order_acquire) != 0;
    if (refused || host_dead("a session")) {
      if (refused) init_text_ = "host daemon did not start a session for slot " + std::to_string(slot_) + " of " + map_->source();
      ctl_->state.store(static_cast<uint32_t>(SlotState::kClosing), std::memory_order_release);
      return st::kNoDevice;
    }
    // A slot that read kFree may still have had a worker ending (its state
    // word overwritten by someone else), whose exit wipes the slot, claim and
    // all: then claim again rather than wait for an answer that never comes.
    if (ctl_->state.load(std::memory_order_acquire) == static_cast<uint32_t>(SlotState::kFree) && !claim()) {
      init_text_ = "all " + std::to_string(view.slot_count()) + " guest slots of " + map_->source() + " are in use";
      return st::kNoDevice;
    }
    usleep(1000);
  }
  const SlotView sv = view.slot(slot_);
  arena_ = std::make_unique<Arena>(sv.arena.data(), sv.arena.size());
  channels_.resize(view.channel_count());
  devices_.resize(64);
  std::thread([this] { heartbeat_loop(); }).detach();

  init_status_ = st::kOk;  // exec() below needs it
  HelloReq req{kGuestAbi, static_cast<uint32_t>(pid_)};
  Status s = call<Op::Hello>(req, &hello_);
  if (s != st::kOk) {
    init_text_ = "host refused the session (status " + std::to_string(s) + ")";
    return s;
  }
  debug_log("attached %s slot %u, backend %s, %d device(s)", map_->source().c_str(), slot_,
            hello_.backend == static_cast<uint32_t>(BackendKind::kCuda) ? "cuda" : "cpu", hello_.device_count);
  return st::kOk;
}

void Client::heartbeat_loop() {
  // Sampled every HostWatch::kSampleMs, so a guest blocked in a call learns
  // of a dead daemon within a second (host_gone() is what its wait polls).
  HostWatch watch(map_->header(), now_ms(), map_->same_host());
  const uint32_t stale_ms = cfg_.host_timeout_ms;
  uint32_t n = 0;
  while (!host_gone()) {
    // Our own beat every ~100 ms, as the worker expects (--guest-timeout-ms).
    if (n++ % 2 == 0) ctl_->guest_heartbeat.fetch_add(1, std::memory_order_relaxed);
    if (watch.gone(now_ms(), stale_ms))
      fail(st::kDeviceUnavailable, map_->source() + ": host daemon stopped answering (no heartbeat for " +
                                       std::to_string(watch.still_ms(now_ms())) + " ms)");
    usleep(HostWatch::kSampleMs * 1000);
  }
}

bool Client::host_gone() {
  if (dead_.load(std::memory_order_acquire) != st::kOk) return true;
  const RegionHeader* h = map_->header();
  if (h->session_id.load(std::memory_order_acquire) != session_id_) {
    fail(st::kDeviceUnavailable, "host daemon restarted");
  } else if (h->host_state.load(std::memory_order_acquire) == static_cast<uint32_t>(HostState::kStopped)) {
    fail(st::kDeviceUnavailable, "host daemon stopped");
  } else if (ctl_->served_token.load(std::memory_order_acquire) != token_ ||
             ctl_->fatal.load(std::memory_order_acquire)) {
    fail(st::kDeviceUnavailable, "host ended this session");
  }
  return dead_.load(std::memory_order_acquire) != st::kOk;
}

void Client::fail(Status s, const std::string& why) {
  Status expect = st::kOk;
  if (dead_.compare_exchange_strong(expect, s)) std::fprintf(stderr, "vgpu: %s; GPU calls fail from now on\n", why.c_str());
}

void Client::shutdown() {
  if (init_status_ != st::kOk || getpid() != pid_) return;  // a fork()ed child owns nothing
  // A session the host already ended (or a host that restarted) may have
  // handed this slot to another guest: then touch nothing.
  if (host_gone()) {
    dead_.store(st::kDeinitialized);
    return;
  }
  {
    Channel* ch = channel();
    uint64_t seq;
    std::unique_lock lk(ch->mu(), std::defer_lock);
    if (ch->shared) lk.lock();
    ch->send(static_cast<uint16_t>(Op::Bye), 0, nullptr, 0, {}, &seq);
  }
  ctl_->state.store(static_cast<uint32_t>(SlotState::kClosing), std::memory_order_release);
  dead_.store(st::kDeinitialized);
  wake_if_needed(&ctl_->need_wakeup, &ctl_->doorbell);
}

Channel* Client::channel() {
  if (t_lease.ch) return t_lease.ch;
  std::lock_guard lk(mu_);
  const RegionView& view = map_->view();
  const uint32_t n = static_cast<uint32_t>(channels_.size());
  // The last channel is kept for sharing by threads beyond the first n-1.
  for (uint32_t i = 0; i + 1 < n; ++i) {
    const ChannelView cv = view.channel(slot_, i);
    uint32_t expect = 0;
    if (!cv.ctl->in_use.compare_exchange_strong(expect, 1, std::memory_order_acq_rel)) continue;
    cv.ctl->owner_tid = static_cast<uint32_t>(syscall(SYS_gettid));
    if (!channels_[i]) channels_[i] = std::make_unique<Channel>(this, cv, ctl_);
    t_lease.ch = channels_[i].get();
    return t_lease.ch;
  }
  if (!shared_) {
    const ChannelView cv = view.channel(slot_, n - 1);
    cv.ctl->in_use.store(1, std::memory_order_release);
    channels_[n - 1] = std::make_unique<Channel>(this, cv, ctl_);
    shared_ = channels_[n - 1].get();
    shared_->shared = true;
  }
  t_lease.ch = shared_;
  return shared_;
}

Status Client::exec(uint16_t op, bool sync, const void* req, uint32_t req_len, Bytes in, void* rep,
                    uint32_t rep_len, MutBytes extra, uint32_t* extra_len) {
  if (init_status_ != st::kOk) return init_status_;
  if (Status d = dead_.load(std::memory_order_acquire)) return d;
  Channel* ch = channel();
  std::unique_lock lk(ch->mu(), std::defer_lock);
  if (ch->shared) lk.lock();
  uint64_t seq = 0;
  // A stream synchronise may be answered by the device itself (region.h,
  // ChannelCtl::device_seq): one fewer host hop on every synchronise that
  // waits on the GPU. Only one answer is pending per channel (the lock above
  // serialises a shared channel's calls), so device_seq names this call.
  const bool device_answer = sync && op_device_answerable(op);
  const uint16_t flags = sync ? kFlagWantCompletion | (device_answer ? kFlagDeviceAnswer : 0) : 0;
  Status s = ch->send(op, flags, req, req_len, in, &seq);
  if (s != st::kOk || !sync) return s;
  CompletionData c{};
  if ((s = ch->wait(seq, &c, device_answer)) != st::kOk) return s;
  const uint32_t got = std::min(c.reply_bytes, ch->reply_bytes());
  if (rep_len) std::memcpy(rep, ch->reply(), std::min(rep_len, got));
  if (extra_len) {
    const uint32_t n = got > rep_len ? std::min<uint32_t>(got - rep_len, static_cast<uint32_t>(extra.size())) : 0;
    std::memcpy(extra.data(), ch->reply() + rep_len, n);
    *extra_len = n;
  }
  return c.status;
}

const DeviceInfoRep* Client::device_info(int ordinal) {
  if (init_status_ != st::kOk || ordinal < 0 || ordinal >= hello_.device_count || ordinal >= 64) return nullptr;
  {
    std::lock_guard lk(mu_);
    if (devices_[ordinal]) return devices_[ordinal].get();
  }
  auto info = std::make_unique<DeviceInfoRep>();
  if (call<Op::DeviceInfo>(DeviceInfoReq{ordinal, 0}, info.get()) != st::kOk) return nullptr;
  std::lock_guard lk(mu_);
  if (!devices_[ordinal]) devices_[ordinal] = std::move(info);
  return devices_[ordinal].get();
}

void* Client::arena_alloc_pinned(uint64_t n) {
  if (init_status_ != st::kOk || !arena_) return nullptr;
  // The same budget as Channel::ensure_stages: half the arena for staging.
  // The check is advisory (another thread may allocate between it and the
  // allocation, and free bytes may be fragmented); it keeps the common case,
  // a big pinned buffer taken before the first copies, from starving staging.
  const uint64_t budget = arena_->bytes() / 2;
  const uint64_t held = staging_bytes_.load(std::memory_order_relaxed);
  const uint64_t staged = staged_channels_.load(std::memory_order_relaxed);
  const uint64_t unstaged = channels_.size() > staged ? channels_.size() - staged : 0;
  const uint64_t reserve = std::min(budget > held ? budget - held : 0, unstaged * kStageChunkBytes);
  const uint64_t free_bytes = arena_->free_bytes();
  if (n > free_bytes || free_bytes - n < reserve) return nullptr;
  return arena_->allocate(n, 4096);
}

Status Client::copy_htod(DevPtr dst, const void* src, uint64_t n, Handle stream, bool sync) {
  if (init_status_ != st::kOk) return init_status_;
  if (Status d = dead_.load(std::memory_order_acquire)) return d;
  if (n == 0) return st::kOk;
  Channel* ch = channel();
  std::unique_lock lk(ch->mu(), std::defer_lock);
  if (ch->shared) lk.lock();
  uint64_t seq = 0;
  if (in_arena(src, n)) {
    const MemcpyHtoDReq r{dst, arena_off(src), n, stream};
    return ch->send_and_maybe_wait<Op::MemcpyHtoD>(r, sync);
  }
  // Pageable: stage through the channel's chunks. The guest fills chunk i+1
  // while the host DMAs chunk i; a chunk is reused once its copy completed.
  // An asynchronous copy returns once its bytes are staged; errors of its
  // chunks come back as asynchronous errors (see Channel::free_stage).
  Status first = st::kOk;
  if (Status s = ch->ensure_stages()) return s;
  auto* p = static_cast<const std::byte*>(src);
  for (uint64_t off = 0; off < n;) {
    const uint32_t k = ch->next_stage();
    if (Status s = ch->free_stage(k); s && !first) first = s;
    std::byte* buf = ch->stage(k);
    const uint64_t len = std::min(kStageChunkBytes, n - off);
    ParallelCopier::get().copy(buf, p + off, len);
    MemcpyHtoDReq r{dst + off, arena_off(buf), len, stream};
    if (Status s = ch->send(kOpcode<Op::MemcpyHtoD>, awaited_flags<Op::MemcpyHtoD>(), &r, sizeof r, {}, &seq)) return s;
    ch->set_stage(k, seq, !sync);
    off += len;
  }
  if (sync) {
    for (uint32_t k = 0; k < ch->nstage(); ++k)
      if (Status s = ch->free_stage(k); s && !first) first = s;
  } else if (first) {
    note_async_error(first);
    first = st::kOk;
  }
  return first;
}

Status Client::copy_dtoh(void* dst, DevPtr src, uint64_t n, Handle stream, bool sync) {
  if (init_status_ != st::kOk) return init_status_;
  if (Status d = dead_.load(std::memory_order_acquire)) return d;
  if (n == 0) return st::kOk;
  Channel* ch = channel();
  std::unique_lock lk(ch->mu(), std::defer_lock);
  if (ch->shared) lk.lock();
  uint64_t seq = 0;
  if (in_arena(dst, n)) {
    const MemcpyDtoHReq r{arena_off(dst), src, n, stream};
    return ch->send_and_maybe_wait<Op::MemcpyDtoH>(r, sync);
  }
  // Pageable: keep up to kStageChunks copies in flight; copy each out as it lands.
  struct Piece {
    uint32_t k;
    uint64_t off, len;
  };
  std::vector<Piece> inflight;
  Status first = st::kOk;
  if (Status s = ch->ensure_stages()) return s;
  auto* out = static_cast<std::byte*>(dst);
  uint64_t next = 0;
  auto issue = [&]() -> Status {
    const uint32_t k = ch->next_stage();
    if (Status s = ch->free_stage(k); s && !first) first = s;
    std::byte* buf = ch->stage(k);
    const uint64_t len = std::min(kStageChunkBytes, n - next);
    MemcpyDtoHReq r{arena_off(buf), src + next, len, stream};
    if (Status s = ch->send(kOpcode<Op::MemcpyDtoH>, awaited_flags<Op::MemcpyDtoH>(), &r, sizeof r, {}, &seq)) return s;
    ch->set_stage(k, seq, false);
    inflight.push_back({k, next, len});
    next += len;
    return st::kOk;
  };
  while (next < n && inflight.size() < ch->nstage())
    if (Status s = issue()) return s;
  while (!inflight.empty()) {
    Piece pc = inflight.front();
    inflight.erase(inflight.begin());
    if (Status s = ch->free_stage(pc.k)) {
      if (!first) first = s;
    } else {
      ParallelCopier::get().copy(out + pc.off, ch->stage(pc.k), pc.len);
    }
    if (next < n)
      if (Status s = issue()) return s;
  }
  return first;
}

Status Client::upload_blob(const void* data, uint64_t n) {
  auto* p = static_cast<const std::byte*>(data);
  Channel* ch = channel();
  const uint64_t chunk = std::min<uint64_t>(ch->max_payload() - sizeof(BlobAppendReq), 128u << 10);
  for (uint64_t off = 0; off < n;) {
    const uint64_t len = std::min(chunk, n - off);
    if (Status s = post<Op::BlobAppend>(BlobAppendReq{off, n}, as_bytes(p + off, len))) return s;
    off += len;
  }
  return st::kOk;
}

}  // namespace vgpu::guest
