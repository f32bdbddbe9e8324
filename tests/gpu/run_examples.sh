#!/usr/bin/env bash
# On a GPU machine: runs each example natively and through vgpu (our guest
# libraries on LD_LIBRARY_PATH, vgpu-hostd on the CUDA backend) in one go,
# compares their outputs, and shows from the host trace that the calls
# reached the GPU.
#   tests/gpu/run_examples.sh [BUILD_DIR]
set -uo pipefail
BUILD=$(readlink -f "${1:-build}")
CUDA_LIB=${CUDA_LIB:-/usr/local/cuda/lib64}
REGION=/dev/shm/vgpu-examples-$$
LOG=${LOG_DIR:-$(mktemp -d)}
mkdir -p "$LOG"

"$BUILD/bin/vgpu-hostd" --region "$REGION" --backend cuda --trace 2>"$LOG/hostd.log" &
HOSTD=$!
trap 'kill $HOSTD 2>/dev/null; wait $HOSTD 2>/dev/null; rm -f "$REGION" "$REGION.stats"' EXIT
for _ in $(seq 600); do [ -e "$REGION.stats" ] && break; sleep 0.05; done  # MPS start-up may take seconds

fail=0
run_pair() {  # name, command...
  local name=$1; shift
  (cd "$BUILD/examples" && LD_LIBRARY_PATH="$CUDA_LIB:${LD_LIBRARY_PATH:-}" "$@") >"$LOG/$name.native" 2>&1
  local rn=$?
  (cd "$BUILD/examples" && LD_LIBRARY_PATH="$BUILD/lib:${LD_LIBRARY_PATH:-}" VGPU_REGION="$REGION" "$@") >"$LOG/$name.vgpu" 2>&1
  local rv=$?
  # The two runs print the same lines; timing lines are not printed by the examples.
  if [ $rn -eq 0 ] && [ $rv -eq 0 ] && cmp -s "$LOG/$name.native" "$LOG/$name.vgpu"; then
    echo "== $name: IDENTICAL (native rc=$rn, vgpu rc=$rv)"
  else
    echo "== $name: DIFFERENT (native rc=$rn, vgpu rc=$rv)"; fail=1
    diff "$LOG/$name.native" "$LOG/$name.vgpu" | head -20
  fi
  sed 's/^/   /' "$LOG/$name.vgpu"
}

run_pair driver_api ./driver_api kernels.fatbin
run_pair vector_add ./vector_add
run_pair sgemm ./sgemm 1024
run_pair streams_graph ./streams_graph

echo "== host trace ($LOG/hostd.log): calls by op"
grep -o 'ch[0-9]* [A-Za-z0-9]*' "$LOG/hostd.log" | awk '{print $2}' | sort | uniq -c | sort -rn | head -25
for op in ModuleLoad Launch BlasGemm GraphLaunch; do
  grep -m2 " $op " "$LOG/hostd.log"
done
grep -E 'serving|left|ending' "$LOG/hostd.log" | head
exit $fail
