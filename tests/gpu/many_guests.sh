#!/usr/bin/env bash
# On a GPU machine: several guests on one GPU, against the same number of
# native processes in the same run (issue 8's GPU part).
#   1. native: one gemm_load alone, then GUESTS at once (the baseline);
#   2. vgpu: GUESTS gemm_load guests at once through one vgpu-hostd with a
#      per-guest quota: each sees the quota as its device, an allocation past
#      it is refused, all checksums equal native's, aggregate TFLOP/s;
#   3. kill -9 one guest mid-run: its worker ends, the GPU memory it held goes
#      back (nvidia-smi's used memory and vgpu-smi before and after), the
#      others finish with the right checksum.
#
#   tests/gpu/many_guests.sh [BUILD_DIR]     (default: build)
# Environment: GUESTS (4), N (4096), SECS (15), QUOTA_MB (8192), HOLD_MB (2048),
# F16 (1: GemmEx F16; 0: Sgemm), BACKEND (cuda; cpu for a dry run), LOG_DIR.
set -uo pipefail
BUILD=$(readlink -f "${1:-build}")
CUDA_LIB=${CUDA_LIB:-/usr/local/cuda/lib64}
GUESTS=${GUESTS:-4}
N=${N:-4096}
SECS=${SECS:-15}
QUOTA_MB=${QUOTA_MB:-8192}
HOLD_MB=${HOLD_MB:-2048}
F16=${F16:-1}
LOG=${LOG_DIR:-$(mktemp -d)}
mkdir -p "$LOG"
REGION=/dev/shm/vgpu-many-$$
LOAD="$BUILD/examples/gemm_load"
ARGS=(--n "$N" --hold-mb "$HOLD_MB")
[ "$F16" = 1 ] && ARGS+=(--f16)
fail=0

used_mib() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 2>/dev/null | head -1; }
field() { grep -o "$2=[^ ]*" "$1" | tail -1 | cut -d= -f2; }  # file key
sum_tflops() { local t=0 f; for f in "$@"; do t=$(awk -v a="$t" -v b="$(field "$f" tflops)" 'BEGIN{print a+b}'); done; echo "$t"; }

native() {  # tag seconds
  env -u VGPU_REGION LD_LIBRARY_PATH="$CUDA_LIB:${LD_LIBRARY_PATH:-}" timeout $(( ${2%.*} + 90 )) \
    "$LOAD" "${ARGS[@]}" --seconds "$2" --tag "$1" >"$LOG/$1.out" 2>&1
}
guest() {  # tag seconds [extra args]
  local tag=$1 s=$2; shift 2
  LD_LIBRARY_PATH="$BUILD/lib:${LD_LIBRARY_PATH:-}" VGPU_REGION="$REGION" timeout $(( ${s%.*} + 90 )) \
    "$LOAD" "${ARGS[@]}" --seconds "$s" --tag "$tag" "$@" >"$LOG/$tag.out" 2>&1
}

echo "== GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader -i 0)"
echo "== workload: gemm_load ${ARGS[*]}, $SECS s each, $GUESTS at once; GPU memory used at start: $(used_mib) MiB"

# ---- 1. native baseline ---------------------------------------------------------------------
native native-1 "$SECS"; echo "native alone:      $(grep -h tflops "$LOG/native-1.out")"
pids=()
for i in $(seq "$GUESTS"); do native "native-$GUESTS-$i" "$SECS" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || { echo "native process failed (rc $?)"; fail=1; }; done
for i in $(seq "$GUESTS"); do echo "native $i of $GUESTS:      $(grep -h 'tflops\|FAILED' "$LOG/native-$GUESTS-$i.out")"; done
NATIVE_AGG=$(sum_tflops "$LOG"/native-"$GUESTS"-*.out)
REF=$(field "$LOG/native-1.out" checksum)
echo "native aggregate ($GUESTS processes): $NATIVE_AGG TFLOP/s"

# ---- 2. vgpu: GUESTS guests at once, with a quota ---------------------------------------------------
"$BUILD/bin/vgpu-hostd" --region "$REGION" --backend "${BACKEND:-cuda}" --slots $((GUESTS + 2)) --arena-mb 64 \
  --mem-quota-mb "$QUOTA_MB" 2>"$LOG/hostd.log" &
HOSTD=$!
trap 'kill $HOSTD 2>/dev/null; wait $HOSTD 2>/dev/null; rm -f "$REGION" "$REGION.stats"' EXIT
for _ in $(seq 600); do [ -e "$REGION.stats" ] && break; sleep 0.05; done  # MPS start-up may take seconds
pids=()
for i in $(seq "$GUESTS"); do guest "vgpu-$i" "$SECS" --try-mb "$QUOTA_MB" & pids+=($!); done
sleep 3
"$BUILD/bin/vgpu-smi" --region "$REGION" --interval 1000 >"$LOG/smi-during.txt" 2>&1
for p in "${pids[@]}"; do wait "$p" || { echo "guest failed (rc $?)"; fail=1; }; done
for i in $(seq "$GUESTS"); do
  f=$LOG/vgpu-$i.out
  echo "guest $i of $GUESTS:       $(grep -h 'tflops\|FAILED' "$f")"
  echo "   sees total_mib=$(field "$f" total_mib) (quota $QUOTA_MB), one more ${QUOTA_MB} MiB: $(field "$f" result)"
  [ "$(field "$f" total_mib)" = "$QUOTA_MB" ] || { echo "   QUOTA NOT REPORTED"; fail=1; }
  [ "$(field "$f" result)" = cudaErrorMemoryAllocation ] || { echo "   QUOTA NOT ENFORCED"; fail=1; }
  [ "$(field "$f" checksum)" = "$REF" ] || { echo "   CHECKSUM DIFFERS from native ($REF)"; fail=1; }
done
VGPU_AGG=$(sum_tflops "$LOG"/vgpu-[0-9]*.out)
echo "vgpu aggregate ($GUESTS guests): $VGPU_AGG TFLOP/s; vs native $GUESTS processes: $(awk -v a="$VGPU_AGG" -v b="$NATIVE_AGG" 'BEGIN{printf "%.3f", a/b}')"
echo "-- vgpu-smi 3 s into the run:"; sed 's/^/   /' "$LOG/smi-during.txt"

# ---- 3. kill -9 one guest mid-run ----------------------------------------------------------------
sleep 2
BASE=$(used_mib)
pids=()
for i in $(seq "$GUESTS"); do guest "kill-$i" $((SECS * 2)) & pids+=($!); done
sleep $((SECS / 2 + 3))
BEFORE=$(used_mib)
"$BUILD/bin/vgpu-smi" --region "$REGION" --interval 0 --json >"$LOG/smi-before.json" 2>&1
VICTIM=$(pgrep -f "^$LOAD .*--tag kill-1( |\$)" | head -1)
kill -9 "$VICTIM"
T0=$SECONDS
# The worker notices within the guest timeout (5 s by default) and ends.
for _ in $(seq 150); do
  grep -q "guest pid $VICTIM \(stopped answering\|left\)" "$LOG/hostd.log" && break
  sleep 0.1
done
sleep 1
AFTER=$(used_mib)
"$BUILD/bin/vgpu-smi" --region "$REGION" --interval 0 --all >"$LOG/smi-after.txt" 2>&1
echo "killed guest kill-1 (pid $VICTIM); the host released it after $((SECONDS - T0)) s:"
grep -E "guest pid $VICTIM " "$LOG/hostd.log" | sed 's/^/   /'
echo "GPU memory used: $BASE MiB idle, $BEFORE MiB with $GUESTS guests, $AFTER MiB after the kill (freed $((BEFORE - AFTER)) MiB)"
echo "-- vgpu-smi after the kill:"; sed 's/^/   /' "$LOG/smi-after.txt"
wait "${pids[0]}" 2>/dev/null
for p in "${pids[@]:1}"; do wait "$p" || { echo "a surviving guest failed (rc $?)"; fail=1; }; done
for i in $(seq 2 "$GUESTS"); do
  f=$LOG/kill-$i.out
  echo "survivor $i:        $(grep -h 'tflops\|FAILED' "$f")"
  [ "$(field "$f" checksum)" = "$REF" ] || { echo "   CHECKSUM DIFFERS from native ($REF)"; fail=1; }
done
# A worker's CUDA context goes with its process; tearing one down takes a
# moment, so wait (up to 30 s) for the used memory to fall back.
T0=$SECONDS
for _ in $(seq 300); do [ "$(used_mib)" -le "$BASE" ] && break; sleep 0.1; done
FINAL=$(used_mib)
echo "GPU memory used after all guests ended: $FINAL MiB after $((SECONDS - T0)) s (idle before: $BASE MiB)"
[ "$FINAL" -le "$BASE" ] || { echo "   MEMORY NOT RETURNED"; fail=1; }
[ "$fail" = 0 ] && echo "== many_guests: PASS" || echo "== many_guests: FAIL"
exit $fail
