#!/bin/bash
# The VM test: boots a small Linux guest under qemu-system-x86_64 with an
# ivshmem-plain device backed by a /dev/shm region file that the host side
# serves, runs a guest command in it, and passes only if the guest prints
# "VGPU-VM-RESULT: PASS" (and the host-side check, if any, passes).
#
# Usage:
#   run_vm_test.sh --probe PATH [--host-bin PATH] [--work-dir DIR] [--timeout S]
#                  [--bench] [--keep]
#
#   --probe PATH     the guest probe (build/bin/vm_probe)
#   --host-bin PATH  the host stand-in (build/bin/vm_region_host); used by the
#                    default VGPU_VM_HOST_CMD
#   --work-dir DIR   initramfs, logs (default: ./vm-test)
#   --timeout S      how long the guest may run (default 300 s; TCG)
#   --bench          run vm_probe --bench in the guest and print its figures
#   --keep           keep the region file and the work dir's rootfs
#
# Environment (each optional; what later turns this into the full test):
#   VGPU_VM_HOST_CMD      host side, started in the background; @REGION@ is
#                         replaced by the region file path. Default:
#                         "<host-bin> --region @REGION@". Later:
#                         "build/bin/vgpu-hostd --region @REGION@ --backend cpu"
#   VGPU_VM_HOST_CHECK    shell command run after the guest finished, with
#                         $HOST_LOG, $REGION and $WORK_DIR set, before the host is stopped;
#                         non-zero fails the test (e.g. "the host's counters show
#                         the calls arrived"). Default: nothing.
#   VGPU_VM_HOST_FINAL_CHECK  same, run after the host was stopped with SIGTERM.
#                         Default for the stand-in: its log says it answered pings.
#   VGPU_VM_HOST_MONITOR  shell command started in the background once the
#                         region is ready (with $REGION, $HOST_LOG and $WORK_DIR
#                         set), stopped with SIGTERM when the guest is done,
#                         before VGPU_VM_HOST_CHECK (e.g. a stats sampler: the
#                         daemon's counters are per session, a later session in
#                         the same slot resets them). Default: nothing.
#   VGPU_VM_GUEST_PROGRAMS  extra guest programs (space-separated paths)
#   VGPU_VM_GUEST_LIBDIRS   folders whose *.so* files go to /opt/vgpu/lib in the
#                         guest (our libcuda.so.1, libcudart.so.13, ...: build/lib)
#   VGPU_VM_GUEST_CMD     the guest command (busybox sh -c). Default:
#                         "vm_probe --echo" (plus --bench with --bench)
#   VGPU_VM_ACCEL         kvm | tcg | auto (default auto: KVM when /dev/kvm is
#                         usable and boots the guest, else TCG)
#   VGPU_VM_MEM           guest RAM (default 512M)
#   VGPU_VM_CACHE         where the kernel and busybox packages are kept
#                         (default <repo>/.cache/vm)
#
# Exit status: 0 pass, 1 fail, 77 skipped (QEMU or the Debian packages cannot
# be had here; the reason is printed).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
probe=""
host_bin=""
work=$PWD/vm-test
timeout_s=300
bench=0
keep=0

say() { echo "run_vm_test: $*"; }
fail() { say "FAIL: $*"; exit 1; }
skip() { say "SKIP: $*"; exit 77; }

while [ $# -gt 0 ]; do
  case "$1" in
    --probe) probe=$2; shift 2 ;;
    --host-bin) host_bin=$2; shift 2 ;;
    --work-dir) work=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --bench) bench=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,48p' "$0"; exit 0 ;;
    *) fail "unknown argument $1" ;;
  esac
done
[ -n "$probe" ] && [ -x "$probe" ] || fail "--probe PATH (build/bin/vm_probe) is required"
mkdir -p "$work" || fail "cannot create $work"
work=$(cd "$work" && pwd)
t_start=$(date +%s)

# --- 1. Tools: install what is missing (Debian, as root), else skip ----------
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  say "installing $* (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$work/apt.log" 2>&1 && return 0
  apt-get update -qq >>"$work/apt.log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$work/apt.log" 2>&1
}
if ! command -v qemu-system-x86_64 >/dev/null; then
  apt_install qemu-system-x86 || skip "qemu-system-x86_64 is not installed and cannot be installed here (need root + apt: apt-get install qemu-system-x86); see $work/apt.log"
fi
qemu_version=$(qemu-system-x86_64 --version 2>&1 | head -n1) ||
  skip "qemu-system-x86_64 does not run here: $qemu_version"
if ! command -v cpio >/dev/null; then
  apt_install cpio || skip "cpio is not installed and cannot be installed here"
fi

# --- 2. The guest: Debian kernel + busybox + programs -------------------------
guest_cmd=${VGPU_VM_GUEST_CMD:-"vm_probe --echo$([ $bench = 1 ] && echo ' --bench')"}
libdir_args=()
for d in ${VGPU_VM_GUEST_LIBDIRS:-}; do libdir_args+=(--lib-dir "$d"); done
# shellcheck disable=SC2086  # the program list is space-separated on purpose
"$here/build_initramfs.sh" --out "$work" --cmd "$guest_cmd" "${libdir_args[@]}" \
  "$probe" ${VGPU_VM_GUEST_PROGRAMS:-} 2>"$work/build.log"
rc=$?
if [ $rc = 77 ]; then cat "$work/build.log"; skip "the guest cannot be built here (see above)"; fi
[ $rc = 0 ] || { cat "$work/build.log"; fail "building the guest failed"; }
grep -h '^build_initramfs: kernel' "$work/build.log" | sed 's/^/run_vm_test: /'

# --- 3. The host side ---------------------------------------------------------
region=/dev/shm/vgpu-vmtest-$$
host_cmd=${VGPU_VM_HOST_CMD:-"$host_bin --region @REGION@"}
[ -n "${VGPU_VM_HOST_CMD:-}" ] || [ -x "$host_bin" ] || fail "--host-bin PATH (build/bin/vm_region_host) or VGPU_VM_HOST_CMD is required"
host_cmd=${host_cmd//@REGION@/$region}
HOST_LOG=$work/host.log
serial=$work/serial.log
qemu_log=$work/qemu.log
host_pid=""
qemu_pid=""
monitor_pid=""
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
  [ -n "$monitor_pid" ] && kill "$monitor_pid" 2>/dev/null
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null
  # The region and anything the host put beside it (vgpu-hostd: REGION.stats).
  [ $keep = 1 ] || rm -f "$region" "$region".*
  [ $keep = 1 ] || rm -rf "$work/rootfs"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

stop_host() {
  # Stops the host with SIGTERM (and waits for it) so its exit log is complete.
  [ -n "$host_pid" ] || return 0
  kill -TERM "$host_pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$host_pid" 2>/dev/null
  wait "$host_pid" 2>/dev/null
  host_pid=""
}

say "host: $host_cmd"
rm -f "$region"
# exec: $host_pid is the host program itself, not a wrapping shell.
bash -c "exec $host_cmd" >"$HOST_LOG" 2>&1 &
host_pid=$!
for _ in $(seq 200); do
  [ -s "$region" ] && break
  kill -0 "$host_pid" 2>/dev/null || { cat "$HOST_LOG"; fail "the host exited before creating $region"; }
  sleep 0.1
done
[ -s "$region" ] || { cat "$HOST_LOG"; fail "the host did not create $region within 20 s"; }
sleep 0.2  # let it finish sizing the file
size=$(stat -c %s "$region")
# QEMU's ivshmem BAR is the memory backend and must be a power of two
# (QEMU 7.2 aborts in pci_register_bar otherwise); the host must size it.
if [ $((size & (size - 1))) != 0 ]; then
  fail "region file $region is $size bytes, not a power of two: the host must round it up (QEMU's ivshmem BAR2 must be a power of two)"
fi
say "region $region: $((size >> 20)) MiB"
if [ -n "${VGPU_VM_HOST_MONITOR:-}" ]; then
  # exec: $monitor_pid is the monitor itself, so SIGTERM reaches it.
  REGION=$region HOST_LOG=$HOST_LOG WORK_DIR=$work bash -c "exec $VGPU_VM_HOST_MONITOR" >"$work/monitor.log" 2>&1 &
  monitor_pid=$!
fi
stop_monitor() {
  [ -n "$monitor_pid" ] || return 0
  kill -TERM "$monitor_pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$monitor_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$monitor_pid" 2>/dev/null
  wait "$monitor_pid" 2>/dev/null
  monitor_pid=""
}

# --- 4. QEMU ------------------------------------------------------------------
accel=${VGPU_VM_ACCEL:-auto}
kvm_why_not=""
kvm_usable() {
  if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
    kvm_why_not="/dev/kvm is missing or not read-writable for $(id -un)"; return 1
  fi
  [ "${1:-}" = any ] && return 0
  # A paravirtual KVM (Ant Group's "PVM", module kvm_pvm, seen inside cloud
  # VMs without nested virtualisation) runs only PVM-enabled guest kernels;
  # Debian's kernel hangs right after the firmware there.
  if [ -d /sys/module/kvm_pvm ] && ! [ -d /sys/module/kvm_intel ] && ! [ -d /sys/module/kvm_amd ]; then
    kvm_why_not="/dev/kvm is PVM (kvm_pvm), which cannot boot a stock Debian kernel"; return 1
  fi
  return 0
}
kvm_boot_limit=${VGPU_VM_KVM_BOOT_LIMIT:-15}
qemu_args() {  # $1 = kvm | tcg
  # shellcheck disable=SC2054  # the commas are QEMU's, inside one argument
  local a=(-machine q35 -m "${VGPU_VM_MEM:-512M}" -smp 1 -nodefaults -nographic -no-reboot
           -monitor none -serial "file:$serial"
           -kernel "$work/vmlinuz" -initrd "$work/initramfs.cpio.gz"
           -append "console=ttyS0 panic=-1 quiet"
           -object "memory-backend-file,id=vgpu,size=$size,share=on,mem-path=$region"
           -device ivshmem-plain,memdev=vgpu)
  if [ "$1" = kvm ]; then a+=(-accel kvm -cpu host); else a+=(-accel tcg -cpu max); fi
  printf '%s\n' "${a[@]}"
}
# Boots with accelerator $1; $2: seconds until the guest must have reached
# /init (0: no such limit). Returns 0 when QEMU exited by itself, 2 when the
# boot limit passed, 3 when the overall timeout passed, else QEMU's status.
boot() {
  local acc=$1 boot_limit=$2 args
  mapfile -t args < <(qemu_args "$acc")
  : >"$serial"
  say "qemu ($acc): qemu-system-x86_64 ${args[*]}"
  qemu-system-x86_64 "${args[@]}" </dev/null >"$qemu_log" 2>&1 &
  qemu_pid=$!
  local t0 now up=0
  t0=$(date +%s)
  while kill -0 "$qemu_pid" 2>/dev/null; do
    now=$(date +%s)
    [ $up = 1 ] || ! grep -aq 'VGPU-VM: guest up' "$serial" || up=1
    if [ "$boot_limit" != 0 ] && [ $up = 0 ] && [ $((now - t0)) -ge "$boot_limit" ]; then
      kill "$qemu_pid"; wait "$qemu_pid" 2>/dev/null; qemu_pid=""; return 2
    fi
    if [ $((now - t0)) -ge "$timeout_s" ]; then
      kill "$qemu_pid"; wait "$qemu_pid" 2>/dev/null; qemu_pid=""; return 3
    fi
    sleep 0.2
  done
  wait "$qemu_pid"
  local rc=$?
  qemu_pid=""
  return $rc
}

t_boot=$(date +%s)
case "$accel" in
  kvm) kvm_usable any || skip "VGPU_VM_ACCEL=kvm but $kvm_why_not"; boot kvm 0; qrc=$? ;;
  tcg) boot tcg 0; qrc=$? ;;
  auto)
    qrc=2
    if kvm_usable; then
      # A /dev/kvm may still fail to run a stock kernel: give KVM a limited
      # time to reach /init (a second or two normally), then fall back.
      boot kvm "$kvm_boot_limit"; qrc=$?
      if [ $qrc = 2 ]; then
        say "KVM did not boot the guest within $kvm_boot_limit s (serial log: $(tr -cd '[:print:]\n' <"$serial" | tail -n 3 | tr '\n' ' ')); falling back to TCG"
      elif [ $qrc != 0 ] && ! grep -aq 'VGPU-VM: guest up' "$serial"; then
        say "KVM failed (qemu status $qrc: $(tail -n 2 "$qemu_log" | tr '\n' ' ')); falling back to TCG"
        qrc=2
      fi
      [ $qrc = 2 ] && t_boot=$(date +%s)
    else
      say "no KVM: $kvm_why_not; using TCG (software emulation)"
    fi
    if [ $qrc = 2 ]; then accel=tcg; boot tcg 0; qrc=$?; else accel=kvm; fi
    ;;
  *) fail "VGPU_VM_ACCEL must be kvm, tcg or auto" ;;
esac
t_end=$(date +%s)

# --- 5. Verdict ---------------------------------------------------------------
show_logs() {
  echo "----- guest console ($serial) -----"
  tr -d '\r' <"$serial"
  echo "----- qemu ($qemu_log) -----"
  cat "$qemu_log"
  echo "----- host ($HOST_LOG) -----"
  cat "$HOST_LOG"
  echo "-----"
}
if [ $qrc = 3 ]; then show_logs; fail "the guest did not finish within ${timeout_s} s ($accel)"; fi
if [ $qrc != 0 ]; then
  show_logs
  # QEMU failing on its own command line before the guest ran is a failure
  # of this test (a wrong option), not a reason to skip.
  fail "qemu exited with status $qrc ($accel)"
fi
# Guest output from /init on (without the kernel's own messages), for the CTest log.
tr -d '\r' <"$serial" | sed -n '/VGPU-VM: guest up/,$p' | sed 's/^.*\(VGPU-VM: guest up\)/\1/' |
  grep -avE '^\[ *[0-9]+\.[0-9]+\] ' | sed 's/^/guest| /'

stop_monitor
host_ok=1
if [ -n "${VGPU_VM_HOST_CHECK:-}" ]; then
  HOST_LOG=$HOST_LOG REGION=$region WORK_DIR=$work bash -c "$VGPU_VM_HOST_CHECK" || host_ok=0
fi
stop_host
final_check=${VGPU_VM_HOST_FINAL_CHECK-}
if [ -z "${VGPU_VM_HOST_CMD:-}" ] && [ -z "${VGPU_VM_HOST_FINAL_CHECK+x}" ]; then
  # The stand-in logs how many guest pings it answered when it stops.
  final_check='grep -Eq "answered [1-9][0-9]* pings" "$HOST_LOG"'
fi
if [ -n "$final_check" ]; then
  HOST_LOG=$HOST_LOG REGION=$region WORK_DIR=$work bash -c "$final_check" || host_ok=0
fi
sed 's/^/host| /' "$HOST_LOG"

result=$(tr -d '\r' <"$serial" | grep -E '^VGPU-VM-RESULT: ' | tail -n1)
say "accel $accel, guest ran $((t_end - t_boot)) s, test took $((t_end - t_start)) s in all; $qemu_version"
if [ "$result" != "VGPU-VM-RESULT: PASS" ]; then
  show_logs
  fail "guest said: ${result:-nothing (no VGPU-VM-RESULT line)}"
fi
if [ $host_ok != 1 ]; then
  show_logs
  fail "the guest passed but the host-side check failed"
fi
say "PASS"
exit 0
