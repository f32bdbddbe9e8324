#!/usr/bin/env bash
# A CUDA 12 client nobody here built, on the GPU machine: npm's
# @lloyal-labs/lloyal.node-linux-x64-cuda (llama.cpp as a Node addon, linking
# libcudart.so.12 and libcublas.so.12, shipping neither), remoted over OUR
# libcudart.so.12, libcublas.so.12 and libcuda.so.1 against a CUDA-backend
# vgpu-hostd, and natively when NVIDIA's CUDA 12 runtime and cuBLAS are found.
#
#   bash tests/gpu/cuda12_client.sh [BUILD_DIR]    (default build; under a minute)
#
# STATUS: first step only. It reports what the machine has (node, NVIDIA's
# CUDA 12 libraries: CUDA12_LIBS=dir, else site-packages/nvidia/*/lib, else
# /usr/local/cuda-12*), loads the addon and lists its devices each way. Text
# generation (the random Llama-3.2-1B-shaped GGUF of bench/llama/make_model.py)
# needs the addon's JS API (the @lloyal-labs/lloyal.node wrapper): not yet.
# Needs .cache/cuda12-client/lloyal/package/bin, or the carried
# .cache/cuda12-client-carry/lloyal-bin.tar.zst (tools/cuda12_client/fetch.sh),
# and node (NODE=...). BACKEND=cpu: a dry run of the plumbing.
# Logs: ${OUT:-/tmp/out}/cuda12-client/{probe.txt,native.log,vgpu.log,hostd.log}.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" 2>/dev/null && pwd) || { echo "no build dir ${1:-$ROOT/build}"; exit 2; }
DIR=${OUT:-/tmp/out}/cuda12-client
C=$ROOT/.cache/cuda12-client
PKG=$C/lloyal/package/bin
NODE=${NODE:-$(command -v node || true)}
rm -rf "$DIR" && mkdir -p "$DIR"
# NVIDIA's CUDA 12 runtime/cuBLAS files on this machine (SUFFIX: '.so.12' or '.so.12*'),
# leaving out vgpu's own libraries of that name (in build directories).
nvidia12() {
  find / -xdev \( -name "libcudart$1" -o -name "libcublas$1" -o -name "libcublasLt$1" \) ! -name '*.map' 2>/dev/null |
    grep -v -e '/build[^/]*/' -e "^$BUILD/"
}
for f in bin/vgpu-hostd lib/libcuda.so.1 lib/libcudart.so.12 lib/libcublas.so.12; do
  [ -e "$BUILD/$f" ] || { echo "missing $BUILD/$f: build vgpu with the CUDA 12 headers (VGPU_CUDA12_DIR) first"; exit 2; }
done
if [ ! -e "$PKG/lloyal.node" ] && [ -f "$ROOT/.cache/cuda12-client-carry/lloyal-bin.tar.zst" ]; then
  mkdir -p "$C/lloyal" && zstd -q -d --long=27 -c "$ROOT/.cache/cuda12-client-carry/lloyal-bin.tar.zst" | tar -xf - -C "$C/lloyal" ||
    { echo "could not unpack the carried package"; exit 2; }
fi
{
  echo "node: ${NODE:-none} $([ -n "$NODE" ] && "$NODE" --version)"
  echo "package: $(cat "$C/lloyal/VERSION" 2>/dev/null || echo none) ($PKG)"
  echo "NVIDIA's CUDA 12 libraries on this machine:"
  nvidia12 '.so.12*' | sed 's/^/  /'
} | tee "$DIR/probe.txt"
[ -n "$NODE" ] || { echo "no node on this machine (NODE=... to give one)"; exit 2; }
[ -e "$PKG/lloyal.node" ] || { echo "no package at $PKG (tools/cuda12_client/fetch.sh, carry .cache/cuda12-client-carry)"; exit 2; }
NV12=${CUDA12_LIBS:-}
if [ -z "$NV12" ]; then
  lt=$(nvidia12 '.so.12' | grep '/libcublasLt.so.12$' | head -1)
  [ -n "$lt" ] && NV12=$(dirname "$lt")
fi
# The addon's own bin/ first (its RUNPATH is $ORIGIN), then the CUDA 12 libraries.
JS='const m = require(process.argv[1]); console.log("devices " + JSON.stringify(m.listDevices()));'
if [ -n "$NV12" ]; then
  cudart=$(ls "$NV12/libcudart.so.12" 2>/dev/null || nvidia12 '.so.12' | grep '/libcudart.so.12$' | head -1)
  cudart=$(dirname "${cudart:-$NV12/x}")
  LD_LIBRARY_PATH="$NV12:$cudart" timeout 60 "$NODE" -e "$JS" "$PKG/lloyal.node" >"$DIR/native.log" 2>&1
  echo "== native (NVIDIA's CUDA 12 from $NV12): exit $? $(grep -h '^devices' "$DIR/native.log")"
else
  echo "== native: no NVIDIA libcublasLt.so.12 here (CUDA12_LIBS=dir to give one): native run skipped" | tee "$DIR/native.log"
fi
REGION=/dev/shm/vgpu-cuda12-$$
env -u LD_PRELOAD "$BUILD/bin/vgpu-hostd" --region "$REGION" --backend "${BACKEND:-cuda}" >"$DIR/hostd.log" 2>&1 &
HOSTD=$!
trap 'kill $HOSTD 2>/dev/null; wait $HOSTD 2>/dev/null; rm -f "$REGION" "$REGION.stats"' EXIT
for _ in $(seq 200); do [ -e "$REGION.stats" ] && break; sleep 0.05; done
[ -e "$REGION.stats" ] || { echo "vgpu-hostd did not start:"; cat "$DIR/hostd.log"; exit 1; }
VGPU_REGION=$REGION LD_LIBRARY_PATH="$BUILD/lib" timeout 60 "$NODE" -e "$JS" "$PKG/lloyal.node" >"$DIR/vgpu.log" 2>&1
rc=$?
echo "== vgpu (our libcudart.so.12, libcublas.so.12, libcuda.so.1): exit $rc $(grep -h '^devices' "$DIR/vgpu.log")"
grep -h "ggml_cuda_init\|Device 0\|is not supported" "$DIR/vgpu.log" | head -10 | sed 's/^/   /'
exit $rc
