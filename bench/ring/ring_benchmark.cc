// Two-process benchmarks of the command/completion rings, next to the two
// yardsticks the issue compares them with: a raw cache-line ping-pong (the
// floor for any shared-memory round trip) and a Unix-domain-socket
// ping-pong (what a socket-based remoting layer pays).
//
// Latency benchmarks time every iteration with the TSC into a histogram and
// report p50/p99/p99.9 as counters. Throughput benchmarks report records/s
// and payload GB/s measured until the consumer has drained the ring.
// run_ring_bench.sh turns the output into a table with ratios.
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "bench_support.h"
#include "vgpu/ring.h"
#include "vgpu/wait.h"

namespace vgpu::bench {
namespace {

constexpr uint16_t kOpData = 1;
constexpr uint16_t kOpStop = 2;
constexpr int kWarmup = 2000;  // round trips before timing: both sides running, lines warm

void report_latency(benchmark::State& state, const Histogram& h) {
  state.counters["p50_ns"] = h.percentile_ns(50);
  state.counters["p99_ns"] = h.percentile_ns(99);
  state.counters["p99.9_ns"] = h.percentile_ns(99.9);
}

// ---------------------------------------------------------------- raw line

// One 64-byte line, one counter: the parent writes an odd value, the child
// answers with the next even one. Two line transfers per round trip.
void BM_RawLinePingPong(benchmark::State& state) {
  BenchRegion region;
  constexpr uint64_t kStop = ~uint64_t{0};
  auto* line = new (region.scratch()) std::atomic<uint64_t>(0);
  Partner partner([line] {
    for (uint64_t expect = 1;; expect += 2) {
      uint64_t x;
      while ((x = line->load(std::memory_order_acquire)) != expect) {
        if (x == kStop) return;
        cpu_relax();
      }
      line->store(expect + 1, std::memory_order_release);
    }
  });
  uint64_t v = 1;
  auto round_trip = [&] {
    line->store(v, std::memory_order_release);
    while (line->load(std::memory_order_acquire) != v + 1) cpu_relax();
    v += 2;
  };
  for (int i = 0; i < kWarmup; ++i) round_trip();
  Histogram h;
  for (auto _ : state) {
    const uint64_t t0 = ticks();
    round_trip();
    h.add(ticks() - t0);
  }
  line->store(kStop, std::memory_order_release);
  if (!partner.join()) state.SkipWithError("partner failed");
  report_latency(state, h);
}
BENCHMARK(BM_RawLinePingPong)->UseRealTime();

// ---------------------------------------------------------------- ring RTT

// A 64-byte record (32-byte payload) with kFlagWantCompletion down the
// command ring; the child pops it and posts a Completion; the parent takes
// it. This is a synchronous call's transport cost, without any work.
void BM_RingRoundTrip(benchmark::State& state) {
  const uint32_t payload = static_cast<uint32_t>(state.range(0)) - kRecordAlign;
  BenchRegion region;
  Partner partner([&region] {
    RingConsumer cmd = region.cmd_consumer();
    CplProducer cpl = region.cpl_producer();
    std::byte sink[4096];
    for (;;) {
      RingConsumer::View v{};
      RingError e;
      while ((e = cmd.peek(&v)) == RingError::kEmpty) cpu_relax();
      if (e != RingError::kNone) _exit(3);
      if (v.op == kOpStop) return;
      std::memcpy(sink, v.payload, v.payload_bytes);  // a host decodes the request
      benchmark::DoNotOptimize(sink);
      const uint64_t seq = v.seq;
      cmd.pop(v);
      while (!cpl.try_post(0, seq, seq, 0, 0)) cpu_relax();
    }
  });
  RingProducer cmd = region.cmd_producer();
  CplConsumer cpl = region.cpl_consumer();
  std::vector<std::byte> src(payload, std::byte{0x5a});
  uint64_t seq = 0;
  bool bad = false;
  auto round_trip = [&] {
    RecordHeader* h;
    while (!(h = cmd.try_reserve(payload))) cpu_relax();
    std::memcpy(reinterpret_cast<std::byte*>(h + 1), src.data(), payload);
    cmd.commit(h, kOpData, kFlagWantCompletion, seq);
    CompletionData c{};
    while (!cpl.try_take(&c)) cpu_relax();
    bad |= c.seq != seq;
    ++seq;
  };
  for (int i = 0; i < kWarmup; ++i) round_trip();
  Histogram h;
  for (auto _ : state) {
    const uint64_t t0 = ticks();
    round_trip();
    h.add(ticks() - t0);
  }
  RecordHeader* stop;
  while (!(stop = cmd.try_reserve(0))) cpu_relax();
  cmd.commit(stop, kOpStop, 0, seq);
  if (!partner.join() || bad) state.SkipWithError("partner failed or completions out of order");
  report_latency(state, h);
}
BENCHMARK(BM_RingRoundTrip)->Arg(64)->UseRealTime();

// ---------------------------------------------------------------- socket

bool full_io(int fd, void* buf, size_t n, bool writing) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t k = writing ? write(fd, p, n) : read(fd, p, n);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// 64 bytes each way over a socketpair, blocking reads: what a remoting
// layer built on a Unix socket pays per synchronous call.
void BM_SocketPingPong(benchmark::State& state) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  Partner partner([&sv] {
    close(sv[0]);
    char buf[64];
    while (full_io(sv[1], buf, sizeof buf, false)) full_io(sv[1], buf, sizeof buf, true);
  });
  close(sv[1]);
  char buf[64] = {};
  bool ok = true;
  auto round_trip = [&] { ok &= full_io(sv[0], buf, sizeof buf, true) && full_io(sv[0], buf, sizeof buf, false); };
  for (int i = 0; i < kWarmup / 10; ++i) round_trip();
  Histogram h;
  for (auto _ : state) {
    const uint64_t t0 = ticks();
    round_trip();
    h.add(ticks() - t0);
  }
  close(sv[0]);  // the child's read returns 0 and it exits
  if (!partner.join() || !ok) state.SkipWithError("socket ping-pong failed");
  report_latency(state, h);
}
BENCHMARK(BM_SocketPingPong)->UseRealTime();

// ---------------------------------------------------------------- one way

// Records of range(0) bytes (header included: payload = range(0) - 32),
// published one by one (range(1) == 1) or in batches of range(1). The
// producer copies each payload in, the consumer copies it out, as a guest
// encoding and a host decoding a call would. Rates are measured until the
// consumer has drained the ring.
void BM_RingThroughput(benchmark::State& state) {
  const uint32_t record = static_cast<uint32_t>(state.range(0));
  const uint32_t payload = record - kRecordAlign;
  const uint32_t batch = static_cast<uint32_t>(state.range(1));
  BenchRegion region;
  Partner partner([&region] {
    RingConsumer cmd = region.cmd_consumer();
    std::vector<std::byte> sink(1 << 16);
    for (uint64_t want = 0;; ++want) {
      RingConsumer::View v{};
      RingError e;
      while ((e = cmd.peek(&v)) == RingError::kEmpty) cpu_relax();
      if (e != RingError::kNone) _exit(3);
      if (v.op == kOpStop) return;
      if (v.seq != want) _exit(4);
      std::memcpy(sink.data(), v.payload, v.payload_bytes);
      benchmark::DoNotOptimize(sink.data());
      cmd.pop(v);
    }
  });
  RingProducer cmd = region.cmd_producer();
  std::vector<std::byte> src(payload, std::byte{0xa5});
  uint64_t seq = 0;
  auto reserve = [&] {
    RecordHeader* h;
    // Full: back off a little, so that polling the consumer's head line
    // does not steal it from the consumer on every pop.
    while (!(h = cmd.try_reserve(payload)))
      for (int i = 0; i < 16; ++i) cpu_relax();
    return h;
  };
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (batch > 1) cmd.begin_batch();
    for (uint32_t k = 0; k < batch; ++k) {
      RecordHeader* h = reserve();
      std::memcpy(reinterpret_cast<std::byte*>(h + 1), src.data(), payload);
      cmd.commit(h, kOpData, 0, seq++);
    }
    if (batch > 1) cmd.end_batch();
  }
  while (!cmd.drained()) cpu_relax();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RecordHeader* stop = reserve();
  cmd.commit(stop, kOpStop, 0, seq);
  if (!partner.join()) state.SkipWithError("consumer saw a bad or out-of-order record");
  state.counters["records_per_s"] = static_cast<double>(seq) / secs;
  state.counters["GB_per_s"] = static_cast<double>(seq) * payload / secs / 1e9;
  state.counters["batch"] = batch;
}
BENCHMARK(BM_RingThroughput)
    ->ArgNames({"record_bytes", "batch"})
    ->ArgsProduct({{64, 4096}, {1, 32}})
    ->UseRealTime();

}  // namespace
}  // namespace vgpu::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const auto [a, b] = vgpu::bench::two_cpus();
  benchmark::AddCustomContext("cpus", a < 0 ? "fewer than 2 (unpinned)" : std::to_string(a) + "," + std::to_string(b));
  benchmark::AddCustomContext("tsc_ns_per_tick", std::to_string(vgpu::bench::ns_per_tick()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
