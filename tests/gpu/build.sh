#!/usr/bin/env bash
# On the GPU machine: builds vgpu (Release) into ${BUILD:-build-gpu} with
# everything the GPU scripts use (daemon, CUDA backend, guest libraries,
# examples, tools). Boost, fmt and Google Benchmark come from carried .debs
# (.debs/: apt-get download libbenchmark-dev libbenchmark1debian libfmt-dev
# libfmt9 libboost1.74-dev), unpacked into /tmp/vgpu-deps, never into /.
# Source it (. tests/gpu/build.sh) to keep the environment it sets.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-gpu}
if ls "$ROOT"/.debs/*.deb >/dev/null 2>&1; then
  D=/tmp/vgpu-deps
  mkdir -p "$D"
  for f in "$ROOT"/.debs/*.deb; do dpkg -x "$f" "$D"; done
  export CMAKE_PREFIX_PATH=$D/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export CPATH=$D/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
  export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
t0=$SECONDS
mkdir -p "$BUILD"
if ! cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$BUILD/configure.log" 2>&1 ||
   ! cmake --build "$BUILD" -j "$(nproc)" >"$BUILD/build.log" 2>&1; then
  tail -n 30 "$BUILD/configure.log" "$BUILD/build.log"
  echo "== vgpu build FAILED"
  return 1 2>/dev/null || exit 1
fi
echo "== vgpu built in $BUILD ($((SECONDS - t0)) s)"
