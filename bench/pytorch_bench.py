"""PyTorch benchmarks for bench/pytorch_bench.sh: one process measures, the
shell script runs it natively and through vgpu and `compare` prints ratios.

  python3 pytorch_bench.py run OUT.json [train] [decode]   # default: both
  python3 pytorch_bench.py compare NATIVE.json VGPU.json [EXTRA.json]

train:  the ~110M-parameter decoder of tests/gpu/pytorch_train.py (AdamW, bf16
        autocast, the same deterministic settings): median step time of
        TRAIN_STEPS steps after 5 warm-up steps, each step synchronised.
decode: batch-1 greedy decoding of a small Llama config from transformers
        (random weights, fp16): median per-token latency over DECODE_TOKENS
        tokens, each token synchronised as a serving loop does; eager
        (DynamicCache) and replaying one CUDA graph per token (StaticCache,
        torch.cuda.CUDAGraph; torch.compile(mode="reduce-overhead") if the
        capture fails). The tokens are kept so the two runs can be compared.
Every part is recorded on its own: a failure is written down, never fatal.
"""
import json
import os
import statistics
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "gpu"))
import pytorch_train as train_model  # noqa: E402  (sets CUBLAS_WORKSPACE_CONFIG before torch starts)
import torch  # noqa: E402

DEV = train_model.DEV
TRAIN_STEPS = int(os.environ.get("TRAIN_STEPS", "20"))
DECODE_TOKENS = int(os.environ.get("DECODE_TOKENS", "64"))
PROMPT = 16
LLAMA = dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=12, num_attention_heads=16,
             num_key_value_heads=16, vocab_size=32000, max_position_embeddings=1024)
LLAMA.update(json.loads(os.environ.get("DECODE_CFG", "{}")))


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def bench_train():
    train_model.deterministic()
    model, opt, gen = train_model.setup()
    batches = [train_model.batch(gen) for _ in range(5 + TRAIN_STEPS)]
    times = []
    for i, (x, y) in enumerate(batches):
        sync()
        t0 = time.perf_counter()
        train_model.step(model, opt, x, y)
        sync()
        if i >= 5:
            times.append(time.perf_counter() - t0)
    tokens = train_model.CFG["batch"] * train_model.CFG["seq"]
    med = statistics.median(times)
    return {"step_ms": med * 1e3, "tokens_per_s": tokens / med, "steps": len(times),
            "params": sum(p.numel() for p in model.parameters())}


def llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(40)
    cfg = LlamaConfig(**LLAMA)
    model = LlamaForCausalLM(cfg).to(torch.float16).eval()  # made on the CPU: the same weights both runs
    model = model.to(DEV)
    prompt = torch.randint(0, cfg.vocab_size, (1, PROMPT), generator=torch.Generator().manual_seed(41)).to(DEV)
    return cfg, model, prompt


def decode_eager(model, prompt):
    from transformers import DynamicCache
    cache = DynamicCache()
    tok = model(prompt, past_key_values=cache, use_cache=True).logits[:, -1:].argmax(-1)
    tokens, times = [], []
    for _ in range(DECODE_TOKENS):
        sync()
        t0 = time.perf_counter()
        tok = model(tok, past_key_values=cache, use_cache=True).logits[:, -1:].argmax(-1)
        sync()
        times.append(time.perf_counter() - t0)
        tokens.append(tok)
    return times, torch.cat(tokens, dim=1)


def decode_graph(cfg, model, prompt):
    """One decode step captured once and replayed per token; static shapes throughout."""
    from transformers import StaticCache
    cache = StaticCache(config=cfg, max_cache_len=PROMPT + DECODE_TOKENS + 8)
    pos0 = torch.arange(PROMPT, device=DEV)
    first = model(prompt, past_key_values=cache, cache_position=pos0, use_cache=True).logits[:, -1:].argmax(-1)
    static_tok, static_pos = first.clone(), torch.tensor([PROMPT], device=DEV)

    def step():
        out = model(static_tok, past_key_values=cache, cache_position=static_pos, use_cache=True)
        return out.logits[:, -1:].argmax(-1)

    method, fn = "eager-static", step
    if DEV == "cuda":
        try:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):  # warm-up writes position PROMPT, which the first replay rewrites
                for _ in range(3):
                    step()
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                static_next = step()
            method, fn = "cuda-graph", lambda: (g.replay(), static_next)[1]
        except Exception as e:  # capture refused by something in the model's forward: let Inductor's graphs try
            print(f"decode_graph: capture failed ({type(e).__name__}: {str(e)[:200]}); "
                  "trying torch.compile(mode='reduce-overhead')", flush=True)
            torch.cuda.synchronize()
            compiled = torch.compile(step, mode="reduce-overhead", fullgraph=False)
            for _ in range(3):
                compiled()
            method, fn = "compile-reduce-overhead", compiled
    tokens, times = [], []
    for _ in range(DECODE_TOKENS):
        sync()
        t0 = time.perf_counter()
        nxt = fn()
        static_tok.copy_(nxt)
        static_pos += 1
        sync()
        times.append(time.perf_counter() - t0)
        tokens.append(nxt.clone())
    return method, times, torch.cat(tokens, dim=1), first


def bench_decode():
    # Serving settings, not the training part's deterministic mode (StaticCache's
    # index_copy_ has no deterministic CUDA kernel and would raise).
    torch.use_deterministic_algorithms(False)
    cfg, model, prompt = llama()
    out = {"config": LLAMA, "params": sum(p.numel() for p in model.parameters())}
    with torch.no_grad():
        for _ in range(2):  # warm-up: cuBLAS handles, kernels loaded
            decode_eager(model, prompt[:, :4])
        times, tokens = decode_eager(model, prompt)
        out["eager_ms"] = statistics.median(times) * 1e3
        out["eager_tokens"] = tokens.cpu().tolist()
        try:
            method, times, tokens, _ = decode_graph(cfg, model, prompt)
            out.update(graph_method=method, graph_ms=statistics.median(times) * 1e3,
                       graph_tokens=tokens.cpu().tolist())
        except Exception as e:
            out["graph_error"] = f"{type(e).__name__}: {str(e).strip()[:300]}"
            traceback.print_exc()
    return out


def run(path, parts):
    res = {"device": torch.cuda.get_device_name() if DEV == "cuda" else DEV, "torch": torch.__version__}
    for name, fn in (("train", bench_train), ("decode", bench_decode)):
        if name not in parts:
            continue
        t0 = time.perf_counter()
        try:
            res[name] = fn()
        except Exception as e:
            res[name] = {"error": f"{type(e).__name__}: {str(e).strip()[:300]}"}
            traceback.print_exc()
        res[name]["wall_s"] = time.perf_counter() - t0
        print(f"{name}: { {k: v for k, v in res[name].items() if not k.endswith('tokens')} }", flush=True)
        with open(path, "w") as f:
            json.dump(res, f)


def compare(nat_path, vg_path, extra_path=None):
    nat, vg = (json.load(open(p)) for p in (nat_path, vg_path))
    extra = json.load(open(extra_path)) if extra_path and os.path.exists(extra_path) else {}
    rows = []  # (what, native, vgpu, unit, higher_is_better, goal)

    def get(d, *keys):
        for k in keys:
            d = d.get(k) if isinstance(d, dict) else None
        return d

    rows.append(("training step, 110M decoder, bf16 autocast, batch 8 x 512", get(nat, "train", "step_ms"),
                 get(vg, "train", "step_ms"), "ms", False, 0.95))
    rows.append(("batch-1 decode, Llama 12x1024 fp16, eager", get(nat, "decode", "eager_ms"),
                 get(vg, "decode", "eager_ms"), "ms/token", False, 0.95))
    gm = get(nat, "decode", "graph_method") or "?"
    if get(vg, "decode", "graph_method") not in (None, gm):
        gm += " natively, " + get(vg, "decode", "graph_method") + " through vgpu"
    rows.append((f"batch-1 decode, Llama 12x1024 fp16, {gm}", get(nat, "decode", "graph_ms"),
                 get(vg, "decode", "graph_ms"), "ms/token", False, 0.95))
    if extra:
        rows.append(("tests/gpu/pytorch_check.py, whole run (23 cases)", extra.get("native_s"), extra.get("vgpu_s"),
                     "s", False, None))
    print("| benchmark | native | vgpu | unit | vgpu speed / native (goal) |")
    print("| --- | --- | --- | --- | --- |")
    for what, n, v, unit, _, goal in rows:
        if n is None or v is None:
            print(f"| {what} | {n if n is not None else 'failed'} | {v if v is not None else 'failed'} | {unit} | - |")
            continue
        ratio = n / v  # times: native time over vgpu time, > 1 is vgpu faster
        g = f" (>= {goal})" + ("" if ratio >= goal else " **below**") if goal else ""
        print(f"| {what} | {n:.3f} | {v:.3f} | {unit} | **{ratio:.3f}x**{g} |")
    for k in ("eager_tokens", "graph_tokens"):
        a, b = get(nat, "decode", k), get(vg, "decode", k)
        if a is not None and b is not None:
            print(f"decode {k[:-7]}: {len(a[0])} tokens, " + ("the same as native" if a == b else "DIFFERENT from native"))
    for label, d in (("native", nat), ("vgpu", vg)):
        for part in ("train", "decode"):
            for k in ("error", "graph_error"):
                if get(d, part, k):
                    print(f"{label} {part} {k}: {get(d, part, k)}")
    if get(nat, "decode", "eager_tokens") and get(nat, "decode", "graph_tokens") and \
            get(nat, "decode", "eager_tokens") != get(nat, "decode", "graph_tokens"):
        print("note: natively, eager and graph decoding gave different tokens (fp16 kernels differ; not a vgpu matter)")


def main():
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3:] or ["train", "decode"])
    elif sys.argv[1] == "compare":
        compare(*sys.argv[2:5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
