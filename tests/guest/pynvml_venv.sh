#!/usr/bin/env bash
# Makes .cache/pynvml-venv with nvidia-ml-py (pynvml) for pynvml_test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
.cache/pynvml-venv/bin/python -c 'import pynvml' 2>/dev/null && exit 0  # already there
[ -x .cache/pynvml-venv/bin/python ] || python3 -m venv .cache/pynvml-venv
.cache/pynvml-venv/bin/python -m pip install -q --disable-pip-version-check nvidia-ml-py
