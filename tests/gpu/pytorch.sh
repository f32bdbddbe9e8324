#!/usr/bin/env bash
# PyTorch on the GPU machine, native and through vgpu, in one script: the
# same cases (tests/gpu/pytorch_check.py) run once with NVIDIA's libraries and
# once with ours preloaded against a CUDA-backend vgpu-hostd, then a CPU-side
# comparison prints a table (last): bit-equal, within PyTorch's default
# tolerances, or a difference; a case that fails says why.
#
#   bash tests/gpu/pytorch.sh [BUILD_DIR]        (default: build; about 2-4 minutes)
#
# Needs: a vgpu build with the CUDA backend (BUILD_DIR/lib/host/libvgpu-backend-cuda.so),
# python3 with torch (2.11 cu130) and transformers, i.e. /opt/torch/.venv there
# (PYTHON=... to choose another). No network. Logs and results go to
# ${OUT:-/tmp/out}/pytorch/ (native.log, vgpu.log, hostd.log, *.pt).
# Exit status: 0 when every case that runs natively matches through vgpu.
# Each run is cut at 150 s (native) / 180 s (vgpu); results are saved after
# every case, so a run cut short still shows what it reached.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" 2>/dev/null && pwd) || { echo "no build dir ${1:-$ROOT/build}"; exit 1; }
PY=${PYTHON:-python3}
DIR=${OUT:-/tmp/out}/pytorch
mkdir -p "$DIR"
CHECK=$ROOT/tests/gpu/pytorch_check.py
L=$BUILD/lib
for f in bin/vgpu-hostd lib/host/libvgpu-backend-cuda.so lib/libcuda.so.1 lib/libcudart.so.13 lib/libcublas.so.13 \
         lib/libcublasLt.so.13 lib/libnvidia-ml.so.1; do
  [ -e "$BUILD/$f" ] || { echo "missing $BUILD/$f: build vgpu with the CUDA toolkit first"; exit 1; }
done
"$PY" -c 'import torch, transformers; assert torch.cuda.is_available()' 2>/dev/null ||
  { echo "$PY has no torch with a GPU, or no transformers (PYTHON=... to choose)"; exit 1; }
echo "python: $("$PY" -c 'import sys, torch, transformers; print(sys.executable, "torch", torch.__version__, "transformers", transformers.__version__)')"
echo "logs:   $DIR"

# Inductor's and Triton's caches are per run, so the vgpu run compiles too.
export TORCHINDUCTOR_CACHE_DIR=$DIR/inductor-native TRITON_CACHE_DIR=$DIR/triton-native
echo "== native"
t0=$(date +%s)
timeout 150 "$PY" "$CHECK" run "$DIR/native.pt" >"$DIR/native.log" 2>&1
echo "native: exit $? in $(( $(date +%s) - t0 )) s"; grep -E "^[a-z0-9_]+ +(ok|FAIL)" "$DIR/native.log" || tail -5 "$DIR/native.log"
[ -f "$DIR/native.pt" ] || { echo "the native run saved no results; its log ends:"; tail -20 "$DIR/native.log"; exit 1; }

echo "== vgpu"
region=/dev/shm/vgpu-pytorch-$$
# The daemon must load NVIDIA's libcuda, never ours.
env -u LD_PRELOAD "$BUILD/bin/vgpu-hostd" --region "$region" --backend cuda >"$DIR/hostd.log" 2>&1 &
hostd=$!
cleanup() { kill "$hostd" 2>/dev/null; wait "$hostd" 2>/dev/null; rm -f "$region"; }
trap cleanup EXIT
for _ in $(seq 100); do grep -q "serving $region" "$DIR/hostd.log" && break; sleep 0.1; done
grep -q "serving $region" "$DIR/hostd.log" || { echo "vgpu-hostd did not start:"; cat "$DIR/hostd.log"; exit 1; }
export TORCHINDUCTOR_CACHE_DIR=$DIR/inductor-vgpu TRITON_CACHE_DIR=$DIR/triton-vgpu
t0=$(date +%s)
# Preloaded: PyTorch finds NVIDIA's libraries by DT_RPATH, which LD_LIBRARY_PATH
# does not override; a preloaded library of the same SONAME does.
VGPU_REGION=$region LD_PRELOAD="$L/libcuda.so.1:$L/libcudart.so.13:$L/libcublas.so.13:$L/libcublasLt.so.13:$L/libnvidia-ml.so.1" \
  timeout 180 "$PY" "$CHECK" run "$DIR/vgpu.pt" >"$DIR/vgpu.log" 2>&1
rc=$?
echo "vgpu: exit $rc in $(( $(date +%s) - t0 )) s"; grep -E "^[a-z0-9_]+ +(ok|FAIL)" "$DIR/vgpu.log" || tail -20 "$DIR/vgpu.log"
grep -h "is not supported" "$DIR/vgpu.log" | sort | uniq -c | sed 's/^/refused: /' | head -20
if [ ! -f "$DIR/vgpu.pt" ]; then
  echo "the vgpu run ended before saving its results (exit $rc); its log ends:"; tail -30 "$DIR/vgpu.log"
  echo "host log ends:"; tail -10 "$DIR/hostd.log"; exit 1
fi

echo "== comparison (on the CPU)"
env -u LD_PRELOAD CUDA_VISIBLE_DEVICES= "$PY" "$CHECK" compare "$DIR/native.pt" "$DIR/vgpu.pt"
