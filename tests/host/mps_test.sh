#!/usr/bin/env bash
# vgpu-hostd's MPS management (src/host/mps.cc) without a GPU: a stand-in for
# nvidia-cuda-mps-control on PATH records what the daemon asks of it.
#   - CPU backend: MPS off, the control program never run;
#   - CUDA backend, no driver (auto): our control daemon is started (-d), the
#     probe client cannot join, so MPS is off with the reason, and the daemon
#     we started is stopped again (quit); the region is still served;
#   - --mps on where a client cannot join: vgpu-hostd refuses to start;
#   - an operator's control daemon already running: joined, never quit.
#   mps_test.sh HOSTD
set -uo pipefail
HOSTD=$1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/bin"
cat >"$W/bin/nvidia-cuda-mps-control" <<'FAKE'
#!/usr/bin/env bash
log=$CUDA_MPS_LOG_DIRECTORY/fake-control.log
if [ "${1:-}" = -d ]; then mkfifo "$CUDA_MPS_PIPE_DIRECTORY/control" && echo "start" >>"$log"; exit; fi
[ -p "$CUDA_MPS_PIPE_DIRECTORY/control" ] || exit 1
read -r cmd; echo "$cmd" >>"$log"
[ "$cmd" = quit ] && rm -f "$CUDA_MPS_PIPE_DIRECTORY/control"
exit 0
FAKE
chmod +x "$W/bin/nvidia-cuda-mps-control"
export PATH=$W/bin:$PATH
fail=0
check() {  # WHAT CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}
run() {  # LOG ARGS...: the daemon for 1.5 s (it has started serving by then), its log in LOG
  local log=$1; shift
  timeout -s INT 1.5 env LD_LIBRARY_PATH=/nonexistent "$HOSTD" --region "$W/region" "$@" >"$log" 2>&1
}
has() { grep -q -- "$2" "$1"; }

run "$W/cpu.log" --backend cpu --mps-pipe-dir "$W/p1"
check "CPU backend: MPS off" has "$W/cpu.log" "MPS off (CPU backend)"
check "CPU backend: control program not run" test ! -e "$W/p1/log/fake-control.log"

run "$W/auto.log" --backend cuda --mps-pipe-dir "$W/p2"
check "auto without a driver: off, with the reason" has "$W/auto.log" "MPS off (a client could not join: no driver"
check "auto: still serves the region" has "$W/auto.log" "serving $W/region"
check "auto: our control daemon was started, then quit" \
  test "$(tr '\n' ' ' <"$W/p2/log/fake-control.log" 2>/dev/null)" = "start quit "

timeout -s INT 5 env LD_LIBRARY_PATH=/nonexistent "$HOSTD" --region "$W/region" --backend cuda --mps on \
  --mps-pipe-dir "$W/p3" >"$W/on.log" 2>&1
rc=$?
check "--mps on that cannot work: exit 1 (got $rc)" test "$rc" = 1
check "--mps on: says why" has "$W/on.log" "--mps on: a client could not join"

mkdir -p "$W/p4/log"
CUDA_MPS_PIPE_DIRECTORY=$W/p4 CUDA_MPS_LOG_DIRECTORY=$W/p4/log "$W/bin/nvidia-cuda-mps-control" -d
run "$W/join.log" --backend cuda --mps-pipe-dir "$W/p4"
check "an operator's daemon: asked, never quit" \
  test "$(tr '\n' ' ' <"$W/p4/log/fake-control.log")" = "start get_server_list "
check "an operator's daemon: its pipe is still there" test -p "$W/p4/control"
rm -f "$W/region" "$W/region.stats"
[ $fail = 0 ] && echo "mps_test: all passed"
exit $fail
