#!/usr/bin/env python3
"""Where a decode call's time goes: each kernel and each gap, under CUDA graphs.

    python3 benchmarks/decode_timeline.py [--out benchmarks/results/decode-timeline]
        [--heads 32:8] [--nk 65536] [--batch 8] [--rounds 3]

Captures --calls back-to-back calls of each contender (fa_mlir.torch.attention,
SDPA's cuDNN and flash backends) in one CUDA graph, then
  1. times the replays with CUDA events, the contenders interleaved over
     --rounds rounds (the same median as decode_bench.py --timing graph);
  2. replays each graph under torch.profiler (CUPTI kernel records) and
     prints every kernel of one replay with its duration and the gap
     before it, then per call: the kernels' sum and the span.
One query row, D 128, bf16, no mask, as decode_bench.py. GB/s = K+V bytes
over the time. Writes <out>.json with the kernel records. --split-tile
MxN (an experiment) compiles fa_mlir's split kernels with block-m M and
block-n N instead of the compiler's split tile.
"""
import argparse
import json
import os
import sys
import tempfile

import torch
from torch.nn.attention import SDPBackend
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.environ.get("FA_PY", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "python")))
import fa_mlir.torch as fat  # noqa: E402
from torch_bench import (  # noqa: E402
    capture_graph, median_ms, sdpa_gqa)


def kernel_records(graph, replays):
    """The kernels of `replays` graph replays, from the profiler's trace, as
    (name, start_us, duration_us), sorted by start."""
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(replays):
            graph.replay()
        torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    kernels = [(e["name"], float(e["ts"]), float(e["dur"]))
               for e in events
               if e.get("ph") == "X" and e.get("cat") == "kernel"]
    return sorted(kernels, key=lambda k: k[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/decode-timeline")
    ap.add_argument("--heads", default="32:8")
    ap.add_argument("--nk", type=int, default=65536)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--split-tile", default=None)
    args = ap.parse_args()
    options = None  # attention's default: its own split decision
    if args.split_tile:
        block_m, block_n = (int(x) for x in args.split_tile.split("x"))
        options = {"split_kv": "auto", "block_m": block_m, "block_n": block_n}
    if not torch.cuda.is_available():
        sys.exit("decode_timeline: no CUDA device")
    hq, hkv = (int(x) for x in args.heads.split(":"))
    b, nk, d = args.batch, args.nk, 128
    torch.manual_seed(0)
    q = torch.randn(b, hq, 1, d, dtype=torch.bfloat16, device="cuda")
    k = torch.randn(b, hkv, nk, d, dtype=torch.bfloat16, device="cuda")
    v = torch.randn_like(k)
    kv_bytes = 2 * b * hkv * nk * d * 2

    contenders = {
        "fa_mlir": lambda: fat.attention(q, k, v, enable_gqa=True,
                                         _options=options),
        "cudnn": sdpa_gqa(SDPBackend.CUDNN_ATTENTION, q, k, v),
        "flash": sdpa_gqa(SDPBackend.FLASH_ATTENTION, q, k, v),
    }
    graphs = {n: capture_graph(fn, args.calls)
              for n, fn in contenders.items()}
    print(f"B {b} Hq {hq} Hkv {hkv} Nq 1 Nk {nk} D {d} bf16; "
          f"{args.calls} calls a graph; K+V {kv_bytes / 1e9:.3f} GB")
    per_call = {n: [] for n in graphs}
    for r in range(args.rounds):
        for n, g in graphs.items():
            per_call[n].append(median_ms(g.replay, args.iters, batch=1) /
                               args.calls)
        print(f"round {r}: " + ", ".join(
            f"{n} {per_call[n][-1] * 1e3:.1f} us "
            f"({kv_bytes / (per_call[n][-1] * 1e-3) / 1e9:.0f} GB/s)"
            for n in graphs))
    report = {"shape": vars(args), "per_call_ms": per_call, "kernels": {}}
    for n, g in graphs.items():
        kernels = kernel_records(g, 3)
        report["kernels"][n] = kernels
        one = kernels[len(kernels) // 3:2 * len(kernels) // 3]
        print(f"\n{n}: {len(kernels)} kernels in 3 replays; the middle one:")
        prev_end = None
        for name, ts, dur in one:
            gap = "" if prev_end is None else f" gap {ts - prev_end:6.1f} us"
            print(f"  {dur:8.1f} us{gap}  {name[:90]}")
            prev_end = ts + dur
        if one:
            busy = sum(k[2] for k in one)
            span = one[-1][1] + one[-1][2] - one[0][1]
            print(f"  per call: kernels {busy / args.calls:.1f} us, "
                  f"span {span / args.calls:.1f} us "
                  f"({kv_bytes / (span / args.calls * 1e-6) / 1e9:.0f} GB/s)")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
