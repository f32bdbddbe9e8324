#include "mps.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace vgpu::host {
namespace {

bool is_file(const std::string& p, mode_t type) {
  struct stat st{};
  return stat(p.c_str(), &st) == 0 && (st.st_mode & S_IFMT) == type;
}

// The control daemon's endpoint in its pipe folder: a FIFO or, in newer
// drivers, a socket; either way a file named "control" that is not a folder.
bool has_control(const std::string& pipe_dir) {
  struct stat st{};
  const std::string p = pipe_dir + "/control";
  return stat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode);
}

// nvidia-cuda-mps-control on the search path (PATH) or where NVIDIA's
// packages put it.
std::string find_control(const std::string& p) {
  std::vector<std::string> dirs;
  for (size_t b = 0, e; b <= p.size(); b = e + 1) {
    e = p.find(':', b);
    if (e == std::string::npos) e = p.size();
    if (e > b) dirs.push_back(p.substr(b, e - b));
  }
  for (const char* d : {"/usr/local/nvidia/bin", "/usr/bin", "/usr/local/cuda/bin"}) dirs.emplace_back(d);
  for (const auto& d : dirs) {
    const std::string f = d + "/nvidia-cuda-mps-control";
    if (access(f.c_str(), X_OK) == 0) return f;
  }
  return "";
}

// Runs the control program with `args`, `input` on its stdin, the pipe and
// log folders in its environment; its exit status (-1: could not run).
int run_control(const std::string& control, const std::vector<std::string>& args, const std::string& input,
                const std::string& pipe_dir, const std::string& log_dir) {
  int in[2];
  if (pipe(in) != 0) return -1;
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(in[0], 0);
    close(in[0]);
    close(in[1]);
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 1);
    setenv("CUDA_MPS_PIPE_DIRECTORY", pipe_dir.c_str(), 1);
    setenv("CUDA_MPS_LOG_DIRECTORY", log_dir.c_str(), 1);
    std::vector<char*> argv{const_cast<char*>(control.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(control.c_str(), argv.data());
    _exit(127);
  }
  close(in[0]);
  if (!input.empty()) (void)!write(in[1], input.data(), input.size());
  close(in[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A control daemon answers on this pipe folder.
bool daemon_answers(const std::string& control, const std::string& pipe_dir, const std::string& log_dir) {
  if (!has_control(pipe_dir)) return false;
  return run_control(control, {}, "get_server_list\n", pipe_dir, log_dir) == 0;
}

bool make_dir(const std::string& d) {
  for (size_t i = 1; i <= d.size(); ++i)
    if (i == d.size() || d[i] == '/') {
      const std::string p = d.substr(0, i);
      if (mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return false;
    }
  return is_file(d, S_IFDIR);
}

// Joins the server as a client in a child process: cuInit, then the device's
// primary context (which is what connects to the MPS server). Returns "" if
// that worked, else what failed.
std::string probe(const std::string& pipe_dir, const std::string& log_dir, int device) {
  int p[2];
  if (pipe(p) != 0) return std::string("pipe: ") + std::strerror(errno);
  const pid_t pid = fork();
  if (pid < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid == 0) {
    close(p[0]);
    setenv("CUDA_MPS_PIPE_DIRECTORY", pipe_dir.c_str(), 1);
    setenv("CUDA_MPS_LOG_DIRECTORY", log_dir.c_str(), 1);
    std::string msg;
    using Init = int (*)(unsigned);
    using Get = int (*)(int*, int);
    using Retain = int (*)(void**, int);
    using Name = int (*)(int, const char**);
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      msg = std::string("no driver: ") + dlerror();
    } else {
      auto init = reinterpret_cast<Init>(dlsym(lib, "cuInit"));
      auto get = reinterpret_cast<Get>(dlsym(lib, "cuDeviceGet"));
      auto retain = reinterpret_cast<Retain>(dlsym(lib, "cuDevicePrimaryCtxRetain"));
      auto name = reinterpret_cast<Name>(dlsym(lib, "cuGetErrorName"));
      int dev = 0;
      void* ctx = nullptr;
      auto fail = [&](const char* what, int r) {
        const char* n = nullptr;
        if (name) name(r, &n);
        msg = std::string(what) + " failed: " + (n ? n : std::to_string(r));
      };
      if (!init || !get || !retain) {
        msg = "the driver lacks cuInit/cuDeviceGet/cuDevicePrimaryCtxRetain";
      } else if (int r = init(0)) {
        fail("cuInit", r);
      } else if ((r = get(&dev, device))) {
        fail("cuDeviceGet", r);
      } else if ((r = retain(&ctx, dev))) {
        fail("a context as an MPS client", r);
      }
    }
    (void)!write(p[1], msg.data(), msg.size());
    _exit(msg.empty() ? 0 : 1);
  }
  close(p[1]);
  std::string msg;
  char buf[256];
  pollfd pf{p[0], POLLIN, 0};
  bool eof = false;
  // The first client starts the MPS server: allow it seconds, not forever.
  for (int waited = 0; !eof && waited < 30000;) {
    const int n = poll(&pf, 1, 1000);
    if (n > 0) {
      const ssize_t got = read(p[0], buf, sizeof buf);
      if (got > 0) msg.append(buf, static_cast<size_t>(got));
      else eof = true;  // the probe is done (its end of the pipe closed at exit)
    } else if (n == 0) {
      waited += 1000;
    } else if (errno != EINTR) {
      eof = true;
    }
  }
  close(p[0]);
  int status = 0;
  if (!eof) kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!eof) return "no answer from the MPS server within 30 s";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return msg.empty() ? "the probe died" : msg;
}

std::string default_pipe_dir(const std::string& tmp_dir) {
  if (make_dir("/run/vgpu-hostd/mps") && access("/run/vgpu-hostd/mps", W_OK) == 0) return "/run/vgpu-hostd/mps";
  return tmp_dir + "/vgpu-hostd-mps-" + std::to_string(getuid());
}

}  // namespace

bool Mps::start(const MpsOptions& opt, int device, bool cpu_only, std::string* why) {
  const bool required = opt.mode == MpsMode::kOn;
  auto off = [&](const std::string& reason) {
    describe_ = "MPS off (" + reason + ")";
    if (required) *why = "--mps on: " + reason;
    return !required;
  };
  if (opt.mode == MpsMode::kOff) return off("--mps off");
  if (cpu_only) return off("CPU backend");
  control_ = find_control(opt.search_path);
  if (control_.empty()) return off("nvidia-cuda-mps-control not found");

  // An operator's control daemon first: the folder we were given, else the
  // one CUDA clients would find by default.
  std::vector<std::string> tries;
  if (!opt.pipe_dir.empty()) tries.push_back(opt.pipe_dir);
  else {
    if (!opt.operator_pipe_dir.empty()) tries.push_back(opt.operator_pipe_dir);
    tries.emplace_back("/tmp/nvidia-mps");
  }
  for (const auto& d : tries) {
    const std::string logs = !opt.log_dir.empty() ? opt.log_dir : d + "/log";
    if (daemon_answers(control_, d, logs)) {
      pipe_dir_ = d;
      log_dir_ = logs;
      break;
    }
  }
  if (pipe_dir_.empty()) {
    pipe_dir_ = !opt.pipe_dir.empty() ? opt.pipe_dir : default_pipe_dir(opt.tmp_dir);
    log_dir_ = !opt.log_dir.empty() ? opt.log_dir : pipe_dir_ + "/log";
    if (!make_dir(pipe_dir_) || !make_dir(log_dir_))
      return off("cannot make " + pipe_dir_ + " or " + log_dir_ + ": " + std::strerror(errno));
    if (run_control(control_, {"-d"}, "", pipe_dir_, log_dir_) != 0) return off(control_ + " -d failed");
    owned_ = true;
    for (int i = 0; i < 100 && !has_control(pipe_dir_); ++i) usleep(20000);
  }
  if (const std::string failed = probe(pipe_dir_, log_dir_, device); !failed.empty()) {
    stop();
    return off("a client could not join: " + failed + "; see " + log_dir_ + "/control.log");
  }
  active_ = true;
  describe_ = std::string("MPS on (") + (owned_ ? "our control daemon" : "joined a running control daemon") +
              ", pipes in " + pipe_dir_ + ", logs in " + log_dir_ + ")";
  return true;
}

void Mps::stop() {
  if (owned_) run_control(control_, {}, "quit\n", pipe_dir_, log_dir_);
  owned_ = false;
  active_ = false;
}

MpsClient Mps::client_for(bool strict) const {
  MpsClient c;
  if (active_ && !strict) c = {true, pipe_dir_, log_dir_};
  return c;
}

bool enter_mps(const MpsClient& c, int device, unsigned sm_percent, unsigned long long mem_limit) {
  if (!c.on || !has_control(c.pipe_dir)) {
    // A CUDA process joins whatever control daemon it finds in the pipe
    // folder (NVIDIA's default: /tmp/nvidia-mps), so a worker kept out of
    // MPS is pointed at a folder that cannot exist.
    setenv("CUDA_MPS_PIPE_DIRECTORY", "/dev/null/vgpu-no-mps", 1);
    unsetenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
    unsetenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT");
    if (c.on) std::fprintf(stderr, "vgpu-hostd: MPS control pipe %s/control is gone; this worker runs without MPS\n",
                           c.pipe_dir.c_str());
    return false;
  }
  setenv("CUDA_MPS_PIPE_DIRECTORY", c.pipe_dir.c_str(), 1);
  setenv("CUDA_MPS_LOG_DIRECTORY", c.log_dir.c_str(), 1);
  if (sm_percent) setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", std::to_string(sm_percent).c_str(), 1);
  else unsetenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
  if (mem_limit) {
    // Device ordinals as the client sees them: the worker's device.
    const std::string v = std::to_string(device) + "=" + std::to_string((mem_limit + (1u << 20) - 1) >> 20) + "M";
    setenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", v.c_str(), 1);
  } else {
    unsetenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT");
  }
  return true;
}

}  // namespace vgpu::host
