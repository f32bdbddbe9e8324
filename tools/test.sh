#!/usr/bin/env bash
# Sets up, builds and runs every test (CTest). Tests that need a GPU or a
# VM runner skip with their reason when there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "${JOBS:-2}" --timeout 900 "$@"
