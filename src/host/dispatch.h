// Decoding a record and running its handler. The dispatch table and the
// handler declarations are generated from VGPU_OPS (include/vgpu/ops.h):
// every op has exactly one handler, `Status on_<Op>(Call&, const Req&, Rep&)`,
// defined in handlers_<family>.cc.
#pragma once

#include <cstdint>
#include <span>

#include "session.h"
#include "vgpu/ops.h"

namespace vgpu::host {

// Returned by a handler for a record so malformed that the session must end
// (it is not a CUDA status and never reaches the guest as one).
inline constexpr Status kProtocolError = -1;

struct Call {
  Session& s;
  uint32_t channel;
  uint64_t seq;
  uint16_t flags;
  std::span<const std::byte> in;     // inline bytes after the request struct
  std::byte* reply_extra = nullptr;  // variable-size reply bytes go here...
  uint32_t reply_extra_cap = 0;
  uint32_t reply_extra_len = 0;      // ...and their count here
  uint64_t fence = 0;                // set (with has_fence): complete only when this fence passes
  bool has_fence = false;
  Native event = 0;                  // set (with has_event): complete only when this event has fired
  bool has_event = false;
  Native idle_stream = 0;            // set (with has_idle): complete only when this stream is idle
  bool has_idle = false;
  const char* protocol_error = nullptr;  // why, with kProtocolError

  bool wants_completion() const { return flags & kFlagWantCompletion; }
  // Defers this call's completion until everything on `stream` is done.
  Status defer_until_stream(Native stream, bool all_streams = false);
  // Defers this call's completion until `stream` has no work left: cheaper
  // than a fence (no event is recorded), for an explicit stream synchronise.
  void defer_until_stream_idle(Native stream) {
    idle_stream = stream;
    has_idle = true;
  }
  // Defers this call's completion until `event` has fired.
  void defer_until_event(Native event) {
    this->event = event;
    has_event = true;
  }
  Status protocol(const char* why) {
    protocol_error = why;
    return kProtocolError;
  }
};

#define VGPU_DECLARE_HANDLER(name, mode, policy, req, rep) Status on_##name(Call& c, const req& r, rep& out);
VGPU_OPS(VGPU_DECLARE_HANDLER)
#undef VGPU_DECLARE_HANDLER

// Puts the record's channel's stream capture mode on the executor thread
// (handlers_stream.cc), so that each guest thread's calls run in its own mode
// as in CUDA. Costs a compare when nothing changed.
void apply_capture_mode(Call& c);

// Decodes `payload` for `op`, runs the handler, writes a Sync op's reply
// struct to reply[0..] (variable bytes after it). *reply_len gets the total.
Status dispatch(Call& c, uint16_t op, const std::byte* payload, uint32_t payload_bytes, std::byte* reply,
                uint32_t reply_cap, uint32_t* reply_len);

// A trace line for the record (op name, its fields, the result).
void trace_call(const Call& c, uint16_t op, const std::byte* payload, uint32_t payload_bytes, Status result,
                double micros);

}  // namespace vgpu::host
