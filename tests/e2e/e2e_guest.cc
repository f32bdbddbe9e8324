// e2e_guest: a guest program for the multi-process tests. It uses the real
// libcuda.so.1 (ours) and is started by the tests with VGPU_REGION set
// (tests/e2e/daemon_fixture.h, GuestProcess). It talks to the test on
// stdout ("READY", "RESULT ...", "DONE ...") and takes commands on stdin.
//
//   e2e_guest work ITER SEED [HOLD_MB]  ITER rounds of copies/memsets checked byte for byte
//                                       (ITER 0: until a line or EOF on stdin); holds HOLD_MB
//                                       MiB of device memory meanwhile. Exit 0 iff all correct.
//   e2e_guest leak                      allocates memory, a stream and the per-thread stream,
//                                       an event, pinned memory, a module and its kernel and
//                                       VMM objects; READY; then on stdin "exit" returns from
//                                       main (libraries' destructors run) or "_exit" _exit()s.
//   e2e_guest waiter                    READY after one call; on each stdin "call" makes a
//                                       call and prints "RESULT <CUresult> <ms>"; "exit" exits.
//   e2e_guest hostile                   READY; on "go" writes a malformed record (size not a
//                                       multiple of 32) straight into its own command ring, then
//                                       prints "RESULT <CUresult of its next calls>".
//   e2e_guest visible                   prints "RESULT <cuInit> <device count>".
//   e2e_guest smi HTOD DTOH ALLOC       known traffic for vgpu-smi; READY; exits on stdin EOF.
//   e2e_guest forkchild                 after cuInit, fork()s; the child's CUDA calls must fail
//                                       cleanly and the parent's session must go on working.
//   e2e_guest meminfo                   prints "MEM <cuDeviceTotalMem> <cuMemGetInfo total> <free>".
//   e2e_guest spin                      READY after one call; then calls (memset + synchronise)
//                                       without pause until one fails, and prints
//                                       "FAILED <CUresult> <steady_clock us when it returned>".
#include <cuda.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "daemon_fixture.h"
#include "vgpu/region.h"
#include "vgpu/ring.h"
#include "vgpu/wait.h"

namespace {

#define CK(call)                                                                \
  do {                                                                          \
    CUresult r_ = (call);                                                       \
    if (r_ != CUDA_SUCCESS) {                                                   \
      std::printf("FAIL %s -> %d at line %d\n", #call, int(r_), __LINE__);      \
      std::fflush(stdout);                                                      \
      return 1;                                                                 \
    }                                                                           \
  } while (0)

void say(const std::string& s) {
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
}

std::string read_cmd() {
  std::string line;
  if (!std::getline(std::cin, line)) return "";
  return line;
}

bool stdin_ready() {
  pollfd p{0, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

void fill(std::vector<unsigned char>& v, uint64_t seed) {
  std::mt19937_64 g(seed);
  size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    uint64_t x = g();
    std::memcpy(&v[i], &x, 8);
  }
  for (; i < v.size(); ++i) v[i] = static_cast<unsigned char>(g());
}

int init(CUdevice* dev, CUcontext* ctx) {
  CK(cuInit(0));
  CK(cuDeviceGet(dev, 0));
  CK(cuDevicePrimaryCtxRetain(ctx, *dev));
  CK(cuCtxSetCurrent(*ctx));
  return 0;
}

int do_work(int argc, char** argv) {
  const long iters = argc > 2 ? std::atol(argv[2]) : 10;
  const uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
  const uint64_t hold_mb = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 0;
  CUdevice dev;
  CUcontext ctx;
  if (init(&dev, &ctx)) return 1;
  CUdeviceptr hold = 0;
  if (hold_mb) {
    CK(cuMemAlloc(&hold, hold_mb << 20));
    CK(cuMemsetD8(hold, 0x5a, hold_mb << 20));
  }
  CUstream s;
  CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  const size_t max = (3u << 20) + 77;
  CUdeviceptr a, b;
  CK(cuMemAlloc(&a, max));
  CK(cuMemAlloc(&b, max));
  std::vector<unsigned char> in(max), out(max);
  long done = 0;
  for (long i = 0; iters == 0 || i < iters; ++i) {
    const size_t n = 1 + (seed * 7919 + static_cast<uint64_t>(i) * 104729) % max;
    in.resize(n);
    fill(in, seed * 1000003 + static_cast<uint64_t>(i));
    out.assign(n, 0);
    if (i % 2) {
      CK(cuMemcpyHtoDAsync(a, in.data(), n, s));
      CK(cuMemcpyDtoDAsync(b, a, n, s));
      CK(cuMemsetD8Async(b, static_cast<unsigned char>(i), 1, s));
      CK(cuMemcpyDtoHAsync(out.data(), b, n, s));
      CK(cuStreamSynchronize(s));
    } else {
      CK(cuMemcpyHtoD(a, in.data(), n));
      CK(cuMemcpyDtoD(b, a, n));
      CK(cuMemsetD8(b, static_cast<unsigned char>(i), 1));
      CK(cuMemcpyDtoH(out.data(), b, n));
    }
    in[0] = static_cast<unsigned char>(i);
    if (std::memcmp(in.data(), out.data(), n) != 0) {
      size_t k = 0;
      while (in[k] == out[k]) ++k;
      std::printf("FAIL data mismatch iteration %ld size %zu at byte %zu\n", i, n, k);
      std::fflush(stdout);
      return 1;
    }
    ++done;
    if (i == 0) say("READY");
    if (iters == 0 && stdin_ready()) break;
  }
  if (hold) {
    std::vector<unsigned char> h(4096);
    CK(cuMemcpyDtoH(h.data(), hold + (hold_mb << 20) - 4096, 4096));
    for (unsigned char c : h)
      if (c != 0x5a) return say("FAIL held memory changed"), 1;
  }
  CK(cuMemFree(a));
  CK(cuMemFree(b));
  if (hold) CK(cuMemFree(hold));
  CK(cuStreamDestroy(s));
  say("DONE ok iterations=" + std::to_string(done));
  return 0;
}

int do_leak() {
  CUdevice dev;
  CUcontext ctx;
  if (init(&dev, &ctx)) return 1;
  CUdeviceptr p[3];
  CK(cuMemAlloc(&p[0], 8u << 20));
  CK(cuMemAlloc(&p[1], 1u << 20));
  CK(cuMemAlloc(&p[2], 4096));
  CK(cuMemsetD32(p[0], 0xdeadbeef, (8u << 20) / 4));
  CUstream s;
  CK(cuStreamCreate(&s, 0));
  CK(cuMemsetD8Async(p[1], 0, 4096, CU_STREAM_PER_THREAD));  // the host makes this thread's stream
  CUevent e;
  CK(cuEventCreate(&e, 0));
  CK(cuEventRecord(e, s));
  // A kernel the CPU backend keeps (it runs none); the host's module and function ids.
  static const char ptx[] = ".version 7.0\n.target sm_75\n.address_size 64\n.visible .entry leak_noop()\n{\n  ret;\n}\n";
  CUmodule mod;
  CK(cuModuleLoadData(&mod, ptx));
  CUfunction fn;
  CK(cuModuleGetFunction(&fn, mod, "leak_noop"));
  void* pinned;
  CK(cuMemAllocHost(&pinned, 1u << 20));
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  size_t gran = 0;
  CK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
  CUdeviceptr va;
  CK(cuMemAddressReserve(&va, 2 * gran, 0, 0, 0));
  CUmemGenericAllocationHandle h;
  CK(cuMemCreate(&h, gran, &prop, 0));
  CK(cuMemMap(va, gran, 0, h, 0));
  CUmemAccessDesc acc{};
  acc.location = prop.location;
  acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  CK(cuMemSetAccess(va, gran, &acc, 1));
  CK(cuMemsetD8(va, 1, gran));
  CK(cuCtxSynchronize());
  say("READY held=" + std::to_string((8u << 20) + (1u << 20) + 4096 + gran));
  const std::string cmd = read_cmd();
  if (cmd == "_exit") _exit(0);
  return 0;  // leaves everything to the host; libcuda's destructor says goodbye
}

int do_waiter() {
  CUdevice dev;
  CUcontext ctx;
  if (init(&dev, &ctx)) return 1;
  CUdeviceptr p;
  CK(cuMemAlloc(&p, 4096));
  say("READY");
  for (;;) {
    const std::string cmd = read_cmd();
    if (cmd == "call") {
      const auto t0 = std::chrono::steady_clock::now();
      CUdeviceptr q = 0;
      CUresult r = cuMemAlloc(&q, 4096);
      if (r == CUDA_SUCCESS) r = cuCtxSynchronize();
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      say("RESULT " + std::to_string(int(r)) + " " + std::to_string(ms));
    } else {
      return 0;
    }
  }
}

// Writes a record whose size is not a multiple of 32 into a command ring of
// this guest's slot, straight through the mapped region, as a hostile or
// broken guest could.
int write_malformed_record() {
  vgpu::e2e::FileView v;
  std::string err;
  if (!v.open(std::getenv("VGPU_REGION"), true, &err)) return say("FAIL " + err), 1;
  const auto view = vgpu::RegionView::of_header(v.base(), v.bytes(), nullptr);
  if (!view) return say("FAIL layout"), 1;
  int slot = -1;
  for (uint32_t s = 0; s < view->slot_count(); ++s)
    if (view->slot(s).ctl->guest_pid == static_cast<uint32_t>(getpid())) slot = static_cast<int>(s);
  if (slot < 0) return say("FAIL own slot not found"), 1;
  // A channel of our slot that no thread of ours uses (the last one is the
  // shared one): the library will not write over what we put there.
  int ch = -1;
  for (int c = static_cast<int>(view->channel_count()) - 2; c >= 0 && ch < 0; --c) {
    uint32_t expect = 0;
    if (view->channel(static_cast<uint32_t>(slot), static_cast<uint32_t>(c)).ctl->in_use.compare_exchange_strong(expect, 1))
      ch = c;
  }
  if (ch < 0) return say("FAIL no spare channel"), 1;
  const vgpu::ChannelView cv = view->channel(static_cast<uint32_t>(slot), static_cast<uint32_t>(ch));
  auto* cc = cv.ctl;
  const uint64_t tail = cc->cmd.tail.load(std::memory_order_acquire);
  const uint64_t cap = cv.cmd.size();
  auto* rec = reinterpret_cast<vgpu::RecordHeader*>(cv.cmd.data() + (tail & (cap - 1)));
  rec->op = static_cast<uint16_t>(vgpu::Op::MemAlloc);
  rec->flags = vgpu::kFlagWantCompletion;
  rec->size = 40;  // not a multiple of 32
  rec->payload = 8;
  rec->seq = 1u << 30;
  rec->aux = 0;
  rec->stamp.store(vgpu::stamp_for(tail, 5), std::memory_order_release);
  vgpu::SlotCtl* sc = view->slot(static_cast<uint32_t>(slot)).ctl;
  vgpu::wake_if_needed(&sc->need_wakeup, &sc->doorbell);
  say("WROTE slot=" + std::to_string(slot) + " channel=" + std::to_string(ch));
  return 0;
}

int do_hostile() {
  CUdevice dev;
  CUcontext ctx;
  if (init(&dev, &ctx)) return 1;
  CUdeviceptr p;
  CK(cuMemAlloc(&p, 1u << 20));
  CK(cuMemsetD8(p, 7, 1u << 20));
  say("READY");
  if (read_cmd() != "go") return 1;
  if (write_malformed_record()) return 1;
  // The session is over: calls must fail (not hang) once the host has noticed.
  CUresult r = CUDA_SUCCESS;
  const uint64_t deadline = vgpu::e2e::now_ms() + 20000;
  while (r == CUDA_SUCCESS && vgpu::e2e::now_ms() < deadline) {
    unsigned char b;
    r = cuMemcpyDtoH(&b, p, 1);
    if (r == CUDA_SUCCESS) usleep(1000);
  }
  say("RESULT " + std::to_string(int(r)));
  read_cmd();
  return 0;
}

int do_visible() {
  CUresult r = cuInit(0);
  int n = -1;
  if (r == CUDA_SUCCESS) cuDeviceGetCount(&n);
  say("RESULT " + std::to_string(int(r)) + " " + std::to_string(n));
  return 0;
}

int do_smi(int argc, char** argv) {
  const uint64_t htod = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : (5u << 20);
  const uint64_t dtoh = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : (3u << 20);
  const uint64_t alloc = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : (12u << 20);
  CUdevice dev;
  CUcontext ctx;
  if (init(&dev, &ctx)) return 1;
  CUdeviceptr p;
  CK(cuMemAlloc(&p, alloc));
  std::vector<unsigned char> buf(std::max(htod, dtoh), 3);
  CK(cuMemcpyHtoD(p, buf.data(), htod));
  CK(cuMemcpyDtoH(buf.data(), p, dtoh));
  // A launch on the CPU backend is refused (no kernels there): it must not count.
  CUmodule m;
  static const char ptx[] = ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry k()\n{\n ret;\n}\n";
  if (cuModuleLoadData(&m, ptx) == CUDA_SUCCESS) {
    CUfunction f;
    if (cuModuleGetFunction(&f, m, "k") == CUDA_SUCCESS) {
      const CUresult lr = cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr);
      std::printf("LAUNCH %d\n", int(lr));
    }
  }
  CK(cuCtxSynchronize());
  say("READY");
  while (!read_cmd().empty()) {
  }
  return 0;
}

int do_forkchild() {
  CUdevice dev;
  CUcontext ctx;
  if (init(&dev, &ctx)) return 1;
  CUdeviceptr p;
  CK(cuMemAlloc(&p, 1u << 20));
  std::vector<unsigned char> v(1u << 20), w(1u << 20);
  fill(v, 42);
  CK(cuMemcpyHtoD(p, v.data(), v.size()));
  const pid_t pid = fork();
  if (pid == 0) {
    // CUDA: a child of a process that initialised CUDA cannot use it.
    CUdeviceptr q = 0;
    const CUresult r1 = cuMemAlloc(&q, 4096);
    unsigned char b = 0;
    const CUresult r2 = cuMemcpyDtoH(&b, p, 1);
    std::printf("CHILD %d %d\n", int(r1), int(r2));
    std::fflush(stdout);
    exit(0);  // normal exit: atexit handlers and library destructors run in the child
  }
  int status = 0;
  waitpid(pid, &status, 0);
  // The parent's session must be intact.
  for (int i = 0; i < 20; ++i) {
    fill(v, 100 + static_cast<uint64_t>(i));
    CK(cuMemcpyHtoD(p, v.data(), v.size()));
    CK(cuMemcpyDtoH(w.data(), p, w.size()));
    if (v != w) return say("FAIL parent data mismatch after fork"), 1;
  }
  say("DONE ok");
  return 0;
}

int do_meminfo() {
  CUdevice dev;
  CUcontext ctx;
  if (init(&dev, &ctx)) return 1;
  size_t total = 0, info_total = 0, info_free = 0;
  CK(cuDeviceTotalMem(&total, dev));
  CK(cuMemGetInfo(&info_free, &info_total));
  say("MEM " + std::to_string(total) + " " + std::to_string(info_total) + " " + std::to_string(info_free));
  return 0;
}

// Calls back to back, so that whenever the daemon dies this guest is in, or
// entering, a call; the failing call's return time is on the steady clock
// (CLOCK_MONOTONIC, shared by the processes of one machine), so the test can
// measure how long after the daemon's death the error came.
int do_spin() {
  CUdevice dev;
  CUcontext ctx;
  if (init(&dev, &ctx)) return 1;
  CUdeviceptr p;
  CK(cuMemAlloc(&p, 4096));
  say("READY");
  for (;;) {
    CUresult r = cuMemsetD8(p, 1, 4096);
    if (r == CUDA_SUCCESS) r = cuCtxSynchronize();
    if (r != CUDA_SUCCESS) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
      say("FAILED " + std::to_string(int(r)) + " " + std::to_string(us));
      return 0;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: e2e_guest work|leak|waiter|hostile|visible|smi|forkchild|meminfo|spin ...\n");
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "work") return do_work(argc, argv);
  if (mode == "leak") return do_leak();
  if (mode == "waiter") return do_waiter();
  if (mode == "hostile") return do_hostile();
  if (mode == "visible") return do_visible();
  if (mode == "smi") return do_smi(argc, argv);
  if (mode == "forkchild") return do_forkchild();
  if (mode == "meminfo") return do_meminfo();
  if (mode == "spin") return do_spin();
  std::fprintf(stderr, "e2e_guest: unknown mode %s\n", mode.c_str());
  return 2;
}
