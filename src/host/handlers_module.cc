// Modules (fatbins, cubins, PTX), kernels and launches.
#include <algorithm>
#include <cstring>
#include <string>

#include "dispatch.h"

namespace vgpu::host {

namespace {
// The NUL-terminated name inline after a request, copied out of the ring:
// the guest may rewrite the record meanwhile (drop the NUL once it has been
// seen), so the backend must never scan shared memory for it. False if none.
bool inline_name(const Call& c, std::string* out) {
  if (c.in.empty() || c.in.size() > 4096) return false;
  const char* p = reinterpret_cast<const char*>(c.in.data());
  const void* nul = std::memchr(p, 0, c.in.size());
  if (!nul) return false;
  out->assign(p, static_cast<size_t>(static_cast<const char*>(nul) - p));
  return true;
}

Status module_of(Call& c, Handle h, Native* out) {
  const auto* e = c.s.lookup(Kind::kModule, h);
  if (!e) return st::kInvalidHandle;
  *out = e->native;
  return st::kOk;
}
}  // namespace

Status on_BlobAppend(Call& c, const BlobAppendReq& r, Empty&) {
  if (r.total > c.s.max_image_bytes || r.offset > r.total || c.in.size() > r.total - r.offset) return st::kInvalidValue;
  if (r.offset == 0) c.s.blob.assign(r.total, std::byte{0});
  if (c.s.blob.size() != r.total) return st::kInvalidValue;
  if (!c.in.empty()) std::memcpy(c.s.blob.data() + r.offset, c.in.data(), c.in.size());
  return st::kOk;
}

Status on_ModuleLoad(Call& c, const ModuleLoadReq& r, HandleRep& out) {
  if (Handle m = c.s.loaded_module(r.hash_hi, r.hash_lo)) {
    out.handle = m;  // same image already loaded in this session
    return st::kOk;
  }
  if (r.bytes == 0) return st::kNotFound;  // "upload it"
  if (c.s.blob.size() != r.bytes) return st::kInvalidValue;
  // Charged before the load: past the session's total the image is dropped
  // unseen (the guest may free modules and try again).
  const uint64_t cap = c.s.limits.module_bytes;
  if (r.bytes > cap || c.s.module_bytes() > cap - r.bytes) {
    std::vector<std::byte>().swap(c.s.blob);
    return c.s.over_limit(Session::Limit::kModuleBytes);
  }
  Native m;
  Status s = c.s.be->module_load(c.s.blob.data(), r.bytes, &m);
  std::vector<std::byte>().swap(c.s.blob);
  if (s != st::kOk) return s;
  return c.s.adopt_module(m, r.bytes, r.hash_hi, r.hash_lo, &out.handle);
}

// Its kernels go with it, as in CUDA (Session::release).
Status on_ModuleUnload(Call& c, const ModuleReq& r, Empty&) { return c.s.release(Kind::kModule, r.module); }

Status on_ModuleGetFunction(Call& c, const ModuleGetFunctionReq& r, FunctionRep& out) {
  Native m, fn;
  if (Status s = module_of(c, r.module, &m)) return s;
  std::string name;
  if (!inline_name(c, &name)) return st::kInvalidValue;
  std::vector<ParamSlot> params;
  Status pst = st::kNotSupported;
  if (Status s = c.s.be->module_function(m, name.c_str(), &fn, &params, &pst)) return s;
  uint32_t end = 0;
  for (const auto& p : params) end = std::max(end, p.offset + p.size);
  if (params.size() * sizeof(ParamSlot) > c.reply_extra_cap) return st::kNotSupported;
  if (!params.empty()) std::memcpy(c.reply_extra, params.data(), params.size() * sizeof(ParamSlot));
  c.reply_extra_len = static_cast<uint32_t>(params.size() * sizeof(ParamSlot));
  // A kernel asked for again keeps its id. A function needs no destroying (it
  // lives as long as its module), so a full table only fails the call.
  if (Status s = c.s.adopt_function(r.module, fn, end, pst == st::kOk, &out.function)) return s;
  out.param_count = static_cast<uint32_t>(params.size());
  out.param_bytes = end;
  out.param_status = pst;
  return st::kOk;
}

// The names from r.first on that fit in r.room bytes and the reply buffer,
// each NUL-terminated. A name the guest could not ask ModuleGetFunction for
// (inline_name's limit) makes the list unusable: refused rather than cut. So
// does a room too small for the next name (the guest would ask for ever).
Status on_ModuleFunctions(Call& c, const ModuleFunctionsReq& r, ModuleFunctionsRep& out) {
  Native m;
  if (Status s = module_of(c, r.module, &m)) return s;
  std::vector<std::string> names;
  if (Status s = c.s.be->module_functions(m, &names)) return s;
  if (names.size() > UINT32_MAX || r.first > names.size()) return st::kInvalidValue;
  out.count = static_cast<uint32_t>(names.size());
  out.returned = 0;
  const uint32_t room = std::min(r.room, c.reply_extra_cap);
  uint32_t used = 0;
  for (size_t i = r.first; i < names.size(); ++i) {
    const std::string& n = names[i];
    if (n.empty() || n.size() >= 4096 || n.find('\0') != std::string::npos) return st::kNotSupported;
    if (n.size() + 1 > room - used) break;
    std::memcpy(c.reply_extra + used, n.c_str(), n.size() + 1);
    used += static_cast<uint32_t>(n.size() + 1);
    ++out.returned;
  }
  if (out.returned == 0 && r.first < names.size()) return st::kInvalidValue;
  c.reply_extra_len = used;
  return st::kOk;
}

Status on_ModuleGetGlobal(Call& c, const ModuleGetGlobalReq& r, GlobalRep& out) {
  Native m;
  if (Status s = module_of(c, r.module, &m)) return s;
  std::string name;
  if (!inline_name(c, &name)) return st::kInvalidValue;
  return c.s.be->module_global(m, name.c_str(), &out.ptr, &out.bytes);
}

Status on_FuncGetAttribute(Call& c, const FuncGetAttributeReq& r, IntRep& out) {
  const auto* e = c.s.lookup(Kind::kFunction, r.function);
  if (!e) return st::kInvalidHandle;
  int v = 0;
  Status s = c.s.be->func_get_attribute(e->native, r.attr, &v);
  out.value = v;
  return s;
}

Status on_FuncSetAttribute(Call& c, const FuncSetAttributeReq& r, Empty&) {
  const auto* e = c.s.lookup(Kind::kFunction, r.function);
  if (!e) return st::kInvalidHandle;
  return c.s.be->func_set_attribute(e->native, r.attr, r.value);
}


Status on_OccupancyMaxBlocks(Call& c, const OccupancyReq& r, IntRep& out) {
  const auto* e = c.s.lookup(Kind::kFunction, r.function);
  if (!e) return st::kInvalidHandle;
  int v = 0;
  Status s = c.s.be->occupancy_max_blocks(e->native, r.block_size, r.dyn_smem, r.flags, &v);
  out.value = v;
  return s;
}

Status on_OccupancySmem(Call& c, const OccupancySmemReq& r, IntRep& out) {
  const auto* e = c.s.lookup(Kind::kFunction, r.function);
  if (!e) return st::kInvalidHandle;
  uint64_t bytes = 0;
  Status s = c.s.be->occupancy_available_smem(e->native, r.num_blocks, r.block_size, &bytes);
  out.value = static_cast<int64_t>(bytes);
  return s;
}

Status on_OccupancyClusters(Call& c, const OccupancyClustersReq& r, IntRep& out) {
  if (r.query > kOccupancyMaxPotentialClusterSize) return st::kInvalidValue;
  const auto* e = c.s.lookup(Kind::kFunction, r.function);
  if (!e) return st::kInvalidHandle;
  int v = 0;
  Status s = c.s.be->occupancy_clusters(e->native, r, &v);
  out.value = v;
  return s;
}

Status on_TensorMapEncode(Call& c, const TensorMapReq& r, TensorMapRep& out) {
  if (r.rank < 1 || r.rank > kTensorMapMaxRank) return st::kInvalidValue;
  if (r.kind != kTensorMapTiled && (r.kind != kTensorMapIm2col || r.rank < 3)) return st::kInvalidValue;
  return c.s.be->tensor_map_encode(r, out.words);
}

Status on_CtxLimit(Call& c, const CtxLimitReq& r, IntRep& out) {
  if (r.set > 1) return st::kInvalidValue;
  uint64_t v = 0;
  const Status s = c.s.be->ctx_limit(r.limit, r.set != 0, r.value, &v);
  out.value = static_cast<int64_t>(v);
  return s;
}

Status on_Launch(Call& c, const LaunchReq& r, Empty&) {
  const auto* e = c.s.lookup(Kind::kFunction, r.function);
  if (!e) return st::kInvalidHandle;
  Native stream;
  if (!c.s.stream(r.stream, c.channel, &stream)) return st::kInvalidHandle;
  // The driver reads exactly the kernel's parameter bytes from the buffer.
  if (r.param_bytes != c.in.size() || r.param_bytes < e->aux) return st::kInvalidValue;
  // Copy out of shared memory: the guest may rewrite the ring meanwhile.
  alignas(16) static thread_local std::byte params[32768 + 16];
  if (r.param_bytes > sizeof params) return st::kInvalidValue;
  std::memcpy(params, c.in.data(), r.param_bytes);
  Status s = c.s.be->launch(e->native, r, stream, params, r.param_bytes);
  if (s == st::kOk) c.s.count(&SlotStats::launches);
  return s;
}


}  // namespace vgpu::host
