#!/usr/bin/env bash
# Installs what vgpu needs to build, then configures and builds into
# ${BUILD_DIR:-build}. Safe to run again; quiet when there is nothing to do.
#   - Debian/Ubuntu packages: cmake, ninja, g++, Boost, fmt, GoogleTest,
#     Google Benchmark, python3 with venv (apt-get, only those missing);
#   - the CUDA toolkit: /usr/local/cuda where it exists, else NVIDIA's CUDA 13.0
#     wheels from PyPI in .cache/cuda (tools/cuda/toolkit.sh says what and where).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(cmake ninja-build g++ libboost-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev python3 python3-venv)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# shellcheck source=cuda/toolkit.sh
source tools/cuda/toolkit.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "${VGPU_CUDA_CMAKE_ARGS[@]}" \
  ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
