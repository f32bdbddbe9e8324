// NVIDIA's Multi-Process Service for the GPU vgpu-hostd serves.
//
// Why: every worker is its own process with its own CUDA context (that is
// what isolates guests). Separate contexts time-slice the GPU: four guests
// decoding at once each get about a quarter of it, even when none fills it.
// Under MPS the workers are clients of one MPS server, whose single hardware
// context runs their kernels concurrently. NVIDIA ships the engine with the
// driver (nvidia-cuda-mps-control); we only manage it.
//
// What it costs: under MPS a fatal GPU fault in one client (an illegal
// address, say) can end the other clients of that server. So a region says
// `isolation = strict` to keep its guests out of MPS (their own contexts,
// time-sliced), and `sm_percent` / the memory quota become MPS's per-client
// limits (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, CUDA_MPS_PINNED_DEVICE_MEM_LIMIT)
// for the regions that share. docs/design.md, "Many guests on one GPU".
//
// The supervisor never touches the GPU: whether MPS works is found out by a
// forked probe process that joins the server and creates a context.
#pragma once

#include <string>

namespace vgpu::host {

enum class MpsMode { kAuto, kOn, kOff };

struct MpsOptions {
  MpsMode mode = MpsMode::kAuto;
  // The control daemon's pipe and log folders. Empty: an operator's daemon
  // in CUDA_MPS_PIPE_DIRECTORY (or NVIDIA's default /tmp/nvidia-mps) is
  // joined if one runs; otherwise ours is started in /run/vgpu-hostd/mps
  // (or $TMPDIR/vgpu-hostd-mps-UID when /run is not writable).
  std::string pipe_dir;
  std::string log_dir;
  // What the daemon's environment says, read once at start (host_config.h)
  // like every other setting, so nothing below main looks at the
  // environment: the variables this code interprets itself are
  // configuration. CUDA_MPS_PIPE_DIRECTORY names an operator's running
  // control daemon ("": none), TMPDIR where ours goes when /run is not
  // writable, PATH where nvidia-cuda-mps-control is looked for. What only the
  // MPS tools interpret (CUDA_MPS_* besides the two folders set for each
  // child) is left in the environment the children inherit, unread here.
  std::string operator_pipe_dir;
  std::string tmp_dir = "/tmp";
  std::string search_path;
};

// What one worker needs to be an MPS client (copied into WorkerOptions).
struct MpsClient {
  bool on = false;
  std::string pipe_dir, log_dir;
};

class Mps {
 public:
  // Decides, and starts or joins the control daemon. `device` is the GPU
  // ordinal the probe opens; `cpu_only` (backend = cpu) turns MPS off.
  // False only for mode kOn when MPS cannot be used (`why` says why).
  bool start(const MpsOptions& opt, int device, bool cpu_only, std::string* why);
  // Stops the control daemon if this process started it.
  void stop();
  ~Mps() { stop(); }

  bool active() const { return active_; }
  // The client settings for a worker of a region (strict isolation: none).
  MpsClient client_for(bool strict) const;
  // One line for the log: on (ours / joined, where) or off and why.
  const std::string& describe() const { return describe_; }

 private:
  bool active_ = false, owned_ = false;
  std::string control_, pipe_dir_, log_dir_, describe_;
};

// In a forked worker, before anything loads CUDA: makes the process an MPS
// client per `c`, with its SM share (0: all) and device memory limit (0:
// none) as MPS limits, or keeps it out of MPS. True if it is now a client;
// false if `c` says no, or (with a log line) if the server's pipe is gone:
// the worker then runs without MPS.
bool enter_mps(const MpsClient& c, int device, unsigned sm_percent, unsigned long long mem_limit);

}  // namespace vgpu::host
