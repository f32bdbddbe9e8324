#!/usr/bin/env bash
# On the GPU machine: every GPU measurement of a closing session in one
# background job, so that the device tool's calls only start it and collect
# it (a call that ends leaves the machine warm for 30 s; the job keeps going
# between calls). The phases run in order: correctness first, overlapping the
# builds of Ollama and llama.cpp; then the benchmarks, each alone.
#
#   bash tests/gpu/closing_job.sh start [SECS]   start the job, then poll as below
#   bash tests/gpu/closing_job.sh poll [SECS]    wait up to SECS (default 560) for it
#                                                to end; print its progress; pack
#                                                $OUT/small.tar.gz (summaries) and
#                                                $OUT/logs.tar.xz (the logs)
# Carry: .debs, .cache/ollama-carry, .cache/llama-src, .cache/cupy-tests-carry,
# .cache/torch-tests-carry (the fetch scripts on the dev machine make them).
# PHASES (default: all, in this order) picks a subset:
#   unit nvlibs pytorch suites (or cupy: CuPy's alone) examples ollama llama guests server ops train bench nvbench
# Logs: /tmp/closing-job (progress.log: one line a phase with its result).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
S=/tmp/closing-job
mode=${1:-start}

poll() {
  local end=$((SECONDS + ${1:-560})) out=${OUT:-/tmp/out}
  mkdir -p "$out"
  while [ $SECONDS -lt $end ]; do grep -q "ALL DONE" $S/progress.log 2>/dev/null && break; sleep 5; done
  cat $S/progress.log 2>/dev/null
  (cd /tmp && find closing-job -maxdepth 3 -type f \( -name '*.txt' -o -name '*.json' -o -name '*.md' \
     -o -name 'hostd*.log' -o -name 'native*.log' -o -name 'vgpu*.log' -o -name '*.tsv' \) -size -2M >/tmp/closing-small.list
   tar -czf "$out/small.tar.gz" -T /tmp/closing-small.list 2>/dev/null
   tar -cJf "$out/logs.tar.xz" --exclude='*.npz' --exclude='*.pt' --exclude='*.gguf' --exclude='cache-*' \
     --exclude='*.so*' --exclude='*.xml' closing-job 2>/dev/null)
  ls -la "$out"
}

if [ "$mode" = poll ]; then poll "${2:-560}"; exit 0; fi
if [ "$mode" = start ] && [ "${CLOSING_JOB_CHILD:-0}" != 1 ]; then
  rm -rf $S && mkdir -p $S
  CLOSING_JOB_CHILD=1 setsid bash "$0" start </dev/null >$S/job.log 2>&1 &
  sleep 2
  poll "${2:-560}"
  exit 0
fi

# ---- the job itself ------------------------------------------------------------------------
cd "$ROOT" || exit 1
t0=$SECONDS
mark() { echo "[$(date +%T) +$((SECONDS - t0))s] $*" | tee -a $S/progress.log; }
want() { [ -z "${PHASES:-}" ] || [[ " $PHASES " == *" $1 "* ]]; }
export PATH=$PATH:/usr/local/nvidia/bin:/usr/local/cuda/bin
mark "start; $(nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader 2>/dev/null)"
BUILD=$ROOT/build-gpu . tests/gpu/build.sh >$S/build.txt 2>&1
cd "$ROOT" || exit 1  # (the build's set-up may leave another folder current)
mark "vgpu build: $(tail -1 $S/build.txt)"

# Builds in the background at low priority: llama.cpp (with its server) and its
# random model, and Ollama's tree.
LB='' OB=''
if want llama || want guests || want server || want ops; then
  (nice -n 19 bash bench/llama/build.sh >$S/llama-build.txt 2>&1; echo "build rc=$?" >>$S/llama-build.txt
   VGPU=0 STEPS=model bash bench/llama/run.sh >$S/llama-model.txt 2>&1; echo "model rc=$?" >>$S/llama-model.txt) &
  LB=$!
fi
if want ollama; then
  OLLAMA_BUILD_ONLY=1 OUT=$S/oll nice -n 19 bash bench/ollama/gpu_session.sh >$S/oll-build.txt 2>&1 &
  OB=$!
fi

# Our test binaries against the GPU. They find our runtime by their RUNPATH;
# the machine's LD_LIBRARY_PATH would put NVIDIA's first (the binaries then
# fail to load, exit 127), so it is left out.
if want unit; then
  for t in cuda_backend_test cudart13_e2e_test cudart12_e2e_test cublas13_e2e_test cublasLt13_e2e_test nvidia_cufft_test; do
    [ -x build-gpu/bin/$t ] || { mark "$t: not built"; continue; }
    env -u LD_LIBRARY_PATH VGPU_TEST_BACKEND=cuda timeout 150 build-gpu/bin/$t >$S/$t.txt 2>&1
    mark "$t: rc=$? $(grep -E '^\[  (PASSED|FAILED)  \]' $S/$t.txt | tr '\n' ' ')"
  done
fi
if want nvlibs; then
  LOG_DIR=$S/nvl TIMEOUT=90 timeout 300 bash tests/gpu/nvidia_libs.sh build-gpu >$S/nvl.txt 2>&1
  mark "nvidia_libs: $(tail -1 $S/nvl.txt)"
fi
if want pytorch; then
  OUT=$S timeout 240 bash tests/gpu/pytorch.sh build-gpu >$S/pytorch.txt 2>&1
  mark "pytorch.sh rc=$?: $(tail -1 $S/pytorch.txt)"
fi
if want suites; then
  OUT=$S timeout 330 bash tests/gpu/cupy_suite.sh build-gpu >$S/cupy-suite.txt 2>&1 &
  cs=$!
  OUT=$S timeout 330 bash tests/gpu/pytorch_suite.sh build-gpu >$S/pytorch-suite.txt 2>&1
  wait $cs
  mark "suites: cupy $(tail -1 $S/cupy-suite.txt); pytorch $(tail -1 $S/pytorch-suite.txt)"
fi
if want cupy && ! want suites; then  # CuPy's suite alone (SUITE_SELECT picks its selections)
  OUT=$S timeout 330 bash tests/gpu/cupy_suite.sh build-gpu >$S/cupy-suite.txt 2>&1
  mark "cupy suite: $(tail -1 $S/cupy-suite.txt)"
fi
if want examples; then
  LOG_DIR=$S/examples timeout 200 bash tests/gpu/run_examples.sh build-gpu >$S/examples.txt 2>&1
  mark "examples rc=$?: $(grep -c '^== .*SAME' $S/examples.txt) SAME lines"
fi
[ -n "$LB" ] && { wait "$LB"; mark "llama.cpp: $(grep -m1 BUILD_TIME $S/llama-build.txt) $(tail -1 $S/llama-build.txt); $(tail -1 $S/llama-model.txt)"; }
[ -n "$OB" ] && { wait "$OB"; mark "ollama build: $(tail -1 $S/oll-build.txt | cut -c1-120)"; }

# Benchmarks, one at a time.
if want ollama; then
  OUT=$S/oll timeout 300 bash bench/ollama/gpu_session.sh >$S/oll-run.txt 2>&1
  mark "ollama rc=$?"
fi
if want guests; then
  OUT=$S/lg timeout 600 bash tests/gpu/llama_guests.sh build-gpu >$S/llama-guests.txt 2>&1
  mark "llama_guests rc=$?: $(grep '^RESULT' $S/llama-guests.txt)"
fi
if want server; then
  OUT=$S/ls timeout 240 bash tests/gpu/llama_server.sh build-gpu >$S/llama-server.txt 2>&1
  mark "llama_server rc=$?: $(grep '^RESULT' $S/llama-server.txt)"
fi
if want ops; then
  VGPU_BUILD=build-gpu STEPS="gen bench ops" OUT=$S/llama-run timeout 500 bash bench/llama/run.sh >$S/llama-run.txt 2>&1
  mark "llama run.sh rc=$?"
fi
if want train; then
  OUT=$S timeout 300 bash tests/gpu/pytorch_train.sh build-gpu >$S/pytorch-train.txt 2>&1
  mark "pytorch_train rc=$?: $(grep '^RESULT' $S/pytorch-train.txt)"
fi
if want bench; then
  OUT=$S timeout 320 bash bench/pytorch_bench.sh build-gpu >$S/pytorch-bench.txt 2>&1
  mark "pytorch_bench rc=$?"
fi
if want nvbench; then
  OUT=$S timeout 200 bash bench/nvidia_libs_bench.sh build-gpu >$S/nvl-bench.txt 2>&1
  mark "nvidia_libs_bench rc=$?"
fi
mark "ALL DONE"
