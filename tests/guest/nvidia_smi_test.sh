#!/usr/bin/env bash
# NVIDIA's own nvidia-smi over our libnvidia-ml.so.1 and a CPU-backend
# vgpu-hostd, with a guest process (nvml_holder) holding 64 MiB: the default
# table, -L, -q, -q -d ..., --query-gpu, --query-compute-apps and -l 1 must
# all work and show that process. nvidia-smi is taken from $VGPU_NVIDIA_SMI,
# else .cache/nvidia-smi/nvidia-smi (tests/guest/fetch_nvidia_smi.sh puts
# Debian's there), else PATH; without one the test is skipped (exit 77) and
# says so.
#   nvidia_smi_test.sh HOSTD LIBDIR HOLDER
set -uo pipefail
HOSTD=$1 LIBDIR=$2 HOLDER=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SMI=${VGPU_NVIDIA_SMI:-}
[ -z "$SMI" ] && [ -x "$ROOT/.cache/nvidia-smi/nvidia-smi" ] && SMI=$ROOT/.cache/nvidia-smi/nvidia-smi
[ -z "$SMI" ] && SMI=$(command -v nvidia-smi || true)
if [ -z "$SMI" ]; then
  echo "SKIP: no nvidia-smi binary (set VGPU_NVIDIA_SMI, or run tests/guest/fetch_nvidia_smi.sh)"
  exit 77
fi
REGION=/dev/shm/vgpu-test-smi-$$
OUT=$(mktemp -d)
# Slots are freed as the host reaps each run's worker: room for runs in a row.
"$HOSTD" --region "$REGION" --backend cpu --arena-mb 64 --slots 16 2>"$OUT/hostd.log" &
HOSTD_PID=$!
cleanup() {
  exec 4>&- 2>/dev/null
  kill "$HOSTD_PID" 2>/dev/null; wait "$HOSTD_PID" 2>/dev/null
  rm -f "$REGION" "$REGION.stats"; rm -rf "$OUT"
}
trap cleanup EXIT
for _ in $(seq 200); do [ -e "$REGION.stats" ] && break; sleep 0.05; done
export VGPU_REGION=$REGION LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# The guest process, held until we close its stdin (fd 4).
coproc HOLD { "$HOLDER" 64; }
exec 4>&"${HOLD[1]}"
read -r -t 20 word pid <&"${HOLD[0]}" || { echo "FAIL: nvml_holder did not start"; exit 1; }
[ "$word" = ready ] || { echo "FAIL: nvml_holder: $word"; exit 1; }

fail=0
smi() {  # name, args...: runs nvidia-smi, keeps stdout in $OUT/name
  local name=$1; shift
  timeout 60 "$SMI" "$@" >"$OUT/$name" 2>"$OUT/$name.err"
  local rc=$?
  if [ $rc -ne 0 ]; then echo "FAIL: nvidia-smi $* exited $rc"; sed 's/^/   /' "$OUT/$name" "$OUT/$name.err" | head -20; fail=1; fi
  if grep -qE 'Mismatch in versions|Function Not Found|Internal NVML error' "$OUT/$name" "$OUT/$name.err"; then
    echo "FAIL: nvidia-smi $*:"; grep -E 'Mismatch|Function Not Found|Internal' "$OUT/$name" "$OUT/$name.err"; fail=1
  fi
}
expect() {  # name, extended regex, what
  grep -qE "$2" "$OUT/$1" || { echo "FAIL: $1: no $3 (/$2/)"; sed 's/^/   /' "$OUT/$1" | head -40; fail=1; }
}

echo "nvidia-smi: $SMI"
smi table
expect table 'NVIDIA-SMI [0-9.]+ +Driver Version: vgpu-cpu' "version line"
expect table 'vgpu CPU backend' "device name"
expect table "[ |]+0 +N/A +N/A +$pid +[A-Z+]+ +.*nvml_holder +6[4-9]MiB" "holder's process row"
smi list -L
expect list '^GPU 0: vgpu CPU backend \(UUID: GPU-[0-9a-f-]{36}\)' "device line"
smi query -q
expect query 'Product Name +: vgpu CPU backend' "product name"
expect query "Process ID +: $pid" "holder's pid"
smi display -q -d MEMORY,UTILIZATION,TEMPERATURE,POWER,CLOCK,PERFORMANCE
expect display 'FB Memory Usage' "memory section"
smi csv --query-gpu=index,name,uuid,pci.bus_id,driver_version,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu,power.draw,clocks.sm,pstate,compute_mode --format=csv,noheader
# (memory.used is the device's, total - free: each CPU-backend session has a
# device of its own, so the holder's 64 MiB show in its process row only.)
expect csv '^0, vgpu CPU backend, GPU-[0-9a-f-]+, 00000000:00:00.0, vgpu-cpu, [0-9]+ MiB, [0-9]+ MiB, [0-9]+ MiB, ' "csv row"
smi apps --query-compute-apps=pid,used_memory --format=csv,noheader
expect apps "^$pid, 6[4-9] MiB$" "holder's pid and memory"
timeout -s INT 3.5 "$SMI" -l 1 >"$OUT/loop" 2>/dev/null
[ "$(grep -c NVIDIA-SMI "$OUT/loop")" -ge 2 ] || { echo "FAIL: -l 1 printed $(grep -c NVIDIA-SMI "$OUT/loop") tables in 3.5 s"; fail=1; }

echo "--- nvidia-smi (guest, CPU backend):"; cat "$OUT/table"
echo "--- --query-gpu:"; cat "$OUT/csv"
echo "--- --query-compute-apps:"; cat "$OUT/apps"
[ $fail -eq 0 ] && echo "PASS: nvidia-smi over vgpu's NVML" || echo "FAIL"
exit $fail
