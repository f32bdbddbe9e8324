#!/usr/bin/env bash
# On the GPU machine: NVIDIA's own runtime and libraries (the ones CuPy,
# PyTorch and JAX ship: libcudart, cuBLAS, cuFFT, cuRAND, cuSOLVER, cuSPARSE,
# cuDNN, NVRTC, NCCL for one rank) natively, then over OUR libcuda.so.1 (and libnvidia-ml.so.1)
# with vgpu-hostd on the CUDA backend, in one run; compares every value.
# No network. Prints the export tables the libraries asked for, what was
# refused, and a summary table last.
#   tests/gpu/nvidia_libs.sh [BUILD_DIR]            (default: build)
# Environment: PYTHON (python3), FRAMEWORKS ("cupy torch jax"), TIMEOUT (per
# process, 60 s; the whole run stays under 4 minutes), BACKEND (cuda; cpu for a dry run of the plumbing), NVML (1: preload our NVML too; 0: only our libcuda),
# LOG_DIR (a temp dir), HOSTD_ARGS (extra vgpu-hostd flags, e.g. --trace).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(readlink -f "${1:-$ROOT/build}")
PY=${PYTHON:-python3}
FRAMEWORKS=${FRAMEWORKS:-cupy torch jax}
TIMEOUT=${TIMEOUT:-60}
HERE=$ROOT/tests/gpu/nvidia_libs
LOG=${LOG_DIR:-$(mktemp -d)}
mkdir -p "$LOG"
REGION=/dev/shm/vgpu-nvlibs-$$
[ -x "$BUILD/bin/vgpu-hostd" ] && [ -e "$BUILD/lib/libcuda.so.1" ] ||
  { echo "no $BUILD/bin/vgpu-hostd or $BUILD/lib/libcuda.so.1: build first"; exit 2; }
# Our libraries by LD_PRELOAD: PyTorch's find NVIDIA's by DT_RPATH, which
# LD_LIBRARY_PATH does not override; a preloaded libcuda.so.1 is the one
# every dlopen("libcuda.so.1") gets.
PRELOAD="$BUILD/lib/libcuda.so.1"
[ "${NVML:-1}" = 1 ] && PRELOAD="$PRELOAD:$BUILD/lib/libnvidia-ml.so.1"

# shellcheck disable=SC2086  # HOSTD_ARGS: extra daemon flags, e.g. --trace, word-split on purpose
"$BUILD/bin/vgpu-hostd" --region "$REGION" --backend "${BACKEND:-cuda}" ${HOSTD_ARGS:-} 2>"$LOG/hostd.log" &
HOSTD=$!
trap 'kill $HOSTD 2>/dev/null; wait $HOSTD 2>/dev/null; rm -f "$REGION" "$REGION.stats"' EXIT
for _ in $(seq 200); do [ -e "$REGION.stats" ] && break; sleep 0.05; done
[ -e "$REGION.stats" ] || { echo "vgpu-hostd did not start:"; cat "$LOG/hostd.log"; exit 1; }

export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX: allocate as needed, in both runs
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}    # NCCL says why a call failed (in both runs)
ran=()
for fw in $FRAMEWORKS; do
  if ! "$PY" -c "import $fw" >/dev/null 2>&1; then echo "== $fw: not importable by $PY, skipped"; continue; fi
  ran+=("$fw")
  t0=$(date +%s.%N)
  env -u VGPU_REGION timeout "$TIMEOUT" "$PY" "$HERE/work.py" "$fw" "$LOG/native.$fw.npz" >"$LOG/native.$fw.log" 2>&1
  rn=$?
  t1=$(date +%s.%N)
  timeout "$TIMEOUT" env VGPU_REGION="$REGION" VGPU_TRACE_EXPORTS=1 LD_PRELOAD="$PRELOAD" \
    "$PY" "$HERE/work.py" "$fw" "$LOG/vgpu.$fw.npz" >"$LOG/vgpu.$fw.log" 2>&1
  rv=$?
  t2=$(date +%s.%N)
  printf '== %s: native rc=%d %.1fs, vgpu rc=%d %.1fs (logs %s/{native,vgpu}.%s.log)\n' "$fw" $rn \
    "$(awk "BEGIN{print $t1 - $t0}")" $rv "$(awk "BEGIN{print $t2 - $t1}")" "$LOG" "$fw"
done
[ ${#ran[@]} -gt 0 ] || { echo "no framework to run"; exit 2; }

echo "== export tables (vgpu runs): tables served, slots called, unknown UUIDs"
cat "$LOG"/vgpu.*.log | grep -o 'export table .*' | sort | uniq -c | sort -rn
echo "== refused remoted (first 30)"
cat "$LOG"/vgpu.*.log | grep -o 'vgpu: .* is not supported.*' | sort | uniq -c | sort -rn | head -30
echo "== guest processes the host served: $(grep -c 'serving guest' "$LOG/hostd.log"); host log's last lines:"
tail -5 "$LOG/hostd.log" | sed 's/^/   /'
echo
"$PY" "$HERE/compare.py" "$LOG" "${ran[@]}"
