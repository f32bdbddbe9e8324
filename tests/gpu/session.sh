#!/usr/bin/env bash
# One GPU-machine session for the closing measurements, in order so nothing
# competes with the benchmarks: build vgpu, API benchmarks (bench/gpu_run.sh),
# the examples native vs vgpu, several guests at once (many_guests.sh), then,
# with OLLAMA=1, the Ollama-like run in the background (its llama.cpp build
# takes minutes: poll with `tests/gpu/session.sh wait`).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
case "${1:-start}" in
  start)
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null && ninja -C build >"$OUT/vgpu-build.log" 2>&1 ||
      { tail -30 "$OUT/vgpu-build.log"; exit 1; }
    bash bench/gpu_run.sh >"$OUT/bench.log" 2>&1; grep -E "^\| (null|launch)|Targets" "$OUT/results.md"
    LOG_DIR=/tmp/ex bash tests/gpu/run_examples.sh build >"$OUT/examples.log" 2>&1; grep -E "^== " "$OUT/examples.log"
    LOG_DIR=/tmp/many bash tests/gpu/many_guests.sh build >"$OUT/many_guests.log" 2>&1; cat "$OUT/many_guests.log"
    [ "${OLLAMA:-0}" = 1 ] || exit 0
    setsid bash tests/gpu/ollama_like.sh >/tmp/ollama_like.log 2>&1 < /dev/null &
    echo "ollama-like run started"
    "$0" wait "${2:-200}" ;;
  wait)
    for _ in $(seq "${2:-500}"); do pgrep -f ollama_like.sh >/dev/null || break; sleep 1; done
    cp /tmp/ollama_like.log "$OUT/ollama_like.log"; cat /tmp/ollama_like.log
    pgrep -f ollama_like.sh >/dev/null && echo "STILL RUNNING" || echo "DONE" ;;
esac
