#!/usr/bin/env bash
# On the GPU machine, in one command: the real Ollama (its Go binary built by
# bench/ollama/fetch.sh, its CUDA backend built here from its own CMake presets,
# sm_90 only) laid out as Ollama's release tree, run natively and then through
# vgpu, same model, same prompt.
#
#   bash bench/ollama/gpu_session.sh         (carry .cache/ollama-carry, .cache/llama-src, .debs)
#   OLLAMA_BUILD_ONLY=1 bash bench/ollama/gpu_session.sh   (build the tree and the model, run nothing)
#
# The "guest" is a folder that stands for the VM's root file system:
# $GR/opt/ollama (the Ollama tree) and $GR/usr/lib/x86_64-linux-gnu (its system
# library folder). Natively the tree is used as shipped (NVIDIA's libcudart,
# libcublas, libcublasLt in lib/ollama/cuda_v13, the machine's driver).
# tools/vgpu-install --root $GR then installs our libraries into it; the
# server runs with the guest's library folder first on its path (a VM has no
# NVIDIA driver: its libcuda.so.1 and libnvidia-ml.so.1 are ours) and talks
# to a vgpu-hostd whose CUDA backend has the real driver. --uninstall after.
#
# Checks: the same text for a fixed prompt at temperature 0; the server log
# (library=CUDA, the H200's name and memory, no CPU fallback, the discovery
# count); `ollama ps` at 100% GPU; vgpu-smi's counters; which libraries the
# runner really mapped; eval rate (ollama run --verbose) and 4 parallel API
# requests (OLLAMA_NUM_PARALLEL=4); NVIDIA's files back byte for byte after
# --uninstall. Summary last; logs in $OUT.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
CARRY=$ROOT/.cache/ollama-carry
W=${WORK:-/tmp/ollama-work}
GR=$W/guest-root
PREFIX=/opt/ollama
T=$GR$PREFIX
B=${VGPU_BUILD:-$ROOT/build-gpu}
REGION=/dev/shm/vgpu-ollama
MODELS=$W/models
PROMPT=${PROMPT:-"The capital of France is"}
NAME=vgpu-random-llama
PORT=11434
t0=$SECONDS
say() { echo "[ollama $(date +%H:%M:%S) +$((SECONDS - t0))s] $*"; }
declare -a SUMMARY
note() { SUMMARY+=("$*"); say "$*"; }
mkdir -p "$W"

# ---- 1. vgpu itself (tests/gpu/build.sh: Release, carried .debs)
if [ ! -x "$B/bin/vgpu-hostd" ] || [ ! -e "$B/lib/libcudart.so.13" ]; then
  BUILD=$B . "$ROOT/tests/gpu/build.sh" || exit 1
else
  BUILD=$B . "$ROOT/tests/gpu/build.sh" >/dev/null 2>&1  # the .debs' environment, an up-to-date build
fi

# ---- 2. Ollama's tree: its Go binary, its CPU and CUDA 13 backends (presets, sm_90)
if [ ! -x "$T/bin/ollama" ]; then
  [ -f "$CARRY/ggml-src.tar.gz" ] || { echo "no $CARRY (run bench/ollama/fetch.sh on the dev machine and carry it)"; exit 1; }
  rm -rf "$W/src" && mkdir -p "$W/src" "$T/bin" && tar -xzf "$CARRY/ggml-src.tar.gz" -C "$W/src"
  (cd "$W/src" &&
    # Ollama's CMakeLists fixes its library folder (PREFIX/lib/ollama/RUNNER_DIR)
    # at configure time from CMAKE_INSTALL_PREFIX (the presets' ${sourceDir}/dist),
    # so the tree's prefix is given there; `cmake --install --prefix` would not move it.
    cmake --preset CPU -DCMAKE_INSTALL_PREFIX="$T" >"$OUT/ollama-cpu.log" 2>&1 &&
    cmake --build --preset CPU -j "$(nproc)" >>"$OUT/ollama-cpu.log" 2>&1 &&
    cmake --install build --component CPU --strip >>"$OUT/ollama-cpu.log" 2>&1 &&
    cmake --preset "CUDA 13" -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_INSTALL_PREFIX="$T" >"$OUT/ollama-cuda.log" 2>&1 &&
    cmake --build --preset "CUDA 13" -j "$(nproc)" >>"$OUT/ollama-cuda.log" 2>&1 &&
    cmake --install build --component CUDA --strip >>"$OUT/ollama-cuda.log" 2>&1) ||
    { tail -25 "$OUT"/ollama-c*.log; exit 1; }
  [ -e "$T/lib/ollama/cuda_v13/libggml-cuda.so" ] || { echo "Ollama's install left no $T/lib/ollama/cuda_v13/libggml-cuda.so"; exit 1; }
  xz -dc "$CARRY/ollama.xz" >"$T/bin/ollama" && chmod +x "$T/bin/ollama"
  mkdir -p "$GR/usr/lib/x86_64-linux-gnu"
fi
say "Ollama $(cat "$CARRY/VERSION") tree: $(cd "$T" && find . -name '*.so*' | sort | tr '\n' ' ')"

# ---- 3. the model: random weights, Llama-3.2-1B's shape, F16 GGUF (Ollama quantizes to Q8_0)
M=$W/random-llama-3.2-1b-f16.gguf
if [ ! -f "$M" ]; then
  LS=$W/llama-src; mkdir -p "$LS"
  tar -xzf "$(ls "$ROOT"/.cache/llama-src/*.tar.gz | head -1)" -C "$LS" 2>/dev/null
  GG=$(dirname "$(find "$LS" -maxdepth 3 -name gguf-py -type d | head -1)")
  python3 "$ROOT/bench/llama/make_model.py" "$M" --src "$GG" >"$OUT/model.log" 2>&1 || { tail "$OUT/model.log"; exit 1; }
fi
# OLLAMA_BUILD_ONLY=1: stop here (the build and the model), so the runs below
# can come later, when nothing else competes for the GPU and the CPUs.
[ "${OLLAMA_BUILD_ONLY:-0}" = 1 ] && { say "built (OLLAMA_BUILD_ONLY=1)"; exit 0; }
printf 'FROM %s\nPARAMETER temperature 0\nPARAMETER seed 7\nPARAMETER num_predict 64\nTEMPLATE "{{ .Prompt }}"\n' "$M" >"$W/Modelfile"

# ---- one server run: create (first time), run, ps, parallel requests
serve() {  # LABEL ENV...
  local label=$1; shift
  local log=$OUT/serve-$label.log
  # A server left from an earlier run would answer in this one's place.
  if curl -fs "http://127.0.0.1:$PORT/api/version" >/dev/null 2>&1; then
    note "$label: port $PORT already has a server; stopping it"
    pkill -f "$T/bin/ollama serve" 2>/dev/null; pkill -f "$T/bin/ollama runner" 2>/dev/null; sleep 1
  fi
  env "$@" OLLAMA_HOST=127.0.0.1:$PORT OLLAMA_MODELS="$MODELS" OLLAMA_NUM_PARALLEL=4 OLLAMA_DEBUG="${OLLAMA_DEBUG:-1}" \
    OLLAMA_KEEP_ALIVE=10m "$T/bin/ollama" serve >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/api/version" >/dev/null && break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null || { note "$label: ollama serve exited: $(tail -2 "$log" | tr '\n' ' ')"; return 1; }
  local cli=(env "OLLAMA_HOST=127.0.0.1:$PORT" "$T/bin/ollama")
  if ! "${cli[@]}" list 2>/dev/null | grep -q "^$NAME"; then
    "${cli[@]}" create "$NAME" -q q8_0 -f "$W/Modelfile" >"$OUT/create.log" 2>&1 || { tail "$OUT/create.log"; }
  fi
  "${cli[@]}" run --verbose "$NAME" "$PROMPT" >"$OUT/run-$label.txt" 2>"$OUT/run-$label.err"
  # The same request again: its eval rate has no first-request costs in it (CUDA
  # graph capture, kernels' first use), which a 64-token request does not amortise.
  "${cli[@]}" run --verbose "$NAME" "$PROMPT" >"$OUT/run2-$label.txt" 2>"$OUT/run2-$label.err"
  "${cli[@]}" ps >"$OUT/ps-$label.txt" 2>&1
  [ -n "${SMI_DURING:-}" ] && "$B/bin/vgpu-smi" --stats "$REGION.stats" --once --all >"$SMI_DURING" 2>&1
  # Which libraries the runner mapped (the runner is `ollama runner ...`, a child of the server).
  local rp; rp=$(pgrep -P "$pid" -f "ollama runner" | head -1)
  if [ -n "$rp" ]; then
    grep -oE '/[^ ]*lib(cudart|cublas|cublasLt|cuda|nvidia-ml)\.so[^ ]*' "/proc/$rp/maps" | sort -u >"$OUT/maps-$label.txt"
  fi
  # 4 requests at once through the HTTP API; tokens/s = sum(eval_count) / max(total duration).
  # (Their own pids: the shell's other jobs include vgpu-hostd, which must not be waited for.)
  local i; local -a reqs=()
  for i in 1 2 3 4; do
    curl -fs -m 120 "http://127.0.0.1:$PORT/api/generate" -d "{\"model\":\"$NAME\",\"prompt\":\"Story $i: once upon a time\",\"stream\":false,\"options\":{\"num_predict\":128,\"temperature\":0}}" >"$OUT/par-$label-$i.json" &
    reqs+=($!)
  done
  wait "${reqs[@]}" 2>/dev/null
  # Decode speed of one request at a time, longer than the run above (64
  # tokens are ~0.1 s: too short to time): 3 requests of 256 tokens, best kept.
  for i in 1 2 3; do
    curl -fs -m 120 "http://127.0.0.1:$PORT/api/generate" -d "{\"model\":\"$NAME\",\"prompt\":\"Chapter $i\",\"stream\":false,\"options\":{\"num_predict\":256,\"temperature\":0}}" >"$OUT/one-$label-$i.json"
  done
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  pkill -f "$T/bin/ollama runner" 2>/dev/null; sleep 0.5
}
rate() {  # LABEL [run2]: eval rate of ollama run --verbose (of the repeated request with run2)
  grep -E '^eval rate' "$OUT/${2:-run}-$1.err" | awk '{print $3}'
}
one_rate() {  # LABEL: best decode tokens/s of the single 256-token requests
  python3 - "$OUT" "$1" <<'PY'
import json, sys, glob
out, label = sys.argv[1:]
r = []
for f in glob.glob(f"{out}/one-{label}-*.json"):
    try:
        j = json.load(open(f)); r.append(j["eval_count"] / (j["eval_duration"] / 1e9))
    except Exception:
        pass
print(f"{max(r):.1f}" if r else "n/a")
PY
}
par_rate() {  # LABEL: aggregate tokens/s of the parallel requests
  python3 - "$OUT" "$1" <<'PY'
import json, sys, glob
out, label = sys.argv[1:]
n = d = 0
for f in glob.glob(f"{out}/par-{label}-*.json"):
    try:
        j = json.load(open(f)); n += j["eval_count"]; d = max(d, j["eval_duration"] / 1e9)
    except Exception:
        pass
print(f"{n / d:.1f}" if d else "n/a")
PY
}

# ---- 4. natively, the tree as shipped
find "$T" -type f -o -type l | sort | xargs sha256sum 2>/dev/null >"$W/tree-before.sha" || true
(cd "$T" && find . \( -type f -o -type l \) -printf '%p %l\n' | sort) >"$W/tree-before.list"
say "native run"
serve native
note "native: text: $(tr '\n' ' ' <"$OUT/run-native.txt" | cut -c1-160)"
note "native: eval rate $(rate native) tok/s; repeated request $(rate native run2) tok/s; 4 parallel: $(par_rate native) tok/s; ps: $(tail -n1 "$OUT/ps-native.txt" | tr -s ' ')"
note "native: runner mapped: $(tr '\n' ' ' <"$OUT/maps-native.txt" 2>/dev/null)"

# ---- 5. through vgpu, once per MPS mode of the daemon (VGPU_MPS_MODES; auto
# is the default a host gets: MPS on when the driver ships it). The guest
# tree is the same; only the daemon is started again.
smi_rows() {  # FILE: one line per guest that ran: its launches, GEMMs and graph launches
  # (The header's "MEM held/peak/quota" is two words, a row's value one.)
  awk 'NR==2{for(i=1;i<=NF;i++){if($i=="held/peak/quota"){d=1;continue}; c[$i]=i-d}; next}
       NR>2 && $(c["LAUNCH"])+$(c["GEMM"])+$(c["GRAPH"])>0 {
    printf "slot %s: %s launches, %s GEMMs, %s graph launches; ", $1, $(c["LAUNCH"]), $(c["GEMM"]), $(c["GRAPH"])}' "$1"
}
bash "$ROOT/tools/vgpu-install" --root "$GR" --ollama "$PREFIX" --lib-dir "$B/lib" >"$OUT/install.log" 2>&1 ||
  { note "vgpu-install FAILED: $(tail -3 "$OUT/install.log")"; }
bash "$ROOT/tools/vgpu-install" --root "$GR" --ollama "$PREFIX" --lib-dir "$B/lib" --check >"$OUT/check.log" 2>&1
note "vgpu-install --check: rc=$? $(tail -n1 "$OUT/check.log")"
H=
trap '[ -n "$H" ] && kill $H 2>/dev/null' EXIT
labels=(native)
for mode in ${VGPU_MPS_MODES:-auto off}; do
  l=vgpu-mps-$mode; labels+=("$l")
  # The daemon of VGPU_PROFILE_MODE (default off) times every op (--profile): the
  # per-op table in its log says where a miss goes (a few clock reads a record).
  prof=(); [ "$mode" = "${VGPU_PROFILE_MODE:-off}" ] && prof=(--profile)
  "$B/bin/vgpu-hostd" --region "$REGION" --backend cuda --arena-mb 1024 --slots 4 --mps "$mode" "${prof[@]}" 2>"$OUT/hostd-$l.log" &
  H=$!
  for _ in $(seq 300); do [ -e "$REGION.stats" ] && break; sleep 0.1; done
  note "$l: daemon: $(grep -m1 'MPS' "$OUT/hostd-$l.log")"
  say "$l run"
  SMI_DURING="$OUT/vgpu-smi-$l-1.txt" serve "$l" LD_LIBRARY_PATH="$GR/usr/lib/x86_64-linux-gnu" VGPU_REGION="$REGION"
  "$B/bin/vgpu-smi" --stats "$REGION.stats" --once --all >"$OUT/vgpu-smi-$l-2.txt" 2>&1
  kill "$H" 2>/dev/null; wait "$H" 2>/dev/null; H=
  rm -f "$REGION" "$REGION.stats"
  note "$l: text: $(tr '\n' ' ' <"$OUT/run-$l.txt" | cut -c1-160)"
  note "$l: eval rate $(rate "$l") tok/s (native $(rate native)); repeated request $(rate "$l" run2) tok/s (native $(rate native run2)); 256-token requests best $(one_rate "$l") tok/s (native $(one_rate native)); 4 parallel: $(par_rate "$l") tok/s (native $(par_rate native)); ps: $(tail -n1 "$OUT/ps-$l.txt" | tr -s ' ')"
  note "$l: runner mapped: $(tr '\n' ' ' <"$OUT/maps-$l.txt" 2>/dev/null)"
  if cmp -s "$OUT/run-native.txt" "$OUT/run-$l.txt"; then note "$l: text IDENTICAL to native"; else note "$l: text DIFFERENT from native"; fi
  note "$l: vgpu-smi after the run: $(smi_rows "$OUT/vgpu-smi-$l-1.txt")"
  note "$l: vgpu-smi after the API requests: $(smi_rows "$OUT/vgpu-smi-$l-2.txt")"
done
for l in "${labels[@]}"; do
  note "$l log: $(grep -m1 -o 'msg="inference compute".*' "$OUT/serve-$l.log" | cut -c1-220)"
  note "$l log: initial_count: $(grep -o 'initial_count=[0-9]*' "$OUT/serve-$l.log" | sort | uniq -c | tr '\n' ' ') library=cpu lines: $(grep -c 'library=cpu' "$OUT/serve-$l.log"); $(grep -m1 -o 'offloaded [0-9/]* layers to GPU' "$OUT/serve-$l.log")"
done

# ---- 6. uninstall: NVIDIA's files back byte for byte
bash "$ROOT/tools/vgpu-install" --root "$GR" --ollama "$PREFIX" --uninstall >"$OUT/uninstall.log" 2>&1
urc=$?
find "$T" -type f -o -type l | sort | xargs sha256sum 2>/dev/null >"$W/tree-after.sha" || true
(cd "$T" && find . \( -type f -o -type l \) -printf '%p %l\n' | sort) >"$W/tree-after.list"
if cmp -s "$W/tree-before.sha" "$W/tree-after.sha" && cmp -s "$W/tree-before.list" "$W/tree-after.list"; then
  note "uninstall rc=$urc: tree IDENTICAL to before (sha256 of $(wc -l <"$W/tree-before.sha") files, links too)"
else
  note "uninstall rc=$urc: tree DIFFERS: $(diff "$W/tree-before.list" "$W/tree-after.list" | head -5 | tr '\n' ' ')"
fi
echo "==== summary (total $((SECONDS - t0)) s)"
printf '%s\n' "${SUMMARY[@]}"
