#!/usr/bin/env bash
# On the GPU machine: what Ollama's runner does, without Ollama. Builds
# llama.cpp with loadable backends (GGML_BACKEND_DL) and llama-server, lays
# out an Ollama-like tree (lib/ollama/llama-server, lib/ollama/cuda_v13/
# libggml-cuda.so next to NVIDIA's real libcudart/libcublas), then starts
# llama-server the way Ollama >= 0.30 does, before and after
# tools/vgpu-install, and checks which libraries it really used.
#   SRC_TGZ=.cache/llama-full/src.tgz tests/gpu/ollama_like.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${VGPU_BUILD:-$ROOT/build}
SRC=${SRC:-$ROOT/.cache/llama/full-src}
LB=${LB:-$ROOT/.cache/llama/build-dl}
M=${MODEL:-$ROOT/.cache/llama/models/random-llama-3.2-1b-q8_0.gguf}
T=$ROOT/.cache/ollama-tree
R=/dev/shm/vgpu-ollama
CUDA_LIB=${CUDA_LIB:-/usr/local/cuda/lib64}
say() { echo "[ollama-like $(date +%H:%M:%S)] $*"; }

if [ ! -x "$LB/bin/llama-server" ]; then
  if [ ! -f "$SRC/CMakeLists.txt" ]; then mkdir -p "$SRC" && tar xzf "${SRC_TGZ:-$ROOT/.cache/llama-full/src.tgz}" -C "$SRC"; fi
  say "building llama-server with GGML_BACKEND_DL=ON (CUDA, sm_90)"
  cmake -S "$SRC" -B "$LB" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_NATIVE=OFF -DGGML_CUDA_NCCL=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF >"$LB.configure.log" 2>&1 || { tail -20 "$LB.configure.log"; exit 1; }
  cmake --build "$LB" -j "$(nproc)" --target llama-server llama-quantize ggml-cuda ggml-cpu >"$LB.build.log" 2>&1 || { tail -30 "$LB.build.log"; exit 1; }
fi
if [ ! -f "$M" ]; then
  say "making the random Llama-3.2-1B-shaped model"
  mkdir -p "$(dirname "$M")"
  python3 "$ROOT/bench/llama/make_model.py" "${M%.gguf}-f16.gguf" --src "$SRC" >/dev/null &&
    "$LB/bin/llama-quantize" "${M%.gguf}-f16.gguf" "$M" Q8_0 >/dev/null 2>&1 || { say "model failed"; exit 1; }
fi

pkill -x llama-server; sleep 0.5
say "laying out $T like Ollama's install"
rm -rf "$T"; mkdir -p "$T/lib/ollama/cuda_v13" "$T/sys"
cp -a "$LB"/bin/llama-server "$LB"/bin/lib*.so* "$T/lib/ollama/"
mv "$T"/lib/ollama/libggml-cuda.so* "$T/lib/ollama/cuda_v13/"
cp -a "$CUDA_LIB"/libcudart.so.13* "$CUDA_LIB"/libcublas.so.13* "$CUDA_LIB"/libcublasLt.so.13* "$T/lib/ollama/cuda_v13/"
OL=$T/lib/ollama
run_env() {  # as Ollama starts its runner
  env LD_LIBRARY_PATH="$OL:$OL/cuda_v13" GGML_BACKEND_PATH="$OL/cuda_v13/libggml-cuda.so" CUDA_VISIBLE_DEVICES=0 "$@"
}

"$B/bin/vgpu-hostd" --region $R --backend cuda --arena-mb 1024 --slots 2 2>/tmp/ollama-hostd.log &
H=$!; trap 'kill $H 2>/dev/null; wait $H 2>/dev/null' EXIT; sleep 1
# The guest finds the host the way it does in a VM's drop-in: VGPU_REGION.
export VGPU_REGION=$R

serve_once() {  # label
  say "--- $1: llama-server --list-devices"
  run_env "$OL/llama-server" --list-devices 2>&1 | grep -vE '^\s*$' | tail -4
  say "$1: libraries libggml-cuda.so resolves to:"
  run_env ldd "$OL/cuda_v13/libggml-cuda.so" | grep -E 'libcud|libcublas' | sed 's/(0x.*)//'
  say "$1: a completion request"
  local port=$((18000 + RANDOM % 1000))
  # env execs the server: $! is the server itself, so the kill below reaches it.
  env LD_LIBRARY_PATH="$OL:$OL/cuda_v13" GGML_BACKEND_PATH="$OL/cuda_v13/libggml-cuda.so" CUDA_VISIBLE_DEVICES=0 \
    "$OL/llama-server" -m "$M" -ngl 99 --port $port -c 2048 >"/tmp/server.$1.log" 2>&1 &
  local S=$!
  for _ in $(seq 120); do curl -sf localhost:$port/health >/dev/null 2>&1 && break; sleep 0.5; done
  curl -s localhost:$port/completion -d '{"prompt":"The quick brown fox","n_predict":16,"temperature":0}' |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("completion:", repr(r["content"][:80]), "| tokens predicted:", r["timings"]["predicted_n"], "| %.1f tok/s" % r["timings"]["predicted_per_second"])'
  grep -E "offloaded|CUDA0|using device" "/tmp/server.$1.log" | head -3
  "$B/bin/vgpu-smi" --stats $R.stats --once | head -4
  grep -E "print_timing.*eval time" "/tmp/server.$1.log" | tail -1
  kill $S; wait $S 2>/dev/null
}

serve_once before-install
say "tools/vgpu-install --ollama $T"
bash "$ROOT/tools/vgpu-install" --lib-dir "$B/lib" --ollama "$T" --system-lib "$T/sys" 2>&1 | tail -6
bash "$ROOT/tools/vgpu-install" --lib-dir "$B/lib" --ollama "$T" --system-lib "$T/sys" --check 2>&1 | tail -4
serve_once after-install
say "uninstall"
bash "$ROOT/tools/vgpu-install" --ollama "$T" --system-lib "$T/sys" --uninstall 2>&1 | tail -3
run_env ldd "$OL/cuda_v13/libggml-cuda.so" | grep -E 'libcudart' | sed 's/(0x.*)//'
grep -E "serving|left" /tmp/ollama-hostd.log
