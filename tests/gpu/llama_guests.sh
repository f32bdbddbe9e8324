#!/usr/bin/env bash
# On the GPU machine (issue 18): llama.cpp guests on one GPU, native and vgpu in
# the same run.
#   scale  N = 1, 2, 4, 8 (NS) llama-bench processes at once, pp512 and tg128 (one
#          run each, so that each has repetitions enough to overlap), in three
#          configurations (MODES): native without MPS, native under NVIDIA's MPS
#          (a control daemon of our own, quit after), and vgpu guests through one
#          vgpu-hostd --mps on (vgpu-off: --mps off, optional). All N start at
#          once (a start barrier); the aggregate is counted over the interval in
#          which all N were measuring (tests/gpu/llama_guests_parse.py says how).
#          GPU memory per process while N run, with and without MPS.
#   fault  4 guests: 3 generate text (llama-simple, greedy), the 4th (llama-bench)
#          is killed with -9 mid-run; under --mps on (one MPS server) and
#          --mps off, and (FAULT_CASES) its host worker killed instead. Do the 3
#          finish with the text a native run gives, and is GPU memory back to the
#          baseline once the guests are gone and once the daemon is?
#
#   tests/gpu/llama_guests.sh [VGPU_BUILD]     (default build-gpu: tests/gpu/build.sh)
#
# Needs llama.cpp built and the model made, e.g. (about 5 minutes, in the background):
#   VGPU_BUILD=build-gpu PHASES="vgpu llama model" bash bench/llama/gpu_session.sh start
#   bash bench/llama/gpu_session.sh wait 560
# Environment (defaults): STEPS ("scale fault"), NS ("1 2 4 8"), MODES ("native nmps
# vgpu"), PP_REPS (30), TG_REPS (4), THREADS (2, llama-bench -t), NGL (99),
# BENCH_TIMEOUT (180 s a process), FAULT_CASES ("on:guest off:guest on:worker"),
# FAULT_TOKENS (1024), FAULT_TIMEOUT (60 s a generation: a guest stuck after
# the kill counts as not finished), HOSTD_BACKEND (cuda), ARENA_MB (128: 8 slots, a 2 GiB region), LLAMA_BUILD (.cache/llama/build), MODEL,
# LOG_DIR (/tmp/llama-guests), OUT (the summary and a tarball of the logs go there).
# Exit status 0: everything ran and every target was met; 1 otherwise.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/gpu
VGPU_BUILD=$(readlink -f "${1:-${VGPU_BUILD:-$ROOT/build-gpu}}")
LLAMA_BUILD=$(readlink -f "${LLAMA_BUILD:-$ROOT/.cache/llama/build}")
BIN=$LLAMA_BUILD/bin
MODEL=${MODEL:-$ROOT/.cache/llama/models/random-llama-3.2-1b-q8_0.gguf}
STEPS=${STEPS:-scale fault}
NS=${NS:-1 2 4 8}
MODES=${MODES:-native nmps vgpu}
PP_REPS=${PP_REPS:-30}
TG_REPS=${TG_REPS:-4}
THREADS=${THREADS:-2}
NGL=${NGL:-99}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-180}
FAULT_CASES=${FAULT_CASES:-on:guest off:guest on:worker}
FAULT_TOKENS=${FAULT_TOKENS:-1024}
FAULT_TIMEOUT=${FAULT_TIMEOUT:-60}
FAULT_PROMPT=${FAULT_PROMPT:-The quick brown fox jumps over the lazy dog, and then}
HOSTD_BACKEND=${HOSTD_BACKEND:-cuda}
ARENA_MB=${ARENA_MB:-128}
LOG=${LOG_DIR:-/tmp/llama-guests}
PY=${PYTHON:-python3}
PARSE=$HERE/llama_guests_parse.py
REGION=/dev/shm/vgpu-llama-guests-$$
NPIPE=/tmp/llama-guests-nmps-$$        # native MPS: our own control daemon's pipe/log dirs
VPIPE=/tmp/llama-guests-vmps-$$        # vgpu-hostd --mps on: the one it starts
NO_MPS=/dev/null/no-mps                # native without MPS: never joins a daemon that runs
export PATH=$PATH:/usr/local/nvidia/bin:/usr/local/cuda/bin
CTL=$(command -v nvidia-cuda-mps-control || true)
T0=$SECONDS

rm -rf "$LOG"; mkdir -p "$LOG/bench" "$LOG/fault"
RESULTS=$LOG/results.tsv; MEM=$LOG/mem.tsv; FAULTS=$LOG/fault.txt
: >"$RESULTS"; : >"$MEM"; : >"$FAULTS"
PROBLEMS=()
say() { printf '[guests %4ds] %s\n' "$((SECONDS - T0))" "$*" | tee -a "$LOG/run.log" >&2; }
problem() { PROBLEMS+=("$*"); say "PROBLEM: $*"; }

# ---- GPU figures ---------------------------------------------------------------------
have_smi() { command -v nvidia-smi >/dev/null; }
used_mib() { have_smi && nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 2>/dev/null | head -1 | tr -d ' ' || echo "?"; }
# One line: the compute processes, grouped by name ("llama-bench 4x1450").
apps() {
  have_smi || { echo "-"; return; }
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader,nounits 2>/dev/null |
    awk -F', *' 'NF >= 3 { n = $2; sub(".*/", "", n); c[n]++; m[n] = m[n] " " $3 }
                 END { for (k in c) printf "%s %dx[%s ] ", k, c[k], m[k] }'
}
minus() { awk -v a="$1" -v b="$2" -v n="${3:-1}" 'BEGIN { if (a == "?" || b == "?") print "?"; else printf "%.0f", (a - b) / n }'; }

# ---- processes -----------------------------------------------------------------------
# stamp: each stderr line with the wall-clock time it came (llama_guests_parse.py reads it)
if [ -n "${EPOCHREALTIME:-}" ]; then
  stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
else
  stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done; }
fi
# side_env MODE cmd...: the command as a process of that configuration
side_env() {
  local mode=$1; shift
  case $mode in
    native) env -u VGPU_REGION CUDA_MPS_PIPE_DIRECTORY="$NO_MPS" "$@" ;;
    nmps) env -u VGPU_REGION CUDA_MPS_PIPE_DIRECTORY="$NPIPE" CUDA_MPS_LOG_DIRECTORY="$NPIPE/log" "$@" ;;
    vgpu*) env VGPU_REGION="$REGION" LD_LIBRARY_PATH="$VGPU_BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@" ;;
  esac
}
KIDS=()   # every background process started here, ended by pid on exit

# ---- native MPS ----------------------------------------------------------------------
NMPS_UP=0
nmps_start() {
  [ -n "$CTL" ] || { problem "nvidia-cuda-mps-control not found: native+MPS not measured"; return 1; }
  mkdir -p "$NPIPE/log"
  if ! CUDA_MPS_PIPE_DIRECTORY=$NPIPE CUDA_MPS_LOG_DIRECTORY=$NPIPE/log "$CTL" -d >>"$LOG/nmps.log" 2>&1; then
    problem "nvidia-cuda-mps-control -d failed (log: nmps.log)"; return 1
  fi
  NMPS_UP=1; say "native MPS control daemon started (pipe $NPIPE)"
}
nmps_stop() {
  [ "$NMPS_UP" = 1 ] || return 0
  echo quit | CUDA_MPS_PIPE_DIRECTORY=$NPIPE "$CTL" >>"$LOG/nmps.log" 2>&1
  for _ in $(seq 50); do [ -e "$NPIPE/control" ] || break; sleep 0.1; done
  NMPS_UP=0; sleep 0.5
  cp -r "$NPIPE/log" "$LOG/nmps-daemon-log" 2>/dev/null
}

# ---- vgpu-hostd ----------------------------------------------------------------------
H=
HLOG=
HSTARTS=0
hostd_start() {  # extra args...
  HSTARTS=$((HSTARTS + 1)); HLOG=$LOG/hostd.$HSTARTS.log
  rm -f "$REGION" "$REGION.stats"
  echo "+ vgpu-hostd --region $REGION --backend $HOSTD_BACKEND --slots 8 --arena-mb $ARENA_MB $*" >"$HLOG"
  "$VGPU_BUILD/bin/vgpu-hostd" --region "$REGION" --backend "$HOSTD_BACKEND" --slots 8 --arena-mb "$ARENA_MB" "$@" \
    >>"$HLOG" 2>&1 </dev/null &
  H=$!; KIDS+=("$H")
  for _ in $(seq 300); do
    grep -q "serving $REGION\|serving.*$REGION" "$HLOG" 2>/dev/null && [ -e "$REGION" ] && break
    kill -0 "$H" 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -0 "$H" 2>/dev/null || [ ! -e "$REGION" ]; then
    problem "vgpu-hostd $* did not start ($(tail -n 2 "$HLOG" | tr '\n' ' '))"; hostd_stop; return 1
  fi
  say "vgpu-hostd $* up: $(grep -m1 '^vgpu-hostd: MPS' "$HLOG" | cut -c13-172)"
}
hostd_stop() {
  if [ -n "$H" ]; then
    kill "$H" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$H" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$H" 2>/dev/null; wait "$H" 2>/dev/null
  fi
  H=; rm -f "$REGION" "$REGION.stats"
}
served() { awk '/serving guest pid/ { c++ } END { print c + 0 }' "$HLOG" 2>/dev/null || echo 0; }
# Until the last batch's workers are gone (their slots free again).
settle() {
  [ -n "$H" ] || { sleep 0.3; return 0; }
  local j
  for _ in $(seq 150); do
    j=$("$VGPU_BUILD/bin/vgpu-smi" --stats "$REGION.stats" --interval 0 --once --json 2>/dev/null)
    case $j in *'"active":true'*) ;; *) return 0 ;; esac
    sleep 0.1
  done
  say "slots still active after 15 s"
}

cleanup() {
  local p
  for p in "${KIDS[@]}"; do
    kill -0 "$p" 2>/dev/null || continue
    pkill -TERM -P "$p" 2>/dev/null; kill "$p" 2>/dev/null
  done
  hostd_stop
  nmps_stop
  rm -rf "$NPIPE" "$VPIPE"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---- checks before anything runs -----------------------------------------------------
ready=1
for t in llama-bench llama-simple; do
  [ -x "$BIN/$t" ] || { problem "$BIN/$t missing (bench/llama/build.sh)"; ready=0; }
done
[ -s "$MODEL" ] || { problem "model $MODEL missing (VGPU=0 STEPS=model bench/llama/run.sh)"; ready=0; }
[ "$ready" = 1 ] || { say "cannot run"; exit 1; }
VGPU_OK=1
for f in bin/vgpu-hostd bin/vgpu-smi lib/libcuda.so.1 lib/libcudart.so.13 lib/libcublas.so.13; do
  [ -e "$VGPU_BUILD/$f" ] || { problem "$VGPU_BUILD/$f missing: vgpu not measured"; VGPU_OK=0; }
done
CUDA_SO=$(ls "$BIN"/libggml-cuda.so* 2>/dev/null | head -1)
if [ "$VGPU_OK" = 1 ] && [ -n "$CUDA_SO" ]; then
  # Our libraries must be the ones libggml-cuda.so gets, else nothing is remoted.
  side_env vgpu ldd "$CUDA_SO" >"$LOG/ldd.vgpu.txt" 2>&1
  for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13; do
    where=$(awk -v l="$lib" '$1 == l { print $3 }' "$LOG/ldd.vgpu.txt")
    case $where in "$VGPU_BUILD"/lib/*) ;; *) problem "under vgpu $lib resolves to '${where:-nothing}'"; VGPU_OK=0 ;; esac
  done
elif [ -z "$CUDA_SO" ]; then
  problem "no libggml-cuda.so in $BIN: not a CUDA build of llama.cpp"
fi
have_smi && say "GPU: $(nvidia-smi --query-gpu=name,driver_version,compute_mode,memory.total --format=csv,noheader -i 0)"
say "llama.cpp $BIN; model $(basename "$MODEL"); vgpu $VGPU_BUILD; steps: $STEPS; modes: $MODES; N: $NS"
BASE=$(used_mib)
say "GPU memory used at the start: $BASE MiB"

# ---- scale -----------------------------------------------------------------------------
# After the N processes were let go: once each has begun measuring (or ended), the
# memory they hold and, under vgpu, what vgpu-smi shows.
sample_memory() {  # MODE N PREFIX
  local mode=$1 n=$2 prefix=$3 i started
  for _ in $(seq 1200); do
    started=0
    for i in $(seq "$n"); do
      if grep -q " run 1/" "$prefix.$i.err" 2>/dev/null || [ -e "$prefix.$i.rc" ]; then started=$((started + 1)); fi
    done
    [ "$started" -ge "$n" ] && break
    sleep 0.05
  done
  local used; used=$(used_mib)
  local a; a=$(apps)
  if [ -n "$H" ]; then
    "$VGPU_BUILD/bin/vgpu-smi" --stats "$REGION.stats" --interval 0 --once >"$prefix.vgpu-smi.txt" 2>&1
    "$VGPU_BUILD/bin/vgpu-smi" --stats "$REGION.stats" --interval 0 --once --json >"$prefix.vgpu-smi.json" 2>&1
    a="$a; vgpu-smi: $(grep -o '"mps":true' "$prefix.vgpu-smi.json" | wc -l)/$n guests MPS clients"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$n" "$used" "$MODE_BASE" "$(minus "$used" "$MODE_BASE" "$n")" "$a" >>"$MEM"
}

batch() {  # MODE N TEST: N llama-bench processes let go at once; one row of results
  local mode=$1 n=$2 test=$3 i args=() pids=() prefixes=()
  case $test in
    pp512) args=(-p 512 -n 0 -r "$PP_REPS") ;;
    tg128) args=(-p 0 -n 128 -r "$TG_REPS") ;;
  esac
  local prefix=$LOG/bench/$mode.$n.$test go=$LOG/bench/go.$mode.$n.$test
  local served0; served0=$(served)
  for i in $(seq "$n"); do
    prefixes+=("$prefix.$i")
    (
      until [ -e "$go" ]; do sleep 0.005; done
      side_env "$mode" timeout -k 5 "$BENCH_TIMEOUT" "$BIN/llama-bench" -m "$MODEL" -ngl "$NGL" -t "$THREADS" \
        "${args[@]}" --progress -o jsonl 2>&1 >"$prefix.$i.out" </dev/null | stamp >"$prefix.$i.err"
      echo "${PIPESTATUS[0]}" >"$prefix.$i.rc"
    ) &
    pids+=($!); KIDS+=($!)
  done
  sleep 0.3
  touch "$go"
  [ "$test" = tg128 ] && sample_memory "$mode" "$n" "$prefix"
  wait "${pids[@]}"
  for i in $(seq "$n"); do
    local rc; rc=$(cat "$prefix.$i.rc" 2>/dev/null || echo "?")
    [ "$rc" = 0 ] || say "  $mode x$n $test #$i: exit $rc: $(grep -v ' llama-bench: benchmark' "$prefix.$i.err" | tail -n 2 | cut -d' ' -f2- | tr '\n' ' ' | cut -c1-200)"
  done
  local row; row=$("$PY" "$PARSE" window "$mode" "$n" "$test" "${prefixes[@]}")
  if [ -n "$H" ] && [ $(( $(served) - served0 )) -lt "$n" ]; then
    row=$(printf '%s' "$row" | awk -F'\t' -v OFS='\t' -v m="only $(( $(served) - served0 ))/$n processes were vgpu guests" \
      '{ $11 = ($11 == "-" ? m : $11 "; " m); print }')
  fi
  printf '%s\n' "$row" >>"$RESULTS"
  say "$mode x$n $test: $(printf '%s' "$row" | awk -F'\t' '{ printf "aggregate %s tok/s over %s s (sum of averages %s, overlap %s, %s ok); %s", $7, $5, $8, $9, $4, $11 }')"
}

step_scale() {
  local mode n test
  for mode in $MODES; do
    case $mode in
      native) ;;
      nmps) nmps_start || continue ;;
      vgpu) [ "$VGPU_OK" = 1 ] || continue; hostd_start --mps on --mps-pipe-dir "$VPIPE" || continue ;;
      vgpu-off) [ "$VGPU_OK" = 1 ] || continue; hostd_start --mps off || continue ;;
      *) problem "unknown mode $mode"; continue ;;
    esac
    MODE_BASE=$BASE
    for n in $NS; do
      for test in pp512 tg128; do
        settle
        batch "$mode" "$n" "$test"
      done
    done
    settle
    case $mode in nmps) nmps_stop ;; vgpu*) hostd_stop ;; esac
    sleep 0.5
    say "after $mode: GPU memory used $(used_mib) MiB (start: $BASE MiB)"
  done
}

# ---- fault -----------------------------------------------------------------------------
gen() {  # MODE OUTFILE ERRFILE: the fault step's text generation
  local mode=$1 out=$2 err=$3
  side_env "$mode" timeout -k 5 "$FAULT_TIMEOUT" "$BIN/llama-simple" -m "$MODEL" -n "$FAULT_TOKENS" -ngl "$NGL" \
    "$FAULT_PROMPT" >"$out" 2>"$err" </dev/null
}
fault_case() {  # MPS(on|off) VICTIM(guest|worker)
  local mps=$1 victim=$2 tag="mps-$1.kill-$2" i pids=() d=$LOG/fault
  local args=(--mps "$mps" --guest-timeout-ms 2000)
  [ "$mps" = on ] && args+=(--mps-pipe-dir "$VPIPE")
  local base0; base0=$(used_mib)
  hostd_start "${args[@]}" || return
  for i in 1 2 3; do
    ( gen vgpu "$d/$tag.other$i.txt" "$d/$tag.other$i.log"; echo $? >"$d/$tag.other$i.rc" ) &
    pids+=($!); KIDS+=($!)
  done
  # The victim execs itself into llama-bench, so that $! is the guest's own pid (no
  # timeout in front: it is killed here, and at the latest by the exit trap).
  ( exec env VGPU_REGION="$REGION" LD_LIBRARY_PATH="$VGPU_BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
      "$BIN/llama-bench" -m "$MODEL" -ngl "$NGL" -t "$THREADS" -p 0 -n 128 -r 1000 --progress -o jsonl \
      >"$d/$tag.victim.out" 2>"$d/$tag.victim.err" </dev/null ) &
  local vt=$! vpid=$!
  KIDS+=("$vt")
  # Mid-run: the victim measuring and every other one printing tokens.
  local plen=${#FAULT_PROMPT} ready=0
  for _ in $(seq 1200); do
    ready=0
    grep -q "generation run 1/" "$d/$tag.victim.err" 2>/dev/null && ready=1
    for i in 1 2 3; do
      [ "$(stat -c %s "$d/$tag.other$i.txt" 2>/dev/null || echo 0)" -gt $((plen + 16)) ] || ready=0
    done
    [ "$ready" = 1 ] && break
    kill -0 "$vt" 2>/dev/null || break
    sleep 0.05
  done
  sleep 0.5
  local used4; used4=$(used_mib)
  local wpid; wpid=$(grep -o "serving guest pid $vpid on .*(worker pid [0-9]*)" "$HLOG" | grep -o 'worker pid [0-9]*' | grep -o '[0-9]*$' | tail -1)
  local killed=$vpid what="guest llama-bench pid $vpid"
  if [ "$victim" = worker ]; then killed=${wpid:-}; what="host worker pid ${wpid:-?} of guest $vpid"; fi
  if [ "$ready" != 1 ] || [ -z "$killed" ]; then
    problem "fault $tag: not mid-run when it was time to kill (victim: $(tail -n1 "$d/$tag.victim.err" | cut -c1-120))"
  fi
  [ -n "$killed" ] && kill -9 "$killed" 2>/dev/null
  say "fault $tag: killed $what with -9 ($used4 MiB in use with 4 guests)"
  sleep 3   # past --guest-timeout-ms 2000: the victim's worker has seen it go
  local used_after_kill; used_after_kill=$(used_mib)
  wait "${pids[@]}"
  # The victim: gone (guest killed), or failing since its worker is (worker killed).
  for _ in $(seq 100); do kill -0 "$vt" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$vt" 2>/dev/null && { pkill -KILL -P "$vt" 2>/dev/null; kill -9 "$vt" 2>/dev/null; }
  wait "$vt" 2>/dev/null
  local same=0 finished=0 notes=""
  for i in 1 2 3; do
    [ "$(cat "$d/$tag.other$i.rc" 2>/dev/null)" = 0 ] && finished=$((finished + 1))
    if cmp -s "$d/native.ref.txt" "$d/$tag.other$i.txt"; then same=$((same + 1))
    else notes+=" other$i: rc $(cat "$d/$tag.other$i.rc" 2>/dev/null), $(grep -m1 -iE 'error|fail' "$d/$tag.other$i.log" | cut -c1-100);"; fi
  done
  settle
  local used_idle; used_idle=$(used_mib)
  local released; released=$(grep -cE "guest pid $vpid (left|stopped answering)|worker $wpid killed" "$HLOG")
  hostd_stop; sleep 1
  local used_stop; used_stop=$(used_mib)
  local line="mps $mps, $what killed: $finished/3 others finished, $same/3 with the native text;"
  line+=" GPU memory MiB: baseline $base0, 4 guests $used4, 3 s after the kill $used_after_kill,"
  line+=" guests gone (daemon up) $used_idle, daemon stopped $used_stop; victim's session ended in the host log: $([ "$released" -gt 0 ] && echo yes || echo no)"
  [ -n "$notes" ] && line+=";$notes"
  echo "$line" >>"$FAULTS"
  say "fault: $line"
  # A guest killed is the case that must leave the others alone; a worker killed under
  # MPS is a measurement (an MPS client dying mid-kernel), reported above either way.
  [ "$same" = 3 ] || [ "$victim" = worker ] || problem "fault $tag: only $same/3 others gave the native text"
  [ "$used_stop" = "?" ] || [ "$base0" = "?" ] || [ "$used_stop" -le $((base0 + 16)) ] || problem "fault $tag: GPU memory $used_stop MiB after the daemon stopped, baseline $base0 MiB"
}
step_fault() {
  [ "$VGPU_OK" = 1 ] || { problem "fault step needs vgpu"; return; }
  gen native "$LOG/fault/native.ref.txt" "$LOG/fault/native.ref.log" ||
    problem "fault: the native reference run failed ($(tail -n1 "$LOG/fault/native.ref.log"))"
  local c
  for c in $FAULT_CASES; do fault_case "${c%%:*}" "${c#*:}"; done
}

for step in $STEPS; do
  say "== step $step"
  case $step in scale) step_scale ;; fault) step_fault ;; *) problem "unknown step $step" ;; esac
done

# ---- summary ---------------------------------------------------------------------------
SUMMARY=$LOG/summary.txt
(
  echo "==== llama guests summary ($(date -u +%FT%TZ), $((SECONDS - T0)) s; $(have_smi && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader -i 0))"
  echo "llama-bench -ngl $NGL -t $THREADS; pp512 x$PP_REPS reps, tg128 x$TG_REPS reps; model $(basename "$MODEL")"
  rc=0
  if [ -s "$RESULTS" ]; then "$PY" "$PARSE" summary "$RESULTS" "$MEM" || rc=1; fi
  if [ -s "$FAULTS" ]; then echo; echo "fault containment (3 guests generating $FAULT_TOKENS tokens, a 4th killed -9 mid-run):"; sed 's/^/  /' "$FAULTS"; fi
  for p in "${PROBLEMS[@]}"; do echo "PROBLEM: $p"; done
  [ "${#PROBLEMS[@]}" = 0 ] || rc=1
  echo "RESULT: $([ "$rc" = 0 ] && echo ALL OK || echo 'NOT ALL OK (see PROBLEM / NOT MET lines)')"
  exit "$rc"
) >"$SUMMARY"
rc=$?
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  cp "$SUMMARY" "$OUT/llama-guests-summary.txt"
  tar -czf "$OUT/llama-guests-logs.tar.gz" -C "$(dirname "$LOG")" "$(basename "$LOG")" 2>/dev/null
fi
echo
cat "$SUMMARY"
exit "$rc"
