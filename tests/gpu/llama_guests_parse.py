#!/usr/bin/env python3
"""Reads what tests/gpu/llama_guests.sh leaves of N llama-bench processes run at
once, and makes the numbers of its summary.

Each process P leaves P.out (llama-bench -o jsonl: one JSON object per test, with
n_prompt, n_gen, avg_ts, samples_ns, backends) and P.err (its stderr run with
--progress, every line prefixed by the wall-clock time it was read, "EPOCH.US line").
A repetition starts at its progress line ("llama-bench: benchmark B/T: prompt run
I/R" or "... generation run I/R") and lasts samples_ns[I-1], so every repetition of
every process is an interval on one clock.

The aggregate is measured over the same interval for all: from the latest first
repetition start to the earliest last repetition end (the window), each process
counting the tokens of the parts of its repetitions inside the window (at the
repetition's own rate). A process that starts early or ends late, and so runs with
less contention for a while, adds nothing outside the window. The plain sum of the
processes' avg_ts is printed too; `overlap` is the window over the mean span of
the processes (1.0: they ran all the time together).

  llama_guests_parse.py window MODE N TEST PREFIX...   one TSV row (RESULT_FIELDS)
  llama_guests_parse.py summary RESULTS.tsv [MEM.tsv]  the summary block
  llama_guests_parse.py selftest                       checks on made-up output
"""
import json
import os
import re
import sys
import tempfile

RESULT_FIELDS = ["mode", "n", "test", "ok", "window_s", "tokens", "aggregate", "sum_avg", "overlap",
                 "backends", "problem"]
PROGRESS = re.compile(r"benchmark (\d+)/(\d+): (prompt|generation) run (\d+)/(\d+)\s*$")
TARGETS = {("vgpu", "native", 4, "tg128"): 2.5, ("vgpu", "nmps", 4, "tg128"): 0.95}
LABELS = {"native": "native", "nmps": "native+MPS", "vgpu": "vgpu --mps on", "vgpu-off": "vgpu --mps off"}


def test_name(row):
    p, g = int(row.get("n_prompt", 0)), int(row.get("n_gen", 0))
    if g == 0:
        return f"pp{p}"
    if p == 0:
        return f"tg{g}"
    return f"pp{p}+tg{g}"


def read_process(prefix):
    """Returns (tests, problem): tests maps a test name to (reps, avg_ts, backends),
    reps a list of (start, seconds, tokens)."""
    rows = []
    try:
        with open(prefix + ".out", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    except (OSError, ValueError) as e:
        return {}, f"{os.path.basename(prefix)}: no results ({e.__class__.__name__})"
    starts = {}  # (benchmark index, rep) -> first progress time
    try:
        with open(prefix + ".err", errors="replace") as f:
            for line in f:
                stamp, _, rest = line.partition(" ")
                m = PROGRESS.search(rest)
                if not m:
                    continue
                try:
                    t = float(stamp)
                except ValueError:
                    continue
                starts.setdefault((int(m.group(1)), int(m.group(4))), t)
    except OSError as e:
        return {}, f"{os.path.basename(prefix)}: no stderr ({e.__class__.__name__})"
    if not rows:
        return {}, f"{os.path.basename(prefix)}: no results in its output"
    tests = {}
    for b, row in enumerate(rows, start=1):
        samples = row.get("samples_ns") or []
        tokens = int(row.get("n_prompt", 0)) + int(row.get("n_gen", 0))
        reps = []
        for i, ns in enumerate(samples, start=1):
            if (b, i) not in starts:
                return {}, f"{os.path.basename(prefix)}: no progress line for test {b} rep {i} (run with --progress)"
            reps.append((starts[(b, i)], ns / 1e9, tokens))
        tests[test_name(row)] = (reps, float(row.get("avg_ts", 0.0)), str(row.get("backends", "")))
    return tests, ""


def window(procs):
    """procs: a list of reps lists. Returns (window seconds, tokens in it, overlap)."""
    w0 = max(r[0][0] for r in procs)
    w1 = min(r[-1][0] + r[-1][1] for r in procs)
    if w1 <= w0:
        return 0.0, 0.0, 0.0
    tokens = 0.0
    for reps in procs:
        for start, secs, tok in reps:
            inside = min(start + secs, w1) - max(start, w0)
            if inside > 0 and secs > 0:
                tokens += tok * inside / secs
    spans = [r[-1][0] + r[-1][1] - r[0][0] for r in procs]
    return w1 - w0, tokens, (w1 - w0) / (sum(spans) / len(spans))


def cmd_window(mode, n, test, prefixes):
    procs, avgs, backends, problems = [], [], set(), []
    for p in prefixes:
        tests, problem = read_process(p)
        if problem:
            problems.append(problem)
            continue
        if test not in tests:
            problems.append(f"{os.path.basename(p)}: no {test} result (has {','.join(tests) or 'none'})")
            continue
        reps, avg, be = tests[test]
        if not reps:
            problems.append(f"{os.path.basename(p)}: {test} without samples")
            continue
        procs.append(reps)
        avgs.append(avg)
        backends.add(be)
    row = {"mode": mode, "n": n, "test": test, "ok": f"{len(procs)}/{len(prefixes)}", "window_s": "0",
           "tokens": "0", "aggregate": "0", "sum_avg": f"{sum(avgs):.1f}", "overlap": "0",
           "backends": ",".join(sorted(backends)) or "-", "problem": ""}
    if procs:
        secs, tokens, overlap = window(procs)
        row.update(window_s=f"{secs:.3f}", tokens=f"{tokens:.1f}", overlap=f"{overlap:.2f}",
                   aggregate=f"{tokens / secs:.1f}" if secs > 0 else "0")
        if secs <= 0:
            problems.append("the processes' measured intervals do not overlap")
    if any("CUDA" not in b for b in backends):
        problems.append(f"backends {row['backends']}, not CUDA")
    row["problem"] = "; ".join(problems).replace("\t", " ") or "-"
    print("\t".join(str(row[k]) for k in RESULT_FIELDS))
    return 0


def read_tsv(path, fields=None):
    rows = []
    if not path or not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cells = line.split("\t")
            if fields is None:
                rows.append(cells)
            else:
                rows.append(dict(zip(fields, cells + [""] * (len(fields) - len(cells)))))
    return rows


def fnum(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return 0.0


def cmd_summary(results_path, mem_path=None):
    rows = read_tsv(results_path, RESULT_FIELDS)
    agg, problems = {}, []
    modes, ns, tests = [], [], []
    for r in rows:
        n = int(fnum(r["n"]))
        key = (r["mode"], n, r["test"])
        agg[key] = r
        for lst, v in ((modes, r["mode"]), (ns, n), (tests, r["test"])):
            if v not in lst:
                lst.append(v)
        if r["problem"] not in ("", "-"):
            problems.append(f"{r['mode']} x{n} {r['test']}: {r['problem']}")
    ns.sort()
    verdicts = []
    for test in tests:
        print(f"{test}: aggregate tokens/s over the common window (sum of the processes' own averages)")
        hdr = ["N"] + [LABELS.get(m, m) for m in modes]
        ratios = [(v, b) for v in ("vgpu", "vgpu-off") if v in modes for b in ("native", "nmps") if b in modes]
        hdr += [f"{v}/{b}" for v, b in ratios]
        print("| " + " | ".join(hdr) + " |")
        print("|" + " --- |" * len(hdr))
        for n in ns:
            cells = [f"x{n}"]
            for m in modes:
                r = agg.get((m, n, test))
                if r is None:
                    cells.append("-")
                    continue
                cell = f"{fnum(r['aggregate']):,.0f} ({fnum(r['sum_avg']):,.0f})"
                if r["ok"].split("/")[0] != r["ok"].split("/")[-1]:
                    cell += f" [{r['ok']} ok]"
                if 0 < fnum(r["overlap"]) < 0.5:
                    cell += f" [overlap {fnum(r['overlap']):.2f}]"
                cells.append(cell)
            for v, b in ratios:
                a, c = agg.get((v, n, test)), agg.get((b, n, test))
                ratio = fnum(a["aggregate"]) / fnum(c["aggregate"]) if a and c and fnum(c["aggregate"]) > 0 else 0
                cells.append(f"{ratio:.2f}" if ratio else "-")
                target = TARGETS.get((v, b, n, test))
                if target is not None:
                    verdict = "MET" if ratio >= target else "NOT MET"
                    if not ratio:
                        verdict = "NOT MEASURED"
                    verdicts.append(f"target {v}/{b} x{n} {test} >= {target}: {ratio:.2f} {verdict}")
            print("| " + " | ".join(cells) + " |")
        print()
    mem = read_tsv(mem_path, ["mode", "n", "used_mib", "base_mib", "per_proc_mib", "apps"])
    if mem:
        print("GPU memory per process while N ran tg (memory.used over the baseline / N; per-process from nvidia-smi):")
        for m in mem:
            print(f"  {LABELS.get(m['mode'], m['mode'])} x{m['n']}: {m['per_proc_mib']} MiB per process"
                  f" (used {m['used_mib']} MiB, baseline {m['base_mib']} MiB; apps: {m['apps'] or '-'})")
        print()
    for v in verdicts:
        print(v)
    for p in problems:
        print(f"PROBLEM: {p}")
    return 1 if problems or any("NOT" in v for v in verdicts) else 0


def selftest():
    """Made-up llama-bench output of two processes, checked against hand-computed numbers."""
    d = tempfile.mkdtemp(prefix="llama-parse-")

    def write(name, t0, secs, tokens_gen, backends="CUDA"):
        rows = [{"n_prompt": 0, "n_gen": tokens_gen, "avg_ts": tokens_gen / (sum(secs) / len(secs)),
                 "backends": backends, "samples_ns": [int(s * 1e9) for s in secs]}]
        with open(os.path.join(d, name + ".out"), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        with open(os.path.join(d, name + ".err"), "w") as f:
            f.write(f"{t0 - 0.5:.6f} llama-bench: benchmark 1/1: starting\n")
            f.write(f"{t0 - 0.1:.6f} llama-bench: benchmark 1/1: warmup generation run\n")
            t = t0
            for i, s in enumerate(secs, start=1):
                f.write(f"{t:.6f} llama-bench: benchmark 1/1: generation run {i}/{len(secs)}\n")
                t += s
        return os.path.join(d, name)

    # a: reps [100,101) [101,102); b: [100.5,101.5) [101.5,102.5). Window [100.5, 102).
    a = write("a", 100.0, [1.0, 1.0], 128)
    b = write("b", 100.5, [1.0, 1.0], 128)
    tests, problem = read_process(a)
    assert not problem and list(tests) == ["tg128"], (tests, problem)
    secs, tokens, overlap = window([tests["tg128"][0], read_process(b)[0]["tg128"][0]])
    assert abs(secs - 1.5) < 1e-6, secs
    # a: half of rep 1 (64) + all of rep 2 (128); b: all of rep 1 (128) + half of rep 2 (64)
    assert abs(tokens - 384) < 1e-3, tokens
    assert abs(overlap - 0.75) < 1e-6, overlap
    # A process without results and one on the CPU backend are problems, not numbers.
    open(os.path.join(d, "c.out"), "w").close()
    open(os.path.join(d, "c.err"), "w").close()
    cpu = write("e", 100.0, [1.0], 128, backends="CPU")
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cmd_window("vgpu", 3, "tg128", [a, b, os.path.join(d, "c")])
    row = dict(zip(RESULT_FIELDS, buf.getvalue().rstrip("\n").split("\t")))
    assert row["ok"] == "2/3" and abs(float(row["aggregate"]) - 256.0) < 0.1, row
    assert "c: no results" in row["problem"], row
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cmd_window("native", 1, "tg128", [cpu])
    row = dict(zip(RESULT_FIELDS, buf.getvalue().rstrip("\n").split("\t")))
    assert "not CUDA" in row["problem"] and abs(float(row["aggregate"]) - 128.0) < 0.1, row
    # The real printer's shape: llama-bench's jsonl line (fields as it prints them).
    real = ('{"build_commit": "de3ff81", "build_number": 0, "cpu_info": "x", "gpu_info": "NVIDIA H200", '
            '"backends": "CUDA", "model_filename": "m.gguf", "n_prompt": 512, "n_gen": 0, "n_depth": 0, '
            '"test_time": "2026-12-04T10:00:00Z", "avg_ns": 20000000, "stddev_ns": 0, "avg_ts": 25600.0, '
            '"stddev_ts": 0.0, "samples_ns": [ 20000000, 20000000 ],"samples_ts": [ 25600, 25600 ]}\n')
    with open(os.path.join(d, "r.out"), "w") as f:
        f.write(real)
    with open(os.path.join(d, "r.err"), "w") as f:
        f.write("1.000000 llama-bench: benchmark 1/1: warmup prompt run\n"
                "2.000000 llama-bench: benchmark 1/1: prompt run 1/2\n"
                "2.020000 llama-bench: benchmark 1/1: prompt run 2/2\n")
    tests, problem = read_process(os.path.join(d, "r"))
    assert not problem and "pp512" in tests and len(tests["pp512"][0]) == 2, (tests, problem)
    secs, tokens, _ = window([tests["pp512"][0]])
    assert abs(secs - 0.04) < 1e-6 and abs(tokens - 1024) < 1e-6, (secs, tokens)
    # Summary: ratios and target verdicts.
    res = os.path.join(d, "results.tsv")
    with open(res, "w") as f:
        for mode, agg in (("native", 500), ("nmps", 1400), ("vgpu", 1380)):
            f.write("\t".join([mode, "4", "tg128", "4/4", "3", "0", str(agg), str(agg), "0.9", "CUDA", "-"]) + "\n")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cmd_summary(res)
    out = buf.getvalue()
    assert "2.76" in out and "0.99" in out and rc == 0, out
    assert "target vgpu/native x4 tg128 >= 2.5: 2.76 MET" in out, out
    print("llama_guests_parse selftest: OK")
    return 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "window":
        return cmd_window(argv[2], argv[3], argv[4], argv[5:])
    if len(argv) >= 3 and argv[1] == "summary":
        return cmd_summary(argv[2], argv[3] if len(argv) > 3 else None)
    if len(argv) == 2 and argv[1] == "selftest":
        return selftest()
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
