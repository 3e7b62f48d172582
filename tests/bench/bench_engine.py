#!/usr/bin/env python3
"""bench_engine.py - prompt (pp) and generation (tg) tokens/s of the embedded
engine through `swarm-infer bench --json`, at 1 and 2 threads, and decode
batching (--batch B, B sessions decoding together) against one session.

The machine is shared and noisy, so the configurations of one model are run
in alternating rounds (1t, 2t, batch; 1t, 2t, batch; ...) and each keeps its
best round; the ratios (2t/1t, batch/1) come from the same run.

usage: bench_engine.py BINDIR MODEL.gguf [MODEL2.gguf ...] [-p 512] [-n 128]
                       [--rounds 3] [--batch 4] [--json]
Exit 0 when every run succeeded.
"""
import argparse
import json
import os
import subprocess
import sys


def bench(bindir, model, p, n, threads, batch):
    cmd = [os.path.join(bindir, "swarm-infer"), "bench", "--model", model, "-p", str(p),
           "-n", str(n), "-t", str(threads), "--batch", str(batch), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), out.returncode,
                                                 out.stderr.strip()[-1000:]))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bindir")
    ap.add_argument("models", nargs="+")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4, help="sessions decoding together (0: skip)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    configs = [("1t", 1, 1), ("2t", 2, 1)]
    if a.batch > 1:
        configs.append(("2t-b%d" % a.batch, 2, a.batch))
    ok = True
    if not a.json:
        print("%-34s %-7s %10s %10s %8s %8s" % ("model", "config", "pp tok/s", "tg tok/s",
                                                 "pp x", "tg x"))
    for model in a.models:
        best = {}
        try:
            for _ in range(a.rounds):
                for name, t, b in configs:
                    r = bench(a.bindir, model, a.p, a.n, t, b)
                    cur = best.setdefault(name, {"pp": 0.0, "tg": 0.0, "raw": r})
                    cur["pp"] = max(cur["pp"], r["pp_tok_s"])
                    cur["tg"] = max(cur["tg"], r["tg_tok_s"])
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            print("bench_engine: %s" % e, file=sys.stderr)
            ok = False
            continue
        base = best["1t"]
        for name, t, b in configs:
            c = best[name]
            # batch: pp is the single-session prefill again; the tg ratio is vs 2t, 1 session
            ref = best["2t"] if b > 1 else base
            ppx = c["pp"] / base["pp"] if b == 1 and base["pp"] > 0 else None
            tgx = c["tg"] / ref["tg"] if ref["tg"] > 0 else None
            if a.json:
                print(json.dumps({"bench": "engine", "model": os.path.basename(model),
                                  "arch": c["raw"].get("arch"), "config": name, "threads": t,
                                  "batch": b, "n_prompt": a.p, "n_gen": a.n,
                                  "pp_tok_s": round(c["pp"], 3), "tg_tok_s": round(c["tg"], 3),
                                  "pp_ratio_vs_1t": None if ppx is None else round(ppx, 3),
                                  "tg_ratio": None if tgx is None else round(tgx, 3),
                                  "tg_ratio_vs": "2t" if b > 1 else "1t"}))
            else:
                print("%-34s %-7s %10.1f %10.1f %8s %8s" % (
                    os.path.basename(model)[:34], name, c["pp"], c["tg"],
                    "%.2fx" % ppx if ppx is not None else "-",
                    "%.2fx" % tgx if tgx is not None else "-"))
        sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
