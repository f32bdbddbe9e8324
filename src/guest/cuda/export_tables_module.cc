// TOOLS_MODULE {6E163FBE-B958-444D-835C-E182AFF1991E}: public notes call it
// the tools' module/function table. cuFFT 12 (CUDA 13) asks for it, after
// TOOLS_CONTEXT, when it creates its first plan, and fails the plan
// (CUFFT_INTERNAL_ERROR) without it. docs/export-tables.md says how the
// meaning of its one used slot was established.
//
// Slot 7, (CUcontext ctx, CUmodule m, void (*visit)(void* user, CUfunction),
// void* user), returns an int: calls visit(user, f) for each kernel f of m.
// cuFFT loads each of its kernels as a module of its own (a PTX image with
// one .entry, whose name it does not keep), hands slot 7 the context current
// at the load (cuCtxGetCurrent) and a visitor that stores f into *user, and
// takes the result as success only when it is 1; the CUfunction it got then
// goes to cuModuleGetGlobal's module, cuFuncGetAttribute, cuFuncSetAttribute,
// cuOccupancyMaxActiveBlocksPerMultiprocessor and cuLaunchKernel, our
// ordinary entry points. We return 1 once every kernel has been visited, 0
// on failure. Whether NVIDIA's 1 means "done" or "one kernel visited" cannot
// be told from cuFFT's modules (each has one kernel), so a module of several
// kernels might be answered differently by NVIDIA's driver.
//
// The table's size: cuFFT checks that slot 0 (the size in bytes) is above 55
// before it calls slot 7, so the table has 8 slots here; NVIDIA's may have
// more. The other slots' meanings are not public: refused.
#include "export_tables.h"

namespace vgpu::guest::exports {

namespace {
constexpr char kToolsModule[] = "TOOLS_MODULE";
constexpr size_t kToolsModuleSlots = 8;

using Visitor = void (*)(void* user, CUfunction f);

// The module's functions are ours (cuModuleLoadData's GuestModule), listed
// by cuModuleEnumerateFunctions' own path. Modules belong to the session
// here, not to one context: `ctx` must only be a context (or null with one
// current), as cuFFT passes the current one.
int module_visit_functions(CUcontext ctx, CUmodule m, Visitor visit, void* user) {
  trace_slot(kToolsModule, 7);
  if (!m || !visit) return 0;
  if (!ctx && !current_context()) return 0;
  const std::vector<GuestFunction*>* fns = nullptr;
  if (module_functions(reinterpret_cast<GuestModule*>(m), &fns) != CUDA_SUCCESS) return 0;
  for (GuestFunction* f : *fns) visit(user, reinterpret_cast<CUfunction>(f));
  return 1;
}

const auto g_tools_module = [] {
  auto t = refusing_slots<kToolsModule, kToolsModuleSlots>();
  t[0] = size_slot<kToolsModuleSlots>();
  t[7] = reinterpret_cast<const void*>(&module_visit_functions);
  return t;
}();
}  // namespace

const Table& tools_module_table() {
  static const Table t{kToolsModule, uuid("6E163FBE-B958-444D-835C-E182AFF1991E"), g_tools_module.data()};
  return t;
}

}  // namespace vgpu::guest::exports
