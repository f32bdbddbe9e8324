#!/usr/bin/env bash
# CI test of tools/vgpu-install on a fake Ollama tree (files only, no GPU):
# placement, backups, idempotence, dry-run, uninstall byte for byte, --check,
# the systemd drop-in, error cases. Everything happens under a temp dir passed
# as --root, never on the real system.
#
# Usage: test_install.sh [path/to/vgpu-install]
set -uo pipefail
export LC_ALL=C

INSTALLER=${1:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)/tools/vgpu-install}
[[ -f $INSTALLER ]] || {
  echo "no installer at $INSTALLER"
  exit 1
}

T=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-install-test.XXXXXX")
trap 'rm -rf -- "$T"' EXIT
chmod 755 "$T"
ROOT=$T/root
OURS=$T/ours
OL=$ROOT/usr/local/lib/ollama
SYS=$ROOT/usr/lib/x86_64-linux-gnu

PASS=0 FAIL=0 SKIP=0
pass() {
  printf 'PASS  %s\n' "$1"
  PASS=$((PASS + 1))
}
fail() {
  printf 'FAIL  %s\n' "$1"
  [[ -z ${2-} ]] || printf '%s\n' "$2" | sed 's/^/      | /' | head -n 40
  FAIL=$((FAIL + 1))
}
# PASS when errs is empty, else FAIL with them.
verdict() { # pass_text fail_text errs
  if [[ -z $3 ]]; then pass "$1"; else fail "$2" "$3"; fi
}
skip() {
  printf 'SKIP  %s\n' "$1"
  SKIP=$((SKIP + 1))
}

# Runs the installer; output in $OUT, exit status in $RC.
OUT="" RC=0
run() {
  OUT=$("$INSTALLER" "$@" 2>&1)
  RC=$?
}
inst() { run --root "$ROOT" --lib-dir "$OURS" "$@"; }

# Everything about a tree that an exact restore must reproduce: type, mode,
# owner, size, mtime, symlink target and content hash of every entry
# (directory mtimes left out: adding and removing entries changes them).
listing() {
  (
    cd "$1" || exit 1
    find . -mindepth 1 \( -type d -printf 'd %m %U:%G %p\n' \) -o \
      \( -type l -printf 'l %U:%G %T@ %p -> %l\n' \) -o \
      \( -type f -printf 'f %m %U:%G %s %T@ %p\n' \) | sort
    find . -type f -print0 | sort -z | xargs -0 -r sha256sum
  )
}

# The listing line (type, mode, ..., path [-> target]) of one path.
entry() {
  local re
  re=$(printf '%s' "$1" | sed 's/[.]/\\./g')
  grep -E "^[lf] .* \./$re( -> .*)?$"
}

# ---------------------------------------------------------------- fixtures
# "Our" libraries: small files carrying the marker.
make_ours() {
  local d=$1 tag=${2-} n
  mkdir -p "$d"
  for n in libcuda.so.1 libnvidia-ml.so.1 libcudart.so.12 libcudart.so.13 libcublas.so.12 \
    libcublas.so.13 libcublasLt.so.12 libcublasLt.so.13; do
    printf '\177ELF vgpu guest %s%s\nvgpu_guest_marker\n' "$n" "$tag" >"$d/$n"
  done
}

# An NVIDIA library as Ollama ships it: the real file and its SONAME link.
nv() { # dir real soname [mode]
  printf '\177ELF NVIDIA %s\n' "$2" >"$1/$2"
  chmod "${4:-644}" "$1/$2"
  touch -d "2025-0$((RANDOM % 9 + 1))-1$((RANDOM % 9)) 12:00:00" "$1/$2"
  ln -s "$2" "$1/$3"
}

make_tree() { # root
  local o=$1/usr/local/lib/ollama s=$1/usr/lib/x86_64-linux-gnu
  mkdir -p "$o/cuda_v12" "$o/cuda_v13" "$o/cuda_v11" "$s"
  nv "$o/cuda_v13" libcudart.so.13.0.96 libcudart.so.13
  nv "$o/cuda_v13" libcublas.so.13.1.0.3 libcublas.so.13 755
  nv "$o/cuda_v13" libcublasLt.so.13.1.0.3 libcublasLt.so.13
  printf 'ggml-cuda v13\n' >"$o/cuda_v13/libggml-cuda.so"
  nv "$o/cuda_v12" libcudart.so.12.8.90 libcudart.so.12
  nv "$o/cuda_v12" libcublas.so.12.8.4.1 libcublas.so.12
  nv "$o/cuda_v12" libcublasLt.so.12.8.4.1 libcublasLt.so.12
  ln -s libcudart.so.12 "$o/cuda_v12/libcudart.so" # a development link
  printf 'ggml-cuda v12\n' >"$o/cuda_v12/libggml-cuda.so"
  nv "$o/cuda_v11" libcudart.so.11.3.109 libcudart.so.11.0 # no vgpu library for it
  # Older Ollama layout: a copy right in lib/ollama (first on LD_LIBRARY_PATH).
  nv "$o" libcudart.so.12.4.127 libcudart.so.12
  printf 'ggml-base\n' >"$o/libggml-base.so"
  # The guest has NVIDIA's NVML installed, but no libcuda.
  nv "$s" libnvidia-ml.so.580.95.05 libnvidia-ml.so.1
  printf 'libc\n' >"$s/libc.so.6"
}

make_ours "$OURS"
make_tree "$ROOT"
PRISTINE=$(listing "$ROOT")
REAL_STATE_BEFORE=$(ls -d /var/lib/vgpu-install /etc/systemd/system/ollama.service.d/vgpu.conf 2>/dev/null)

# Every name a loader might open, and the SONAME names that must be real files.
NAMES=(
  cuda_v13/libcudart.so.13 cuda_v13/libcudart.so.13.0.96 cuda_v13/libcublas.so.13
  cuda_v13/libcublas.so.13.1.0.3 cuda_v13/libcublasLt.so.13 cuda_v13/libcublasLt.so.13.1.0.3
  cuda_v13/libcuda.so.1 cuda_v13/libnvidia-ml.so.1
  cuda_v12/libcudart.so.12 cuda_v12/libcudart.so.12.8.90 cuda_v12/libcudart.so
  cuda_v12/libcublas.so.12 cuda_v12/libcublas.so.12.8.4.1 cuda_v12/libcublasLt.so.12
  cuda_v12/libcublasLt.so.12.8.4.1 cuda_v12/libcuda.so.1 cuda_v12/libnvidia-ml.so.1
  libcudart.so.12 libcudart.so.12.4.127
)
SONAMES=(cuda_v13/libcudart.so.13 cuda_v13/libcublas.so.13 cuda_v13/libcublasLt.so.13
  cuda_v12/libcudart.so.12 cuda_v12/libcublas.so.12 cuda_v12/libcublasLt.so.12 libcudart.so.12)
# Our library behind a name: its file name in the lib dir.
ours_for() {
  local b=${1##*/}
  case $b in
    libcuda.so* | libnvidia-ml.so*) echo "${b%%.so*}.so.1" ;;
    *) [[ $1 == cuda_v13/* ]] && echo "${b%%.so*}.so.13" || echo "${b%%.so*}.so.12" ;;
  esac
}

# ---------------------------------------------------------------- checks
if command -v shellcheck >/dev/null 2>&1; then
  if msg=$(shellcheck "$INSTALLER" "${BASH_SOURCE[0]}" 2>&1); then pass "shellcheck: installer and test are clean"; else fail "shellcheck" "$msg"; fi
else
  skip "shellcheck: not installed"
fi

# Usage errors: exit 2.
errs=""
run --root "$ROOT" --lib-dir "$OURS"
[[ $RC == 2 && $OUT == *"--ollama PREFIX or --python VENV is required"* ]] || errs+="no --ollama: rc=$RC $OUT"$'\n'
run --root "$ROOT" --lib-dir "$OURS" --ollama /usr/local --bogus
[[ $RC == 2 && $OUT == *"unknown argument"* ]] || errs+="unknown option: rc=$RC $OUT"$'\n'
run --root "$ROOT" --lib-dir "$OURS" --ollama /usr/local --region relative/path
[[ $RC == 2 && $OUT == *"--region must be an absolute path"* ]] || errs+="relative --region: rc=$RC $OUT"$'\n'
run --root "$T/nonexistent" --lib-dir "$OURS" --ollama /usr/local
[[ $RC == 2 ]] || errs+="missing --root dir: rc=$RC $OUT"$'\n'
run --help
[[ $RC == 0 && $OUT == *Usage:* ]] || errs+="--help: rc=$RC"$'\n'
verdict "usage errors exit 2 with a message; --help exits 0" "usage errors" "$errs"

# Lib dir errors: exit 3.
errs=""
inst --ollama /usr/local --lib-dir "$T/no-such-dir"
[[ $RC == 3 && $OUT == *"does not exist"* ]] || errs+="missing lib dir: rc=$RC $OUT"$'\n'
mkdir -p "$T/partial" && cp "$OURS/libcuda.so.1" "$T/partial/"
inst --ollama /usr/local --lib-dir "$T/partial"
[[ $RC == 3 && $OUT == *"incomplete: missing"*libcudart.so.12* ]] || errs+="incomplete lib dir: rc=$RC $OUT"$'\n'
mkdir -p "$T/nvidia-libs" && cp "$OURS"/* "$T/nvidia-libs/" && printf 'NVIDIA\n' >"$T/nvidia-libs/libcublas.so.13"
inst --ollama /usr/local --lib-dir "$T/nvidia-libs"
[[ $RC == 3 && $OUT == *"not vgpu libraries"*libcublas.so.13* ]] || errs+="lib dir with a foreign library: rc=$RC $OUT"$'\n'
[[ $(listing "$ROOT") == "$PRISTINE" ]] || errs+="the tree changed"$'\n'
verdict "lib dir missing / incomplete / not ours: exit 3, tree untouched" "lib dir errors" "$errs"

# Ollama tree errors: exit 4.
errs=""
inst --ollama /opt/nothing-here
[[ $RC == 4 && $OUT == *"no Ollama tree at $ROOT/opt/nothing-here/lib/ollama"* ]] || errs+="missing tree: rc=$RC $OUT"$'\n'
mkdir -p "$T/cpu-only/usr/lib/ollama" "$T/cpu-only/usr/lib64"
run --root "$T/cpu-only" --lib-dir "$OURS" --ollama /usr
[[ $RC == 4 && $OUT == *"no cuda_vNN folder"* ]] || errs+="tree without cuda folders: rc=$RC $OUT"$'\n'
verdict "Ollama tree missing / without cuda_vNN: exit 4" "Ollama tree errors" "$errs"

# Not writable: exit 5, nothing changed. Root may write anywhere, so run the
# installer as nobody when we are root.
cp "$INSTALLER" "$T/vgpu-install" && chmod 755 "$T/vgpu-install"
chmod -R a+rX "$T"
if [[ $(id -u) != 0 ]]; then
  chmod a-w "$OL/cuda_v13"
  OUT=$("$T/vgpu-install" --root "$ROOT" --lib-dir "$OURS" --ollama /usr/local 2>&1)
  RC=$?
  chmod u+w "$OL/cuda_v13"
  ran=1
elif command -v setpriv >/dev/null 2>&1 &&
  TMPDIR=/tmp setpriv --reuid=65534 --regid=65534 --clear-groups "$T/vgpu-install" --help >/dev/null 2>&1; then
  OUT=$(TMPDIR=/tmp setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$T/vgpu-install" --root "$ROOT" --lib-dir "$OURS" --ollama /usr/local 2>&1)
  RC=$?
  ran=1
else
  ran=0
fi
if [[ $ran == 0 ]]; then
  skip "not writable: cannot run as an unprivileged user here"
elif [[ $RC == 5 && $OUT == *"not writable"* && $(listing "$ROOT") == "$PRISTINE" ]]; then
  pass "destination not writable: exit 5 before any change"
else
  fail "not writable" "rc=$RC $OUT"
fi

# --check before the install: NVIDIA's libraries, exit 6.
inst --ollama /usr/local --check
if [[ $RC == 6 && $OUT == *"nvidia   $OL/cuda_v13/libcudart.so.13 -> libcudart.so.13.0.96"* &&
  $OUT == *"missing  $SYS/libcuda.so.1"* && $OUT == *"check: 0 ours"* ]]; then
  pass "--check before install: reports NVIDIA's libraries, exit 6"
else
  fail "--check before install" "rc=$RC $OUT"
fi

# --dry-run: prints every action, changes nothing.
inst --ollama /usr/local --region /dev/shm/vgpu-test --dry-run
if [[ $RC == 0 && $(listing "$ROOT") == "$PRISTINE" &&
  $OUT == *"[dry-run] backup   $OL/cuda_v13/libcudart.so.13 -> libcudart.so.13.0.96 =>"* &&
  $OUT == *"[dry-run] install  $OL/cuda_v13/libcudart.so.13 (from"* &&
  $OUT == *"[dry-run] link     $OL/cuda_v13/libcudart.so.13.0.96 -> libcudart.so.13"* &&
  $OUT == *"[dry-run] write    $ROOT/etc/systemd/system/ollama.service.d/vgpu.conf"* ]]; then
  pass "--dry-run prints the actions and changes nothing (listing identical)"
else
  fail "--dry-run" "rc=$RC $OUT"
fi

# The install.
inst --ollama /usr/local --region /dev/shm/vgpu-test
INSTALL_OUT=$OUT
if [[ $RC == 0 ]]; then pass "install: exit 0"; else fail "install" "rc=$RC $OUT"; fi

# Placement: every name resolves to our library, SONAME names are real files,
# the rest of the tree is untouched.
errs=""
for n in "${NAMES[@]}"; do
  want=$OURS/$(ours_for "$n")
  [[ -e $OL/$n ]] && cmp -s "$OL/$n" "$want" || errs+="$n does not resolve to $(ours_for "$n")"$'\n'
done
for n in "${SONAMES[@]}"; do
  [[ -f $OL/$n && ! -L $OL/$n ]] || errs+="$n is not a real file"$'\n'
done
for n in libcuda.so.1 libnvidia-ml.so.1; do
  [[ -f $SYS/$n && ! -L $SYS/$n ]] && cmp -s "$SYS/$n" "$OURS/$n" || errs+="system $n is not ours"$'\n'
done
[[ $(readlink "$OL/cuda_v13/libcudart.so.13.0.96") == libcudart.so.13 ]] || errs+="libcudart.so.13.0.96 does not link to the SONAME name"$'\n'
for f in cuda_v13/libggml-cuda.so cuda_v12/libggml-cuda.so libggml-base.so; do
  grep -q vgpu_guest_marker "$OL/$f" && errs+="$f was touched"$'\n'
done
[[ $(readlink "$OL/cuda_v11/libcudart.so.11.0") == libcudart.so.11.3.109 ]] &&
  grep -q NVIDIA "$OL/cuda_v11/libcudart.so.11.3.109" || errs+="cuda_v11 was touched"$'\n'
[[ $INSTALL_OUT == *"warning: skipping $OL/cuda_v11: vgpu has no libraries for CUDA 11"* ]] || errs+="no warning for cuda_v11"$'\n'
grep -q NVIDIA "$SYS/libnvidia-ml.so.580.95.05" && [[ $(cat "$SYS/libc.so.6") == libc ]] || errs+="other system files were touched"$'\n'
verdict "placement: all ${#NAMES[@]} names + system libcuda/libnvidia-ml resolve to ours; SONAMEs are real files; cuda_v11, ggml untouched" "placement" "$errs"

# Backups: every replaced original is in the backup folder exactly as it was,
# and nothing of ours is.
errs=""
BK=$OL/.vgpu-backup
[[ -f $BK/manifest && -f $ROOT/var/lib/vgpu-install/manifest ]] || errs+="manifest missing"$'\n'
for n in cuda_v13/libcudart.so.13 cuda_v13/libcudart.so.13.0.96 cuda_v13/libcublas.so.13.1.0.3 \
  cuda_v12/libcublasLt.so.12 libcudart.so.12 libcudart.so.12.4.127; do
  orig=$(printf '%s\n' "$PRISTINE" | entry "usr/local/lib/ollama/$n" | sed 's#\./usr/local/lib/ollama/#./#')
  now=$(listing "$BK/files" | entry "$n")
  [[ -n $orig && $orig == "$now" ]] || errs+="backup of $n: '$now', original '$orig'"$'\n'
done
[[ $(readlink "$ROOT/var/lib/vgpu-install/files/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1") == libnvidia-ml.so.580.95.05 ]] ||
  errs+="system libnvidia-ml.so.1 link not backed up"$'\n'
grep -rlq vgpu_guest_marker "$BK/files" "$ROOT/var/lib/vgpu-install/files" && errs+="one of our files is in a backup"$'\n'
[[ $(grep -c $'^replaced\t' "$BK/manifest") == 14 ]] || errs+="expected 14 replaced entries: $(cat "$BK/manifest")"$'\n'
verdict "backups: originals saved exactly (symlinks as symlinks), manifest lists them, none of ours" "backups" "$errs"

# The systemd drop-in.
DROPIN=$ROOT/etc/systemd/system/ollama.service.d/vgpu.conf
if [[ -f $DROPIN ]] && grep -qx '\[Service\]' "$DROPIN" && grep -qx 'Environment=VGPU_REGION=/dev/shm/vgpu-test' "$DROPIN"; then
  pass "--region writes the ollama.service drop-in with Environment=VGPU_REGION"
else
  fail "drop-in" "$(cat "$DROPIN" 2>&1)"
fi

# --check after the install.
inst --ollama /usr/local --check
if [[ $RC == 0 && $OUT == *"ours     $OL/cuda_v13/libcudart.so.13.0.96 -> libcudart.so.13"* &&
  $OUT == *"ours     $SYS/libcuda.so.1"* && $OUT == *"check: 21 ours, 0 not ours, 0 missing"* &&
  $OUT == *"drop-in  $DROPIN: Environment=VGPU_REGION=/dev/shm/vgpu-test"* ]]; then
  pass "--check after install: everything ours, exit 0"
else
  fail "--check after install" "rc=$RC $OUT"
fi

# Idempotence: a second run (and a dry run) changes nothing at all.
INSTALLED=$(listing "$ROOT")
inst --ollama /usr/local --region /dev/shm/vgpu-test
out1=$OUT rc1=$RC
inst --ollama /usr/local --region /dev/shm/vgpu-test --dry-run
if [[ $rc1 == 0 && $out1 == *"nothing to do"* && $RC == 0 && $OUT == *"nothing to do"* &&
  $(listing "$ROOT") == "$INSTALLED" ]]; then
  pass "idempotent: second run and dry run change nothing"
else
  fail "idempotence" "rc=$rc1 $out1"$'\n'"dry: rc=$RC $OUT"
fi

# A new build of our libraries: updated in place, backups still NVIDIA's.
make_ours "$T/ours2" " build 2"
BK_BEFORE=$(listing "$BK")
run --root "$ROOT" --lib-dir "$T/ours2" --ollama /usr/local --region /dev/shm/vgpu-test
if [[ $RC == 0 && $(listing "$BK") == "$BK_BEFORE" ]] && cmp -s "$OL/cuda_v13/libcudart.so.13.0.96" "$T/ours2/libcudart.so.13" &&
  cmp -s "$SYS/libcuda.so.1" "$T/ours2/libcuda.so.1"; then
  pass "new build of our libraries: updated in place, not backed up"
else
  fail "update" "rc=$RC $OUT"
fi

# Uninstall: the whole root byte for byte as before (modes, owners, mtimes,
# symlink targets, contents); drop-in, backups and state gone.
inst --ollama /usr/local --uninstall
if [[ $RC == 0 && $(listing "$ROOT") == "$PRISTINE" ]]; then
  pass "uninstall restores the tree byte for byte, removes what was added"
else
  fail "uninstall" "rc=$RC $OUT"$'\n'"$(diff <(printf '%s\n' "$PRISTINE") <(listing "$ROOT"))"
fi
inst --ollama /usr/local --uninstall
if [[ $RC == 0 && $OUT == *"nothing to uninstall"* && $(listing "$ROOT") == "$PRISTINE" ]]; then
  pass "uninstall again: nothing to do"
else
  fail "uninstall again" "rc=$RC $OUT"
fi

# Our own libraries already there (copied by hand): never backed up as if
# they were NVIDIA's. An exact copy of the one being installed is left alone
# (uninstall leaves it too); another build is replaced and recorded as added.
R2=$T/root2
make_tree "$R2"
O2=$R2/usr/local/lib/ollama
rm "$O2/cuda_v13/libcudart.so.13" "$O2/cuda_v12/libcudart.so.12"
cp "$OURS/libcudart.so.13" "$O2/cuda_v13/libcudart.so.13"
cp "$T/ours2/libcudart.so.12" "$O2/cuda_v12/libcudart.so.12"
BEFORE2=$(listing "$R2")
run --root "$R2" --lib-dir "$OURS" --ollama /usr/local
B2=$O2/.vgpu-backup
errs=""
[[ $RC == 0 ]] || errs+="install: rc=$RC $OUT"$'\n'
[[ ! -e $B2/files/cuda_v13/libcudart.so.13 && ! -e $B2/files/cuda_v12/libcudart.so.12 ]] || errs+="our library was backed up"$'\n'
[[ -f $B2/files/cuda_v13/libcudart.so.13.0.96 ]] || errs+="NVIDIA's libcudart.so.13.0.96 not backed up"$'\n'
grep -rlq vgpu_guest_marker "$B2/files" && errs+="a backup holds one of our files"$'\n'
grep -q $'^added\tfile\tcuda_v12/libcudart.so.12$' "$B2/manifest" || errs+="other build not recorded as added"$'\n'
grep -q $'cuda_v13/libcudart.so.13$' "$B2/manifest" && errs+="exact copy recorded"$'\n'
cmp -s "$O2/cuda_v12/libcudart.so.12" "$OURS/libcudart.so.12" || errs+="other build not replaced"$'\n'
run --root "$R2" --ollama /usr/local --uninstall
[[ $RC == 0 ]] || errs+="uninstall: rc=$RC $OUT"$'\n'
want=$(printf '%s\n' "$BEFORE2" | grep -v 'cuda_v12/libcudart\.so\.12$')
got=$(listing "$R2")
[[ $got == "$want" ]] || errs+="after uninstall: $(diff <(printf '%s\n' "$want") <(printf '%s\n' "$got"))"$'\n'
verdict "our own libraries found in place are never backed up; uninstall restores NVIDIA's around them" \
  "own libraries" "$errs"

# Ollama updated after the install (new NVIDIA files over ours): the next run
# backs up the new ones, and uninstall gives back the updated Ollama.
R3=$T/root3
make_tree "$R3"
O3=$R3/usr/local/lib/ollama/cuda_v13
run --root "$R3" --lib-dir "$OURS" --ollama /usr/local
rc1=$RC
nv "$O3" libcudart.so.13.0.99 libcudart.so.13.tmp && mv -fT "$O3/libcudart.so.13.tmp" "$O3/libcudart.so.13"
run --root "$R3" --lib-dir "$OURS" --ollama /usr/local
rc2=$RC out2=$OUT
cmp -s "$O3/libcudart.so.13.0.99" "$OURS/libcudart.so.13"
placed=$?
run --root "$R3" --ollama /usr/local --uninstall
if [[ $rc1 == 0 && $rc2 == 0 && $placed == 0 && $out2 == *"changed since vgpu-install last ran"* && $RC == 0 &&
  $(readlink "$O3/libcudart.so.13") == libcudart.so.13.0.99 ]] && grep -q 'NVIDIA libcudart.so.13.0.99' "$O3/libcudart.so.13.0.99"; then
  pass "Ollama updated over an install: re-run replaces the new files, uninstall restores the update"
else
  fail "Ollama update" "rc=$rc1/$rc2/$RC placed=$placed $out2"$'\n'"$OUT"
fi

# --python: a venv's pip-installed NVIDIA libraries (site-packages/nvidia/cu13/lib)
# become ours, other NVIDIA libraries stay, uninstall restores the venv exactly.
R4=$T/root4
mkdir -p "$R4/venv/lib/python3.12/site-packages/nvidia/cu13/lib" "$R4/usr/lib/x86_64-linux-gnu"
V4=$R4/venv/lib/python3.12/site-packages/nvidia/cu13/lib
nv "$V4" libcudart.so.13.0.96 libcudart.so.13
nv "$V4" libcublas.so.13.1.0.3 libcublas.so.13
printf '\177ELF NVIDIA libcufft\n' >"$V4/libcufft.so.12"
VPRISTINE=$(listing "$R4")
run --root "$R4" --lib-dir "$OURS" --python /venv
rc1=$RC out1=$OUT
cmp -s "$V4/libcudart.so.13" "$OURS/libcudart.so.13" && cmp -s "$V4/libcublasLt.so.13" "$OURS/libcublasLt.so.13" &&
  cmp -s "$V4/libcuda.so.1" "$OURS/libcuda.so.1" && [[ $(readlink "$V4/libcudart.so.13.0.96") == libcudart.so.13 ]] &&
  grep -q 'NVIDIA libcufft' "$V4/libcufft.so.12"
placed=$?
run --root "$R4" --lib-dir "$OURS" --python /venv --check
rc2=$RC
run --root "$R4" --python /venv --uninstall
if [[ $rc1 == 0 && $placed == 0 && $rc2 == 0 && $RC == 0 && $(listing "$R4") == "$VPRISTINE" ]]; then
  pass "--python VENV: cu13/lib gets our libraries, --check agrees, --uninstall restores the venv exactly"
else
  fail "--python VENV" "rc=$rc1/$rc2/$RC placed=$placed"$'\n'"$out1"$'\n'"$OUT"
fi
run --root "$R4" --lib-dir "$OURS" --python /nowhere
if [[ $RC == 4 ]]; then pass "--python without site-packages/nvidia: exit 4"; else fail "--python /nowhere: rc=$RC" "$OUT"; fi

# --root kept everything away from the real system.
if [[ $(ls -d /var/lib/vgpu-install /etc/systemd/system/ollama.service.d/vgpu.conf 2>/dev/null) == "$REAL_STATE_BEFORE" ]]; then
  pass "--root: the real system was not touched"
else
  fail "--root leaked onto the real system"
fi

summary="install: $PASS passed, $FAIL failed"
[[ $SKIP == 0 ]] || summary+=", $SKIP skipped"
echo "$summary"
[[ $FAIL == 0 ]]
