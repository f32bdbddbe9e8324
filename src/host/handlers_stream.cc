// Streams, events, stream capture and context synchronisation. Waits never
// block the executor: they become fences or events the worker polls.
#include "dispatch.h"

namespace vgpu::host {

namespace {
Status event_of(Call& c, Handle h, Native* out) {
  const auto* e = c.s.lookup(Kind::kEvent, h);
  if (!e) return st::kInvalidHandle;
  *out = e->native;
  return st::kOk;
}
}  // namespace

Status on_StreamCreate(Call& c, const StreamCreateReq& r, HandleRep& out) {
  Native n;
  Status s = c.s.be->stream_create(r.flags, r.priority, &n);
  if (s != st::kOk) return s;
  return c.s.adopt(Kind::kStream, n, &out.handle);
}

Status on_StreamDestroy(Call& c, const StreamDestroyReq& r, Empty&) { return c.s.release(Kind::kStream, r.stream); }

Status on_StreamSynchronize(Call& c, const StreamSynchronizeReq& r, Empty&) {
  Native n;
  if (!c.s.stream(r.stream, c.channel, &n)) return st::kInvalidHandle;
  // Polling the stream itself answers as CUDA does (and refuses a capturing
  // stream the same way); work other threads add meanwhile can only delay it.
  const Status now = c.s.be->stream_query(n);
  if (now != st::kNotReady) return now;
  c.defer_until_stream_idle(n);
  return st::kOk;
}

Status on_StreamQuery(Call& c, const StreamQueryReq& r, Empty&) {
  Native n;
  if (!c.s.stream(r.stream, c.channel, &n)) return st::kInvalidHandle;
  return c.s.be->stream_query(n);
}

Status on_StreamWaitEvent(Call& c, const StreamWaitEventReq& r, Empty&) {
  Native n, ev;
  if (!c.s.stream(r.stream, c.channel, &n)) return st::kInvalidHandle;
  if (Status s = event_of(c, r.event, &ev)) return s;
  return c.s.be->stream_wait_event(n, ev, r.flags);
}

Status on_StreamWriteValue(Call& c, const StreamWriteValueReq& r, Empty&) {
  if (r.bytes != 4 && r.bytes != 8) return st::kInvalidValue;
  Native n;
  if (!c.s.stream(r.stream, c.channel, &n)) return st::kInvalidHandle;
  return c.s.be->stream_store(n, r.addr, r.value, r.bytes, r.flags);
}

Status on_StreamWaitValue(Call& c, const StreamWaitValueReq& r, Empty&) {
  if (r.bytes != 4 && r.bytes != 8) return st::kInvalidValue;
  Native n;
  if (!c.s.stream(r.stream, c.channel, &n)) return st::kInvalidHandle;
  return c.s.be->stream_wait_value(n, r.addr, r.value, r.bytes, r.flags);
}

Status on_StreamBeginCapture(Call& c, const BeginCaptureReq& r, Empty&) {
  Native n;
  if (!c.s.stream(r.stream, c.channel, &n)) return st::kInvalidHandle;
  return c.s.be->begin_capture(n, r.mode);
}

Status on_StreamEndCapture(Call& c, const StreamEndCaptureReq& r, HandleRep& out) {
  Native n, g = 0;
  if (!c.s.stream(r.stream, c.channel, &n)) return st::kInvalidHandle;
  Status s = c.s.be->end_capture(n, &g);
  if (s != st::kOk || !g) return s;
  // The capture has ended either way; without an id the graph cannot be used.
  return c.s.adopt(Kind::kGraph, g, &out.handle);
}

void apply_capture_mode(Call& c) {
  const uint32_t want = c.channel < c.s.capture_modes.size() ? c.s.capture_modes[c.channel] : 0;
  if (want == c.s.executor_capture_mode) return;
  // Values were checked when they arrived; a backend refusing one leaves the
  // executor as it was, and the next record tries again.
  if (c.s.be->set_capture_mode(want) == st::kOk) c.s.executor_capture_mode = want;
}

// Posted: the guest answers cudaThreadExchangeStreamCaptureMode itself (the
// old mode is its own state); the host only needs the new one.
Status on_ThreadCaptureMode(Call& c, const CaptureModeReq& r, Empty&) {
  if (r.mode > 2) return st::kInvalidValue;  // GLOBAL, THREAD_LOCAL, RELAXED
  if (c.channel >= c.s.capture_modes.size()) c.s.capture_modes.resize(c.channel + 1, 0);
  c.s.capture_modes[c.channel] = r.mode;
  apply_capture_mode(c);
  return st::kOk;
}

Status on_StreamCaptureStatus(Call& c, const StreamCaptureStatusReq& r, CaptureStatusRep& out) {
  Native n;
  if (!c.s.stream(r.stream, c.channel, &n)) return st::kInvalidHandle;
  return c.s.be->capture_status(n, &out.status, &out.id);
}

Status on_EventCreate(Call& c, const EventCreateReq& r, HandleRep& out) {
  Native n;
  Status s = c.s.be->event_create(r.flags, &n);
  if (s != st::kOk) return s;
  return c.s.adopt(Kind::kEvent, n, &out.handle);
}

Status on_EventDestroy(Call& c, const EventDestroyReq& r, Empty&) { return c.s.release(Kind::kEvent, r.event); }

Status on_EventRecord(Call& c, const EventRecordReq& r, Empty&) {
  Native n, ev;
  if (!c.s.stream(r.stream, c.channel, &n)) return st::kInvalidHandle;
  if (Status s = event_of(c, r.event, &ev)) return s;
  return c.s.be->event_record(ev, n, r.flags);
}

Status on_EventQuery(Call& c, const EventQueryReq& r, Empty&) {
  Native ev;
  if (Status s = event_of(c, r.event, &ev)) return s;
  return c.s.be->event_query(ev);
}

Status on_EventSynchronize(Call& c, const EventSynchronizeReq& r, Empty&) {
  Native ev;
  if (Status s = event_of(c, r.event, &ev)) return s;
  c.defer_until_event(ev);
  return st::kOk;
}

Status on_EventElapsed(Call& c, const EventElapsedReq& r, FloatRep& out) {
  Native a, b;
  if (Status s = event_of(c, r.start, &a)) return s;
  if (Status s = event_of(c, r.end, &b)) return s;
  return c.s.be->event_elapsed(a, b, &out.value);
}

Status on_CtxSynchronize(Call& c, const Empty&, Empty&) { return c.defer_until_stream(kNativeLegacyStream, true); }

}  // namespace vgpu::host
