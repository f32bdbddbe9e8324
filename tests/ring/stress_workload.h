// The workload of the ring stress tests: a guest-side producer and a
// host-side consumer of one channel, each able to run in its own process or
// thread. Every record's size and contents derive from its seq, and carry a
// checksum, so the consumer notices a lost, reordered, duplicated, truncated
// or corrupted record. Records flagged kFlagWantCompletion are answered on
// the completion ring, which the producer checks the same way.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <random>
#include <string>

#include "vgpu/region.h"
#include "vgpu/region_view.h"
#include "vgpu/ring.h"
#include "vgpu/wait.h"

namespace vgpu::testing {

// The rings of one channel and the slot's wake-up words, as pointers into a
// mapping (each process computes its own from its own base address).
struct ChannelView {
  RingCtl* cmd_ctl;
  std::byte* cmd_data;
  uint32_t cmd_bytes;
  RingCtl* cpl_ctl;
  Completion* cpl;
  uint32_t cpl_entries;
  SlotCtl* slot;

  static ChannelView of(void* base, uint64_t mapped_bytes, uint32_t slot_index, uint32_t channel) {
    const auto view = RegionView::of_header(base, mapped_bytes, nullptr);
    const vgpu::ChannelView ch = view->channel(slot_index, channel);
    return ChannelView{&ch.ctl->cmd, ch.cmd.data(), static_cast<uint32_t>(ch.cmd.size()), &ch.ctl->cpl,
                       ch.cpl.data(), static_cast<uint32_t>(ch.cpl.size()), view->slot(slot_index).ctl};
  }
};

struct Workload {
  uint64_t records = 1000;
  uint64_t seed = 1;
  uint32_t large_one_in = 512;   // how often a record is larger than 1 KiB
  uint32_t reply_one_in = 64;    // how often a record asks for a completion
  std::chrono::seconds timeout{120};
};

inline uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Payload size of record `seq`: mostly 0..1024 bytes, now and then up to the
// ring's largest.
inline uint32_t payload_size(const Workload& w, uint64_t seq, uint32_t max_payload) {
  const uint64_t r = mix64(seq ^ w.seed);
  if (r % w.large_one_in == 0) return 1024 + static_cast<uint32_t>((r >> 20) % (max_payload - 1024 + 1));
  return static_cast<uint32_t>((r >> 12) % 1025);
}
inline bool wants_reply(const Workload& w, uint64_t seq) { return (mix64(seq + w.seed * 3) >> 40) % w.reply_one_in == 0; }

// 64-bit word checksum seeded with seq and length: a payload that is another
// record's, shifted or cut short does not match.
class Checksum {
 public:
  Checksum(uint64_t seq, uint32_t n) : h_(mix64(seq) ^ n) {}
  void add(uint64_t w) { h_ = (h_ ^ w) * 0x100000001b3ull; }
  uint64_t value() const { return mix64(h_); }

 private:
  uint64_t h_;
};

// Writes record seq's payload (word i = base + i * K; cheap but position
// dependent) and returns its checksum.
inline uint64_t write_payload(std::byte* p, uint32_t n, uint64_t seq) {
  Checksum sum(seq, n);
  const uint64_t base = mix64(seq * 0x2545f4914f6cdd1dull);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t w = i == 0 ? seq : base + i * 0x9e3779b97f4a7c15ull;  // first word: the seq itself
    std::memcpy(p + i, &w, 8);
    sum.add(w);
  }
  if (i < n) {
    const uint64_t w = base + i * 0x9e3779b97f4a7c15ull;
    uint64_t tail = 0;
    std::memcpy(&tail, &w, n - i);
    std::memcpy(p + i, &tail, n - i);
    sum.add(tail);
  }
  return sum.value();
}

inline uint64_t checksum_of(const std::byte* p, uint32_t n, uint64_t seq) {
  Checksum sum(seq, n);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    sum.add(w);
  }
  if (i < n) {
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    sum.add(tail);
  }
  return sum.value();
}

// What went wrong, if anything ("" when fine).
struct Outcome {
  std::string error;
  uint64_t records = 0;
  uint64_t replies = 0;
  uint64_t sleeps = 0;  // times the consumer went as far as the futex
};

// Spin, then yield, then poll every 50 us: for waits the other side rings no
// doorbell for (ring space, completion-ring space, the final drain).
inline constexpr WaitPolicy kPoll{2000, 1000, 50};

// The guest side: writes w.records records in random batches, takes and
// checks completions. Returns "" or what went wrong.
inline std::string run_producer(const ChannelView& cv, const Workload& w) {
  RingProducer prod(cv.cmd_ctl, cv.cmd_data, cv.cmd_bytes);
  CplConsumer cpl(cv.cpl_ctl, cv.cpl, cv.cpl_entries);
  const auto deadline = std::chrono::steady_clock::now() + w.timeout;
  auto late = [&] { return std::chrono::steady_clock::now() > deadline; };
  struct Pending {
    uint64_t seq, sum;
  };
  std::deque<Pending> replies;  // flagged records not yet answered, in order
  std::string err;
  auto take_replies = [&] {
    Completion c{};
    while (err.empty() && cpl.try_take(&c)) {
      if (replies.empty()) err = "completion for seq " + std::to_string(c.seq) + " nobody asked for";
      else if (c.seq != replies.front().seq)
        err = "completion for seq " + std::to_string(c.seq) + ", expected " + std::to_string(replies.front().seq);
      else if (c.value != replies.front().sum || c.status != 0 || c.reply_bytes != (c.seq & 0xffff))
        err = "completion for seq " + std::to_string(c.seq) + " has wrong fields";
      else replies.pop_front();
    }
  };
  std::mt19937_64 rng(w.seed * 7 + 1);
  uint64_t seq = 0;
  std::atomic<uint32_t> unused_flag{0}, unused_bell{0};
  while (seq < w.records && err.empty()) {
    // Batches of 1..16 records half the time, single commits otherwise.
    const uint64_t r = rng();
    const bool batch = r & 1;
    const uint64_t n = batch ? 1 + (r >> 1) % 16 : 1;
    if (batch) prod.begin_batch();
    for (uint64_t k = 0; k < n && seq < w.records; ++k, ++seq) {
      const uint32_t size = payload_size(w, seq, prod.max_payload());
      RecordHeader* h = prod.try_reserve(size);
      if (!h) {
        // Full. Inside a batch the consumer may be waiting on our unpublished
        // first record, so publish what we have before waiting.
        if (batch) prod.end_batch();
        wake_if_needed(&cv.slot->need_wakeup, &cv.slot->doorbell);
        const bool ok = wait_until(
            [&] {
              take_replies();  // the consumer may be blocked on a full completion ring
              return (h = prod.try_reserve(size)) != nullptr || !err.empty();
            },
            late, &unused_flag, &unused_bell, kPoll);
        if (!err.empty()) break;
        if (!ok) return "producer timed out waiting for ring space at seq " + std::to_string(seq);
        if (batch) prod.begin_batch();
      }
      const uint64_t sum = write_payload(reinterpret_cast<std::byte*>(h + 1), size, seq);
      const bool reply = wants_reply(w, seq);
      if (reply) replies.push_back({seq, sum});
      prod.commit(h, static_cast<uint16_t>(1 + seq % 100), reply ? kFlagWantCompletion : 0, seq, sum);
    }
    if (batch) prod.end_batch();
    wake_if_needed(&cv.slot->need_wakeup, &cv.slot->doorbell);
    if ((seq & 63) == 0) take_replies();
  }
  // Wait for the last answers and for the consumer to drain the ring.
  const bool ok = wait_until(
      [&] {
        take_replies();
        return (replies.empty() && prod.drained()) || !err.empty();
      },
      late, &unused_flag, &unused_bell, kPoll);
  if (!err.empty()) return err;
  if (!ok) return "producer timed out waiting for the last completions";
  return "";
}

// The host side: checks every record, answers flagged ones. `gone()` says
// the producer died (checked between sleeps).
template <class Gone>
Outcome run_consumer(const ChannelView& cv, const Workload& w, Gone&& gone) {
  RingConsumer cons(cv.cmd_ctl, cv.cmd_data, cv.cmd_bytes, 0);
  CplProducer cpl(cv.cpl_ctl, cv.cpl, cv.cpl_entries, 0);
  const uint32_t max_payload = RingProducer(cv.cmd_ctl, cv.cmd_data, cv.cmd_bytes).max_payload();
  const auto deadline = std::chrono::steady_clock::now() + w.timeout;
  auto give_up = [&] {
    return gone() || std::chrono::steady_clock::now() > deadline;
  };
  Outcome out;
  auto fail = [&](const std::string& what) {
    out.error = "record " + std::to_string(out.records) + ": " + what;
    return out;
  };
  std::atomic<uint32_t> unused_flag{0}, unused_bell{0};
  WaitPolicy sleepy;  // the full protocol: spin, yield, then futex with a doorbell
  sleepy.spin_iters = 2000;
  sleepy.yield_iters = 50;
  while (out.records < w.records) {
    RingConsumer::View v{};
    RingError e = cons.peek(&v);
    if (e == RingError::kEmpty) {
      const bool ok = wait_until(
          [&] { return (e = cons.peek(&v)) != RingError::kEmpty; },
          [&] {
            ++out.sleeps;
            return give_up();
          },
          &cv.slot->need_wakeup, &cv.slot->doorbell, sleepy);
      if (!ok) return fail(gone() ? "producer died" : "timed out waiting for a record");
    }
    if (e != RingError::kNone) return fail("ring error " + std::to_string(static_cast<int>(e)));
    const uint64_t want = out.records;
    if (v.seq != want) return fail("got seq " + std::to_string(v.seq) + (v.seq < want ? " (duplicate)" : " (lost records)"));
    if (v.op != 1 + want % 100) return fail("wrong op");
    const uint32_t size = payload_size(w, want, max_payload);
    if (v.payload_bytes != size)
      return fail("payload " + std::to_string(v.payload_bytes) + " bytes, expected " + std::to_string(size));
    const uint64_t sum = checksum_of(v.payload, v.payload_bytes, want);
    if (sum != v.aux) return fail("payload checksum mismatch");
    if (size >= 8) {
      uint64_t first;
      std::memcpy(&first, v.payload, 8);
      if (first != want) return fail("payload belongs to seq " + std::to_string(first));
    }
    const bool reply = v.flags & kFlagWantCompletion;
    if (reply != wants_reply(w, want)) return fail("wrong flags");
    cons.pop(v);
    ++out.records;
    if (reply) {
      auto post = [&] { return cpl.try_post(0, want, sum, static_cast<uint32_t>(want & 0xffff), 0); };
      if (!post() && !wait_until(post, give_up, &unused_flag, &unused_bell, kPoll))
        return fail("timed out posting a completion");
      ++out.replies;
    }
  }
  RingConsumer::View v{};
  if (cons.peek(&v) != RingError::kEmpty) return fail("more records than sent");
  return out;
}

}  // namespace vgpu::testing
