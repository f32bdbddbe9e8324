#!/usr/bin/env bash
# On the dev machine (network: npm): a CUDA 12 client nobody here built, for
# tests/gpu/cuda12_client.sh: npm's @lloyal-labs/lloyal.node-linux-x64-cuda
# (llama.cpp as a Node addon; bin/ holds lloyal.node, libllama, libggml-* and a
# 233 MB libggml-cuda.so.0 that links libcudart.so.12 and libcublas.so.12 and
# ships neither). Nothing of it is committed.
#
#   tools/cuda12_client/fetch.sh            (LLOYAL_VERSION, default 3.1.1)
#
# Leaves .cache/cuda12-client/lloyal/package/ and WHAT TO CARRY:
#   .cache/cuda12-client-carry/lloyal-bin.tar.zst   (zstd -19 --long: about 55 MB; see its size)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
V=${LLOYAL_VERSION:-3.1.1}
C=$ROOT/.cache/cuda12-client
CARRY=$ROOT/.cache/cuda12-client-carry
mkdir -p "$C" "$CARRY"
cd "$C"
TGZ=lloyal-labs-lloyal.node-linux-x64-cuda-$V.tgz
[ -f "$TGZ" ] || npm pack "@lloyal-labs/lloyal.node-linux-x64-cuda@$V" >/dev/null
rm -rf lloyal && mkdir lloyal && tar -xzf "$TGZ" -C lloyal
echo "$V" >lloyal/VERSION
tar -cf - -C lloyal package/bin package/package.json VERSION | zstd -q -19 --long=27 -T2 -o "$CARRY/lloyal-bin.tar.zst" -f
echo "[cuda12-client] carry $CARRY ($(du -sh "$CARRY" | cut -f1)); on the GPU machine: tests/gpu/cuda12_client.sh" >&2
