# Sourced by tools/setup.sh and tools/sanitize.sh: finds or installs the CUDA
# toolkit and sets
#   VGPU_CUDA_ROOT        the CUDA 13 toolkit (bin/nvcc, include/, lib64/)
#   VGPU_CUDA12_DIR       NVIDIA's CUDA 12 runtime + cuBLAS (include/, lib/), or empty
#   VGPU_CUDA_CMAKE_ARGS  the CMake arguments that point the build at them
# and puts the toolkit's bin/ on PATH.
#
# Which toolkit: $VGPU_CUDA_ROOT if set; else /usr/local/cuda where it has
# nvcc (the GPU machine); else a project-local one from NVIDIA's wheels on
# PyPI, pinned in tools/cuda/requirements.txt, installed once into
# .cache/cuda/venv (about 2.7 GB on disk, 2.2 GB downloaded) and laid out as a
# toolkit in .cache/cuda/13.0 (the wheels' nvidia/cu13 folder, plus what a
# toolkit has and the wheels lack: lib64, unversioned library names, and a
# link-time lib64/stubs/libcuda.so made from cuda.h). A second run finds the
# stamp and does nothing. NVIDIA's CUDA 12 runtime and cuBLAS come the same
# way, into .cache/cuda/12.
# shellcheck shell=bash

vgpu_cuda_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VGPU_CUDA12_DIR=${VGPU_CUDA12_DIR:-}

vgpu_cuda_die() {
  echo "cuda-toolkit: $*" >&2
  exit 1
}

# Lays the wheels out as a toolkit; idempotent.
vgpu_cuda_layout() {  # SITE_PACKAGES CACHE
  local sp=$1 cache=$2 t
  t=$sp/nvidia/cu13
  [ -x "$t/bin/nvcc" ] || vgpu_cuda_die "the nvcc wheel left no $t/bin/nvcc"
  ln -sfn lib "$t/lib64"
  for l in cudart cublas cublasLt; do ln -sfn "lib$l.so.13" "$t/lib/lib$l.so"; done
  mkdir -p "$t/lib/stubs"
  python3 "$vgpu_cuda_root/tools/cuda/driver_stub.py" "$t/include/cuda.h" "$cache/driver_stub.c" ||
    vgpu_cuda_die "could not make the driver stub from $t/include/cuda.h"
  cc -shared -o "$t/lib/stubs/libcuda.so" -Wl,-soname,libcuda.so.1 "$cache/driver_stub.c" ||
    vgpu_cuda_die "could not build the driver stub (cc)"
  ln -sfn "$t" "$cache/13.0"
  # CUDA 12: the runtime's, cuBLAS's and nvcc's (for crt/ headers) wheels,
  # merged into one folder.
  mkdir -p "$cache/12/lib" "$cache/12/include"
  local d f
  for d in "$sp/nvidia/cuda_runtime" "$sp/nvidia/cublas" "$sp/nvidia/cuda_nvcc"; do
    for f in "$d"/lib/* "$d"/include/*; do
      [ -e "$f" ] && ln -sfn "$f" "$cache/12/${f#"$d"/}"
    done
  done
}

vgpu_cuda_install() {  # CACHE
  local cache=$1 req=$vgpu_cuda_root/tools/cuda/requirements.txt venv=$1/venv stamp want sp
  want=$( (cat "$req" "$vgpu_cuda_root/tools/cuda/toolkit.sh" "$vgpu_cuda_root/tools/cuda/driver_stub.py") | sha256sum | cut -c1-16)
  stamp=$cache/stamp
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$cache/13.0/bin/nvcc" ]; then
    return 0
  fi
  echo "cuda-toolkit: no CUDA toolkit in /usr/local/cuda; installing NVIDIA's CUDA 13.0 wheels from PyPI into $venv"
  echo "cuda-toolkit: (tools/cuda/requirements.txt; about 2.2 GB to download, once)"
  mkdir -p "$cache"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || {
      rm -rf "$venv"
      echo "cuda-toolkit: python3 -m venv failed; installing python3-venv"
      local sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
      $sudo apt-get install -y -qq python3-venv >/dev/null || vgpu_cuda_die "apt-get install python3-venv failed"
      python3 -m venv "$venv" || vgpu_cuda_die "python3 -m venv $venv failed"
    }
  fi
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$req" \
       >"$cache/pip.log" 2>&1; then
    tail -n 15 "$cache/pip.log" >&2
    vgpu_cuda_die "downloading the CUDA wheels from PyPI failed (log: $cache/pip.log); is PyPI reachable? (pip config, proxy)"
  fi
  sp=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  vgpu_cuda_layout "$sp" "$cache"
  echo "$want" >"$stamp"
  echo "cuda-toolkit: CUDA $("$cache/13.0/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') ready in $cache/13.0"
}

if [ -n "${VGPU_CUDA_ROOT:-}" ]; then
  [ -x "$VGPU_CUDA_ROOT/bin/nvcc" ] || [ -f "$VGPU_CUDA_ROOT/include/cuda.h" ] ||
    vgpu_cuda_die "VGPU_CUDA_ROOT=$VGPU_CUDA_ROOT has neither bin/nvcc nor include/cuda.h"
elif [ -x /usr/local/cuda/bin/nvcc ]; then
  VGPU_CUDA_ROOT=/usr/local/cuda
else
  vgpu_cuda_install "$vgpu_cuda_root/.cache/cuda"
  VGPU_CUDA_ROOT=$vgpu_cuda_root/.cache/cuda/13.0
fi
if [ -z "$VGPU_CUDA12_DIR" ] && [ -f "$vgpu_cuda_root/.cache/cuda/12/lib/libcudart.so.12" ]; then
  VGPU_CUDA12_DIR=$vgpu_cuda_root/.cache/cuda/12
fi
export VGPU_CUDA_ROOT VGPU_CUDA12_DIR
export PATH="$VGPU_CUDA_ROOT/bin:$PATH"
VGPU_CUDA_CMAKE_ARGS=(-DCUDAToolkit_ROOT="$VGPU_CUDA_ROOT")
[ -x "$VGPU_CUDA_ROOT/bin/nvcc" ] && VGPU_CUDA_CMAKE_ARGS+=(-DCMAKE_CUDA_COMPILER="$VGPU_CUDA_ROOT/bin/nvcc")
VGPU_CUDA_CMAKE_ARGS+=(-DVGPU_CUDA12_DIR="$VGPU_CUDA12_DIR")
unset vgpu_cuda_root
