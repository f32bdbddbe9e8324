// nvmlInternalGetExportTable: the private table NVIDIA's nvidia-smi asks its
// NVML for before anything else. Without it nvidia-smi prints "Mismatch in
// versions between nvidia-smi and NVML" and exits 255: the check is not a
// comparison of version texts but this table's presence.
//
// The table is NVIDIA's own, undocumented: an array of function pointers
// after a first word that gives its size, asked for by a 16-byte id. What is
// known of its slots comes from watching which slot each nvidia-smi view
// calls (public facts, recorded with NVIDIA's k8s-test-infra mock NVML
// against nvidia-smi 580, and seen here with Debian's nvidia-smi 535, whose
// table has the same slots): slot 81 gives a device's handle by index, slots
// 213-215 list a device's processes, slot 26 takes nvidia-smi's trace lines
// (a printf format and its arguments; NVML's debug log). Those are answered
// truly here (the same handles and processes as the public entry points; the
// trace's format goes to our debug log, VGPU_DEBUG=1); every other slot is
// refused with NVML_ERROR_NOT_SUPPORTED and logged once by number, so a view
// that needs one more shows which. nvidia-smi prints N/A for a refused slot.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

#include "nvml_internal.h"
#include "nvml_processes.h"

using namespace vgpu;
using namespace vgpu::guest;
using namespace vgpu::guest::nvml;

namespace {

// The id nvidia-smi asks for, as its bytes lie in memory
// (6c3efec4-8fc9-4e6c-a327-ee696e12f7c4 in the GUID's mixed-endian text).
constexpr unsigned char kSmiTableId[16] = {0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e,
                                           0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4};
constexpr unsigned kSlots = 256;
constexpr unsigned kSlotLog = 26;
constexpr unsigned kSlotHandleByIndex = 81;
constexpr unsigned kSlotProcessesFirst = 213, kSlotProcessesLast = 215;

// One entry of the slots' process list: nvmlProcessDetail_v1_t's numbers,
// then the process' name inline (the list's stride is 4128 bytes).
struct SmiProcess {
  uint32_t pid;
  uint32_t pad;
  uint64_t used_bytes;
  uint32_t gpu_instance, compute_instance;  // ~0: not MIG
  uint64_t cc_protected_bytes;
  char name[4096];
};
static_assert(sizeof(SmiProcess) == 4128 && offsetof(SmiProcess, name) == 32);

// Each slot's refusal is logged once, under its own name.
const char* slot_name(unsigned slot) {
  static std::array<std::array<char, 48>, kSlots> names = [] {
    std::array<std::array<char, 48>, kSlots> n{};
    for (unsigned i = 0; i < kSlots; ++i) std::snprintf(n[i].data(), n[i].size(), "nvmlInternalGetExportTable slot %u", i);
    return n;
  }();
  return names[slot].data();
}

nvmlReturn_t smi_processes(void* dev, void* count_p, void* list_p) {
  auto* count = static_cast<unsigned*>(count_p);
  auto* list = static_cast<SmiProcess*>(list_p);
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  NvmlProcessesRep rep{};
  if (nvmlReturn_t r = processes(static_cast<nvmlDevice_t>(dev), &rep)) return r;
  const unsigned room = *count;
  *count = rep.count;
  if (rep.count == 0) return NVML_SUCCESS;
  if (list == nullptr || room < rep.count) return NVML_ERROR_INSUFFICIENT_SIZE;
  for (unsigned i = 0; i < rep.count; ++i) {
    SmiProcess& p = list[i];
    p.pid = rep.proc[i].pid;
    p.pad = 0;
    p.used_bytes = rep.proc[i].used_bytes;
    p.gpu_instance = p.compute_instance = ~0u;
    p.cc_protected_bytes = 0;
    if (!process_name(p.pid, p.name, sizeof p.name)) p.name[0] = '\0';
  }
  return NVML_SUCCESS;
}

nvmlReturn_t dispatch(unsigned slot, void* a0, void* a1, void* a2) {
  if (slot == kSlotHandleByIndex)  // (unsigned index, nvmlDevice_t* out, flags)
    return nvmlDeviceGetHandleByIndex_v2(static_cast<unsigned>(reinterpret_cast<uintptr_t>(a0)),
                                         static_cast<nvmlDevice_t*>(a1));
  if (slot >= kSlotProcessesFirst && slot <= kSlotProcessesLast) {
    nvmlReturn_t err = NVML_SUCCESS;
    if (info_of(static_cast<nvmlDevice_t>(a0), &err) == nullptr) return err;
    return smi_processes(a0, a1, a2);
  }
  if (slot == kSlotLog) {  // (printf format, its arguments): nvidia-smi's trace of what it does
    debug_log("nvidia-smi trace: %s", a0 ? static_cast<const char*>(a0) : "");
    return NVML_SUCCESS;
  }
  log_unsupported(slot_name(slot));
  return NVML_ERROR_NOT_SUPPORTED;
}

// One function per slot, so that a call tells which slot it came through.
template <unsigned Slot>
nvmlReturn_t slot_fn(void* a0, void* a1, void* a2, void*) {
  return dispatch(Slot, a0, a1, a2);
}

template <size_t... I>
constexpr std::array<uintptr_t, kSlots> make_table(std::index_sequence<I...>) {
  return {(I == 0 ? kSlots * sizeof(uintptr_t) : reinterpret_cast<uintptr_t>(&slot_fn<unsigned(I)>))...};
}

}  // namespace

extern "C" nvmlReturn_t nvmlInternalGetExportTable(const void** table, const void* id) {
  if (table == nullptr || id == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  static const std::array<uintptr_t, kSlots> smi = make_table(std::make_index_sequence<kSlots>{});
  if (std::memcmp(id, kSmiTableId, sizeof kSmiTableId) == 0) {
    *table = smi.data();
    return NVML_SUCCESS;
  }
  const auto* b = static_cast<const unsigned char*>(id);
  debug_log("nvmlInternalGetExportTable: unknown table %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  log_unsupported("nvmlInternalGetExportTable (this table)");
  return NVML_ERROR_NOT_SUPPORTED;
}
