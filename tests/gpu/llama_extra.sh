#!/usr/bin/env bash
# On the GPU machine, after bench/llama/gpu_session.sh built llama.cpp and the
# model: (1) llama-bench native and vgpu alternated three times, (2) the host's
# live status while a remoted llama-bench runs and the GPU memory after it
# exits, (3) four guests at once vs four native processes, with a quota.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${VGPU_BUILD:-$ROOT/build}; L=${LLAMA_BUILD:-$ROOT/.cache/llama/build}/bin
M=${MODEL:-$ROOT/.cache/llama/models/random-llama-3.2-1b-q8_0.gguf}
R=/dev/shm/vgpu-extra
"$B/bin/vgpu-hostd" --region $R --backend cuda --arena-mb 1024 --slots 4 --mem-quota-mb ${QUOTA_MB:-16384} 2>/tmp/extra-hostd.log &
H=$!; trap 'kill $H; wait $H 2>/dev/null' EXIT; sleep 1
V="env LD_LIBRARY_PATH=$B/lib VGPU_REGION=$R"
bench() {
  timeout ${BENCH_TIMEOUT:-150} "$@" "$L/llama-bench" -m "$M" -ngl 99 -t ${THREADS:-4} -p 512 -n 128 -r ${REPS:-5} -o json 2>/dev/null |
    python3 -c 'import json,sys; print(" ".join(("pp%d" % r["n_prompt"] if r["n_prompt"] else "tg%d" % r["n_gen"]) + " %.1f" % r["avg_ts"] for r in json.load(sys.stdin)))'
}
echo "== (1) llama-bench alternated (avg tok/s)"
for i in $(seq ${ROUNDS:-3}); do echo "native: $(bench env)"; echo "vgpu:   $(bench $V)"; done
if [ "${SKIP2:-0}" = 0 ]; then
echo "== (2) status while a remoted llama-bench runs"
$V "$L/llama-bench" -m "$M" -ngl 99 -p 512 -n 256 -r 3 >/dev/null 2>&1 &
G=$!; sleep 3; "$B/bin/vgpu-smi" --stats $R.stats --once; nvidia-smi --query-compute-apps=pid,used_memory --format=csv
wait $G; sleep 1; echo "after the guest exited:"; nvidia-smi --query-compute-apps=pid,used_memory --format=csv; "$B/bin/vgpu-smi" --stats $R.stats --once --all | head -12
fi
echo "== (3) four at once: native, then vgpu (quota ${QUOTA_MB:-16384} MiB each)"
for side in native vgpu; do
  pre=env; [ $side = vgpu ] && pre=$V
  t0=$(date +%s.%N)
  for i in 1 2 3 4; do bench $pre > /tmp/four.$side.$i & done; wait
  echo "$side: wall $(python3 -c "import time; print(round(time.time() - $t0, 1))") s; $(for i in 1 2 3 4; do echo -n "[$(cat /tmp/four.$side.$i)] "; done)"
done
"$B/bin/vgpu-smi" --stats $R.stats --once --all | head -12
