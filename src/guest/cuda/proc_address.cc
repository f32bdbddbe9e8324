// cuGetProcAddress: hands out our own entry points. A versioned name maps to
// the variant that was current at the caller's CUDA version (e.g. "cuMemAlloc"
// at 12000 is cuMemAlloc_v2), like NVIDIA's driver; names we do not export
// are reported as not found, never as some other function.
#include <dlfcn.h>

#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include "driver.h"

namespace {
struct Versioned {
  const char* name;
  int since;
  const char* symbol;
};
// Newest first for each name.
constexpr Versioned kVersioned[] = {
    {"cuCtxCreate", 12050, "cuCtxCreate_v4"},          {"cuCtxCreate", 11040, "cuCtxCreate_v3"},
    {"cuCtxCreate", 3020, "cuCtxCreate_v2"},           {"cuCtxDestroy", 4000, "cuCtxDestroy_v2"},
    {"cuCtxPushCurrent", 4000, "cuCtxPushCurrent_v2"}, {"cuCtxPopCurrent", 4000, "cuCtxPopCurrent_v2"},
    {"cuDeviceTotalMem", 3020, "cuDeviceTotalMem_v2"}, {"cuDeviceGetUuid", 11040, "cuDeviceGetUuid_v2"},
    {"cuDevicePrimaryCtxRelease", 11000, "cuDevicePrimaryCtxRelease_v2"},
    {"cuDevicePrimaryCtxSetFlags", 11000, "cuDevicePrimaryCtxSetFlags_v2"},
    {"cuDevicePrimaryCtxReset", 11000, "cuDevicePrimaryCtxReset_v2"},
    {"cuMemAlloc", 3020, "cuMemAlloc_v2"},             {"cuMemFree", 3020, "cuMemFree_v2"},
    {"cuMemGetInfo", 3020, "cuMemGetInfo_v2"},         {"cuMemAllocPitch", 3020, "cuMemAllocPitch_v2"},
    {"cuMemGetAddressRange", 3020, "cuMemGetAddressRange_v2"}, {"cuMemAllocHost", 3020, "cuMemAllocHost_v2"},
    {"cuMemHostGetDevicePointer", 3020, "cuMemHostGetDevicePointer_v2"},
    {"cuMemHostRegister", 6050, "cuMemHostRegister_v2"},
    {"cuMemcpyHtoD", 3020, "cuMemcpyHtoD_v2"},         {"cuMemcpyDtoH", 3020, "cuMemcpyDtoH_v2"},
    {"cuMemcpyDtoD", 3020, "cuMemcpyDtoD_v2"},         {"cuMemcpyHtoDAsync", 3020, "cuMemcpyHtoDAsync_v2"},
    {"cuMemcpyDtoHAsync", 3020, "cuMemcpyDtoHAsync_v2"}, {"cuMemcpyDtoDAsync", 3020, "cuMemcpyDtoDAsync_v2"},
    {"cuMemcpy2D", 3020, "cuMemcpy2D_v2"},             {"cuMemcpy2DAsync", 3020, "cuMemcpy2DAsync_v2"},
    {"cuMemcpy2DUnaligned", 3020, "cuMemcpy2DUnaligned_v2"},
    {"cuMemsetD8", 3020, "cuMemsetD8_v2"},             {"cuMemsetD16", 3020, "cuMemsetD16_v2"},
    {"cuMemsetD32", 3020, "cuMemsetD32_v2"},           {"cuModuleGetGlobal", 3020, "cuModuleGetGlobal_v2"},
    {"cuStreamWriteValue32", 11070, "cuStreamWriteValue32_v2"},
    {"cuStreamWriteValue64", 11070, "cuStreamWriteValue64_v2"},
    {"cuStreamWaitValue32", 11070, "cuStreamWaitValue32_v2"},
    {"cuStreamWaitValue64", 11070, "cuStreamWaitValue64_v2"},
    {"cuStreamBatchMemOp", 11070, "cuStreamBatchMemOp_v2"},
    {"cuMemPrefetchAsync", 12020, "cuMemPrefetchAsync_v2"},
    {"cuLinkCreate", 6050, "cuLinkCreate_v2"},        {"cuLinkAddData", 6050, "cuLinkAddData_v2"},
    {"cuLinkAddFile", 6050, "cuLinkAddFile_v2"},
    {"cuGraphKernelNodeGetParams", 12000, "cuGraphKernelNodeGetParams_v2"},
    {"cuGraphExecKernelNodeSetParams", 12000, "cuGraphExecKernelNodeSetParams_v2"},
    {"cuStreamDestroy", 4000, "cuStreamDestroy_v2"},   {"cuEventDestroy", 4000, "cuEventDestroy_v2"},
    {"cuEventElapsedTime", 12080, "cuEventElapsedTime_v2"},
    {"cuStreamBeginCapture", 10010, "cuStreamBeginCapture_v2"},
    {"cuGraphInstantiate", 11000, "cuGraphInstantiateWithFlags"},
    {"cuGraphExecUpdate", 12000, "cuGraphExecUpdate_v2"},
    {"cuStreamGetCaptureInfo", 12030, "cuStreamGetCaptureInfo_v3"},
    {"cuStreamGetCaptureInfo", 11030, "cuStreamGetCaptureInfo_v2"}, {"cuGetProcAddress", 12000, "cuGetProcAddress_v2"},
};
// Functions with a per-thread-default-stream twin we export.
constexpr const char* kPtsz[] = {"cuLaunchKernel",           "cuLaunchKernelEx",          "cuStreamSynchronize",
                                 "cuStreamGetCaptureInfo",   "cuStreamGetCaptureInfo_v2", "cuStreamGetCaptureInfo_v3",
                                 "cuStreamGetFlags",         "cuStreamGetPriority",       "cuStreamGetCtx",
                                 "cuStreamGetDevice",        "cuStreamGetId",             "cuLaunchHostFunc",
                                 "cuStreamAddCallback",      "cuMemAllocAsync",           "cuMemAllocFromPoolAsync",
                                 "cuMemFreeAsync",           "cuGraphUpload"};

// Under VGPU_DEBUG: each name once.
void note_not_served(const char* symbol, int version) {
  static std::mutex mu;
  static std::set<std::string> seen;
  std::lock_guard lk(mu);
  if (seen.insert(symbol).second) vgpu::guest::debug_log("cuGetProcAddress: %s (version %d) not served", symbol, version);
}

void* self_symbol(const std::string& name) {
  static void* self = [] {
    Dl_info info{};
    dladdr(reinterpret_cast<void*>(&cuInit), &info);
    return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
  }();
  return self ? dlsym(self, name.c_str()) : nullptr;
}
}  // namespace

CUresult CUDAAPI cuGetProcAddress_v2(const char* symbol, void** pfn, int version, cuuint64_t flags,
                                     CUdriverProcAddressQueryResult* status) {
  if (!symbol || !pfn) return CUDA_ERROR_INVALID_VALUE;
  std::string name = symbol;
  for (const auto& v : kVersioned) {
    if (name == v.name && version >= v.since) {
      name = v.symbol;
      break;
    }
  }
  if (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) {
    for (const char* p : kPtsz)
      if (name == p) name += "_ptsz";
  }
  void* f = self_symbol(name);
  // One line per name a client asks for and we do not serve (runtimes ask
  // for every entry point they might use at init), for coverage.
  if (!f) note_not_served(symbol, version);
  if (status) *status = f ? CU_GET_PROC_ADDRESS_SUCCESS : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  *pfn = f;
  return f ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

CUresult CUDAAPI cuGetProcAddress(const char* symbol, void** pfn, int version, cuuint64_t flags) {
  return cuGetProcAddress_v2(symbol, pfn, version, flags, nullptr);
}
