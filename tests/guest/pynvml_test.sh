#!/usr/bin/env bash
# pynvml (nvidia-ml-py) over our libnvidia-ml.so.1 and a CPU-backend
# vgpu-hostd, with a guest process (nvml_holder) holding 64 MiB: pynvml_check.py
# must list that process, not list another guest's (a holder in a second
# region), and find every host figure refused. pynvml comes
# from .cache/pynvml-venv (tests/guest/pynvml_venv.sh) or the system's
# python3; without it the test is skipped (exit 77) and says so.
#   pynvml_test.sh HOSTD LIBDIR HOLDER
set -uo pipefail
HOSTD=$1 LIBDIR=$2 HOLDER=$3
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$HERE/../../.cache/pynvml-venv/bin/python
[ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import pynvml' 2>/dev/null; then
  echo "SKIP: no pynvml (run tests/guest/pynvml_venv.sh)"
  exit 77
fi
REGION=/dev/shm/vgpu-test-pynvml-$$ OTHER=/dev/shm/vgpu-test-pynvml-other-$$
"$HOSTD" --region "$REGION" --backend cpu --arena-mb 64 --slots 16 2>/dev/null &
HOSTD_PID=$!
"$HOSTD" --region "$OTHER" --backend cpu --arena-mb 64 2>/dev/null &
OTHER_PID=$!
trap 'exec 4>&- 5>&- 2>/dev/null; kill $HOSTD_PID $OTHER_PID 2>/dev/null; wait $HOSTD_PID $OTHER_PID 2>/dev/null
      rm -f "$REGION" "$REGION.stats" "$OTHER" "$OTHER.stats"' EXIT
for _ in $(seq 200); do [ -e "$REGION.stats" ] && [ -e "$OTHER.stats" ] && break; sleep 0.05; done
export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# This guest's process, and another guest's (its own region).
coproc HOLD { VGPU_REGION=$REGION "$HOLDER" 64; }
exec 4>&"${HOLD[1]}"
read -r -t 20 word pid <&"${HOLD[0]}" || { echo "FAIL: nvml_holder did not start"; exit 1; }
[ "$word" = ready ] || { echo "FAIL: nvml_holder: $word"; exit 1; }
coproc HOLD2 { VGPU_REGION=$OTHER "$HOLDER" 32; }
exec 5>&"${HOLD2[1]}"
read -r -t 20 word other_pid <&"${HOLD2[0]}" || { echo "FAIL: the other guest's nvml_holder did not start"; exit 1; }
VGPU_REGION=$REGION "$PY" "$HERE/pynvml_check.py" --expect-pid "$pid" --expect-mib 64 --absent-pid "$other_pid" \
  --cpu-backend 2>&1 | grep -v '^vgpu: '
exit "${PIPESTATUS[0]}"
