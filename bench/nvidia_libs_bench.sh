#!/usr/bin/env bash
# NVIDIA-library speed on the GPU machine, native and through vgpu in one run
# (bench/nvidia_libs_bench.py): cuFFT (CuPy fft of 2^24 complex64), cuDNN
# convolution (torch conv2d fp16, batch 64, 256 channels, 3x3, 56x56) and a
# CuPy ElementwiseKernel loop (2^26 float32, 200 launches), each at a GPU-bound
# size; then a table of ratios (target >= 0.95x native) ready for bench/RESULTS.md.
# Each part runs natively and then remoted right after it (same minute), in
# processes of their own, remoted with our libcuda.so.1 and libnvidia-ml.so.1
# preloaded (NVIDIA's runtime and libraries otherwise, as CuPy and PyTorch ship them).
#
#   bash bench/nvidia_libs_bench.sh [BUILD_DIR]     (default build; about 1-2 minutes on an H200)
#
# PARTS ("fft conv elementwise"), REPEATS (5), FFT_ITERS (100), CONV_ITERS (50),
# EW_ITERS (200), TIMEOUT per process (60 s), PYTHON (python3), BACKEND (cuda;
# cpu: a dry run of the plumbing). Logs: ${OUT:-/tmp/out}/nvidia-libs-bench/
# ({native,vgpu}/PART.{log,json}, hostd.log, table.md); exit 0 when every
# part reaches 0.95x with native's result.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" 2>/dev/null && pwd) || { echo "no build dir ${1:-$ROOT/build}"; exit 2; }
PY=${PYTHON:-python3}
DIR=${OUT:-/tmp/out}/nvidia-libs-bench
BENCH=$ROOT/bench/nvidia_libs_bench.py
TIMEOUT=${TIMEOUT:-60}
for f in bin/vgpu-hostd lib/libcuda.so.1 lib/libnvidia-ml.so.1; do
  [ -e "$BUILD/$f" ] || { echo "missing $BUILD/$f: build vgpu first (tests/gpu/build.sh)"; exit 2; }
done
rm -rf "$DIR" && mkdir -p "$DIR/native" "$DIR/vgpu"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
echo "python: $("$PY" -c 'import sys; print(sys.executable)')  logs: $DIR"

REGION=/dev/shm/vgpu-nvbench-$$
# The daemon must load NVIDIA's libcuda, never ours.
env -u LD_PRELOAD "$BUILD/bin/vgpu-hostd" --region "$REGION" --backend "${BACKEND:-cuda}" ${HOSTD_ARGS:-} >"$DIR/hostd.log" 2>&1 &
HOSTD=$!
trap 'kill $HOSTD 2>/dev/null; wait $HOSTD 2>/dev/null; rm -f "$REGION" "$REGION.stats"' EXIT
for _ in $(seq 200); do [ -e "$REGION.stats" ] && break; sleep 0.05; done
[ -e "$REGION.stats" ] || { echo "vgpu-hostd did not start:"; cat "$DIR/hostd.log"; exit 1; }
PRELOAD="$BUILD/lib/libcuda.so.1:$BUILD/lib/libnvidia-ml.so.1"
# Kernels CuPy compiles are cached per run, so each run does its own NVRTC work (outside the timed rounds).
for part in ${PARTS:-fft conv elementwise}; do
  for mode in native vgpu; do
    t0=$SECONDS
    if [ "$mode" = native ]; then
      CUPY_CACHE_DIR=$DIR/cache-native timeout "$TIMEOUT" env -u VGPU_REGION "$PY" "$BENCH" run "$DIR/$mode/$part.json" "$part" >"$DIR/$mode/$part.log" 2>&1
    else
      CUPY_CACHE_DIR=$DIR/cache-vgpu timeout "$TIMEOUT" env VGPU_REGION="$REGION" LD_PRELOAD="$PRELOAD" \
        "$PY" "$BENCH" run "$DIR/$mode/$part.json" "$part" >"$DIR/$mode/$part.log" 2>&1
    fi
    rc=$?
    echo "  $part $mode: exit $rc in $((SECONDS - t0)) s: $(grep -E "^$part " "$DIR/$mode/$part.log" | cut -c1-220)"
    [ $rc = 0 ] || tail -3 "$DIR/$mode/$part.log" | sed 's/^/      /'
  done
done
grep -h "is not supported" "$DIR"/vgpu/*.log | sort | uniq -c | sed 's/^/refused: /' | head -20
rm -rf "$DIR/cache-native" "$DIR/cache-vgpu"
echo "== results (vgpu speed / native = native ms over vgpu ms; > 1 means vgpu is faster)"
"$PY" "$BENCH" compare "$DIR/native" "$DIR/vgpu" | tee "$DIR/table.md"
rc=${PIPESTATUS[0]}
echo "== total $SECONDS s"
exit "$rc"
