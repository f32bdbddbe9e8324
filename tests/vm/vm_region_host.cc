// Host stand-in for the VM test, until vgpu-hostd serves the region:
// creates the region file, sizes it to a power of two (QEMU's ivshmem BAR
// must be one), marks it ready, bumps the heartbeat, answers the test echo
// (vm_ping.h) and waits until SIGTERM/SIGINT.
//
//   vm_region_host --region PATH [--arena-mib N] [--slots N] [--channels N]
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "mapping.h"
#include "vgpu/region.h"
#include "vgpu/wait.h"
#include "vm_ping.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

uint64_t round_up_pow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

int usage() {
  std::fprintf(stderr, "usage: vm_region_host --region PATH [--arena-mib N] [--slots N] [--channels N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  vgpu::RegionConfig cfg;
  cfg.arena_bytes = 16ull << 20;
  cfg.slot_count = 2;
  cfg.channels_per_slot = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    if (a == "--region") path = argv[++i];
    else if (a == "--arena-mib") cfg.arena_bytes = std::strtoull(argv[++i], nullptr, 0) << 20;
    else if (a == "--slots") cfg.slot_count = std::strtoul(argv[++i], nullptr, 0);
    else if (a == "--channels") cfg.channels_per_slot = std::strtoul(argv[++i], nullptr, 0);
    else return usage();
  }
  if (path.empty()) return usage();

  std::string err;
  auto m = vgpu::create_region_file(path, cfg, &err);
  if (!m) {
    std::fprintf(stderr, "vm_region_host: %s\n", err.c_str());
    return 1;
  }
  // QEMU registers the memory backend as the ivshmem BAR2 and aborts unless
  // its size is a power of two (hw/pci/pci.c: pci_register_bar asserts
  // is_power_of_2). Grow the file; the guest maps the whole BAR and
  // validate_header accepts total_bytes <= mapped bytes.
  const uint64_t file_bytes = round_up_pow2(m->bytes());
  if (file_bytes != m->bytes() && truncate(path.c_str(), static_cast<off_t>(file_bytes)) != 0) {
    std::fprintf(stderr, "vm_region_host: truncate %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  auto* h = m->header();
  h->host_pid = static_cast<uint32_t>(getpid());
  h->host_state.store(static_cast<uint32_t>(vgpu::HostState::kReady), std::memory_order_release);
  std::printf("vm_region_host: %s ready: region %" PRIu64 " bytes, file %" PRIu64
              " bytes, %u slots x %u channels, arena %" PRIu64 " MiB, session %016" PRIx64 ", pid %d\n",
              path.c_str(), m->bytes(), file_bytes, cfg.slot_count, cfg.channels_per_slot,
              cfg.arena_bytes >> 20, h->session_id.load(), getpid());
  std::fflush(stdout);

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  // Echo loop: spin while pings arrive, fall back to 1 ms polls after 200 ms
  // of silence (so an idle stand-in does not take a core from the VM).
  using clock = std::chrono::steady_clock;
  auto* pp = vgpu::vmtest::ping_page(m->view());
  uint64_t last = pp->ping.load(std::memory_order_acquire);
  uint64_t answered = 0;
  auto last_ping = clock::now() - std::chrono::seconds(1);
  auto next_beat = clock::now();
  while (!g_stop) {
    const uint64_t v = pp->ping.load(std::memory_order_acquire);
    if (v != last) {
      pp->pong.store(v, std::memory_order_release);
      last = v;
      if (answered++ == 0) {
        std::printf("vm_region_host: first ping from the guest (%" PRIu64 ")\n", v);
        std::fflush(stdout);
      }
      last_ping = clock::now();
      continue;
    }
    const auto now = clock::now();
    if (now >= next_beat) {
      h->host_heartbeat.fetch_add(1, std::memory_order_release);
      next_beat = now + std::chrono::milliseconds(100);
    }
    if (now - last_ping < std::chrono::milliseconds(200)) {
      for (int i = 0; i < 64; ++i) vgpu::cpu_relax();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  h->host_state.store(static_cast<uint32_t>(vgpu::HostState::kStopped), std::memory_order_release);
  std::printf("vm_region_host: stopping: answered %" PRIu64 " pings, heartbeat %" PRIu64 "\n", answered,
              h->host_heartbeat.load());
  return 0;
}
