#!/usr/bin/env python3
"""Time fa-mlir kernels side by side with fa-runner, TFLOP/s over the pairs
each one keeps (causal and masks count only their visible pairs).

    python3 benchmarks/bench_kernels.py --runner build/bin/fa-runner \\
        --kernels causal=dir/bf16_d128_top_left,window=dir/..._window1024 \\
        --n 8192 --batch-tokens 32768 --heads-dim 2048

Each kernel is run at every N with B = batch-tokens / N and H = heads-dim
/ D; --rounds alternates the kernels to spread clock drift over them. A
kernel compiled by make_kernels.py --mods (a <prefix>.mod beside it) gets
its captures from mod_library.py, which also counts its visible pairs.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_suite  # noqa: E402
import mod_library  # noqa: E402


def visible_pairs(prefix, causal, nq, nk):
    """Pairs (q, k) the kernel keeps (per batch and head), or None when they
    depend on the captured data."""
    mod = None
    if os.path.exists(prefix + ".mod"):
        mod = mod_library.by_name(open(prefix + ".mod").read().strip())
        if not mod.counted:
            return None
    shift = {"none": None, "top_left": 0, "bottom_right": nk - nq}[causal]
    total = 0
    for q in range(nq):
        hi = nk if shift is None else max(0, min(nk, q + shift + 1))
        if mod and mod.row_keys:
            total += mod.row_keys(q, hi)
        else:
            total += hi
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--kernels", required=True,
                    help="label=prefix,label=prefix,...")
    ap.add_argument("--n", default="4096,16384")
    ap.add_argument("--batch-tokens", type=int, default=32768)
    ap.add_argument("--heads-dim", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--json", default=None, help="write the rows here")
    args = ap.parse_args()
    kernels = [kv.split("=", 1) for kv in args.kernels.split(",")]
    rows = []
    for n in [int(x) for x in args.n.split(",")]:
        times = {label: [] for label, _ in kernels}
        for _ in range(args.rounds):
            for label, prefix in kernels:
                meta = json.load(open(prefix + ".json"))
                d = meta["attention"]["head_dim"]
                b, h = max(1, args.batch_tokens // n), args.heads_dim // d
                r = gpu_suite.run(args.runner, prefix,
                                  (b, h, h, n, n, "normal", "bhsd"),
                                  ["--bench", "--no-check", "--iters",
                                   str(args.iters)])
                if "median_ms" not in r:
                    sys.exit(f"bench_kernels: {label} failed: {r}")
                times[label].append(r["median_ms"])
                # Each run as it ends (stderr), so that a run cut short
                # still leaves its figures.
                print(f"# {label} N={n} {r['median_ms']:.4f} ms",
                      file=sys.stderr, flush=True)
        for label, prefix in kernels:
            meta = json.load(open(prefix + ".json"))
            d = meta["attention"]["head_dim"]
            b, h = max(1, args.batch_tokens // n), args.heads_dim // d
            causal = meta["attention"].get("causal", "none")
            pairs = visible_pairs(prefix, causal, n, n)
            ms = statistics.median(times[label])
            tflops = (4 * d * pairs * b * h / (ms * 1e-3) / 1e12
                      if pairs is not None else None)
            rows.append({"label": label, "N": n, "B": b, "H": h, "D": d,
                         "ms": ms, "tflops": tflops,
                         "visible": pairs / (n * n) if pairs is not None
                         else None})
    print("| kernel | N | B x H | D | visible | ms | TFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        visible = "-" if r["visible"] is None else f"{r['visible']:.3f}"
        tflops = "-" if r["tflops"] is None else f"{r['tflops']:.1f}"
        print(f"| {r['label']} | {r['N']} | {r['B']}x{r['H']} | {r['D']} | "
              f"{visible} | {r['ms']:.3f} | {tflops} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
