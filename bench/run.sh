#!/usr/bin/env bash
# Native vs vgpu, side by side: starts a vgpu-hostd, runs every bench/api
# program twice (NVIDIA's libraries, then ours through the daemon) and writes
# OUT/results.json, OUT/results.md and, with matplotlib, OUT/bandwidth.png and
# OUT/latency.png.
#
#   bench/run.sh [--quick] [--build DIR] [--out DIR] [--backend auto|cuda|cpu] [--check]
#
#   --quick    small sizes and few iterations (CI smoke run on the CPU backend)
#   --build    the CMake build folder (default: build); programs in DIR/bench/api
#   --out      where results go (default: DIR/bench/results)
#   --backend  vgpu-hostd's backend (default auto: the GPU if one works)
#   --check    afterwards, fail unless the vgpu side produced the copy and
#              round-trip rows (what the ctest checks)
# Environment: CUDA_LIB (default /usr/local/cuda/lib64) is put first on the
# native runs' LD_LIBRARY_PATH (the system's libcuda.so.1 is the native
# driver), build/lib first on the vgpu runs'; an LD_LIBRARY_PATH already set
# (e.g. for libbenchmark) follows. BENCH_DEADLINE: seconds the whole script may
# take (default 420, quick 150); a run that would pass it is cut short.
# ROUNDS (default 3, quick 1): native and vgpu alternate this many times per
# program, and report.py keeps each side's best round (see its docstring).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=
QUICK=0
BACKEND=auto
CHECK=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --build) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    --backend) BACKEND=$2; shift ;;
    --check) CHECK=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
BUILD=$(readlink -f "$BUILD")
OUT=$(readlink -f "${OUT:-$BUILD/bench/results}")
BIN=$BUILD/bench/api
CUDA_LIB=${CUDA_LIB:-/usr/local/cuda/lib64}
RAW=$OUT/raw
mkdir -p "$RAW"
rm -f "$RAW"/*.json "$RAW"/*.log "$OUT"/results.json "$OUT"/results.md "$OUT"/*.png

for f in "$BUILD/bin/vgpu-hostd" "$BUILD/lib/libcuda.so.1" "$BIN/bench_api_calls" "$BIN/bench_api_memcpy" "$BIN/bench_api_gemm"; do
  if [ ! -e "$f" ]; then
    echo "bench/run.sh: $f is missing: build first (cmake --build $BUILD)" >&2
    exit 2
  fi
done

# The daemon: two slots (one guest at a time here, the second covers the
# moment a finished guest's slot is being released); the arena holds the
# largest pinned buffer (256 MiB) plus staging chunks.
if [ $QUICK = 1 ]; then ARENA=64; QARG=--quick; T=90; else ARENA=512; QARG=; T=240; fi
DEADLINE=$((SECONDS + ${BENCH_DEADLINE:-$([ $QUICK = 1 ] && echo 150 || echo 420)}))
EXTRA_LD=${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
REGION=/dev/shm/vgpu-bench-$$
"$BUILD/bin/vgpu-hostd" --region "$REGION" --backend "$BACKEND" --slots 2 --arena-mb $ARENA 2>"$OUT/hostd.log" &
HOSTD=$!
cleanup() {
  kill "$HOSTD" 2>/dev/null
  wait "$HOSTD" 2>/dev/null
  rm -f "$REGION" "$REGION.stats"
}
trap cleanup EXIT
for _ in $(seq 600); do
  [ -e "$REGION.stats" ] && break
  kill -0 "$HOSTD" 2>/dev/null || break
  sleep 0.05
done
if ! kill -0 "$HOSTD" 2>/dev/null || [ ! -e "$REGION.stats" ]; then
  echo "bench/run.sh: vgpu-hostd did not start:" >&2
  cat "$OUT/hostd.log" >&2
  exit 1
fi

RUNS=()
run_one() {  # prog side
  local prog=$1 side=$2 rc note=
  local json=$RAW/$prog.$side.r$ROUND.json log=$RAW/$prog.$side.r$ROUND.log
  local args=($QARG --benchmark_out="$json" --benchmark_out_format=json)
  local t0=$SECONDS t=$T left=$((DEADLINE - SECONDS - 10))
  [ $left -lt $t ] && t=$left
  if [ $t -lt 5 ]; then
    RUNS+=(--run "$prog:$side:-:$side: not run (bench/run.sh out of time)")
    echo "== $prog ($side): not run, out of time"
    return
  fi
  if [ "$side" = native ]; then
    env -u VGPU_REGION LD_LIBRARY_PATH="$CUDA_LIB$EXTRA_LD" timeout $t "$BIN/bench_api_$prog" "${args[@]}" >"$log" 2>&1
    rc=$?
    [ $rc -ne 0 ] && [ ! -s "$json" ] && note="no native"
  else
    if [ "$prog" = gemm ] && [ ! -e "$BUILD/lib/libcublas.so.13" ]; then
      echo "vgpu: $BUILD/lib/libcublas.so.13 is not built" >"$log"
      RUNS+=(--run "$prog:$side:-:vgpu: library not built")
      echo "== $prog ($side): skipped, our libcublas.so.13 is not built"
      return
    fi
    LD_LIBRARY_PATH="$BUILD/lib$EXTRA_LD" VGPU_REGION="$REGION" timeout $t "$BIN/bench_api_$prog" "${args[@]}" >"$log" 2>&1
    rc=$?
    [ $rc -eq 124 ] && note="vgpu: timed out after ${t}s"
  fi
  [ $rc -eq 124 ] && [ "$side" = native ] && note="native: timed out after ${t}s"
  RUNS+=(--run "$prog:$side:$rc${note:+:$note}")
  echo "== $prog ($side, round $ROUND): rc=$rc in $((SECONDS - t0)) s${note:+ ($note)}"
  if [ $rc -ne 0 ]; then tail -3 "$log" | sed 's/^/   /'; fi
}

ROUNDS=${ROUNDS:-$([ $QUICK = 1 ] && echo 1 || echo 3)}
for ROUND in $(seq "$ROUNDS"); do
  for prog in calls memcpy gemm; do
    run_one "$prog" native
    run_one "$prog" vgpu
  done
done
if ! kill -0 "$HOSTD" 2>/dev/null; then echo "bench/run.sh: vgpu-hostd died during the run (see $OUT/hostd.log)" >&2; fi

GPU=
DRIVER=
if command -v nvidia-smi >/dev/null 2>&1; then
  line=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader -i 0 2>/dev/null | head -1)
  if [ -n "$line" ]; then GPU=${line%%, *}; DRIVER=${line##*, }; fi
fi
# Any python3 will do; prefer one that has matplotlib, for the plots.
PY=python3
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import matplotlib' 2>/dev/null; then PY=$p; break; fi
done
"$PY" "$ROOT/bench/report.py" --raw "$RAW" --out "$OUT" ${QARG:+--quick} --gpu "$GPU" --driver "$DRIVER" "${RUNS[@]}" || exit 1
echo "== results: $OUT/results.md (and results.json$( [ -e "$OUT/bandwidth.png" ] && echo ', bandwidth.png, latency.png'))"
cat "$OUT/results.md"
if [ $CHECK = 1 ]; then
  "$PY" "$ROOT/bench/report.py" --check "$OUT/results.json" || exit 1
fi
exit 0
