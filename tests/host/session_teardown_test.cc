// The session as the one owner of what a guest holds (src/host/session.h):
// a session that ends holding one object of every kind releases each exactly
// once, in the order of src/host/session_teardown.cc, and the backend is left
// holding nothing; the guest's own destroy calls take an object back once.
//
// The guest here is this test, feeding records through dispatch() as the
// worker does (session_driver.h); a RecordingBackend (backend_recorder.h)
// writes down what reaches the backend. Over FakeBackend for every kind
// (graphs included, which the CPU backend refuses), and over the real CPU
// backend, whose memory must all be back. cuda_session_test.cc does the same
// on a GPU.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend_recorder.h"
#include "cpu_backend.h"
#include "fake_backend.h"
#include "one_of_each.h"
#include "session.h"

namespace vgpu::host {
namespace {

using test::Act;
using test::destroyed;
using test::expected_teardown;
using test::FakeBackend;
using test::Held;
using test::hold_one_of_each;
using test::leave_capture_open;
using test::made;
using test::Obj;
using test::Record;
using test::RecordingBackend;
using test::TestSession;
using test::text;

TEST(SessionTeardown, ASessionDyingWithOneOfEachReleasesEveryOneOnceInOrder) {
  FakeBackend fake;
  RecordingBackend rec(&fake);
  size_t from = 0;
  {
    TestSession t(&rec);
    Held h;
    ASSERT_NO_FATAL_FAILURE(hold_one_of_each(t.d, true, &h));
    ASSERT_NO_FATAL_FAILURE(leave_capture_open(t.d, h));
    from = rec.records.size();
  }  // the session dies here, as the worker's does once its guest is gone
  const std::vector<Record> expected = expected_teardown(rec);
  ASSERT_FALSE(expected.empty()) << text(rec.records);
  EXPECT_EQ(text(expected), text(rec.records, from));
  EXPECT_EQ("", rec.each_created_destroyed_once());
  EXPECT_EQ(0u, fake.live());
}

TEST(SessionTeardown, ReleaseAllSaysWhatItReleasedThenHoldsNothing) {
  FakeBackend fake;
  RecordingBackend rec(&fake);
  TestSession t(&rec);
  Held h;
  ASSERT_NO_FATAL_FAILURE(hold_one_of_each(t.d, true, &h));
  ASSERT_NO_FATAL_FAILURE(leave_capture_open(t.d, h));
  EXPECT_EQ((1u << 20) + 4096 + h.granularity, t.s.mem_held());

  const Session::Released r = t.s.release_all();
  EXPECT_EQ(1u, r.captures);
  EXPECT_EQ(1u, r.graph_execs);
  EXPECT_EQ(2u, r.graphs);
  EXPECT_EQ(1u, r.blas);
  EXPECT_EQ(1u, r.events);
  EXPECT_EQ(3u, r.streams);
  EXPECT_EQ(1u, r.modules);
  EXPECT_EQ(1u, r.mappings);
  EXPECT_EQ(1u, r.vmm_handles);
  EXPECT_EQ(1u, r.reservations);
  EXPECT_EQ(2u, r.allocations);
  EXPECT_EQ(
      "1 open capture, 1 graph executable, 2 graphs, 1 cuBLAS handle, 1 event, 3 streams, 1 module, 1 VMM mapping, "
      "1 VMM handle, 1 address range, 2 allocations",
      r.text());
  EXPECT_EQ(0u, t.s.ids());
  EXPECT_EQ(0u, t.s.mem_held());
  EXPECT_EQ(0u, t.s.module_bytes());
  EXPECT_EQ(0u, t.s.reserved_bytes());
  EXPECT_TRUE(t.s.allocations().empty() && t.s.reservations().empty() && t.s.mappings().empty());
  EXPECT_EQ(0u, fake.live());

  // The ids are gone for the guest too, and nothing is released twice.
  const size_t n = rec.records.size();
  EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::StreamDestroy>({h.s1}));
  EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::FuncGetAttribute>({h.function, 0, 0}));
  EXPECT_EQ(st::kInvalidValue, t.d.call<Op::MemFree>({h.big}));
  EXPECT_FALSE(t.s.release_all().any());
  EXPECT_EQ(n, rec.records.size()) << text(rec.records, n);
}

TEST(SessionTeardown, TheGuestsDestroyCallsTakeEachObjectBackOnce) {
  FakeBackend fake;
  RecordingBackend rec(&fake);
  size_t from = 0;
  {
    TestSession t(&rec);
    Held h;
    ASSERT_NO_FATAL_FAILURE(hold_one_of_each(t.d, true, &h));
    ASSERT_NO_FATAL_FAILURE(leave_capture_open(t.d, h));
    EXPECT_EQ(st::kOk, t.d.call<Op::StreamEndCapture>({h.s2}, nullptr));
    EXPECT_EQ(st::kOk, t.d.call<Op::GraphExecDestroy>({h.exec}));
    EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::GraphExecDestroy>({h.exec}));
    EXPECT_EQ(st::kOk, t.d.call<Op::GraphDestroy>({h.graph}));
    EXPECT_EQ(st::kOk, t.d.call<Op::BlasDestroy>({h.blas}));
    EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::BlasDestroy>({h.blas}));
    EXPECT_EQ(st::kOk, t.d.call<Op::EventDestroy>({h.event}));
    EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::EventDestroy>({h.event}));
    EXPECT_EQ(st::kOk, t.d.call<Op::StreamDestroy>({h.s1}));
    EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::StreamDestroy>({h.s1}));
    // A module takes its kernel and its bytes along.
    EXPECT_EQ(st::kOk, t.d.call<Op::ModuleUnload>({h.module}));
    EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::FuncGetAttribute>({h.function, 0, 0}));
    EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::ModuleUnload>({h.module}));
    EXPECT_EQ(0u, t.s.module_bytes());
    // One unmap of two adjacent mappings ends both: the teardown unmaps neither.
    ASSERT_EQ(st::kOk, t.d.call<Op::MemMap>({h.va + h.granularity, h.granularity, 0, h.vmm}));
    EXPECT_EQ(st::kOk, t.d.call<Op::MemUnmap>({h.va, 2 * h.granularity}));
    EXPECT_TRUE(t.s.mappings().empty());
    // A freed range takes the mapping inside it along (the backend dropped it).
    ASSERT_EQ(st::kOk, t.d.call<Op::MemMap>({h.va, h.granularity, 0, h.vmm}));
    EXPECT_EQ(st::kInvalidValue, t.d.call<Op::MemAddressFree>({h.va, h.granularity}));  // not as reserved
    EXPECT_EQ(st::kOk, t.d.call<Op::MemAddressFree>({h.va, 2 * h.granularity}));
    EXPECT_TRUE(t.s.mappings().empty() && t.s.reservations().empty());
    EXPECT_EQ(0u, t.s.reserved_bytes());
    // Memory gives its charge back once freed.
    EXPECT_EQ(st::kOk, t.d.call<Op::MemRelease>({h.vmm}));
    EXPECT_EQ(st::kInvalidHandle, t.d.call<Op::MemRelease>({h.vmm}));
    EXPECT_EQ(st::kOk, t.d.call<Op::MemFree>({h.big}));
    EXPECT_EQ(st::kInvalidValue, t.d.call<Op::MemFree>({h.big}));
    EXPECT_EQ(4096u, t.s.mem_held());
    from = rec.records.size();
  }
  // What was left: s2, the per-thread stream, the graph of the capture ended
  // above, and the small allocation; nothing the guest destroyed.
  const auto streams = made(rec, Obj::kStream);
  const auto graphs = made(rec, Obj::kGraph);
  const std::vector<Record> expected = {
      {Act::kWaitIdle, Obj::kStream, 0, st::kOk},      destroyed(Obj::kGraph, graphs.at(1)),
      destroyed(Obj::kStream, streams.at(1)),            destroyed(Obj::kStream, streams.at(2)),
      destroyed(Obj::kAllocation, made(rec, Obj::kAllocation).at(1)),
  };
  EXPECT_EQ(text(expected), text(rec.records, from));
  for (const Record& r : rec.destroys()) EXPECT_EQ(st::kOk, r.status) << r.text();  // the fake refuses a second destroy
  EXPECT_EQ(0u, fake.live());
}

TEST(SessionTeardown, AnObjectRefusedAnIdIsDestroyedAtOnce) {
  FakeBackend fake;
  RecordingBackend rec(&fake);
  SessionLimits two_ids;
  two_ids.handles = 2;
  TestSession t(&rec, nullptr, 0, two_ids);
  HandleRep r{};
  ASSERT_EQ(st::kOk, t.d.call<Op::StreamCreate>({0, 0}, &r));
  ASSERT_EQ(st::kOk, t.d.call<Op::EventCreate>({0, 0}, &r));
  size_t n = rec.records.size();
  EXPECT_EQ(st::kOutOfMemory, t.d.call<Op::BlasCreate>({}, &r));
  ASSERT_EQ(n + 2, rec.records.size());
  EXPECT_EQ(Act::kDestroy, rec.records[n + 1].act);
  EXPECT_EQ(rec.records[n].id, rec.records[n + 1].id);
  // A VMM handle's charge goes back with it.
  MemProp prop{};
  prop.size = 2 << 20;
  n = rec.records.size();
  EXPECT_EQ(st::kOutOfMemory, t.d.call<Op::MemCreate>({prop}, &r));
  EXPECT_EQ(0u, t.s.mem_held());
  ASSERT_EQ(n + 2, rec.records.size());
  EXPECT_EQ(Obj::kMemHandle, rec.records[n + 1].obj);
  EXPECT_EQ(Act::kDestroy, rec.records[n + 1].act);
  t.s.release_all();
  EXPECT_EQ("", rec.each_created_destroyed_once());
  EXPECT_EQ(0u, fake.live());
}

// The CPU backend as the device: everything the guest held is gone from it
// and its memory is all back. It refuses stream capture, so no graph can
// exist there (FakeBackend covers graphs above; the GPU test, the real ones).
TEST(SessionTeardownCpu, AGuestEndingHoldingEverythingGivesAllTheMemoryBack) {
  cpu::CpuBackend cpu(64 << 20);
  ASSERT_EQ(st::kOk, cpu.init(0));
  RecordingBackend rec(&cpu);
  uint64_t free0 = 0, total = 0;
  ASSERT_EQ(st::kOk, cpu.mem_get_info(&free0, &total));
  ASSERT_EQ(free0, total);
  Held h;
  size_t after = 0;
  {
    TestSession t(&rec);
    ASSERT_NO_FATAL_FAILURE(hold_one_of_each(t.d, false, &h));
    EXPECT_EQ(st::kNotSupported, t.d.call<Op::StreamBeginCapture>({h.s1, 0, 0}));
    uint64_t free1 = 0;
    ASSERT_EQ(st::kOk, cpu.mem_get_info(&free1, &total));
    EXPECT_LE(free1 + (1 << 20) + 4096 + h.granularity, total);

    const Session::Released r = t.s.release_all();
    EXPECT_EQ("1 cuBLAS handle, 1 event, 3 streams, 1 module, 1 VMM mapping, 1 VMM handle, 1 address range, "
              "2 allocations",
              r.text());
    EXPECT_EQ(0u, cpu.used());
    uint64_t free2 = 0;
    ASSERT_EQ(st::kOk, cpu.mem_get_info(&free2, &total));
    EXPECT_EQ(total, free2);
    after = rec.records.size();
  }  // and the session's own end releases nothing more
  EXPECT_EQ(after, rec.records.size()) << text(rec.records, after);
  EXPECT_EQ("", rec.each_created_destroyed_once());

  // The device knows none of them any more.
  for (uint64_t s : made(rec, Obj::kStream)) EXPECT_EQ(st::kInvalidHandle, cpu.stream_query(s));
  for (uint64_t e : made(rec, Obj::kEvent)) EXPECT_EQ(st::kInvalidHandle, cpu.event_query(e));
  for (uint64_t m : made(rec, Obj::kModule)) EXPECT_EQ(st::kInvalidHandle, cpu.module_global(m, "x", nullptr, nullptr));
  BlasL12Req scal{};
  scal.routine = static_cast<uint32_t>(BlasL12::kSscal);
  float v = 0;
  int bs = 0;
  for (uint64_t b : made(rec, Obj::kBlas)) EXPECT_EQ(st::kInvalidHandle, cpu.blas_l12(b, 0, scal, &v, &bs));
  for (uint64_t a : made(rec, Obj::kAllocation)) EXPECT_EQ(nullptr, cpu.dev(a, 1, cpu::CpuBackend::kRead));
  EXPECT_EQ(nullptr, cpu.dev(made(rec, Obj::kMapping).at(0), 1, cpu::CpuBackend::kRead));
  for (uint64_t x : made(rec, Obj::kMemHandle)) EXPECT_EQ(st::kInvalidHandle, cpu.mem_release(x));
  EXPECT_EQ(st::kInvalidValue, cpu.va_free(h.va, 2 * h.granularity));
}

}  // namespace
}  // namespace vgpu::host
