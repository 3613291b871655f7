#!/usr/bin/env python3
"""Decoding: time fa_mlir's split-KV kernels over split counts, packed GQA or not.

    python3 benchmarks/decode_split_sweep.py [--lengths 8192,65536]
        [--splits rule,1,2,4,6,7,8,12,16,24,32] [--heads 32:8]

One query row per sequence, B = 8, D = 128, bf16, no mask. For each length,
with the query heads of a group packed into one tile (pack_gqa) and without,
runs the partial and combine kernels with each split count ("rule": the one
the launcher picks, include/fa/Runtime/KVSplits.h) and prints the median
time (torch_bench.py's timing) and the K+V bytes read per second.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
import fa_mlir.torch as fat  # noqa: E402
from torch_bench import median_ms  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="8192,65536")
    ap.add_argument("--splits", default="rule,1,2,4,6,7,8,12,16,24,32")
    ap.add_argument("--heads", default="32:8")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("decode_split_sweep: no CUDA device")
    b, d = args.batch, 128
    hq, hkv = (int(x) for x in args.heads.split(":"))
    packed_heads = fat._packed_heads
    for nk in (int(x) for x in args.lengths.split(",")):
        q = torch.randn(b, hq, 1, d, dtype=torch.bfloat16, device="cuda")
        k = torch.randn(b, hkv, nk, d, dtype=torch.bfloat16, device="cuda")
        v = torch.randn_like(k)
        spec = fat._spec(q, None, None, False, fat._NO_MODS)
        out = torch.empty_like(q)
        chip = fat._chip(q.device)
        read = 2 * b * hkv * nk * d * 2
        for pack in (True, False):
            # Without packing: one query head a tile.
            fat._packed_heads = packed_heads if pack else (lambda q, k: 1)
            try:
                for s in args.splits.split(","):
                    splits = None if s == "rule" else int(s)

                    def run():
                        fat._run_split(spec, q, k, v, out, None, (), chip,
                                       None, kv_splits=splits)
                    run()
                    ms = median_ms(run, args.iters)
                    print(f"Hq {hq} Hkv {hkv} Nk {nk} pack_gqa {pack} "
                          f"S {s}: {ms * 1e3:.1f} us, "
                          f"{read / (ms * 1e-3) / 1e9:.0f} GB/s", flush=True)
            finally:
                fat._packed_heads = packed_heads


if __name__ == "__main__":
    main()
