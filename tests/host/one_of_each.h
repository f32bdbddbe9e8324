// A guest that ends holding one object of every kind, for the session
// teardown tests (session_teardown_test.cc on a fake and the CPU backend,
// cuda_session_test.cc on a GPU), and the teardown they expect of it: the
// order of src/host/session_teardown.cc, written out object by object.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend_recorder.h"
#include "session.h"
#include "session_driver.h"

namespace vgpu::host::test {

// A session over `be` with an arena (`arena` if given: registered memory on
// a GPU) and `limits`, as the worker sets one up.
struct TestSession {
  explicit TestSession(Backend* be, std::byte* arena = nullptr, uint64_t arena_bytes = 0,
                       const SessionLimits& limits = {})
      : own(arena ? 0 : 1 << 20), s(limits) {
    s.be = be;
    s.arena = arena ? arena : own.data();
    s.arena_bytes = arena ? arena_bytes : own.size();
  }
  std::vector<std::byte> own;
  Session s;
  SessionDriver d{s};
};

// What hold_one_of_each left the session holding, as the guest knows it.
struct Held {
  DevPtr big = 0, small = 0;  // allocations
  Handle s1 = 0, s2 = 0;      // streams
  Handle event = 0, module = 0, function = 0, blas = 0, vmm = 0;
  DevPtr va = 0;  // a reservation of two granules, the first mapped
  uint64_t granularity = 0;
  Handle graph = 0, exec = 0;
};

// Makes the session hold one object of every kind, as a guest that then
// exits without cleaning up: two allocations (`big_bytes` and 4 KiB), two
// streams and a channel's per-thread stream, an event recorded, a module and
// its kernel, a cuBLAS handle used on a stream, a VMM mapping of a handle
// in a reservation, and, with `graphs`, a graph captured from a stream,
// instantiated and launched.
inline void hold_one_of_each(SessionDriver& d, bool graphs, Held* h, uint64_t big_bytes = 1 << 20) {
  DevPtrRep p{};
  ASSERT_EQ(st::kOk, d.call<Op::MemAlloc>({big_bytes}, &p));
  h->big = p.ptr;
  ASSERT_EQ(st::kOk, d.call<Op::MemAlloc>({4096}, &p));
  h->small = p.ptr;
  HandleRep r{};
  ASSERT_EQ(st::kOk, d.call<Op::StreamCreate>({0, 0}, &r));
  h->s1 = r.handle;
  ASSERT_EQ(st::kOk, d.call<Op::StreamCreate>({1, 0}, &r));  // CU_STREAM_NON_BLOCKING
  h->s2 = r.handle;
  // Channel 1's per-thread stream, made by its first use.
  ASSERT_EQ(st::kOk, d.call<Op::Memset>({h->big, 7, 1, 256, kStreamPerThread}, nullptr, {}, 1));
  ASSERT_EQ(st::kOk, d.call<Op::EventCreate>({0, 0}, &r));
  h->event = r.handle;
  ASSERT_EQ(st::kOk, d.call<Op::EventRecord>({h->event, h->s1, 0, 0}));
  Status why = st::kOk;
  h->module = d.load_module(kNoopPtx, &why);
  ASSERT_NE(0u, h->module) << "module load: " << why;
  h->function = d.function(h->module, "vgpu_noop");
  ASSERT_NE(0u, h->function);
  ASSERT_EQ(st::kOk, d.call<Op::BlasCreate>({}, &r));
  h->blas = r.handle;
  BlasL12Req scal{};
  scal.s = {h->blas, h->s2, 0, 0, 0, 0};
  scal.routine = static_cast<uint32_t>(BlasL12::kSscal);
  scal.n = 16;
  scal.incx = 1;
  scal.alpha = 2.0f;
  scal.x = h->big;
  BlasRep blas{};
  ASSERT_EQ(st::kOk, d.call<Op::BlasL12>(scal, &blas));
  ASSERT_EQ(0, blas.status);

  MemProp prop{};
  IntRep g{};
  ASSERT_EQ(st::kOk, d.call<Op::MemGranularity>({prop, 0, 0}, &g));
  h->granularity = static_cast<uint64_t>(g.value);
  ASSERT_EQ(st::kOk, d.call<Op::MemAddressReserve>({2 * h->granularity, 0, 0, 0}, &p));
  h->va = p.ptr;
  prop.size = h->granularity;
  ASSERT_EQ(st::kOk, d.call<Op::MemCreate>({prop}, &r));
  h->vmm = r.handle;
  ASSERT_EQ(st::kOk, d.call<Op::MemMap>({h->va, h->granularity, 0, h->vmm}));
  ASSERT_EQ(st::kOk, d.call<Op::MemSetAccess>({h->va, h->granularity, 0, 3}));  // read/write
  ASSERT_EQ(st::kOk, d.call<Op::Memset>({h->va, 1, 4, h->granularity / 4, h->s1}));

  if (!graphs) return;
  ASSERT_EQ(st::kOk, d.call<Op::StreamBeginCapture>({h->s1, 0, 0}));
  ASSERT_EQ(st::kOk, d.call<Op::Memset>({h->small, 0, 1, 4096, h->s1}));
  ASSERT_EQ(st::kOk, d.call<Op::StreamEndCapture>({h->s1}, &r));
  h->graph = r.handle;
  ASSERT_EQ(st::kOk, d.call<Op::GraphInstantiate>({h->graph, 0}, &r));
  h->exec = r.handle;
  ASSERT_EQ(st::kOk, d.call<Op::GraphLaunch>({h->exec, h->s2}));
}

// Begins a capture on s2 (global mode) and leaves it open: the teardown must
// end it before anything else. In global mode CUDA refuses most other calls
// while it is open: the guest's last call.
inline void leave_capture_open(SessionDriver& d, const Held& h) {
  ASSERT_EQ(st::kOk, d.call<Op::StreamBeginCapture>({h.s2, 0, 0}));
  ASSERT_EQ(st::kOk, d.call<Op::Memset>({h.small, 1, 1, 16, h.s2}));
}

// The natives the backend made of kind `o`, oldest first.
inline std::vector<uint64_t> made(const RecordingBackend& rec, Obj o) {
  std::vector<uint64_t> ids;
  for (const Record& r : rec.records)
    if (r.act == Act::kCreate && r.obj == o) ids.push_back(r.id);
  return ids;
}

inline std::string text(const std::vector<Record>& rs, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < rs.size(); ++i) out += rs[i].text() + "\n";
  return out;
}

inline Record destroyed(Obj o, uint64_t id) { return {Act::kDestroy, o, id, st::kOk}; }

// The teardown of a session that hold_one_of_each (with graphs) and
// leave_capture_open made, as `rec` saw it made, every step answered kOk.
inline std::vector<Record> expected_teardown(const RecordingBackend& rec) {
  const auto streams = made(rec, Obj::kStream);  // s1, s2, the per-thread stream
  const auto graphs = made(rec, Obj::kGraph);    // captured, then the open capture's (by the teardown)
  const auto allocations = made(rec, Obj::kAllocation);
  if (streams.size() != 3 || graphs.size() != 2 || allocations.size() != 2) return {};
  const uint64_t va = made(rec, Obj::kReservation).at(0);
  std::vector<Record> order = {
      {Act::kEndCapture, Obj::kStream, streams[1], st::kOk},  // 1. the open capture...
      {Act::kCreate, Obj::kGraph, graphs[1], st::kOk},        //    ...whose graph joins step 4
      {Act::kWaitIdle, Obj::kStream, 0, st::kOk},             // 2. the device's queue
      destroyed(Obj::kGraphExec, made(rec, Obj::kGraphExec).at(0)),
      destroyed(Obj::kGraph, graphs[1]),  // newest first
      destroyed(Obj::kGraph, graphs[0]),
      destroyed(Obj::kBlas, made(rec, Obj::kBlas).at(0)),
      destroyed(Obj::kEvent, made(rec, Obj::kEvent).at(0)),
      destroyed(Obj::kStream, streams[1]),
      destroyed(Obj::kStream, streams[0]),
      destroyed(Obj::kStream, streams[2]),  // the channels' per-thread streams after the guest's own
      destroyed(Obj::kModule, made(rec, Obj::kModule).at(0)),
      destroyed(Obj::kMapping, va),
      destroyed(Obj::kMemHandle, made(rec, Obj::kMemHandle).at(0)),
      destroyed(Obj::kReservation, va),
  };
  std::vector<uint64_t> by_address = allocations;
  std::sort(by_address.begin(), by_address.end());
  for (uint64_t a : by_address) order.push_back(destroyed(Obj::kAllocation, a));
  return order;
}

}  // namespace vgpu::host::test
