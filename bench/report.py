#!/usr/bin/env python3
"""Merges the native and vgpu runs of the bench/api programs into one table.

bench/run.sh runs each program (bench_api_calls, _memcpy, _gemm) natively and
through vgpu, alternating the two for ROUNDS rounds, with
--benchmark_out=RAW/<prog>.<side>[.rN].json, and then calls

    report.py --raw RAW --out OUT [--quick] [--gpu NAME] [--driver VER]
              [--run PROG:SIDE:RC[:NOTE]]...

which writes OUT/results.json, OUT/results.md and (with matplotlib)
OUT/bandwidth.png and OUT/latency.png.

    report.py --check OUT/results.json

checks that the vgpu side produced the copy and round-trip rows (the ctest).

With several rounds, each side's row is its best round (highest bandwidth or
throughput, lowest latency): on a machine whose vCPUs differ in speed from
moment to moment (bench/RESULTS.md measured 7-11 us for the same cuBLAS call
on different CPUs of the GPU machine), the best of alternated runs compares
the two sides rather than where the scheduler happened to put them.
"""
import argparse
import datetime
import glob
import json
import os
import re
import sys

PROGRAMS = ["calls", "memcpy", "gemm"]
SIDES = ["native", "vgpu"]
# Copy bandwidth targets are judged from this size up; smaller copies are
# dominated by per-call latency (shown, not judged).
BANDWIDTH_TARGET_MIN_BYTES = 16 << 20
COPY_SIZES_FULL = [4096 * 4**i for i in range(9)]  # 4 KiB .. 256 MiB
COPY_SIZES_QUICK = [4096 * 4**i for i in range(6)]  # 4 KiB .. 4 MiB
GEMM_SIZES_FULL = [256, 512, 1024, 2048, 4096, 8192]
GEMM_SIZES_QUICK = [256]


def expected_names(quick):
    """Benchmark names the programs register (mirrors bench/api/*.cc)."""
    names = {
        "calls": ["roundtrip/cuStreamQuery", "roundtrip/cuCtxSynchronize", "launch/async",
                  "launch/sustained/%d" % (1000 if quick else 10000), "launch/launch_sync"],
        "memcpy": [],
        "gemm": [],
    }
    for d in ("HtoD", "DtoH"):
        for m in ("pinned", "pageable"):
            for o in ("sync", "async"):
                for n in (COPY_SIZES_QUICK if quick else COPY_SIZES_FULL):
                    names["memcpy"].append("memcpy/%s/%s/%s/%d" % (d, m, o, n))
    for k in ("sgemm", "gemmex_f16"):
        for n in (GEMM_SIZES_QUICK if quick else GEMM_SIZES_FULL):
            names["gemm"].append("gemm/%s/%d" % (k, n))
    return names


# ---- reading Google Benchmark JSON (tolerates a run that died half way) ----------------------
def load_benchmark_json(path):
    """Returns (context, [benchmark entries]) or (None, None) if nothing usable."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None, None
    try:
        doc = json.loads(text)
        return doc.get("context", {}), doc.get("benchmarks", [])
    except ValueError:
        pass
    # Partial file: decode the context and every complete benchmark object.
    dec = json.JSONDecoder()
    context = {}
    m = re.search(r'"context"\s*:\s*', text)
    if m:
        try:
            context, _ = dec.raw_decode(text, m.end())
        except ValueError:
            context = {}
    entries = []
    m = re.search(r'"benchmarks"\s*:\s*\[', text)
    if m:
        i = m.end()
        while True:
            while i < len(text) and text[i] in " \t\r\n,":
                i += 1
            if i >= len(text) or text[i] != "{":
                break
            try:
                obj, i = dec.raw_decode(text, i)
            except ValueError:
                break
            entries.append(obj)
    if not m and not context:
        return None, None
    return context, entries


_SUFFIX = re.compile(r"/(iterations|min_time|min_warmup_time|repeats|threads):[^/]*|/(manual_time|real_time)")


def base_name(entry):
    name = entry.get("run_name") or entry.get("name", "")
    return _SUFFIX.sub("", name)


def entry_error(entry):
    if entry.get("error_occurred"):
        return entry.get("error_message") or "error"
    if entry.get("skipped"):
        return entry.get("skip_message") or entry.get("error_message") or "skipped"
    return None


# ---- rows ---------------------------------------------------------------------------------------
def human_size(n):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d %s" % (n >> shift, unit)
    return "%d B" % n


def metrics_for(name):
    """[(metric key, label, unit, scale, higher_is_better, target)] for a benchmark name.

    target: None or (kind, value, text): kind 'abs_max' (vgpu <= value),
    'native_plus_max' (vgpu <= native + value), 'ratio_min' (vgpu/native >= value).
    """
    parts = name.split("/")
    if parts[0] == "roundtrip":
        call = parts[1]
        t50 = ("abs_max", 1.0, "<= 1.0 us") if call == "cuStreamQuery" else None
        return [("p50_us", "null round trip %s p50" % call, "us", 1, False, t50),
                ("p99_us", "null round trip %s p99" % call, "us", 1, False, None)]
    if name == "launch/async":
        return [("p50_us", "launch async: cost to caller p50", "us", 1, False, ("abs_max", 0.5, "<= 0.5 us")),
                ("p99_us", "launch async: cost to caller p99", "us", 1, False, None),
                ("mean_us", "launch async: cost to caller mean", "us", 1, False, None)]
    if parts[0] == "launch" and parts[1] == "sustained":
        return [("launches_per_s", "launch sustained (%s launches, then sync)" % parts[2], "launches/s", 1, True, None)]
    if name == "launch/launch_sync":
        return [("p50_us", "launch + sync p50", "us", 1, False, ("native_plus_max", 1.0, "<= native + 1 us")),
                ("p99_us", "launch + sync p99", "us", 1, False, None)]
    if parts[0] == "memcpy":
        d, mem, mode, n = parts[1], parts[2], parts[3], int(parts[4])
        target = None
        if n >= BANDWIDTH_TARGET_MIN_BYTES:
            target = ("ratio_min", 0.95, ">= 0.95x native") if mem == "pinned" else ("ratio_min", 1.2, ">= 1.2x native")
        return [("bytes_per_s", "memcpy %s %s %s %s" % (d, mem, mode, human_size(n)), "GB/s", 1e-9, True, target)]
    if parts[0] == "gemm":
        kind, n = parts[1], int(parts[2])
        label = {"sgemm": "cublasSgemm", "gemmex_f16": "cublasGemmEx F16->F32"}.get(kind, kind)
        target = ("ratio_min", 0.99, ">= 0.99x native") if n >= 1024 else None
        return [("flops_per_s", "%s n=%d" % (label, n), "TFLOP/s", 1e-12, True, target)]
    return [("real_time", name, "ns/iter", 1, False, None)]


def judge(target, native, vgpu):
    if not target or vgpu is None:
        return None
    kind, value, _ = target
    if kind == "abs_max":
        return "PASS" if vgpu <= value else "MISS"
    if native is None:
        return None
    if kind == "native_plus_max":
        return "PASS" if vgpu <= native + value else "MISS"
    if kind == "ratio_min":
        return "PASS" if native > 0 and vgpu / native >= value else "MISS"
    return None


def build(args):
    runs = {}  # (prog, side) -> {"rc": int, "note": str}; a failed round's answer outlives a later good one
    for spec in args.run or []:
        parts = spec.split(":", 3)
        prog, side, rc = parts[0], parts[1], parts[2]
        run = {"rc": None if rc in ("", "-") else int(rc), "note": parts[3] if len(parts) > 3 else ""}
        old = runs.get((prog, side))
        if old is None or not (old["rc"] or old["note"]):
            runs[(prog, side)] = run

    contexts = {}
    results = {}  # (side, name) -> [entry per round]
    order = expected_names(args.quick)
    rounds = 0
    for prog in PROGRAMS:
        for side in SIDES:
            paths = sorted(glob.glob(os.path.join(args.raw, "%s.%s.r*.json" % (prog, side))))
            paths = paths or [os.path.join(args.raw, "%s.%s.json" % (prog, side))]
            rounds = max(rounds, len(paths))
            for path in paths:
                ctx, entries = load_benchmark_json(path)
                if ctx:
                    contexts.setdefault(side, ctx)
                for e in entries or []:
                    if e.get("run_type", "iteration") != "iteration":
                        continue
                    n = base_name(e)
                    results.setdefault((side, n), []).append(e)
                    if n not in order[prog]:
                        order[prog].append(n)

    def side_note(prog, side):
        """Why a side has no result for a benchmark of `prog` (no entry at all)."""
        r = runs.get((prog, side), {})
        if r.get("note"):
            return r["note"]
        if side == "native":
            return "no native"
        if r.get("rc") not in (None, 0):
            return "vgpu: run failed (rc=%s)" % r["rc"]
        return "vgpu: no result"

    rows = []
    for prog in PROGRAMS:
        for name in order[prog]:
            for metric, label, unit, scale, higher, target in metrics_for(name):
                row = {"name": name, "metric": metric, "label": label, "unit": unit, "higher_is_better": higher,
                       "native": None, "vgpu": None, "native_note": None, "vgpu_note": None}
                for side in SIDES:
                    es = results.get((side, name))
                    if not es:
                        row[side + "_note"] = side_note(prog, side)
                        continue
                    values = [float(e[metric]) * scale for e in es if not entry_error(e) and metric in e]
                    if values:
                        row[side] = max(values) if higher else min(values)
                    else:
                        err = next((entry_error(e) for e in es if entry_error(e)), None)
                        row[side + "_note"] = err or "no %s counter" % metric
                row["ratio"] = row["vgpu"] / row["native"] if row["native"] and row["vgpu"] is not None else None
                row["target"] = target[2] if target else None
                row["status"] = judge(target, row["native"], row["vgpu"])
                rows.append(row)

    vctx = contexts.get("vgpu", {})
    nctx = contexts.get("native", {})
    vdev = vctx.get("cuda_device")
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": bool(args.quick),
        "gpu": args.gpu or nctx.get("cuda_device") or "none on this machine (no native run)",
        "driver": args.driver or "n/a",
        "cuda_driver_api_version": nctx.get("cuda_driver_api_version") or vctx.get("cuda_driver_api_version"),
        "vgpu_device": vdev,
        "vgpu_backend": ("cpu" if vdev and "CPU backend" in vdev else "cuda") if vdev else "unknown",
        "host": nctx.get("host_name") or vctx.get("host_name"),
        "runs": {"%s.%s" % k: v for k, v in runs.items()},
        "rounds": rounds,
        "bandwidth_target_min_bytes": BANDWIDTH_TARGET_MIN_BYTES,
    }
    return {"meta": meta, "rows": rows}


# ---- output ------------------------------------------------------------------------------------
def fmt_value(v, unit):
    if v is None:
        return None
    if unit == "launches/s":
        return "{:,.0f}/s".format(v)
    if unit == "us":
        return ("%.3f us" % v) if v < 10 else ("%.1f us" % v)
    if unit == "GB/s":
        return ("%.3f GB/s" % v) if v < 1 else ("%.2f GB/s" % v)
    if unit == "TFLOP/s":
        return ("%.3f TFLOP/s" % v) if v < 1 else ("%.1f TFLOP/s" % v)
    return "%.4g %s" % (v, unit)


def cell(row, side):
    s = fmt_value(row[side], row["unit"])
    return s if s is not None else (row[side + "_note"] or "-")


def write_markdown(doc, path):
    m = doc["meta"]
    lines = ["# vgpu vs native: API benchmarks", ""]
    lines.append("- GPU: %s, driver %s%s" % (m["gpu"], m["driver"],
                 (", CUDA %s" % m["cuda_driver_api_version"]) if m["cuda_driver_api_version"] else ""))
    lines.append("- vgpu host backend: %s (the guest sees: %s)" % (m["vgpu_backend"], m["vgpu_device"] or "no device"))
    lines.append("- date: %s; host: %s; mode: %s" % (m["date"], m["host"] or "?", "quick (CI smoke run)" if m["quick"] else "full"))
    if m.get("rounds", 1) > 1:
        lines.append("- %d rounds, native and vgpu alternated; each side's value is its best round" % m["rounds"])
    lines.append("- vgpu/native is the ratio of the values (latency: lower is better; bandwidth, TFLOP/s, launches/s: "
                 "higher is better). Copy targets are judged from %s up." % human_size(m["bandwidth_target_min_bytes"]))
    lines.append("")
    lines.append("| benchmark | native | vgpu | vgpu/native | target | result |")
    lines.append("| --- | ---: | ---: | ---: | --- | --- |")
    for r in doc["rows"]:
        ratio = "%.3f" % r["ratio"] if r["ratio"] is not None else "-"
        lines.append("| %s | %s | %s | %s | %s | %s |" % (r["label"], cell(r, "native"), cell(r, "vgpu"), ratio,
                                                          r["target"] or "", r["status"] or ("-" if r["target"] else "")))
    misses = [r["label"] for r in doc["rows"] if r["status"] == "MISS"]
    passes = sum(1 for r in doc["rows"] if r["status"] == "PASS")
    lines.append("")
    lines.append("Targets: %d PASS, %d MISS%s" % (passes, len(misses), (": " + "; ".join(misses)) if misses else ""))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_plots(doc, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("report: matplotlib is not installed; skipping bandwidth.png and latency.png")
        return
    rows = doc["rows"]
    # Bandwidth vs size: one panel per direction x memory kind.
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    for i, d in enumerate(("HtoD", "DtoH")):
        for j, mem in enumerate(("pinned", "pageable")):
            ax = axes[i][j]
            for side, color in (("native", "tab:blue"), ("vgpu", "tab:orange")):
                for mode, style in (("sync", "-"), ("async", "--")):
                    pts = [(int(r["name"].split("/")[4]), r[side]) for r in rows
                           if r["name"].startswith("memcpy/%s/%s/%s/" % (d, mem, mode)) and r[side] is not None]
                    if pts:
                        pts.sort()
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color, marker="o",
                                markersize=3, label="%s %s" % (side, mode))
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: human_size(int(v)) if v >= 1 else ""))
            ax.set_title("%s, %s host memory" % (d, mem))
            ax.set_ylabel("GB/s")
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("bytes per copy (log scale; GB/s also log scale)")
    fig.suptitle("cuMemcpy bandwidth: native vs vgpu (%s; vgpu backend %s)" % (doc["meta"]["gpu"], doc["meta"]["vgpu_backend"]))
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bandwidth.png"), dpi=110)
    plt.close(fig)

    # Latencies: grouped bars.
    lat = [r for r in rows if r["unit"] == "us" and (r["native"] is not None or r["vgpu"] is not None)]
    fig, ax = plt.subplots(figsize=(10, 1 + 0.5 * max(1, len(lat))))
    ys = range(len(lat))
    h = 0.38
    for k, (side, color) in enumerate((("native", "tab:blue"), ("vgpu", "tab:orange"))):
        vals = [r[side] if r[side] is not None else 0 for r in lat]
        ax.barh([y + (k - 0.5) * h for y in ys], vals, height=h, color=color, label=side)
        for y, r in zip(ys, lat):
            if r[side] is not None:
                ax.text(r[side], y + (k - 0.5) * h, " %.2f" % r[side], va="center", fontsize=7)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([r["label"] for r in lat], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("microseconds (lower is better)")
    if any((r["native"] or 0) > 0 or (r["vgpu"] or 0) > 0 for r in lat):
        ax.set_xscale("log")
    ax.legend()
    ax.set_title("call latency: native vs vgpu")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency.png"), dpi=110)
    plt.close(fig)


def check(path):
    """The ctest's assertions: vgpu values for every copy row and the round trips."""
    with open(path) as f:
        doc = json.load(f)
    rows = doc.get("rows", [])
    problems = []
    for prefix in ("memcpy/", "roundtrip/"):
        mine = [r for r in rows if r["name"].startswith(prefix)]
        if not mine:
            problems.append("no %s rows" % prefix)
        for r in mine:
            if not isinstance(r.get("vgpu"), (int, float)):
                problems.append("%s: no vgpu value (%s)" % (r["label"], r.get("vgpu_note")))
    if problems:
        print("report --check: FAILED\n  " + "\n  ".join(problems))
        return 1
    print("report --check: ok (%d rows, vgpu values for all copy and round-trip rows)" % len(rows))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", help="folder with <prog>.<side>.json")
    ap.add_argument("--out", help="folder for results.json/.md and the plots")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--gpu", default="")
    ap.add_argument("--driver", default="")
    ap.add_argument("--run", action="append", help="PROG:SIDE:RC[:NOTE] for each program run")
    ap.add_argument("--check", metavar="RESULTS_JSON")
    args = ap.parse_args()
    if args.check:
        return check(args.check)
    if not args.raw or not args.out:
        ap.error("--raw and --out are required")
    os.makedirs(args.out, exist_ok=True)
    doc = build(args)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
    write_markdown(doc, os.path.join(args.out, "results.md"))
    write_plots(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
