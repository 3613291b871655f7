#!/usr/bin/env python3
"""Decoding: fa_mlir's split-KV kernels against SDPA's cuDNN and flash (FA2) backends.

    python3 benchmarks/decode_bench.py [--out benchmarks/results/decode]
        [--lengths 8192,16384,65536] [--queries 1,4] [--heads 32:8,32:32]

One (or a few) query tokens per sequence against a long cache, no mask
(with one query row every key is visible, as bottom-right causal): B = 8,
D = 128, bf16, Hq:Hkv as given. Reports the K+V bytes read per second
(2 * B * Hkv * Nk * D * 2 bytes over the median time) next to the device's
copy bandwidth (a large tensor copy, bytes read + written), all in one
process on the same inputs (timing as torch_bench.py: median of --iters
samples of 5 back-to-back calls). fa_mlir.torch.attention picks the split
kernels itself for these shapes; --kv-splits pins the split count.
--timing graph times 5 calls captured in one CUDA graph instead, for every
contender (the GPU time without the host's launch cost, as serving systems
run decode steps). Each shape's contenders are timed in --rounds rounds,
in a rotated order, and each keeps the median of its rounds: the first
contender after the fp32 reference of a shape ran up to 13% slower
(2026-12-02, benchmarks/results/2026-12-02-h200-decode-key-warps.md).
"""
import argparse
import csv
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
import fa_mlir.torch as fat  # noqa: E402
from torch_bench import (  # noqa: E402
    capture_graph, median_ms, sdpa_gqa)


def copy_bandwidth(iters):
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), iters)
    return 2 * src.numel() / (ms * 1e-3) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/decode")
    ap.add_argument("--lengths", default="8192,16384,65536")
    ap.add_argument("--queries", default="1,4")
    ap.add_argument("--heads", default="32:8,32:32")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--timing", choices=("eager", "graph"), default="eager")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("decode_bench: no CUDA device")
    ceiling = copy_bandwidth(args.iters)
    print(f"device copy bandwidth: {ceiling:.0f} GB/s (read + write)")
    rows = []
    b, d = args.batch, args.head_dim
    for heads in args.heads.split(","):
        hq, hkv = (int(x) for x in heads.split(":"))
        for nq in (int(x) for x in args.queries.split(",")):
            for nk in (int(x) for x in args.lengths.split(",")):
                torch.manual_seed(0)
                q = torch.randn(b, hq, nq, d, dtype=torch.bfloat16,
                                device="cuda")
                k = torch.randn(b, hkv, nk, d, dtype=torch.bfloat16,
                                device="cuda")
                v = torch.randn_like(k)
                ref = F.scaled_dot_product_attention(
                    q.float(), k.float(), v.float(), enable_gqa=True)
                out = fat.attention(q, k, v, enable_gqa=True)
                err = (out.float() - ref).abs().max().item()
                contenders = {
                    "fa_mlir": lambda: fat.attention(q, k, v,
                                                     enable_gqa=True),
                    "cudnn": sdpa_gqa(SDPBackend.CUDNN_ATTENTION, q, k, v),
                    "flash": sdpa_gqa(SDPBackend.FLASH_ATTENTION, q, k, v),
                }
                timers = {}
                gbs = {}
                for name, fn in contenders.items():
                    try:
                        if args.timing == "graph":
                            graph = capture_graph(fn)
                            timers[name] = (lambda g=graph: median_ms(
                                g.replay, args.iters, batch=1) / 5)
                        else:
                            fn()
                            timers[name] = (lambda f=fn: median_ms(
                                f, args.iters))
                    except RuntimeError as e:  # backend refuses the shape
                        print(f"  {name}: {str(e).splitlines()[0][:80]}")
                        gbs[name] = None
                samples = {name: [] for name in timers}
                names = list(timers)
                for r in range(args.rounds):
                    shift = r % len(names)
                    for name in names[shift:] + names[:shift]:
                        samples[name].append(timers[name]())
                for name, times in samples.items():
                    ms = sorted(times)[len(times) // 2]
                    gbs[name] = 2 * b * hkv * nk * d * 2 / (ms * 1e-3) / 1e9
                row = {"hq": hq, "hkv": hkv, "nq": nq, "nk": nk,
                       "max_abs_err": err, **gbs}
                rows.append(row)

                def fmt(x):
                    return "-" if x is None else f"{x:.0f}"
                ratio = {n: (gbs["fa_mlir"] / gbs[n] if gbs.get(n) else None)
                         for n in ("cudnn", "flash")}
                print(f"Hq {hq:2d} Hkv {hkv:2d} Nq {nq} Nk {nk:6d}: "
                      f"fa_mlir {fmt(gbs['fa_mlir'])} GB/s "
                      f"({gbs['fa_mlir'] / ceiling:.0%} of copy), "
                      f"cuDNN {fmt(gbs['cudnn'])}, FA2 {fmt(gbs['flash'])}; "
                      f"x cuDNN {ratio['cudnn'] or 0:.2f}, "
                      f"x FA2 {ratio['flash'] or 0:.2f}; err {err:.2e}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
