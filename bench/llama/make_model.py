#!/usr/bin/env python3
"""Write a GGUF model with random weights, shaped like Llama 3.2 1B (llama architecture).

    make_model.py OUT.gguf [--tiny] [--seed N] [--type f16|f32] [--src LLAMA_SRC]

llama.cpp's speed depends on shapes, not weight values, so this stands in for the real
model (no weights can be downloaded). The default shape: 16 layers, 2048 wide, 32 query /
8 KV heads of 64, FFN 8192, vocab 128256, rope base 500000, RMS eps 1e-5, context 8192,
separate output matrix (~1.24 B parameters, ~2.5 GB as F16). --tiny writes a ~7 MB model of
the same architecture for quick checks. Quantize with llama-quantize afterwards (run.sh
makes Q8_0).

The vocabulary is a sentencepiece-style ("llama") one: <unk> <s> </s>, the 256 byte tokens
<0x00>..<0xFF>, "▁" and the printable ASCII characters, the prefixes of a few hundred
English words (so that prompts tokenize into words), then filler tokens "▁tokN" up to the
vocabulary size.

Reproducible: weights come from numpy's PCG64 raw bits (stable across numpy versions and
machines), one independent stream per tensor, so the same seed gives the same file.
Uses gguf-py from the llama.cpp source (LLAMA_SRC/gguf-py; default .cache/llama/src),
which needs numpy only. The file is read back with gguf-py's GGUFReader and checked.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

FULL = dict(n_layer=16, n_embd=2048, n_head=32, n_head_kv=8, head_dim=64, n_ff=8192,
            n_vocab=128256, n_ctx=8192, rope_base=500000.0, rms_eps=1e-5,
            name="vgpu-random-llama-3.2-1b-shape")
TINY = dict(n_layer=2, n_embd=256, n_head=8, n_head_kv=2, head_dim=32, n_ff=704,
            n_vocab=4096, n_ctx=2048, rope_base=500000.0, rms_eps=1e-5,
            name="vgpu-random-llama-tiny")

WORDS = """
the of and to in is was for that on as with by he at from his it an were are which this be
or has had not but first one their its new after who they have her she two been other when
there all also into during time more can only some would most out up over we you about then
year years than these world later state new city made used may through where many before
between such under part while being both three however well known since national people back
called school while well early end each being long including against around would history
family because war music could people series film work game team season number so what him
high did if during make them any much take like see just way even very good year day man
quick brown fox jumps lazy dog hello vgpu llama model test token shared memory remote device
graphics processor kernel launch stream memory copy host guest ring queue fast slow speed
""".split()


def import_gguf(src: Path):
    gguf_py = src / "gguf-py"
    if not (gguf_py / "gguf" / "__init__.py").is_file():
        sys.exit(f"make_model: no gguf-py in {src} (run bench/llama/fetch.sh, or pass --src)")
    sys.path.insert(0, str(gguf_py))
    try:
        import yaml  # noqa: F401  (gguf.metadata imports it; we never use it)
    except ImportError:
        sys.modules["yaml"] = types.ModuleType("yaml")
    import gguf
    return gguf


def build_vocab(n_vocab: int, gguf):
    TT = gguf.TokenType
    tokens: list[str] = ["<unk>", "<s>", "</s>"]
    types_: list[int] = [TT.UNKNOWN, TT.CONTROL, TT.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types_ += [TT.BYTE] * 256
    seen = set(tokens)
    pieces = ["\u2581"] + [chr(c) for c in range(0x21, 0x7F)]
    for w in WORDS:
        w = "\u2581" + w
        pieces += [w[:i] for i in range(2, len(w) + 1)]
    for p in pieces:
        if p not in seen and len(tokens) < n_vocab:
            seen.add(p)
            tokens.append(p)
            types_.append(TT.NORMAL)
    i = 0
    while len(tokens) < n_vocab:
        t = f"\u2581tok{i}"
        i += 1
        if t not in seen:
            seen.add(t)
            tokens.append(t)
            types_.append(TT.NORMAL)
    # sentencepiece-like scores: earlier pieces merge first; special and byte tokens 0.
    scores = [0.0 if ty != TT.NORMAL else -float(k) for k, ty in enumerate(types_)]
    return tokens, scores, [int(t) for t in types_]


def tensor_plan(c: dict):
    """(name, numpy shape, kind) in file order; numpy shape is (rows, cols) = ggml ne reversed."""
    e, f, v = c["n_embd"], c["n_ff"], c["n_vocab"]
    q, kv = c["n_head"] * c["head_dim"], c["n_head_kv"] * c["head_dim"]
    plan = [("token_embd.weight", (v, e), "w")]
    for b in range(c["n_layer"]):
        p = f"blk.{b}."
        plan += [
            (p + "attn_norm.weight", (e,), "norm"),
            (p + "attn_q.weight", (q, e), "w"),
            (p + "attn_k.weight", (kv, e), "w"),
            (p + "attn_v.weight", (kv, e), "w"),
            (p + "attn_output.weight", (e, q), "w"),
            (p + "ffn_norm.weight", (e,), "norm"),
            (p + "ffn_gate.weight", (f, e), "w"),
            (p + "ffn_up.weight", (f, e), "w"),
            (p + "ffn_down.weight", (e, f), "w"),
        ]
    plan += [("output_norm.weight", (e,), "norm"), ("output.weight", (v, e), "w")]
    return plan


def make_tensor(seed_seq: np.random.SeedSequence, shape, kind: str, dtype) -> np.ndarray:
    if kind == "norm":
        return np.ones(shape, dtype=np.float32)  # 1-D tensors stay F32
    n = int(np.prod(shape))
    # Raw PCG64 output is stable across numpy versions (distributions are not promised to be).
    raw = np.random.PCG64(seed_seq).random_raw((n + 3) // 4).astype("<u8")
    u16 = raw.view("<u2")[:n]
    # uniform in (-a, a) with standard deviation 0.02: a = 0.02 * sqrt(3)
    w = (u16.astype(np.float32) * np.float32(2.0 / 65536.0) + np.float32(1.0 / 65536.0 - 1.0))
    w *= np.float32(0.02 * 3 ** 0.5)
    return w.astype(dtype).reshape(shape)


def write_model(out: Path, c: dict, seed: int, dtype, gguf, threads: int) -> None:
    arch = "llama"
    w = gguf.GGUFWriter(str(out), arch)
    w.add_name(c["name"])
    w.add_context_length(c["n_ctx"])
    w.add_embedding_length(c["n_embd"])
    w.add_block_count(c["n_layer"])
    w.add_feed_forward_length(c["n_ff"])
    w.add_head_count(c["n_head"])
    w.add_head_count_kv(c["n_head_kv"])
    w.add_key_length(c["head_dim"])
    w.add_value_length(c["head_dim"])
    w.add_rope_dimension_count(c["head_dim"])
    w.add_rope_freq_base(c["rope_base"])
    w.add_layer_norm_rms_eps(c["rms_eps"])
    w.add_vocab_size(c["n_vocab"])
    ftype = gguf.LlamaFileType.MOSTLY_F16 if dtype == np.float16 else gguf.LlamaFileType.ALL_F32
    w.add_file_type(int(ftype))

    tokens, scores, ttypes = build_vocab(c["n_vocab"], gguf)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(ttypes)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)

    plan = tensor_plan(c)
    for name, shape, kind in plan:
        dt = np.dtype(np.float32) if kind == "norm" else np.dtype(dtype)
        w.add_tensor_info(name, shape, dt, int(np.prod(shape)) * dt.itemsize)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()

    seeds = np.random.SeedSequence(seed).spawn(len(plan))
    total = sum(int(np.prod(s)) for _, s, _ in plan)
    done = 0
    t0 = time.time()
    window = max(1, threads)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for start in range(0, len(plan), window):
            chunk = list(zip(seeds[start:start + window], plan[start:start + window]))
            arrays = pool.map(lambda a: make_tensor(a[0], a[1][1], a[1][2], dtype), chunk)
            for (_, (name, shape, _k)), arr in zip(chunk, arrays):
                assert arr.shape == tuple(shape), name
                w.write_tensor_data(arr)
                done += arr.size
            print(f"make_model: {done / total * 100:5.1f}% ({time.time() - t0:.1f}s)",
                  file=sys.stderr, flush=True)
    w.close()


def verify(out: Path, c: dict, dtype, gguf) -> None:
    r = gguf.GGUFReader(str(out))

    def field(key):
        f = r.fields.get(key)
        if f is None:
            raise SystemExit(f"make_model: verify: key {key} missing")
        return f

    def scalar(key):
        f = field(key)
        return f.parts[f.data[0]][0]

    def string(key):
        f = field(key)
        return bytes(f.parts[f.data[0]]).decode()

    checks = {
        "llama.block_count": c["n_layer"], "llama.embedding_length": c["n_embd"],
        "llama.feed_forward_length": c["n_ff"], "llama.attention.head_count": c["n_head"],
        "llama.attention.head_count_kv": c["n_head_kv"], "llama.context_length": c["n_ctx"],
        "llama.vocab_size": c["n_vocab"],
    }
    assert string("general.architecture") == "llama"
    assert string("tokenizer.ggml.model") == "llama"
    for k, v in checks.items():
        got = int(scalar(k))
        if got != v:
            raise SystemExit(f"make_model: verify: {k} = {got}, expected {v}")
    assert abs(float(scalar("llama.rope.freq_base")) - c["rope_base"]) < 1e-3
    assert abs(float(scalar("llama.attention.layer_norm_rms_epsilon")) - c["rms_eps"]) < 1e-9
    n_tok = len(field("tokenizer.ggml.tokens").data)
    if n_tok != c["n_vocab"]:
        raise SystemExit(f"make_model: verify: {n_tok} tokens, expected {c['n_vocab']}")

    plan = {name: shape for name, shape, _ in tensor_plan(c)}
    if len(r.tensors) != len(plan):
        raise SystemExit(f"make_model: verify: {len(r.tensors)} tensors, expected {len(plan)}")
    want_type = gguf.GGMLQuantizationType.F16 if dtype == np.float16 else gguf.GGMLQuantizationType.F32
    for t in r.tensors:
        shape = plan.get(t.name)
        if shape is None:
            raise SystemExit(f"make_model: verify: unexpected tensor {t.name}")
        ne = tuple(int(x) for x in t.shape)  # ggml order
        if ne != tuple(reversed(shape)):
            raise SystemExit(f"make_model: verify: {t.name} has ne {ne}, expected {tuple(reversed(shape))}")
        exp = gguf.GGMLQuantizationType.F32 if len(shape) == 1 else want_type
        if t.tensor_type != exp:
            raise SystemExit(f"make_model: verify: {t.name} is {t.tensor_type.name}, expected {exp.name}")
    emb = r.get_tensor(0).data if r.tensors[0].name == "token_embd.weight" else None
    if emb is not None:
        sample = np.asarray(emb[:4], dtype=np.float32)
        if not np.all(np.isfinite(sample)) or float(np.abs(sample).max()) > 0.05:
            raise SystemExit("make_model: verify: token_embd values out of range")
    print(f"make_model: verified {out}: {len(r.tensors)} tensors, {n_tok} tokens", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="output .gguf")
    ap.add_argument("--tiny", action="store_true", help="a ~7 MB model of the same architecture")
    ap.add_argument("--seed", type=int, default=20250101)
    ap.add_argument("--type", choices=["f16", "f32"], default="f16", help="matrix weight type")
    ap.add_argument("--src", type=Path, default=Path(os.environ.get("LLAMA_SRC", ROOT / ".cache/llama/src")),
                    help="llama.cpp source tree (for gguf-py)")
    ap.add_argument("--threads", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--no-verify", action="store_true")
    a = ap.parse_args()

    gguf = import_gguf(a.src)
    c = TINY if a.tiny else FULL
    dtype = np.float16 if a.type == "f16" else np.float32
    a.out.parent.mkdir(parents=True, exist_ok=True)
    part = a.out.with_name(a.out.name + ".part")
    t0 = time.time()
    write_model(part, c, a.seed, dtype, gguf, a.threads)
    if not a.no_verify:
        verify(part, c, dtype, gguf)
    part.replace(a.out)
    print(f"make_model: wrote {a.out} ({a.out.stat().st_size / 2**20:.1f} MiB, "
          f"{'tiny' if a.tiny else 'Llama-3.2-1B shape'}, {a.type}, seed {a.seed}) in {time.time() - t0:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
