#!/usr/bin/env bash
# PyTorch through vgpu on the CPU backend (CI): a vgpu-hostd --backend cpu,
# the real torch 2.11.0 (tools/torch/venv.sh) with our libraries preloaded
# (torch finds NVIDIA's by DT_RPATH; a preloaded library of the same SONAME
# wins), then cpu_test.py, then the host's trace must show the GEMMs went
# through cuBLAS and cuBLASLt.
#
# Opt-in, because the install is about 3 GB from PyPI: without a venv this
# skips (exit 77) and says how to get one; VGPU_TORCH_INSTALL=1 installs it.
#   bash tests/torch/run.sh BUILD_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
VENV=${VGPU_TORCH_VENV:-$ROOT/.cache/torch-venv}
export VGPU_TORCH_VENV=$VENV
if [ ! -f "$VENV/.vgpu-torch-2.11.0" ]; then
  if [ "${VGPU_TORCH_INSTALL:-0}" != 1 ]; then
    echo "skipped: no PyTorch venv at $VENV (opt-in: about 3 GB from PyPI); run tools/torch/venv.sh or set VGPU_TORCH_INSTALL=1"
    exit 77
  fi
  bash "$ROOT/tools/torch/venv.sh" || exit $?
fi
L=$BUILD/lib
for f in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnvidia-ml.so.1; do
  [ -f "$L/$f" ] || { echo "missing $L/$f: build vgpu first"; exit 1; }
done
region=/dev/shm/vgpu-torch-test-$$
trace=$(mktemp /tmp/vgpu-torch-trace.XXXXXX)
"$BUILD/bin/vgpu-hostd" --region "$region" --backend cpu --trace >"$trace" 2>&1 &
hostd=$!
cleanup() { kill "$hostd" 2>/dev/null; wait "$hostd" 2>/dev/null; rm -f "$region" "$trace"; }
trap cleanup EXIT
for _ in $(seq 100); do grep -q "serving $region" "$trace" && break; sleep 0.1; done
grep -q "serving $region" "$trace" || { echo "vgpu-hostd did not start:"; cat "$trace"; exit 1; }

export VGPU_REGION=$region
PRELOAD="$L/libcuda.so.1:$L/libcudart.so.13:$L/libcublas.so.13:$L/libcublasLt.so.13:$L/libnvidia-ml.so.1"
LD_PRELOAD=$PRELOAD "$VENV/bin/python" "$HERE/cpu_test.py"
rc=$?
echo "-- again with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (the allocator on cuMemCreate/cuMemMap)"
PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True LD_PRELOAD=$PRELOAD "$VENV/bin/python" "$HERE/cpu_test.py" || rc=1
for op in BlasGemm LtHeuristic LtMatmul; do
  if grep -qE " $op .*-> 0 " "$trace"; then echo "ok   host ran $op"; else echo "FAIL host never ran $op"; rc=1; fi
done
exit $rc
