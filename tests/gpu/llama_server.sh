#!/usr/bin/env bash
# On the GPU machine (issue 18): concurrency inside one guest. llama.cpp's
# llama-server with -np 8 (8 slots, continuous batching), natively and as one
# vgpu guest, in the same run: 8 /completion requests at once (n_predict 128,
# greedy, ignore_eos), a warm-up round and ROUNDS timed rounds; aggregate
# tokens/s (tokens predicted by all 8 / the round's wall time; the median round)
# and vgpu/native (target >= 0.95); the texts natively and through vgpu (each
# prompt alone, and the 8 at once where native itself is deterministic).
# tests/gpu/llama_server_client.py is the client.
#
#   tests/gpu/llama_server.sh [VGPU_BUILD]     (default build-gpu: tests/gpu/build.sh)
#
# Needs llama.cpp built with the server and the model (see tests/gpu/llama_guests.sh).
# Environment (defaults): SIDES ("native vgpu"), PARALLEL (8), N_PREDICT (128),
# ROUNDS (8), CTX (8192, -c: shared by the slots), THREADS (4), NGL (99),
# HOSTD_ARGS ("--mps off": one guest, nothing to share), HOSTD_BACKEND (cuda),
# PORT (18080), LLAMA_BUILD, MODEL, LOG_DIR (/tmp/llama-server), OUT.
# Exit status 0: both ran, the target was met and the texts agree; 1 otherwise.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/gpu
VGPU_BUILD=$(readlink -f "${1:-${VGPU_BUILD:-$ROOT/build-gpu}}")
LLAMA_BUILD=$(readlink -f "${LLAMA_BUILD:-$ROOT/.cache/llama/build}")
BIN=$LLAMA_BUILD/bin
MODEL=${MODEL:-$ROOT/.cache/llama/models/random-llama-3.2-1b-q8_0.gguf}
SIDES=${SIDES:-native vgpu}
PARALLEL=${PARALLEL:-8}
N_PREDICT=${N_PREDICT:-128}
ROUNDS=${ROUNDS:-8}
CTX=${CTX:-8192}
THREADS=${THREADS:-4}
NGL=${NGL:-99}
HOSTD_ARGS=${HOSTD_ARGS:---mps off}
HOSTD_BACKEND=${HOSTD_BACKEND:-cuda}
PORT=${PORT:-18080}
LOG=${LOG_DIR:-/tmp/llama-server}
PY=${PYTHON:-python3}
CLIENT=$HERE/llama_server_client.py
REGION=/dev/shm/vgpu-llama-server-$$
URL=http://127.0.0.1:$PORT
export PATH=$PATH:/usr/local/nvidia/bin
T0=$SECONDS
rm -rf "$LOG"; mkdir -p "$LOG"
PROBLEMS=()
say() { printf '[server %4ds] %s\n' "$((SECONDS - T0))" "$*" | tee -a "$LOG/run.log" >&2; }
problem() { PROBLEMS+=("$*"); say "PROBLEM: $*"; }

H=
S=
hostd_start() {
  local -a a=(); read -r -a a <<<"$HOSTD_ARGS"
  rm -f "$REGION" "$REGION.stats"
  "$VGPU_BUILD/bin/vgpu-hostd" --region "$REGION" --backend "$HOSTD_BACKEND" --slots 2 "${a[@]}" \
    >"$LOG/hostd.log" 2>&1 </dev/null &
  H=$!
  for _ in $(seq 300); do [ -e "$REGION" ] && grep -q serving "$LOG/hostd.log" && break; kill -0 "$H" 2>/dev/null || break; sleep 0.1; done
  if ! kill -0 "$H" 2>/dev/null || [ ! -e "$REGION" ]; then
    problem "vgpu-hostd did not start ($(tail -n 2 "$LOG/hostd.log" | tr '\n' ' '))"; hostd_stop; return 1
  fi
}
hostd_stop() {
  [ -n "$H" ] || return 0
  kill "$H" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$H" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$H" 2>/dev/null; wait "$H" 2>/dev/null; H=
  rm -f "$REGION" "$REGION.stats"
}
server_stop() {
  [ -n "$S" ] || return 0
  kill "$S" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$S" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$S" 2>/dev/null; wait "$S" 2>/dev/null; S=
}
trap 'server_stop; hostd_stop' EXIT
trap 'say "interrupted"; exit 130' INT TERM

[ -x "$BIN/llama-server" ] || { problem "$BIN/llama-server missing (bench/llama/build.sh builds it)"; }
[ -s "$MODEL" ] || problem "model $MODEL missing (VGPU=0 STEPS=model bench/llama/run.sh)"
[ "${#PROBLEMS[@]}" = 0 ] || { say "cannot run"; exit 1; }
command -v nvidia-smi >/dev/null && say "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader -i 0)"
say "llama-server -np $PARALLEL -c $CTX -ngl $NGL -t $THREADS; $PARALLEL x $N_PREDICT tokens, $ROUNDS rounds; sides: $SIDES"

for side in $SIDES; do
  pre=(env -u VGPU_REGION)
  if [ "$side" = vgpu ]; then
    for f in bin/vgpu-hostd lib/libcuda.so.1 lib/libcudart.so.13 lib/libcublas.so.13; do
      [ -e "$VGPU_BUILD/$f" ] || { problem "$VGPU_BUILD/$f missing"; continue 2; }
    done
    hostd_start || continue
    pre=(env VGPU_REGION="$REGION" LD_LIBRARY_PATH="$VGPU_BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  fi
  # -lv 4: the server's log keeps the library's own info lines (newer servers
  # drop them at their default verbosity 3), "offloaded N/N layers to GPU" among them.
  "${pre[@]}" "$BIN/llama-server" -m "$MODEL" -ngl "$NGL" -np "$PARALLEL" -c "$CTX" -t "$THREADS" -lv 4 \
    --host 127.0.0.1 --port "$PORT" --no-webui >"$LOG/server.$side.log" 2>&1 </dev/null &
  S=$!
  t=$SECONDS
  if ! "$PY" "$CLIENT" wait "$URL" 180 2>>"$LOG/run.log" || ! kill -0 "$S" 2>/dev/null; then
    problem "$side: llama-server did not come up ($(grep -iE 'error|fail' "$LOG/server.$side.log" | tail -n 2 | tr '\n' ' ' | cut -c1-200))"
    server_stop; hostd_stop; continue
  fi
  say "$side: server up in $((SECONDS - t)) s ($(grep -m1 -oE 'offloaded [0-9]+/[0-9]+ layers to GPU' "$LOG/server.$side.log" || echo 'no offload line'))"
  "$PY" "$CLIENT" run "$URL" "$LOG/$side.json" --parallel "$PARALLEL" --n-predict "$N_PREDICT" --rounds "$ROUNDS" \
    2>&1 | tee -a "$LOG/run.log" || problem "$side: requests failed"
  if [ "$side" = vgpu ] && [ "$(grep -c 'serving guest pid' "$LOG/hostd.log")" -lt 1 ]; then
    problem "vgpu: the server was never a vgpu guest (no 'serving guest pid' in the daemon's log)"
  fi
  [ "$side" = vgpu ] && [ -e "$REGION.stats" ] && "$VGPU_BUILD/bin/vgpu-smi" --stats "$REGION.stats" --interval 0 --once --all >"$LOG/vgpu-smi.txt" 2>&1
  server_stop; hostd_stop
  grep -qE 'offloaded ([0-9]+)/\1 layers to GPU' "$LOG/server.$side.log" || [ "$NGL" = 0 ] ||
    problem "$side: the model was not all offloaded to the GPU (see server.$side.log)"
done

SUMMARY=$LOG/summary.txt
(
  echo "==== llama-server summary ($(date -u +%FT%TZ), $((SECONDS - T0)) s): -np $PARALLEL, $PARALLEL requests at once x $N_PREDICT tokens, $ROUNDS rounds"
  rc=0
  "$PY" "$CLIENT" compare "$LOG/native.json" "$LOG/vgpu.json" || rc=1
  for p in "${PROBLEMS[@]}"; do echo "PROBLEM: $p"; done
  [ "${#PROBLEMS[@]}" = 0 ] || rc=1
  echo "RESULT: $([ "$rc" = 0 ] && echo ALL OK || echo 'NOT ALL OK (see PROBLEM / NOT MET lines)')"
  exit "$rc"
) >"$SUMMARY"
rc=$?
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  cp "$SUMMARY" "$OUT/llama-server-summary.txt"
  tar -czf "$OUT/llama-server-logs.tar.gz" -C "$(dirname "$LOG")" "$(basename "$LOG")" 2>/dev/null
fi
echo
cat "$SUMMARY"
exit "$rc"
