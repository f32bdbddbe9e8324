#include "dispatch.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <tuple>

namespace vgpu::host {
namespace {

template <class T>
constexpr uint32_t wire_size() {
  return std::is_empty_v<T> ? 0 : sizeof(T);
}

template <Op op, class Handler>
Status run(Call& c, const std::byte* payload, uint32_t n, std::byte* reply, uint32_t cap, uint32_t* reply_len,
           Handler h) {
  using T = OpTraits<op>;
  using Req = typename T::Request;
  using Rep = typename T::Reply;
  constexpr uint32_t req_size = wire_size<Req>();
  if (n < req_size) {
    // A guest of an older ABI may greet with a shorter HelloReq: answer it
    // "not supported" (it then says the host refused it) rather than end it
    // as malformed, provided the ABI number it starts with is there.
    if constexpr (op == Op::Hello) {
      if (n >= sizeof(uint32_t)) {
        uint32_t abi = 0;
        std::memcpy(&abi, payload, sizeof abi);
        std::fprintf(stderr, "vgpu-hostd: slot %u: refused a guest built for ABI %u (this host speaks %u)\n",
                     c.s.slot, abi, kGuestAbi);
        *reply_len = wire_size<Rep>();
        std::memset(reply, 0, *reply_len);
        return vgpu::st::kNotSupported;
      }
    }
    return c.protocol("record shorter than its request");
  }
  // Copy the request out of shared memory once: the guest may rewrite it.
  Req req{};
  if constexpr (req_size > 0) std::memcpy(&req, payload, req_size);
  c.in = {payload + req_size, n - req_size};
  Rep rep{};
  constexpr uint32_t rep_size = wire_size<Rep>();
  static_assert(rep_size <= 16384, "reply larger than the smallest reply buffer");
  c.reply_extra = reply + rep_size;
  c.reply_extra_cap = cap - rep_size;
  const Status s = h(c, req, rep);
  if constexpr (T::mode == Mode::kSync) {
    if constexpr (rep_size > 0) std::memcpy(reply, &rep, rep_size);
    *reply_len = rep_size + c.reply_extra_len;
  } else {
    *reply_len = 0;
  }
  return s;
}

template <class Req>
std::string describe(const std::byte* payload, uint32_t n) {
  if constexpr (std::is_empty_v<Req>) {
    return {};
  } else {
    if (n < sizeof(Req)) return "(short)";
    Req r;
    std::memcpy(&r, payload, sizeof r);
    return std::apply([](auto... a) { return fmt::format(fmt::runtime(Req::kTraceFmt), a...); }, r.trace_args());
  }
}

}  // namespace

Status dispatch(Call& c, uint16_t op, const std::byte* payload, uint32_t n, std::byte* reply, uint32_t cap,
                uint32_t* reply_len) {
  apply_capture_mode(c);
  switch (static_cast<Op>(op)) {
#define VGPU_CASE(name, mode, policy, req, rep) \
  case Op::name:                        \
    return run<Op::name>(c, payload, n, reply, cap, reply_len, on_##name);
    VGPU_OPS(VGPU_CASE)
#undef VGPU_CASE
    default:
      return c.protocol("unknown opcode");
  }
}

void trace_call(const Call& c, uint16_t op, const std::byte* payload, uint32_t n, Status result, double micros) {
  std::string fields;
  switch (static_cast<Op>(op)) {
#define VGPU_DESCRIBE(name, mode, policy, req, rep) \
  case Op::name:                            \
    fields = describe<req>(payload, n);     \
    break;
    VGPU_OPS(VGPU_DESCRIBE)
#undef VGPU_DESCRIBE
    default:
      break;
  }
  std::string line = fmt::format("vgpu-hostd[slot {}] #{} ch{} {} {} -> {} ({:.1f} us)\n", c.s.slot, c.seq, c.channel,
                                 op_name(op), fields, result, micros);
  std::fputs(line.c_str(), stderr);
}

}  // namespace vgpu::host
