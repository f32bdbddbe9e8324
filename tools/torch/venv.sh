#!/usr/bin/env bash
# Installs the real PyTorch that tests/torch/ runs through vgpu: torch 2.11.0
# (PyPI's CUDA 13.0 build, as the GPU machine's 2.11.0+cu130) into
# ${VGPU_TORCH_VENV:-.cache/torch-venv}.
#
# torch comes with --no-deps, plus only what `import torch` needs: its small
# pure-Python dependencies and the NVIDIA wheels whose libraries
# libtorch_cuda.so names in DT_NEEDED (cuDNN, cuSPARSELt, NCCL, NVSHMEM,
# cuFFT, cuFile, CUPTI, cuRAND, cuSPARSE, nvJitLink). Not NVIDIA's cudart,
# cuBLAS or cuBLASLt: ours are preloaded and stand in for them. About 3 GB
# on disk, most of it cuDNN and NCCL, which import loads and never uses here.
#
# Idempotent (a stamp file records a finished install). Exits 77 with the
# reason when PyPI cannot be reached, so ctest reports a skip, not a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VGPU_TORCH_VENV:-.cache/torch-venv}
STAMP=$VENV/.vgpu-torch-2.11.0
if [ -f "$STAMP" ]; then
  exit 0
fi
PY=${PYTHON:-python3}
if ! timeout 60 "$PY" -m pip index versions torch >/dev/null 2>&1; then
  echo "skipped: pip's package index cannot be reached; tools/torch/venv.sh needs it once to install torch 2.11.0"
  exit 77
fi
echo "torch-venv: installing torch 2.11.0 and the NVIDIA libraries it loads into $VENV (about 3 GB; once)"
"$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" filelock 'typing-extensions>=4.10.0' 'sympy>=1.13.3' 'networkx>=2.5.1' jinja2 'fsspec>=0.8.5' numpy
# Versions as torch 2.11.0's metadata pins them (cuda-toolkit 13.0.2's extras).
"${PIP[@]}" --no-deps torch==2.11.0 \
  nvidia-cudnn-cu13==9.19.0.56 nvidia-cusparselt-cu13==0.8.0 nvidia-nccl-cu13==2.28.9 nvidia-nvshmem-cu13==3.4.5 \
  'nvidia-cufft==12.0.0.61.*' 'nvidia-cufile==1.15.1.6.*' 'nvidia-cuda-cupti==13.0.85.*' 'nvidia-curand==10.4.0.35.*' \
  'nvidia-cusparse==12.6.3.3.*' 'nvidia-nvjitlink==13.0.88.*'
touch "$STAMP"
echo "torch-venv: ready ($(du -sh "$VENV" | cut -f1))"
