"""Compares the native and vgpu runs of work.py: one row per check, the
summary table last. Exit status 1 if any check differs or failed remoted
where it passed natively.
    python3 compare.py LOG_DIR FRAMEWORK...
"""
import json
import os
import sys

import numpy as np

log, fws = sys.argv[1], sys.argv[2:]
rows, bad = [], 0
for fw in fws:
    def load(mode):
        p = os.path.join(log, f"{mode}.{fw}.npz")
        try:
            st = json.load(open(p + ".json"))
        except OSError:
            return {}, {"(process)": "error: no results (crashed or timed out; see the log)"}
        return dict(np.load(p, allow_pickle=False)), st

    nv, nst = load("native")
    vg, vst = load("vgpu")
    for name in list(dict.fromkeys(list(nst) + list(vst))):
        n, v = nst.get(name, "absent"), vst.get(name, "absent")
        if n == "ok" and v == "ok":
            a, b = nv[name], vg[name]
            if a.shape != b.shape:
                res, diff = "DIFFERENT", f"shape {a.shape} vs {b.shape}"
            else:
                d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
                diff = "equal" if d == 0 else f"max diff {d:.3g}"
                res = "SAME" if np.allclose(a, b, rtol=1e-5, atol=1e-6) else "DIFFERENT"
        elif n != "ok" and v != "ok":
            res, diff = "BOTH FAIL", ""
        elif n == "ok":
            res, diff = "FAILS REMOTED", ""
        else:
            res, diff = "FAILS NATIVE", ""
        if res in ("DIFFERENT", "FAILS REMOTED"):
            bad += 1
        rows.append((fw, name, n if n == "ok" else n[:60], v if v == "ok" else v[:60], diff, res))

w = [max(len(str(r[i])) for r in rows + [("fw", "check", "native", "vgpu", "diff", "result")]) for i in range(6)]
line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
print(line(("fw", "check", "native", "vgpu", "diff", "result")))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows:
    print(line(r))
same = sum(r[5] == "SAME" for r in rows)
print(f"\n{same}/{len(rows)} checks give native's values remoted; {bad} differ or fail only remoted")
sys.exit(1 if bad else 0)
