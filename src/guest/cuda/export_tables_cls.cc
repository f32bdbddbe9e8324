// CONTEXT_LOCAL_STORAGE_INTERFACE_V0301: the runtime keeps its per-context
// state (its module registrations, its view of the context) in the driver,
// as a value per (context, key), with a destructor the driver calls when the
// context goes away. Pure bookkeeping, kept in the guest. This table has no
// size slot: slot 0 is already a function.
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "export_tables.h"

namespace vgpu::guest::exports {

namespace {
constexpr char kName[] = "CONTEXT_LOCAL_STORAGE_INTERFACE_V0301";
using Destructor = void (*)(CUcontext, void* key, void* value);
struct Entry {
  void* value;
  Destructor dtor;
};
// Never destroyed: NVIDIA's runtime deletes its entries from its own ELF
// destructor, which runs after this library's static destructors would.
std::mutex& g_mu = *new std::mutex;
auto& g_store = *new std::map<std::pair<CUcontext, void*>, Entry>;

// A null context means the calling thread's current one.
CUresult resolve(CUcontext* ctx) {
  if (!*ctx) *ctx = current_context();
  return *ctx ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

CUresult cls_put(CUcontext ctx, void* key, void* value, Destructor dtor) {
  trace_slot(kName, 0);
  if (CUresult r = resolve(&ctx); r != CUDA_SUCCESS) return r;
  std::lock_guard lk(g_mu);
  g_store[{ctx, key}] = Entry{value, dtor};
  return CUDA_SUCCESS;
}

// Forgets the value without calling its destructor: the runtime deletes
// what it has already torn down itself.
CUresult cls_delete(CUcontext ctx, void* key) {
  trace_slot(kName, 1);
  if (CUresult r = resolve(&ctx); r != CUDA_SUCCESS) return r;
  std::lock_guard lk(g_mu);
  return g_store.erase({ctx, key}) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

// No value yet: CUDA_ERROR_INVALID_HANDLE, and the runtime creates one.
CUresult cls_get(void** value, CUcontext ctx, void* key) {
  trace_slot(kName, 2);
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  if (CUresult r = resolve(&ctx); r != CUDA_SUCCESS) return r;
  std::lock_guard lk(g_mu);
  auto it = g_store.find({ctx, key});
  if (it == g_store.end()) return CUDA_ERROR_INVALID_HANDLE;
  *value = it->second.value;
  return CUDA_SUCCESS;
}

const auto g_table = [] {
  auto t = refusing_slots<kName, 4>();
  t[0] = reinterpret_cast<const void*>(&cls_put);
  t[1] = reinterpret_cast<const void*>(&cls_delete);
  t[2] = reinterpret_cast<const void*>(&cls_get);
  return t;
}();
}  // namespace

void context_storage_destroyed(CUcontext ctx) {
  std::vector<std::pair<void*, Entry>> gone;
  {
    std::lock_guard lk(g_mu);
    for (auto it = g_store.lower_bound({ctx, nullptr}); it != g_store.end() && it->first.first == ctx;) {
      gone.emplace_back(it->first.second, it->second);
      it = g_store.erase(it);
    }
  }
  // Outside the lock: a destructor may call back into this table.
  for (auto& [key, e] : gone)
    if (e.dtor) e.dtor(ctx, key, e.value);
}

const Table& context_storage_table() {
  static const Table t{kName, uuid("C693336E-1121-DF11-A8C3-68F355D89593"), g_table.data()};
  return t;
}

}  // namespace vgpu::guest::exports
