// The kernel registration ABI nvcc emits, and launches.
//
// A program's static constructors hand us each translation unit's fatbin
// (__cudaRegisterFatBinary), its kernels (__cudaRegisterFunction: host stub
// -> device name) and its variables (__cudaRegisterVar: host shadow ->
// device name). Nothing reaches the host then: a module is loaded (its
// fatbin sent once, deduplicated by content hash) on the first use of any of
// its kernels or variables, and each kernel's function handle (with the
// parameter layout the host's cuFuncGetParamInfo reports) on its first use.
//
// `kernel<<<g, b, s, st>>>(args)` compiles to __cudaPushCallConfiguration, then
// the host stub, which pops the configuration and launches: CUDA 12 stubs
// with cudaLaunchKernel(stub, ...), CUDA 13 stubs with __cudaGetKernel once
// and __cudaLaunchKernel(handle, ...) (the _ptsz twin under
// --default-stream per-thread). The cudaKernel_t we hand out is our
// registration record, valid for the life of the registration.
#include <atomic>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime.h"

namespace vgpu::cudart {

namespace {
constexpr int kFatbinWrapperMagic = 0x466243b1;
// The wrapper nvcc emits around a fatbin (__fatbinwrap_*): version 1, or 2
// for relocatable device code (then `data` is the linked fatbin).
struct FatbinWrapper {
  int magic;
  int version;
  const void* data;
  void* filename_or_fatbins;
};

struct FatBinary;
struct Kernel {
  FatBinary* fb;
  const void* stub;
  std::string name;
  std::atomic<CUfunction> fn{nullptr};  // loaded on first use
  bool have_attrs = false;              // cached cudaFuncAttributes (under fb->mu)
  cudaFuncAttributes attrs{};
};
struct Var {
  FatBinary* fb;
  const void* shadow;
  std::string name;
  size_t size;
  bool constant;
  bool resolved = false;  // under fb->mu
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
};
struct FatBinary {
  const void* image;  // what the driver loads: the fatbin itself
  bool managed = false;
  std::mutex mu;  // the lazy loads below
  CUmodule module = nullptr;
  std::vector<Kernel*> kernels;
  std::vector<Var*> vars;
};

struct Registry {
  std::shared_mutex mu;
  std::unordered_map<const void*, Kernel*> by_stub;
  std::unordered_map<const void*, Var*> by_shadow;
  std::unordered_set<const void*> kernels;  // Kernel* we handed out as cudaKernel_t
  std::unordered_set<FatBinary*> fatbins;
};
// Never destroyed: __cudaUnregisterFatBinary runs from atexit handlers.
Registry& reg() {
  static Registry* r = new Registry;
  return *r;
}

// A kernel by host stub, or by the cudaKernel_t we handed out.
Kernel* find_kernel(const void* func) {
  if (!func) return nullptr;
  Registry& r = reg();
  std::shared_lock lk(r.mu);
  if (auto it = r.by_stub.find(func); it != r.by_stub.end()) return it->second;
  if (r.kernels.count(func)) return static_cast<Kernel*>(const_cast<void*>(func));
  return nullptr;
}
// The same, for a cudaKernel_t (what __cudaLaunchKernel gets).
Kernel* find_handle(cudaKernel_t kernel) {
  if (!kernel) return nullptr;
  Registry& r = reg();
  std::shared_lock lk(r.mu);
  if (r.kernels.count(kernel)) return reinterpret_cast<Kernel*>(kernel);
  if (auto it = r.by_stub.find(kernel); it != r.by_stub.end()) return it->second;
  return nullptr;
}

CUresult ensure_module(FatBinary* fb) {  // fb->mu held
  if (fb->module) return CUDA_SUCCESS;
  return cuModuleLoadFatBinary(&fb->module, fb->image);
}

// The kernel's function handle, loading its module and itself on first use.
cudaError_t resolve(Kernel* k, CUfunction* out) {
  if (CUfunction f = k->fn.load(std::memory_order_acquire)) {
    *out = f;
    return cudaSuccess;
  }
  std::lock_guard lk(k->fb->mu);
  if (!k->fn.load(std::memory_order_relaxed)) {
    if (CUresult r = ensure_module(k->fb)) return from_cu(r);
    CUfunction f = nullptr;
    if (CUresult r = cuModuleGetFunction(&f, k->fb->module, k->name.c_str())) return from_cu(r, Ctx::kFunction);
    k->fn.store(f, std::memory_order_release);
  }
  *out = k->fn.load(std::memory_order_relaxed);
  return cudaSuccess;
}

cudaError_t function_of(const void* func, Kernel** k, CUfunction* f) {
  if (!(*k = find_kernel(func))) return cudaErrorInvalidDeviceFunction;
  return resolve(*k, f);
}

// CUDA checks the launch shape before it launches; so do we, so that a bad
// shape is reported by the launch itself, not by a later synchronisation.
cudaError_t check_shape(dim3 grid, dim3 block) {
  if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z) return cudaErrorInvalidConfiguration;
  // The session serves one device, described once (init() has run).
  static const DeviceInfoRep* const d = vgpu::guest::device_info_of(0);
  if (!d) return cudaSuccess;
  const int* a = d->attr;
  auto over = [](unsigned v, int limit) { return limit > 0 && v > static_cast<unsigned>(limit); };
  if (over(block.x, a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X]) || over(block.y, a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y]) ||
      over(block.z, a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z]) || over(grid.x, a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X]) ||
      over(grid.y, a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y]) || over(grid.z, a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z]))
    return cudaErrorInvalidConfiguration;
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK] > 0 &&
      threads > static_cast<uint64_t>(a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK]))
    return cudaErrorInvalidConfiguration;
  return cudaSuccess;
}

cudaError_t launch_kernel(Kernel* k, dim3 grid, dim3 block, void** args, size_t smem, cudaStream_t s, uint32_t flags,
                          const uint32_t cluster[3]) {
  VGPU_RT_INIT();
  if (!k) return record(cudaErrorInvalidDeviceFunction);
  if (cudaError_t e = check_shape(grid, block)) return record(e);
  if (smem > UINT32_MAX) return record(cudaErrorInvalidValue);
  CUfunction f = nullptr;
  if (cudaError_t e = resolve(k, &f)) return record(e);
  const uint32_t g[3] = {grid.x, grid.y, grid.z}, b[3] = {block.x, block.y, block.z};
  // Posted: an error the kernel meets on the device comes back at the next
  // synchronising call; a refusal (no GPU behind the host) comes back now.
  return record_cu(vgpu::guest::launch(reinterpret_cast<vgpu::guest::GuestFunction*>(f), g, b,
                                       static_cast<uint32_t>(smem), cu(s), args, nullptr, flags, cluster),
                   Ctx::kFunction);
}

// Per-thread stack of <<<...>>> configurations (a stub's arguments may
// themselves launch kernels, so it nests).
struct CallConfig {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
};
thread_local std::vector<CallConfig> t_configs;

cudaError_t func_attributes(Kernel* k, CUfunction f, cudaFuncAttributes* out) {
  std::lock_guard lk(k->fb->mu);
  if (!k->have_attrs) {
    cudaFuncAttributes a{};
    struct Field {
      CUfunction_attribute attr;
      int* dst;
      bool required;
    };
    int shared = 0, constant = 0, local = 0;
    const Field fields[] = {
        {CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, &a.maxThreadsPerBlock, true},
        {CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, &shared, true},
        {CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES, &constant, true},
        {CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, &local, true},
        {CU_FUNC_ATTRIBUTE_NUM_REGS, &a.numRegs, true},
        {CU_FUNC_ATTRIBUTE_PTX_VERSION, &a.ptxVersion, true},
        {CU_FUNC_ATTRIBUTE_BINARY_VERSION, &a.binaryVersion, true},
        {CU_FUNC_ATTRIBUTE_CACHE_MODE_CA, &a.cacheModeCA, true},
        {CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, &a.maxDynamicSharedSizeBytes, true},
        {CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, &a.preferredShmemCarveout, true},
        // Cluster attributes: devices before sm_90 have none; CUDA reports 0 there.
        {CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET, &a.clusterDimMustBeSet, false},
        {CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH, &a.requiredClusterWidth, false},
        {CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT, &a.requiredClusterHeight, false},
        {CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH, &a.requiredClusterDepth, false},
        {CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, &a.nonPortableClusterSizeAllowed, false},
        {CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE, &a.clusterSchedulingPolicyPreference, false},
    };
    for (const Field& fd : fields) {
      const CUresult r = cuFuncGetAttribute(fd.dst, fd.attr, f);
      if (r == CUDA_ERROR_DEVICE_UNAVAILABLE || (r != CUDA_SUCCESS && fd.required)) return from_cu(r, Ctx::kFunction);
      if (r != CUDA_SUCCESS) *fd.dst = 0;
    }
    a.sharedSizeBytes = static_cast<size_t>(shared);
    a.constSizeBytes = static_cast<size_t>(constant);
    a.localSizeBytes = static_cast<size_t>(local);
    k->attrs = a;
    k->have_attrs = true;
  }
  *out = k->attrs;
  return cudaSuccess;
}

cudaError_t occupancy(int* n, const void* func, int block, size_t smem, unsigned flags) {
  if (!n) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  Kernel* k = nullptr;
  CUfunction f = nullptr;
  if (cudaError_t e = function_of(func, &k, &f)) return record(e);
  return record_cu(cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(n, f, block, smem, flags), Ctx::kFunction);
}

cudaError_t launch_ex(const cudaLaunchConfig_t* cfg, const void* func, void** args, bool per_thread) {
  if (!cfg) return record(cudaErrorInvalidValue);
  uint32_t flags = 0, cluster[3] = {0, 0, 0};
  for (unsigned i = 0; i < cfg->numAttrs; ++i) {
    const cudaLaunchAttribute& a = cfg->attrs[i];
    switch (a.id) {
      case cudaLaunchAttributeIgnore:
        break;
      case cudaLaunchAttributeCooperative:
        if (a.val.cooperative) flags |= vgpu::kLaunchCooperative;
        break;
      case cudaLaunchAttributeProgrammaticStreamSerialization:
        if (a.val.programmaticStreamSerializationAllowed) flags |= vgpu::kLaunchProgrammaticSerialization;
        break;
      case cudaLaunchAttributeClusterDimension:
        cluster[0] = a.val.clusterDim.x, cluster[1] = a.val.clusterDim.y, cluster[2] = a.val.clusterDim.z;
        break;
      default: {
        const std::string what = "cudaLaunchKernelExC launch attribute " + std::to_string(static_cast<int>(a.id));
        return refuse(what.c_str());
      }
    }
  }
  return launch_kernel(find_kernel(func), cfg->gridDim, cfg->blockDim, args, cfg->dynamicSmemBytes,
                       per_thread ? ptsz(cfg->stream) : cfg->stream, flags, cluster);
}
}  // namespace

cudaError_t symbol_address(const void* symbol, CUdeviceptr* ptr, size_t* size) {
  Var* v = nullptr;
  {
    Registry& r = reg();
    std::shared_lock lk(r.mu);
    if (auto it = r.by_shadow.find(symbol); it != r.by_shadow.end()) v = it->second;
  }
  if (!v) return cudaErrorInvalidSymbol;
  std::lock_guard lk(v->fb->mu);
  if (!v->resolved) {
    if (CUresult r = ensure_module(v->fb)) return from_cu(r);
    if (CUresult r = cuModuleGetGlobal_v2(&v->ptr, &v->bytes, v->fb->module, v->name.c_str()))
      return from_cu(r, Ctx::kSymbol);
    v->resolved = true;
  }
  *ptr = v->ptr;
  *size = v->bytes;
  return cudaSuccess;
}

}  // namespace vgpu::cudart

using namespace vgpu::cudart;

// ---- registration ------------------------------------------------------------------------------
VGPU_RT void** __cudaRegisterFatBinary(void* fat_cubin) {
  auto* fb = new FatBinary;
  const auto* w = static_cast<const FatbinWrapper*>(fat_cubin);
  fb->image = (w && w->magic == kFatbinWrapperMagic) ? w->data : fat_cubin;
  Registry& r = reg();
  std::unique_lock lk(r.mu);
  r.fatbins.insert(fb);
  return reinterpret_cast<void**>(fb);
}

// Registration of the unit is complete; its module still loads lazily.
VGPU_RT void __cudaRegisterFatBinaryEnd(void**) {}

VGPU_RT void __cudaRegisterFunction(void** handle, const char* host_fun, char* device_fun, const char* device_name,
                                    int, uint3*, uint3*, dim3*, dim3*, int*) {
  auto* fb = reinterpret_cast<FatBinary*>(handle);
  if (!fb || !host_fun) return;
  auto* k = new Kernel;
  k->fb = fb;
  k->stub = host_fun;
  k->name = device_name ? device_name : device_fun;
  Registry& r = reg();
  std::unique_lock lk(r.mu);
  if (!r.fatbins.count(fb)) {
    delete k;
    return;
  }
  fb->kernels.push_back(k);
  r.by_stub[host_fun] = k;
  r.kernels.insert(k);
}

VGPU_RT void __cudaRegisterVar(void** handle, char* host_var, char* device_address, const char* device_name, int,
                               size_t size, int constant, int) {
  auto* fb = reinterpret_cast<FatBinary*>(handle);
  if (!fb || !host_var) return;
  auto* v = new Var{fb, host_var, device_name ? device_name : device_address, size, constant != 0};
  Registry& r = reg();
  std::unique_lock lk(r.mu);
  if (!r.fatbins.count(fb)) {
    delete v;
    return;
  }
  fb->vars.push_back(v);
  r.by_shadow[host_var] = v;
}

// __managed__ variables need managed memory, which we do not provide.
VGPU_RT void __cudaRegisterManagedVar(void** handle, void**, char*, const char*, int, size_t, int, int) {
  vgpu::guest::log_unsupported("__managed__ variables (__cudaRegisterManagedVar)");
  auto* fb = reinterpret_cast<FatBinary*>(handle);
  Registry& r = reg();
  std::unique_lock lk(r.mu);
  if (fb && r.fatbins.count(fb)) fb->managed = true;
}

// Called before the first access to a __managed__ variable of the unit: it
// loads the module; 0 tells the program managed memory is not initialised.
VGPU_RT char __cudaInitModule(void** handle) {
  auto* fb = reinterpret_cast<FatBinary*>(handle);
  if (!fb || init() != cudaSuccess) return 0;
  std::lock_guard lk(fb->mu);
  if (ensure_module(fb) != CUDA_SUCCESS) return 0;
  return fb->managed ? 0 : 1;
}

VGPU_RT void __cudaUnregisterFatBinary(void** handle) {
  auto* fb = reinterpret_cast<FatBinary*>(handle);
  Registry& r = reg();
  {
    std::unique_lock lk(r.mu);
    if (!fb || !r.fatbins.erase(fb)) return;
    for (Kernel* k : fb->kernels) {
      if (auto it = r.by_stub.find(k->stub); it != r.by_stub.end() && it->second == k) r.by_stub.erase(it);
      r.kernels.erase(k);
    }
    for (Var* v : fb->vars)
      if (auto it = r.by_shadow.find(v->shadow); it != r.by_shadow.end() && it->second == v) r.by_shadow.erase(it);
  }
  // The host frees everything at the end of the session anyway; unloading
  // matters for libraries that are dlclose()d while the process goes on.
  if (fb->module) cuModuleUnload(fb->module);
  for (Kernel* k : fb->kernels) delete k;
  for (Var* v : fb->vars) delete v;
  delete fb;
}

// ---- <<<...>>> configuration -------------------------------------------------------------------
VGPU_RT unsigned __cudaPushCallConfiguration(dim3 grid, dim3 block, size_t smem, struct CUstream_st* stream) {
  t_configs.push_back(CallConfig{grid, block, smem, reinterpret_cast<cudaStream_t>(stream)});
  return 0;
}

VGPU_RT cudaError_t __cudaPopCallConfiguration(dim3* grid, dim3* block, size_t* smem, void* stream) {
  if (t_configs.empty()) return record(cudaErrorMissingConfiguration);
  const CallConfig c = t_configs.back();
  t_configs.pop_back();
  if (grid) *grid = c.grid;
  if (block) *block = c.block;
  if (smem) *smem = c.smem;
  if (stream) *static_cast<cudaStream_t*>(stream) = c.stream;
  return cudaSuccess;
}

// ---- launches -----------------------------------------------------------------------------------
VGPU_RT cudaError_t __cudaGetKernel(cudaKernel_t* kernel, const void* func) {
  if (!kernel) return record(cudaErrorInvalidValue);
  Kernel* k = find_kernel(func);
  if (!k) return record(cudaErrorInvalidDeviceFunction);
  *kernel = reinterpret_cast<cudaKernel_t>(k);
  return cudaSuccess;
}
VGPU_RT cudaError_t cudaGetKernel(cudaKernel_t* kernel, const void* func) { return __cudaGetKernel(kernel, func); }

VGPU_RT cudaError_t __cudaLaunchKernel(cudaKernel_t kernel, dim3 grid, dim3 block, void** args, size_t smem,
                                       cudaStream_t s) {
  return launch_kernel(find_handle(kernel), grid, block, args, smem, s, 0, nullptr);
}
VGPU_RT cudaError_t __cudaLaunchKernel_ptsz(cudaKernel_t kernel, dim3 grid, dim3 block, void** args, size_t smem,
                                            cudaStream_t s) {
  return launch_kernel(find_handle(kernel), grid, block, args, smem, ptsz(s), 0, nullptr);
}

VGPU_RT cudaError_t cudaLaunchKernel(const void* func, dim3 grid, dim3 block, void** args, size_t smem, cudaStream_t s) {
  return launch_kernel(find_kernel(func), grid, block, args, smem, s, 0, nullptr);
}
VGPU_RT cudaError_t cudaLaunchKernel_ptsz(const void* func, dim3 grid, dim3 block, void** args, size_t smem,
                                          cudaStream_t s) {
  return launch_kernel(find_kernel(func), grid, block, args, smem, ptsz(s), 0, nullptr);
}

VGPU_RT cudaError_t cudaLaunchCooperativeKernel(const void* func, dim3 grid, dim3 block, void** args, size_t smem,
                                                cudaStream_t s) {
  return launch_kernel(find_kernel(func), grid, block, args, smem, s, vgpu::kLaunchCooperative, nullptr);
}
VGPU_RT cudaError_t cudaLaunchCooperativeKernel_ptsz(const void* func, dim3 grid, dim3 block, void** args,
                                                     size_t smem, cudaStream_t s) {
  return launch_kernel(find_kernel(func), grid, block, args, smem, ptsz(s), vgpu::kLaunchCooperative, nullptr);
}

VGPU_RT cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t* cfg, const void* func, void** args) {
  return launch_ex(cfg, func, args, false);
}
VGPU_RT cudaError_t cudaLaunchKernelExC_ptsz(const cudaLaunchConfig_t* cfg, const void* func, void** args) {
  return launch_ex(cfg, func, args, true);
}

// ---- functions -----------------------------------------------------------------------------------
VGPU_RT cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes* attr, const void* func) {
  if (!attr) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  Kernel* k = nullptr;
  CUfunction f = nullptr;
  if (cudaError_t e = function_of(func, &k, &f)) return record(e);
  return record(func_attributes(k, f, attr));
}

// cudaFuncAttribute values are CUfunction_attribute values.
VGPU_RT cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value) {
  VGPU_RT_INIT();
  Kernel* k = nullptr;
  CUfunction f = nullptr;
  if (cudaError_t e = function_of(func, &k, &f)) return record(e);
  if (CUresult r = cuFuncSetAttribute(f, static_cast<CUfunction_attribute>(attr), value)) return record_cu(r, Ctx::kFunction);
  std::lock_guard lk(k->fb->mu);
  k->have_attrs = false;  // read them again
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaFuncGetName(const char** name, const void* func) {
  if (!name) return record(cudaErrorInvalidValue);
  Kernel* k = find_kernel(func);
  if (!k) return record(cudaErrorInvalidDeviceFunction);
  *name = k->name.c_str();
  return cudaSuccess;
}

VGPU_RT cudaError_t cudaFuncGetParamInfo(const void* func, size_t index, size_t* offset, size_t* size) {
  VGPU_RT_INIT();
  Kernel* k = nullptr;
  CUfunction f = nullptr;
  if (cudaError_t e = function_of(func, &k, &f)) return record(e);
  return record_cu(cuFuncGetParamInfo(f, index, offset, size), Ctx::kFunction);
}

VGPU_RT cudaError_t cudaGetFuncBySymbol(cudaFunction_t* fp, const void* func) {
  if (!fp) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  Kernel* k = nullptr;
  CUfunction f = nullptr;
  if (cudaError_t e = function_of(func, &k, &f)) return record(e);
  *fp = reinterpret_cast<cudaFunction_t>(f);  // our libcuda's CUfunction
  return cudaSuccess;
}

// cudaFuncCache values are CUfunc_cache values.
VGPU_RT cudaError_t cudaFuncSetCacheConfig(const void* func, enum cudaFuncCache config) {
  VGPU_RT_INIT();
  Kernel* k = nullptr;
  CUfunction f = nullptr;
  if (cudaError_t e = function_of(func, &k, &f)) return record(e);
  return record_cu(cuFuncSetCacheConfig(f, static_cast<CUfunc_cache>(config)), Ctx::kFunction);
}
VGPU_RT cudaError_t cudaFuncSetSharedMemConfig(const void*, enum cudaSharedMemConfig) {
  VGPU_RT_REFUSE("cudaFuncSetSharedMemConfig");
}

// ---- occupancy -------------------------------------------------------------------------------------
VGPU_RT cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, const void* func, int block, size_t smem) {
  return occupancy(n, func, block, smem, cudaOccupancyDefault);
}
VGPU_RT cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* n, const void* func, int block,
                                                                           size_t smem, unsigned int flags) {
  return occupancy(n, func, block, smem, flags);
}
VGPU_RT cudaError_t cudaOccupancyAvailableDynamicSMemPerBlock(size_t* bytes, const void* func, int num_blocks,
                                                               int block) {
  if (!bytes) return record(cudaErrorInvalidValue);
  VGPU_RT_INIT();
  Kernel* k = nullptr;
  CUfunction f = nullptr;
  if (cudaError_t e = function_of(func, &k, &f)) return record(e);
  return record_cu(cuOccupancyAvailableDynamicSMemPerBlock(bytes, f, num_blocks, block), Ctx::kFunction);
}
namespace {
// The runtime's launch configuration as the driver's: cudaLaunchAttribute
// and CUlaunchAttribute share their ids and value layout.
cudaError_t occupancy_clusters(int* out, const void* func, const cudaLaunchConfig_t* cfg, bool potential) {
  if (!out || !cfg) return record(cudaErrorInvalidValue);
  static_assert(sizeof(cudaLaunchAttribute) == sizeof(CUlaunchAttribute));
  VGPU_RT_INIT();
  Kernel* k = nullptr;
  CUfunction f = nullptr;
  if (cudaError_t e = function_of(func, &k, &f)) return record(e);
  CUlaunchConfig c{};
  c.gridDimX = cfg->gridDim.x, c.gridDimY = cfg->gridDim.y, c.gridDimZ = cfg->gridDim.z;
  c.blockDimX = cfg->blockDim.x, c.blockDimY = cfg->blockDim.y, c.blockDimZ = cfg->blockDim.z;
  c.sharedMemBytes = static_cast<unsigned>(cfg->dynamicSmemBytes);
  c.attrs = reinterpret_cast<CUlaunchAttribute*>(cfg->attrs);
  c.numAttrs = cfg->numAttrs;
  CUresult r = potential ? cuOccupancyMaxPotentialClusterSize(out, f, &c) : cuOccupancyMaxActiveClusters(out, f, &c);
  return record_cu(r, Ctx::kFunction);
}
}  // namespace
VGPU_RT cudaError_t cudaOccupancyMaxPotentialClusterSize(int* size, const void* func, const cudaLaunchConfig_t* cfg) {
  return occupancy_clusters(size, func, cfg, true);
}
VGPU_RT cudaError_t cudaOccupancyMaxActiveClusters(int* clusters, const void* func, const cudaLaunchConfig_t* cfg) {
  return occupancy_clusters(clusters, func, cfg, false);
}
