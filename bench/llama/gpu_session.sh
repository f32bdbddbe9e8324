#!/usr/bin/env bash
# The whole llama.cpp comparison on the GPU machine in one go, in the background, so that
# it can outlive one 10-minute command and be polled:
#
#   bench/llama/gpu_session.sh start        # starts `run` under setsid, prints the log path
#   bench/llama/gpu_session.sh wait [SECS]  # follows the log up to SECS (default 540) or to
#                                           # the end; copies results into $OUT if set
#   bench/llama/gpu_session.sh status       # one line: running / done rc=N / not started
#   bench/llama/gpu_session.sh run          # the work itself, in the foreground
#
# `wait` exits 0 when the session finished with everything OK, 1 when it finished with
# failures, 3 while it is still running (call `wait` again), 2 when no session exists.
#
# Phases of `run`, each timed (PHASES, default "vgpu llama run"):
#   vgpu   build vgpu (cmake + ninja into $VGPU_BUILD, default build) unless
#          $VGPU_BUILD/bin/vgpu-hostd exists; Boost/fmt .debs carried in .debs/ are used as in
#          bench/gpu_run.sh; if it cannot be built, `run` goes on with VGPU=0 (native only)
#          and the session fails
#   llama  bench/llama/build.sh (a no-op when already built)
#   model  only the model step of run.sh (the random Q8_0 model; a no-op when it is there):
#          what tests/gpu/llama_guests.sh and llama_server.sh need, with PHASES="vgpu llama model"
#   run    bench/llama/run.sh (makes the model, then gen / bench / ops)
# Everything run.sh reads from the environment passes through (STEPS, OPS, TBO_JOBS, ...).
# SESSION_DIR (default .cache/llama/session) holds session.log, status and phases.tsv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/bench/llama"
SESSION_DIR="${SESSION_DIR:-$ROOT/.cache/llama/session}"
case "$SESSION_DIR" in /*) ;; *) SESSION_DIR="$ROOT/$SESSION_DIR" ;; esac
SLOG="$SESSION_DIR/session.log"
STATUS="$SESSION_DIR/status"
PIDF="$SESSION_DIR/pid"
export VGPU_BUILD="${VGPU_BUILD:-build}"
case "$VGPU_BUILD" in /*) ;; *) VGPU_BUILD="$ROOT/$VGPU_BUILD" ;; esac
export LLAMA_BUILD="${LLAMA_BUILD:-$ROOT/.cache/llama/build}"
PHASES="${PHASES:-vgpu llama run}"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[session %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

is_running() {
    [[ -f "$PIDF" ]] || return 1
    local pid; pid="$(cat "$PIDF")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

collect() { # copies the results into $OUT (at most a few files, one level down)
    [[ -n "${OUT:-}" ]] || return 0
    mkdir -p "$OUT"
    [[ -f "$SLOG" ]] && cp "$SLOG" "$OUT/llama-session.log"
    local latest="$ROOT/.cache/llama/logs/latest"
    if [[ -d "$latest" ]]; then
        local dir; dir="$(cd "$latest" && pwd -P)"
        [[ -f "$dir/summary.md" ]] && cp "$dir/summary.md" "$OUT/llama-summary.md"
        tar -czf "$OUT/llama-logs.tar.gz" -C "$(dirname "$dir")" "$(basename "$dir")" 2>/dev/null || true
    fi
    [[ -f "$SESSION_DIR/phases.tsv" ]] && cp "$SESSION_DIR/phases.tsv" "$OUT/llama-phases.tsv"
    [[ -f "$LLAMA_BUILD/build.log" ]] && tail -c 200000 "$LLAMA_BUILD/build.log" > "$OUT/llama-build.log"
    return 0
}

cmd_run() {
    mkdir -p "$SESSION_DIR"
    echo "$$" > "$PIDF"
    echo "running" > "$STATUS"
    : > "$SESSION_DIR/phases.tsv"
    local t_all; t_all="$(now)"
    local rc_all=0
    say "session start; phases: $PHASES; root $ROOT"
    if command -v nvidia-smi >/dev/null; then
        say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n1)"
    else
        say "gpu: (no nvidia-smi)"
    fi
    say "nproc $(nproc); $(cmake --version 2>/dev/null | head -n1 || echo 'no cmake'); $( (nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>/dev/null | tail -n1 || echo 'no nvcc')"

    local phase t0 rc
    for phase in $PHASES; do
        t0="$(now)"
        rc=0
        say "=== phase $phase"
        case "$phase" in
            vgpu)
                if [[ -x "$VGPU_BUILD/bin/vgpu-hostd" && -e "$VGPU_BUILD/lib/libcudart.so.13" ]]; then
                    say "vgpu already built in $VGPU_BUILD"
                else
                    # Same convention as bench/gpu_run.sh: Boost/fmt .deb files carried in .debs/
                    # are unpacked into /tmp/vgpu-deps (never into /) and put on the paths.
                    if compgen -G "$ROOT/.debs/*.deb" >/dev/null; then
                        local d=/tmp/vgpu-deps f
                        mkdir -p "$d"
                        for f in "$ROOT"/.debs/*.deb; do dpkg -x "$f" "$d"; done
                        export CMAKE_PREFIX_PATH="$d/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
                        export CPATH="$d/usr/include${CPATH:+:$CPATH}"
                        export LIBRARY_PATH="$d/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}"
                        say "unpacked .debs into $d"
                    fi
                    local -a gen=()
                    command -v ninja >/dev/null && gen=(-G Ninja)
                    local -a extra=()
                    read -r -a extra <<< "${VGPU_CMAKE_ARGS:-}"
                    # What the llama.cpp runs need; if these targets cannot be named, build all.
                    local -a want=(vgpu-hostd vgpu_backend_cuda lib/libcuda.so.1 lib/libcudart.so.13
                                   lib/libcublas.so.13 lib/libcublasLt.so.13 lib/libnvidia-ml.so.1
                                   vgpu-smi)
                    {
                        cmake -S "$ROOT" -B "$VGPU_BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "${extra[@]}" \
                            && { cmake --build "$VGPU_BUILD" -j "$(nproc)" --target "${want[@]}" \
                                 || cmake --build "$VGPU_BUILD" -j "$(nproc)"; }
                    } > "$SESSION_DIR/vgpu-build.log" 2>&1 || rc=$?
                    if [[ "$rc" != 0 || ! -x "$VGPU_BUILD/bin/vgpu-hostd" ]]; then
                        tail -n 30 "$SESSION_DIR/vgpu-build.log"
                        say "vgpu build FAILED (log: $SESSION_DIR/vgpu-build.log): going on natively only (VGPU=0)"
                        export VGPU=0
                        [[ "$rc" != 0 ]] || rc=1
                    fi
                fi
                ;;
            llama)
                "$HERE/build.sh" "${LLAMA_SRC:-$ROOT/.cache/llama/src}" "$LLAMA_BUILD" 2>&1 || rc=$?
                ;;
            model)
                VGPU=0 STEPS=model "$HERE/run.sh" 2>&1 || rc=$?
                ;;
            run)
                "$HERE/run.sh" 2>&1 || rc=$?
                ;;
            *)
                say "unknown phase $phase"; rc=1
                ;;
        esac
        local dt; dt="$(secs "$t0" "$(now)")"
        printf '%s\t%s\t%s\n' "$phase" "$dt" "$rc" >> "$SESSION_DIR/phases.tsv"
        say "phase $phase: rc=$rc, ${dt}s"
        if [[ "$rc" != 0 ]]; then
            rc_all=1
            if [[ "$phase" == llama ]]; then say "llama.cpp build failed: stopping"; break; fi
        fi
    done
    local name dt2 rc2
    while IFS=$'\t' read -r name dt2 rc2; do
        say "  phase $name: ${dt2}s rc=$rc2"
    done < "$SESSION_DIR/phases.tsv"
    say "SESSION DONE rc=$rc_all in $(secs "$t_all" "$(now)")s"
    echo "done $rc_all" > "$STATUS"
    return "$rc_all"
}

cmd_start() {
    mkdir -p "$SESSION_DIR"
    if is_running; then
        say "already running (pid $(cat "$PIDF")); log: $SLOG"
        return 0
    fi
    : > "$SLOG"
    echo 0 > "$SESSION_DIR/shown"
    echo "starting" > "$STATUS"
    setsid nohup bash "$HERE/gpu_session.sh" run >> "$SLOG" 2>&1 < /dev/null &
    echo $! > "$PIDF"
    say "started (pid $!); log: $SLOG"
    say "poll with: bash bench/llama/gpu_session.sh wait 540"
}

cmd_status() {
    if [[ ! -f "$STATUS" ]]; then echo "not started"; return 2; fi
    local st; st="$(cat "$STATUS")"
    if [[ "$st" == starting ]]; then
        # `run` has not written its pid yet; give it a few seconds
        if (( $(date +%s) - $(stat -c %Y "$STATUS") > 30 )) && ! is_running; then
            echo "died (never started; see $SLOG)"; return 1
        fi
    elif [[ "$st" == running ]] && ! is_running; then
        echo "died (status was '$st'; see $SLOG)"; return 1
    fi
    echo "$st"
}

cmd_wait() {
    local limit="${1:-540}" start shown=0 n st
    start="$(date +%s)"
    [[ -f "$STATUS" ]] || { say "no session (run: gpu_session.sh start)"; return 2; }
    # lines of the log already shown by an earlier `wait` are not shown again
    [[ -f "$SESSION_DIR/shown" ]] && shown="$(cat "$SESSION_DIR/shown")"
    while :; do
        if [[ -f "$SLOG" ]]; then
            n="$(wc -l < "$SLOG")"
            if (( n > shown )); then
                # progress lines only (the full log is in $SLOG / $OUT)
                sed -n "$(( shown + 1 )),${n}p" "$SLOG" | grep -E '^\[(session|run|build|fetch)|^make_model: wrote|SAME|DIFFERENT|FAIL|ERROR' | cut -c1-300 || true
                shown="$n"
                echo "$shown" > "$SESSION_DIR/shown"
            fi
        fi
        st="$(cmd_status || true)"
        case "$st" in
            "done 0") collect; say "finished: ALL OK"
                [[ -f "$ROOT/.cache/llama/logs/latest/summary.md" ]] && cat "$ROOT/.cache/llama/logs/latest/summary.md"
                return 0 ;;
            done*|died*) collect; say "finished: $st"
                local latest="$ROOT/.cache/llama/logs/latest/summary.md"
                [[ -f "$latest" ]] && cat "$latest"
                return 1 ;;
        esac
        if (( $(date +%s) - start >= limit )); then
            collect
            say "still running after ${limit}s of waiting ($st); call 'gpu_session.sh wait' again"
            return 3
        fi
        sleep 5
    done
}

case "${1:-}" in
    run) cmd_run ;;
    start) cmd_start ;;
    wait) cmd_wait "${2:-540}" ;;
    status) cmd_status ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
esac
