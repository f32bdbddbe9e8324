#!/usr/bin/env bash
# A mixed install is refused at load (src/guest/build_stamp.h): our
# libcudart.so.13 over a libcuda.so.1 of another build (here: a copy of ours
# with its stamp patched) ends the process before main, with one message
# naming both builds and both files; over a libcuda.so.1 with no stamp at all
# (the exported name patched away, as in NVIDIA's or an older build of ours)
# likewise. The unpatched copies load and run: the check refuses only a mix.
#   mixed_install_test.sh PROBE LIBCUDA LIBCUDART
set -euo pipefail
probe=$1 libcuda=$2 libcudart=$3
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

stamp=$(grep -aoE 'vgpu-build commit [0-9a-z]+ interface [0-9a-f]{12}' "$libcuda" | head -n1)
[[ -n $stamp ]] || fail "no build stamp in $libcuda"
# Another build's stamp, of the same length: the interface hash's last digit changed.
last=${stamp: -1}
other=${stamp%?}$([[ $last == 0 ]] && echo 1 || echo 0)

# copies DIR: our two libraries, side by side (the probe finds them through LD_LIBRARY_PATH).
copies() { mkdir -p "$1" && cp "$libcuda" "$1/libcuda.so.1" && cp "$libcudart" "$1/libcudart.so.13"; }
# patch FILE FROM TO: every occurrence of the bytes FROM (same length as TO).
patch() {
  python3 - "$@" <<'PY'
import sys
path, old, new = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
assert len(old) == len(new)
data = open(path, "rb").read()
if old not in data:
    sys.exit(f"{old!r} not in {path}")
open(path, "wb").write(data.replace(old, new))
PY
}
# run DIR: the probe over DIR's libraries only; sets rc and out (stdout and stderr).
run() {
  set +e
  out=$(env -u LD_PRELOAD LD_LIBRARY_PATH="$1" "$probe" 2>&1)
  rc=$?
  set -e
}

copies "$W/same"
run "$W/same"
[[ $rc == 0 && $out == *"probe ran"* ]] || fail "one build's libraries refused each other (exit $rc): $out"
echo "ok: libraries of one build load together"

copies "$W/mixed"
patch "$W/mixed/libcuda.so.1" "$stamp" "$other"
run "$W/mixed"
echo "$out"
[[ $rc == 127 ]] || fail "a mixed install exited $rc, want 127 (refused at load)"
[[ $out != *"probe ran"* ]] || fail "a mixed install reached main"
for want in "refusing a mixed install" "$W/mixed/libcudart.so.13 is $stamp" "$W/mixed/libcuda.so.1, is $other"; do
  [[ $out == *"$want"* ]] || fail "the message lacks '$want'"
done
[[ $(grep -c "refusing a mixed install" <<<"$out") == 1 ]] || fail "want the message once"
echo "ok: a libcuda.so.1 of another build is refused at load, naming both builds and files"

copies "$W/unstamped"
patch "$W/unstamped/libcuda.so.1" vgpu_build_stamp vgpu_build_stamq
run "$W/unstamped"
echo "$out"
[[ $rc == 127 ]] || fail "a libcuda.so.1 without a stamp exited $rc, want 127"
[[ $out != *"probe ran"* ]] || fail "a libcuda.so.1 without a stamp reached main"
for want in "refusing a mixed install" "$W/unstamped/libcudart.so.13 is $stamp" "$W/unstamped/libcuda.so.1, has no vgpu build stamp"; do
  [[ $out == *"$want"* ]] || fail "the message lacks '$want'"
done
echo "ok: a libcuda.so.1 without a stamp is refused at load"
