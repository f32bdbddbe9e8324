// One vgpu-hostd, two regions (two VMs). In region A a hostile writer sets
// every header field, every slot and channel control word and every ring
// index to extreme values (0, 1, 2^32-1, 2^63, 2^64-1, random) while A's own
// guest runs; region B's guest runs copies and GEMMs, checked byte for byte,
// throughout and after. The daemon must live, B must never see a wrong byte
// or an error, A's guest must get errors (not hang), and once the writer
// stops, A must serve a fresh guest again: the host computes every address
// from its own configuration and re-asserts the header it owns.
#include <signal.h>

#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include "daemon_fixture.h"

namespace {

using vgpu::e2e::Daemon;
using vgpu::e2e::DaemonConfig;
using vgpu::e2e::FileView;
using vgpu::e2e::GuestProcess;
using vgpu::e2e::now_ms;
using vgpu::e2e::wait_until;

template <class T>
void put(T& field, uint64_t v) {
  std::atomic_ref<T>(field).store(static_cast<T>(v), std::memory_order_relaxed);
}
template <class T>
void put(std::atomic<T>& field, uint64_t v) {
  field.store(static_cast<T>(v), std::memory_order_relaxed);
}

// Every word of the control plane a guest of the region can write: the
// header, each slot's control block, each channel's control lines and rings'
// indices. `view` is the layout read before the writing starts.
void scribble(const vgpu::RegionView& view, uint64_t v) {
  vgpu::RegionHeader* h = view.header();
  put(h->magic, v), put(h->version, v), put(h->header_bytes, v), put(h->total_bytes, v);
  put(h->slot_count, v), put(h->channels_per_slot, v), put(h->cmd_ring_bytes, v), put(h->cpl_ring_entries, v);
  put(h->reply_bytes, v), put(h->reserved0, v), put(h->arena_bytes, v), put(h->slot_bytes, v);
  put(h->slots_offset, v), put(h->channel_bytes, v), put(h->channels_offset, v), put(h->arena_offset, v);
  put(h->session_id, v), put(h->host_heartbeat, v), put(h->host_state, v), put(h->host_pid, v);
  for (uint32_t s = 0; s < view.slot_count(); ++s) {
    vgpu::SlotCtl* c = view.slot(s).ctl;
    put(c->state, v), put(c->guest_pid, v), put(c->guest_heartbeat, v), put(c->claim_token, v);
    put(c->claimed_session, v), put(c->guest_slot_address, v), put(c->served_token, v), put(c->worker_heartbeat, v);
    put(c->need_wakeup, v);
    put(c->doorbell, v), put(c->fatal, v), put(c->worker_pid, v);
    for (uint32_t k = 0; k < view.channel_count(); ++k) {
      vgpu::ChannelCtl* ch = view.channel(s, k).ctl;
      put(ch->in_use, v), put(ch->owner_tid, v), put(ch->cmd.tail, v), put(ch->cmd.head, v);
      put(ch->cpl.tail, v), put(ch->cpl.head, v), put(ch->guest_need_wakeup, v), put(ch->cpl_doorbell, v);
      put(ch->device_seq, v);
    }
  }
}

TEST(HostileRegion, ScribbledRegionHarmsNeitherTheDaemonNorAnotherRegion) {
  // Region B is the daemon's second --region; the fixture owns A's files.
  const std::string region_b = "/dev/shm/vgpu-test-" + std::to_string(getpid()) + "-b";
  DaemonConfig cfg;
  cfg.extra_args = {"--region", region_b};
  Daemon d(cfg);
  std::string err;
  ASSERT_TRUE(d.start(&err)) << err;
  const std::string region_a = d.region_path();
  struct Cleanup {
    std::string b;
    ~Cleanup() { unlink(b.c_str()), unlink((b + ".stats").c_str()); }
  } cleanup{region_b};
  ASSERT_TRUE(wait_until([&] { return access(region_b.c_str(), F_OK) == 0; }, 10000));

  GuestProcess b_guest, a_guest;
  ASSERT_TRUE(b_guest.start({E2E_BLAS_GUEST_PATH, "14"}, region_b));
  ASSERT_FALSE(b_guest.wait_line("READY", 60000).empty()) << b_guest.output();
  ASSERT_TRUE(a_guest.start({E2E_GUEST_PATH, "work", "0", "3"}, region_a));
  ASSERT_FALSE(a_guest.wait_line("READY", 60000).empty()) << a_guest.output();

  // The hostile writer, for 4 s: every word, every value in turn.
  FileView a;
  ASSERT_TRUE(a.open(region_a, true, &err)) << err;
  const char* why = nullptr;
  const auto view = vgpu::RegionView::of_header(a.base(), a.bytes(), &why);
  ASSERT_TRUE(view) << why;
  b_guest.wait_line("\x01", 50);  // skips what B printed so far: the next ROUND is one made under the writer
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    std::mt19937_64 rnd(14);
    const uint64_t extremes[] = {0, 1, 0xffffffffull, 1ull << 63, ~0ull};
    for (uint64_t round = 0; writing.load(); ++round) {
      scribble(*view, round % 6 < 5 ? extremes[round % 6] : rnd());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  const uint64_t until = now_ms() + 4000;
  // B keeps working meanwhile (it prints a line every few rounds).
  const std::string during = b_guest.wait_line("ROUND", 20000);
  while (now_ms() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  writing = false;
  writer.join();
  EXPECT_FALSE(during.empty()) << "region B made no progress while A was scribbled on:\n" << b_guest.output();

  // A's guest got errors; it did not hang (whatever it was doing, it ends).
  a_guest.send_line("stop");
  const int a_exit = a_guest.exit_code(30000);
  EXPECT_NE(-1, a_exit) << "region A's guest hung:\n" << a_guest.output();
  std::printf("[ info ] region A's guest ended with exit code %d: %s\n", a_exit,
              a_guest.lines().empty() ? "" : a_guest.lines().back().c_str());

  EXPECT_TRUE(d.running() && !d.exited()) << "the daemon died:\n" << d.log();

  // A serves a fresh guest once the writer stopped. Slots the writer left
  // claimed or mid-claim are the host's to time out and wipe (seconds), so a
  // guest that finds no slot yet tries again.
  bool served = false;
  std::string last;
  for (uint64_t deadline = now_ms() + 40000; !served && now_ms() < deadline;) {
    GuestProcess fresh;
    ASSERT_TRUE(fresh.start({E2E_GUEST_PATH, "work", "4", "5"}, region_a));
    served = !fresh.wait_line("DONE ok", 30000).empty();
    last = fresh.output();
    fresh.exit_code(10000);
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_TRUE(served) << "region A serves no guest after the writer stopped; the last try said:\n" << last << d.log();

  // B worked throughout and after, every byte right.
  b_guest.send_line("stop");
  EXPECT_FALSE(b_guest.wait_line("DONE ok", 60000).empty()) << b_guest.output();
  EXPECT_EQ(0, b_guest.exit_code());
  EXPECT_TRUE(d.running() && !d.exited()) << "the daemon died:\n" << d.log();
  // No worker crashed: a bad offset followed would show as a signal here.
  const std::string log = d.log();
  EXPECT_EQ(log.find("killed by signal"), std::string::npos) << log;
  EXPECT_NE(log.find("ending session"), std::string::npos) << "A's session should have ended with a reason:\n" << log;
}

}  // namespace
