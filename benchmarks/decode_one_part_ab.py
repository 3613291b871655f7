#!/usr/bin/env python3
"""Decoding where the split rule gives one part a tile: the split pair
(partial + combine, S = 1) against the same tile as one kernel, which
fa_mlir.torch.attention runs there, and cuDNN, in one process.

    python3 benchmarks/decode_one_part_ab.py [--lengths 8192,65536]
        [--queries 1,4] [--batch 8] [--heads 32] [--rounds 3]

MHA (Hq = Hkv), D 128, bf16: B * H 16-row tiles fill the H200's 264 block
slots at B 8, H 32, so the rule takes S = 1. Each contender's 5 calls are
captured in one CUDA graph and timed as torch_bench.py's graph_median_ms,
the contenders interleaved over --rounds; prints us a call and K+V GB/s.
"""
import argparse
import math
import os
import sys

import torch
from torch.nn.attention import SDPBackend

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
import fa_mlir.torch as fat  # noqa: E402
from torch_bench import graph_median_ms, sdpa_gqa  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="8192,65536")
    ap.add_argument("--queries", default="1,4")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("decode_one_part_ab: no CUDA device")
    b, h, d = args.batch, args.heads, 128
    for nk in (int(x) for x in args.lengths.split(",")):
        for nq in (int(x) for x in args.queries.split(",")):
            torch.manual_seed(0)
            q = torch.randn(b, h, nq, d, dtype=torch.bfloat16, device="cuda")
            k = torch.randn(b, h, nk, d, dtype=torch.bfloat16, device="cuda")
            v = torch.randn_like(k)
            spec = fat._spec(q, None, None, False, fat._NO_MODS)
            chip = fat._chip(q.device)

            def pair():
                out = torch.empty_like(q)
                fat._run_split(spec, q, k, v, out, None, (), chip, None,
                               kv_splits=1)
                return out

            contenders = {
                "pair (S 1)": pair,
                "one kernel": lambda: fat.attention(q, k, v),
                "cudnn": sdpa_gqa(SDPBackend.CUDNN_ATTENTION, q, k, v),
            }
            ref = contenders["cudnn"]().float()
            for name in ("pair (S 1)", "one kernel"):
                err = (contenders[name]().float() - ref).abs().max().item()
                assert err < 2e-2 * max(1.0, math.sqrt(d) / 8), (name, err)
            times = {n: [] for n in contenders}
            for _ in range(args.rounds):
                for n, fn in contenders.items():
                    times[n].append(graph_median_ms(fn, args.iters))
            kv = 2 * b * h * nk * d * 2
            cells = []
            for n, ts in times.items():
                ms = sorted(ts)[len(ts) // 2]
                cells.append(f"{n} {ms * 1e3:.1f} us ({kv / ms / 1e6:.0f} "
                             f"GB/s)")
            print(f"B {b} H {h} Nq {nq} Nk {nk}: " + ", ".join(cells),
                  flush=True)


if __name__ == "__main__":
    main()
