#!/usr/bin/env bash
# On the GPU machine: builds vgpu (Release) into ${BUILD:-build-gpu} with
# everything the GPU scripts use (daemon, CUDA backend, guest libraries,
# examples, tools). Boost, fmt and Google Benchmark come from carried .debs
# (tests/gpu/deps.sh).
# Source it (. tests/gpu/build.sh) to keep the environment it sets.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-gpu}
. "$ROOT/tests/gpu/deps.sh"
t0=$SECONDS
mkdir -p "$BUILD"
if ! cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$BUILD/configure.log" 2>&1 ||
   ! cmake --build "$BUILD" -j "$(nproc)" >"$BUILD/build.log" 2>&1; then
  tail -n 30 "$BUILD/configure.log" "$BUILD/build.log"
  echo "== vgpu build FAILED"
  return 1 2>/dev/null || exit 1
fi
echo "== vgpu built in $BUILD ($((SECONDS - t0)) s)"
