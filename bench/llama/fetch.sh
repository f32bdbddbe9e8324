#!/usr/bin/env bash
# Fetch llama.cpp's source for the vgpu llama.cpp tests (needs network: run it on
# the dev machine, never on the GPU machine).
#
#   bench/llama/fetch.sh
#
# What it leaves (all under the git-ignored .cache/, nothing is committed):
#   .cache/llama/gitRelease.bundle        llama.cpp as a git bundle (~35 MB), taken from
#                                         the npm package node-llama-cpp@$NODE_LLAMA_CPP_VERSION
#   .cache/llama/llama.cpp.info.json      the package's note of which llama.cpp it is
#   .cache/llama/src/                     a clone of the bundle (~210 MB, stays here)
#   .cache/llama-src/llama.cpp-SHA.tar.gz a trimmed source tree (~6 MB: no docs, models,
#                                         web UI sources or non-CUDA GPU backends; the
#                                         server is in). THIS is what to
#                                         carry to the GPU machine (carry: .cache/llama-src);
#                                         build.sh there unpacks it.
#   .cache/llama-src/COMMIT               the commit that tarball holds
#
# Idempotent: each step is skipped when its output is already there.
# Environment: NODE_LLAMA_CPP_VERSION (default 3.22.1), FORCE=1 to redo everything.
set -euo pipefail

VERSION="${NODE_LLAMA_CPP_VERSION:-3.22.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache/llama"
CARRY="$ROOT/.cache/llama-src"
BUNDLE="$CACHE/gitRelease.bundle"
SRC="$CACHE/src"

log() { printf '[fetch] %s\n' "$*" >&2; }
die() { printf '[fetch] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in npm tar git gzip; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed"
done

if [[ "${FORCE:-0}" == 1 ]]; then
    log "FORCE=1: removing $CACHE/{gitRelease.bundle,src} and $CARRY"
    rm -rf "$BUNDLE" "$SRC" "$CARRY"
fi
mkdir -p "$CACHE" "$CARRY"

# 1. The bundle, from the npm package.
if [[ -s "$BUNDLE" ]] && git bundle list-heads "$BUNDLE" >/dev/null 2>&1; then
    log "bundle already present: $BUNDLE ($(du -h "$BUNDLE" | cut -f1))"
else
    tmp="$(mktemp -d "$CACHE/.npm-XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    log "npm pack node-llama-cpp@$VERSION ..."
    (cd "$tmp" && npm pack --silent "node-llama-cpp@$VERSION" >/dev/null) \
        || die "npm pack node-llama-cpp@$VERSION failed (is the npm registry reachable?)"
    tgz=""
    for f in "$tmp"/node-llama-cpp-*.tgz; do
        if [[ -s "$f" ]]; then tgz="$f"; break; fi
    done
    [[ -n "$tgz" ]] || die "npm pack produced no tarball"
    tar -xzf "$tgz" -C "$tmp" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json \
        || die "the package holds no llama/gitRelease.bundle"
    git bundle list-heads "$tmp/package/llama/gitRelease.bundle" >/dev/null \
        || die "package/llama/gitRelease.bundle is not a valid git bundle"
    mv "$tmp/package/llama/llama.cpp.info.json" "$CACHE/llama.cpp.info.json"
    mv "$tmp/package/llama/gitRelease.bundle" "$BUNDLE.part"
    mv "$BUNDLE.part" "$BUNDLE"
    rm -rf "$tmp"
    trap - EXIT
    log "bundle: $BUNDLE ($(du -h "$BUNDLE" | cut -f1))"
fi
[[ -f "$CACHE/llama.cpp.info.json" ]] && log "package says: $(tr -d ' \n' < "$CACHE/llama.cpp.info.json")"

# 2. A clone (local use: make_model.py --tiny, reading the source).
if [[ -e "$SRC/.git" ]]; then
    log "clone already present: $SRC"
else
    rm -rf "$SRC"
    log "git clone $BUNDLE -> $SRC"
    git -c advice.detachedHead=false clone -q "$BUNDLE" "$SRC"
fi
commit="$(git -C "$SRC" rev-parse HEAD)"
log "llama.cpp commit $commit"

# 3. The trimmed source tarball to carry to the GPU machine.
short="${commit:0:12}"
tarball="$CARRY/llama.cpp-$short.tar.gz"
# A tarball from before the server was kept (tools/server missing) is made again; that
# needs only the clone, no network.
if [[ -s "$tarball" ]] && gzip -t "$tarball" 2>/dev/null \
    && tar -tzf "$tarball" | grep -x 'llama.cpp/tools/server/server.cpp' >/dev/null; then  # (no -q: tar must not die of SIGPIPE under pipefail)
    log "trimmed tarball already present: $tarball ($(du -h "$tarball" | cut -f1))"
else
    # Everything CMake needs for ggml-cuda, llama, common, tools, tests, examples and
    # llama-server stays; left out: documentation, vocab test models, the web UI's
    # sources (the server is built without an embedded UI: LLAMA_BUILD_UI=OFF,
    # LLAMA_USE_PREBUILT_UI=OFF), the server's Python tests, and GPU backends other than
    # CUDA (never configured). Of scripts/ and tools/ui/ only the CMake glue the server's
    # build reads stays.
    excludes=(docs models media benches conversion skills tools/server/tests tools/server/bench)
    keep_ui=" tools/ui/CMakeLists.txt tools/ui/ui.cpp.in tools/ui/ui.h.in scripts/ui-assets.cmake "
    while IFS= read -r e; do
        [[ "$keep_ui" == *" $e "* ]] || excludes+=("$e")
    done < <(git -C "$SRC" ls-tree --name-only HEAD scripts/ tools/ui/)
    for b in blas cann et hexagon hip metal musa opencl openvino rpc sycl virtgpu vulkan \
             webgpu zdnn zendnn; do
        excludes+=("ggml/src/ggml-$b")
    done
    pathspec=(.)
    for e in "${excludes[@]}"; do pathspec+=(":(exclude)$e"); done
    rm -f "$CARRY"/llama.cpp-*.tar.gz
    git -C "$SRC" archive --format=tar --prefix=llama.cpp/ HEAD -- "${pathspec[@]}" \
        | gzip -9 > "$tarball.part"
    mv "$tarball.part" "$tarball"
    log "trimmed tarball: $tarball ($(du -h "$tarball" | cut -f1))"
fi
echo "$commit" > "$CARRY/COMMIT"

log "done. Carry to the GPU machine: .cache/llama-src ($(du -sh "$CARRY" | cut -f1))"
