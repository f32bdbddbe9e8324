#!/usr/bin/env bash
# Checks one of our CUDA 12 guest libraries against NVIDIA's own file of the
# same name (from the CUDA 12 wheels, tools/cuda/): the same SONAME, and every
# symbol of a required-symbols.txt section that NVIDIA's library exports is
# exported by ours with the same version node (cudaMalloc@@libcudart.so.12),
# so a program linked against NVIDIA's binds to ours unchanged. Symbols that
# NVIDIA's CUDA 12 library lacks (CUDA 13 additions) are counted, not required.
#   --ours LIB --nvidia LIB --required FILE --section NAME
set -euo pipefail
ours= nvidia= required= section=
while (($#)); do
  case $1 in
    --ours) ours=$2; shift 2 ;;
    --nvidia) nvidia=$2; shift 2 ;;
    --required) required=$2; shift 2 ;;
    --section) section=$2; shift 2 ;;
    *) echo "compare_nvidia_exports.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for f in "$ours" "$nvidia" "$required"; do [[ -f $f ]] || { echo "FAIL: $f is missing" >&2; exit 1; }; done

soname() { readelf -d "$1" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'; }
if [[ $(soname "$ours") != "$(soname "$nvidia")" ]]; then
  echo "FAIL: SONAME '$(soname "$ours")' of $ours differs from NVIDIA's '$(soname "$nvidia")'" >&2
  exit 1
fi

mapfile -t want < <(awk -v s="[$section]" '/^\[/ {on = ($0 == s); next} on && NF && $1 !~ /^#/ {print $1}' "$required")
((${#want[@]})) || { echo "FAIL: no section [$section] in $required" >&2; exit 1; }
# name -> name@@NODE (the default version), for each library.
declare -A theirs mine
while read -r s; do theirs[${s%%@*}]=$s; done < <(nm -D --defined-only "$nvidia" | awk '{print $NF}' | grep '@@')
while read -r s; do mine[${s%%@*}]=$s; done < <(nm -D --defined-only "$ours" | awk '{print $NF}')

bad=() checked=0 newer=0
for s in "${want[@]}"; do
  if [[ -z ${theirs[$s]:-} ]]; then
    newer=$((newer + 1))
    continue
  fi
  checked=$((checked + 1))
  [[ ${mine[$s]:-} == "${theirs[$s]}" ]] || bad+=("${theirs[$s]} (ours: ${mine[$s]:-missing})")
done
if ((${#bad[@]})); then
  echo "FAIL: $ours differs from NVIDIA's $(soname "$nvidia") in ${#bad[@]} of $checked symbols:" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "ok: $ours exports all $checked [$section] symbols NVIDIA's $(soname "$nvidia") has, with its version nodes" \
     "($newer more are CUDA 13 additions NVIDIA's CUDA 12 library lacks)"
