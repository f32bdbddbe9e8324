#!/usr/bin/env bash
# 50 training steps of a ~110M-parameter decoder-only transformer (AdamW, bf16
# autocast, deterministic settings; tests/gpu/pytorch_train.py), natively and
# then through vgpu (our libraries preloaded against a CUDA-backend
# vgpu-hostd), and the two loss curves compared: bit-equal expected.
#
#   bash tests/gpu/pytorch_train.sh [BUILD_DIR]     (default build; about 1 minute on an H200)
#
# STEPS=N changes the step count. Logs go to ${OUT:-/tmp/out}/pytorch-train/
# (native.log, vgpu.log, hostd.log, *.json). Exit status 0 when the curves are
# bit-equal.
set -uo pipefail
BUILD_ARG=${1:-}
. "$(dirname "$0")/pytorch_lib.sh"
DIR=${OUT:-/tmp/out}/pytorch-train
mkdir -p "$DIR"
STEPS=${STEPS:-50}
TRAIN=$ROOT/tests/gpu/pytorch_train.py
torch_check_build
echo "logs:   $DIR"
export CUBLAS_WORKSPACE_CONFIG=:4096:8

echo "== native"
t0=$SECONDS
timeout 200 "$PY" "$TRAIN" run "$DIR/native.json" --steps "$STEPS" >"$DIR/native.log" 2>&1
echo "native: exit $? in $((SECONDS - t0)) s"; tail -3 "$DIR/native.log"
[ -s "$DIR/native.json" ] || { echo "the native run saved no losses; its log ends:"; tail -20 "$DIR/native.log"; exit 1; }

echo "== vgpu"
torch_start_hostd "$DIR/hostd.log"
t0=$SECONDS
torch_vgpu timeout 240 "$PY" "$TRAIN" run "$DIR/vgpu.json" --steps "$STEPS" >"$DIR/vgpu.log" 2>&1
rc=$?
echo "vgpu: exit $rc in $((SECONDS - t0)) s"; tail -3 "$DIR/vgpu.log"
grep -h "is not supported" "$DIR/vgpu.log" | sort | uniq -c | sed 's/^/refused: /' | head -20
torch_stop_hostd
[ -s "$DIR/vgpu.json" ] || { echo "the vgpu run saved no losses; its log ends:"; tail -30 "$DIR/vgpu.log";
                             echo "host log ends:"; tail -10 "$DIR/hostd.log"; exit 1; }

echo "== loss curves"
"$PY" "$TRAIN" compare "$DIR/native.json" "$DIR/vgpu.json" | tee "$DIR/compare.txt" | tail -n 4
rc=${PIPESTATUS[0]}
echo "(per-step table: $DIR/compare.txt)"
exit "$rc"
