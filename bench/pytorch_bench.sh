#!/usr/bin/env bash
# PyTorch benchmarks on the GPU machine, native and through vgpu in one run
# (bench/pytorch_bench.py): the training step of the 110M-parameter decoder
# (tests/gpu/pytorch_train.py), batch-1 decode latency of a small Llama
# (transformers, random weights) eager and with CUDA graphs, and the total
# time of tests/gpu/pytorch_check.py; then a table of ratios ready for
# bench/RESULTS.md.
#
#   bash bench/pytorch_bench.sh [BUILD_DIR]     (default build; about 3-4 minutes on an H200)
#
# CHECK=0 leaves out the pytorch_check.py timing (about 2 minutes of it).
# TRAIN_STEPS, DECODE_TOKENS: see pytorch_bench.py. The whole script keeps to
# DEADLINE seconds (default 290): a part that would start after it is skipped
# and says so. Logs: ${OUT:-/tmp/out}/pytorch-bench/ (native.log, vgpu.log,
# check-*.log, hostd.log, *.json, table.md).
set -uo pipefail
BUILD_ARG=${1:-}
. "$(dirname "$0")/../tests/gpu/pytorch_lib.sh"
DIR=${OUT:-/tmp/out}/pytorch-bench
mkdir -p "$DIR"
BENCH=$ROOT/bench/pytorch_bench.py
CHECK_PY=$ROOT/tests/gpu/pytorch_check.py
DEADLINE=${DEADLINE:-290}
torch_check_build
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "logs:   $DIR"
export CUBLAS_WORKSPACE_CONFIG=:4096:8
left() { echo $((DEADLINE - SECONDS)); }
# Inductor's and Triton's caches per run, so each run compiles what it needs.
caches() { export TORCHINDUCTOR_CACHE_DIR=$DIR/inductor-$1 TRITON_CACHE_DIR=$DIR/triton-$1; }

echo "== native"
caches native
t0=$SECONDS
timeout 100 "$PY" "$BENCH" run "$DIR/native.json" >"$DIR/native.log" 2>&1
echo "native: exit $? in $((SECONDS - t0)) s"; grep -E "^(train|decode)" "$DIR/native.log" | cut -c1-200

echo "== vgpu"
torch_start_hostd "$DIR/hostd.log"
caches vgpu
t0=$SECONDS
torch_vgpu timeout 120 "$PY" "$BENCH" run "$DIR/vgpu.json" >"$DIR/vgpu.log" 2>&1
echo "vgpu: exit $? in $((SECONDS - t0)) s"; grep -E "^(train|decode)" "$DIR/vgpu.log" | cut -c1-200
grep -h "is not supported" "$DIR/vgpu.log" | sort | uniq -c | sed 's/^/refused: /' | head -20

# pytorch_check.py's whole run, each way; the native one gets at most half of
# what is left, the vgpu one the rest.
extra=
if [ "${CHECK:-1}" = 1 ]; then
  t_nat= t_vg=
  budget=$(( $(left) / 2 ))
  if [ "$budget" -ge 30 ]; then
    caches check-native; t0=$SECONDS
    torch_stop_hostd
    if timeout "$budget" "$PY" "$CHECK_PY" run "$DIR/check-native.pt" >"$DIR/check-native.log" 2>&1; then
      t_nat=$((SECONDS - t0)); echo "pytorch_check.py native: $t_nat s"
    else echo "pytorch_check.py native: did not finish in $budget s (see check-native.log)"; fi
    torch_start_hostd "$DIR/hostd-check.log"
    budget=$(left)
    caches check-vgpu; t0=$SECONDS
    if [ "$budget" -ge 30 ] && torch_vgpu timeout "$budget" "$PY" "$CHECK_PY" run "$DIR/check-vgpu.pt" >"$DIR/check-vgpu.log" 2>&1; then
      t_vg=$((SECONDS - t0)); echo "pytorch_check.py vgpu: $t_vg s"
    else echo "pytorch_check.py vgpu: did not finish in $budget s (see check-vgpu.log)"; fi
    grep -hE "^[a-z0-9_]+ +FAIL" "$DIR/check-native.log" "$DIR/check-vgpu.log" 2>/dev/null | sed 's/^/check case failed: /' | head
  else
    echo "pytorch_check.py timing skipped: only $(left) s left of DEADLINE=$DEADLINE"
  fi
  # Wall time of the whole process (import, every case, exit), in seconds.
  printf '{"native_s": %s, "vgpu_s": %s}\n' "${t_nat:-null}" "${t_vg:-null}" >"$DIR/check-times.json"
  extra=$DIR/check-times.json
fi
torch_stop_hostd

echo "== results (vgpu speed / native: native time over vgpu time; > 1 means vgpu is faster)"
for f in native vgpu; do [ -s "$DIR/$f.json" ] || { echo "the $f run saved no results; its log ends:"; tail -20 "$DIR/$f.log"; }; done
[ -s "$DIR/native.json" ] && [ -s "$DIR/vgpu.json" ] || exit 1
"$PY" "$BENCH" compare "$DIR/native.json" "$DIR/vgpu.json" $extra | tee "$DIR/table.md"
echo "== total $SECONDS s"
