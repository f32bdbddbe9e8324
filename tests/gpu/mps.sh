#!/usr/bin/env bash
# On the GPU machine: several guests on one GPU with NVIDIA's MPS (issue 18),
# native and vgpu in the same run.
#   1. scaling: N = 1, 2, 4, 8 decode-like tenants at once (examples/decode_load:
#      chains of small kernels and a sync per token), and N = 4 GEMM tenants
#      (examples/gemm_load): native processes without MPS, native processes
#      under MPS (a control daemon of their own), vgpu guests through one
#      vgpu-hostd --mps off, and --mps on. Aggregate rate; ratios.
#   2. GPU memory per guest (context overhead) with and without MPS.
#   3. fault containment: 4 guests, one of which launches a kernel that writes
#      through a wild pointer, under --mps on with isolation shared and with
#      isolation strict: which of the others still finish; GPU memory back to
#      the baseline after each.
#   tests/gpu/mps.sh [BUILD_DIR]   (default build-gpu)   env: SECS (4), NS ("1 2 4 8")
set -uo pipefail
BUILD=$(readlink -f "${1:-build-gpu}")
CUDA_LIB=${CUDA_LIB:-/usr/local/cuda/lib64}
SECS=${SECS:-4}
NS=${NS:-1 2 4 8}
LOG=${LOG_DIR:-/tmp/mps-logs}; rm -rf "$LOG"; mkdir -p "$LOG"
REGION=/dev/shm/vgpu-mps-$$
CTL=$(command -v nvidia-cuda-mps-control || echo /usr/local/nvidia/bin/nvidia-cuda-mps-control)
NPIPE=/tmp/native-mps-$$
used_mib() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -1; }
field() { grep -ho "$2=[^ ]*" "$1" | tail -1 | cut -d= -f2; }
sum() { local k=$1 t=0 f; shift; for f in "$@"; do t=$(awk -v a="$t" -v b="$(field "$f" "$k")" 'BEGIN{print a+b}'); done; echo "$t"; }
declare -A AGG
H=

hostd_start() {  # extra hostd args...
  "$BUILD/bin/vgpu-hostd" --region "$REGION" --backend cuda --slots 8 --arena-mb 128 "$@" 2>>"$LOG/hostd.log" &
  H=$!
  for _ in $(seq 200); do [ -e "$REGION.stats" ] && grep -q "serving" "$LOG/hostd.log" && break; sleep 0.05; done
}
hostd_stop() { [ -n "$H" ] && kill "$H" 2>/dev/null && wait "$H" 2>/dev/null; H=; rm -f "$REGION" "$REGION.stats"; }
trap 'hostd_stop; CUDA_MPS_PIPE_DIRECTORY=$NPIPE "$CTL" <<<quit >/dev/null 2>&1' EXIT

# Until the last batch's workers are gone (their slots free again): a slot is
# reused once its worker has released its context, which takes a moment.
settle() {
  [ -n "$H" ] || return 0
  for _ in $(seq 100); do
    "$BUILD/bin/vgpu-smi" --stats "$REGION.stats" --once --json 2>/dev/null | grep -q '"active":true' || return 0
    sleep 0.1
  done
}
# run_many MODE N LOAD ARGS...: N copies at once; MODE native | nmps | vgpu
run_many() {
  local mode=$1 n=$2 load=$3; shift 3
  local i pids=()
  for i in $(seq "$n"); do
    case $mode in
      native) env -u VGPU_REGION CUDA_MPS_PIPE_DIRECTORY=/dev/null/none LD_LIBRARY_PATH="$CUDA_LIB" \
                "$BUILD/examples/$load" "$@" --tag "$mode-$n-$i" >"$LOG/$load-$mode-$n-$i.out" 2>&1 & ;;
      nmps)   env -u VGPU_REGION CUDA_MPS_PIPE_DIRECTORY=$NPIPE CUDA_MPS_LOG_DIRECTORY=$NPIPE LD_LIBRARY_PATH="$CUDA_LIB" \
                "$BUILD/examples/$load" "$@" --tag "$mode-$n-$i" >"$LOG/$load-$mode-$n-$i.out" 2>&1 & ;;
      vgpu*)  LD_LIBRARY_PATH="$BUILD/lib" VGPU_REGION=$REGION \
                "$BUILD/examples/$load" "$@" --tag "$mode-$n-$i" >"$LOG/$load-$mode-$n-$i.out" 2>&1 & ;;
    esac
    pids+=($!)
  done
  wait "${pids[@]}"
}

echo "== GPU: $(nvidia-smi --query-gpu=name,driver_version,compute_mode --format=csv,noheader -i 0); memory used $(used_mib) MiB"
base=$(used_mib)

# ---- 1. scaling ------------------------------------------------------------------------
for mode in ${MODES:-native nmps vgpu-off vgpu-on}; do
  case $mode in
    nmps) mkdir -p "$NPIPE"; CUDA_MPS_PIPE_DIRECTORY=$NPIPE CUDA_MPS_LOG_DIRECTORY=$NPIPE "$CTL" -d ;;
    vgpu-off) hostd_start --mps off ;;
    vgpu-on) hostd_start --mps on --mps-pipe-dir /tmp/vgpu-mps-$$ ;;
  esac
  for n in $NS; do
    settle
    run_many "$mode" "$n" decode_load --seconds "$SECS"
    AGG[$mode,$n]=$(sum tokens_per_s "$LOG"/decode_load-"$mode-$n"-*.out)
    for f in "$LOG"/decode_load-"$mode-$n"-*.out; do grep -q checksum=8.0000 "$f" || echo "  $(basename "$f"): $(tail -n2 "$f" | tr '\n' ' ')"; done
    echo "decode x$n $mode: aggregate $(printf '%.0f' "${AGG[$mode,$n]}") tokens/s ($(cat "$LOG"/decode_load-"$mode-$n"-*.out | grep -c checksum=8.0000)/$n checksums right)"
  done
  settle
  run_many "$mode" 4 gemm_load --n 4096 --f16 --seconds "$SECS"
  AGG[$mode,gemm]=$(sum tflops "$LOG"/gemm_load-"$mode-4"-*.out)
  echo "gemm x4 $mode: aggregate ${AGG[$mode,gemm]} TFLOP/s"
  if [ "$mode" = vgpu-on ] || [ "$mode" = vgpu-off ]; then
    # Memory per guest: 4 idle-ish guests holding a context each.
    mp=()
    for i in 1 2 3 4; do LD_LIBRARY_PATH="$BUILD/lib" VGPU_REGION=$REGION "$BUILD/examples/decode_load" --seconds 3 --tag mem >/dev/null 2>&1 & mp+=($!); done
    sleep 2; echo "memory with 4 guests ($mode): $(( ($(used_mib) - base) / 4 )) MiB per guest"; wait "${mp[@]}"
    [ "$mode" = vgpu-on ] && "$BUILD/bin/vgpu-smi" --stats "$REGION.stats" --once --all | head -4
    hostd_stop
  fi
  if [ "$mode" = nmps ]; then
    mp=()
    for i in 1 2 3 4; do env CUDA_MPS_PIPE_DIRECTORY=$NPIPE LD_LIBRARY_PATH="$CUDA_LIB" "$BUILD/examples/decode_load" --seconds 3 --tag mem >/dev/null 2>&1 & mp+=($!); done
    sleep 2; echo "memory with 4 processes (native MPS): $(( ($(used_mib) - base) / 4 )) MiB per process"; wait "${mp[@]}"
    CUDA_MPS_PIPE_DIRECTORY=$NPIPE "$CTL" <<<quit >/dev/null 2>&1; sleep 1
  fi
  if [ "$mode" = native ]; then
    mp=()
    for i in 1 2 3 4; do env CUDA_MPS_PIPE_DIRECTORY=/dev/null/none LD_LIBRARY_PATH="$CUDA_LIB" "$BUILD/examples/decode_load" --seconds 3 --tag mem >/dev/null 2>&1 & mp+=($!); done
    sleep 2; echo "memory with 4 processes (native): $(( ($(used_mib) - base) / 4 )) MiB per process"; wait "${mp[@]}"
  fi
done

# ---- 3. fault containment ----------------------------------------------------------------
for iso in shared strict; do
  hostd_start --mps on --mps-pipe-dir /tmp/vgpu-mps-$$ --isolation "$iso"
  pids=()
  for i in 1 2 3; do
    LD_LIBRARY_PATH="$BUILD/lib" VGPU_REGION=$REGION "$BUILD/examples/decode_load" --seconds 6 --tag "ok$i" \
      >"$LOG/fault-$iso-ok$i.out" 2>&1 & pids+=($!)
  done
  sleep 2
  LD_LIBRARY_PATH="$BUILD/lib" VGPU_REGION=$REGION "$BUILD/examples/decode_load" --fault --tag bad >"$LOG/fault-$iso-bad.out" 2>&1
  wait "${pids[@]}"
  ok=$(grep -l checksum=8.0000 "$LOG"/fault-$iso-ok*.out 2>/dev/null | wc -l)
  sleep 1
  echo "fault ($iso isolation, MPS on): faulting guest: $(tr '\n' ' ' <"$LOG/fault-$iso-bad.out" | cut -c1-80); others finished right: $ok/3; $(grep -h -m1 -E 'failed' "$LOG"/fault-$iso-ok*.out | head -1 | cut -c1-100)"
  hostd_stop; sleep 1
  echo "GPU memory after: $(used_mib) MiB (baseline $base MiB)"
done
# The same without MPS at all (own contexts): the reference.
hostd_start --mps off
pids=()
for i in 1 2 3; do LD_LIBRARY_PATH="$BUILD/lib" VGPU_REGION=$REGION "$BUILD/examples/decode_load" --seconds 6 --tag "ok$i" >"$LOG/fault-off-ok$i.out" 2>&1 & pids+=($!); done
sleep 2
LD_LIBRARY_PATH="$BUILD/lib" VGPU_REGION=$REGION "$BUILD/examples/decode_load" --fault --tag bad >"$LOG/fault-off-bad.out" 2>&1
wait "${pids[@]}"
echo "fault (--mps off): others finished right: $(grep -l checksum=8.0000 "$LOG"/fault-off-ok*.out | wc -l)/3"
hostd_stop; sleep 1; echo "GPU memory after: $(used_mib) MiB (baseline $base MiB)"

echo "==== summary: aggregate decode tokens/s (ratio to native without MPS; to native under MPS)"
for n in $NS; do
  printf 'x%s: native %.0f, native+MPS %.0f, vgpu --mps off %.0f, vgpu --mps on %.0f  (vgpu-on/native %.2f, vgpu-on/native+MPS %.2f)\n' "$n" \
    "${AGG[native,$n]:-0}" "${AGG[nmps,$n]:-0}" "${AGG[vgpu-off,$n]:-0}" "${AGG[vgpu-on,$n]:-0}" \
    "$(awk -v a="${AGG[vgpu-on,$n]:-0}" -v b="${AGG[native,$n]:-0}" 'BEGIN{print (b>0)?a/b:0}')" \
    "$(awk -v a="${AGG[vgpu-on,$n]:-0}" -v b="${AGG[nmps,$n]:-0}" 'BEGIN{print (b>0)?a/b:0}')"
done
printf 'gemm x4 TFLOP/s: native %s, native+MPS %s, vgpu --mps off %s, vgpu --mps on %s\n' \
  "${AGG[native,gemm]:-0}" "${AGG[nmps,gemm]:-0}" "${AGG[vgpu-off,gemm]:-0}" "${AGG[vgpu-on,gemm]:-0}"
