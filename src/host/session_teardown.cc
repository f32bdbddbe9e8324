// The end of a session: everything the guest still holds is released, each
// object exactly once, in this order (each step names why it comes where it
// does; tests/host/session_teardown_test.cc holds the session to it):
//
//   1. captures still open are ended, their graphs joining step 4's: while a
//      stream captures, CUDA refuses the synchronise of step 2 and, in the
//      global capture mode, the frees and unmaps of steps 9 and 10, and a
//      capturing stream cannot be destroyed;
//   2. the device finishes what is queued (Backend::wait_idle): nothing below
//      may go while queued work still uses it;
//   3. graph executables, before the graphs they were instantiated from;
//   4. graphs, before the streams, events and modules their nodes name;
//   5. cuBLAS handles, before their streams (a handle keeps the stream it was
//      last given, and its destruction may synchronise on it) and before the
//      memory of their workspaces;
//   6. events, before the streams they were recorded on;
//   7. streams (the channels' per-thread streams after the guest's own);
//   8. modules, their functions with them: no graph, executable or queued
//      launch uses their kernels any more;
//   9. VMM: mappings unmapped, then the handles released, then the address
//      ranges freed (a range is freed once nothing is mapped in it, a
//      handle's memory goes once it is released and unmapped);
//  10. allocations last: any object above may use device memory (kernel
//      parameters, graph nodes, cuBLAS workspaces, mappings' contents).
//
// Within a step the newest object goes first (ids grow with creation), as
// later objects are made from earlier ones; ranges go by address. Each object
// is destroyed once, whatever the backend answers: a failing destroy (a
// context in a sticky error state) is not retried, and the worker's exit
// frees what the device still holds. Then the tables are empty.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "session.h"

namespace vgpu::host {

namespace {

constexpr uint32_t kCaptureNone = 0;  // CU_STREAM_CAPTURE_STATUS_NONE

// The objects of every live id of kind k, newest first.
std::vector<Native> newest_first(const HandleTable& t, Kind k) {
  std::vector<std::pair<Handle, Native>> ids;
  t.for_each([&](Handle h, const HandleTable::Entry& e) {
    if (e.kind == k) ids.emplace_back(h, e.native);
  });
  std::sort(ids.begin(), ids.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<Native> natives;
  natives.reserve(ids.size());
  for (const auto& [h, n] : ids) natives.push_back(n);
  return natives;
}

// Destroys every one of `objects` with `destroy`; how many there were.
template <class Objects, class Destroy>
uint32_t each(const Objects& objects, Destroy&& destroy) {
  uint32_t n = 0;
  for (const auto& o : objects) {
    destroy(o);
    ++n;
  }
  return n;
}

}  // namespace

bool Session::holds_nothing() const {
  return handles_.size() == 0 && allocations_.empty() && reservations_.empty() && mappings_.empty() &&
         std::all_of(per_thread_streams_.begin(), per_thread_streams_.end(), [](Native s) { return s == 0; });
}

Session::Released Session::release_all() {
  Released r;
  if (be != nullptr && !holds_nothing()) {
    std::vector<Native> streams = newest_first(handles_, Kind::kStream);
    for (Native s : per_thread_streams_)
      if (s) streams.push_back(s);

    // 1. Open captures.
    std::vector<Native> graphs;
    for (Native s : streams) {
      uint32_t status = kCaptureNone;
      uint64_t id = 0;
      if (be->capture_status(s, &status, &id) != st::kOk || status == kCaptureNone) continue;
      Native g = 0;
      be->end_capture(s, &g);  // an invalidated capture ends with an error and no graph
      ++r.captures;
      if (g) graphs.push_back(g);
    }
    // 2. Queued work.
    be->wait_idle();
    // The objects of every id of kind k, newest first, through the one
    // destroy path of ids (destroy_object).
    auto ids_of = [&](Kind k) {
      return each(newest_first(handles_, k), [&](Native n) { destroy_object(k, n); });
    };
    // 3, 4. Executables, graphs (those of step 1 are the newest).
    r.graph_execs = ids_of(Kind::kGraphExec);
    r.graphs = each(graphs, [&](Native g) { destroy_object(Kind::kGraph, g); });
    r.graphs += ids_of(Kind::kGraph);
    // 5, 6, 7. cuBLAS handles, events, streams (the per-thread ones have no id).
    r.blas = ids_of(Kind::kBlas);
    r.events = ids_of(Kind::kEvent);
    r.streams = each(streams, [&](Native s) { destroy_object(Kind::kStream, s); });
    // 8. Modules (functions are only forgotten: they go with their module).
    r.modules = ids_of(Kind::kModule);
    // 9. VMM.
    r.mappings = each(mappings_, [&](const auto& m) { be->mem_unmap(m.first, m.second); });
    r.vmm_handles = ids_of(Kind::kMemHandle);
    r.reservations = each(reservations_, [&](const auto& v) { be->va_free(v.first, v.second); });
    // 10. Allocations.
    r.allocations = each(allocations_, [&](const auto& a) { be->mem_free(a.first); });
  }
  handles_.clear();
  per_thread_streams_.clear();
  module_by_hash_.clear();
  function_ids_.clear();
  mappings_.clear();
  reservations_.clear();
  allocations_.clear();
  module_bytes_ = 0;
  reserved_bytes_ = 0;
  mem_held_ = 0;
  if (stats) stats->mem_held.store(0, std::memory_order_relaxed);
  std::vector<std::byte>().swap(blob);
  return r;
}

bool Session::Released::any() const {
  return captures || graph_execs || graphs || blas || events || streams || modules || mappings || vmm_handles ||
         reservations || allocations;
}

std::string Session::Released::text() const {
  struct Item {
    uint32_t n;
    const char* one;
    const char* many;
  };
  const Item items[] = {{captures, "open capture", "open captures"},
                        {graph_execs, "graph executable", "graph executables"},
                        {graphs, "graph", "graphs"},
                        {blas, "cuBLAS handle", "cuBLAS handles"},
                        {events, "event", "events"},
                        {streams, "stream", "streams"},
                        {modules, "module", "modules"},
                        {mappings, "VMM mapping", "VMM mappings"},
                        {vmm_handles, "VMM handle", "VMM handles"},
                        {reservations, "address range", "address ranges"},
                        {allocations, "allocation", "allocations"}};
  std::string out;
  for (const Item& i : items) {
    if (i.n == 0) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(i.n) + " " + (i.n == 1 ? i.one : i.many);
  }
  return out;
}

}  // namespace vgpu::host
