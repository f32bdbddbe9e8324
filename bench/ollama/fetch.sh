#!/usr/bin/env bash
# On the dev machine (network: the Go module proxy): the real Ollama, from its
# source, as far as this machine can build it, and what the GPU machine needs
# to build the rest. Nothing of Ollama is committed; everything lands in the
# git-ignored .cache/.
#
#   OLLAMA_GIT=/path/to/ollama.git bench/ollama/fetch.sh
#
# OLLAMA_GIT is a git directory of Ollama's public repository (the session's
# `fetch github:ollama/ollama` gives one; a plain `git clone --bare` does too).
# OLLAMA_VERSION (default v0.24.0: the newest release whose CUDA backend is
# built from the ggml it vendors, with the "CUDA 13" CMake preset; from v0.30
# on Ollama fetches llama.cpp at build time, which the GPU machine cannot).
#
# What it leaves:
#   .cache/ollama/src/             the release's source (blobs a partial clone lacks,
#                                  test data only, are skipped and listed)
#   .cache/ollama/bin/ollama       the Go binary, built as Ollama's docs say (go build .)
#   .cache/ollama-carry/           WHAT TO CARRY to the GPU machine:
#       ollama.xz                  the Go binary, compressed
#       ggml-src.tar.gz            CMakeLists.txt, CMakePresets.json, cmake/ and the
#                                  vendored ggml: what Ollama's CPU and CUDA presets build
#       VERSION
# Idempotent: each step is skipped when its output is there (FORCE=1 redoes all).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
V=${OLLAMA_VERSION:-v0.24.0}
GIT=${OLLAMA_GIT:-/work/.mirror/ollama+ollama/repo}
C=$ROOT/.cache/ollama
CARRY=$ROOT/.cache/ollama-carry
say() { echo "[ollama-fetch] $*" >&2; }
die() { echo "[ollama-fetch] ERROR: $*" >&2; exit 1; }
command -v go >/dev/null || die "go is not installed"
[ "${FORCE:-0}" = 1 ] && rm -rf "$C" "$CARRY"
mkdir -p "$C" "$CARRY"

if [ ! -f "$C/src/go.mod" ] || [ "$(cat "$C/src/.vgpu-version" 2>/dev/null)" != "$V" ]; then
  git --git-dir="$GIT" rev-parse -q --verify "$V^{commit}" >/dev/null ||
    die "$GIT has no $V (OLLAMA_GIT must be a git dir of github.com/ollama/ollama with its tags)"
  say "extracting Ollama $V from $GIT"
  rm -rf "$C/src.new" && mkdir -p "$C/src.new"
  # Blob by blob: a partial clone may lack some blobs; those are skipped.
  python3 - "$GIT" "$V" "$C/src.new" <<'PY'
import os, subprocess, sys
git, rev, dst = sys.argv[1:]
g = ["git", f"--git-dir={git}"]
missing = set(subprocess.run(g + ["rev-list", "--objects", "--missing=print", rev],
                             capture_output=True, text=True).stdout.split())
missing = {m[1:] for m in missing if m.startswith("?")}
entries = []
for e in subprocess.run(g + ["ls-tree", "-r", "-z", rev], capture_output=True, check=True).stdout.split(b"\0"):
    if not e:
        continue
    meta, path = e.split(b"\t", 1)
    mode, kind, sha = meta.decode().split()
    if kind == "blob":
        entries.append((mode, sha, path.decode()))
cat = subprocess.Popen(g + ["cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
skipped = []
for mode, sha, path in entries:
    if sha in missing:
        skipped.append(path)
        continue
    cat.stdin.write(sha.encode() + b"\n"); cat.stdin.flush()
    size = int(cat.stdout.readline().split()[2]); data = cat.stdout.read(size); cat.stdout.read(1)
    out = os.path.join(dst, path)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if mode == "120000":
        os.symlink(data.decode(), out)
    else:
        with open(out, "wb") as f:
            f.write(data)
        if mode == "100755":
            os.chmod(out, 0o755)
print(f"{len(entries) - len(skipped)} files; skipped (not in this clone): {', '.join(skipped) or 'none'}", file=sys.stderr)
PY
  echo "$V" >"$C/src.new/.vgpu-version"
  rm -rf "$C/src" && mv "$C/src.new" "$C/src"
fi

if [ ! -x "$C/bin/ollama" ] || [ "$C/bin/ollama" -ot "$C/src/.vgpu-version" ]; then
  say "go build (Ollama's Go binary with its cgo parts; minutes on 2 cores)"
  mkdir -p "$C/bin"
  (cd "$C/src" && CGO_ENABLED=1 go build -trimpath \
     -ldflags "-s -w -X=github.com/ollama/ollama/version.Version=${V#v}" -o "$C/bin/ollama" .) ||
    die "go build failed (is the Go module proxy reachable?)"
fi
say "built: $("$C/bin/ollama" --version 2>&1 | tail -n1)"

if [ ! -f "$CARRY/ollama.xz" ] || [ "$CARRY/ollama.xz" -ot "$C/bin/ollama" ]; then
  xz -T2 -6 -c "$C/bin/ollama" >"$CARRY/ollama.xz"
  tar -czf "$CARRY/ggml-src.tar.gz" -C "$C/src" CMakeLists.txt CMakePresets.json ml/backend/ggml/ggml \
    $(cd "$C/src" && ls -d cmake 2>/dev/null)
  echo "$V" >"$CARRY/VERSION"
fi
say "carry .cache/ollama-carry ($(du -sh "$CARRY" | cut -f1)) to the GPU machine; there run bench/ollama/gpu_session.sh"
