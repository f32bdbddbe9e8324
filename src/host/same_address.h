// Unified addressing for the guest's pinned memory: a second mapping of a
// slot's pages in the worker, at the address where the guest process mapped
// them.
//
// Under unified addressing a pointer to pinned host memory is also a device
// address, and real clients rely on it without asking the driver: XLA's GPU
// timer hands a kernel the host pointer of a pinned semaphore word ("this
// assumes unified addressing"); any kernel given a cudaHostAlloc pointer does
// the same. Our pinned memory is the slot's arena, which the worker registers
// with the device. Registered at the guest's own address, the device address
// of every arena byte is the guest's pointer to it (the driver's
// CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM), and such kernels work.
//
// The address is the guest's word (SlotCtl::guest_slot_address): a hint,
// used only where this process has nothing there (MAP_FIXED_NOREPLACE), so
// the worst a hostile guest gets is the ordinary mapping.
#pragma once

#include <cstdint>

namespace vgpu::host {

// Maps the `bytes` of the shared mapping that starts at `from` a second time
// at `want`: the same pages, both mappings live. Returns `want` (which is
// `from` itself if the slot already lies there), or nullptr when `want` is
// not page-aligned, not a user address, or not free here.
void* map_again_at(void* from, uint64_t bytes, uint64_t want);

// Undoes map_again_at (nothing when `at` is null or is `from`).
void unmap_again(void* at, void* from, uint64_t bytes);

}  // namespace vgpu::host
