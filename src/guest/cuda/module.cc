// Modules, kernels and launches. Images (fatbins, cubins, PTX) go to the
// host once per content hash; parameter layouts come from the host's
// cuFuncGetParamInfo and are cached in the GuestFunction.
#include <elf.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "driver.h"

namespace vgpu::guest {

namespace {
constexpr uint32_t kFatbinMagic = 0xBA55ED50u;
constexpr uint32_t kFatbinWrapperMagic = 0x466243b1u;
std::mutex g_load_mu;  // BlobAppend..ModuleLoad must not interleave between threads

// How many bytes an image given by pointer alone spans.
size_t image_size(const void* image, const void** start) {
  const auto* p = static_cast<const unsigned char*>(image);
  // The image may be a short PTX string: compare byte by byte, so a NUL (in
  // no magic) stops the comparison before it reads past the string's end.
  auto starts_with = [p](uint32_t m) {
    for (int i = 0; i < 4; ++i)
      if (p[i] != ((m >> (8 * i)) & 0xff)) return false;
    return true;
  };
  const uint32_t magic = starts_with(kFatbinWrapperMagic) ? kFatbinWrapperMagic
                         : starts_with(kFatbinMagic)      ? kFatbinMagic
                                                          : 0;
  if (magic == kFatbinWrapperMagic) {
    const void* data;
    std::memcpy(&data, p + 8, sizeof data);
    return image_size(data, start);
  }
  *start = image;
  if (magic == kFatbinMagic) {
    uint16_t header;
    uint64_t body;
    std::memcpy(&header, p + 6, 2);
    std::memcpy(&body, p + 8, 8);
    return header + body;
  }
  if (std::strncmp(reinterpret_cast<const char*>(p), ELFMAG, SELFMAG) == 0 && p[EI_CLASS] == ELFCLASS64) {
    Elf64_Ehdr eh;
    std::memcpy(&eh, p, sizeof eh);
    size_t end = std::max<size_t>(eh.e_shoff + size_t(eh.e_shnum) * eh.e_shentsize,
                                  eh.e_phoff + size_t(eh.e_phnum) * eh.e_phentsize);
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
      Elf64_Shdr sh;
      std::memcpy(&sh, p + eh.e_shoff + size_t(i) * eh.e_shentsize, sizeof sh);
      if (sh.sh_type != SHT_NOBITS) end = std::max<size_t>(end, sh.sh_offset + sh.sh_size);
    }
    return end;
  }
  return std::strlen(static_cast<const char*>(image)) + 1;  // PTX text
}

void hash128(const void* data, size_t n, uint64_t* lo, uint64_t* hi) {
  // Two FNV-1a lanes with different bases: collisions need both to collide.
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull ^ n;
  for (size_t i = 0; i < n; ++i) {
    a = (a ^ p[i]) * 0x100000001b3ull;
    b = (b ^ p[i]) * 0x100000001b3ull + (b >> 29);
  }
  *lo = a;
  *hi = b;
}
}  // namespace

CUresult load_module_image(const void* image, size_t, Handle* out) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!image || !out) return CUDA_ERROR_INVALID_VALUE;
  const void* start = image;
  const size_t n = image_size(image, &start);
  ModuleLoadReq r{};
  hash128(start, n, &r.hash_lo, &r.hash_hi);
  std::lock_guard lk(g_load_mu);
  HandleRep rep{};
  Status s = c->call<Op::ModuleLoad>(r, &rep);  // by hash: loaded already?
  if (s == st::kNotFound) {
    if ((s = c->upload_blob(start, n)) != st::kOk) return to_cu(s);
    r.bytes = n;
    s = c->call<Op::ModuleLoad>(r, &rep);
  }
  if (s == st::kOk) *out = rep.handle;
  return to_cu(s);
}

CUresult load_function(Handle module, const char* name, GuestFunction** out) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!name || !out) return CUDA_ERROR_INVALID_VALUE;
  FunctionRep rep{};
  std::vector<ParamSlot> params(kMaxParams);
  uint32_t got = 0;
  Status s = c->call<Op::ModuleGetFunction>(ModuleGetFunctionReq{module}, &rep, as_bytes(name, std::strlen(name) + 1),
                                            {reinterpret_cast<std::byte*>(params.data()), params.size() * sizeof(ParamSlot)}, &got);
  if (s != st::kOk) return to_cu(s);
  params.resize(got / sizeof(ParamSlot));
  auto* f = new GuestFunction;
  f->host = rep.function;
  f->param_status = rep.param_status;
  f->param_bytes = rep.param_bytes;
  f->params = std::move(params);
  f->name = name;
  *out = f;
  return CUDA_SUCCESS;
}

// By name from the host (ModuleFunctions, in pages that fit our buffer),
// then each a GuestFunction as cuModuleGetFunction makes it.
CUresult module_functions(GuestModule* m, const std::vector<GuestFunction*>** out) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!m || !out) return CUDA_ERROR_INVALID_VALUE;
  if (m->deferred != CUDA_SUCCESS) return m->deferred;
  std::lock_guard lk(m->mu);
  if (!m->listed) {
    std::vector<std::string> names;
    std::vector<char> buf(64 * 1024);
    for (uint32_t first = 0;;) {
      ModuleFunctionsRep rep{};
      uint32_t got = 0;
      const ModuleFunctionsReq req{m->host, first, static_cast<uint32_t>(buf.size())};
      Status s = c->call<Op::ModuleFunctions>(req, &rep, {}, {reinterpret_cast<std::byte*>(buf.data()), buf.size()}, &got);
      if (s != st::kOk) return to_cu(s);
      // `returned` NUL-terminated names in the bytes that came back.
      size_t at = 0;
      for (uint32_t i = 0; i < rep.returned; ++i) {
        const void* nul = at < got ? std::memchr(buf.data() + at, 0, got - at) : nullptr;
        if (!nul) return CUDA_ERROR_UNKNOWN;  // a reply the host would never send
        const size_t end = static_cast<size_t>(static_cast<const char*>(nul) - buf.data());
        names.emplace_back(buf.data() + at, end - at);
        at = end + 1;
      }
      first += rep.returned;
      if (first >= rep.count || rep.returned == 0) break;
    }
    std::vector<GuestFunction*> fns;
    for (const std::string& n : names) {
      GuestFunction* f = nullptr;
      if (CUresult r = load_function(m->host, n.c_str(), &f); r != CUDA_SUCCESS) {
        for (GuestFunction* g : fns) delete g;
        return r;
      }
      fns.push_back(f);
    }
    m->functions = std::move(fns);
    m->listed = true;
  }
  *out = &m->functions;
  return CUDA_SUCCESS;
}

CUresult launch(GuestFunction* f, const uint32_t grid[3], const uint32_t block[3], uint32_t smem, CUstream stream,
                void** args, void** extra, uint32_t flags, const uint32_t cluster[3]) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!f) return CUDA_ERROR_INVALID_HANDLE;
  if (f->param_status != st::kOk) {
    log_unsupported("kernel launch on this host backend (no GPU)");
    return to_cu(f->param_status);
  }
  LaunchReq r{};
  r.function = f->host;
  r.stream = stream_id(stream);
  for (int i = 0; i < 3; ++i) r.grid[i] = grid[i], r.block[i] = block[i], r.cluster[i] = cluster ? cluster[i] : 0;
  r.shared_bytes = smem;
  r.flags = flags;
  if (extra) {
    // CU_LAUNCH_PARAM_BUFFER_POINTER / SIZE: the caller packed the buffer.
    const void* buf = nullptr;
    size_t size = 0;
    for (void** e = extra; *e != CU_LAUNCH_PARAM_END; e += 2) {
      if (*e == CU_LAUNCH_PARAM_BUFFER_POINTER) buf = e[1];
      else if (*e == CU_LAUNCH_PARAM_BUFFER_SIZE) size = *static_cast<size_t*>(e[1]);
      else return CUDA_ERROR_INVALID_VALUE;
    }
    if (!buf || size < f->param_bytes) return CUDA_ERROR_INVALID_VALUE;
    r.param_bytes = f->param_bytes;
    return to_cu(c->post<Op::Launch>(r, as_bytes(buf, f->param_bytes)));
  }
  if (!args && !f->params.empty()) return CUDA_ERROR_INVALID_VALUE;
  alignas(16) thread_local std::byte buf[32768];
  if (f->param_bytes > sizeof buf) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < f->params.size(); ++i) std::memcpy(buf + f->params[i].offset, args[i], f->params[i].size);
  r.param_bytes = f->param_bytes;
  return to_cu(c->post<Op::Launch>(r, as_bytes(buf, f->param_bytes)));
}

}  // namespace vgpu::guest

using namespace vgpu;
using namespace vgpu::guest;

namespace {
CUresult new_module(CUmodule* m, const void* image) {
  if (!m) return CUDA_ERROR_INVALID_VALUE;
  Handle h;
  CUresult r = load_module_image(image, 0, &h);
  if (r == CUDA_SUCCESS) *m = reinterpret_cast<CUmodule>(new GuestModule{h});
  return r;
}
Handle host_module(CUmodule m) { return m ? reinterpret_cast<GuestModule*>(m)->host : 0; }
}  // namespace

CUresult CUDAAPI cuModuleLoadData(CUmodule* m, const void* image) { return new_module(m, image); }
CUresult CUDAAPI cuModuleLoadFatBinary(CUmodule* m, const void* fatbin) { return new_module(m, fatbin); }
// JIT linking (cuFFT's callbacks, NVRTC-with-LTO users) runs the driver's
// linker, which the host has and this library does not; the linked image
// would have to come back to the guest. Refused for now: a caller gets an
// error at cuLinkCreate and links nothing.
CUresult CUDAAPI cuLinkCreate_v2(unsigned int, CUjit_option*, void**, CUlinkState*) { VGPU_REFUSE("cuLinkCreate"); }
CUresult CUDAAPI cuLinkCreate(unsigned int n, CUjit_option* o, void** v, CUlinkState* st) {
  return cuLinkCreate_v2(n, o, v, st);
}
CUresult CUDAAPI cuLinkAddData_v2(CUlinkState, CUjitInputType, void*, size_t, const char*, unsigned int, CUjit_option*,
                                  void**) {
  return CUDA_ERROR_INVALID_HANDLE;  // no link state was ever created
}
CUresult CUDAAPI cuLinkAddData(CUlinkState s, CUjitInputType t, void* d, size_t n, const char* name, unsigned int k,
                               CUjit_option* o, void** v) {
  return cuLinkAddData_v2(s, t, d, n, name, k, o, v);
}
CUresult CUDAAPI cuLinkAddFile_v2(CUlinkState, CUjitInputType, const char*, unsigned int, CUjit_option*, void**) {
  return CUDA_ERROR_INVALID_HANDLE;
}
CUresult CUDAAPI cuLinkAddFile(CUlinkState s, CUjitInputType t, const char* path, unsigned int k, CUjit_option* o,
                               void** v) {
  return cuLinkAddFile_v2(s, t, path, k, o, v);
}
CUresult CUDAAPI cuLinkComplete(CUlinkState, void**, size_t*) { return CUDA_ERROR_INVALID_HANDLE; }
CUresult CUDAAPI cuLinkDestroy(CUlinkState) { return CUDA_ERROR_INVALID_HANDLE; }

CUresult CUDAAPI cuModuleLoadDataEx(CUmodule* m, const void* image, unsigned int n, CUjit_option*, void**) {
  // JIT options only tune or log compilation; the host's driver compiles with its defaults.
  (void)n;
  return new_module(m, image);
}
namespace {
// A module or library file (cubin, fatbin or PTX) read whole, NUL-terminated
// (PTX is text); the image then travels like one given in memory.
CUresult read_image(const char* path, std::vector<char>* data) {
  if (!path) return CUDA_ERROR_INVALID_VALUE;
  FILE* f = std::fopen(path, "rb");
  if (!f) return CUDA_ERROR_FILE_NOT_FOUND;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) data->insert(data->end(), buf, buf + n);
  std::fclose(f);
  data->push_back('\0');
  return CUDA_SUCCESS;
}
}  // namespace
CUresult CUDAAPI cuModuleLoad(CUmodule* m, const char* path) {
  VGPU_DRIVER_OR_RETURN(c);
  std::vector<char> data;
  if (CUresult r = read_image(path, &data)) return r;
  return new_module(m, data.data());
}

CUresult CUDAAPI cuModuleUnload(CUmodule m) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!m) return CUDA_ERROR_INVALID_HANDLE;
  Status s = c->call<Op::ModuleUnload>(ModuleReq{host_module(m)});
  if (s == st::kOk) delete reinterpret_cast<GuestModule*>(m);
  return to_cu(s);
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
  if (!f || !m) return CUDA_ERROR_INVALID_VALUE;
  GuestFunction* g;
  CUresult r = load_function(host_module(m), name, &g);
  if (r == CUDA_SUCCESS) *f = reinterpret_cast<CUfunction>(g);
  return r;
}

// A module's kernels (CUDA 12.4), each handle the same every time it is
// listed; the order is the host driver's (on the CPU backend: the image's).
CUresult CUDAAPI cuModuleGetFunctionCount(unsigned int* count, CUmodule m) {
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  if (!m) return CUDA_ERROR_INVALID_HANDLE;
  const std::vector<GuestFunction*>* fns = nullptr;
  if (CUresult r = module_functions(reinterpret_cast<GuestModule*>(m), &fns); r != CUDA_SUCCESS) return r;
  *count = static_cast<unsigned int>(fns->size());
  return CUDA_SUCCESS;
}
// At most n handles, the first n the module lists.
CUresult CUDAAPI cuModuleEnumerateFunctions(CUfunction* functions, unsigned int n, CUmodule m) {
  if (!functions && n) return CUDA_ERROR_INVALID_VALUE;
  if (!m) return CUDA_ERROR_INVALID_HANDLE;
  const std::vector<GuestFunction*>* fns = nullptr;
  if (CUresult r = module_functions(reinterpret_cast<GuestModule*>(m), &fns); r != CUDA_SUCCESS) return r;
  for (size_t i = 0; i < n && i < fns->size(); ++i) functions[i] = reinterpret_cast<CUfunction>((*fns)[i]);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetGlobal_v2(CUdeviceptr* p, size_t* bytes, CUmodule m, const char* name) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!m || !name) return CUDA_ERROR_INVALID_VALUE;
  GlobalRep rep{};
  Status s = c->call<Op::ModuleGetGlobal>(ModuleGetGlobalReq{host_module(m)}, &rep, as_bytes(name, std::strlen(name) + 1));
  // Said once, as a refused launch is: cuFFT's plans stop here on the CPU backend.
  if (s == st::kNotSupported) log_unsupported("cuModuleGetGlobal (a module's __device__ variables) on this host backend");
  if (s != st::kOk) return to_cu(s);
  if (p) *p = rep.ptr;
  if (bytes) *bytes = rep.bytes;
  note_device_range(rep.ptr, rep.bytes);
  return CUDA_SUCCESS;
}

// Libraries (context-independent modules) map onto modules: one context per session.
//
// Under lazy loading (the default) NVIDIA's driver loads a library's code
// only when one of its kernels or globals is asked for, so a library whose
// image holds no code for this GPU loads fine and the error comes then.
// NVIDIA's own libraries rely on it: cuBLAS 13 carries containers built only
// for sm_75 or only for sm_120, which its runtime registers on every GPU.
// The host's driver is asked at once (it loads lazily itself); that one
// error is kept for later, any other is returned now.
bool vgpu::guest::lazy_module_loading() {
  return guest_config().module_loading == ModuleLoading::kLazy;
}
CUresult CUDAAPI cuModuleGetLoadingMode(CUmoduleLoadingMode* mode) {
  if (!mode) return CUDA_ERROR_INVALID_VALUE;
  *mode = lazy_module_loading() ? CU_MODULE_LAZY_LOADING : CU_MODULE_EAGER_LOADING;
  return CUDA_SUCCESS;
}
namespace {
GuestModule* library(CUlibrary lib) { return reinterpret_cast<GuestModule*>(lib); }
}  // namespace
CUresult CUDAAPI cuLibraryLoadData(CUlibrary* lib, const void* code, CUjit_option*, void**, unsigned int, CUlibraryOption*,
                                   void**, unsigned int) {
  CUresult r = new_module(reinterpret_cast<CUmodule*>(lib), code);
  if (r == CUDA_ERROR_NO_BINARY_FOR_GPU && lib && lazy_module_loading()) {
    *lib = reinterpret_cast<CUlibrary>(new GuestModule{0, r});
    return CUDA_SUCCESS;
  }
  return r;
}
// cuDNN's runtime-compiled engines (SDPA among them) need this entry point
// to count the driver as usable.
CUresult CUDAAPI cuLibraryLoadFromFile(CUlibrary* lib, const char* path, CUjit_option* jo, void** jv, unsigned int nj,
                                       CUlibraryOption* lo, void** lv, unsigned int nl) {
  VGPU_DRIVER_OR_RETURN(c);
  std::vector<char> data;
  if (CUresult r = read_image(path, &data)) return r;
  return cuLibraryLoadData(lib, data.data(), jo, jv, nj, lo, lv, nl);
}
CUresult CUDAAPI cuLibraryUnload(CUlibrary lib) {
  if (lib && library(lib)->deferred != CUDA_SUCCESS) {
    delete library(lib);
    return CUDA_SUCCESS;
  }
  return cuModuleUnload(reinterpret_cast<CUmodule>(lib));
}
CUresult CUDAAPI cuLibraryGetModule(CUmodule* m, CUlibrary lib) {
  if (!m || !lib) return CUDA_ERROR_INVALID_VALUE;
  if (library(lib)->deferred != CUDA_SUCCESS) return library(lib)->deferred;
  *m = reinterpret_cast<CUmodule>(lib);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuLibraryGetKernel(CUkernel* k, CUlibrary lib, const char* name) {
  if (lib && library(lib)->deferred != CUDA_SUCCESS) return library(lib)->deferred;
  return cuModuleGetFunction(reinterpret_cast<CUfunction*>(k), reinterpret_cast<CUmodule>(lib), name);
}
// A library is a module here, and a CUkernel the same object as a CUfunction.
CUresult CUDAAPI cuLibraryGetKernelCount(unsigned int* count, CUlibrary lib) {
  return cuModuleGetFunctionCount(count, reinterpret_cast<CUmodule>(lib));
}
CUresult CUDAAPI cuLibraryEnumerateKernels(CUkernel* kernels, unsigned int n, CUlibrary lib) {
  return cuModuleEnumerateFunctions(reinterpret_cast<CUfunction*>(kernels), n, reinterpret_cast<CUmodule>(lib));
}
CUresult CUDAAPI cuKernelGetFunction(CUfunction* f, CUkernel k) {
  if (!f || !k) return CUDA_ERROR_INVALID_VALUE;
  *f = reinterpret_cast<CUfunction>(k);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuLibraryGetGlobal(CUdeviceptr* p, size_t* bytes, CUlibrary lib, const char* name) {
  if (lib && library(lib)->deferred != CUDA_SUCCESS) return library(lib)->deferred;
  return cuModuleGetGlobal_v2(p, bytes, reinterpret_cast<CUmodule>(lib), name);
}

CUresult CUDAAPI cuFuncGetAttribute(int* v, CUfunction_attribute attr, CUfunction f) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!v || !f) return CUDA_ERROR_INVALID_VALUE;
  auto* g = reinterpret_cast<GuestFunction*>(f);
  {
    std::lock_guard lk(g->mu);
    if (auto it = g->attrs.find(attr); it != g->attrs.end()) {
      *v = it->second;
      return CUDA_SUCCESS;
    }
  }
  IntRep rep{};
  Status s = c->call<Op::FuncGetAttribute>(FuncGetAttributeReq{g->host, attr, 0}, &rep);
  if (s != st::kOk) return to_cu(s);
  *v = static_cast<int>(rep.value);
  std::lock_guard lk(g->mu);
  g->attrs[attr] = *v;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuKernelGetAttribute(int* v, CUfunction_attribute attr, CUkernel k, CUdevice) {
  return cuFuncGetAttribute(v, attr, reinterpret_cast<CUfunction>(k));
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction f, CUfunction_attribute attr, int value) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!f) return CUDA_ERROR_INVALID_HANDLE;
  auto* g = reinterpret_cast<GuestFunction*>(f);
  Status s = c->call<Op::FuncSetAttribute>(FuncSetAttributeReq{g->host, attr, value});
  std::lock_guard lk(g->mu);
  g->attrs.clear();  // a limit changed: other attributes and occupancy may follow it
  g->occupancy.clear();
  return to_cu(s);
}
CUresult CUDAAPI cuKernelSetAttribute(CUfunction_attribute attr, int value, CUkernel k, CUdevice) {
  return cuFuncSetAttribute(reinterpret_cast<CUfunction>(k), attr, value);
}

CUresult CUDAAPI cuFuncGetParamInfo(CUfunction f, size_t index, size_t* offset, size_t* size) {
  auto* g = reinterpret_cast<GuestFunction*>(f);
  if (!g) return CUDA_ERROR_INVALID_HANDLE;
  if (g->param_status != st::kOk) return to_cu(g->param_status);
  if (index >= g->params.size()) return CUDA_ERROR_INVALID_VALUE;
  if (offset) *offset = g->params[index].offset;
  if (size) *size = g->params[index].size;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetName(const char** name, CUfunction f) {
  if (!name || !f) return CUDA_ERROR_INVALID_VALUE;
  *name = reinterpret_cast<GuestFunction*>(f)->name.c_str();
  return CUDA_SUCCESS;
}

// A CUkernel is the same GuestFunction as a CUfunction (cuLibraryGetKernel).
CUresult CUDAAPI cuKernelGetName(const char** name, CUkernel k) { return cuFuncGetName(name, reinterpret_cast<CUfunction>(k)); }
CUresult CUDAAPI cuKernelGetParamInfo(CUkernel k, size_t index, size_t* offset, size_t* size) {
  return cuFuncGetParamInfo(reinterpret_cast<CUfunction>(k), index, offset, size);
}

// A cache configuration is a preference between L1 and shared memory, which
// since Volta share one array: the carveout attribute sets that split (in
// percent of the maximum shared memory; -1 the default), so the preference
// goes to the host as that attribute.
CUresult CUDAAPI cuFuncSetCacheConfig(CUfunction f, CUfunc_cache config) {
  int carveout;
  switch (config) {
    case CU_FUNC_CACHE_PREFER_NONE: carveout = CU_SHAREDMEM_CARVEOUT_DEFAULT; break;
    case CU_FUNC_CACHE_PREFER_SHARED: carveout = CU_SHAREDMEM_CARVEOUT_MAX_SHARED; break;
    case CU_FUNC_CACHE_PREFER_L1: carveout = CU_SHAREDMEM_CARVEOUT_MAX_L1; break;
    case CU_FUNC_CACHE_PREFER_EQUAL: carveout = 50; break;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
  return cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, carveout);
}
CUresult CUDAAPI cuKernelSetCacheConfig(CUkernel k, CUfunc_cache config, CUdevice) {
  return cuFuncSetCacheConfig(reinterpret_cast<CUfunction>(k), config);
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* n, CUfunction f, int block, size_t smem, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!n || !f) return CUDA_ERROR_INVALID_VALUE;
  auto* g = reinterpret_cast<GuestFunction*>(f);
  const auto key = std::make_tuple(block, smem, flags);
  {
    std::lock_guard lk(g->mu);
    if (auto it = g->occupancy.find(key); it != g->occupancy.end()) {
      *n = it->second;
      return CUDA_SUCCESS;
    }
  }
  IntRep rep{};
  Status s = c->call<Op::OccupancyMaxBlocks>(OccupancyReq{g->host, block, flags, smem}, &rep);
  if (s != st::kOk) return to_cu(s);
  *n = static_cast<int>(rep.value);
  std::lock_guard lk(g->mu);
  g->occupancy[key] = *n;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(int* n, CUfunction f, int block, size_t smem) {
  return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(n, f, block, smem, 0);
}

CUresult CUDAAPI cuOccupancyAvailableDynamicSMemPerBlock(size_t* bytes, CUfunction f, int num_blocks, int block) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!bytes || !f) return CUDA_ERROR_INVALID_VALUE;
  IntRep rep{};
  Status s = c->call<Op::OccupancySmem>(OccupancySmemReq{reinterpret_cast<GuestFunction*>(f)->host, num_blocks, block},
                                        &rep);
  if (s != st::kOk) return to_cu(s);
  *bytes = static_cast<size_t>(rep.value);
  return CUDA_SUCCESS;
}

namespace {
// The cluster queries: the configuration's shape and its cluster attributes go
// to the host; its stream and the attributes that do not change occupancy
// (priority, programmatic serialisation, ...) stay here.
CUresult occupancy_clusters(int* out, CUfunction f, const CUlaunchConfig* cfg, uint32_t query) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!out || !f || !cfg) return CUDA_ERROR_INVALID_VALUE;
  OccupancyClustersReq r{};
  r.function = reinterpret_cast<GuestFunction*>(f)->host;
  r.grid[0] = cfg->gridDimX, r.grid[1] = cfg->gridDimY, r.grid[2] = cfg->gridDimZ;
  r.block[0] = cfg->blockDimX, r.block[1] = cfg->blockDimY, r.block[2] = cfg->blockDimZ;
  r.smem = cfg->sharedMemBytes;
  r.query = query;
  if (cfg->numAttrs && !cfg->attrs) return CUDA_ERROR_INVALID_VALUE;
  for (unsigned i = 0; i < cfg->numAttrs; ++i) {
    const CUlaunchAttribute& a = cfg->attrs[i];
    if (a.id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
      r.cluster[0] = a.value.clusterDim.x, r.cluster[1] = a.value.clusterDim.y, r.cluster[2] = a.value.clusterDim.z;
    } else if (a.id == CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE) {
      r.policy = static_cast<uint32_t>(a.value.clusterSchedulingPolicyPreference);
    }
  }
  IntRep rep{};
  Status s = c->call<Op::OccupancyClusters>(r, &rep);
  if (s != st::kOk) return to_cu(s);
  *out = static_cast<int>(rep.value);
  return CUDA_SUCCESS;
}
}  // namespace

CUresult CUDAAPI cuOccupancyMaxActiveClusters(int* clusters, CUfunction f, const CUlaunchConfig* cfg) {
  return occupancy_clusters(clusters, f, cfg, kOccupancyMaxActiveClusters);
}
CUresult CUDAAPI cuOccupancyMaxPotentialClusterSize(int* size, CUfunction f, const CUlaunchConfig* cfg) {
  return occupancy_clusters(size, f, cfg, kOccupancyMaxPotentialClusterSize);
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                unsigned int by, unsigned int bz, unsigned int smem, CUstream s, void** args, void** extra) {
  const uint32_t grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  return launch(reinterpret_cast<GuestFunction*>(f), grid, block, smem, s, args, extra, 0, nullptr);
}
CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                     unsigned int by, unsigned int bz, unsigned int smem, CUstream s, void** args, void** extra) {
  return cuLaunchKernel(f, gx, gy, gz, bx, by, bz, smem, s ? s : CU_STREAM_PER_THREAD, args, extra);
}

CUresult CUDAAPI cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                           unsigned int by, unsigned int bz, unsigned int smem, CUstream s, void** args) {
  const uint32_t grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  return launch(reinterpret_cast<GuestFunction*>(f), grid, block, smem, s, args, nullptr, kLaunchCooperative, nullptr);
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig* cfg, CUfunction f, void** args, void** extra) {
  if (!cfg) return CUDA_ERROR_INVALID_VALUE;
  uint32_t flags = 0, cluster[3] = {0, 0, 0};
  for (unsigned i = 0; i < cfg->numAttrs; ++i) {
    const CUlaunchAttribute& a = cfg->attrs[i];
    switch (a.id) {
      case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
        if (a.value.cooperative) flags |= kLaunchCooperative;
        break;
      case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
        if (a.value.programmaticStreamSerializationAllowed) flags |= kLaunchProgrammaticSerialization;
        break;
      case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
        cluster[0] = a.value.clusterDim.x, cluster[1] = a.value.clusterDim.y, cluster[2] = a.value.clusterDim.z;
        break;
      case CU_LAUNCH_ATTRIBUTE_IGNORE:
        break;
      default:
        vgpu::guest::log_unsupported("cuLaunchKernelEx launch attribute");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
  }
  const uint32_t grid[3] = {cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ};
  const uint32_t block[3] = {cfg->blockDimX, cfg->blockDimY, cfg->blockDimZ};
  return launch(reinterpret_cast<GuestFunction*>(f), grid, block, cfg->sharedMemBytes, cfg->hStream, args, extra, flags,
                cluster);
}
CUresult CUDAAPI cuLaunchKernelEx_ptsz(const CUlaunchConfig* cfg, CUfunction f, void** args, void** extra) {
  if (!cfg) return CUDA_ERROR_INVALID_VALUE;
  CUlaunchConfig c = *cfg;
  if (!c.hStream) c.hStream = CU_STREAM_PER_THREAD;
  return cuLaunchKernelEx(&c, f, args, extra);
}
