#!/usr/bin/env bash
# On a GPU machine: NVIDIA's nvidia-smi and a pynvml script, natively and in a
# vgpu guest (our libnvidia-ml.so.1 on LD_LIBRARY_PATH, vgpu-hostd on the CUDA
# backend) side by side, while a remoted cuBLAS program (examples/gemm_load)
# runs in the guest: the default table, -L, -q, --query-gpu,
# --query-compute-apps, -l 1, then pynvml_check.py. A short summary comes last.
# Needs a build with examples (ninja -C build), no network; about 1.5 minutes.
#   tests/gpu/nvidia_smi.sh [BUILD_DIR]
#   env: SMI (default /usr/local/nvidia/bin/nvidia-smi, else PATH's), CUDA_LIB,
#        PY (python3 with nvidia-ml-py), LOG_DIR (kept outputs)
set -uo pipefail
BUILD=$(readlink -f "${1:-build}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SMI=${SMI:-/usr/local/nvidia/bin/nvidia-smi}
[ -x "$SMI" ] || SMI=$(command -v nvidia-smi)
CUDA_LIB=${CUDA_LIB:-/usr/local/cuda/lib64}
PY=${PY:-python3}
REGION=/dev/shm/vgpu-smi-$$
LOG=${LOG_DIR:-$(mktemp -d)}
mkdir -p "$LOG"
W=${COLUMNS_SIDE:-200}

# The daemon loads NVIDIA's libcuda and libnvidia-ml from the inherited
# library path (never put $BUILD/lib there; the daemon refuses ours).
env -u VGPU_REGION "$BUILD/bin/vgpu-hostd" --region "$REGION" --backend "${BACKEND:-cuda}" \
  --slots 16 --arena-mb 64 2>"$LOG/hostd.log" &
HOSTD=$!
LOAD=
trap 'kill $LOAD 2>/dev/null; kill $HOSTD 2>/dev/null; wait 2>/dev/null; rm -f "$REGION" "$REGION.stats"' EXIT
for _ in $(seq 200); do [ -e "$REGION.stats" ] && break; sleep 0.05; done

native() { env -u VGPU_REGION LD_LIBRARY_PATH="$CUDA_LIB:${LD_LIBRARY_PATH:-}" "$@"; }
guest() { LD_LIBRARY_PATH="$BUILD/lib:${LD_LIBRARY_PATH:-}" VGPU_REGION="$REGION" "$@"; }

# The guest's load: GEMMs and 2 GiB held, for longer than the views take.
# (env execs it: $! is its pid, the pid the guest's NVML must list.)
env LD_LIBRARY_PATH="$BUILD/lib:${LD_LIBRARY_PATH:-}" VGPU_REGION="$REGION" "$BUILD/examples/gemm_load" --seconds 75 \
  --hold-mb 2048 --tag guest-load >"$LOG/load.log" 2>&1 &
LOAD=$!
for _ in $(seq 150); do grep -q 'worker pid' "$LOG/hostd.log" && break; sleep 0.1; done
sleep 4  # past its set-up, into the GEMMs
echo "== guest load: gemm_load pid $LOAD in the guest ($(grep -m1 -o 'worker pid [0-9]*' "$LOG/hostd.log") on the host)"

fail=0
pair() {  # name, args...: nvidia-smi natively and in the guest; keeps both and their exit codes
  local name=$1; shift
  native timeout 60 "$SMI" "$@" >"$LOG/$name.native" 2>"$LOG/$name.native.err"; echo $? >"$LOG/$name.native.rc"
  guest timeout 60 "$SMI" "$@" >"$LOG/$name.guest" 2>"$LOG/$name.guest.err"; echo $? >"$LOG/$name.guest.rc"
  echo "== nvidia-smi $*   (native rc=$(cat "$LOG/$name.native.rc") | guest rc=$(cat "$LOG/$name.guest.rc"))"
  [ "$(cat "$LOG/$name.guest.rc")" = 0 ] || { fail=1; sed 's/^/   guest: /' "$LOG/$name.guest" "$LOG/$name.guest.err" | head -8; }
}
side() {  # native | guest, line by line
  awk -v w=$((W / 2 - 2)) 'NR == FNR { a[FNR] = $0; n = FNR; next } { b[FNR] = $0; m = FNR }
    END { k = n > m ? n : m; for (i = 1; i <= k; i++) printf "%-*s | %s\n", w, substr(a[i], 1, w), b[i] }' \
    "$LOG/$1.native" "$LOG/$1.guest"
}

pair table;  side table
pair list -L; side list
pair query -q
echo "   -q: $(wc -l <"$LOG/query.native") lines native, $(wc -l <"$LOG/query.guest") in the guest; lines that differ (native | guest):"
diff -y -W "$W" --suppress-common-lines "$LOG/query.native" "$LOG/query.guest" | head -70
pair display -q -d MEMORY,UTILIZATION,TEMPERATURE,POWER,CLOCK,PERFORMANCE
Q=index,name,uuid,pci.bus_id,driver_version,memory.total,memory.used,memory.free,utilization.gpu,utilization.memory,temperature.gpu,power.draw,power.limit,clocks.sm,clocks.mem,clocks.max.sm,pstate,compute_mode,mig.mode.current,ecc.mode.current,pcie.link.gen.current,pcie.link.width.current
pair csv --query-gpu=$Q --format=csv
echo "   native: $(tail -1 "$LOG/csv.native")"; echo "   guest:  $(tail -1 "$LOG/csv.guest")"
pair apps --query-compute-apps=pid,process_name,used_memory --format=csv
echo "   native:"; sed 's/^/     /' "$LOG/apps.native"; echo "   guest:"; sed 's/^/     /' "$LOG/apps.guest"
guest timeout -s INT 3.5 "$SMI" -l 1 >"$LOG/loop.guest" 2>&1
LOOPS=$(grep -c NVIDIA-SMI "$LOG/loop.guest")
echo "== nvidia-smi -l 1 (guest, 3.5 s): $LOOPS tables"

echo "== pynvml_check.py (native | guest)"
native "$PY" "$ROOT/tests/guest/pynvml_check.py" >"$LOG/pynvml.native" 2>&1; PN=$?
guest "$PY" "$ROOT/tests/guest/pynvml_check.py" --expect-pid "$LOAD" --expect-mib 2048 >"$LOG/pynvml.guest" 2>&1; PG=$?
side pynvml

echo "== nvml_monitors_e2e_test on the GPU (VGPU_TEST_BACKEND=cuda)"
VGPU_TEST_BACKEND=cuda timeout 120 "$BUILD/bin/nvml_monitors_e2e_test" >"$LOG/monitors.log" 2>&1; PM=$?
grep -E '^\[  (PASSED|FAILED) |^\[  FAILED|host NVML:' "$LOG/monitors.log"

# ---- summary ----------------------------------------------------------------------------
field() { tail -1 "$LOG/csv.$1" | awk -F', ' -v i="$2" '{print $i}'; }
same() {  # label, column of --query-gpu
  local n g; n=$(field native "$2"); g=$(field guest "$2")
  if [ "$n" = "$g" ]; then echo "  same   $1: $g"; else echo "  DIFFER $1: native '$n' guest '$g'"; [ "${3:-}" = must ] && fail=1; fi
}
echo "== summary"
for v in table list query display csv apps; do
  echo "  nvidia-smi $v: native rc=$(cat "$LOG/$v.native.rc") guest rc=$(cat "$LOG/$v.guest.rc")"
done
echo "  nvidia-smi -l 1 (guest): $LOOPS tables in 3.5 s"; [ "$LOOPS" -ge 2 ] || fail=1
grep -hE 'Mismatch in versions|Function Not Found|Internal NVML error' "$LOG"/*.guest "$LOG"/*.guest.err | sort | uniq -c | sed 's/^/  guest printed: /'
same name 2 must; same uuid 3 must; same pci.bus_id 4 must; same driver_version 5 must; same memory.total 6 must
same clocks.max.sm 16; same compute_mode 18; same mig.mode 19; same ecc.mode 20; same pcie.gen 21; same pcie.width 22
echo "  live (native / guest): util $(field native 9) / $(field guest 9), temp $(field native 11) / $(field guest 11), power $(field native 12) / $(field guest 12), sm clock $(field native 14) / $(field guest 14)"
if grep -q "^$LOAD, " "$LOG/apps.guest"; then echo "  guest lists its own gemm_load (pid $LOAD): $(grep "^$LOAD, " "$LOG/apps.guest")"
else echo "  guest does NOT list its gemm_load (pid $LOAD)"; fail=1; fi
echo "  guest lists $(($(wc -l <"$LOG/apps.guest") - 1)) process(es); native lists $(($(wc -l <"$LOG/apps.native") - 1))"
echo "  refused in the guest (logged once each): $(grep -ho 'vgpu: [A-Za-z0-9_ ()]* is not supported' "$LOG"/*.guest.err "$LOG/pynvml.guest" | sort -u | sed 's/vgpu: //;s/ is not supported//' | tr '\n' ',' | head -c 1500)"
echo "  pynvml: native rc=$PN guest rc=$PG"; [ $PG -eq 0 ] || fail=1
echo "  nvml_monitors_e2e_test (cuda): rc=$PM"; [ $PM -eq 0 ] || fail=1
echo "  outputs kept in $LOG"
[ $fail -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $fail
