#!/bin/sh
# shellcheck disable=SC2317  # the check functions are called through step()
# Runs INSIDE the VM guest of the vm_guest_e2e test (busybox sh, as root from
# /init; tests/vm/run_guest_e2e.sh puts it into the initramfs). The guest has
# our libraries in /opt/vgpu/lib (LD_LIBRARY_PATH) and the programs in
# /opt/vgpu/bin; nothing tells them where the region is: they must find the
# ivshmem device by its PCI id (1af4:1110).
#
#   guest_e2e.sh [--bench] [--bench-iters N]
#
# Steps (each prints "VGPU-VM-STEP: NAME: PASS" or "... FAIL ..."):
#   device   the ivshmem device is there; no VGPU_REGION, no /dev/shm/vgpu-0
#   loader   the dynamic loader resolves libcuda.so.1 (and libcublas.so.13) of
#            each program to /opt/vgpu/lib
#   probe    vm_probe: region header valid, host ready, heartbeat moving
#   hello    examples/hello_vgpu: device query, copies of several sizes both
#            ways (pageable and pinned), bytes compared
#   blas     vm_blas_check: two cuBLAS SGEMMs checked against a CPU reference
#   errors   vm_api_bench --errors: bad copies fail, the session survives
#   nonroot  as an unprivileged user: refused before, works after the udev
#            rule's action from docs/vm.md (group vgpu, mode 0660 on resource2)
#   bench    (--bench) vm_api_bench --bench --label guest
# A pause of 1 s after each step that used the device lets the host's stats
# sampler see the session's final counters before the next session reuses the
# slot (the daemon's counters are per session).
# Exit status 0 only if every step passed.
set -u
bench=0
bench_iters=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=1; shift ;;
    --bench-iters) bench_iters=$2; shift 2 ;;
    *) echo "guest_e2e: unknown argument $1"; exit 2 ;;
  esac
done
LIB=/opt/vgpu/lib
BIN=/opt/vgpu/bin
failed=""

# step NAME COMMAND...: runs COMMAND, prints the verdict.
step() {
  name=$1
  shift
  echo "VGPU-VM-STEP: $name: start"
  t0=$(cut -d' ' -f1 /proc/uptime)
  "$@"
  rc=$?
  t1=$(cut -d' ' -f1 /proc/uptime)
  secs=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
  if [ $rc -eq 0 ]; then
    echo "VGPU-VM-STEP: $name: PASS (${secs} s)"
  else
    echo "VGPU-VM-STEP: $name: FAIL rc=$rc (${secs} s)"
    failed="$failed $name"
  fi
}

check_device() {
  [ -z "${VGPU_REGION:-}" ] || { echo "guest_e2e: VGPU_REGION is set ($VGPU_REGION); the test needs discovery by PCI id"; return 1; }
  [ ! -e /dev/shm/vgpu-0 ] || { echo "guest_e2e: /dev/shm/vgpu-0 exists; the test needs discovery by PCI id"; return 1; }
  found=0
  for d in /sys/bus/pci/devices/*; do
    if [ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ]; then
      bar2=$(sed -n 3p "$d/resource")
      echo "guest_e2e: ivshmem device $(basename "$d"), BAR2 (start end flags) $bar2"
      found=1
    fi
  done
  [ "$found" = 1 ] || { echo "guest_e2e: no PCI device 1af4:1110"; return 1; }
}

# The guest's own dynamic loader says which file each program gets.
check_loader() {
  ldso=/lib64/ld-linux-x86-64.so.2
  ok=0
  for p in hello_vgpu vm_blas_check vm_api_bench; do
    out=$("$ldso" --list "$BIN/$p" 2>&1) || { echo "$out"; return 1; }
    libs="libcuda.so.1"
    [ "$p" = vm_blas_check ] && libs="libcuda.so.1 libcublas.so.13"
    for l in $libs; do
      line=$(echo "$out" | grep -F "$l =>" | sed 's/^[[:space:]]*//; s/ (0x[0-9a-f]*)//')
      echo "guest_e2e: $p: $line"
      [ "$line" = "$l => $LIB/$l" ] || { echo "guest_e2e: $p gets $l from elsewhere (want $LIB/$l)"; ok=1; }
    done
  done
  return "$ok"
}

# The udev rule of docs/vm.md does this for the ivshmem device (udev is not
# in this busybox guest, so the test applies the rule's action itself).
apply_udev_rule_action() {
  for d in /sys/bus/pci/devices/*; do
    if [ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ]; then
      chgrp vgpu "$d/resource2" && chmod 0660 "$d/resource2" || return 1
      ls -l "$d/resource2" | sed 's/^/guest_e2e: /'
    fi
  done
}

check_nonroot() {
  # A user "alice" whose supplementary group vgpu is what grants access.
  grep -q '^root:' /etc/passwd 2>/dev/null || echo 'root:x:0:0:root:/root:/bin/sh' >>/etc/passwd
  echo 'alice:x:1000:100:alice:/tmp:/bin/sh' >>/etc/passwd
  grep -q '^root:' /etc/group 2>/dev/null || echo 'root:x:0:' >>/etc/group
  echo 'users:x:100:' >>/etc/group
  echo 'vgpu:x:990:alice' >>/etc/group
  as_alice="export LD_LIBRARY_PATH=$LIB; $BIN/vm_blas_check --expect-lib-dir $LIB"
  echo "guest_e2e: as alice ($(su alice -s /bin/sh -c id)), before the rule:"
  out=$(su alice -s /bin/sh -c "$as_alice" 2>&1)
  rc=$?
  echo "$out" | sed 's/^/guest_e2e:   /'
  if [ "$rc" = 0 ]; then echo "guest_e2e: alice could use the device without access to resource2"; return 1; fi
  echo "$out" | grep -q 'resource2.*Permission denied' || { echo "guest_e2e: expected a 'Permission denied' on resource2"; return 1; }
  apply_udev_rule_action || return 1
  echo "guest_e2e: as alice, after the rule:"
  su alice -s /bin/sh -c "$as_alice"
}

step device check_device
step loader check_loader
step probe vm_probe --wait 20
step hello hello_vgpu
sleep 1
step blas vm_blas_check --expect-lib-dir $LIB
sleep 1
step errors vm_api_bench --errors --expect-lib-dir $LIB
sleep 1
step nonroot check_nonroot
sleep 1
if [ $bench = 1 ]; then
  step bench vm_api_bench --bench --label guest --iters "$bench_iters" --expect-lib-dir $LIB
  sleep 1
fi
if [ -n "$failed" ]; then
  echo "VGPU-VM-E2E: FAIL:$failed"
  exit 1
fi
echo "VGPU-VM-E2E: all steps PASS"
exit 0
