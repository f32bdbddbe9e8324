"""Compares two pytest runs (native, vgpu) of the same selection, test by test,
from pytest -v logs (one line per test as it finishes, so a run cut short
still counts what it reached).

  python3 pytorch_suite_report.py NATIVE_DIR VGPU_DIR
Each DIR holds one NAME.log per selection; prints per selection the counts
each way and every test id whose outcome differs. Exit 1 when any does.
"""
import collections
import os
import re
import sys

# "path::Class::test_name PASSED [ 12%]" and the other outcomes pytest -v prints.
LINE = re.compile(r"^(\S+::\S+) (PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR)\b")
# A test that never printed its outcome: the run ended (timeout, crash) in it.
STARTED = re.compile(r"^(\S+::\S+) ?$")


def outcomes(path):
    res, last_started = {}, None
    if not os.path.exists(path):
        return res, "no log"
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                res.setdefault(m.group(1), m.group(2))  # an ERROR at teardown after PASSED keeps PASSED
                if m.group(2) == "ERROR":
                    res[m.group(1)] = "ERROR"
                continue
            m = STARTED.match(line.rstrip("\n"))
            if m:
                last_started = m.group(1)
    note = ""
    if last_started and last_started not in res:
        res[last_started] = "CRASHED"
        note = f"ended inside {last_started}"
    return res, note


def main(nat_dir, vg_dir):
    names = sorted({f[:-4] for d in (nat_dir, vg_dir) if os.path.isdir(d) for f in os.listdir(d) if f.endswith(".log")})
    total_diff = unreached = 0
    rows = []
    for name in names:
        nat, nnote = outcomes(os.path.join(nat_dir, name + ".log"))
        vg, vnote = outcomes(os.path.join(vg_dir, name + ".log"))
        cn, cv = collections.Counter(nat.values()), collections.Counter(vg.values())
        # Tests one run did not reach (its time ran out) are counted apart, not as differences.
        both = set(nat) & set(vg)
        diff = sorted(t for t in both if nat[t] != vg[t])
        only = (len(set(nat) - both), len(set(vg) - both))
        unreached += only[0]
        total_diff += len(diff)
        rows.append((name, cn, cv, diff, nnote, vnote, nat, vg, only))
    print("| selection | native passed / failed / skipped / other | vgpu passed / failed / skipped / other | differ "
          "| reached by one run only (native, vgpu) |")
    print("| --- | --- | --- | --- | --- |")

    def fmt(c):
        other = sum(v for k, v in c.items() if k not in ("PASSED", "FAILED", "SKIPPED"))
        return f"{c['PASSED']} / {c['FAILED']} / {c['SKIPPED']} / {other}"
    for name, cn, cv, diff, *_, only in rows:
        print(f"| {name} | {fmt(cn)} | {fmt(cv)} | {len(diff)} | {only[0]}, {only[1]} |")
    for name, cn, cv, diff, nnote, vnote, nat, vg, _ in rows:
        for label, note in (("native", nnote), ("vgpu", vnote)):
            if note:
                print(f"{name}: the {label} run {note}")
        for t in diff[:200]:
            print(f"DIFFERS {name}: {t}: native {nat[t]}, vgpu {vg[t]}")
        if len(diff) > 200:
            print(f"DIFFERS {name}: ... and {len(diff) - 200} more")
    print(f"\n{total_diff} test(s) with a different outcome through vgpu" if total_diff else
          "\nevery test that both runs reached has the same outcome natively and through vgpu")
    if unreached:
        print(f"{unreached} test(s) ran natively but were not reached through vgpu (its time ran out or it "
              "crashed: see the selection's vgpu log)")
    return 1 if total_diff or unreached else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
