#!/usr/bin/env python3
"""The client side of tests/gpu/llama_server.sh: parallel /completion requests to a
llama-server (-np N), and the comparison of a native and a vgpu run.

  llama_server_client.py wait URL SECONDS        until GET /health answers 200
  llama_server_client.py run URL OUT.json        the requests (options below)
      --parallel N (8) --n-predict T (128) --rounds R (5) --warmup-predict W (16)
  llama_server_client.py compare NATIVE.json VGPU.json   the summary; exit 1 when a
      target is missed or a text differs where native is deterministic
  llama_server_client.py selftest                a made-up server, checked

run: one warm-up round (N at once, W tokens), then each prompt alone (the texts
without batching: these must be the same natively and through vgpu), then R rounds
of N requests let go at once (a barrier). A round's aggregate is the tokens predicted
by all N over the round's wall time (first request sent to last answer); the
server's own timings (predicted_per_second) are kept as well. Greedy
(temperature 0), ignore_eos (every request predicts exactly T tokens),
cache_prompt off (every round does the same work).
Only the standard library: it runs with any python3.
"""
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

PROMPTS = [
    "The quick brown fox jumps over the lazy dog, and then",
    "Once upon a time, in a land far away, there lived",
    "The capital of France is a city where",
    "In the beginning the universe was created. This has made",
    "A list of things to do before the weekend: first,",
    "The recipe calls for two cups of flour and",
    "When the train left the station, the passengers",
    "Here is a short story about a robot who learned to",
]
TARGET = 0.95


def post(url, body, timeout=300):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode("utf-8", errors="replace"))


def completion(base, prompt, n_predict):
    body = {"prompt": prompt, "n_predict": n_predict, "temperature": 0.0, "top_k": 1, "seed": 42,
            "ignore_eos": True, "cache_prompt": False, "stream": False}
    t0 = time.time()
    r = post(base + "/completion", body)
    t1 = time.time()
    timings = r.get("timings") or {}
    return {"prompt": prompt, "content": r.get("content", ""), "tokens_predicted": int(r.get("tokens_predicted", 0)),
            "t_sent": t0, "t_done": t1, "predicted_per_second": float(timings.get("predicted_per_second", 0.0)),
            "predicted_ms": float(timings.get("predicted_ms", 0.0)), "prompt_n": int(timings.get("prompt_n", 0))}


def parallel_round(base, n, n_predict):
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def one(i):
        try:
            barrier.wait()
            results[i] = completion(base, PROMPTS[i % len(PROMPTS)], n_predict)
        except Exception as e:  # noqa: BLE001  (any failure of a request is reported, not raised)
            errors.append(f"request {i}: {e.__class__.__name__}: {e}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [r for r in results if r]
    if not done:
        return {"errors": errors, "requests": [], "wall_s": 0, "tokens": 0, "aggregate": 0}
    wall = max(r["t_done"] for r in done) - min(r["t_sent"] for r in done)
    tokens = sum(r["tokens_predicted"] for r in done)
    return {"errors": errors, "requests": results, "wall_s": wall, "tokens": tokens,
            "aggregate": tokens / wall if wall > 0 else 0,
            "server_sum_tps": sum(r["predicted_per_second"] for r in done)}


def cmd_wait(base, seconds):
    deadline = time.time() + float(seconds)
    last = ""
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                if r.status == 200:
                    return 0
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except Exception as e:  # noqa: BLE001
            last = e.__class__.__name__
        time.sleep(0.2)
    print(f"server at {base} not healthy after {seconds} s (last: {last})", file=sys.stderr)
    return 1


def cmd_run(base, out, parallel=8, n_predict=128, rounds=5, warmup=16):
    res = {"parallel": parallel, "n_predict": n_predict, "rounds": []}
    res["warmup"] = parallel_round(base, parallel, warmup)
    singles, errors = [], []
    for i in range(parallel):
        try:
            singles.append(completion(base, PROMPTS[i % len(PROMPTS)], n_predict))
        except Exception as e:  # noqa: BLE001
            singles.append(None)
            errors.append(f"single {i}: {e.__class__.__name__}: {e}")
    res["singles"], res["single_errors"] = singles, errors
    for _ in range(rounds):
        res["rounds"].append(parallel_round(base, parallel, n_predict))
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    aggs = [r["aggregate"] for r in res["rounds"]]
    errs = errors + [e for r in res["rounds"] for e in r["errors"]]
    print(f"{parallel} x {n_predict} tokens, {rounds} rounds: aggregate tok/s "
          + ", ".join(f"{a:.0f}" for a in aggs) + (f"; {len(errs)} errors: {errs[:3]}" if errs else ""))
    return 1 if errs or not aggs else 0


def texts(reqs):
    return [r["content"] if r else None for r in reqs]


def cmd_compare(native_path, vgpu_path):
    sides = {}
    for name, path in (("native", native_path), ("vgpu", vgpu_path)):
        try:
            with open(path) as f:
                sides[name] = json.load(f)
        except (OSError, ValueError) as e:
            print(f"PROBLEM: {name}: no results ({path}: {e.__class__.__name__})")
    problems = []
    med = {}
    for name, d in sides.items():
        aggs = [r["aggregate"] for r in d["rounds"] if r["aggregate"] > 0]
        errs = d.get("single_errors", []) + [e for r in d["rounds"] for e in r["errors"]]
        med[name] = statistics.median(aggs) if aggs else 0.0
        srv = [r.get("server_sum_tps", 0) for r in d["rounds"]]
        short = [r["tokens_predicted"] for rr in d["rounds"] for r in rr["requests"] if r and
                 r["tokens_predicted"] != d["n_predict"]]
        print(f"{name}: {d['parallel']} parallel x {d['n_predict']} tokens: aggregate tok/s per round "
              + ", ".join(f"{a:.0f}" for a in aggs) + f" (median {med[name]:.0f}); server's own sum of per-request"
              f" tok/s median {statistics.median(srv) if srv else 0:.0f}")
        if errs:
            problems.append(f"{name}: {len(errs)} failed requests, e.g. {errs[0]}")
        if short:
            problems.append(f"{name}: {len(short)} requests predicted other than {d['n_predict']} tokens")
    verdict = ""
    if "native" in med and "vgpu" in med and med["native"] > 0:
        ratio = med["vgpu"] / med["native"]
        verdict = f"target vgpu/native aggregate >= {TARGET}: {ratio:.3f} {'MET' if ratio >= TARGET else 'NOT MET'}"
    if len(sides) == 2:
        n, v = sides["native"], sides["vgpu"]
        same_single = sum(1 for a, b in zip(texts(n["singles"]), texts(v["singles"])) if a is not None and a == b)
        print(f"texts, each prompt alone: {same_single}/{len(n['singles'])} the same natively and through vgpu")
        if same_single != len(n["singles"]):
            problems.append(f"texts of prompts alone: only {same_single}/{len(n['singles'])} the same")
        # Batched: compare where native itself gives the same texts in every round.
        nr = [texts(r["requests"]) for r in n["rounds"]]
        vr = [texts(r["requests"]) for r in v["rounds"]]
        native_det = all(x == nr[0] for x in nr)
        same_par = sum(1 for a, b in zip(nr[0], vr[0]) if a is not None and a == b) if nr and vr else 0
        alone_vs_batched = sum(1 for a, b in zip(texts(n["singles"]), nr[0]) if a is not None and a == b) if nr else 0
        print(f"texts, {n['parallel']} at once (round 1): {same_par}/{len(nr[0]) if nr else 0} the same natively and"
              f" through vgpu; native rounds {'all the same' if native_det else 'DIFFER among themselves'};"
              f" vgpu rounds {'all the same' if all(x == vr[0] for x in vr) else 'differ among themselves'};"
              f" native batched vs alone: {alone_vs_batched} the same")
        if native_det and nr and same_par != len(nr[0]):
            problems.append(f"texts of {n['parallel']} at once: {same_par}/{len(nr[0])} the same, native is deterministic")
    if verdict:
        print(verdict)
    for p in problems:
        print(f"PROBLEM: {p}")
    return 1 if problems or "NOT MET" in verdict or not verdict else 0


def selftest():
    """A made-up server on a local port answering like llama-server; run and compare."""
    import http.server
    import os
    import tempfile

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b'{"status":"ok"}')

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            n = body["n_predict"]
            time.sleep(0.01)
            out = {"content": body["prompt"][::-1][:n], "tokens_predicted": n,
                   "timings": {"predicted_n": n, "predicted_ms": 10.0, "predicted_per_second": n / 0.01}}
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    d = tempfile.mkdtemp(prefix="llama-server-client-")
    assert cmd_wait(base, 5) == 0
    a, b = os.path.join(d, "native.json"), os.path.join(d, "vgpu.json")
    assert cmd_run(base, a, parallel=4, n_predict=8, rounds=2, warmup=2) == 0
    assert cmd_run(base, b, parallel=4, n_predict=8, rounds=2, warmup=2) == 0
    res = json.load(open(a))
    assert len(res["rounds"]) == 2 and res["rounds"][0]["tokens"] == 32, res["rounds"][0]
    assert all(r["content"] for r in res["singles"])
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cmd_compare(a, b)
    out = buf.getvalue()
    assert "texts, each prompt alone: 4/4 the same" in out and "target vgpu/native" in out, out
    # A vgpu text that differs is a problem.
    res = json.load(open(b))
    res["singles"][1]["content"] = "different"
    json.dump(res, open(b, "w"))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cmd_compare(a, b)
    assert rc == 1 and "only 3/4 the same" in buf.getvalue(), buf.getvalue()
    srv.shutdown()
    print("llama_server_client selftest: OK")
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "wait":
        return cmd_wait(argv[2], argv[3])
    if len(argv) >= 4 and argv[1] == "run":
        opts = {"--parallel": 8, "--n-predict": 128, "--rounds": 5, "--warmup-predict": 16}
        rest = argv[4:]
        for k, v in zip(rest[::2], rest[1::2]):
            if k not in opts:
                sys.stderr.write(f"unknown option {k}\n")
                return 2
            opts[k] = int(v)
        return cmd_run(argv[2], argv[3], opts["--parallel"], opts["--n-predict"], opts["--rounds"],
                       opts["--warmup-predict"])
    if len(argv) == 4 and argv[1] == "compare":
        return cmd_compare(argv[2], argv[3])
    if len(argv) == 2 and argv[1] == "selftest":
        return selftest()
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
