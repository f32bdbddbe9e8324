// vgpu-hostd: serves CUDA calls from guests through shared-memory regions.
#include <grp.h>
#include <pwd.h>

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
      "  --region PATH        region file to serve (repeatable; default /dev/shm/vgpu-0)\n"
      "  --name NAME          same as --region /dev/shm/vgpu-NAME\n"
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
      "  --trace              log every call (also VGPU_TRACE=1)\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  vgpu::host::DaemonOptions opt;
  if (const char* t = std::getenv("VGPU_TRACE"); t && *t && std::strcmp(t, "0") != 0) opt.worker.trace = true;
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
    else if (a == "--backend") {
      const std::string b = next();
      if (b == "auto") opt.worker.backend = vgpu::host::BackendChoice::kAuto;
      else if (b == "cuda") opt.worker.backend = vgpu::host::BackendChoice::kCuda;
      else if (b == "cpu") opt.worker.backend = vgpu::host::BackendChoice::kCpu;
      else return usage(), 2;
    } else if (a == "--device") opt.worker.device = static_cast<int>(num());
    else if (a == "--slots") opt.config.slot_count = static_cast<uint32_t>(num());
    else if (a == "--channels") opt.config.channels_per_slot = static_cast<uint32_t>(num());
    else if (a == "--arena-mb") opt.config.arena_bytes = num() << 20;
    else if (a == "--ring-kb") opt.config.cmd_ring_bytes = static_cast<uint32_t>(num() << 10);
    else if (a == "--mem-quota-mb") opt.worker.mem_quota = num() << 20;
    else if (a == "--guest-timeout-ms") opt.worker.guest_timeout_ms = static_cast<uint32_t>(num());
    else if (a == "--trace") opt.worker.trace = true;
    else if (a == "--region-owner") {
      std::string v = next(), user = v.substr(0, v.find(":")), gname = v.find(":") == std::string::npos ? "" : v.substr(v.find(":") + 1);
      if (!user.empty()) {
        const passwd* pw = getpwnam(user.c_str());
        if (!pw) return std::fprintf(stderr, "vgpu-hostd: no user %s\n", user.c_str()), 2;
        opt.region_uid = static_cast<int>(pw->pw_uid);
        opt.region_gid = static_cast<int>(pw->pw_gid);
      }
      if (!gname.empty()) {
        const struct group* gr = getgrnam(gname.c_str());
        if (!gr) return std::fprintf(stderr, "vgpu-hostd: no group %s\n", gname.c_str()), 2;
        opt.region_gid = static_cast<int>(gr->gr_gid);
      }
    } else if (a == "--region-mode") opt.region_mode = static_cast<unsigned>(std::strtoul(next(), nullptr, 8));
    else if (a == "-h" || a == "--help") return usage(), 0;
    else {
      std::fprintf(stderr, "vgpu-hostd: unknown option %s\n", a.c_str());
      return usage(), 2;
    }
  }
  if (opt.regions.empty()) opt.regions.push_back(vgpu::default_region_path("0"));
  vgpu::Layout l;
  const char* why = nullptr;
  if (!vgpu::compute_layout(opt.config, &l, &why)) {
    std::fprintf(stderr, "vgpu-hostd: %s\n", why);
    return 2;
  }
  return vgpu::host::run_daemon(opt);
}
