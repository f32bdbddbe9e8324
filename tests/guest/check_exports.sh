#!/usr/bin/env bash
# Checks one built guest library: its SONAME, and that it exports (defined,
# in the dynamic symbol table) every wanted symbol with the wanted version:
#   --node NODE   each symbol as name@@NODE (NVIDIA's versioned libraries)
#   --node -      each symbol unversioned (libcuda.so.1, libnvidia-ml.so.1)
# The wanted symbols are a section of required-symbols.txt (--required FILE
# --section NAME) and/or a list (--symbols "a b c").
set -euo pipefail
lib= soname= node= required= section= symbols=
while (($#)); do
  case $1 in
    --lib) lib=$2; shift 2 ;;
    --soname) soname=$2; shift 2 ;;
    --node) node=$2; shift 2 ;;
    --required) required=$2; shift 2 ;;
    --section) section=$2; shift 2 ;;
    --symbols) symbols=$2; shift 2 ;;
    *) echo "check_exports.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -f $lib ]] || { echo "FAIL: $lib was not built" >&2; exit 1; }

got_soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [[ $got_soname != "$soname" ]]; then
  echo "FAIL: $lib has SONAME '$got_soname', want '$soname'" >&2
  exit 1
fi

want=()
if [[ -n $required ]]; then
  if [[ ! -f $required ]]; then
    echo "FAIL: the list of required symbols is missing: $required (tests/data/required-symbols.txt)" >&2
    exit 1
  fi
  mapfile -t want < <(awk -v s="[$section]" '/^\[/ {on = ($0 == s); next} on && NF && $1 !~ /^#/ {print $1}' "$required")
  if ((${#want[@]} == 0)); then
    echo "FAIL: no section [$section] in $required" >&2
    exit 1
  fi
fi
for s in $symbols; do want+=("$s"); done

defined=$(nm -D --defined-only "$lib" | awk '{print $NF}')
missing=()
for s in "${want[@]}"; do
  if [[ $node == - ]]; then
    grep -qxF -- "$s" <<<"$defined" || missing+=("$s")
  else
    grep -qxF -- "$s@@$node" <<<"$defined" || missing+=("$s@@$node")
  fi
done
if ((${#missing[@]})); then
  echo "FAIL: $lib does not export ${#missing[@]} of ${#want[@]} wanted symbols:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
if [[ $node == - ]]; then how=unversioned; else how="as @@$node"; fi
echo "ok: $lib (SONAME $soname) exports all ${#want[@]} wanted symbols $how"
