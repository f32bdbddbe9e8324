// vgpu-hostd: serves CUDA calls from guests through shared-memory regions.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "daemon.h"
#include "mapping.h"

namespace {

void usage() {
  std::fputs(
      "usage: vgpu-hostd [options]\n"
      "  --region PATH        region file to serve (repeatable; default /dev/shm/vgpu-0\n"
      "                       unless --config-dir is given)\n"
      "  --name NAME          same as --region /dev/shm/vgpu-NAME\n"
      "  --config-dir DIR     also serve one region per DIR/*.conf (see docs/vm.md), picked up,\n"
      "                       restarted or stopped as files appear, change or go; the options\n"
      "                       below are the defaults for what a file leaves out\n"
      "  --rescan-ms N        rescan DIR this often (default 1000; 0: only on SIGHUP)\n"
      "  --backend B          auto (CUDA if a GPU works, else CPU), cuda, or cpu (default auto)\n"
      "  --device N           host GPU ordinal to serve (default 0)\n"
      "  --slots N            guest processes per region (default 4)\n"
      "  --channels N         channels (guest threads) per slot (default 8)\n"
      "  --arena-mb N         bulk data arena per slot, MiB (default 256)\n"
      "  --ring-kb N          command ring per channel, KiB, power of two (default 1024)\n"
      "  --mem-quota-mb N     device memory limit per guest process (default: none)\n"
      "  --guest-timeout-ms N end a session whose guest stops its heartbeat this long (default 5000)\n"
      "  --region-owner U[:G] give the region files to this user/group (the VM's QEMU)\n"
      "  --region-mode MODE   octal file mode of the region files (default 0600)\n"
      "  --mps M              NVIDIA MPS for the GPU: auto (on when nvidia-cuda-mps-control is\n"
      "                       there and a client can join), on, off (default auto)\n"
      "  --mps-pipe-dir DIR   MPS control daemon's pipe folder: joined if one runs there, else\n"
      "                       ours is started there (default: a running one in\n"
      "                       $CUDA_MPS_PIPE_DIRECTORY or /tmp/nvidia-mps, else /run/vgpu-hostd/mps)\n"
      "  --mps-log-dir DIR    its log folder (default PIPE_DIR/log)\n"
      "  --isolation I        shared (guests are MPS clients when MPS is on) or strict (own\n"
      "                       contexts, never MPS: a GPU fault ends only that guest) (default shared)\n"
      "  --sm-percent N       an MPS client's share of the SMs, 1-100 (default: all)\n"
      "  --trace              log every call (also VGPU_TRACE=1)\n"
      "  --profile            time every op on the host; a table per session when it ends (also VGPU_PROFILE=1)\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  vgpu::host::DaemonOptions opt;
  vgpu::host::RegionOptions& d = opt.defaults;
  if (const char* t = std::getenv("VGPU_TRACE"); t && *t && std::strcmp(t, "0") != 0) d.worker.trace = true;
  if (const char* t = std::getenv("VGPU_PROFILE"); t && *t && std::strcmp(t, "0") != 0) d.worker.profile = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "vgpu-hostd: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto num = [&]() { return std::strtoull(next(), nullptr, 10); };
    if (a == "--region") opt.regions.push_back(next());
    else if (a == "--name") opt.regions.push_back(vgpu::default_region_path(next()));
    else if (a == "--config-dir") opt.config_dir = next();
    else if (a == "--rescan-ms") opt.rescan_ms = static_cast<uint32_t>(num());
    else if (a == "--backend") {
      const std::string b = next();
      if (b == "auto") d.worker.backend = vgpu::host::BackendChoice::kAuto;
      else if (b == "cuda") d.worker.backend = vgpu::host::BackendChoice::kCuda;
      else if (b == "cpu") d.worker.backend = vgpu::host::BackendChoice::kCpu;
      else return usage(), 2;
    } else if (a == "--device") d.worker.device = static_cast<int>(num());
    else if (a == "--slots") d.config.slot_count = static_cast<uint32_t>(num());
    else if (a == "--channels") d.config.channels_per_slot = static_cast<uint32_t>(num());
    else if (a == "--arena-mb") d.config.arena_bytes = num() << 20;
    else if (a == "--ring-kb") d.config.cmd_ring_bytes = static_cast<uint32_t>(num() << 10);
    else if (a == "--mem-quota-mb") d.worker.mem_quota = num() << 20;
    else if (a == "--guest-timeout-ms") d.worker.guest_timeout_ms = static_cast<uint32_t>(num());
    else if (a == "--mps") {
      const std::string m = next();
      if (m == "auto") opt.mps.mode = vgpu::host::MpsMode::kAuto;
      else if (m == "on") opt.mps.mode = vgpu::host::MpsMode::kOn;
      else if (m == "off") opt.mps.mode = vgpu::host::MpsMode::kOff;
      else return std::fprintf(stderr, "vgpu-hostd: --mps takes auto, on or off\n"), 2;
    } else if (a == "--mps-pipe-dir") opt.mps.pipe_dir = next();
    else if (a == "--mps-log-dir") opt.mps.log_dir = next();
    else if (a == "--isolation") {
      const std::string m = next();
      if (m == "shared") d.worker.strict_isolation = false;
      else if (m == "strict") d.worker.strict_isolation = true;
      else return std::fprintf(stderr, "vgpu-hostd: --isolation takes shared or strict\n"), 2;
    } else if (a == "--sm-percent") {
      const auto n = num();
      if (n < 1 || n > 100) return std::fprintf(stderr, "vgpu-hostd: --sm-percent takes 1 to 100\n"), 2;
      d.worker.sm_percent = static_cast<uint32_t>(n);
    } else if (a == "--trace") d.worker.trace = true;
    else if (a == "--profile") d.worker.profile = true;
    else if (a == "--region-owner") {
      std::string err;
      if (!vgpu::host::parse_owner(next(), &d.uid, &d.gid, &err))
        return std::fprintf(stderr, "vgpu-hostd: %s\n", err.c_str()), 2;
    } else if (a == "--region-mode") d.mode = static_cast<unsigned>(std::strtoul(next(), nullptr, 8));
    else if (a == "-h" || a == "--help") return usage(), 0;
    else {
      std::fprintf(stderr, "vgpu-hostd: unknown option %s\n", a.c_str());
      return usage(), 2;
    }
  }
  if (opt.regions.empty() && opt.config_dir.empty()) opt.regions.push_back(vgpu::default_region_path("0"));
  while (opt.config_dir.size() > 1 && opt.config_dir.back() == '/') opt.config_dir.pop_back();
  vgpu::Layout l;
  const char* why = nullptr;
  if (!vgpu::compute_layout(d.config, &l, &why)) {
    std::fprintf(stderr, "vgpu-hostd: %s\n", why);
    return 2;
  }
  return vgpu::host::run_daemon(opt);
}
