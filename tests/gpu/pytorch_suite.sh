#!/usr/bin/env bash
# PyTorch's own tests on the GPU machine, natively and then through vgpu (our
# libraries preloaded against a CUDA-backend vgpu-hostd), with pytest; then,
# per selection, the counts passed/failed/skipped each way and every test id
# whose outcome differs (tests/gpu/pytorch_suite_report.py).
#
#   bash tests/gpu/pytorch_suite.sh [BUILD_DIR]     (default build; about 4-5 minutes on an H200)
#
# Selections:
#   ops         tests/gpu/pytorch_suite_ops.py: PyTorch's OpInfo/ModuleInfo test data from the
#               installed wheel (GEMMs, convolutions, norms, attention, RNNs, ...), GPU vs CPU
#   test_cuda, test_linalg, test_matmul_cuda, test_nn, test_convolution
#               PyTorch's own test files of the installed version, with the -k expressions
#               below, when tools/torch/fetch_tests.sh extracted them (.cache/torch-tests/src,
#               or its tarball .cache/torch-tests-carry/torch-tests.tar.gz carried here)
# SUITE_SELECT="ops test_cuda" runs only those. Each run (native, vgpu) has a
# time budget (NATIVE_BUDGET=110 s, VGPU_BUDGET=150 s) shared by its
# selections in order; a selection cut short (SIGINT, so pytest still reports)
# counts what it reached, and tests only one run reached are listed apart.
# Needs pytest and expecttest (the carried tarball has expecttest) with torch.
# Logs: ${OUT:-/tmp/out}/pytorch-suite/{native,vgpu}/NAME.log, hostd.log,
# summary.txt; exit 0 when no outcome differs.
set -uo pipefail
BUILD_ARG=${1:-}
. "$(dirname "$0")/pytorch_lib.sh"
DIR=${OUT:-/tmp/out}/pytorch-suite
rm -rf "$DIR/native" "$DIR/vgpu"
mkdir -p "$DIR/native" "$DIR/vgpu"
T=${TORCH_TESTS:-$ROOT/.cache/torch-tests}
TARBALL=$ROOT/.cache/torch-tests-carry/torch-tests.tar.gz
if [ ! -d "$T" ] && [ -f "$TARBALL" ]; then
  tar -xzf "$TARBALL" -C "$(dirname "$T")" || { echo "could not unpack $TARBALL"; exit 1; }
fi
[ -d "$T/pydeps" ] && export PYTHONPATH=$T/pydeps${PYTHONPATH:+:$PYTHONPATH}
torch_check_build
"$PY" -c 'import pytest, expecttest' 2>/dev/null ||
  { echo "$PY lacks pytest or expecttest (run tools/torch/fetch_tests.sh here and carry .cache/torch-tests-carry)"; exit 1; }
SRC=$T/src/test
if [ -d "$SRC" ]; then
  echo "PyTorch's test files: $(cat "$T/VERSION" 2>/dev/null) (installed torch: $("$PY" -c 'import torch; print(torch.version.git_version)'))"
else
  echo "PyTorch's test files: not here ($SRC); only the ops selection runs (tools/torch/fetch_tests.sh with TORCH_GIT extracts them)"
fi
echo "logs:   $DIR"

# name | file (relative to test/, or absolute) | -k expression | this selection's cap in seconds
SELECTIONS=(
  "ops|$ROOT/tests/gpu/pytorch_suite_ops.py||60"
  "test_cuda|test_cuda.py|TestCuda and (stream or event or memory or graph or pinned or caching or allocator) and not multi and not large and not ipc|45"
  "test_linalg|test_linalg.py|cuda and (matmul or addmm or bmm or baddbmm) and (float32 or float16 or bfloat16) and not large|30"
  "test_matmul_cuda|test_matmul_cuda.py|(float32 or float16 or bfloat16) and not fp8 and not scaled and not mx and not grouped and not large|30"
  "test_nn|test_nn.py|TestNNDeviceTypeCUDA and (batchnorm or linear or layer_norm or softmax)|30"
  "test_convolution|nn/test_convolution.py|CUDA and (conv2d or cudnn) and not large and not 3d|30"
)

run_all() {  # MODE BUDGET [prefix command...]
  local mode=$1 budget=$2 sel name file k cap left t0 rc
  shift 2
  local deadline=$((SECONDS + budget))
  for sel in "${SELECTIONS[@]}"; do
    IFS='|' read -r name file k cap <<<"$sel"
    if [ -n "${SUITE_SELECT:-}" ] && [[ " $SUITE_SELECT " != *" $name "* ]]; then continue; fi
    case $file in /*) ;; *) [ -d "$SRC" ] || continue; file=$SRC/$file ;; esac
    [ -f "$file" ] || { echo "  $name: $file is not there, skipped" | tee "$DIR/$mode/$name.log"; continue; }
    left=$((deadline - SECONDS))
    [ "$left" -lt "$cap" ] && cap=$left
    # The vgpu run may be slower: its cap scales with its larger budget.
    [ "$mode" = vgpu ] && cap=$(( cap * VGPU_BUDGET / NATIVE_BUDGET )) && [ "$cap" -gt "$left" ] && cap=$left
    if [ "$cap" -lt 5 ]; then echo "  $name: no time left in the $mode budget, not run" | tee "$DIR/$mode/$name.log"; continue; fi
    t0=$SECONDS
    # From test/, as PyTorch's CI runs them (they import their neighbours); -v: one line per test as it ends.
    (cd "$(dirname "$file")" && "$@" timeout -s INT -k 15 "$cap" "$PY" -m pytest -v -p no:cacheprovider --tb=line -rN \
        ${k:+-k "$k"} "$file") >"$DIR/$mode/$name.log" 2>&1
    rc=$?
    echo "  $name: exit $rc in $((SECONDS - t0)) s (cap $cap s)$([ "$rc" = 124 ] && echo ', cut at its cap') " \
         "$(grep -E '^=+ .*(passed|failed|skipped|error|no tests ran).* =+$' "$DIR/$mode/$name.log" | tail -1)"
  done
}

NATIVE_BUDGET=${NATIVE_BUDGET:-110}
VGPU_BUDGET=${VGPU_BUDGET:-150}
echo "== native (budget $NATIVE_BUDGET s)"
run_all native "$NATIVE_BUDGET" env
echo "== vgpu (budget $VGPU_BUDGET s)"
torch_start_hostd "$DIR/hostd.log"
run_all vgpu "$VGPU_BUDGET" torch_vgpu
cat "$DIR"/vgpu/*.log | grep -h "is not supported" | sort | uniq -c | sed 's/^/refused: /' | head -20
torch_stop_hostd

echo "== comparison"
"$PY" "$ROOT/tests/gpu/pytorch_suite_report.py" "$DIR/native" "$DIR/vgpu" | tee "$DIR/summary.txt"
exit "${PIPESTATUS[0]}"
