#!/usr/bin/env bash
# On the dev machine: CuPy's own tests, from the source of the version the GPU
# machine has installed (cupy 14.2.0), for tests/gpu/cupy_suite.sh, into the
# git-ignored .cache/. The GPU machine has no network, so this runs here and
# the tarball travels. Nothing of CuPy is committed.
#
#   CUPY_GIT=/path/to/cupy.git tools/cupy/fetch_tests.sh
#
# CUPY_GIT is a git dir of CuPy's public repository with its tags (the
# session's `fetch github:cupy/cupy` gives /work/.mirror/cupy+cupy/repo, the
# default; a `git clone --bare` does too). CUPY_REV: the tag (default v14.2.0).
# The wheel ships cupy.testing; the test tree (tests/, 4 MB) and pyproject.toml
# (it holds CuPy's pytest settings: markers, strict xfail, warning filters)
# come from the source, blob by blob (blobs a partial clone lacks are skipped
# and listed).
# Leaves .cache/cupy-tests/{src/tests,src/pyproject.toml,VERSION} and WHAT TO CARRY:
#   .cache/cupy-tests-carry/cupy-tests.tar.gz     (under 1 MB)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GIT=${CUPY_GIT:-/work/.mirror/cupy+cupy/repo}
REV=${CUPY_REV:-v14.2.0}
C=$ROOT/.cache/cupy-tests
CARRY=$ROOT/.cache/cupy-tests-carry
say() { echo "[cupy-tests] $*" >&2; }
die() { echo "[cupy-tests] ERROR: $*" >&2; exit 1; }
git --git-dir="$GIT" rev-parse -q --verify "$REV^{commit}" >/dev/null ||
  die "$GIT has no $REV (CUPY_GIT must be a git dir of github.com/cupy/cupy with its tags)"
mkdir -p "$C" "$CARRY"
say "extracting tests/ and pyproject.toml of CuPy $REV from $GIT"
rm -rf "$C/src.new" && mkdir -p "$C/src.new"
python3 - "$GIT" "$REV" "$C/src.new" <<'PY'
import os, subprocess, sys
git, rev, dst = sys.argv[1:]
g = ["git", f"--git-dir={git}"]
entries = []
for e in subprocess.run(g + ["ls-tree", "-r", "-z", rev, "tests/", "pyproject.toml"],
                        capture_output=True, check=True).stdout.split(b"\0"):
    if e:
        meta, path = e.split(b"\t", 1)
        mode, kind, sha = meta.decode().split()
        if kind == "blob":
            entries.append((sha, path.decode()))
cat = subprocess.Popen(g + ["cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
skipped = []
for sha, path in entries:
    cat.stdin.write(sha.encode() + b"\n"); cat.stdin.flush()
    head = cat.stdout.readline().split()
    if len(head) < 3 or head[1] == b"missing":
        skipped.append(path)
        continue
    data = cat.stdout.read(int(head[2])); cat.stdout.read(1)
    out = os.path.join(dst, path)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(data)
print(f"{len(entries) - len(skipped)} files", file=sys.stderr)
if skipped:
    print(f"skipped (not in this clone): {', '.join(skipped)}", file=sys.stderr)
PY
rm -rf "$C/src" && mv "$C/src.new" "$C/src"
echo "$REV" >"$C/VERSION"
tar -czf "$CARRY/cupy-tests.tar.gz" -C "$ROOT/.cache" --exclude=__pycache__ cupy-tests/src cupy-tests/VERSION
say "carry .cache/cupy-tests-carry ($(du -sh "$CARRY" | cut -f1)) to the GPU machine; there run tests/gpu/cupy_suite.sh"
