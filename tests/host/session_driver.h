// SessionDriver: feeds a Session records the way the worker does (a request
// struct, then any inline bytes, as a record's payload through dispatch()),
// waits out a completion the handler deferred (fence, event, idle stream) by
// polling as the worker would, and copies a Sync op's reply back. For host
// tests that play a guest without a region.
#pragma once

#include <sched.h>

#include <chrono>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "dispatch.h"
#include "session.h"
#include "vgpu/ops.h"

namespace vgpu::host::test {

class SessionDriver {
 public:
  explicit SessionDriver(Session& s) : s_(s), reply_(16384) {}

  template <Op op>
  Status call(const typename OpTraits<op>::Request& req, typename OpTraits<op>::Reply* rep = nullptr,
              std::span<const std::byte> extra = {}, uint32_t channel = 0) {
    using Req = typename OpTraits<op>::Request;
    using Rep = typename OpTraits<op>::Reply;
    constexpr size_t req_bytes = std::is_empty_v<Req> ? 0 : sizeof(Req);
    std::vector<std::byte> payload(req_bytes + extra.size() + 1);  // + 1: never empty
    if constexpr (req_bytes > 0) std::memcpy(payload.data(), &req, req_bytes);
    if (!extra.empty()) std::memcpy(payload.data() + req_bytes, extra.data(), extra.size());
    Call c{s_, channel, ++seq_, OpTraits<op>::flags()};
    uint32_t len = 0;
    Status st = dispatch(c, kOpcode<op>, payload.data(), static_cast<uint32_t>(req_bytes + extra.size()),
                         reply_.data(), static_cast<uint32_t>(reply_.size()), &len);
    reply_len_ = len;
    if (st == vgpu::st::kOk) st = settle(c);
    if constexpr (!std::is_empty_v<Rep>) {
      if (rep) std::memcpy(rep, reply_.data(), sizeof *rep);
    }
    return st;
  }

  // The variable-size bytes of the last Sync op's reply (after its struct).
  template <Op op>
  std::span<const std::byte> reply_extra() const {
    constexpr size_t rep_bytes = std::is_empty_v<typename OpTraits<op>::Reply> ? 0 : sizeof(typename OpTraits<op>::Reply);
    return reply_len_ > rep_bytes ? std::span(reply_.data() + rep_bytes, reply_len_ - rep_bytes)
                                  : std::span<const std::byte>();
  }

  // A module from `image` (BlobAppend, then ModuleLoad with a hash of it);
  // 0 with the status in *why when it fails.
  Handle load_module(const std::string& image, Status* why = nullptr) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char ch : image) h = (h ^ static_cast<uint8_t>(ch)) * 0x100000001b3ull;
    const auto bytes = std::as_bytes(std::span(image.data(), image.size()));
    Status st = call<Op::BlobAppend>({0, image.size()}, nullptr, bytes);
    HandleRep m{};
    if (st == vgpu::st::kOk) st = call<Op::ModuleLoad>({h, ~h, image.size()}, &m);
    if (why) *why = st;
    return st == vgpu::st::kOk ? m.handle : 0;
  }

  // A function of module `m` by name; 0 when it fails.
  Handle function(Handle m, const char* name) {
    FunctionRep f{};
    const auto bytes = std::as_bytes(std::span(name, std::strlen(name) + 1));
    return call<Op::ModuleGetFunction>({m}, &f, bytes) == vgpu::st::kOk ? f.function : 0;
  }

 private:
  // What the worker does with a deferred completion: poll until it passes.
  Status settle(Call& c) {
    if (!c.has_fence && !c.has_event && !c.has_idle) return vgpu::st::kOk;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    Status st;
    for (;;) {
      st = c.has_fence ? s_.be->fence_poll(c.fence) : c.has_event ? s_.be->event_query(c.event)
                                                                   : s_.be->stream_query(c.idle_stream);
      if (st != vgpu::st::kNotReady || std::chrono::steady_clock::now() > deadline) break;
      sched_yield();
    }
    if (c.has_fence) s_.be->fence_release(c.fence);
    return st;
  }

  Session& s_;
  std::vector<std::byte> reply_;
  uint32_t reply_len_ = 0;
  uint64_t seq_ = 0;
};

// A kernel any driver can compile (PTX, JIT'ed for the device) and the CPU
// backend accepts as an image (it names the kernel; nothing runs there).
inline const char* const kNoopPtx =
    ".version 7.0\n"
    ".target sm_75\n"
    ".address_size 64\n"
    ".visible .entry vgpu_noop()\n"
    "{\n"
    "  ret;\n"
    "}\n";

}  // namespace vgpu::host::test
