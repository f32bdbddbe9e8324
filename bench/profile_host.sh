#!/usr/bin/env bash
# Where the host's time goes for chosen benchmarks: runs them natively and
# through a vgpu-hostd started with --profile, then prints the benchmarks'
# rows side by side and the worker's per-op table (dispatch cost, answer wait,
# gap between records).
#
#   bench/profile_host.sh [BUILD_DIR] [FILTER]
#     BUILD_DIR  default build-gpu;  FILTER a --benchmark_filter regex
#                (default: GEMMs at n=1024 and launch+sync)
# Environment: HOSTD_CPUS / GUEST_CPUS pin the daemon (and so its workers) and
# the benchmark programs to those CPUs (taskset lists), to see placement effects.
set -uo pipefail
BUILD=$(readlink -f "${1:-build-gpu}")
FILTER=${2:-'gemm/(sgemm|gemmex_f16)/1024|launch/launch_sync'}
CUDA_LIB=${CUDA_LIB:-/usr/local/cuda/lib64}
REGION=/dev/shm/vgpu-profile-$$
LOG=${LOG_DIR:-$(mktemp -d)}
mkdir -p "$LOG"
pin() { if [ -n "$1" ]; then echo taskset -c "$1"; fi; }
$(pin "${HOSTD_CPUS:-}") "$BUILD/bin/vgpu-hostd" --region "$REGION" --backend cuda --slots 4 --arena-mb 64 --profile 2>"$LOG/hostd.log" &
HOSTD=$!
trap 'kill $HOSTD 2>/dev/null; wait $HOSTD 2>/dev/null; rm -f "$REGION" "$REGION.stats"' EXIT
for _ in $(seq 600); do [ -e "$REGION.stats" ] && break; sleep 0.05; done  # MPS start-up may take seconds
for prog in calls gemm; do
  for side in native vgpu; do
    if [ $side = native ]; then
      env -u VGPU_REGION LD_LIBRARY_PATH="$CUDA_LIB:${LD_LIBRARY_PATH:-}" timeout 120 \
        $(pin "${GUEST_CPUS:-}") "$BUILD/bench/api/bench_api_$prog" --benchmark_filter="$FILTER" >"$LOG/$prog.$side" 2>&1
    else
      LD_LIBRARY_PATH="$BUILD/lib:${LD_LIBRARY_PATH:-}" VGPU_REGION="$REGION" timeout 120 \
        $(pin "${GUEST_CPUS:-}") "$BUILD/bench/api/bench_api_$prog" --benchmark_filter="$FILTER" >"$LOG/$prog.$side" 2>&1
    fi
    echo "-- $prog ($side)"
    grep -E '^(gemm|launch|null)' "$LOG/$prog.$side" | sed 's/^/   /'
  done
done
sleep 0.5  # the worker prints its table when the guest has left
echo "-- host worker profile"
sed -n '/profile (per op/,/gap between records/p' "$LOG/hostd.log"
