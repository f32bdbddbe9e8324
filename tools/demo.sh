#!/usr/bin/env bash
# The main job in one command: sets up and builds vgpu, starts the host daemon
# (CUDA backend when this machine has a working GPU, CPU backend otherwise),
# runs example programs through our guest libraries as an unmodified CUDA
# program would, and shows the host's live counters for them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
B=$(readlink -f "${BUILD_DIR:-build}")
REGION=/dev/shm/vgpu-demo-$$
"$B/bin/vgpu-hostd" --region "$REGION" --backend auto --arena-mb 256 2>"$B/demo-hostd.log" &
HOSTD=$!
trap 'kill $HOSTD 2>/dev/null; wait $HOSTD 2>/dev/null; rm -f "$REGION" "$REGION.stats"' EXIT
for _ in $(seq 600); do [ -e "$REGION.stats" ] && break; sleep 0.05; done  # MPS start-up may take seconds
guest() { LD_LIBRARY_PATH="$B/lib" VGPU_REGION="$REGION" "$@"; }

echo "== hello_vgpu (driver API: device query, copies checked byte for byte)"
guest "$B/examples/hello_vgpu"
if [ -x "$B/examples/sgemm" ] && [ -e "$B/lib/libcublas.so.13" ]; then
  echo "== sgemm (cuBLAS through vgpu, checked against the CPU)"
  guest "$B/examples/sgemm" 512
fi
if grep -q "on cuda" "$B/demo-hostd.log"; then
  for ex in vector_add streams_graph; do
    [ -x "$B/examples/$ex" ] || continue
    echo "== $ex (kernels run on the host GPU)"
    (cd "$B/examples" && guest "./$ex")
  done
  echo "== driver_api (a module built by nvcc, kernels with mixed parameters)"
  (cd "$B/examples" && guest ./driver_api kernels.fatbin)
else
  echo "== (CPU backend: this machine has no usable GPU, so app kernels are refused; copies and GEMMs ran on the CPU)"
fi
echo "== host daemon log"
cat "$B/demo-hostd.log"
if [ -x "$B/bin/vgpu-smi" ]; then
  echo "== vgpu-smi --all (host counters per guest slot, kept after each guest left)"
  sleep 0.3  # let the last guest's goodbye reach the host
  "$B/bin/vgpu-smi" --stats "$REGION.stats" --once --all || true
fi
