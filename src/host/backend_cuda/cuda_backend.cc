// CudaBackend: the module's entry point, init, device description, memory,
// streams, events and fences.
#include "cuda_backend.h"

#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace vgpu::host::cuda {

void log(const char* fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "vgpu-hostd[cuda]: %s\n", line);
}

const char* cu_error_name(CUresult r) {
  const char* s = nullptr;
  if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == nullptr) return "CUDA_ERROR_?";
  return s;
}

namespace {

// Our guest libraries (the stand-in libcuda.so.1, libcublas, libnvidia-ml)
// export vgpu_guest_marker. If one of them is what this process loaded, the
// daemon was started with the guest libraries on its library path and every
// "driver" call would loop back into a guest client: refuse to start.
// RTLD_DEFAULT alone would miss a library pulled in as a dependency of this
// module when the daemon dlopen'ed it RTLD_LOCAL, so also look the loaded
// libraries up by name.
bool guest_libraries_loaded(std::string* which) {
  if (dlsym(RTLD_DEFAULT, "vgpu_guest_marker") != nullptr) {
    *which = "global scope";
    Dl_info info{};
    if (void* sym = dlsym(RTLD_DEFAULT, "vgpu_guest_marker"); sym && dladdr(sym, &info) && info.dli_fname)
      *which = info.dli_fname;
    return true;
  }
  for (const char* lib : {"libcuda.so.1", "libcublas.so.13", "libcublasLt.so.13", "libcublas.so.12",
                          "libcublasLt.so.12", "libcudart.so.13", "libcudart.so.12"}) {
    void* h = dlopen(lib, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
    if (h == nullptr) continue;
    void* sym = dlsym(h, "vgpu_guest_marker");
    if (sym != nullptr) {
      Dl_info info{};
      *which = (dladdr(sym, &info) && info.dli_fname) ? info.dli_fname : lib;
    }
    dlclose(h);
    if (sym != nullptr) return true;
  }
  return false;
}

const char* driver_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cuInit), &info) && info.dli_fname) return info.dli_fname;
  return "?";
}

}  // namespace

// ---- lifetime -------------------------------------------------------------------

CudaBackend::CudaBackend() {
  fences_.reserve(64);
  free_events_.reserve(64);
  fence_nodes_.reserve(64);
}

CudaBackend::~CudaBackend() { destroy_all(); }

// What this backend made for itself; the guest's objects are gone by now
// (the session's teardown destroyed them, Session::release_all).
void CudaBackend::destroy_all() {
  if (initialized_) {
    cuCtxSetCurrent(ctx_);
    // Let queued work finish before what it uses goes away. A context in a
    // sticky error state fails this (and most of what follows) at once; the
    // primary context's release below then tears it all down anyway.
    cuCtxSynchronize();
    // A session owns streams and cuBLAS handles; any still here is a bug of
    // its teardown. Said, not destroyed: one owner destroys, and the
    // context's release below frees their device memory with the rest.
    if (!streams_.empty() || !blas_.empty())
      log("%zu streams and %zu cuBLAS handles outlived their session (left to the context's release)",
          streams_.size(), blas_.size());
    blas_.clear();
    streams_.clear();
    lt_close();

    for (auto& [id, f] : fences_)
      for (CUevent e : f.events) cuEventDestroy(e);
    fences_.clear();
    fence_nodes_.clear();
    for (CUevent e : free_events_) cuEventDestroy(e);
    free_events_.clear();

    for (const HostRange& r : registered_) cuMemHostUnregister(r.base);
    registered_.clear();

    cuDevicePrimaryCtxRelease(dev_);
    initialized_ = false;
  }
  nvml_unload();
}

Status CudaBackend::init(int device) {
  if (initialized_) return device == ordinal_ ? st::kOk : st::kInvalidValue;

  std::string which;
  if (guest_libraries_loaded(&which)) {
    log("refusing to start: the vgpu GUEST libraries are loaded in the daemon (%s). "
        "Remove the guest library folder from LD_LIBRARY_PATH / LD_PRELOAD of vgpu-hostd so it "
        "uses NVIDIA's real libcuda.so.1 and cuBLAS.",
        which.c_str());
    return st::kNotSupported;
  }

  CUresult r = cuInit(0);
  if (r != CUDA_SUCCESS) {
    log("cuInit failed: %s (%d); driver library %s", cu_error_name(r), static_cast<int>(r), driver_path());
    return to_status(r);
  }
  CUdevice dev = 0;
  if ((r = cuDeviceGet(&dev, device)) != CUDA_SUCCESS) {
    log("cuDeviceGet(%d) failed: %s", device, cu_error_name(r));
    return to_status(r);
  }
  CUcontext ctx = nullptr;
  if ((r = cuDevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS) {
    log("cuDevicePrimaryCtxRetain(%d) failed: %s", device, cu_error_name(r));
    return to_status(r);
  }
  if ((r = cuCtxSetCurrent(ctx)) != CUDA_SUCCESS) {
    log("cuCtxSetCurrent failed: %s", cu_error_name(r));
    cuDevicePrimaryCtxRelease(dev);
    return to_status(r);
  }
  dev_ = dev;
  ctx_ = ctx;
  ordinal_ = device;
  initialized_ = true;

  char name[256] = {};
  cuDeviceGetName(name, sizeof name - 1, dev);
  int version = 0;
  cuDriverGetVersion(&version);
  log("device %d: %s, driver API %d.%d (%s)", device, name, version / 1000, (version % 1000) / 10,
      driver_path());
  return st::kOk;
}

Status CudaBackend::register_host(void* base, uint64_t bytes, uint64_t* device_base) {
  if (device_base) *device_base = 0;
  if (base == nullptr || bytes == 0) return st::kInvalidValue;
  CUresult r = cuMemHostRegister(base, bytes, CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP);
  if (r != CUDA_SUCCESS) {
    log("cuMemHostRegister(%p, %llu) failed: %s", base, static_cast<unsigned long long>(bytes), cu_error_name(r));
    return to_status(r);
  }
  registered_.push_back({base, bytes});
  CUdeviceptr d = 0;
  if (cuMemHostGetDevicePointer(&d, base, 0) == CUDA_SUCCESS && device_base) *device_base = d;
  return st::kOk;
}

// ---- device -----------------------------------------------------------------

int CudaBackend::driver_version() {
  int v = 0;
  if (cuDriverGetVersion(&v) != CUDA_SUCCESS) return 0;
  return v;
}

int CudaBackend::device_count() {
  int n = 0;
  if (cuDeviceGetCount(&n) != CUDA_SUCCESS) return 0;
  return n;
}

Status CudaBackend::device_info(int ordinal, DeviceInfoRep* out) {
  std::memset(out, 0, sizeof *out);
  CUdevice dev = 0;
  CUresult r = cuDeviceGet(&dev, ordinal);
  if (r != CUDA_SUCCESS) return to_status(r);
  if ((r = cuDeviceGetName(out->name, sizeof out->name - 1, dev)) != CUDA_SUCCESS) return to_status(r);
  CUuuid uuid{};
  if ((r = cuDeviceGetUuid(&uuid, dev)) != CUDA_SUCCESS) return to_status(r);
  static_assert(sizeof uuid.bytes == sizeof out->uuid);
  std::memcpy(out->uuid, uuid.bytes, sizeof out->uuid);
  if ((r = cuDeviceGetPCIBusId(out->pci_bus_id, sizeof out->pci_bus_id - 1, dev)) != CUDA_SUCCESS)
    return to_status(r);
  size_t total = 0;
  if ((r = cuDeviceTotalMem(&total, dev)) != CUDA_SUCCESS) return to_status(r);
  out->total_mem = total;
  for (uint32_t i = 1; i < kMaxDeviceAttr; ++i) {
    int v = 0;
    if (cuDeviceGetAttribute(&v, static_cast<CUdevice_attribute>(i), dev) == CUDA_SUCCESS) out->attr[i] = v;
  }
  // luid / node_mask: Windows only; zero on Linux (memset above).
  return st::kOk;
}

Status CudaBackend::mem_get_info(uint64_t* free_bytes, uint64_t* total_bytes) {
  size_t f = 0, t = 0;
  CUresult r = cuMemGetInfo(&f, &t);
  *free_bytes = f;
  *total_bytes = t;
  return to_status(r);
}

// ---- memory -----------------------------------------------------------------

Status CudaBackend::mem_alloc(uint64_t bytes, DevPtr* out) {
  CUdeviceptr p = 0;
  CUresult r = cuMemAlloc(&p, bytes);
  *out = r == CUDA_SUCCESS ? p : 0;
  return to_status(r);
}

Status CudaBackend::mem_free(DevPtr p) { return to_status(cuMemFree(p)); }

Status CudaBackend::copy_htod(DevPtr dst, const void* src, uint64_t n, Native stream) {
  return to_status(cuMemcpyHtoDAsync(dst, src, n, to_cu_stream(stream)));
}

Status CudaBackend::copy_dtoh(void* dst, DevPtr src, uint64_t n, Native stream) {
  return to_status(cuMemcpyDtoHAsync(dst, src, n, to_cu_stream(stream)));
}

Status CudaBackend::copy_dtod(DevPtr dst, DevPtr src, uint64_t n, Native stream) {
  return to_status(cuMemcpyDtoDAsync(dst, src, n, to_cu_stream(stream)));
}

Status CudaBackend::copy_2d(CopyKind kind, uint64_t dst, uint64_t dpitch, uint64_t src, uint64_t spitch,
                            uint64_t width, uint64_t height, Native stream) {
  CUDA_MEMCPY2D c;
  std::memset(&c, 0, sizeof c);
  c.srcPitch = spitch;
  c.dstPitch = dpitch;
  c.WidthInBytes = width;
  c.Height = height;
  switch (kind) {
    case CopyKind::kHtoD:
      c.srcMemoryType = CU_MEMORYTYPE_HOST;
      c.srcHost = reinterpret_cast<const void*>(static_cast<uintptr_t>(src));
      c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
      c.dstDevice = dst;
      break;
    case CopyKind::kDtoH:
      c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
      c.srcDevice = src;
      c.dstMemoryType = CU_MEMORYTYPE_HOST;
      c.dstHost = reinterpret_cast<void*>(static_cast<uintptr_t>(dst));
      break;
    case CopyKind::kDtoD:
      c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
      c.srcDevice = src;
      c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
      c.dstDevice = dst;
      break;
    default:
      return st::kInvalidValue;
  }
  return to_status(cuMemcpy2DAsync(&c, to_cu_stream(stream)));
}

Status CudaBackend::memset(DevPtr dst, uint32_t value, uint32_t elem_bytes, uint64_t count, Native stream) {
  CUstream s = to_cu_stream(stream);
  switch (elem_bytes) {
    case 1:
      return to_status(cuMemsetD8Async(dst, static_cast<unsigned char>(value), count, s));
    case 2:
      return to_status(cuMemsetD16Async(dst, static_cast<unsigned short>(value), count, s));
    case 4:
      return to_status(cuMemsetD32Async(dst, value, count, s));
    default:
      return st::kInvalidValue;
  }
}

// ---- streams and events ---------------------------------------------------------

Status CudaBackend::stream_create(uint32_t flags, int priority, Native* out) {
  CUstream s = nullptr;
  CUresult r = cuStreamCreateWithPriority(&s, flags, priority);
  if (r != CUDA_SUCCESS) return to_status(r);
  streams_.insert(s);
  *out = to_native(s);
  return st::kOk;
}

Status CudaBackend::stream_destroy(Native s) {
  if (s == kNativeLegacyStream) return st::kInvalidHandle;
  CUstream cs = from_native<CUstream>(s);
  CUresult r = cuStreamDestroy(cs);
  if (r == CUDA_SUCCESS) {
    streams_.erase(cs);
    // A later stream may get the same address: make cuBLAS handles set it again.
    for (auto& [h, cache] : blas_)
      if (cache.stream == cs) cache.stream = reinterpret_cast<CUstream>(~uintptr_t{0});
  }
  return to_status(r);
}

Status CudaBackend::stream_query(Native s) { return to_status(cuStreamQuery(to_cu_stream(s))); }

// A stream memory operation: ordered after the stream's earlier work, with
// the default memory barrier (its store is visible once that work's are).
Status CudaBackend::stream_write_value(Native s, uint64_t device_addr, uint64_t value) {
  if (!stream_writes_ok_) return st::kNotSupported;
  const CUresult r = cuStreamWriteValue64(to_cu_stream(s), static_cast<CUdeviceptr>(device_addr), value,
                                          CU_STREAM_WRITE_VALUE_DEFAULT);
  if (r != CUDA_SUCCESS && r != CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED && r != CUDA_ERROR_STREAM_CAPTURE_INVALIDATED) {
    // Not available on this device or driver: say so once and stop trying.
    log("cuStreamWriteValue64 failed (%s): synchronise answers go through the host", cu_error_name(r));
    stream_writes_ok_ = false;
  }
  return to_status(r);
}

Status CudaBackend::stream_store(Native s, DevPtr addr, uint64_t value, uint32_t bytes, uint32_t flags) {
  if (bytes == 4)
    return to_status(cuStreamWriteValue32(to_cu_stream(s), addr, static_cast<cuuint32_t>(value), flags));
  return to_status(cuStreamWriteValue64(to_cu_stream(s), addr, value, flags));
}

Status CudaBackend::stream_wait_value(Native s, DevPtr addr, uint64_t value, uint32_t bytes, uint32_t flags) {
  if (bytes == 4)
    return to_status(cuStreamWaitValue32(to_cu_stream(s), addr, static_cast<cuuint32_t>(value), flags));
  return to_status(cuStreamWaitValue64(to_cu_stream(s), addr, value, flags));
}

Status CudaBackend::stream_wait_event(Native s, Native e, uint32_t flags) {
  return to_status(cuStreamWaitEvent(to_cu_stream(s), from_native<CUevent>(e), flags));
}

Status CudaBackend::event_create(uint32_t flags, Native* out) {
  CUevent e = nullptr;
  CUresult r = cuEventCreate(&e, flags);
  if (r != CUDA_SUCCESS) return to_status(r);
  *out = to_native(e);
  return st::kOk;
}

Status CudaBackend::event_destroy(Native e) { return to_status(cuEventDestroy(from_native<CUevent>(e))); }

Status CudaBackend::event_record(Native e, Native s, uint32_t flags) {
  CUevent ce = from_native<CUevent>(e);
  if (flags == 0) return to_status(cuEventRecord(ce, to_cu_stream(s)));
  return to_status(cuEventRecordWithFlags(ce, to_cu_stream(s), flags));
}

Status CudaBackend::event_query(Native e) { return to_status(cuEventQuery(from_native<CUevent>(e))); }

Status CudaBackend::event_elapsed(Native start, Native end, float* ms) {
  float v = 0.f;
  CUresult r = cuEventElapsedTime(&v, from_native<CUevent>(start), from_native<CUevent>(end));
  *ms = v;
  return to_status(r);
}

// ---- fences -------------------------------------------------------------------

Status CudaBackend::take_event(CUevent* e) {
  if (!free_events_.empty()) {
    *e = free_events_.back();
    free_events_.pop_back();
    return st::kOk;
  }
  return to_status(cuEventCreate(e, CU_EVENT_DISABLE_TIMING));
}

Status CudaBackend::capture_check(CUstream s) {
  CUstreamCaptureStatus cs = CU_STREAM_CAPTURE_STATUS_NONE;
  CUresult r = cuStreamIsCapturing(s, &cs);
  // For the legacy stream while a blocking stream captures, the driver says
  // CUDA_ERROR_STREAM_CAPTURE_IMPLICIT (without invalidating the capture).
  if (r != CUDA_SUCCESS) return to_status(r);
  if (cs == CU_STREAM_CAPTURE_STATUS_ACTIVE) return st::kStreamCaptureUnsupported;
  if (cs == CU_STREAM_CAPTURE_STATUS_INVALIDATED) return st::kStreamCaptureInvalidated;
  return st::kOk;
}

Status CudaBackend::fence_create(Native stream, bool all_streams, uint64_t* fence) {
  *fence = 0;
  // Check every stream first so a refused fence records nothing anywhere.
  if (all_streams) {
    for (CUstream s : streams_)
      if (Status c = capture_check(s); c != st::kOk) return c;
    if (Status c = capture_check(CU_STREAM_LEGACY); c != st::kOk) return c;
  } else {
    if (Status c = capture_check(to_cu_stream(stream)); c != st::kOk) return c;
  }

  const uint64_t id = next_fence_++;
  Fence* f;
  if (!fence_nodes_.empty()) {
    FenceMap::node_type node = std::move(fence_nodes_.back());
    fence_nodes_.pop_back();
    node.key() = id;
    f = &fences_.insert(std::move(node)).position->second;
  } else {
    f = &fences_.try_emplace(id).first->second;
  }
  f->events.clear();
  f->done = 0;

  auto record = [&](CUstream s) -> Status {
    CUevent e = nullptr;
    if (Status t = take_event(&e); t != st::kOk) return t;
    CUresult r = cuEventRecord(e, s);
    if (r != CUDA_SUCCESS) {
      free_events_.push_back(e);
      return to_status(r);
    }
    f->events.push_back(e);
    return st::kOk;
  };

  Status result = st::kOk;
  if (all_streams) {
    result = record(CU_STREAM_LEGACY);
    for (auto it = streams_.begin(); result == st::kOk && it != streams_.end(); ++it) result = record(*it);
  } else {
    result = record(to_cu_stream(stream));
  }
  if (result != st::kOk) {
    fence_release(id);
    return result;
  }
  *fence = id;
  return st::kOk;
}

Status CudaBackend::fence_poll(uint64_t fence) {
  auto it = fences_.find(fence);
  if (it == fences_.end()) return st::kInvalidHandle;
  Fence& f = it->second;
  while (f.done < f.events.size()) {
    CUresult r = cuEventQuery(f.events[f.done]);
    if (r != CUDA_SUCCESS) return to_status(r);  // CUDA_ERROR_NOT_READY == st::kNotReady
    ++f.done;
  }
  return st::kOk;
}

// The one blocking call: a session's teardown, when nothing is served any more.
Status CudaBackend::wait_idle() { return to_status(cuCtxSynchronize()); }

void CudaBackend::fence_release(uint64_t fence) {
  FenceMap::node_type node = fences_.extract(fence);
  if (node.empty()) return;
  // An event still pending is fine to reuse: recording it again replaces
  // the old record.
  for (CUevent e : node.mapped().events) free_events_.push_back(e);
  node.mapped().events.clear();
  fence_nodes_.push_back(std::move(node));
}

// Answers that need no work.
BackendKind CudaBackend::kind() const { return BackendKind::kCuda; }
const char* CudaBackend::name() const { return "cuda"; }

}  // namespace vgpu::host::cuda

// The module's one export. The caller owns the result (delete through
// Backend's virtual destructor, before dlclose'ing this module); init() is
// where a missing GPU or driver shows.
extern "C" __attribute__((visibility("default"))) vgpu::host::Backend* vgpu_create_cuda_backend() {
  try {
    return new vgpu::host::cuda::CudaBackend();
  } catch (...) {
    return nullptr;
  }
}
