// RecordingBackend: a Backend that hands every call to another one and
// writes down each call that makes or ends a guest object (which object,
// and the inner backend's answer), plus the teardown's capture ends and its
// wait for the device. The session teardown tests hold
// Session::release_all to its order with it, over a fake, the CPU backend
// and (tests/host/cuda_session_test.cc) the real CUDA backend.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "backend.h"

namespace vgpu::host::test {

// What a record is about. Ranges (mappings, reservations, allocations) are
// named by their first address, everything else by its native handle.
enum class Obj : uint8_t {
  kGraphExec,
  kGraph,
  kBlas,
  kEvent,
  kStream,
  kModule,
  kMapping,
  kMemHandle,
  kReservation,
  kAllocation,
};
inline const char* obj_name(Obj o) {
  static const char* const names[] = {"graph exec", "graph",  "cublas",     "event",       "stream",
                                      "module",     "mapping", "vmm handle", "reservation", "allocation"};
  return names[static_cast<int>(o)];
}

enum class Act : uint8_t { kCreate, kDestroy, kEndCapture, kWaitIdle };

struct Record {
  Act act;
  Obj obj;  // kEndCapture: kStream (the stream); kWaitIdle: unused
  uint64_t id;
  Status status;
  std::string text() const {
    const char* a = act == Act::kCreate ? "create" : act == Act::kDestroy ? "destroy" : act == Act::kEndCapture ? "end capture" : "wait idle";
    return std::string(a) + " " + (act == Act::kWaitIdle ? "" : obj_name(obj)) + " " + std::to_string(id) +
           " -> " + std::to_string(status);
  }
};

class RecordingBackend final : public Backend {
 public:
  explicit RecordingBackend(Backend* inner) : b_(inner) {}

  std::vector<Record> records;

  BackendKind kind() const override { return b_->kind(); }
  const char* name() const override { return b_->name(); }
  Status init(int device) override { return b_->init(device); }
  Status register_host(void* base, uint64_t bytes, uint64_t* device_base) override {
    return b_->register_host(base, bytes, device_base);
  }
  int driver_version() override { return b_->driver_version(); }
  void version_texts(HelloRep* out) override { b_->version_texts(out); }
  int device_count() override { return b_->device_count(); }
  Status device_info(int ordinal, DeviceInfoRep* out) override { return b_->device_info(ordinal, out); }
  Status mem_get_info(uint64_t* f, uint64_t* t) override { return b_->mem_get_info(f, t); }

  Status mem_alloc(uint64_t bytes, DevPtr* out) override { return made(Obj::kAllocation, b_->mem_alloc(bytes, out), out); }
  Status mem_free(DevPtr p) override { return ended(Obj::kAllocation, p, b_->mem_free(p)); }
  Status copy_htod(DevPtr dst, const void* src, uint64_t n, Native s) override { return b_->copy_htod(dst, src, n, s); }
  Status copy_dtoh(void* dst, DevPtr src, uint64_t n, Native s) override { return b_->copy_dtoh(dst, src, n, s); }
  Status copy_dtod(DevPtr dst, DevPtr src, uint64_t n, Native s) override { return b_->copy_dtod(dst, src, n, s); }
  Status copy_2d(CopyKind k, uint64_t dst, uint64_t dp, uint64_t src, uint64_t sp, uint64_t w, uint64_t h,
                 Native s) override {
    return b_->copy_2d(k, dst, dp, src, sp, w, h, s);
  }
  Status memset(DevPtr dst, uint32_t v, uint32_t eb, uint64_t n, Native s) override { return b_->memset(dst, v, eb, n, s); }

  Status stream_create(uint32_t flags, int prio, Native* out) override {
    return made(Obj::kStream, b_->stream_create(flags, prio, out), out);
  }
  Status stream_destroy(Native s) override { return ended(Obj::kStream, s, b_->stream_destroy(s)); }
  Status stream_query(Native s) override { return b_->stream_query(s); }
  Status stream_write_value(Native s, uint64_t a, uint64_t v) override { return b_->stream_write_value(s, a, v); }
  Status stream_store(Native s, DevPtr a, uint64_t v, uint32_t n, uint32_t f) override {
    return b_->stream_store(s, a, v, n, f);
  }
  Status stream_wait_value(Native s, DevPtr a, uint64_t v, uint32_t n, uint32_t f) override {
    return b_->stream_wait_value(s, a, v, n, f);
  }
  Status stream_wait_event(Native s, Native e, uint32_t f) override { return b_->stream_wait_event(s, e, f); }
  Status event_create(uint32_t flags, Native* out) override { return made(Obj::kEvent, b_->event_create(flags, out), out); }
  Status event_destroy(Native e) override { return ended(Obj::kEvent, e, b_->event_destroy(e)); }
  Status event_record(Native e, Native s, uint32_t f) override { return b_->event_record(e, s, f); }
  Status event_query(Native e) override { return b_->event_query(e); }
  Status event_elapsed(Native a, Native b, float* ms) override { return b_->event_elapsed(a, b, ms); }

  Status fence_create(Native s, bool all, uint64_t* f) override { return b_->fence_create(s, all, f); }
  Status fence_poll(uint64_t f) override { return b_->fence_poll(f); }
  void fence_release(uint64_t f) override { b_->fence_release(f); }
  Status wait_idle() override {
    const Status s = b_->wait_idle();
    records.push_back({Act::kWaitIdle, Obj::kStream, 0, s});
    return s;
  }

  Status begin_capture(Native s, uint32_t mode) override { return b_->begin_capture(s, mode); }
  Status end_capture(Native s, Native* graph) override {
    const Status r = b_->end_capture(s, graph);
    records.push_back({Act::kEndCapture, Obj::kStream, s, r});
    if (*graph) records.push_back({Act::kCreate, Obj::kGraph, *graph, r});
    return r;
  }
  Status capture_status(Native s, uint32_t* status, uint64_t* id) override { return b_->capture_status(s, status, id); }
  Status graph_instantiate(Native g, uint64_t flags, Native* x) override {
    return made(Obj::kGraphExec, b_->graph_instantiate(g, flags, x), x);
  }
  Status graph_node_count(Native g, uint64_t* n) override { return b_->graph_node_count(g, n); }
  Status set_capture_mode(uint32_t m) override { return b_->set_capture_mode(m); }
  Status graph_exec_update(Native x, Native g, int32_t* r) override { return b_->graph_exec_update(x, g, r); }
  Status graph_launch(Native x, Native s) override { return b_->graph_launch(x, s); }
  Status graph_exec_destroy(Native x) override { return ended(Obj::kGraphExec, x, b_->graph_exec_destroy(x)); }
  Status graph_destroy(Native g) override { return ended(Obj::kGraph, g, b_->graph_destroy(g)); }

  Status module_load(const void* image, uint64_t bytes, Native* out) override {
    return made(Obj::kModule, b_->module_load(image, bytes, out), out);
  }
  Status module_unload(Native m) override { return ended(Obj::kModule, m, b_->module_unload(m)); }
  Status module_function(Native m, const char* name, Native* fn, std::vector<ParamSlot>* p, Status* ps) override {
    return b_->module_function(m, name, fn, p, ps);
  }
  Status module_global(Native m, const char* name, DevPtr* p, uint64_t* n) override {
    return b_->module_global(m, name, p, n);
  }
  Status module_functions(Native m, std::vector<std::string>* names) override { return b_->module_functions(m, names); }
  Status func_get_attribute(Native f, int a, int* v) override { return b_->func_get_attribute(f, a, v); }
  Status func_set_attribute(Native f, int a, int v) override { return b_->func_set_attribute(f, a, v); }
  Status occupancy_max_blocks(Native f, int bs, uint64_t sm, uint32_t fl, int* n) override {
    return b_->occupancy_max_blocks(f, bs, sm, fl, n);
  }
  Status occupancy_available_smem(Native f, int nb, int bs, uint64_t* n) override {
    return b_->occupancy_available_smem(f, nb, bs, n);
  }
  Status occupancy_clusters(Native f, const OccupancyClustersReq& r, int* v) override {
    return b_->occupancy_clusters(f, r, v);
  }
  Status tensor_map_encode(const TensorMapReq& r, uint64_t* out) override { return b_->tensor_map_encode(r, out); }
  Status ctx_limit(int l, bool set, uint64_t v, uint64_t* out) override { return b_->ctx_limit(l, set, v, out); }
  Status launch(Native f, const LaunchReq& r, Native s, void* p, uint32_t n) override { return b_->launch(f, r, s, p, n); }

  Status va_reserve(uint64_t size, uint64_t align, uint64_t addr, uint64_t flags, DevPtr* out) override {
    return made(Obj::kReservation, b_->va_reserve(size, align, addr, flags, out), out);
  }
  Status va_free(DevPtr p, uint64_t size) override { return ended(Obj::kReservation, p, b_->va_free(p, size)); }
  Status mem_create(const MemProp& r, Native* out) override { return made(Obj::kMemHandle, b_->mem_create(r, out), out); }
  Status mem_release(Native h) override { return ended(Obj::kMemHandle, h, b_->mem_release(h)); }
  Status mem_map(DevPtr p, uint64_t size, uint64_t off, Native h) override {
    const Status s = b_->mem_map(p, size, off, h);
    if (s == st::kOk) records.push_back({Act::kCreate, Obj::kMapping, p, s});
    return s;
  }
  Status mem_unmap(DevPtr p, uint64_t size) override { return ended(Obj::kMapping, p, b_->mem_unmap(p, size)); }
  Status mem_set_access(DevPtr p, uint64_t size, int dev, uint32_t f) override {
    return b_->mem_set_access(p, size, dev, f);
  }
  Status mem_granularity(const MemProp& r, uint32_t o, uint64_t* out) override { return b_->mem_granularity(r, o, out); }

  Status blas_create(Native* out) override { return made(Obj::kBlas, b_->blas_create(out), out); }
  Status blas_destroy(Native h) override { return ended(Obj::kBlas, h, b_->blas_destroy(h)); }
  Status blas_gemm(Native h, Native s, const GemmReq& r, int* bs) override { return b_->blas_gemm(h, s, r, bs); }
  Status blas_trsm_batched(Native h, Native s, const TrsmBatchedReq& r, int* bs) override {
    return b_->blas_trsm_batched(h, s, r, bs);
  }
  Status blas_l12(Native h, Native s, const BlasL12Req& r, float* v, int* bs) override {
    return b_->blas_l12(h, s, r, v, bs);
  }
  Status lt_heuristic(const LtHeuristicReq& r, LtHeuristicRep* out) override { return b_->lt_heuristic(r, out); }
  Status lt_matmul(Native s, const LtMatmulReq& r, int* bs) override { return b_->lt_matmul(s, r, bs); }
  Status nvml_query(uint32_t flags, NvmlRep* out) override { return b_->nvml_query(flags, out); }
  Status nvml_field_values(const NvmlFieldValuesReq& r, NvmlFieldValuesRep* out) override {
    return b_->nvml_field_values(r, out);
  }
  Status nvml_p2p_status(uint32_t i, NvmlP2PStatusRep* out) override { return b_->nvml_p2p_status(i, out); }

  // The records from index `from` on that destroy something.
  std::vector<Record> destroys(size_t from = 0) const {
    std::vector<Record> out;
    for (size_t i = from; i < records.size(); ++i)
      if (records[i].act == Act::kDestroy) out.push_back(records[i]);
    return out;
  }
  // "" when every object created was destroyed exactly once, each destroy
  // answered kOk and nothing was destroyed that was not created; else what
  // went wrong, one line per object.
  std::string each_created_destroyed_once() const {
    std::map<std::pair<Obj, uint64_t>, int> live;
    std::string why;
    for (const Record& r : records) {
      if (r.act == Act::kCreate && r.status == st::kOk) ++live[{r.obj, r.id}];
      if (r.act != Act::kDestroy) continue;
      if (r.status != st::kOk) why += r.text() + ": the backend refused it\n";
      if (--live[{r.obj, r.id}] < 0) why += r.text() + ": not live (destroyed twice, or never made)\n";
    }
    for (const auto& [key, n] : live)
      if (n > 0) why += std::string(obj_name(key.first)) + " " + std::to_string(key.second) + ": never destroyed\n";
    return why;
  }

 private:
  Status made(Obj o, Status s, const uint64_t* id) {
    if (s == st::kOk) records.push_back({Act::kCreate, o, *id, s});
    return s;
  }
  Status ended(Obj o, uint64_t id, Status s) {
    records.push_back({Act::kDestroy, o, id, s});
    return s;
  }

  Backend* b_;
};

}  // namespace vgpu::host::test
