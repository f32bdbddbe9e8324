// The ceilings on what one guest's session may hold on the host, apart from
// device memory. Its own header because the daemon's configuration carries
// them down (WorkerOptions) without needing the session itself.
#pragma once

#include <cstdint>

namespace vgpu::host {

// What one guest may make its worker hold besides device memory (mem_quota
// bounds that). The host trusts nothing in the region, so everything a
// guest's calls can grow has a ceiling; a call past one fails with
// kOutOfMemory (CUDA_ERROR_OUT_OF_MEMORY) and the session goes on. The
// defaults sit far above what real clients use. vgpu-hostd's configuration
// (host_config.h: --max-module-mb, --max-reserve-mb, --max-handles or
// VGPU_MAX_MODULE_MB, VGPU_MAX_RESERVE_MB, VGPU_MAX_HANDLES) may change them
// for every session it serves; the e2e tests lower them to reach them in a
// few calls.
struct SessionLimits {
  // Bytes of module images loaded at once, each distinct image (hash) counted
  // once; an unload gives its bytes back. One image may be 1 GiB
  // (Session::max_image_bytes), but the images of even a large application
  // (every kernel of PyTorch or llama.cpp) add up to a few hundred MiB; what
  // the cap stops is a guest loading new images without end, which the host
  // would keep (the CPU backend holds each image, the driver its code).
  uint64_t module_bytes = uint64_t(4) << 30;
  // Address space held by cuMemAddressReserve ranges, each counted rounded up
  // to the 2 MiB VMM granularity (which also bounds how many there can be).
  // llama.cpp's VMM pool reserves one range when it is first used: 32 GiB
  // (1 << 35; versions that size it by the device's memory, at most 192 GB
  // today), and ggml keeps a pool per device and stream of a backend context
  // (up to 8 streams): 256 GiB to 1.5 TiB for one context at the very most.
  // 4 TiB covers that with room, yet is 1/32 of the 47-bit address space the
  // worker shares with the driver (unified addressing).
  uint64_t reserved_bytes = uint64_t(4) << 40;
  // Live ids in the handle table (streams, events, modules, functions,
  // graphs, cuBLAS and VMM handles), and, as a separate count, live
  // cuMemAlloc allocations. Real clients hold thousands at most (a CUDA
  // graph per batch size, an event per pool block); a million bounds the
  // host's tables at some 100 MiB.
  uint64_t handles = uint64_t(1) << 20;
};

}  // namespace vgpu::host
