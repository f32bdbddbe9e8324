// cuGetExportTable: the private tables, named by UUID, through which NVIDIA's
// runtime (libcudart, and the copy of it each NVIDIA library embeds) talks to
// the driver beside the public entry points. NVIDIA does not document them;
// docs/export-tables.md says which ones we serve, what each slot does and
// where the facts come from.
//
// A table is an array of pointer-sized slots. Most begin with their own size
// in bytes (slot 0) and hold functions after it; the runtime checks the size
// to learn which slots this driver has. A slot we give no meaning to holds a
// refusing function (logs "<table>[i]" once, returns CUDA_ERROR_NOT_SUPPORTED),
// so a caller that reaches it gets an error, not a jump to address 0.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <utility>

#include "driver.h"

namespace vgpu::guest::exports {

// One table as cuGetExportTable hands it out.
struct Table {
  const char* name;  // our name for it, for the trace
  CUuuid id;
  const void* const* slots;
};

// The tables each file defines (export_tables_*.cc), looked up by UUID.
const Table& runtime_interface_table();    // CUDART_INTERFACE
const Table& tools_tls_table();            // TOOLS_TLS
const Table& tools_callbacks_table();      // TOOLS_RUNTIME_CALLBACK_HOOKS
const Table& context_storage_table();      // CONTEXT_LOCAL_STORAGE_INTERFACE_V0301
const Table& ctx_create_bypass_table();    // CTX_CREATE_BYPASS
const Table& heap_access_table();          // HEAP_ACCESS
const Table& device_extended_table();      // DEVICE_EXTENDED_RT
const Table& integrity_check_table();      // INTEGRITY_CHECK
const Table& context_checks_table();       // CONTEXT_CHECKS
const Table& tools_context_table();        // TOOLS_CONTEXT
const Table& tools_module_table();         // TOOLS_MODULE

// One line per (table, slot) the first time a served slot is called, under
// VGPU_DEBUG (or VGPU_TRACE_EXPORTS): which slots real clients use.
void trace_slot(const char* table, int slot);

// Called by cuCtxDestroy: runs the context-local-storage destructors the
// runtime registered for that context, as NVIDIA's driver does.
void context_storage_destroyed(CUcontext ctx);

// The refusing function for slot I of the table named by Name (a string
// literal object, so each slot is a distinct function with its own log line).
template <const char* Name, int I>
CUresult refused_slot() {
  static const std::string& label = *new std::string(std::string(Name) + "[" + std::to_string(I) + "] (export table slot)");
  log_unsupported(label.c_str());
  return CUDA_ERROR_NOT_SUPPORTED;
}

// A table of N slots, every slot a refusing function; the caller then puts
// the size in slot 0 (where the table has one) and its functions in theirs.
template <const char* Name, size_t N>
std::array<const void*, N> refusing_slots() {
  return []<size_t... I>(std::index_sequence<I...>) {
    return std::array<const void*, N>{reinterpret_cast<const void*>(&refused_slot<Name, int(I)>)...};
  }(std::make_index_sequence<N>{});
}

// A UUID as the notes write it ("6BD5FB6C-5BF4-E74A-8987-D93912FD9DF9"):
// its bytes in memory order.
consteval CUuuid uuid(const char (&text)[37]) {
  CUuuid u{};
  int n = 0;
  auto hex = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
  for (int i = 0; i < 36; ++i) {
    if (text[i] == '-') continue;
    u.bytes[n / 2] = static_cast<char>(n % 2 ? (u.bytes[n / 2] | hex(text[i])) : hex(text[i]) << 4);
    ++n;
  }
  return u;
}

// A table's byte size, as slot 0 holds it.
template <size_t N>
const void* size_slot() {
  return reinterpret_cast<const void*>(N * sizeof(void*));
}

}  // namespace vgpu::guest::exports
