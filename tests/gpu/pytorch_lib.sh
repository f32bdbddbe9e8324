# Shared by the PyTorch GPU scripts (pytorch_suite.sh, pytorch_train.sh,
# bench/pytorch_bench.sh); sourced, not run. Sets ROOT, BUILD, PY, L and
# VGPU_PRELOAD, and gives:
#   torch_check_build      the vgpu build and a python with torch on a GPU are there
#   torch_start_hostd LOG  a CUDA-backend vgpu-hostd on a region of its own (stopped at exit;
#                          HOSTD_ARGS adds daemon flags, e.g. --trace; TORCH_HOSTD_BACKEND=cpu for plumbing tests)
#   torch_vgpu CMD...      CMD with our libraries preloaded against that daemon
# The caller sets BUILD_ARG (its first argument, or empty) before sourcing.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "${BUILD_ARG:-$ROOT/build}" 2>/dev/null && pwd) || { echo "no build dir ${BUILD_ARG:-$ROOT/build}"; exit 1; }
PY=${PYTHON:-python3}
L=$BUILD/lib
# Preloaded: pip's torch finds NVIDIA's libraries by DT_RPATH, which
# LD_LIBRARY_PATH does not override; a preloaded library of the same SONAME does.
VGPU_PRELOAD="$L/libcuda.so.1:$L/libcudart.so.13:$L/libcublas.so.13:$L/libcublasLt.so.13:$L/libnvidia-ml.so.1"

torch_check_build() {
  local f
  for f in bin/vgpu-hostd lib/host/libvgpu-backend-cuda.so lib/libcuda.so.1 lib/libcudart.so.13 lib/libcublas.so.13 \
           lib/libcublasLt.so.13 lib/libnvidia-ml.so.1; do
    [ -e "$BUILD/$f" ] || { echo "missing $BUILD/$f: build vgpu with the CUDA toolkit first (tests/gpu/build.sh)"; exit 1; }
  done
  # TORCH_NO_GPU=1 (trying the scripts' plumbing on a machine without a GPU) skips this check.
  [ "${TORCH_NO_GPU:-0}" = 1 ] || "$PY" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null ||
    { echo "$PY has no torch that sees a GPU (PYTHON=... to choose)"; exit 1; }
  echo "python: $("$PY" -c 'import sys, torch; print(sys.executable, "torch", torch.__version__, "cuDNN", torch.backends.cudnn.version())')"
}

TORCH_HOSTD_PID=
TORCH_REGION=
torch_stop_hostd() {
  [ -n "$TORCH_HOSTD_PID" ] && { kill "$TORCH_HOSTD_PID" 2>/dev/null; wait "$TORCH_HOSTD_PID" 2>/dev/null; }
  [ -n "$TORCH_REGION" ] && rm -f "$TORCH_REGION"
  TORCH_HOSTD_PID= TORCH_REGION=
}

torch_start_hostd() {
  local log=$1
  TORCH_REGION=/dev/shm/vgpu-torch-$$-$RANDOM
  # The daemon must load NVIDIA's libcuda, never ours.
  env -u LD_PRELOAD "$BUILD/bin/vgpu-hostd" --region "$TORCH_REGION" --backend "${TORCH_HOSTD_BACKEND:-cuda}" ${HOSTD_ARGS:-} >"$log" 2>&1 &
  TORCH_HOSTD_PID=$!
  trap torch_stop_hostd EXIT
  for _ in $(seq 100); do grep -q "serving $TORCH_REGION" "$log" && return 0; sleep 0.1; done
  echo "vgpu-hostd did not start:"; cat "$log"; exit 1
}

torch_vgpu() {
  VGPU_REGION=$TORCH_REGION LD_PRELOAD="$VGPU_PRELOAD" "$@"
}
