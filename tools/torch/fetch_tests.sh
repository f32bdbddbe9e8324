#!/usr/bin/env bash
# On the dev machine (network: PyPI): what tests/gpu/pytorch_suite.sh needs on
# the GPU machine, which has no network, into the git-ignored .cache/:
#   * expecttest (torch.testing._internal.common_utils imports it; the GPU
#     machine's venv may lack it), pip-installed into a folder of its own;
#   * when a git dir of PyTorch's public repository is given, the chosen test
#     files of the installed version's source, blob by blob (a partial clone
#     may lack some blobs: those are skipped and listed), plus every test/
#     module they import.
# Nothing of PyTorch is committed.
#
#   TORCH_GIT=/path/to/pytorch.git tools/torch/fetch_tests.sh      (or without TORCH_GIT: expecttest only)
#
# TORCH_REV: the revision (default: the git commit the installed torch was
# built from, torch.version.git_version of ${PYTHON:-.cache/torch-venv/bin/python},
# else v2.11.0). TORCH_TEST_FILES: the files (default below).
# Leaves .cache/torch-tests/{pydeps,src/test,VERSION} and WHAT TO CARRY:
#   .cache/torch-tests-carry/torch-tests.tar.gz   (a few MB)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
C=$ROOT/.cache/torch-tests
CARRY=$ROOT/.cache/torch-tests-carry
PY=${PYTHON:-$ROOT/.cache/torch-venv/bin/python}
[ -x "$PY" ] || PY=python3
FILES=${TORCH_TEST_FILES:-test/test_cuda.py test/test_linalg.py test/test_nn.py test/test_matmul_cuda.py test/nn/test_convolution.py}
say() { echo "[torch-tests] $*" >&2; }
die() { echo "[torch-tests] ERROR: $*" >&2; exit 1; }
mkdir -p "$C" "$CARRY"

if [ ! -d "$C/pydeps/expecttest" ]; then
  say "expecttest into $C/pydeps"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$C/pydeps" expecttest ||
    die "pip could not install expecttest (is PyPI reachable?)"
fi

if [ -n "${TORCH_GIT:-}" ]; then
  REV=${TORCH_REV:-$(LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} "$PY" -c 'import torch; print(torch.version.git_version)' 2>/dev/null || echo v2.11.0)}
  git --git-dir="$TORCH_GIT" rev-parse -q --verify "$REV^{commit}" >/dev/null ||
    die "$TORCH_GIT has no $REV (a git dir of PyTorch's repository with that commit or tag; TORCH_REV=... to choose)"
  say "extracting $FILES (and the test/ modules they import) at $REV"
  rm -rf "$C/src.new" && mkdir -p "$C/src.new"
  # shellcheck disable=SC2086
  python3 - "$TORCH_GIT" "$REV" "$C/src.new" $FILES <<'PY'
import os, re, subprocess, sys
git, rev, dst, *want = sys.argv[1:]
g = ["git", f"--git-dir={git}"]
tree = {}
for e in subprocess.run(g + ["ls-tree", "-r", "-z", rev, "test/"], capture_output=True, check=True).stdout.split(b"\0"):
    if e:
        meta, path = e.split(b"\t", 1)
        mode, kind, sha = meta.decode().split()
        if kind == "blob":
            tree[path.decode()] = sha
cat = subprocess.Popen(g + ["cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

def blob(sha):
    cat.stdin.write(sha.encode() + b"\n"); cat.stdin.flush()
    head = cat.stdout.readline().split()
    if len(head) < 3 or head[1] == b"missing":
        return None
    data = cat.stdout.read(int(head[2])); cat.stdout.read(1)
    return data

todo, done, skipped = list(want), set(), []
while todo:
    path = todo.pop()
    if path in done:
        continue
    done.add(path)
    data = blob(tree[path]) if path in tree else None
    if data is None:
        skipped.append(path)
        continue
    out = os.path.join(dst, path)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    open(out, "wb").write(data)
    # Modules of test/ that this file imports by their top-level name (test/ is on sys.path when it runs).
    for mod in re.findall(rb"^\s*(?:from|import)\s+([A-Za-z_][\w.]*)", data, re.M):
        parts = mod.decode().split(".")
        for cand in ("test/" + "/".join(parts) + ".py", "test/" + "/".join(parts) + "/__init__.py",
                     os.path.dirname(path) + "/" + parts[0] + ".py"):
            if cand in tree and cand not in done:
                todo.append(cand)
print(f"{len(done) - len(skipped)} files: {', '.join(sorted(done - set(skipped)))}", file=sys.stderr)
if skipped:
    print(f"skipped (not in this clone or not at this revision): {', '.join(sorted(skipped))}", file=sys.stderr)
PY
  rm -rf "$C/src" && mv "$C/src.new" "$C/src"
  echo "$REV" >"$C/VERSION"
else
  # No stale files from another revision travel: without a source, none.
  rm -rf "$C/src" "$C/VERSION"
  say "no TORCH_GIT: PyTorch's own test files are not extracted (pytorch_suite.sh then runs the OpInfo/ModuleInfo part only)"
fi

tar -czf "$CARRY/torch-tests.tar.gz" -C "$ROOT/.cache" --exclude=__pycache__ torch-tests
say "carry .cache/torch-tests-carry ($(du -sh "$CARRY" | cut -f1)) to the GPU machine; there run tests/gpu/pytorch_suite.sh"
