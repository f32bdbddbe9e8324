#!/bin/bash
# Builds a tiny Linux guest for the VM test from Debian packages only:
#   - the kernel of Debian's linux-image-amd64 (apt-get download + dpkg-deb -x
#     into a cache folder; nothing is installed into this system),
#   - busybox from busybox-static for /init and a shell,
#   - the guest programs given as arguments, each with the shared libraries
#     `ldd` lists for it, plus the dynamic loader.
#
# Usage:
#   build_initramfs.sh --out DIR [--cache DIR] [--cmd 'COMMAND']
#                      [--lib-dir DIR]... [--file SRC[:DEST]]... PROGRAM...
#
#   --out DIR      writes DIR/vmlinuz, DIR/initramfs.cpio.gz, DIR/kernel-version
#   --cache DIR    where downloaded .debs and the unpacked kernel are kept
#                  (default: $VGPU_VM_CACHE or <repo>/.cache/vm)
#   --cmd CMD      what /init runs (busybox sh -c); default: the first PROGRAM
#   --lib-dir DIR  copies every *.so* file (and symlink) of DIR into the
#                  guest's /opt/vgpu/lib (on LD_LIBRARY_PATH there), with the
#                  libraries they need; also used to resolve the programs'
#                  own dependencies (our libcudart.so.13 etc. from build/lib)
#   --file S[:D]   copies file S to D in the guest (default /opt/vgpu/S's name)
#   PROGRAM        copied to /opt/vgpu/bin/ (on PATH in the guest)
#
# Guest side: /init mounts proc, sys, dev (and debugfs), runs CMD with
# PATH=/opt/vgpu/bin:/bin and LD_LIBRARY_PATH=/opt/vgpu/lib, prints
#   VGPU-VM-RESULT: PASS          (CMD exited 0)
#   VGPU-VM-RESULT: FAIL rc=N     (otherwise)
# on the console and powers off. No kernel modules: the ivshmem device needs
# only PCI and sysfs (built into Debian's kernel); the serial console (8250),
# devtmpfs and the initramfs decompressor are built in too.
#
# Exit status: 0 built; 77 the Debian packages cannot be had here (no apt,
# no network, no package lists); 1 anything else.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=""
cache=${VGPU_VM_CACHE:-$repo/.cache/vm}
cmd=""
libdirs=()
files=()
progs=()

die() { echo "build_initramfs: $*" >&2; exit 1; }
skip() { echo "build_initramfs: SKIP: $*" >&2; exit 77; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --cmd) cmd=$2; shift 2 ;;
    --lib-dir) libdirs+=("$(cd "$2" && pwd)"); shift 2 ;;
    --file) files+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    --) shift; progs+=("$@"); break ;;
    -*) die "unknown option $1" ;;
    *) progs+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || die "--out DIR is required"
[ ${#progs[@]} -gt 0 ] || die "no guest program given"
[ -n "$cmd" ] || cmd=$(basename "${progs[0]}")
command -v cpio >/dev/null || skip "cpio is not installed (apt-get install cpio)"
mkdir -p "$out" "$cache/debs"
out=$(cd "$out" && pwd)
cache=$(cd "$cache" && pwd)

# --- Debian packages, downloaded once into the cache ------------------------
# Fetches the newest candidate of package $1 into $cache/debs (unless a .deb
# of that version is there already) and prints the .deb's path.
fetch_deb() {
  local pkg=$1 ver deb
  command -v apt-cache >/dev/null || skip "no apt-cache here: cannot get Debian package $pkg"
  ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    # Package lists may be missing (fresh container): refresh once.
    if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 || true; fi
    ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
  fi
  [ -n "$ver" ] && [ "$ver" != "(none)" ] || skip "Debian package $pkg not known to apt (apt-get update?)"
  deb=$(ls "$cache/debs/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    echo "build_initramfs: downloading $pkg $ver" >&2
    # apt's _apt user may not be able to write the cache: download as we are.
    (cd "$cache/debs" && apt-get download -o APT::Sandbox::User=root "$pkg=$ver" >&2) ||
      skip "apt-get download $pkg=$ver failed (no network or mirror?)"
    deb=$(ls "$cache/debs/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
    [ -n "$deb" ] || die "downloaded $pkg but cannot find its .deb in $cache/debs"
  fi
  echo "$deb"
}

# Kernel: linux-image-amd64 is a metapackage; its Depends names the image.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' || true)
if [ -z "$kpkg" ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 || true; fi
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' || true)
fi
[ -n "$kpkg" ] || skip "cannot resolve linux-image-amd64 to a kernel package (apt lists missing?)"
kver=${kpkg#linux-image-}
kdir=$cache/kernel-$kver
if [ ! -f "$kdir/vmlinuz" ]; then
  kdeb=$(fetch_deb "$kpkg")
  rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
  dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$kdir.tmp" ./boot
  cp "$kdir.tmp/boot/vmlinuz-$kver" "$kdir.tmp/vmlinuz"
  cp "$kdir.tmp/boot/config-$kver" "$kdir.tmp/config"
  rm -rf "$kdir.tmp/boot" "$kdir" && mv "$kdir.tmp" "$kdir"
  # Only the kernel image is kept; the 70 MB .deb is not needed again.
  rm -f "$kdeb"
fi
# What the guest relies on must be built in (we load no modules).
for opt in CONFIG_PCI CONFIG_SYSFS CONFIG_DEVTMPFS CONFIG_BLK_DEV_INITRD CONFIG_RD_GZIP \
           CONFIG_SERIAL_8250 CONFIG_SERIAL_8250_CONSOLE CONFIG_ACPI CONFIG_BINFMT_ELF; do
  grep -qx "$opt=y" "$kdir/config" || die "kernel $kver lacks built-in $opt; the guest would need modules"
done

# Busybox: the system's static one if busybox-static is installed, else the
# package unpacked into the cache.
bb=""
if [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; then
  bb=/bin/busybox
else
  bbdir=$cache/busybox-static
  if [ ! -x "$bbdir/bin/busybox" ]; then
    bdeb=$(fetch_deb busybox-static)
    rm -rf "$bbdir" && mkdir -p "$bbdir"
    dpkg-deb -x "$bdeb" "$bbdir"
  fi
  bb=$bbdir/bin/busybox
fi

# --- The root file system ---------------------------------------------------
root=$out/rootfs
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,opt/vgpu/bin,opt/vgpu/lib}
cp "$bb" "$root/bin/busybox"

# Copies one library (resolving symlinks) to the path the loader will look
# for it: the same path as on this system, so no ld.so.conf is needed.
copy_lib() {
  local src=$1 dst=$root$1
  [ -e "$dst" ] && return 0
  mkdir -p "$(dirname "$dst")"
  cp -L "$src" "$dst"
}

# Copies the libraries `ldd` lists for $1 (LD_LIBRARY_PATH includes --lib-dir).
copy_deps() {
  local f=$1 line lib
  local ldpath
  ldpath=$(IFS=:; echo "${libdirs[*]:-}")
  local listing
  if ! listing=$(LD_LIBRARY_PATH=$ldpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ldd "$f" 2>&1); then
    case "$listing" in
      *"not a dynamic executable"*|*"statically linked"*) return 0 ;;
      *) die "ldd $f failed: $listing" ;;
    esac
  fi
  while IFS= read -r line; do
    case "$line" in
      *"not found"*) die "$f needs a library ldd cannot find: $line" ;;
      *" => "*) lib=$(echo "$line" | awk '{print $3}') ;;
      *) lib=$(echo "$line" | awk '{print $1}') ;;   # the loader; vdso has no path
    esac
    case "$lib" in
      /*) ;;
      *) continue ;;   # linux-vdso.so.1
    esac
    # Libraries from a --lib-dir go to /opt/vgpu/lib (copied below).
    local d skip_it=0
    for d in "${libdirs[@]}"; do
      case "$lib" in "$d"/*) skip_it=1 ;; esac
    done
    [ $skip_it = 1 ] || copy_lib "$lib"
  done <<<"$listing"
}

for p in "${progs[@]}"; do
  [ -f "$p" ] || die "guest program $p not found"
  cp -L "$p" "$root/opt/vgpu/bin/"
  copy_deps "$p"
done
for d in "${libdirs[@]}"; do
  # Keep SONAME symlinks as symlinks (libcuda.so.1 -> libcuda.so.1.x ...).
  find "$d" -maxdepth 1 \( -type f -o -type l \) -name '*.so*' -exec cp -P {} "$root/opt/vgpu/lib/" \;
  while IFS= read -r f; do copy_deps "$f"; done < <(find "$d" -maxdepth 1 -type f -name '*.so*')
done
for spec in "${files[@]}"; do
  src=${spec%%:*}
  dst=${spec#*:}
  [ "$dst" != "$spec" ] || dst=/opt/vgpu/$(basename "$src")
  mkdir -p "$root$(dirname "$dst")"
  cp -L "$src" "$root$dst"
done

printf '%s\n' "$cmd" >"$root/etc/vgpu-vm-cmd"
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/opt/vgpu/bin:/bin:/sbin
export LD_LIBRARY_PATH=/opt/vgpu/lib
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs tmpfs /tmp
# The console starts with terminal escapes from the firmware: a fresh line.
echo
echo "VGPU-VM: guest up: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpu(s), uptime $(cut -d' ' -f1 /proc/uptime) s"
cmd=$(cat /etc/vgpu-vm-cmd)
echo "VGPU-VM: running: $cmd"
sh -c "$cmd"
rc=$?
if [ $rc -eq 0 ]; then
  echo "VGPU-VM-RESULT: PASS"
else
  echo "VGPU-VM-RESULT: FAIL rc=$rc"
fi
sync
poweroff -f
EOF
chmod 755 "$root/init"

(cd "$root" && find . | sort | cpio -o -H newc --quiet) | gzip -1 >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
cp "$kdir/vmlinuz" "$out/vmlinuz"
echo "$kver" >"$out/kernel-version"
echo "build_initramfs: kernel $kver, initramfs $(du -k "$out/initramfs.cpio.gz" | cut -f1) KiB in $out" >&2
