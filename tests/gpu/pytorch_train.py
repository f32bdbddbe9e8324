"""A ~100M-parameter decoder-only transformer trained for a few steps (AdamW,
bf16 autocast, deterministic settings), for tests/gpu/pytorch_train.sh
(native vs vgpu loss curves) and bench/pytorch_bench.py (step time).

  python3 pytorch_train.py run OUT.json [--steps 50]   # prints the loss at every step
  python3 pytorch_train.py compare NATIVE.json VGPU.json

Weights are made on the CPU from a fixed seed and the token batches come from
a CPU generator, so both runs start from the same bits; every GEMM, softmax
and reduction is then deterministic (torch.use_deterministic_algorithms), so
the two loss curves are expected bit-equal.
"""
import json
import math
import os
import sys
import time

# Before torch initialises cuBLAS: a fixed workspace, as deterministic mode asks.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# GPT-2-small-like: 12 x (12 d^2) + vocab*d = 85M + 25M, embeddings tied.
CFG = dict(vocab=32000, d=768, layers=12, heads=12, seq=512, batch=8)
# For trying the script without a GPU: TRAIN_DEVICE=cpu TRAIN_CFG='{"layers": 1, "d": 64, ...}'.
CFG.update(json.loads(os.environ.get("TRAIN_CFG", "{}")))
DEV = os.environ.get("TRAIN_DEVICE", "cuda")


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.qkv, self.proj = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
        self.fc, self.out = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)

    def forward(self, x, mask):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # Attention written out (GEMMs, a masked softmax): deterministic forward
        # and backward, whichever fused SDPA kernels the GPU would offer.
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(d // self.heads))
        att = att.masked_fill(mask[:t, :t], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Decoder(torch.nn.Module):
    def __init__(self, vocab, d, layers, heads, seq):
        super().__init__()
        self.tok, self.pos = torch.nn.Embedding(vocab, d), torch.nn.Embedding(seq, d)
        self.blocks = torch.nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = torch.nn.LayerNorm(d)
        for e in (self.tok, self.pos):  # GPT-2's scale: the tied logits start near uniform
            torch.nn.init.normal_(e.weight, std=0.02)
        self.register_buffer("mask", torch.ones(seq, seq, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.blocks:
            x = blk(x, self.mask)
        return self.ln(x) @ self.tok.weight.t()  # tied output projection


def deterministic():
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def setup(cfg=CFG, seed=0):
    """The model (on the GPU), its optimizer and a CPU generator for the data."""
    torch.manual_seed(seed)
    model = Decoder(cfg["vocab"], cfg["d"], cfg["layers"], cfg["heads"], cfg["seq"])  # on the CPU: same bits
    model = model.to(DEV)
    # foreach=True: the default on CUDA, named so both runs surely take the same path.
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, foreach=True)
    return model, opt, torch.Generator().manual_seed(seed + 1)


def batch(gen, cfg=CFG):
    data = torch.randint(0, cfg["vocab"], (cfg["batch"], cfg["seq"] + 1), generator=gen).to(DEV)
    return data[:, :-1], data[:, 1:]


def step(model, opt, x, y):
    with torch.autocast(DEV, dtype=torch.bfloat16):
        logits = model(x)
    loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
    opt.step()
    return loss


def run(path, steps):
    deterministic()
    model, opt, gen = setup()
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model: {nparams / 1e6:.1f}M parameters, {CFG}, {torch.cuda.get_device_name() if DEV == 'cuda' else DEV}", flush=True)
    losses, times = [], []
    for i in range(steps):
        x, y = batch(gen)
        t0 = time.perf_counter()
        loss = step(model, opt, x, y).item()  # .item() synchronises: the step's time
        times.append(time.perf_counter() - t0)
        losses.append(loss)
        print(f"step {i:3d} loss {loss:.9g} ({loss.hex()}) {times[-1] * 1e3:.1f} ms", flush=True)
        with open(path, "w") as f:  # after every step: a run cut short still shows how far it got
            json.dump({"params": nparams, "losses": losses, "step_s": times, "cfg": CFG}, f)
    if not all(math.isfinite(v) for v in losses):
        sys.exit("a loss is not finite")


def compare(a_path, b_path):
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    na, nb = a["losses"], b["losses"]
    n = min(len(na), len(nb))
    diffs = [abs(x - y) for x, y in zip(na, nb)]
    equal = sum(x == y for x, y in zip(na, nb))
    first = next((i for i in range(n) if na[i] != nb[i]), None)
    print(f"| step | native loss | vgpu loss | abs diff |\n|---|---|---|---|")
    for i in range(n):
        print(f"| {i} | {na[i]:.9g} | {nb[i]:.9g} | {diffs[i]:.3g} |")
    med = lambda v: sorted(v)[len(v) // 2] if v else float("nan")  # noqa: E731
    print(f"\nsteps: native {len(na)}, vgpu {len(nb)}; bit-equal {equal} of {n}; max abs diff "
          f"{max(diffs, default=float('nan')):.3g}" + (f"; first difference at step {first}" if first is not None else ""))
    print(f"median step time (steps 5+): native {med(a['step_s'][5:]) * 1e3:.1f} ms, "
          f"vgpu {med(b['step_s'][5:]) * 1e3:.1f} ms")
    ok = len(na) == len(nb) and n > 0 and equal == n
    print("RESULT: " + ("the same loss curve, bit for bit" if ok else "loss curves DIFFER or a run is incomplete"))
    return 0 if ok else 1


def main():
    if sys.argv[1] == "run":
        steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 50
        run(sys.argv[2], steps)
    elif sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
