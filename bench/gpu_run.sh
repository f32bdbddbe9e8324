#!/usr/bin/env bash
# On the GPU machine, in one command: build what the API benchmarks need
# (Release, into $BUILD, default build-gpu), run bench/run.sh (native vs vgpu
# on the CUDA backend) and, when $OUT is set, copy the results there
# (results.md, results.json, the two plots, hostd.log, raw.tar.gz).
#
#   bash bench/gpu_run.sh [bench/run.sh options]
#
# If Boost, fmt or Google Benchmark are missing there, put their .deb files in
# .debs/ (apt-get download libbenchmark-dev libbenchmark1debian libfmt-dev
# libfmt9 libboost1.74-dev) and carry that folder: they are unpacked into
# /tmp/vgpu-deps (never into /) and put on the compiler's and loader's paths.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-gpu}
t0=$SECONDS
. "$ROOT/tests/gpu/deps.sh" && ls "$ROOT"/.debs/*.deb >/dev/null 2>&1 && echo "== dependencies unpacked from .debs into /tmp/vgpu-deps"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
mkdir -p "$BUILD"
if ! cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release >"$BUILD/configure.log" 2>&1; then
  tail -30 "$BUILD/configure.log"; echo "== configure FAILED"; exit 1
fi
targets=(vgpu-hostd vgpu_backend_cuda vgpu_libcuda bench_api_calls bench_api_memcpy bench_api_gemm bench_api_fatbin)
if ! cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]}" >"$BUILD/build.log" 2>&1; then
  tail -30 "$BUILD/build.log"; echo "== build FAILED"; exit 1
fi
# Our libcublas.so.13 (and what it needs) when its sources are there; the
# cuBLAS rows say "vgpu: library not built" otherwise.
cmake --build "$BUILD" -j "$(nproc)" --target lib/libcublas.so.13 >>"$BUILD/build.log" 2>&1 ||
  echo "== our libcublas.so.13 did not build (see $BUILD/build.log); cuBLAS rows will be native only"
echo "== built in $((SECONDS - t0)) s"
# The whole command stays under 8 minutes: bench/run.sh gets what the build left.
export BENCH_DEADLINE=${BENCH_DEADLINE:-$((450 - (SECONDS - t0)))}
bash "$ROOT/bench/run.sh" --build "$BUILD" --out "$BUILD/bench/results" "$@"
rc=$?
if [ -n "${OUT:-}" ]; then
  R=$BUILD/bench/results
  for f in results.md results.json bandwidth.png latency.png hostd.log; do [ -e "$R/$f" ] && cp "$R/$f" "$OUT/"; done
  tar -czf "$OUT/raw.tar.gz" -C "$R" raw 2>/dev/null
fi
echo "== total $((SECONDS - t0)) s, bench/run.sh rc=$rc"
exit $rc
