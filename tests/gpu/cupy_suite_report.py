"""Compares the native and vgpu runs of tests/gpu/cupy_suite.sh from pytest's
junitxml files: per selection, passed/failed/skipped each way, then every test
id whose outcome differs among the tests both runs reached, and how many only
one run reached (a selection cut at its time cap). Exit status 1 when a test
passes natively and fails (or errors) remoted.
    python3 cupy_suite_report.py NATIVE_DIR VGPU_DIR
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    """{test id: passed|failed|error|skipped} of one junitxml file ({} if none)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    res = {}
    for tc in root.iter("testcase"):
        tid = f"{tc.get('classname', '')}::{tc.get('name', '')}"
        kinds = {c.tag for c in tc}
        if "error" in kinds:
            res[tid] = "error"
        elif "failure" in kinds:
            res[tid] = "failed"
        elif "skipped" in kinds:
            res[tid] = "skipped"
        else:
            res[tid] = "passed"
    return res


native_dir, vgpu_dir = sys.argv[1:3]
names = sorted({os.path.splitext(os.path.basename(p))[0]
                for d in (native_dir, vgpu_dir) for p in glob.glob(os.path.join(d, "*.log"))})
count = lambda r, k: sum(v == k for v in r.values())
rows, diffs, worse, only = [], [], 0, 0
for name in names:
    cell = lambda r: ("no junitxml (see its log)" if r is None else
                      f"{count(r, 'passed')} passed, {count(r, 'failed') + count(r, 'error')} failed, "
                      f"{count(r, 'skipped')} skipped")
    nn = outcomes(os.path.join(native_dir, name + ".xml"))
    vv = outcomes(os.path.join(vgpu_dir, name + ".xml"))
    both = sorted(set(nn or {}) & set(vv or {}))
    one = len(set(nn or {}) ^ set(vv or {}))
    only += one
    nd = 0
    for tid in both:
        a, b = nn[tid], vv[tid]
        norm = lambda s: "failed" if s == "error" else s
        if norm(a) != norm(b):
            nd += 1
            diffs.append((name, tid, a, b))
            if a == "passed":
                worse += 1
    rows.append((name, cell(nn), cell(vv), str(len(both)), str(nd), str(one)))

hdr = ("selection", "native", "vgpu", "both ran", "differ", "one run only")
w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
print(line(hdr))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows:
    print(line(r))
if diffs:
    print("\ntests whose outcome differs (selection, id: native -> vgpu):")
    for name, tid, a, b in diffs:
        print(f"  {name}  {tid}: {a} -> {b}")
total = sum(int(r[3]) for r in rows)
print(f"\n{total} tests ran both ways: {len(diffs)} differ, {worse} pass natively and fail remoted; "
      f"{only} ran in one run only (cut at a time cap, or not collected there)")
sys.exit(1 if worse or not total else 0)
