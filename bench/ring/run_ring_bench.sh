#!/usr/bin/env bash
# Runs ring_benchmark and prints its figures as a table, with the ratios the
# issue sets targets for:
#   ring round trip / raw cache-line round trip   (target <= 1.5)
#   socket round trip / ring round trip
#   64 B records/s one way with batching          (target >= 20 M/s)
#
# Usage: bench/ring/run_ring_bench.sh [path/to/ring_benchmark] [extra benchmark flags]
# Env:   REPS (default 5) repetitions; MIN_TIME (default 0.5) seconds each.
# Latencies are the median over repetitions of each run's p50/p99; rates are
# the median and the best repetition (on a shared machine the best is the
# closest to an undisturbed run; the median says how often it is disturbed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-}
if [[ -n "$bin" && "$bin" != -* ]]; then shift; else
  bin=""
  for d in "$root/build-ring" "$root/build"; do
    [[ -x "$d/bin/ring_benchmark" ]] && { bin="$d/bin/ring_benchmark"; break; }
  done
fi
[[ -x "$bin" ]] || { echo "ring_benchmark not found; build it (target ring_benchmark) or pass its path" >&2; exit 1; }

out=$(mktemp /tmp/ring_bench.XXXXXX.json)
trap 'rm -f "$out"' EXIT
"$bin" --benchmark_repetitions="${REPS:-5}" --benchmark_min_time="${MIN_TIME:-0.5}" \
  --benchmark_out="$out" --benchmark_out_format=json "$@" >&2

python3 - "$out" <<'PY'
import json, statistics, sys

data = json.load(open(sys.argv[1]))
runs = {}
for b in data["benchmarks"]:
    if b.get("run_type") != "iteration" or b.get("error_occurred"):
        continue
    runs.setdefault(b["run_name"], []).append(b)

def med(name, key):
    v = [r[key] for r in runs.get(name, []) if key in r]
    return statistics.median(v) if v else None

def best(name, key):
    v = [r[key] for r in runs.get(name, []) if key in r]
    return max(v) if v else None

def ns(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return f"{v/1e6:.1f} ms"
    return f"{v/1000:.1f} us" if v >= 1e4 else f"{v:.0f} ns"

def rate(v, unit=""):
    return "-" if v is None else (f"{v/1e6:.2f} M" if v >= 1e5 else f"{v/1e3:.1f} k") + unit

ctx = data.get("context", {})
print(f"\nring_benchmark on {ctx.get('num_cpus')} CPUs at {ctx.get('mhz_per_cpu')} MHz, pinned to CPUs {ctx.get('cpus')}, "
      f"load average {', '.join(f'{x:.1f}' for x in ctx.get('load_avg', []))}\n")

lat = [("raw cache-line ping-pong", "BM_RawLinePingPong/real_time"),
       ("ring round trip, 64 B record", "BM_RingRoundTrip/64/real_time"),
       ("unix socket ping-pong, 64 B", "BM_SocketPingPong/real_time")]
print(f"{'round trip (two processes)':32} {'p50':>10} {'p99':>10} {'p99.9':>10}")
for label, name in lat:
    print(f"{label:32} {ns(med(name, 'p50_ns')):>10} {ns(med(name, 'p99_ns')):>10} {ns(med(name, 'p99.9_ns')):>10}")

print(f"\n{'one way (two processes)':32} {'records/s':>12} {'best':>12} {'GB/s':>8} {'best':>8}")
for rec, lab in ((64, "64 B"), (4096, "4 KiB")):
    for batch in (1, 32):
        name = f"BM_RingThroughput/record_bytes:{rec}/batch:{batch}/real_time"
        label = f"ring, {lab} records" + (f", batch {batch}" if batch > 1 else ", no batching")
        g, gb = med(name, "GB_per_s"), best(name, "GB_per_s")
        print(f"{label:32} {rate(med(name, 'records_per_s')):>12} {rate(best(name, 'records_per_s')):>12} "
              f"{'-' if g is None else f'{g:.2f}':>8} {'-' if gb is None else f'{gb:.2f}':>8}")

raw = med(lat[0][1], "p50_ns"); ring = med(lat[1][1], "p50_ns"); sock = med(lat[2][1], "p50_ns")
b64 = med("BM_RingThroughput/record_bytes:64/batch:32/real_time", "records_per_s")
b64best = best("BM_RingThroughput/record_bytes:64/batch:32/real_time", "records_per_s")
print("\nratios (p50 round trips)")
if raw and ring:
    r = ring / raw
    print(f"  ring RTT / raw line RTT     {r:6.2f}   target <= 1.5: {'met' if r <= 1.5 else 'MISSED'}")
if ring and sock:
    print(f"  socket RTT / ring RTT       {sock / ring:6.1f}")
if b64:
    print(f"  64 B batched records/s      {b64/1e6:6.1f} M (best {b64best/1e6:.1f} M)   target >= 20 M: "
          f"{'met' if b64 >= 20e6 else ('met by the best run only' if b64best >= 20e6 else 'MISSED')}")
PY
