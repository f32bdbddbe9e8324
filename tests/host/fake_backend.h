// FakeBackend: a device that makes every object it is asked for (a fresh
// handle or address each time) and does nothing else. It knows what is live,
// so destroying an object twice, or one it never made, is refused
// (kInvalidHandle) as a real driver may refuse it; stream capture works
// (begin, status, end with a graph). For tests of the session's bookkeeping
// where the CPU backend refuses an object kind (graphs).
#pragma once

#include <cstdint>
#include <iterator>
#include <map>
#include <set>
#include <vector>

#include "backend.h"

namespace vgpu::host::test {

class FakeBackend final : public Backend {
 public:
  BackendKind kind() const override { return BackendKind::kCpu; }
  const char* name() const override { return "fake"; }
  Status init(int) override { return st::kOk; }
  Status register_host(void*, uint64_t, uint64_t* device_base) override {
    *device_base = 0;
    return st::kOk;
  }
  int driver_version() override { return 13000; }
  void version_texts(HelloRep*) override {}
  int device_count() override { return 1; }
  Status device_info(int, DeviceInfoRep*) override { return st::kOk; }
  Status mem_get_info(uint64_t* f, uint64_t* t) override {
    *f = *t = uint64_t(1) << 30;
    return st::kOk;
  }

  Status mem_alloc(uint64_t, DevPtr* out) override { return make(allocations_, out); }
  Status mem_free(DevPtr p) override { return end(allocations_, p); }
  Status copy_htod(DevPtr, const void*, uint64_t, Native) override { return st::kOk; }
  Status copy_dtoh(void*, DevPtr, uint64_t, Native) override { return st::kOk; }
  Status copy_dtod(DevPtr, DevPtr, uint64_t, Native) override { return st::kOk; }
  Status copy_2d(CopyKind, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, Native) override {
    return st::kOk;
  }
  Status memset(DevPtr, uint32_t, uint32_t, uint64_t, Native s) override { return stream_ok(s); }

  Status stream_create(uint32_t, int, Native* out) override { return make(streams_, out); }
  Status stream_destroy(Native s) override {
    if (capturing_.count(s)) return st::kStreamCaptureUnsupported;  // end the capture first
    return end(streams_, s);
  }
  Status stream_query(Native s) override { return stream_ok(s); }
  Status stream_store(Native s, DevPtr, uint64_t, uint32_t, uint32_t) override { return stream_ok(s); }
  Status stream_wait_value(Native s, DevPtr, uint64_t, uint32_t, uint32_t) override { return stream_ok(s); }
  Status stream_wait_event(Native s, Native, uint32_t) override { return stream_ok(s); }
  Status event_create(uint32_t, Native* out) override { return make(events_, out); }
  Status event_destroy(Native e) override { return end(events_, e); }
  Status event_record(Native e, Native s, uint32_t) override {
    return events_.count(e) ? stream_ok(s) : st::kInvalidHandle;
  }
  Status event_query(Native e) override { return events_.count(e) ? st::kOk : st::kInvalidHandle; }
  Status event_elapsed(Native, Native, float* ms) override {
    *ms = 0;
    return st::kOk;
  }

  Status fence_create(Native, bool, uint64_t* f) override {
    *f = next_++;
    return st::kOk;
  }
  Status fence_poll(uint64_t) override { return st::kOk; }
  void fence_release(uint64_t) override {}
  Status wait_idle() override { return capturing_.empty() ? st::kOk : st::kStreamCaptureUnsupported; }

  Status begin_capture(Native s, uint32_t) override {
    if (stream_ok(s) != st::kOk || s == kNativeLegacyStream) return st::kInvalidHandle;
    capturing_.insert(s);
    return st::kOk;
  }
  Status end_capture(Native s, Native* graph) override {
    *graph = 0;
    if (capturing_.erase(s) == 0) return st::kInvalidValue;
    return make(graphs_, graph);
  }
  Status capture_status(Native s, uint32_t* status, uint64_t* id) override {
    *status = capturing_.count(s) ? 1 : 0;  // CU_STREAM_CAPTURE_STATUS_ACTIVE / NONE
    *id = 0;
    return stream_ok(s);
  }
  Status graph_instantiate(Native g, uint64_t, Native* x) override {
    return graphs_.count(g) ? make(execs_, x) : st::kInvalidHandle;
  }
  Status graph_node_count(Native, uint64_t* n) override {
    *n = 1;
    return st::kOk;
  }
  Status graph_exec_update(Native, Native, int32_t* r) override {
    *r = 0;
    return st::kOk;
  }
  Status graph_launch(Native x, Native s) override { return execs_.count(x) ? stream_ok(s) : st::kInvalidHandle; }
  Status graph_exec_destroy(Native x) override { return end(execs_, x); }
  Status graph_destroy(Native g) override { return end(graphs_, g); }

  Status module_load(const void*, uint64_t, Native* out) override { return make(modules_, out); }
  Status module_unload(Native m) override { return end(modules_, m); }
  Status module_function(Native m, const char*, Native* fn, std::vector<ParamSlot>* params, Status* ps) override {
    if (!modules_.count(m)) return st::kInvalidHandle;
    params->clear();
    *ps = st::kNotSupported;
    *fn = m + 1;  // one kernel per module, for the session to give one id
    return st::kOk;
  }
  Status module_global(Native, const char*, DevPtr*, uint64_t*) override { return st::kNotSupported; }
  // Every module of this fake holds these kernels (ModuleFunctions' tests set them).
  std::vector<std::string> kernel_names;
  Status module_functions(Native m, std::vector<std::string>* names) override {
    if (!modules_.count(m)) return st::kInvalidHandle;
    *names = kernel_names;
    return st::kOk;
  }
  Status func_get_attribute(Native, int, int* v) override {
    *v = 0;
    return st::kOk;
  }
  Status func_set_attribute(Native, int, int) override { return st::kOk; }
  Status occupancy_max_blocks(Native, int, uint64_t, uint32_t, int* n) override {
    *n = 1;
    return st::kOk;
  }
  Status occupancy_available_smem(Native, int, int, uint64_t* n) override {
    *n = 0;
    return st::kOk;
  }
  Status occupancy_clusters(Native, const OccupancyClustersReq&, int* v) override {
    *v = 0;
    return st::kOk;
  }
  Status launch(Native, const LaunchReq&, Native s, void*, uint32_t) override { return stream_ok(s); }

  Status va_reserve(uint64_t size, uint64_t, uint64_t, uint64_t, DevPtr* out) override {
    *out = next_va_;
    next_va_ += (size + (uint64_t(1) << 21)) & ~((uint64_t(1) << 21) - 1);
    reservations_.insert(*out);
    return st::kOk;
  }
  // As the CPU backend does, a freed range takes the mappings inside it along.
  Status va_free(DevPtr p, uint64_t size) override {
    if (!reservations_.count(p)) return st::kInvalidValue;
    mappings_.erase(mappings_.lower_bound(p), mappings_.lower_bound(p + size));
    return end(reservations_, p);
  }
  Status mem_create(const MemProp&, Native* out) override { return make(vmm_, out); }
  Status mem_release(Native h) override { return end(vmm_, h); }
  Status mem_map(DevPtr p, uint64_t, uint64_t, Native h) override {
    if (!vmm_.count(h) || mappings_.count(p)) return st::kInvalidValue;
    mappings_.insert(p);
    return st::kOk;
  }
  // One unmap may cover several mappings, none of them partly.
  Status mem_unmap(DevPtr p, uint64_t size) override {
    auto first = mappings_.lower_bound(p), last = mappings_.lower_bound(p + size);
    if (first == last || *first != p) return st::kInvalidValue;
    mappings_.erase(first, last);
    return st::kOk;
  }
  Status mem_set_access(DevPtr, uint64_t, int, uint32_t) override { return st::kOk; }
  Status mem_granularity(const MemProp&, uint32_t, uint64_t* out) override {
    *out = uint64_t(2) << 20;
    return st::kOk;
  }

  Status blas_create(Native* out) override { return make(blas_, out); }
  Status blas_destroy(Native h) override { return end(blas_, h); }
  Status blas_gemm(Native h, Native s, const GemmReq&, int* bs) override { return blas_call(h, s, bs); }
  Status blas_trsm_batched(Native h, Native s, const TrsmBatchedReq&, int* bs) override { return blas_call(h, s, bs); }
  Status blas_l12(Native h, Native s, const BlasL12Req&, float* v, int* bs) override {
    *v = 0;
    return blas_call(h, s, bs);
  }
  Status lt_heuristic(const LtHeuristicReq&, LtHeuristicRep*) override { return st::kNotSupported; }
  Status lt_matmul(Native, const LtMatmulReq&, int*) override { return st::kNotSupported; }
  Status nvml_query(uint32_t, NvmlRep*) override { return st::kNotSupported; }
  Status nvml_field_values(const NvmlFieldValuesReq&, NvmlFieldValuesRep*) override { return st::kNotSupported; }
  // An NVML that answers "OK" for every index, counting the questions.
  Status nvml_p2p_status(uint32_t, NvmlP2PStatusRep* out) override {
    ++p2p_questions;
    *out = {0, 0};
    return st::kOk;
  }
  int p2p_questions = 0;

  // How many objects of every kind are live (0 once a session released all).
  size_t live() const {
    return allocations_.size() + streams_.size() + events_.size() + graphs_.size() + execs_.size() +
           modules_.size() + reservations_.size() + vmm_.size() + mappings_.size() + blas_.size();
  }

 private:
  Status make(std::set<uint64_t>& live, uint64_t* out) {
    *out = next_;
    next_ += 16;
    live.insert(*out);
    return st::kOk;
  }
  static Status end(std::set<uint64_t>& live, uint64_t id) { return live.erase(id) ? st::kOk : st::kInvalidHandle; }
  Status stream_ok(Native s) const {
    return s == kNativeLegacyStream || streams_.count(s) ? st::kOk : st::kInvalidHandle;
  }
  Status blas_call(Native h, Native s, int* bs) {
    *bs = 0;
    return blas_.count(h) ? stream_ok(s) : st::kInvalidHandle;
  }

  uint64_t next_ = 0x1000;
  uint64_t next_va_ = uint64_t(1) << 40;
  std::set<uint64_t> allocations_, streams_, events_, graphs_, execs_, modules_, reservations_, vmm_, mappings_,
      blas_, capturing_;
};

}  // namespace vgpu::host::test
