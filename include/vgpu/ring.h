// Single-producer single-consumer rings that live in shared memory.
//
// Command ring: variable-size records (a 32-byte RecordHeader + inline
// payload, padded to 32 bytes). A record that would cross the end of the ring
// is preceded by a wrap marker filling the tail end. Indices are free-running
// byte counts (never wrapped), so full/empty need no extra bit.
//
// Completion ring: fixed 32-byte Completion entries.
//
// Memory ordering:
//   Each record/entry carries a `stamp` derived from its ring position. The
//   producer writes the body, then stores the stamp with release; the consumer
//   loads the stamp with acquire and reads the body only when the stamp equals
//   the one expected at its position. So the consumer polls the slot itself and
//   never touches the producer's index line (one cache-line transfer per
//   record). Before publishing a record the producer zeroes the stamp word of
//   the *next* record position (space it has reserved), so bytes left over from
//   an earlier lap can never look like a valid stamp.
//   The consumer publishes its head with release after it has finished reading
//   a record; the producer loads it with acquire, and only when its cached copy
//   says there is not enough room. Producer and consumer indices sit on
//   separate 128-byte-spaced lines (adjacent-line prefetch pairs 64-byte lines).
//   The published tail is informational (status, wake-ups); nothing depends on
//   it for correctness.
//
// Trust: the host is the consumer of command rings and treats every header
// field as hostile (see RingConsumer::peek); the guest is the consumer of
// completion rings and trusts the host. The host's ends (RingConsumer,
// CplProducer) are given their starting index by their owner and never load
// their own index back from shared memory; the one guest-written index the
// host reads, a completion ring's head, is loaded once per reload and
// refused when it is not within [tail - count, tail] (CplProducer::broken).
// Every guest-written word the host reads is read once, with an atomic load
// (std::atomic_ref for the plain fields of a record header), then checked.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vgpu {

// One relaxed atomic read of a plain field in shared memory that the other
// side may be rewriting (a hostile producer's record header).
template <class T>
inline T load_once(const T& field) {
  return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_relaxed);
}

inline constexpr size_t kLineSpacing = 128;
inline constexpr uint32_t kRecordAlign = 32;

// The two indices of one ring, each on its own line.
struct RingCtl {
  alignas(kLineSpacing) std::atomic<uint64_t> tail;  // producer-owned
  alignas(kLineSpacing) std::atomic<uint64_t> head;  // consumer-owned
};
static_assert(sizeof(RingCtl) == 2 * kLineSpacing);
static_assert(offsetof(RingCtl, head) == kLineSpacing);

// Command record header. `op` 0 is the wrap marker.
struct RecordHeader {
  std::atomic<uint32_t> stamp;  // written last by the producer
  uint16_t op;
  uint16_t flags;
  uint32_t size;     // whole record including this header; multiple of 32
  uint32_t payload;  // payload bytes actually used (<= size - 32)
  uint64_t seq;      // guest-wide order of the call (see client.h)
  uint64_t aux;      // free for the op
};
static_assert(sizeof(RecordHeader) == kRecordAlign);
inline constexpr uint16_t kOpWrap = 0;

// Record flags.
inline constexpr uint16_t kFlagWantCompletion = 1;  // post a Completion when done
// With kFlagWantCompletion: the guest also accepts the answer "done, no error"
// as the device storing the record's seq into its ChannelCtl::device_seq (see
// region.h); the host then posts a Completion only if the call fails.
inline constexpr uint16_t kFlagDeviceAnswer = 2;

inline constexpr uint32_t stamp_for(uint64_t pos, uint32_t shift) {
  return 0x80000000u | static_cast<uint32_t>((pos >> shift) & 0x7fffffffu);
}
inline constexpr uint32_t round_up(uint32_t n, uint32_t a) { return (n + a - 1) & ~(a - 1); }

// Producer side of a command ring. Not thread-safe: one producer.
class RingProducer {
 public:
  RingProducer() = default;
  RingProducer(RingCtl* ctl, std::byte* data, uint32_t capacity)
      : ctl_(ctl), data_(data), cap_(capacity),
        tail_(ctl->tail.load(std::memory_order_relaxed)),
        cached_head_(ctl->head.load(std::memory_order_acquire)) {}

  // Largest payload one record may carry.
  uint32_t max_payload() const { return cap_ / 4 - kRecordAlign; }

  // Reserves room for a record of `payload` bytes. Returns the header (body
  // writable, not yet visible to the consumer) or nullptr if the ring is full
  // right now or the payload is larger than max_payload().
  RecordHeader* try_reserve(uint32_t payload) {
    if (payload > max_payload()) return nullptr;
    const uint32_t need = round_up(kRecordAlign + payload, kRecordAlign);
    const uint32_t off = static_cast<uint32_t>(tail_ & (cap_ - 1));
    const uint32_t pad = (off + need > cap_) ? cap_ - off : 0;
    const uint64_t total = uint64_t(pad) + need + kRecordAlign;  // + next stamp word
    if (tail_ + total - cached_head_ > cap_) {
      cached_head_ = ctl_->head.load(std::memory_order_acquire);
      if (tail_ + total - cached_head_ > cap_) return nullptr;
    }
    if (pad) {
      // Safe to publish at once: past it the consumer finds a stale stamp at
      // offset 0 (a header of an earlier lap) and waits for the record.
      auto* w = at(tail_);
      w->op = kOpWrap;
      w->flags = 0;
      w->size = pad;
      w->payload = 0;
      w->stamp.store(stamp_for(tail_, 5), std::memory_order_release);
      tail_ += pad;
    }
    auto* h = at(tail_);
    h->size = need;
    h->payload = payload;
    return h;
  }

  // Publishes the record returned by the last try_reserve.
  void commit(RecordHeader* h, uint16_t op, uint16_t flags, uint64_t seq, uint64_t aux = 0) {
    h->op = op;
    h->flags = flags;
    h->seq = seq;
    h->aux = aux;
    const uint64_t pos = tail_;
    tail_ = pos + h->size;
    // The next record's stamp word must not hold a stale lap's bytes.
    at(tail_)->stamp.store(0, std::memory_order_relaxed);
    if (batch_depth_ > 0 && !batch_first_) {
      batch_first_ = h;  // held back: publishing it publishes the whole batch
      batch_first_pos_ = pos;
      return;
    }
    h->stamp.store(stamp_for(pos, 5), std::memory_order_release);
    if (batch_depth_ == 0) ctl_->tail.store(tail_, std::memory_order_release);
  }

  // Batched publish: records committed between begin_batch and end_batch
  // become visible to the consumer together, with one release store of the
  // first record's stamp (the others are stamped behind it, where the consumer
  // cannot reach them before the first).
  void begin_batch() { ++batch_depth_; }
  void end_batch() {
    if (--batch_depth_ > 0) return;
    if (batch_first_) batch_first_->stamp.store(stamp_for(batch_first_pos_, 5), std::memory_order_release);
    batch_first_ = nullptr;
    ctl_->tail.store(tail_, std::memory_order_release);
  }

  uint64_t tail() const { return tail_; }
  uint32_t capacity() const { return cap_; }
  // True when everything published has been consumed.
  bool drained() const { return ctl_->head.load(std::memory_order_acquire) == tail_; }

 private:
  RecordHeader* at(uint64_t pos) const {
    return reinterpret_cast<RecordHeader*>(data_ + (pos & (cap_ - 1)));
  }

  RingCtl* ctl_ = nullptr;
  std::byte* data_ = nullptr;
  uint32_t cap_ = 0;
  uint64_t tail_ = 0;
  uint64_t cached_head_ = 0;
  int batch_depth_ = 0;
  RecordHeader* batch_first_ = nullptr;
  uint64_t batch_first_pos_ = 0;
};

// Why RingConsumer::peek refused a record.
enum class RingError { kNone, kEmpty, kBadSize, kBadWrap };

// Consumer side of a command ring. Validates what it reads: a record whose
// size is not a multiple of 32, smaller than a header, larger than the space
// to the ring's end or than a quarter of the ring, or a payload larger than
// the record, is refused with kBadSize; a wrap marker that does not reach
// exactly the ring's end with kBadWrap.
class RingConsumer {
 public:
  RingConsumer() = default;
  // Starts at index `start` (the host: 0, the index it published when the
  // slot was wiped) and stores it, so the shared head agrees.
  RingConsumer(RingCtl* ctl, std::byte* data, uint32_t capacity, uint64_t start)
      : ctl_(ctl), data_(data), cap_(capacity), head_(start) {
    ctl_->head.store(start, std::memory_order_release);
  }

  // A validated copy of the next record's header, and where its payload is.
  struct View {
    uint16_t op;
    uint16_t flags;
    uint32_t size;
    uint32_t payload_bytes;
    uint64_t seq;
    uint64_t aux;
    const std::byte* payload;
  };

  RingError peek(View* v) {
    for (;;) {
      const uint32_t off = static_cast<uint32_t>(head_ & (cap_ - 1));
      auto* h = reinterpret_cast<RecordHeader*>(data_ + off);
      if (h->stamp.load(std::memory_order_acquire) != stamp_for(head_, 5)) return RingError::kEmpty;
      // Read each field once: the producer may be hostile and rewrite them.
      const uint16_t op = load_once(h->op);
      const uint32_t size = load_once(h->size);
      if (op == kOpWrap) {
        if (size != cap_ - off || off == 0) return RingError::kBadWrap;
        head_ += size;
        continue;
      }
      const uint32_t payload = load_once(h->payload);
      if (size < kRecordAlign || size % kRecordAlign != 0 || size > cap_ - off || size > cap_ / 4 ||
          payload > size - kRecordAlign)
        return RingError::kBadSize;
      *v = View{op, load_once(h->flags), size, payload, load_once(h->seq), load_once(h->aux),
                reinterpret_cast<const std::byte*>(h) + kRecordAlign};
      return RingError::kNone;
    }
  }

  // Releases the record last returned by peek; its bytes may be reused.
  void pop(const View& v) {
    head_ += v.size;
    ctl_->head.store(head_, std::memory_order_release);
  }

  // A hint, before running the record `v`: start bringing the record after it
  // (written by the other side, so a cache miss) into this core's cache while
  // this one runs. Touches nothing; a record that is not there yet costs a
  // useless line fetch.
  void prefetch_next(const View& v) const {
    const std::byte* next = data_ + ((head_ + v.size) & (cap_ - 1));
    constexpr uint32_t kLine = 64;  // x86-64 and Arm64 cache line
    for (uint32_t i = 0; i < 4 * kLine; i += kLine) __builtin_prefetch(next + i);
  }

  uint64_t head() const { return head_; }

 private:
  RingCtl* ctl_ = nullptr;
  std::byte* data_ = nullptr;
  uint32_t cap_ = 0;
  uint64_t head_ = 0;
};

// Completion entry: the answer to a record sent with kFlagWantCompletion.
struct Completion {
  std::atomic<uint32_t> stamp;
  int32_t status;        // CUresult-style; 0 = success
  uint64_t seq;          // the request's seq
  uint64_t value;        // small result, op-specific
  uint32_t reply_bytes;  // bytes the host wrote to the channel's reply buffer
  int32_t async_error;   // first error of an earlier posted call, 0 if none
};
static_assert(sizeof(Completion) == 32);

// A completion's fields without the stamp: what a consumer keeps.
struct CompletionData {
  int32_t status;
  uint64_t seq;
  uint64_t value;
  uint32_t reply_bytes;
  int32_t async_error;
};

// Host side: posts completions. One producer (the worker thread).
class CplProducer {
 public:
  CplProducer() = default;
  // Starts at index `start` (the host: 0) with the ring taken as empty, and
  // stores it, so the shared tail agrees.
  CplProducer(RingCtl* ctl, Completion* entries, uint32_t count, uint64_t start)
      : ctl_(ctl), e_(entries), n_(count), tail_(start), cached_head_(start) {
    ctl_->tail.store(start, std::memory_order_release);
  }

  // False if the guest has not yet consumed enough entries, or if the head
  // it published is out of range (then broken() is true, and stays true:
  // the guest's end of the ring cannot be trusted any more).
  bool try_post(int32_t status, uint64_t seq, uint64_t value, uint32_t reply_bytes, int32_t async_error) {
    if (broken_) return false;
    // The guest stores its head on every take, so loading it on every post
    // pulls that line across once more per round trip: on the 2-core dev VM
    // a record + completion round trip took 290-335 ns that way and 270 ns
    // with the cached copy (bench/ring). Reload only when the cache says full.
    if (tail_ - cached_head_ >= n_) {
      const uint64_t head = ctl_->head.load(std::memory_order_acquire);  // guest-written: once, checked
      if (head > tail_ || tail_ - head > n_) return !(broken_ = true);
      cached_head_ = head;
      if (tail_ - cached_head_ >= n_) return false;
    }
    Completion& c = e_[tail_ & (n_ - 1)];
    c.status = status;
    c.seq = seq;
    c.value = value;
    c.reply_bytes = reply_bytes;
    c.async_error = async_error;
    c.stamp.store(stamp_for(tail_, 0), std::memory_order_release);
    ++tail_;
    ctl_->tail.store(tail_, std::memory_order_release);
    return true;
  }

  bool broken() const { return broken_; }

 private:
  RingCtl* ctl_ = nullptr;
  Completion* e_ = nullptr;
  uint32_t n_ = 0;
  uint64_t tail_ = 0;
  uint64_t cached_head_ = 0;
  bool broken_ = false;
};

// Guest side: reads completions in order.
class CplConsumer {
 public:
  CplConsumer() = default;
  CplConsumer(RingCtl* ctl, Completion* entries, uint32_t count)
      : ctl_(ctl), e_(entries), n_(count), head_(ctl->head.load(std::memory_order_relaxed)) {}

  // Copies out the next completion if there is one. `Out` is Completion or
  // CompletionData (a plain copy that can be stored and moved).
  template <class Out>
  bool try_take(Out* out) {
    Completion& c = e_[head_ & (n_ - 1)];
    if (c.stamp.load(std::memory_order_acquire) != stamp_for(head_, 0)) return false;
    out->status = c.status;
    out->seq = c.seq;
    out->value = c.value;
    out->reply_bytes = c.reply_bytes;
    out->async_error = c.async_error;
    ++head_;
    ctl_->head.store(head_, std::memory_order_release);
    return true;
  }

 private:
  RingCtl* ctl_ = nullptr;
  Completion* e_ = nullptr;
  uint32_t n_ = 0;
  uint64_t head_ = 0;
};

}  // namespace vgpu
