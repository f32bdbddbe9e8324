#!/usr/bin/env bash
# llama.cpp (GGML's CUDA backend) natively and through vgpu, side by side. For the GPU
# machine; works offline once build.sh has built llama.cpp.
#
#   bench/llama/run.sh
#
# Steps (STEPS, in the order given; default "gen bench ops": quick ones first):
#   model  always: writes the random Llama-3.2-1B-shaped model if missing and quantizes
#          it to Q8_0 (make_model.py + llama-quantize)
#   gen    greedy generation of a fixed prompt (llama-simple), native vs vgpu, byte for byte
#   bench  llama-bench -ngl 99 -p 512 -n 128: pp512 / tg128 tok/s, vgpu/native ratio
#   ops    test-backend-ops test -b CUDA0 -o OP for each OP: passed/total native vs vgpu
#
# Native runs use the environment unchanged. vgpu runs use
#   env VGPU_REGION=$REGION LD_LIBRARY_PATH=$VGPU_BUILD/lib:$LD_LIBRARY_PATH
# against `$VGPU_BUILD/bin/vgpu-hostd --region $REGION --backend cuda`, started here and
# stopped on exit.
#
# Environment (defaults in brackets):
#   VGPU_BUILD [build]   LLAMA_BUILD [.cache/llama/build]   LLAMA_SRC [.cache/llama/src]
#   VGPU [1]             0: native runs only (no daemon)
#   NATIVE [1]           0: vgpu runs only
#   STEPS ["gen bench ops"]
#   TINY [0]             1: use make_model.py --tiny (quick checks; not for timing)
#   MODEL                a GGUF to use as is (skips making one)
#   MODEL_DIR [.cache/llama/models]
#   OPS                  space-separated ops (default: MUL_MAT MUL_MAT_ID GET_ROWS CPY ADD MUL
#                        SCALE RMS_NORM NORM ROPE SOFT_MAX GLU FLASH_ATTN_EXT ARGSORT SUM_ROWS).
#                        Each is passed to -o; GLU stands for all GLU ops (-o '.*GLU.*').
#   OP_TIMEOUT [300]     seconds per op and side     TBO_JOBS [4]  test-backend-ops -j
#   DEVICE [CUDA0]       test-backend-ops backend     NGL [99]
#   BENCH_ARGS ["-p 512 -n 128 -r 5"]                BENCH_TIMEOUT [600]
#   GEN_TOKENS [32]      GEN_PROMPT                   GEN_TIMEOUT [300]
#   REGION [/dev/shm/vgpu-llama]   HOSTD_ARGS [""]    HOSTD_WAIT [30]   HOSTD_BACKEND [cuda]
#                        (the daemon serves --channels 8 guest threads per process by default:
#                        keep TBO_JOBS below that, or add HOSTD_ARGS="--channels 16")
#   LOG_DIR [.cache/llama/logs/run-DATE]   (.cache/llama/logs/latest points to the last)
#   OUT                  if set, the summary is also written to $OUT/llama-summary.md
#   PYTHON               python with numpy (default: python3, else /usr/bin/python3)
# Exit status: 0 when everything ran and vgpu matched native; 1 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/bench/llama"
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$ROOT/$1" ;; esac; }

VGPU_BUILD="$(abspath "${VGPU_BUILD:-build}")"
LLAMA_BUILD="$(abspath "${LLAMA_BUILD:-.cache/llama/build}")"
LLAMA_SRC="$(abspath "${LLAMA_SRC:-.cache/llama/src}")"
MODEL_DIR="$(abspath "${MODEL_DIR:-.cache/llama/models}")"
VGPU="${VGPU:-1}"
NATIVE="${NATIVE:-1}"
STEPS="${STEPS:-gen bench ops}"
TINY="${TINY:-0}"
OPS="${OPS:-MUL_MAT MUL_MAT_ID GET_ROWS CPY ADD MUL SCALE RMS_NORM NORM ROPE SOFT_MAX GLU FLASH_ATTN_EXT ARGSORT SUM_ROWS}"
OP_TIMEOUT="${OP_TIMEOUT:-300}"
TBO_JOBS="${TBO_JOBS:-4}"
DEVICE="${DEVICE:-CUDA0}"
NGL="${NGL:-99}"
BENCH_ARGS="${BENCH_ARGS:--p 512 -n 128 -r 5}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"
GEN_TOKENS="${GEN_TOKENS:-32}"
GEN_PROMPT="${GEN_PROMPT:-The quick brown fox jumps over the lazy dog, and then}"
GEN_TIMEOUT="${GEN_TIMEOUT:-300}"
REGION="${REGION:-/dev/shm/vgpu-llama}"
HOSTD_ARGS="${HOSTD_ARGS:-}"
HOSTD_BACKEND="${HOSTD_BACKEND:-cuda}"
HOSTD_WAIT="${HOSTD_WAIT:-30}"
LOG_ROOT="$ROOT/.cache/llama/logs"
LOG_DIR="$(abspath "${LOG_DIR:-$LOG_ROOT/run-$(date +%Y%m%d-%H%M%S)-$$}")"
BIN="$LLAMA_BUILD/bin"

mkdir -p "$LOG_DIR"
if [[ "$LOG_DIR" == "$LOG_ROOT"/* ]]; then ln -sfn "$LOG_DIR" "$LOG_ROOT/latest"; fi
SUMMARY="$LOG_DIR/summary.md"
: > "$SUMMARY"
FAILURES=()

log() { printf '[run %s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$LOG_DIR/run.log" >&2; }
fail() { FAILURES+=("$*"); log "FAILED: $*"; }
md() { printf '%s\n' "$*" >> "$SUMMARY"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
strip_ansi() { sed 's/\x1b\[[0-9;]*m//g' "$@"; }

# Runs "$@" with a timeout; stdout to $1, stderr to $2; prints the exit status (124/137 = timeout).
run_logged() {
    local limit="$1" out="$2" err="$3" rc=0
    shift 3
    printf '+ %q' "$@" > "$err.cmd"; echo >> "$err.cmd"
    timeout -k 10 "$limit" "$@" > "$out" 2> "$err" < /dev/null || rc=$?
    echo "$rc"
}

describe_rc() {
    case "$1" in
        0) echo "ok" ;;
        124 | 137) echo "TIMEOUT" ;;
        *) if (( $1 > 128 )); then echo "killed by signal $(( $1 - 128 ))"; else echo "exit $1"; fi ;;
    esac
}

# --- python (make_model.py, JSON parsing) --------------------------------------------------
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
    for p in python3 /usr/bin/python3; do
        if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then PYTHON="$p"; break; fi
    done
fi
[[ -n "$PYTHON" ]] || { log "ERROR: no python3 with numpy found (set PYTHON)"; exit 1; }

# --- sides -----------------------------------------------------------------------------------
SIDES=()
[[ "$NATIVE" == 1 ]] && SIDES+=(native)
[[ "$VGPU" == 1 ]] && SIDES+=(vgpu)
(( ${#SIDES[@]} > 0 )) || { log "ERROR: NATIVE=0 and VGPU=0: nothing to run"; exit 1; }
VGPU_ENV=(env "VGPU_REGION=$REGION" "LD_LIBRARY_PATH=$VGPU_BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
PREFIX=()
set_prefix() { # PREFIX=(): nothing for native, the env prefix for vgpu
    PREFIX=()
    if [[ "$1" == vgpu ]]; then PREFIX=("${VGPU_ENV[@]}"); fi
}
on_side() { # on_side SIDE cmd... : runs the command as that side would
    local side="$1"; shift
    if [[ "$side" == vgpu ]]; then "${VGPU_ENV[@]}" "$@"; else "$@"; fi
}

log "log dir: $LOG_DIR"
log "llama build: $LLAMA_BUILD; vgpu build: $VGPU_BUILD; sides: ${SIDES[*]}; steps: $STEPS"

for t in llama-bench test-backend-ops llama-quantize llama-simple; do
    [[ -x "$BIN/$t" ]] || { log "ERROR: $BIN/$t missing: run bench/llama/build.sh first"; exit 1; }
done
CUDA_SO=""
for f in "$BIN"/libggml-cuda.so "$BIN"/libggml-cuda.so*; do
    if [[ -e "$f" ]]; then CUDA_SO="$f"; break; fi
done

# --- environment record ------------------------------------------------------------------------
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -a)"
    echo "nproc: $(nproc)"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
    [[ -f "$LLAMA_SRC/.vgpu-llama-commit" ]] && echo "llama.cpp commit: $(cat "$LLAMA_SRC/.vgpu-llama-commit")"
    [[ -e "$LLAMA_SRC/.git" ]] && echo "llama.cpp commit: $(git -C "$LLAMA_SRC" rev-parse HEAD 2>/dev/null)"
    echo "vgpu commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
} > "$LOG_DIR/env.txt" 2>&1 || true

# --- model ------------------------------------------------------------------------------------------
t0="$(now)"
if [[ -n "${MODEL:-}" ]]; then
    MODEL="$(abspath "$MODEL")"
    [[ -s "$MODEL" ]] || { log "ERROR: MODEL=$MODEL does not exist"; exit 1; }
else
    if [[ "$TINY" == 1 ]]; then base="random-llama-tiny"; mm_args=(--tiny); else base="random-llama-3.2-1b"; mm_args=(); fi
    F16="$MODEL_DIR/$base-f16.gguf"
    MODEL="$MODEL_DIR/$base-q8_0.gguf"
    mkdir -p "$MODEL_DIR"
    if [[ ! -s "$MODEL" ]]; then
        if [[ ! -s "$F16" ]]; then
            log "making $F16 ..."
            "$PYTHON" "$HERE/make_model.py" "$F16" --src "$LLAMA_SRC" "${mm_args[@]}" > "$LOG_DIR/make_model.log" 2>&1 \
                || { tail -n 20 "$LOG_DIR/make_model.log" >&2; log "ERROR: make_model.py failed (log: $LOG_DIR/make_model.log)"; exit 1; }
        fi
        log "quantizing to Q8_0 ..."
        rm -f "$MODEL.tmp.gguf"
        "$BIN/llama-quantize" "$F16" "$MODEL.tmp.gguf" Q8_0 "$(nproc)" > "$LOG_DIR/quantize.log" 2>&1 \
            || { tail -n 20 "$LOG_DIR/quantize.log" >&2; log "ERROR: llama-quantize failed (log: $LOG_DIR/quantize.log)"; exit 1; }
        mv "$MODEL.tmp.gguf" "$MODEL"
    fi
fi
log "model: $MODEL ($(du -h "$MODEL" | cut -f1)) ready in $(secs "$t0" "$(now)")s"

# --- host daemon ----------------------------------------------------------------------------------
HOSTD_PID=""
HOSTD_STARTS=0
stop_hostd() {
    if [[ -n "$HOSTD_PID" ]] && kill -0 "$HOSTD_PID" 2>/dev/null; then
        kill "$HOSTD_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$HOSTD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$HOSTD_PID" 2>/dev/null || true
        wait "$HOSTD_PID" 2>/dev/null || true
    fi
    HOSTD_PID=""
    if [[ -f "$REGION.stats" ]]; then
        cp "$REGION.stats" "$LOG_DIR/hostd.$HOSTD_STARTS.stats" 2>/dev/null || true
    fi
    rm -f "$REGION" "$REGION.stats"
}
start_hostd() {
    HOSTD_STARTS=$(( HOSTD_STARTS + 1 ))
    local hlog="$LOG_DIR/hostd.$HOSTD_STARTS.log"
    local -a hargs=()
    read -r -a hargs <<< "$HOSTD_ARGS"
    rm -f "$REGION" "$REGION.stats"
    log "starting $VGPU_BUILD/bin/vgpu-hostd --region $REGION --backend $HOSTD_BACKEND ${HOSTD_ARGS} (log: $hlog)"
    "$VGPU_BUILD/bin/vgpu-hostd" --region "$REGION" --backend "$HOSTD_BACKEND" "${hargs[@]}" > "$hlog" 2>&1 < /dev/null &
    HOSTD_PID=$!
    local waited=0
    while [[ ! -e "$REGION" ]]; do
        if ! kill -0 "$HOSTD_PID" 2>/dev/null; then
            wait "$HOSTD_PID" 2>/dev/null || true
            tail -n 20 "$hlog" >&2 || true
            HOSTD_PID=""
            fail "vgpu-hostd exited before creating $REGION (log: $hlog)"
            return 1
        fi
        if (( waited >= HOSTD_WAIT * 10 )); then
            stop_hostd
            fail "vgpu-hostd did not create $REGION within ${HOSTD_WAIT}s (log: $hlog)"
            return 1
        fi
        sleep 0.1; waited=$(( waited + 1 ))
    done
    sleep 0.2
    log "vgpu-hostd running (pid $HOSTD_PID), region $REGION"
}
# Before each vgpu run: is the daemon alive? If it died, say so and start another one.
ensure_hostd() {
    [[ "$VGPU" == 1 ]] || return 0
    if [[ -n "$HOSTD_PID" ]] && kill -0 "$HOSTD_PID" 2>/dev/null; then return 0; fi
    if [[ -n "$HOSTD_PID" ]]; then
        local rc=0; wait "$HOSTD_PID" 2>/dev/null || rc=$?
        fail "vgpu-hostd died ($(describe_rc "$rc")) before: $1 (log: $LOG_DIR/hostd.$HOSTD_STARTS.log)"
        HOSTD_PID=""
    fi
    (( HOSTD_STARTS < 5 )) || return 1
    start_hostd
}
# After each vgpu run: did the daemon die during it? (ensure_hostd restarts it before the next)
check_hostd_after() {
    [[ "$1" == vgpu && -n "$HOSTD_PID" ]] || return 0
    kill -0 "$HOSTD_PID" 2>/dev/null && return 0
    local rc=0; wait "$HOSTD_PID" 2>/dev/null || rc=$?
    fail "vgpu-hostd died ($(describe_rc "$rc")) during: $2 (log: $LOG_DIR/hostd.$HOSTD_STARTS.log)"
    HOSTD_PID=""
}
# shellcheck disable=SC2317  # (invoked by the trap)
cleanup() {
    local rc=$?
    stop_hostd
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

REMOTED=1
if [[ "$VGPU" == 1 ]]; then
    for f in bin/vgpu-hostd lib/libcuda.so.1 lib/libcudart.so.13 lib/libcublas.so.13 lib/libcublasLt.so.13; do
        if [[ ! -e "$VGPU_BUILD/$f" ]]; then
            fail "vgpu build incomplete: $VGPU_BUILD/$f missing"
            REMOTED=0
        fi
    done
    # The dynamic loader must pick our libraries for libggml-cuda.so (else: not remoted).
    if (( REMOTED )) && [[ -n "$CUDA_SO" ]] && command -v ldd >/dev/null; then
        ldd "$CUDA_SO" > "$LOG_DIR/ldd.native.txt" 2>&1 || true
        if ! on_side vgpu ldd "$CUDA_SO" > "$LOG_DIR/ldd.vgpu.txt" 2>&1; then
            fail "ldd $CUDA_SO with the vgpu environment failed: $(grep -v '^\s' "$LOG_DIR/ldd.vgpu.txt" | head -n1)"
            REMOTED=0
        fi
    fi
    if (( REMOTED )) && [[ -n "$CUDA_SO" ]] && command -v ldd >/dev/null; then
        for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13; do  # libcublasLt is only NVIDIA cublas's dependency
            where="$(awk -v l="$lib" '$1 == l { print $3 }' "$LOG_DIR/ldd.vgpu.txt")"
            if [[ "$where" != "$VGPU_BUILD/lib/"* ]]; then
                fail "with the vgpu environment $lib resolves to '${where:-nothing}', not $VGPU_BUILD/lib (see $LOG_DIR/ldd.vgpu.txt)"
                REMOTED=0
            fi
        done
        (( REMOTED )) && log "ldd: libggml-cuda.so picks libcuda/libcudart/libcublas/libcublasLt from $VGPU_BUILD/lib under vgpu"
    fi
    if (( REMOTED )); then
        start_hostd || true
    fi
fi

# Can this side run now? (native: always; vgpu: only with a live daemon and our libraries)
side_ready() {
    [[ "$1" == native ]] && return 0
    (( REMOTED )) || return 1
    ensure_hostd "$2" || return 1
    return 0
}

# --- gen ------------------------------------------------------------------------------------------
step_gen() {
    log "== gen: llama-simple, greedy, $GEN_TOKENS tokens"
    md "## Greedy generation (llama-simple, $GEN_TOKENS tokens, -ngl $NGL)"
    md ""
    md "Prompt: \`$GEN_PROMPT\`"
    md ""
    local -A rcs=() speed=()
    local side rc runs
    for side in "${SIDES[@]}"; do
        runs=1
        [[ "$side" == native ]] && runs=2  # twice: is native itself deterministic?
        for r in $(seq "$runs"); do
            local tag="$side"; (( r > 1 )) && tag="$side.$r"
            if ! side_ready "$side" "gen $tag"; then rcs[$tag]="not run"; continue; fi
            local t0; t0="$(now)"
            set_prefix "$side"
            rc="$(run_logged "$GEN_TIMEOUT" "$LOG_DIR/gen.$tag.txt" "$LOG_DIR/gen.$tag.log" \
                "${PREFIX[@]}" "$BIN/llama-simple" -m "$MODEL" -n "$GEN_TOKENS" -ngl "$NGL" "$GEN_PROMPT")"
            check_hostd_after "$side" "gen $tag"
            rcs[$tag]="$(describe_rc "$rc")"
            speed[$tag]="$(grep -o 'speed: [0-9.]* t/s' "$LOG_DIR/gen.$tag.log" | head -n1 || true)"
            local off; off="$(grep -o 'offloaded [0-9]*/[0-9]* layers to GPU' "$LOG_DIR/gen.$tag.log" | head -n1 || true)"
            log "gen $tag: ${rcs[$tag]} in $(secs "$t0" "$(now)")s; ${off:-no offload line}; ${speed[$tag]:-}"
            if [[ "$rc" == 0 ]]; then
                local nums="${off#offloaded }"
                nums="${nums%% *}"
                if [[ "$NGL" != 0 && ( -z "$off" || "${nums%/*}" != "${nums#*/}" ) ]]; then
                    fail "gen $tag: model not fully offloaded to the GPU (${off:-no 'offloaded' line}; log: $LOG_DIR/gen.$tag.log)"
                fi
                [[ -s "$LOG_DIR/gen.$tag.txt" ]] || fail "gen $tag: no output text"
            else
                fail "gen $tag: ${rcs[$tag]} (log: $LOG_DIR/gen.$tag.log)"
            fi
        done
    done
    md "| run | result | speed | output (as printed, prompt included) |"
    md "| --- | --- | --- | --- |"
    local tag
    for tag in native native.2 vgpu; do
        [[ -n "${rcs[$tag]:-}" ]] || continue
        local text=""
        [[ -s "$LOG_DIR/gen.$tag.txt" ]] && text="$(head -c 600 "$LOG_DIR/gen.$tag.txt" | tr '\n|`' '   ' | cat -v)"
        md "| $tag | ${rcs[$tag]} | ${speed[$tag]:-} | \`$text\` |"
    done
    md ""
    if [[ "${rcs[native]:-}" == ok && "${rcs[native.2]:-}" == ok ]]; then
        if cmp -s "$LOG_DIR/gen.native.txt" "$LOG_DIR/gen.native.2.txt"; then
            md "Native run twice: identical (generation is deterministic)."
        else
            md "Native run twice: DIFFERENT (generation is not deterministic natively; a vgpu difference means little)."
            fail "gen: two native runs differ"
        fi
    fi
    if [[ "${rcs[native]:-}" == ok && "${rcs[vgpu]:-}" == ok ]]; then
        if cmp -s "$LOG_DIR/gen.native.txt" "$LOG_DIR/gen.vgpu.txt"; then
            GEN_VERDICT="SAME"
            log "gen: native and vgpu output: SAME"
        else
            GEN_VERDICT="DIFFERENT"
            cmp "$LOG_DIR/gen.native.txt" "$LOG_DIR/gen.vgpu.txt" > "$LOG_DIR/gen.cmp.txt" 2>&1 || true
            fail "gen: native and vgpu output DIFFERENT ($(cat "$LOG_DIR/gen.cmp.txt"))"
        fi
        md "**native vs vgpu: $GEN_VERDICT** (byte for byte)"
    else
        GEN_VERDICT="not compared"
        md "**native vs vgpu: not compared** (a run is missing or failed)"
    fi
    md ""
}

# --- bench ----------------------------------------------------------------------------------------
step_bench() {
    local -a bargs=()
    read -r -a bargs <<< "$BENCH_ARGS"
    log "== bench: llama-bench -ngl $NGL $BENCH_ARGS"
    md "## llama-bench (-ngl $NGL $BENCH_ARGS, $(basename "$MODEL"))"
    md ""
    local side rc
    for side in "${SIDES[@]}"; do
        if ! side_ready "$side" "bench $side"; then echo "not run" > "$LOG_DIR/bench.$side.rc"; continue; fi
        local t0; t0="$(now)"
        set_prefix "$side"
        rc="$(run_logged "$BENCH_TIMEOUT" "$LOG_DIR/bench.$side.json" "$LOG_DIR/bench.$side.log" \
            "${PREFIX[@]}" "$BIN/llama-bench" -m "$MODEL" -ngl "$NGL" "${bargs[@]}" -o json)"
        check_hostd_after "$side" "bench $side"
        describe_rc "$rc" > "$LOG_DIR/bench.$side.rc"
        log "bench $side: $(describe_rc "$rc") in $(secs "$t0" "$(now)")s"
        [[ "$rc" == 0 ]] || fail "bench $side: $(describe_rc "$rc") (log: $LOG_DIR/bench.$side.log)"
    done
    local table
    if ! table="$("$PYTHON" - "$LOG_DIR" "${SIDES[@]}" <<'PY'
import json, sys, os
d, sides = sys.argv[1], sys.argv[2:]
res, problems = {}, []
for s in sides:
    rc_file = os.path.join(d, f"bench.{s}.rc")
    rc = open(rc_file).read().strip() if os.path.exists(rc_file) else "not run"
    res[s] = {"rc": rc, "tests": {}}
    if rc != "ok":
        continue
    try:
        rows = json.load(open(os.path.join(d, f"bench.{s}.json")))
    except Exception as e:
        problems.append(f"bench {s}: unreadable JSON ({e})")
        continue
    for r in rows:
        name = (f"pp{r['n_prompt']}" if r.get("n_gen", 0) == 0 else
                f"tg{r['n_gen']}" if r.get("n_prompt", 0) == 0 else f"pp{r['n_prompt']}+tg{r['n_gen']}")
        res[s]["tests"][name] = (float(r["avg_ts"]), float(r.get("stddev_ts", 0.0)))
        res[s]["backends"] = r.get("backends", "")
        res[s]["gpu"] = r.get("gpu_info", "")
    if "CUDA" not in res[s].get("backends", ""):
        problems.append(f"bench {s}: backends = {res[s].get('backends')!r}, not CUDA")
names = []
for s in sides:
    for n in res[s]["tests"]:
        if n not in names:
            names.append(n)
hdr = "| test | " + " | ".join(f"{s} tok/s" for s in sides) + (" | vgpu/native |" if len(sides) == 2 else " |")
print(hdr)
print("|" + " --- |" * (hdr.count("|") - 1))
for n in names:
    cells = []
    for s in sides:
        v = res[s]["tests"].get(n)
        cells.append(f"{v[0]:,.1f} ± {v[1]:,.1f}" if v else res[s]["rc"])
    line = f"| {n} | " + " | ".join(cells) + " |"
    if len(sides) == 2:
        a, b = res["native"]["tests"].get(n), res["vgpu"]["tests"].get(n)
        line += f" {b[0] / a[0]:.3f} |" if a and b and a[0] > 0 else " - |"
    print(line)
if not names:
    print("| (no results) |" + " |" * len(sides))
print()
for s in sides:
    if res[s].get("gpu") or res[s].get("backends"):
        print(f"{s}: backends {res[s].get('backends', '?')}, gpu {res[s].get('gpu', '?')}")
        print()
for p in problems:
    print(f"PROBLEM: {p}")
    print()
PY
)"; then
        fail "bench: could not parse the results"
        table="(could not parse; see $LOG_DIR/bench.*.json)"
    fi
    md "$table"
    md ""
    printf '%s\n' "$table" | while IFS= read -r l; do [[ -n "$l" ]] && log "$l"; done
    if grep -q '^PROBLEM:' <<< "$table"; then
        while IFS= read -r p; do fail "${p#PROBLEM: }"; done < <(grep '^PROBLEM:' <<< "$table")
    fi
}

# --- ops ------------------------------------------------------------------------------------------
# Prints "passed/total status" for a test-backend-ops log, or a reason it has none.
tbo_result() {
    local logf="$1" rc="$2" pt st
    pt="$(strip_ansi "$logf" | grep -E '^ *[0-9]+/[0-9]+ tests passed' | tail -n1 | awk '{ print $1 }' || true)"
    st="$(strip_ansi "$logf" | grep -E "^ *Backend $DEVICE: " | tail -n1 | awk '{ print $3 }' || true)"
    if [[ -z "$pt" ]]; then
        if [[ "$rc" != 0 ]]; then echo "- $(describe_rc "$rc")"
        elif strip_ansi "$logf" | grep -q "$DEVICE" ; then echo "- no-summary"
        else echo "- no-$DEVICE"; fi
        return
    fi
    [[ "$rc" == 0 ]] || st="$(describe_rc "$rc")"
    echo "$pt ${st:-?}"
}

step_ops() {
    log "== ops: test-backend-ops test -b $DEVICE -j $TBO_JOBS, per op (timeout ${OP_TIMEOUT}s)"
    md "## test-backend-ops (test -b $DEVICE -j $TBO_JOBS)"
    md ""
    local hdr="| op |" sep="| --- |" side
    for side in "${SIDES[@]}"; do hdr+=" $side passed/total |"; sep+=" --- |"; done
    [[ ${#SIDES[@]} == 2 ]] && { hdr+=" same? |"; sep+=" --- |"; }
    md "$hdr"; md "$sep"
    local op filter rc res line
    for op in $OPS; do
        filter="$op"
        [[ "$op" == GLU ]] && filter='.*GLU.*'
        local -A r=()
        line="| $op |"
        for side in "${SIDES[@]}"; do
            local base="$LOG_DIR/ops.$op.$side"
            if ! side_ready "$side" "ops $op $side"; then r[$side]="not run"; line+=" not run |"; continue; fi
            local t0; t0="$(now)"
            set_prefix "$side"
            rc="$(run_logged "$OP_TIMEOUT" "$base.log" "$base.stderr" \
                "${PREFIX[@]}" "$BIN/test-backend-ops" test -b "$DEVICE" -o "$filter" -j "$TBO_JOBS")"
            check_hostd_after "$side" "ops $op $side"
            res="$(tbo_result "$base.log" "$rc")"
            strip_ansi "$base.log" | sed -n '/^Failing tests:/,/^[^ ]/p' | grep '^  ' | sort > "$base.failing" || true
            local pt="${res%% *}" st="${res#* }"
            local shown="$pt"; [[ "$st" != OK ]] && shown="$pt ($st)"; [[ "$pt" == - ]] && shown="$st"
            r[$side]="$shown"
            line+=" $shown |"
            log "ops $op $side: $shown in $(secs "$t0" "$(now)")s"
            local passed="${pt%/*}" total="${pt#*/}"
            if [[ "$pt" == - ]]; then
                fail "ops $op $side: $st (log: $base.log)"
            elif [[ "$total" == 0 ]]; then
                fail "ops $op $side: no test cases ran (log: $base.log)"
            elif [[ "$passed" != "$total" || "$st" != OK ]]; then
                fail "ops $op $side: $pt passed, status $st (failing: $base.failing)"
            fi
        done
        if [[ ${#SIDES[@]} == 2 ]]; then
            local same=no
            if [[ "${r[native]}" == "${r[vgpu]}" && "${r[native]}" == [0-9]* ]] \
                && cmp -s "$LOG_DIR/ops.$op.native.failing" "$LOG_DIR/ops.$op.vgpu.failing"; then
                same=yes
            fi
            line+=" $same |"
            [[ "$same" == yes ]] || fail "ops $op: vgpu (${r[vgpu]}) differs from native (${r[native]})"
        fi
        md "$line"
    done
    md ""
}

# --- main -------------------------------------------------------------------------------------
GEN_VERDICT="not run"
md "# llama.cpp natively and through vgpu"
md ""
md "$(date -u +%Y-%m-%dT%H:%M:%SZ); $(grep '^gpu:' "$LOG_DIR/env.txt" | head -n1 || echo 'gpu: ?'); model $(basename "$MODEL"); sides: ${SIDES[*]}; logs: $LOG_DIR"
md ""
declare -A STEP_TIME=()
for step in $STEPS; do
    t0="$(now)"
    case "$step" in
        model) ;;
        gen) step_gen ;;
        bench) step_bench ;;
        ops) step_ops ;;
        *) fail "unknown step '$step' (known: gen bench ops)" ;;
    esac
    STEP_TIME[$step]="$(secs "$t0" "$(now)")"
    log "step $step took ${STEP_TIME[$step]}s"
done

md "## Verdict"
md ""
if [[ "$VGPU" == 1 ]] && (( HOSTD_STARTS > 1 )); then
    md "vgpu-hostd was started $HOSTD_STARTS times (it died in between)."
fi
for step in $STEPS; do md "- step $step: ${STEP_TIME[$step]:-?}s"; done
md ""
if (( ${#FAILURES[@]} == 0 )); then
    md "**ALL OK**"
else
    md "**${#FAILURES[@]} FAILURE(S):**"
    md ""
    for f in "${FAILURES[@]}"; do md "- $f"; done
fi

if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    cp "$SUMMARY" "$OUT/llama-summary.md"
fi
echo
cat "$SUMMARY"
if (( ${#FAILURES[@]} == 0 )); then
    log "ALL OK (summary: $SUMMARY)"
    exit 0
fi
log "${#FAILURES[@]} failure(s) (summary: $SUMMARY)"
exit 1
