#!/usr/bin/env bash
# Makes .cache/pynvml-venv with nvidia-ml-py (pynvml) for pynvml_test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .cache/pynvml-venv/bin/python ] || python3 -m venv .cache/pynvml-venv
.cache/pynvml-venv/bin/pip install -q nvidia-ml-py
