# Sourced by the GPU-machine scripts (tests/gpu/build.sh, bench/gpu_run.sh):
# Boost, fmt and Google Benchmark are missing there, so their Debian .debs
# travel in .debs/ (apt-get download libbenchmark-dev libbenchmark1debian
# libfmt-dev libfmt9 libboost1.74-dev) and are unpacked into /tmp/vgpu-deps,
# never into /, then put on the compiler's and loader's paths.
# shellcheck shell=bash
vgpu_deps_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if ls "$vgpu_deps_root"/.debs/*.deb >/dev/null 2>&1; then
  D=/tmp/vgpu-deps
  mkdir -p "$D"
  for f in "$vgpu_deps_root"/.debs/*.deb; do dpkg -x "$f" "$D"; done
  export CMAKE_PREFIX_PATH=$D/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export CPATH=$D/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
  export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
unset vgpu_deps_root
