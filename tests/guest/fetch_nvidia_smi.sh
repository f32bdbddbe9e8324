#!/usr/bin/env bash
# Fetches NVIDIA's nvidia-smi (Debian non-free's package; 535 in bookworm) into
# .cache/nvidia-smi/ for tests/guest/nvidia_smi_test.sh, without touching the
# system's apt sources: apt-get download with a private sources list and
# state under .cache/nvidia-smi/apt. Only the binary is used (it dlopens
# libnvidia-ml.so.1, which the test points at ours).
#   tests/guest/fetch_nvidia_smi.sh            -> .cache/nvidia-smi/nvidia-smi
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=.cache/nvidia-smi
[ -x "$DIR/nvidia-smi" ] && { echo "$DIR/nvidia-smi"; exit 0; }
A=$DIR/apt
mkdir -p "$A/lists/partial" "$A/cache/archives/partial"
# The machine's own Debian mirror and suite (from its apt sources), with the
# non-free component the package lives in.
uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
suite=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
[ -n "$uri" ] && [ -n "$suite" ] || { echo "fetch_nvidia_smi: no Debian apt source found" >&2; exit 1; }
echo "deb $uri $suite non-free" >"$A/sources.list"
O=(-o "Dir::Etc::SourceList=$PWD/$A/sources.list" -o Dir::Etc::SourceParts=/dev/null
   -o "Dir::State::Lists=$PWD/$A/lists" -o "Dir::Cache=$PWD/$A/cache" -o APT::Sandbox::User=root)
apt-get "${O[@]}" update -qq
(cd "$A" && apt-get "${O[@]}" download nvidia-smi >/dev/null)
dpkg-deb -x "$A"/nvidia-smi_*.deb "$A/x"
cp "$A/x/usr/lib/nvidia/current/nvidia-smi" "$DIR/nvidia-smi"
echo "$DIR/nvidia-smi"
