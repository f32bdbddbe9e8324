#include "client.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

namespace vgpu::guest {

namespace {
std::atomic<Client*> g_client{nullptr};
constexpr int kMaxDevices = 64;
}  // namespace

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

Client::Client(const GuestConfig& cfg) : cfg_(cfg) {
  init_status_ = connect();
  if (init_status_ != st::kOk) std::fprintf(stderr, "vgpu: no GPU available: %s\n", init_text_.c_str());
}

Status Client::connect() {
  if (Status s = slot_.open(cfg_, &init_text_)) return s;
  const SlotView sv = slot_.view().slot(slot_.index());
  arena_ = std::make_unique<Arena>(sv.arena.data(), sv.arena.size());
  channels_ = std::make_unique<ChannelPool>(slot_.view(), slot_.index(), shared_);
  copies_ = std::make_unique<StagedCopies>(*arena_, channels_->size(), cfg_.copy_threads, shared_.errors);
  devices_.resize(kMaxDevices);
  slot_.start_heartbeat(cfg_.host_timeout_ms);

  init_status_ = st::kOk;  // exec() below needs it
  HelloReq req{kGuestAbi, static_cast<uint32_t>(getpid())};
  Status s = call<Op::Hello>(req, &hello_);
  if (s != st::kOk) {
    init_text_ = "host refused the session (status " + std::to_string(s) + ")";
    return s;
  }
  shared_.wait.set_gpu_host(hello_.backend == static_cast<uint32_t>(BackendKind::kCuda));
  debug_log("attached %s slot %u, backend %s, %d device(s)", slot_.source().c_str(), slot_.index(),
            hello_.backend == static_cast<uint32_t>(BackendKind::kCuda) ? "cuda" : "cpu", hello_.device_count);
  return st::kOk;
}

void Client::shutdown() {
  if (init_status_ != st::kOk || !slot_.claimed_here()) return;  // a fork()ed child owns nothing
  // A session the host already ended (or a host that restarted) may have
  // handed this slot to another guest: then touch nothing.
  if (slot_.liveness().gone()) {
    slot_.liveness().end(st::kDeinitialized);
    return;
  }
  if (CallLease l = lease()) {
    uint64_t seq;
    l.channel().send(kOpcode<Op::Bye>, 0, nullptr, 0, {}, &seq);
  }
  slot_.leave();
}

Status Client::exec(uint16_t op, bool sync, const void* req, uint32_t req_len, Bytes in, void* rep,
                    uint32_t rep_len, MutBytes extra, uint32_t* extra_len) {
  const CallLease l = lease();
  if (!l) return l.status();
  return exec(l, op, sync, req, req_len, in, rep, rep_len, extra, extra_len);
}

Status Client::exec(const CallLease& l, uint16_t op, bool sync, const void* req, uint32_t req_len, Bytes in,
                    void* rep, uint32_t rep_len, MutBytes extra, uint32_t* extra_len) {
  Channel& ch = l.channel();
  uint64_t seq = 0;
  // A stream synchronise may be answered by the device itself (region.h,
  // ChannelCtl::device_seq): one fewer host hop on every synchronise that
  // waits on the GPU. Only one answer is pending per channel (the lease
  // serialises a shared channel's calls), so device_seq names this call.
  const bool device_answer = sync && op_device_answerable(op);
  const uint16_t flags = sync ? kFlagWantCompletion | (device_answer ? kFlagDeviceAnswer : 0) : 0;
  Status s = ch.send(op, flags, req, req_len, in, &seq);
  if (s != st::kOk || !sync) return s;
  CompletionData c{};
  if ((s = ch.wait(seq, &c, device_answer)) != st::kOk) return s;
  ch.read_reply(c, rep, rep_len, extra, extra_len);
  return c.status;
}

const DeviceInfoRep* Client::device_info(int ordinal) {
  if (init_status_ != st::kOk || ordinal < 0 || ordinal >= hello_.device_count || ordinal >= kMaxDevices)
    return nullptr;
  {
    std::lock_guard lk(devices_mu_);
    if (devices_[ordinal]) return devices_[ordinal].get();
  }
  auto info = std::make_unique<DeviceInfoRep>();
  if (call<Op::DeviceInfo>(DeviceInfoReq{ordinal, 0}, info.get()) != st::kOk) return nullptr;
  std::lock_guard lk(devices_mu_);
  if (!devices_[ordinal]) devices_[ordinal] = std::move(info);
  return devices_[ordinal].get();
}

void* Client::arena_alloc_pinned(uint64_t n) {
  if (init_status_ != st::kOk || !copies_) return nullptr;
  return copies_->alloc_pinned(n);
}

Status Client::copy_htod(DevPtr dst, const void* src, uint64_t n, Handle stream, bool sync) {
  // Nothing to copy claims no channel.
  if (n == 0) return CallLease::ready(init_status_, slot_.liveness());
  const CallLease l = lease();
  if (!l) return l.status();
  return copies_->htod(l.channel(), dst, src, n, stream, sync);
}

Status Client::copy_dtoh(void* dst, DevPtr src, uint64_t n, Handle stream, bool sync) {
  if (n == 0) return CallLease::ready(init_status_, slot_.liveness());
  const CallLease l = lease();
  if (!l) return l.status();
  return copies_->dtoh(l.channel(), dst, src, n, stream, sync);
}

Status Client::upload_blob(const void* data, uint64_t n) {
  const CallLease l = lease();
  if (!l) return l.status();
  auto* p = static_cast<const std::byte*>(data);
  const uint64_t chunk = std::min<uint64_t>(l.channel().max_payload() - sizeof(BlobAppendReq), 128u << 10);
  for (uint64_t off = 0; off < n;) {
    const uint64_t len = std::min(chunk, n - off);
    const BlobAppendReq req{off, n};
    if (Status s = exec(l, kOpcode<Op::BlobAppend>, false, &req, sizeof req, as_bytes(p + off, len), nullptr, 0, {},
                        nullptr))
      return s;
    off += len;
  }
  return st::kOk;
}

}  // namespace vgpu::guest
