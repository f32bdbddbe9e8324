#!/usr/bin/env bash
# CuPy's own tests (from the source of the installed version, extracted by
# tools/cupy/fetch_tests.sh) on the GPU machine: natively, then with our
# libcuda.so.1 and libnvidia-ml.so.1 preloaded against a CUDA-backend
# vgpu-hostd (NVIDIA's runtime and libraries otherwise, as CuPy ships them).
# Per selection, pytest's junitxml; then the counts each way and every test
# id whose outcome differs (tests/gpu/cupy_suite_report.py).
#
#   bash tests/gpu/cupy_suite.sh [BUILD_DIR]        (default build; about 4 minutes on an H200)
#
# Needs .cache/cupy-tests/src, or its tarball .cache/cupy-tests-carry/cupy-tests.tar.gz
# carried here, and a python with cupy and pytest (PYTHON, default python3).
# Each run (native, vgpu) has a time budget (NATIVE_BUDGET=90 s, VGPU_BUDGET=120 s)
# shared by the selections below in order, each with its own cap; a selection
# cut short (SIGINT, so pytest still writes its junitxml) counts what it
# reached, and tests only one run reached are counted apart.
# SUITE_SELECT="raw fft" runs only those. CuPy's kernel cache (CUPY_CACHE_DIR)
# is fresh for the native run and reused by the vgpu run (NVRTC runs in the
# guest either way; the cubins still load through our driver); FRESH_CACHE=1
# gives the vgpu run an empty one too. BACKEND=cpu: a dry run of the plumbing.
# Logs: ${OUT:-/tmp/out}/cupy-suite/{native,vgpu}/NAME.{log,xml}, hostd.log,
# summary.txt; exit 0 when no test passes natively and fails remoted.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" 2>/dev/null && pwd) || { echo "no build dir ${1:-$ROOT/build}"; exit 2; }
PY=${PYTHON:-python3}
DIR=${OUT:-/tmp/out}/cupy-suite
T=${CUPY_TESTS:-$ROOT/.cache/cupy-tests}
TARBALL=$ROOT/.cache/cupy-tests-carry/cupy-tests.tar.gz
NATIVE_BUDGET=${NATIVE_BUDGET:-90}
VGPU_BUDGET=${VGPU_BUDGET:-120}
for f in bin/vgpu-hostd lib/libcuda.so.1 lib/libnvidia-ml.so.1; do
  [ -e "$BUILD/$f" ] || { echo "missing $BUILD/$f: build vgpu first (tests/gpu/build.sh)"; exit 2; }
done
if [ ! -d "$T/src/tests" ] && [ -f "$TARBALL" ]; then
  mkdir -p "$(dirname "$T")" && tar -xzf "$TARBALL" -C "$(dirname "$T")" || { echo "could not unpack $TARBALL"; exit 2; }
fi
[ -d "$T/src/tests" ] || { echo "no CuPy tests in $T/src (run tools/cupy/fetch_tests.sh on the dev machine, carry .cache/cupy-tests-carry)"; exit 2; }
"$PY" -c 'import cupy, pytest' 2>/dev/null || { echo "$PY cannot import cupy and pytest (PYTHON=... to choose)"; exit 2; }
INSTALLED=$("$PY" -c 'import cupy; print(cupy.__version__)')
echo "CuPy's tests: $(cat "$T/VERSION") (installed cupy: $INSTALLED, $("$PY" -c 'import sys; print(sys.executable)'))"
[ "v$INSTALLED" = "$(cat "$T/VERSION")" ] || echo "WARNING: the tests are not of the installed version"
rm -rf "$DIR" && mkdir -p "$DIR/native" "$DIR/vgpu"
echo "logs:   $DIR"

# name | test files or node ids (relative to the source root) | -k expression | cap in seconds.
# Chosen for the driver paths they cross: NVRTC kernels (elementwise, reduction, user
# kernels), RawKernel/RawModule (module loading, globals, launch options), streams,
# events, graphs, the memory pool, and the libraries: cuBLAS, cuFFT, cuRAND,
# cuSOLVER, cuSPARSE, NCCL.
C=tests/cupy_tests
SELECTIONS=(
  "kernels|$C/core_tests/test_elementwise.py $C/core_tests/test_reduction.py $C/core_tests/test_userkernel.py $C/core_tests/test_scan.py||12"
  "raw|$C/core_tests/test_raw.py|not nvcc and not jitify|15"
  "runtime|$C/cuda_tests/test_driver.py $C/cuda_tests/test_device.py $C/cuda_tests/test_stream.py $C/cuda_tests/test_runtime.py $C/cuda_tests/test_graph.py $C/cuda_tests/test_pinned_memory.py|not multi and not peer|12"
  "memory|$C/cuda_tests/test_memory.py|not multi and not peer|10"
  "libs|$C/cuda_tests/test_cublas.py $C/cuda_tests/test_cufft.py $C/cuda_tests/test_curand.py $C/cuda_tests/test_cusolver.py $C/cuda_tests/test_cusparse.py $C/cuda_tests/test_nvrtc.py $C/cuda_tests/test_nccl.py|not multi|8"
  "matmul|$C/math_tests/test_matmul.py|not Large|10"
  "linalg|$C/linalg_tests/test_solve.py $C/linalg_tests/test_product.py|not kron|12"
  "fft|$C/fft_tests/test_fft.py::TestFft $C/fft_tests/test_fft.py::TestRfft|not callback|10"
  "random|$C/random_tests/test_sample.py $C/random_tests/test_random.py $C/random_tests/test_permutations.py||8"
  "sparse|tests/cupyx_tests/scipy_tests/sparse_tests/test_csr.py|float32 and (dot or mul or matmul or sum or transpose)|8"
)

run_all() {  # MODE BUDGET [prefix command...]
  local mode=$1 budget=$2 sel name files k cap left t0 rc
  shift 2
  local deadline=$((SECONDS + budget))
  for sel in "${SELECTIONS[@]}"; do
    IFS='|' read -r name files k cap <<<"$sel"
    if [ -n "${SUITE_SELECT:-}" ] && [[ " $SUITE_SELECT " != *" $name "* ]]; then continue; fi
    left=$((deadline - SECONDS))
    [ "$left" -lt "$cap" ] && cap=$left
    # The vgpu run may be slower: its cap scales with its larger budget.
    [ "$mode" = vgpu ] && cap=$((cap * VGPU_BUDGET / NATIVE_BUDGET)) && [ "$cap" -gt "$left" ] && cap=$left
    if [ "$cap" -lt 3 ]; then echo "  $name: no time left in the $mode budget, not run" | tee "$DIR/$mode/$name.log"; continue; fi
    t0=$SECONDS
    # From the source root: pyproject.toml there holds CuPy's pytest settings.
    # shellcheck disable=SC2086  # files: a list, split on purpose
    (cd "$T/src" && "$@" timeout -s INT -k 15 "$cap" "$PY" -m pytest -v -p no:cacheprovider --tb=line -rN \
        -m "not slow and not multi_gpu" --junitxml="$DIR/$mode/$name.xml" ${k:+-k "$k"} $files) >"$DIR/$mode/$name.log" 2>&1
    rc=$?
    echo "  $name: exit $rc in $((SECONDS - t0)) s (cap $cap s)$([ "$rc" = 124 ] && echo ', cut at its cap') " \
         "$(grep -E '^=+ .*(passed|failed|skipped|error|no tests ran).* =+$' "$DIR/$mode/$name.log" | tail -1)"
  done
}

export CUPY_CACHE_DIR=$DIR/kernel-cache
echo "== native (budget $NATIVE_BUDGET s)"
run_all native "$NATIVE_BUDGET" env -u VGPU_REGION

REGION=/dev/shm/vgpu-cupy-$$
# The daemon must load NVIDIA's libcuda, never ours.
env -u LD_PRELOAD "$BUILD/bin/vgpu-hostd" --region "$REGION" --backend "${BACKEND:-cuda}" ${HOSTD_ARGS:-} >"$DIR/hostd.log" 2>&1 &
HOSTD=$!
trap 'kill $HOSTD 2>/dev/null; wait $HOSTD 2>/dev/null; rm -f "$REGION" "$REGION.stats"' EXIT
for _ in $(seq 200); do [ -e "$REGION.stats" ] && break; sleep 0.05; done
[ -e "$REGION.stats" ] || { echo "vgpu-hostd did not start:"; cat "$DIR/hostd.log"; exit 1; }
[ "${FRESH_CACHE:-0}" = 1 ] && export CUPY_CACHE_DIR=$DIR/kernel-cache-vgpu
echo "== vgpu (budget $VGPU_BUDGET s)"
run_all vgpu "$VGPU_BUDGET" env VGPU_REGION="$REGION" LD_PRELOAD="$BUILD/lib/libcuda.so.1:$BUILD/lib/libnvidia-ml.so.1"
echo "== refused remoted (first 20)"
cat "$DIR"/vgpu/*.log | grep -ho 'vgpu: .* is not supported.*' | sort | uniq -c | sort -rn | head -20
echo "== guest processes the host served: $(grep -c 'serving guest' "$DIR/hostd.log")"
rm -rf "$DIR/kernel-cache" "$DIR/kernel-cache-vgpu"

echo "== comparison"
"$PY" "$ROOT/tests/gpu/cupy_suite_report.py" "$DIR/native" "$DIR/vgpu" | tee "$DIR/summary.txt"
exit "${PIPESTATUS[0]}"
