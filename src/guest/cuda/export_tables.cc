// cuGetExportTable: finds the table by UUID and traces what is asked for.
// Unknown UUIDs get CUDA_ERROR_INVALID_VALUE, as from NVIDIA's driver: the
// runtime probes for tables newer than the driver and copes when one is
// absent. Each UUID we have never heard of is logged once, always, so a new
// runtime's new table shows up as one line; the few we know and decline are
// logged only when tracing.
#include "export_tables.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "client/config.h"

namespace vgpu::guest::exports {

namespace {
bool tracing() {
  return guest_config().debug || guest_config().trace_exports;
}

// "{6BD5FB6C-5BF4-E74A-8987-D93912FD9DF9}": the bytes in order, grouped as
// the reverse-engineering notes write them.
std::string uuid_text(const CUuuid& u) {
  const auto* b = reinterpret_cast<const unsigned char*>(u.bytes);
  char s[40];
  std::snprintf(s, sizeof s, "{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X}", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return s;
}

// Prints `line` the first time it is seen (always, or only when tracing).
void once(const std::string& line, bool always) {
  if (!always && !tracing()) return;
  // Never destroyed: the runtime's teardown still calls slots at exit.
  static std::mutex& mu = *new std::mutex;
  static auto& seen = *new std::set<std::string>;
  std::lock_guard lk(mu);
  if (seen.insert(line).second) std::fprintf(stderr, "vgpu: %s\n", line.c_str());
}

const Table* find(const CUuuid& id) {
  static const Table* const all[] = {
      &runtime_interface_table(), &tools_tls_table(),        &tools_callbacks_table(),
      &context_storage_table(),   &ctx_create_bypass_table(), &heap_access_table(),
      &device_extended_table(),   &integrity_check_table(),   &context_checks_table(),
      &tools_context_table(),     &tools_module_table(),
  };
  for (const Table* t : all)
    if (std::memcmp(t->id.bytes, id.bytes, sizeof id.bytes) == 0) return t;
  return nullptr;
}
// Tables NVIDIA's runtimes ask for that we deliberately do not serve
// (docs/export-tables.md says why), with the reason for the trace.
const char* declined(const CUuuid& id) {
  static const std::pair<CUuuid, const char*> known[] = {
      {uuid("F8CFF951-2146-8B4E-B9E2-FB469E7C0DD9"), "asked for before cuInit; its meaning is not public"},
      {uuid("DD9E98A4-F410-4844-99B0-E2AEB7B432B5"), "hybrid runtime loading: Windows only"},
      {uuid("DA9151D3-3AE6-CC41-A5C0-4F26D533E328"), "asked for in CuPy's processes; its meaning is not public"},
  };
  for (const auto& [u, why] : known)
    if (std::memcmp(u.bytes, id.bytes, sizeof id.bytes) == 0) return why;
  return nullptr;
}
}  // namespace

void trace_slot(const char* table, int slot) {
  if (tracing()) once(std::string("export table ") + table + "[" + std::to_string(slot) + "] called", false);
}

}  // namespace vgpu::guest::exports

using namespace vgpu::guest::exports;

CUresult CUDAAPI cuGetExportTable(const void** table, const CUuuid* id) {
  if (!table || !id) return CUDA_ERROR_INVALID_VALUE;
  const Table* t = find(*id);
  if (!t) {
    // Tables we know of and decline are traced; any other is news: always logged.
    const char* why = declined(*id);
    once("export table " + uuid_text(*id) + (why ? std::string(" (") + why + ")" : std::string(" is not known")) +
             "; returning CUDA_ERROR_INVALID_VALUE",
         !why);
    *table = nullptr;
    return CUDA_ERROR_INVALID_VALUE;
  }
  once("export table " + uuid_text(*id) + " (" + t->name + ") served", false);
  *table = t->slots;
  return CUDA_SUCCESS;
}
