#!/usr/bin/env bash
# Sets up, builds and runs every test (CTest). Tests that need a GPU or a
# VM runner skip with their reason when there is none.
#
# Before the tests it fetches, once each and best effort, the real clients
# some tests run against our libraries on the CPU backend (each test skips,
# saying why, if its client could not be had; VGPU_TEST_FETCH=0 fetches none):
#   - NVIDIA's nvidia-smi, from Debian's non-free archive (tests/guest/fetch_nvidia_smi.sh)
#   - pynvml (nvidia-ml-py) in .cache/pynvml-venv (tests/guest/pynvml_venv.sh)
#   - PyTorch 2.11 (cu130) in .cache/torch-venv, about 3 GB (tools/torch/venv.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
if [ "${VGPU_TEST_FETCH:-1}" != 0 ]; then
  fetch() {  # WHAT SECONDS COMMAND...
    local what=$1 secs=$2 rc=0
    shift 2
    timeout "$secs" "$@" >"${BUILD_DIR:-build}/fetch-$what.log" 2>&1 || rc=$?
    [ "$rc" = 0 ] || echo "test.sh: could not fetch $what (exit $rc; ${BUILD_DIR:-build}/fetch-$what.log): its tests will skip"
  }
  fetch nvidia-smi 300 bash tests/guest/fetch_nvidia_smi.sh
  fetch pynvml 300 bash tests/guest/pynvml_venv.sh
  fetch torch 1200 bash tools/torch/venv.sh
fi
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "${JOBS:-2}" --timeout 900 "$@"
