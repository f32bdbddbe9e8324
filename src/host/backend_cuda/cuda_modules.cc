// CudaBackend: modules, functions, kernel launch, occupancy.
//
// Modules are loaded with cuModuleLoadData rather than cuLibraryLoadData:
// a session has exactly one context (the device's primary context), so the
// context independence of CUlibrary/CUkernel buys nothing, while CUmodule and
// CUfunction map one to one onto this interface (cuModuleGetGlobal,
// cuFuncGetParamInfo, cuFuncGet/SetAttribute, cuOccupancy* all take them) and
// the driver's lazy loading (CUDA_MODULE_LOADING=LAZY, the default since 12.2)
// applies to modules as well, so loading a large fatbin stays cheap.
#include <cstring>

#include "cuda_backend.h"

namespace vgpu::host::cuda {

namespace {

constexpr uint32_t kFatbinMagic = 0xBA55ED50u;         // fatbin data (what the guest ships)
constexpr uint32_t kFatbinWrapperMagic = 0x466243B1u;  // __fatBinC_Wrapper_t: holds a guest pointer

struct FatbinHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t header_size;
  uint64_t fat_size;  // bytes after the header
};

}  // namespace

Status CudaBackend::module_load(const void* image, uint64_t bytes, Native* out) {
  *out = 0;
  if (image == nullptr || bytes < 4) return st::kInvalidImage;
  const auto* p = static_cast<const unsigned char*>(image);
  uint32_t magic = 0;
  std::memcpy(&magic, p, sizeof magic);

  // The driver takes no size: make sure what it parses lies inside `bytes`
  // as far as we can tell from the outside.
  bool text = false;
  if (magic == kFatbinWrapperMagic) {
    return st::kInvalidImage;  // a wrapper points into the guest's address space
  } else if (magic == kFatbinMagic) {
    FatbinHeader h{};
    if (bytes < sizeof h) return st::kInvalidImage;
    std::memcpy(&h, p, sizeof h);
    if (h.header_size < sizeof h || h.header_size > bytes || h.fat_size > bytes - h.header_size)
      return st::kInvalidImage;
  } else if (!(p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F')) {
    text = true;  // PTX: must be NUL-terminated for the driver
  }

  // The driver wants an aligned image (ELF/fatbin are read as 8-byte
  // structures) and a terminated PTX string; copy when either is missing.
  std::vector<uint64_t> copy;
  const void* img = image;
  if ((reinterpret_cast<uintptr_t>(image) % 8) != 0 || (text && p[bytes - 1] != 0)) {
    copy.resize(bytes / 8 + 1, 0);  // at least one trailing NUL byte
    std::memcpy(copy.data(), image, bytes);
    img = copy.data();
  }

  CUmodule m = nullptr;
  CUresult r = cuModuleLoadData(&m, img);
  if (r != CUDA_SUCCESS) {
    log("cuModuleLoadData(%llu bytes, %s) failed: %s", static_cast<unsigned long long>(bytes),
        magic == kFatbinMagic ? "fatbin" : text ? "ptx" : "cubin", cu_error_name(r));
    return to_status(r);
  }
  *out = to_native(m);
  return st::kOk;
}

Status CudaBackend::module_unload(Native m) { return to_status(cuModuleUnload(from_native<CUmodule>(m))); }

Status CudaBackend::module_function(Native m, const char* name, Native* fn, std::vector<ParamSlot>* params,
                                    Status* param_status) {
  *fn = 0;
  if (params) params->clear();
  if (param_status) *param_status = st::kNotSupported;
  CUfunction f = nullptr;
  CUresult r = cuModuleGetFunction(&f, from_native<CUmodule>(m), name);
  if (r != CUDA_SUCCESS) return to_status(r);
  *fn = to_native(f);

  // The parameter layout: offsets and sizes until the driver says there is
  // no parameter i (CUDA_ERROR_INVALID_VALUE).
  Status ps = st::kOk;
  std::vector<ParamSlot> slots;
  for (size_t i = 0;; ++i) {
    if (i == kMaxParams) {
      log("%s: more than %u parameters; refusing its layout", name, kMaxParams);
      ps = st::kNotSupported;
      slots.clear();
      break;
    }
    size_t offset = 0, size = 0;
    CUresult pr = cuFuncGetParamInfo(f, i, &offset, &size);
    if (pr == CUDA_ERROR_INVALID_VALUE) break;
    if (pr != CUDA_SUCCESS) {
      log("cuFuncGetParamInfo(%s, %zu) failed: %s", name, i, cu_error_name(pr));
      ps = to_status(pr);
      slots.clear();
      break;
    }
    slots.push_back({static_cast<uint32_t>(offset), static_cast<uint32_t>(size)});
  }
  if (param_status) *param_status = ps;
  if (params) *params = std::move(slots);
  return st::kOk;
}

Status CudaBackend::module_global(Native m, const char* name, DevPtr* ptr, uint64_t* bytes) {
  CUdeviceptr p = 0;
  size_t n = 0;
  CUresult r = cuModuleGetGlobal(&p, &n, from_native<CUmodule>(m), name);
  *ptr = r == CUDA_SUCCESS ? p : 0;
  *bytes = r == CUDA_SUCCESS ? n : 0;
  return to_status(r);
}

// cuModuleEnumerateFunctions (CUDA 12.4) and each kernel's name; the guest
// asks cuModuleGetFunction for them by name, which gives the same CUfunction.
Status CudaBackend::module_functions(Native m, std::vector<std::string>* names) {
  names->clear();
  const auto mod = from_native<CUmodule>(m);
  unsigned n = 0;
  if (CUresult r = cuModuleGetFunctionCount(&n, mod); r != CUDA_SUCCESS) return to_status(r);
  std::vector<CUfunction> fns(n);
  if (n != 0) {
    if (CUresult r = cuModuleEnumerateFunctions(fns.data(), n, mod); r != CUDA_SUCCESS) return to_status(r);
  }
  for (CUfunction f : fns) {
    const char* name = nullptr;
    if (CUresult r = cuFuncGetName(&name, f); r != CUDA_SUCCESS) return to_status(r);
    names->emplace_back(name ? name : "");
  }
  return st::kOk;
}

Status CudaBackend::func_get_attribute(Native fn, int attr, int* value) {
  int v = 0;
  CUresult r = cuFuncGetAttribute(&v, static_cast<CUfunction_attribute>(attr), from_native<CUfunction>(fn));
  *value = v;
  return to_status(r);
}

Status CudaBackend::func_set_attribute(Native fn, int attr, int value) {
  return to_status(cuFuncSetAttribute(from_native<CUfunction>(fn), static_cast<CUfunction_attribute>(attr), value));
}

Status CudaBackend::ctx_limit(int limit, bool set, uint64_t value, uint64_t* out) {
  const auto l = static_cast<CUlimit>(limit);
  if (set) {
    if (CUresult r = cuCtxSetLimit(l, static_cast<size_t>(value))) return to_status(r);
  }
  size_t v = 0;
  const CUresult r = cuCtxGetLimit(&v, l);
  *out = v;
  return to_status(r);
}

Status CudaBackend::tensor_map_encode(const TensorMapReq& r, uint64_t* out) {
  CUtensorMap m{};
  void* addr = reinterpret_cast<void*>(static_cast<uintptr_t>(r.global_address));
  const auto type = static_cast<CUtensorMapDataType>(r.data_type);
  const auto interleave = static_cast<CUtensorMapInterleave>(r.interleave);
  const auto swizzle = static_cast<CUtensorMapSwizzle>(r.swizzle);
  const auto l2 = static_cast<CUtensorMapL2promotion>(r.l2_promotion);
  const auto oob = static_cast<CUtensorMapFloatOOBfill>(r.oob_fill);
  const CUresult res =
      r.kind == kTensorMapTiled
          ? cuTensorMapEncodeTiled(&m, type, r.rank, addr, r.global_dim, r.global_strides, r.box_dim,
                                   r.element_strides, interleave, swizzle, l2, oob)
          : cuTensorMapEncodeIm2col(&m, type, r.rank, addr, r.global_dim, r.global_strides, r.lower_corner,
                                    r.upper_corner, r.channels_per_pixel, r.pixels_per_column, r.element_strides,
                                    interleave, swizzle, l2, oob);
  static_assert(sizeof m == 16 * sizeof(uint64_t));
  if (res == CUDA_SUCCESS) std::memcpy(out, &m, sizeof m);
  return to_status(res);
}

Status CudaBackend::occupancy_max_blocks(Native fn, int block_size, uint64_t dyn_smem, uint32_t flags,
                                         int* blocks) {
  int n = 0;
  CUresult r = cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(&n, from_native<CUfunction>(fn), block_size,
                                                                    dyn_smem, flags);
  *blocks = n;
  return to_status(r);
}

namespace {
// The driver's launch configuration: for launches and the cluster queries.
CUlaunchConfig launch_config(const uint32_t grid[3], const uint32_t block[3], unsigned smem, CUstream stream,
                             CUlaunchAttribute* attrs, unsigned n) {
  CUlaunchConfig cfg{};
  cfg.gridDimX = grid[0], cfg.gridDimY = grid[1], cfg.gridDimZ = grid[2];
  cfg.blockDimX = block[0], cfg.blockDimY = block[1], cfg.blockDimZ = block[2];
  cfg.sharedMemBytes = smem;
  cfg.hStream = stream;
  cfg.attrs = attrs;
  cfg.numAttrs = n;
  return cfg;
}
}  // namespace

Status CudaBackend::occupancy_available_smem(Native fn, int num_blocks, int block_size, uint64_t* bytes) {
  size_t n = 0;
  CUresult r = cuOccupancyAvailableDynamicSMemPerBlock(&n, from_native<CUfunction>(fn), num_blocks, block_size);
  *bytes = n;
  return to_status(r);
}

// The guest's launch configuration rebuilt: no stream (occupancy does not
// depend on one), the cluster shape and scheduling policy as attributes.
Status CudaBackend::occupancy_clusters(Native fn, const OccupancyClustersReq& r, int* value) {
  CUlaunchAttribute attrs[2];
  unsigned n = 0;
  if (r.cluster[0] | r.cluster[1] | r.cluster[2]) {
    attrs[n].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attrs[n].value.clusterDim.x = r.cluster[0];
    attrs[n].value.clusterDim.y = r.cluster[1];
    attrs[n].value.clusterDim.z = r.cluster[2];
    ++n;
  }
  if (r.policy != 0) {
    attrs[n].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE;
    attrs[n].value.clusterSchedulingPolicyPreference = static_cast<CUclusterSchedulingPolicy>(r.policy);
    ++n;
  }
  CUlaunchConfig cfg = launch_config(r.grid, r.block, r.smem, nullptr, n ? attrs : nullptr, n);
  int v = 0;
  const auto f = from_native<CUfunction>(fn);
  CUresult res = r.query == kOccupancyMaxActiveClusters ? cuOccupancyMaxActiveClusters(&v, f, &cfg)
                                                         : cuOccupancyMaxPotentialClusterSize(&v, f, &cfg);
  *value = v;
  return to_status(res);
}

// The hot path: no allocation, no logging.
Status CudaBackend::launch(Native fn, const LaunchReq& r, Native stream, void* params, uint32_t param_bytes) {
  constexpr uint32_t kKnownFlags = kLaunchCooperative | kLaunchProgrammaticSerialization;
  if ((r.flags & ~kKnownFlags) != 0) return st::kNotSupported;

  CUlaunchAttribute attrs[3];
  unsigned n = 0;
  if (r.flags & kLaunchCooperative) {
    attrs[n].id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
    attrs[n].value.cooperative = 1;
    ++n;
  }
  if (r.flags & kLaunchProgrammaticSerialization) {
    attrs[n].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    attrs[n].value.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  if (r.cluster[0] != 0) {
    attrs[n].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attrs[n].value.clusterDim.x = r.cluster[0];
    attrs[n].value.clusterDim.y = r.cluster[1] ? r.cluster[1] : 1;
    attrs[n].value.clusterDim.z = r.cluster[2] ? r.cluster[2] : 1;
    ++n;
  }

  size_t size = param_bytes;
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, params, CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END};
  void** ex = param_bytes != 0 ? extra : nullptr;
  // No attributes (nearly every launch): the classic entry point, which is
  // what a native cudaLaunchKernel/cuLaunchKernel caller pays for.
  if (n == 0)
    return to_status(cuLaunchKernel(from_native<CUfunction>(fn), r.grid[0], r.grid[1], r.grid[2], r.block[0],
                                    r.block[1], r.block[2], r.shared_bytes, to_cu_stream(stream), nullptr, ex));

  CUlaunchConfig cfg = launch_config(r.grid, r.block, r.shared_bytes, to_cu_stream(stream), attrs, n);
  return to_status(cuLaunchKernelEx(&cfg, from_native<CUfunction>(fn), nullptr, ex));
}

// The descriptor holds the device address and the layout; the driver checks
// every field (alignment, ranges) as it would for a native caller.

}  // namespace vgpu::host::cuda
