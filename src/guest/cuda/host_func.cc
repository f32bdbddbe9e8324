// Host functions in stream order: cuLaunchHostFunc and cuStreamAddCallback.
//
// NVIDIA's driver runs such a function on a thread of its own once the stream
// has reached it, and holds the stream's later work until it returns. Here
// the stream is on the host and the function in this process, so the stream
// is given two posted memory operations on a pair of words in pinned memory
// (the arena, which the host device-maps): it stores the function's number
// into `reached`, then waits until `done` is at least that number. One guest
// thread, the runner, watches the `reached` words, runs each lane's functions
// in order and stores their numbers into `done`. The caller never waits.
//
// The CPU backend holds its stream the same way: its wait on pinned memory
// polls the word (backend_cpu/cpu_backend.cc), so CI runs this path too.
//
// Not during stream capture: the function would become a node of the graph,
// run at each replay, and the host's graph cannot call into this process.
#include <time.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "driver.h"

using namespace vgpu;
using namespace vgpu::guest;

namespace {

// Lives in pinned memory; the device stores `reached`, the runner `done`.
struct Gate {
  std::atomic<uint32_t> reached;
  std::atomic<uint32_t> done;
};
static_assert(sizeof(Gate) == 8);

struct Pending {
  uint32_t n;  // this function's number in its lane
  void (*fn)(void*);
  void* data;
};

// One stream's functions, in the order they were launched.
struct Lane {
  Gate* gate = nullptr;
  uint32_t launched = 0;
  std::deque<Pending> queue;
};

struct Runner {
  std::mutex post_mu;  // one poster at a time (launch_host_func)
  std::mutex mu;       // the lanes, with the runner
  std::condition_variable work;
  std::unordered_map<unsigned long long, Lane> lanes;  // by cuStreamGetId
  std::vector<Gate*> spare;                             // gates of pinned pages not yet handed out
  bool started = false;

  // A gate from pinned pages (kept for the process' life: a stream may still
  // be waiting on a lane's words when the stream is gone).
  Gate* new_gate(Client* c) {
    if (spare.empty()) {
      void* page = nullptr;
      constexpr size_t kPageBytes = 4096;
      if (cuMemHostAlloc(&page, kPageBytes, 0) != CUDA_SUCCESS) return nullptr;
      if (!c->in_arena(page, kPageBytes) || !c->hello().host_arena_base) {
        cuMemFreeHost(page);  // ordinary memory beyond the arena: no device address
        return nullptr;
      }
      auto* g = static_cast<Gate*>(page);
      for (size_t i = kPageBytes / sizeof(Gate); i-- > 0;) {
        g[i].reached.store(0, std::memory_order_relaxed);
        g[i].done.store(0, std::memory_order_relaxed);
        spare.push_back(&g[i]);
      }
    }
    Gate* g = spare.back();
    spare.pop_back();
    return g;
  }

  // The runner thread: runs every lane's first function once the stream has
  // reached it. Between arrivals it backs off from a yield to 1 ms sleeps: a
  // function runs within about a millisecond of its stream reaching it, and
  // an idle runner (no function pending) sleeps on the condition variable.
  [[noreturn]] void loop() {
    std::vector<std::pair<Gate*, Pending>> ready;
    long nap_ns = 0;
    for (;;) {
      {
        std::unique_lock lk(mu);
        work.wait(lk, [&] {
          for (auto& [id, l] : lanes)
            if (!l.queue.empty()) return true;
          return false;
        });
        for (auto& [id, l] : lanes) {
          if (l.queue.empty()) continue;
          const Pending& p = l.queue.front();
          // A wrapping comparison, as the stream's own wait makes it.
          if (static_cast<int32_t>(l.gate->reached.load(std::memory_order_acquire) - p.n) >= 0) {
            ready.emplace_back(l.gate, p);
            l.queue.pop_front();
          }
        }
      }
      if (ready.empty()) {
        nap_ns = nap_ns == 0 ? 1000 : std::min(nap_ns * 2, 1'000'000L);
        if (nap_ns < 16'000) {
          std::this_thread::yield();
        } else {
          const timespec t{0, nap_ns};
          nanosleep(&t, nullptr);
        }
        continue;
      }
      nap_ns = 0;
      for (auto& [g, p] : ready) {
        p.fn(p.data);
        g->done.store(p.n, std::memory_order_release);
      }
      ready.clear();
    }
  }
};

Runner& runner() {
  static Runner& r = *new Runner;  // never destroyed: the runner thread outlives static destructors
  return r;
}

CUresult launch_host_func(CUstream s, void (*fn)(void*), void* data) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!fn) return CUDA_ERROR_INVALID_VALUE;
  unsigned long long lane = 0;
  if (CUresult r = cuStreamGetId(s, &lane)) return r;  // also checks the handle
  CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
  if (CUresult r = cuStreamIsCapturing(s, &capture)) return r;
  if (capture != CU_STREAM_CAPTURE_STATUS_NONE) VGPU_REFUSE("cuLaunchHostFunc during stream capture");
  Runner& run = runner();
  // Posters go one at a time, so that a lane's numbers reach its stream in
  // order; the runner never takes this lock (a post can wait for room in the
  // ring while the host waits for the device, whose stream may be waiting for
  // the runner).
  std::lock_guard post(run.post_mu);
  Gate* gate;
  uint32_t n;
  {
    std::lock_guard lk(run.mu);
    Lane& l = run.lanes[lane];
    if (!l.gate && !(l.gate = run.new_gate(c))) VGPU_REFUSE("cuLaunchHostFunc without device-mapped pinned memory");
    gate = l.gate;
    n = l.launched + 1;
  }
  if (CUresult r = cuStreamWriteValue32_v2(s, c->device_address_of(&gate->reached), n, 0)) return r;
  if (CUresult r = cuStreamWaitValue32_v2(s, c->device_address_of(&gate->done), n, CU_STREAM_WAIT_VALUE_GEQ)) {
    // The stream will store n but not wait: n is used up (a later function
    // must not take the stray store for its own), the function never runs.
    std::lock_guard lk(run.mu);
    run.lanes[lane].launched = n;
    return r;
  }
  {
    std::lock_guard lk(run.mu);
    Lane& l = run.lanes[lane];
    l.launched = n;
    l.queue.push_back({n, fn, data});
    if (!run.started) {
      std::thread([&run] { run.loop(); }).detach();
      run.started = true;
    }
  }
  run.work.notify_one();
  return CUDA_SUCCESS;
}

// cuStreamAddCallback's form: the callback also gets the stream and a status.
struct Callback {
  CUstream stream;
  CUstreamCallback fn;
  void* data;
};
void run_callback(void* p) {
  auto* cb = static_cast<Callback*>(p);
  cb->fn(cb->stream, CUDA_SUCCESS, cb->data);
  delete cb;
}
CUresult add_callback(CUstream s, CUstreamCallback fn, void* data, unsigned int flags) {
  if (!fn || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  auto* cb = new Callback{s, fn, data};
  CUresult r = launch_host_func(s, &run_callback, cb);
  if (r != CUDA_SUCCESS) delete cb;
  return r;
}

}  // namespace

CUresult CUDAAPI cuLaunchHostFunc(CUstream s, CUhostFn fn, void* data) { return launch_host_func(s, fn, data); }
CUresult CUDAAPI cuLaunchHostFunc_ptsz(CUstream s, CUhostFn fn, void* data) {
  return launch_host_func(s ? s : CU_STREAM_PER_THREAD, fn, data);
}
CUresult CUDAAPI cuStreamAddCallback(CUstream s, CUstreamCallback fn, void* data, unsigned int flags) {
  return add_callback(s, fn, data, flags);
}
CUresult CUDAAPI cuStreamAddCallback_ptsz(CUstream s, CUstreamCallback fn, void* data, unsigned int flags) {
  return add_callback(s ? s : CU_STREAM_PER_THREAD, fn, data, flags);
}
