#include "slot.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "host_watch.h"
#include "vgpu/wait.h"

namespace vgpu::guest {

namespace {
uint64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// The process' slot, for the fork handler (one Slot per process: the Client's).
std::atomic<Slot*> g_slot{nullptr};

// A fork()ed child of an attached process shares its parent's session
// (region, channels, sequence numbers) but must not use it: its records would
// reach the host as the parent's and break the parent's ordering. As with
// CUDA, the child's calls fail (CUDA_ERROR_NOT_INITIALIZED); ChannelPool
// drops the channel the child's thread inherited.
void end_session_in_child() {
  if (Slot* s = g_slot.load(std::memory_order_acquire)) s->liveness().end(st::kNotInitialized);
}
}  // namespace

Slot::Slot() : pid_(getpid()) {
  g_slot.store(this, std::memory_order_release);
  pthread_atfork(nullptr, nullptr, &end_session_in_child);
}

bool Slot::claimed_here() const { return getpid() == pid_; }

// Claims a free slot: kFree -> kClaiming (ours alone), fill it in, -> kClaimed.
bool Slot::claim() {
  const RegionView& v = view();
  for (uint32_t s = 0; s < v.slot_count(); ++s) {
    SlotCtl* c = v.slot(s).ctl;
    uint32_t expect = static_cast<uint32_t>(SlotState::kFree);
    if (!c->state.compare_exchange_strong(expect, static_cast<uint32_t>(SlotState::kClaiming))) continue;
    c->guest_pid = static_cast<uint32_t>(pid_);
    c->claim_token = token_;
    c->claimed_session = session_id_;
    c->guest_slot_address = reinterpret_cast<uint64_t>(v.slot(s).bytes.data());
    c->guest_heartbeat.store(1, std::memory_order_relaxed);
    c->state.store(static_cast<uint32_t>(SlotState::kClaimed), std::memory_order_release);
    index_ = s;
    ctl_ = c;
    return true;
  }
  return false;
}

Status Slot::open(const GuestConfig& cfg, std::string* why) {
  map_ = attach_guest_region(cfg.region, cfg.sysfs_pci, why);
  if (!map_) return st::kNoDevice;
  // Every address below comes from the view: the layout of one validated
  // copy of the header (attach_guest_region), not from the live header.
  RegionHeader* h = map_->header();
  // A live host stores a new heartbeat every ~100 ms. One that has not moved
  // for HostWatch::kStartStaleMs means no daemon serves the region (killed,
  // stopped or not started): fail now, naming it, rather than wait.
  HostWatch watch(h, now_ms(), map_->same_host());
  const uint64_t deadline = now_ms() + cfg.connect_timeout_ms;
  auto host_dead = [&](const char* waiting_for) {
    const bool gone = watch.gone(now_ms(), HostWatch::kStartStaleMs);
    if (!gone && now_ms() <= deadline) return false;
    *why = source() + ": no vgpu-hostd is serving this region (" +
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

  const auto all_in_use = [&] {
    *why = "all " + std::to_string(view().slot_count()) + " guest slots of " + source() + " are in use";
    return st::kNoDevice;
  };
  if (!claim()) return all_in_use();
  // The worker's echo of our token; a live but busy host (a loaded machine)
  // may take a while, a dead one is told by its heartbeat.
  while (ctl_->served_token.load(std::memory_order_acquire) != token_) {
    const bool refused = ctl_->fatal.load(std::memory_order_acquire) != 0;
    if (refused || host_dead("a session")) {
      if (refused) *why = "host daemon did not start a session for slot " + std::to_string(index_) + " of " + source();
      ctl_->state.store(static_cast<uint32_t>(SlotState::kClosing), std::memory_order_release);
      return st::kNoDevice;
    }
    // A slot that read kFree may still have had a worker ending (its state
    // word overwritten by someone else), whose exit wipes the slot, claim and
    // all: then claim again rather than wait for an answer that never comes.
    if (ctl_->state.load(std::memory_order_acquire) == static_cast<uint32_t>(SlotState::kFree) && !claim())
      return all_in_use();
    usleep(1000);
  }
  live_.watch(h, ctl_, session_id_, token_);
  return st::kOk;
}

void Slot::start_heartbeat(uint32_t host_timeout_ms) {
  std::thread([this, host_timeout_ms] { heartbeat_loop(host_timeout_ms); }).detach();
}

void Slot::heartbeat_loop(uint32_t host_timeout_ms) {
  // Sampled every HostWatch::kSampleMs, so a guest blocked in a call learns
  // of a dead daemon within a second (gone() is what its wait polls).
  HostWatch watch(map_->header(), now_ms(), map_->same_host());
  uint32_t n = 0;
  while (!live_.gone()) {
    // Our own beat every ~100 ms, as the worker expects (--guest-timeout-ms).
    if (n++ % 2 == 0) ctl_->guest_heartbeat.fetch_add(1, std::memory_order_relaxed);
    if (watch.gone(now_ms(), host_timeout_ms))
      live_.fail(st::kDeviceUnavailable, source() + ": host daemon stopped answering (no heartbeat for " +
                                             std::to_string(watch.still_ms(now_ms())) + " ms)");
    usleep(HostWatch::kSampleMs * 1000);
  }
}

void Slot::leave() {
  ctl_->state.store(static_cast<uint32_t>(SlotState::kClosing), std::memory_order_release);
  live_.end(st::kDeinitialized);
  wake_if_needed(&ctl_->need_wakeup, &ctl_->doorbell);
}

}  // namespace vgpu::guest
