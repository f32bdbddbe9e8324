"""PyTorch checks for tests/gpu/pytorch.sh, run once natively and once through
vgpu. Every case runs on its own (a failure is recorded, never fatal), its
outputs are moved to the CPU and saved, and `compare` prints the table.

  python3 pytorch_check.py run OUT.pt          # all cases, this process's CUDA
  python3 pytorch_check.py case NAME OUT.pt    # one case (expandable_segments runs so, in a child)
  python3 pytorch_check.py compare NATIVE.pt VGPU.pt
"""
import os
import subprocess
import sys
import time
import traceback

import torch

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def rand(*shape, dtype=torch.float32, seed=0):
    # Inputs are made on the CPU (same bits natively and remoted), then copied.
    return torch.randn(*shape, generator=gen(seed)).to(dtype).cuda()


@case
def device_query():
    p = torch.cuda.get_device_properties(0)
    free, total = torch.cuda.mem_get_info()
    return {"name": p.name, "capability": (p.major, p.minor), "total_memory": p.total_memory,
            "sm_count": p.multi_processor_count, "count": torch.cuda.device_count(),
            "mem_get_info_total": total, "free_le_total": free <= total}


@case
def elementwise():
    x, y = rand(1 << 16, seed=1), rand(1 << 16, seed=2)
    return {"axpy": x * 2.5 + y, "exp": torch.exp(x), "sin": torch.sin(x), "where": torch.where(x > 0, x, y),
            "gelu": torch.nn.functional.gelu(x), "half": (x.half() * y.half()), "int": (x * 100).int() // 7}


@case
def reductions():
    x = rand(512, 1024, seed=3)
    return {"sum": x.sum(), "mean_dim": x.mean(dim=1), "max": x.max(dim=0).values, "argmax": x.argmax(dim=1),
            "cumsum": x.cumsum(dim=1), "norm": torch.linalg.vector_norm(x, dim=0), "var": x.var(dim=1)}


@case
def indexing():
    x = rand(1000, 64, seed=4)
    idx = torch.randint(0, 1000, (300,), generator=gen(5)).cuda()
    y = x.clone()
    y[idx[:50]] = 0.5
    return {"index_select": x.index_select(0, idx), "gather": x.gather(1, (idx[:64] % 64).view(1, -1).expand(10, -1)),
            "fancy": x[idx, 3:9], "masked": x[x > 1.5], "index_put": y}


def mm_case(dtype, tf32=False):
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        a, b = rand(512, 384, dtype=dtype, seed=6), rand(384, 256, dtype=dtype, seed=7)
        return {"mm": a @ b, "mm_t": a[:256].t() @ a[:256, :256]}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev


@case
def matmul_fp32():
    return mm_case(torch.float32)


@case
def matmul_tf32():
    return mm_case(torch.float32, tf32=True)


@case
def matmul_fp16():
    return mm_case(torch.float16)


@case
def matmul_bf16():
    return mm_case(torch.bfloat16)


@case
def linear_bias():
    out = {}
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        torch.manual_seed(8)
        lin = torch.nn.Linear(384, 256).to(dtype).cuda()
        x = rand(64, 384, dtype=dtype, seed=9)
        out[str(dtype)] = lin(x)
        out[str(dtype) + "_gelu"] = torch.nn.functional.gelu(lin(x), approximate="tanh")
    return out


@case
def bmm_baddbmm():
    a, b, c = rand(8, 64, 32, seed=10), rand(8, 32, 48, seed=11), rand(8, 64, 48, seed=12)
    return {"bmm": torch.bmm(a, b), "baddbmm": torch.baddbmm(c, a, b, beta=0.5, alpha=2.0),
            "bmm_fp16": torch.bmm(a.half(), b.half())}


@case
def softmax_layernorm():
    x = rand(64, 1000, seed=13)
    ln = torch.nn.LayerNorm(1000).cuda()
    return {"softmax": torch.softmax(x, dim=-1), "log_softmax": torch.log_softmax(x, dim=-1), "layer_norm": ln(x),
            "softmax_fp16": torch.softmax(x.half(), dim=-1)}


def sdpa(backend):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    q, k, v = (rand(2, 8, 128, 64, dtype=torch.float16, seed=s) for s in (14, 15, 16))
    with sdpa_kernel([getattr(SDPBackend, backend)]):
        return {"out": torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)}


@case
def sdpa_math():
    return sdpa("MATH")


@case
def sdpa_flash():
    return sdpa("FLASH_ATTENTION")


@case
def sdpa_mem_efficient():
    return sdpa("EFFICIENT_ATTENTION")


@case
def randn_on_device():
    torch.cuda.manual_seed(17)
    return {"randn": torch.randn(4096, device="cuda"), "rand": torch.rand(1000, device="cuda"),
            "randint": torch.randint(0, 100, (1000,), device="cuda")}


@case
def cuda_graph():
    torch.manual_seed(18)
    lin = torch.nn.Linear(256, 256).cuda()
    static_in = rand(32, 256, seed=19)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):  # warm up on a side stream, as PyTorch's docs do
        for _ in range(3):
            lin(static_in).relu()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        static_out = (lin(static_in).relu() * 2).sum(dim=1)
    outs = {}
    for i in range(3):
        static_in.copy_(rand(32, 256, seed=20 + i))
        g.replay()
        outs[f"replay{i}"] = static_out.clone()
    torch.cuda.synchronize()
    return outs


@case
def expandable_segments():
    # The allocator setting must be there before CUDA starts: a child process.
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".pt", delete=False) as f:
        path = f.name
    env = dict(os.environ, PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True")
    r = subprocess.run([sys.executable, __file__, "case", "expandable_child", path], env=env,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError((r.stderr or r.stdout).strip().splitlines()[-1])
    res = torch.load(path)
    os.unlink(path)
    if not res["ok"]:
        raise RuntimeError(res["error"])
    return res["out"]


def expandable_child():
    bufs = [torch.empty(n << 20, dtype=torch.uint8, device="cuda") for n in (8, 64, 200)]
    del bufs[1]
    x = rand(1024, 1024, seed=21)
    y = x @ x
    snap = torch.cuda.memory_snapshot()
    return {"y": y, "expandable": any(s.get("is_expandable") for s in snap)}


@case
def torch_compile():
    torch.manual_seed(22)
    model = torch.nn.Sequential(torch.nn.Linear(128, 256), torch.nn.GELU(), torch.nn.Linear(256, 64)).cuda()
    x = rand(32, 128, seed=23)
    out = {"eager": model(x)}
    for mode in ("default", "reduce-overhead"):
        torch._dynamo.reset()
        f = torch.compile(model, mode=mode)
        for _ in range(3):
            y = f(x)
        out[mode] = y.clone()
    return out


@case
def gpt2_generate():
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(24)
    cfg = GPT2Config()  # GPT-2 small's shape, random weights
    model = GPT2LMHeadModel(cfg).eval()  # made on the CPU: the same weights natively and remoted
    model = model.cuda()
    prompt = torch.randint(0, cfg.vocab_size, (1, 16), generator=gen(25)).cuda()
    with torch.no_grad():
        tokens = model.generate(prompt, max_new_tokens=64, do_sample=False, min_new_tokens=64,
                                pad_token_id=cfg.eos_token_id)
        logits = model(prompt).logits
    return {"tokens": tokens, "logits": logits}


@case
def memory_stats():
    torch.cuda.synchronize()
    s = torch.cuda.memory_stats()
    x = torch.empty(10 << 20, dtype=torch.uint8, device="cuda")
    after = torch.cuda.memory_allocated()
    del x
    return {"allocated_grows_by_10MiB": after - s["allocated_bytes.all.current"] >= 10 << 20,
            "num_alloc_retries": s["num_alloc_retries"], "num_ooms": s["num_ooms"]}


def cudnn_deterministic(fn):
    # cuDNN picks its algorithms by timing unless told not to: fixed, deterministic
    # ones give the same bits natively and remoted.
    def wrapped():
        prev = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        try:
            return fn()
        finally:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev
    wrapped.__name__ = fn.__name__
    return wrapped


@case
@cudnn_deterministic
def cudnn_conv2d():
    # Forward and backward (data and weight gradients) through cuDNN, fp32 and fp16 (channels last).
    assert torch.backends.cudnn.is_available(), "cuDNN is not available"
    out = {"cudnn_version": torch.backends.cudnn.version()}
    for dtype, fmt in ((torch.float32, torch.contiguous_format), (torch.float16, torch.channels_last)):
        torch.manual_seed(30)
        conv = torch.nn.Conv2d(16, 32, 3, padding=1).to(dtype).cuda().to(memory_format=fmt)
        x = rand(4, 16, 32, 32, dtype=dtype, seed=31).to(memory_format=fmt).requires_grad_()
        y = conv(x)
        y.square().sum().backward()
        k = str(dtype)
        out.update({k + "_y": y, k + "_dx": x.grad, k + "_dw": conv.weight.grad, k + "_db": conv.bias.grad})
    return out


@case
@cudnn_deterministic
def cudnn_batch_norm():
    # Training-mode batch norm (cuDNN's kernels for 4-d input), its backward and running statistics, then eval.
    torch.manual_seed(32)
    bn = torch.nn.BatchNorm2d(32).cuda()
    x = rand(8, 32, 16, 16, seed=33).requires_grad_()
    y = bn(x)
    (y * rand(8, 32, 16, 16, seed=34)).sum().backward()
    bn.eval()
    return {"y": y, "dx": x.grad, "dweight": bn.weight.grad, "dbias": bn.bias.grad, "running_mean": bn.running_mean,
            "running_var": bn.running_var, "eval": bn(rand(2, 32, 16, 16, seed=35))}


@case
def sdpa_cudnn():
    # SDPA with cuDNN's attention (forward and backward), as PyTorch picks it on Hopper.
    from torch.nn.attention import SDPBackend, sdpa_kernel
    q, k, v = (rand(2, 8, 128, 64, dtype=torch.bfloat16, seed=s).requires_grad_() for s in (36, 37, 38))
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.float().square().sum().backward()
    return {"out": out, "dq": q.grad, "dk": k.grad, "dv": v.grad}


def to_cpu(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu()
    if isinstance(v, dict):
        return {k: to_cpu(x) for k, x in v.items()}
    return v


def run_one(fn):
    t0 = time.perf_counter()
    try:
        out = to_cpu(fn())
        torch.cuda.synchronize()
        return {"ok": True, "out": out, "ms": (time.perf_counter() - t0) * 1e3, "error": ""}
    except Exception as e:  # recorded, the other cases still run
        line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        tb = traceback.format_exc(limit=3)
        return {"ok": False, "out": {}, "ms": (time.perf_counter() - t0) * 1e3, "error": f"{type(e).__name__}: {line}",
                "traceback": tb}


# torch.testing's default tolerances by dtype (rtol, atol).
TOL = {torch.float16: (1e-3, 1e-5), torch.bfloat16: (1.6e-2, 1e-5), torch.float32: (1.3e-6, 1e-5),
       torch.float64: (1e-7, 1e-7)}


def compare_value(a, b, name):
    """'bit-equal', 'close (...)', or 'DIFF ...'."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"DIFF {name}: {tuple(a.shape)}/{a.dtype} vs {tuple(b.shape)}/{b.dtype}"
        if torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.nan_to_num(), b.nan_to_num())):
            return "bit-equal"
        if not a.is_floating_point():
            return f"DIFF {name}: {(a != b).sum().item()} of {a.numel()} differ"
        rtol, atol = TOL.get(a.dtype, (1e-5, 1e-8))
        err = (a.double() - b.double()).abs().max().item()
        if torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol):
            return f"close ({err:.2g})"
        return f"DIFF {name}: max err {err:.3g}"
    return "bit-equal" if a == b else f"DIFF {name}: {a!r} vs {b!r}"


def compare(native_path, vgpu_path):
    nat, vg = torch.load(native_path), torch.load(vgpu_path)
    rows, bad, native_failed = [], 0, 0
    for name in nat:
        n = nat[name]
        v = vg.get(name, {"ok": False, "error": "not reached (the vgpu run ended before it)", "ms": float("nan"),
                          "out": {}})
        if not n["ok"]:
            verdict = "native failed: " + n["error"]
            native_failed += 1
        elif not v["ok"]:
            verdict = "FAIL: " + v["error"]
            bad += 1
        else:
            results = [compare_value(n["out"][k], v["out"].get(k), k) for k in n["out"]]
            diffs = [r for r in results if r.startswith("DIFF")]
            if diffs:
                verdict, bad = "; ".join(diffs)[:110], bad + 1
            elif all(r == "bit-equal" for r in results):
                verdict = "bit-equal"
            else:
                verdict = "within tolerance " + max((r for r in results if r.startswith("close")), key=len)[5:]
        rows.append((name, "ok" if n["ok"] else "FAIL", "ok" if v["ok"] else "FAIL", verdict, n["ms"], v["ms"]))
    for name, v in vg.items():
        if not v["ok"] and v.get("traceback"):
            print(f"--- vgpu {name}:\n{v['traceback']}")
    print()
    print(f"| {'case':<20} | native | vgpu | {'vgpu vs native':<60} | native ms | vgpu ms |")
    print(f"|{'-' * 22}|--------|------|{'-' * 62}|-----------|---------|")
    for name, a, b, verdict, tn, tv in rows:
        print(f"| {name:<20} | {a:<6} | {b:<4} | {verdict[:60]:<60} | {tn:9.1f} | {tv:7.1f} |")
    ran = len(rows) - native_failed
    print(f"\n{ran - bad} of {ran} cases that run natively match through vgpu; {bad} differ or fail"
          + (f"; {native_failed} fail natively too (not counted)" if native_failed else ""))
    return 1 if bad else 0


def main():
    cmd = sys.argv[1]
    if cmd == "run":
        results = {}
        for fn in CASES:
            results[fn.__name__] = r = run_one(fn)
            print(f"{fn.__name__:<20} {'ok' if r['ok'] else 'FAIL ' + r['error']} ({r['ms']:.0f} ms)", flush=True)
            torch.save(results, sys.argv[2])  # after every case: a run cut short still leaves what it did
    elif cmd == "case":
        fn = {"expandable_child": expandable_child}.get(sys.argv[2]) or next(f for f in CASES if f.__name__ == sys.argv[2])
        torch.save(run_one(fn), sys.argv[3])
    elif cmd == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))


if __name__ == "__main__":
    main()
