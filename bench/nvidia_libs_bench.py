"""NVIDIA-library benchmarks for bench/nvidia_libs_bench.sh: one process runs
one part; the shell script runs each part natively and through vgpu and
`compare` prints the ratios.

  python3 nvidia_libs_bench.py run OUT.json {fft|conv|elementwise}
  python3 nvidia_libs_bench.py compare NATIVE_DIR VGPU_DIR

fft:         CuPy cp.fft.fft of 2^24 complex64 (cuFFT; the plan is cached after
             the first call)
conv:        torch conv2d forward, fp16, batch 64, 256 -> 256 channels, 3x3,
             56x56, padding 1 (cuDNN, cudnn.benchmark on in both runs)
elementwise: a CuPy ElementwiseKernel (NVRTC) over 2^26 float32, 200 launches
Each: warm-up, then REPEATS (5) timed rounds of ITERS back-to-back calls with
one synchronize at the end of the round (wall clock: what an application
sees, remoting included); the median round gives ms per call. A checksum of
the last output lets the two runs be compared for equal results.
"""
import json
import os
import statistics
import sys
import time

REPEATS = int(os.environ.get("REPEATS", "5"))


def rounds(call, sync, iters, warm=5):
    for _ in range(warm):
        call()
    sync()
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(iters):
            out = call()
        sync()
        times.append((time.perf_counter() - t0) / iters)
    return statistics.median(times) * 1e3, min(times) * 1e3, out


def bench_fft():
    import cupy as cp
    n = 1 << 24
    g = cp.random.default_rng(1)
    x = (g.standard_normal(n, dtype=cp.float32) + 1j * g.standard_normal(n, dtype=cp.float32)).astype(cp.complex64)
    sync = cp.cuda.Device().synchronize
    med, best, out = rounds(lambda: cp.fft.fft(x), sync, int(os.environ.get("FFT_ITERS", "100")))
    return {"what": "cp.fft.fft 2^24 complex64", "ms": med, "best_ms": best,
            "checksum": float(cp.abs(out[:4096]).sum())}


def bench_conv():
    import torch
    import torch.nn.functional as F
    torch.backends.cudnn.benchmark = True
    g = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(64, 256, 56, 56, device="cuda", dtype=torch.float16, generator=g)
    w = torch.randn(256, 256, 3, 3, device="cuda", dtype=torch.float16, generator=g) * 0.02
    with torch.no_grad():
        med, best, out = rounds(lambda: F.conv2d(x, w, padding=1), torch.cuda.synchronize,
                                int(os.environ.get("CONV_ITERS", "50")), warm=10)
    flop = 2 * 64 * 256 * 256 * 9 * 56 * 56
    return {"what": "torch conv2d fp16 64x256x56x56, 3x3, 256 out", "ms": med, "best_ms": best,
            "tflops": flop / (med * 1e-3) / 1e12, "cudnn": torch.backends.cudnn.version(),
            "checksum": float(out[0, :4].float().abs().sum())}


def bench_elementwise():
    import cupy as cp
    n = 1 << 26
    k = cp.ElementwiseKernel("float32 x, float32 y, float32 a", "float32 z",
                             "z = a * x + y * y - 0.5f", "vgpu_bench_axpy2")
    g = cp.random.default_rng(2)
    x, y = g.standard_normal(n, dtype=cp.float32), g.standard_normal(n, dtype=cp.float32)
    z = cp.empty_like(x)
    a = cp.float32(1.5)
    med, best, _ = rounds(lambda: k(x, y, a, z), cp.cuda.Device().synchronize,
                          int(os.environ.get("EW_ITERS", "200")))
    return {"what": "CuPy ElementwiseKernel 2^26 float32, 200 launches", "ms": med, "best_ms": best,
            "gb_per_s": 3 * 4 * n / (med * 1e-3) / 1e9, "checksum": float(z[:4096].sum())}


PARTS = {"fft": bench_fft, "conv": bench_conv, "elementwise": bench_elementwise}
LABEL = {"fft": "cuFFT (CuPy fft, 2^24 c64)", "conv": "cuDNN conv2d fp16 (torch)",
         "elementwise": "CuPy ElementwiseKernel 2^26 f32"}


def compare(ndir, vdir):
    rows, ok = [], True
    for part in PARTS:
        def load(d):
            try:
                return json.load(open(os.path.join(d, part + ".json")))
            except (OSError, ValueError):
                return None
        n, v = load(ndir), load(vdir)
        if not n or not v or "ms" not in n or "ms" not in v:
            why = lambda r: "no result" if not r else r.get("error", "no result")[:80]
            rows.append(f"| {LABEL[part]} | {why(n) if not n or 'ms' not in n else '%.3f' % n['ms']} | "
                        f"{why(v) if not v or 'ms' not in v else '%.3f' % v['ms']} | - | - |")
            ok = False
            continue
        r = n["ms"] / v["ms"]
        # cudnn.benchmark may pick another algorithm in each run: fp16 sums then differ a little.
        tol = 1e-2 if part == "conv" else 1e-5
        same = "same" if abs(n["checksum"] - v["checksum"]) <= tol * max(1.0, abs(n["checksum"])) else \
            f"DIFFERENT ({n['checksum']:.6g} vs {v['checksum']:.6g})"
        rows.append(f"| {LABEL[part]} | {n['ms']:.3f} | {v['ms']:.3f} | **{r:.3f}** (target >= 0.95) | {same} |")
        ok = ok and r >= 0.95 and same == "same"
    print("| benchmark | native ms/call | vgpu ms/call | vgpu speed / native | result |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    out, part = sys.argv[2], sys.argv[3]
    try:
        res = PARTS[part]()
    except Exception as e:  # written down, so the table says why
        import traceback
        traceback.print_exc()
        res = {"error": (str(e).splitlines() or [type(e).__name__])[0][:200]}
    print(part, json.dumps(res))
    with open(out, "w") as f:
        json.dump(res, f)
