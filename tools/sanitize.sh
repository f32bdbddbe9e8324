#!/usr/bin/env bash
# The sanitizer phase of CI (.ci/run runs it after tools/test.sh; it can run
# alone once tools/setup.sh has installed the build dependencies):
#   1. clang with its sanitizer and libFuzzer runtimes (apt: clang-14,
#      libclang-rt-14-dev, when missing);
#   2. one clang build in ${SAN_BUILD_DIR:-build-asan} with
#      -DVGPU_SANITIZE=address,undefined -DVGPU_FUZZ=ON: the ring, host, e2e and
#      guest-library tests and the two libFuzzer targets (tests/fuzz);
#   3. those tests under ASan + UBSan with leak detection (the daemon's
#      workers check for leaks before they exit), plus the fuzz targets over their
#      committed corpora; every test log and every daemon log the e2e and guest
#      tests kept is then scanned for sanitizer reports, which fail the phase
#      even where the test itself passed (a worker's report never reaches the
#      guest);
#   4. the two libFuzzer targets for ${FUZZ_SECONDS:-300} s together:
#      fuzz_host_decoder (two thirds, from tests/fuzz/corpus) and
#      fuzz_control_plane (one third, from tests/fuzz/corpus-control); a
#      crash, leak, timeout or out-of-memory fails the phase; the input is
#      kept in ${SAN_BUILD_DIR}/fuzz-artifacts/TARGET/.
#
# The e2e and guest tests run the guest libraries (tests/guest: cuBLAS, NVML,
# the runtime); their known findings are suppressed by name in
# tools/sanitizer/{lsan,ubsan}.supp (objects kept until exit, out-of-range
# enums the tests pass on purpose). Nothing of the daemon is suppressed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${SAN_BUILD_DIR:-build-asan}
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
JOBS=${JOBS:-$(nproc)}
# The CUDA toolkit that tools/setup.sh found or installed (tools/cuda/toolkit.sh).
source tools/cuda/toolkit.sh

declare -a summary
failed=0
step() {  # step NAME STATUS DETAIL
  summary+=("$(printf '  %-11s %-4s %s' "$1" "$2" "$3")")
  [ "$2" = ok ] || failed=1
}
finish() {
  echo "---- sanitize summary"
  printf '%s\n' "${summary[@]}"
  if [ $failed -eq 0 ]; then echo "sanitize: PASS"; else echo "sanitize: FAIL"; fi
  exit $failed
}

# ---- 1. clang ------------------------------------------------------------------------
t0=$SECONDS
CC=${SAN_CC:-} CXX=${SAN_CXX:-}
if [ -z "$CXX" ]; then
  if command -v clang++-14 >/dev/null || ! command -v clang++ >/dev/null; then
    CC=clang-14 CXX=clang++-14
    need=()
    command -v clang++-14 >/dev/null || need+=(clang-14)
    dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
    if [ ${#need[@]} -gt 0 ]; then
      echo "sanitize: installing ${need[*]}"
      SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
      $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
    fi
  else
    CC=clang CXX=clang++
  fi
fi
if ! command -v "$CXX" >/dev/null; then
  step clang FAIL "no $CXX (apt-get install clang-14 libclang-rt-14-dev)"
  finish
fi
step clang ok "$("$CXX" --version | head -1) ($((SECONDS - t0)) s)"

# ---- 2. build ------------------------------------------------------------------------
t0=$SECONDS
mkdir -p "$B"
if ! cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$CC" \
     -DCMAKE_CXX_COMPILER="$CXX" -DVGPU_SANITIZE=address,undefined -DVGPU_FUZZ=ON "${VGPU_CUDA_CMAKE_ARGS[@]}" >"$B/configure.log" 2>&1; then
  tail -30 "$B/configure.log"
  step build FAIL "cmake configure failed (log: $B/configure.log)"
  finish
fi
if ! grep -q '^VGPU_HAVE_LIBFUZZER:INTERNAL=1' "$B/CMakeCache.txt"; then
  step build FAIL "$CXX cannot link -fsanitize=fuzzer (libclang-rt-14-dev missing?)"
  finish
fi
# The areas' own targets (tests and what they run: vgpu-hostd, libcuda.so.1, ...).
if ! cmake --build "$B" -j "$JOBS" --target tests/ring/all tests/host/all tests/e2e/all tests/guest/all tests/fuzz/all; then
  step build FAIL "build failed"
  finish
fi
step build ok "$B: ring, host, e2e, guest tests and the fuzz targets ($((SECONDS - t0)) s)"

# ---- 3. tests under the sanitizers ------------------------------------------------------
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$ROOT/tools/sanitizer/ubsan.supp
export LSAN_OPTIONS=suppressions=$ROOT/tools/sanitizer/lsan.supp
export VGPU_E2E_KEEP_LOGS=1  # the daemons' logs are scanned below, then removed
report='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|the worker leaked memory'

for area in ring host e2e guest fuzz; do
  t0=$SECONDS
  log="$B/tests/$area/Testing/Temporary/LastTest.log"
  rm -f "$log"
  # -LE client: real clients (nvidia-smi, Python) are not instrumented and
  # cannot load sanitized libraries; tools/test.sh runs them.
  ctest --test-dir "$B/tests/$area" -LE client -j "${CTEST_JOBS:-2}" --timeout 900 --output-on-failure \
    >"$B/ctest-$area.log" 2>&1
  rc=$?
  counts=$(grep -E '^[0-9]+% tests passed' "$B/ctest-$area.log" | tail -1)
  if [ $rc -ne 0 ]; then
    grep -E 'Failed|\*\*\*|^\s+[0-9]+ - ' "$B/ctest-$area.log" | tail -20
  fi
  found=""
  [ -f "$log" ] && found=$(grep -E -c "$report" "$log")
  if { [ "$area" = e2e ] || [ "$area" = guest ]; } && [ -f "$log" ]; then
    for dl in $(grep -ho 'daemon log kept: .*' "$log" | awk '{print $NF}' | sort -u); do
      [ -f "$dl" ] || continue
      if grep -E -q "$report" "$dl"; then
        echo "---- sanitizer report in daemon log $dl:"
        grep -E -B2 -A25 "$report" "$dl" | head -60
        found=$(( ${found:-0} + 1 ))
      fi
      rm -f "$dl"
    done
  fi
  if [ "${found:-0}" != 0 ]; then
    echo "---- sanitizer reports in $area test output ($log):"
    grep -E -B2 -A25 "$report" "$log" | head -80
  fi
  status=ok
  [ $rc -ne 0 ] || [ "${found:-0}" != 0 ] && status=FAIL
  step "$area tests" "$status" "${counts:-no tests ran}; sanitizer reports: ${found:-0} ($((SECONDS - t0)) s)"
done

# ---- 4. fuzzing --------------------------------------------------------------------------
# Two targets share FUZZ_SECONDS (CI's whole run must stay well inside its time):
# the record decoder gets the larger part, the control plane (slower per input:
# each one runs real workers in threads) the rest.
fuzz_one() {  # fuzz_one TARGET SECONDS SEED_CORPUS MAX_LEN
  local target=$1 secs=$2 seeds=$3 maxlen=$4 t0=$SECONDS
  mkdir -p "$B/fuzz-corpus/$target" "$B/fuzz-artifacts/$target"
  local flog="$B/fuzz-$target.log"
  "$B/bin/$target" -max_total_time="$secs" -max_len="$maxlen" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$B/fuzz-artifacts/$target/" "$B/fuzz-corpus/$target" "$seeds" >"$flog" 2>&1
  local rc=$?
  local runs cov
  runs=$(grep -E '^stat::number_of_executed_units' "$flog" | awk '{print $2}')
  cov=$(grep -E '^#[0-9]+\s+DONE' "$flog" | grep -oE 'cov: [0-9]+' | head -1)
  if [ $rc -eq 0 ]; then
    step fuzz ok "$target ${secs} s: ${runs:-?} inputs, ${cov:-cov ?}, no crash ($((SECONDS - t0)) s)"
  else
    echo "---- $target failed (exit $rc); the end of $flog:"
    grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)' "$flog" | tail -60
    echo "---- replay: $B/bin/$target $B/fuzz-artifacts/$target/<crash file>"
    ls -l "$B/fuzz-artifacts/$target/" | tail -5
    step fuzz FAIL "$target exit $rc after ${runs:-?} inputs ($((SECONDS - t0)) s)"
  fi
}
control_seconds=$((FUZZ_SECONDS / 3))
fuzz_one fuzz_host_decoder $((FUZZ_SECONDS - control_seconds)) tests/fuzz/corpus 8192
fuzz_one fuzz_control_plane "$control_seconds" tests/fuzz/corpus-control 2560
finish
