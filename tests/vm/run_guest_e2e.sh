#!/bin/bash
# The whole guest path in a VM (CTest vm_guest_e2e): the REAL vgpu-hostd (CPU
# backend) serves a QEMU guest through ivshmem; the guest runs our guest
# libraries (every *.so* of build/lib in /opt/vgpu/lib) with real programs
# that find the device by PCI id (tests/vm/guest_e2e.sh: hello_vgpu,
# vm_blas_check, vm_api_bench --errors, a non-root run, optionally
# vm_api_bench --bench). Passes only if the guest says every step passed AND
# the daemon's counters (vgpu-smi, sampled while the guest ran) show the calls
# arrived: sessions, bytes both ways, GEMMs, the error case's errors.
# With --bench it then runs vm_api_bench --bench as a plain host process
# against the same kind of daemon and prints both sets of figures.
#
# Usage:
#   run_guest_e2e.sh --hostd PATH --smi PATH --lib-dir DIR --probe PATH
#                    --hello PATH --blas PATH --api PATH
#                    [--work-dir DIR] [--bench] [--bench-iters N]
#                    [--timeout S] [--keep]
#   run_guest_e2e.sh --check-stats FILE MIN_SESSIONS   (the host-side check)
#
# Environment: VGPU_VM_E2E_ARENA_MB (default 96: hello_vgpu pins 64 MiB and
# pinned memory lives in the slot's arena) and everything run_vm_test.sh reads
# except the VGPU_VM_HOST_* / VGPU_VM_GUEST_* variables, which this sets.
# Exit status: 0 pass, 1 fail, 77 skipped (QEMU or the Debian packages cannot
# be had here; the reason is printed).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
say() { echo "run_guest_e2e: $*"; }
fail() { say "FAIL: $*"; exit 1; }

# --- The host-side check: sums the sampled counters per session -------------
if [ "${1:-}" = --check-stats ]; then
  file=$2
  min_sessions=$3
  [ -s "$file" ] || { say "no stats samples in $file"; exit 1; }
  # Each vgpu-smi --json line lists every slot; a session is (slot,
  # generation) and its counters only grow, so its last values are the max.
  awk -v min_sessions="$min_sessions" '
    function num(s, key,   m) {
      if (match(s, "\"" key "\":[0-9]+")) return substr(s, RSTART + length(key) + 3, RLENGTH - length(key) - 3) + 0
      return -1
    }
    {
      n = split($0, parts, /\{"slot":/)
      for (i = 2; i <= n; i++) {
        s = parts[i]
        slot = s + 0
        gen = num(s, "generation")
        if (gen <= 0) continue
        k = slot ":" gen
        seen[k] = 1
        pid[k] = num(s, "guest_pid")
        split("calls bytes_htod bytes_dtoh gemms errors launches", f, " ")
        for (j in f) if (num(s, f[j]) > v[k, f[j]]) v[k, f[j]] = num(s, f[j])
      }
    }
    END {
      sessions = 0
      for (k in seen) {
        sessions++
        printf "host counters: slot:session %s guest pid %d: %d calls, HtoD %d B, DtoH %d B, %d GEMMs, %d errors\n",
               k, pid[k], v[k, "calls"], v[k, "bytes_htod"], v[k, "bytes_dtoh"], v[k, "gemms"], v[k, "errors"] | "sort -t: -k2,2n -k3,3n"
        calls += v[k, "calls"]; htod += v[k, "bytes_htod"]; dtoh += v[k, "bytes_dtoh"]
        gemms += v[k, "gemms"]; errors += v[k, "errors"]
      }
      close("sort -t: -k2,2n -k3,3n")
      printf "host counters: %d guest sessions, %d calls, HtoD %d B, DtoH %d B, %d GEMMs, %d errors\n",
             sessions, calls, htod, dtoh, gemms, errors
      bad = 0
      if (sessions < min_sessions) { print "host counters: FAIL: fewer than " min_sessions " guest sessions"; bad = 1 }
      # hello_vgpu alone copies 64 MiB each way (twice).
      if (htod < 67108864) { print "host counters: FAIL: less than 64 MiB host-to-device"; bad = 1 }
      if (dtoh < 67108864) { print "host counters: FAIL: less than 64 MiB device-to-host"; bad = 1 }
      if (gemms < 1) { print "host counters: FAIL: no GEMM counted"; bad = 1 }
      if (errors < 1) { print "host counters: FAIL: the error case left no error in the counters"; bad = 1 }
      if (!bad) print "host counters: OK"
      exit bad
    }' "$file"
  exit $?
fi

hostd="" smi="" libdir="" probe="" hello="" blas="" api=""
work=$PWD/vm-guest-e2e
bench=0
bench_iters=10000
timeout_s=300
keep=()
while [ $# -gt 0 ]; do
  case "$1" in
    --hostd) hostd=$2; shift 2 ;;
    --smi) smi=$2; shift 2 ;;
    --lib-dir) libdir=$2; shift 2 ;;
    --probe) probe=$2; shift 2 ;;
    --hello) hello=$2; shift 2 ;;
    --blas) blas=$2; shift 2 ;;
    --api) api=$2; shift 2 ;;
    --work-dir) work=$2; shift 2 ;;
    --bench) bench=1; shift ;;
    --bench-iters) bench_iters=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --keep) keep=(--keep); shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) fail "unknown argument $1" ;;
  esac
done
for v in hostd smi probe hello blas api; do
  [ -n "${!v}" ] && [ -x "${!v}" ] || fail "--$v PATH is required (an executable; got '${!v}')"
done
[ -n "$libdir" ] && [ -d "$libdir" ] || fail "--lib-dir DIR (build/lib) is required"
libdir=$(cd "$libdir" && pwd)
for l in libcuda.so.1 libcublas.so.13; do
  [ -e "$libdir/$l" ] || fail "$libdir/$l is missing: build the guest libraries first"
done
mkdir -p "$work" || fail "cannot create $work"
work=$(cd "$work" && pwd)
t0=$(date +%s)

hostd_args="--backend cpu --slots 2 --channels 4 --arena-mb ${VGPU_VM_E2E_ARENA_MB:-96}"
guest_cmd="sh /opt/vgpu/bin/guest_e2e.sh"
min_sessions=4  # hello, blas, errors, nonroot
if [ $bench = 1 ]; then
  guest_cmd+=" --bench --bench-iters $bench_iters"
  min_sessions=5
fi
export VGPU_VM_HOST_CMD="$hostd --region @REGION@ $hostd_args"
export VGPU_VM_GUEST_LIBDIRS="$libdir"
export VGPU_VM_GUEST_PROGRAMS="$hello $blas $api $here/guest_e2e.sh"
export VGPU_VM_GUEST_CMD="$guest_cmd"
# The daemon resets a slot's counters when a new session starts in it, so a
# sampler records them every 100 ms while the guest runs (the guest pauses
# 1 s between programs); the check sums the last values of every session.
export VGPU_VM_HOST_MONITOR="'$smi' --stats \"\$REGION.stats\" --json --watch --interval 100 --all >\"\$WORK_DIR/stats.jsonl\""
export VGPU_VM_HOST_CHECK="'$smi' --stats \"\$REGION.stats\" --json --once --all --interval 0 >>\"\$WORK_DIR/stats.jsonl\";
  '$smi' --stats \"\$REGION.stats\" --once --all --interval 0 | sed 's/^/vgpu-smi| /';
  '$here/run_guest_e2e.sh' --check-stats \"\$WORK_DIR/stats.jsonl\" $min_sessions"
# No worker may have crashed on the way.
# shellcheck disable=SC2016  # $HOST_LOG is expanded by run_vm_test.sh
export VGPU_VM_HOST_FINAL_CHECK='! grep -E "killed by signal" "$HOST_LOG"'
rm -f "$work/stats.jsonl"

"$here/run_vm_test.sh" --probe "$probe" --work-dir "$work" --timeout "$timeout_s" "${keep[@]}" |
  tee "$work/run_vm_test.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || exit "$rc"   # 77 (skip) and 1 (fail) as run_vm_test.sh said

# Belt and braces: every step the guest script runs must have said PASS.
steps="device loader probe hello blas errors nonroot"
[ $bench = 1 ] && steps+=" bench"
console=$(tr -d '\r' <"$work/serial.log")
for s in $steps; do
  grep -aq "^VGPU-VM-STEP: $s: PASS" <<<"$console" || fail "guest step $s did not pass"
done

if [ $bench = 1 ]; then
  # The same benchmark as a plain process on the host, against the same kind of daemon.
  region=/dev/shm/vgpu-vmbench-$$
  # shellcheck disable=SC2086  # $hostd_args is a list of options
  "$hostd" --region "$region" $hostd_args >"$work/bench-host.log" 2>&1 &
  bpid=$!
  trap 'kill $bpid 2>/dev/null; rm -f "$region" "$region".*' EXIT
  for _ in $(seq 100); do [ -s "$region.stats" ] && break; sleep 0.1; done
  sleep 0.2
  VGPU_REGION=$region LD_LIBRARY_PATH=$libdir "$api" --bench --label host --iters "$bench_iters" \
    --expect-lib-dir "$libdir" >"$work/bench-host.txt" 2>&1 ||
    { cat "$work/bench-host.txt" "$work/bench-host.log"; fail "vm_api_bench --bench as a host process failed"; }
  kill -TERM $bpid; wait $bpid 2>/dev/null
  accel=$(grep -o 'accel [a-z]*' "$work/run_vm_test.log" | tail -n1 | cut -d' ' -f2)
  grep -v '^VGPU-BENCH' "$work/bench-host.txt" | sed 's/^/host process| /'
  echo
  echo "Null call round trip and copy bandwidth: the VM guest ($accel; TCG figures are indicative only) vs a plain host process, both through vgpu-hostd $hostd_args; load average now: $(cut -d" " -f1-3 /proc/loadavg)"
  { grep -a '^VGPU-BENCH guest ' <<<"$console"; grep '^VGPU-BENCH host ' "$work/bench-host.txt"; } |
    awk '{ v[$2, $3] = $4; if (!($3 in seen)) { seen[$3] = 1; order[++n] = $3 } }
         END {
           printf "%-32s %12s %12s %10s\n", "figure", "guest", "host proc", "guest/host"
           for (i = 1; i <= n; i++) {
             k = order[i]; g = v["guest", k]; h = v["host", k]
             printf "%-32s %12s %12s %10s\n", k, g, h, (h > 0 && g != "") ? sprintf("%.2f", g / h) : "-"
           }
         }'
fi
say "PASS ($(($(date +%s) - t0)) s)"
exit 0
