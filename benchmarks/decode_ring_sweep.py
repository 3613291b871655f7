#!/usr/bin/env python3
"""Decoding: the split-KV kernels over the depth of their K/V ring, under CUDA graphs.

    python3 benchmarks/decode_ring_sweep.py [--stages default,2,3,4]
        [--shapes 32:8:8:128:8192,...] [--rounds 3]

For each shape (Hq:Hkv:B:D:Nk; one query row, bf16, no mask) captures 5
calls of SDPA's cuDNN and flash (FA2, D <= 128) backends and of
fa_mlir.torch.attention with each ring depth ("default": the compiler's
choice; N: the split kernels compiled with stages=N) in one CUDA graph
each, times the replays in --rounds rounds in a rotated order (median),
and records one replay with torch.profiler: each contender's time a call,
its GB/s of K+V, and its kernels' time a call (fa_mlir: the partial and
the combine kernel). A result further than 2e-2 from the fp32 reference
is printed as ERR.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
import fa_mlir.torch as fat  # noqa: E402
from decode_timeline import kernel_records  # noqa: E402
from torch_bench import (  # noqa: E402
    capture_graph, median_ms, sdpa_gqa)

SHAPES = ("32:8:8:128:8192,32:8:8:128:65536,32:8:8:64:8192,32:8:8:64:65536,"
          "32:32:2:256:8192,32:32:8:256:8192,32:32:8:128:8192,"
          "32:32:2:128:65536")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default="default,2,3,4")
    ap.add_argument("--shapes", default=SHAPES)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("decode_ring_sweep: no CUDA device")
    for shape in args.shapes.split(","):
        hq, hkv, b, d, nk = (int(x) for x in shape.split(":"))
        torch.manual_seed(0)
        q = torch.randn(b, hq, 1, d, dtype=torch.bfloat16, device="cuda")
        k = torch.randn(b, hkv, nk, d, dtype=torch.bfloat16, device="cuda")
        v = torch.randn_like(k)
        kv_bytes = 2 * b * hkv * nk * d * 2
        ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(),
                                             enable_gqa=True)

        contenders = {
            "cudnn": ({}, sdpa_gqa(SDPBackend.CUDNN_ATTENTION, q, k, v))}
        if d <= 128:
            contenders["flash"] = (
                {}, sdpa_gqa(SDPBackend.FLASH_ATTENTION, q, k, v))
        # The experiment: the split kernels' options with the ring's depth
        # (attention's private options; split_kv routes them to the split
        # kernels).
        for stages in args.stages.split(","):
            options = {"split_kv": "auto"}
            if stages != "default":
                options["stages"] = int(stages)
            contenders[f"fa s={stages}"] = (
                options, lambda options=options: fat.attention(
                    q, k, v, enable_gqa=True, _options=options))
        graphs = {}
        for name, (_, fn) in contenders.items():
            try:
                err = (fn().float() - ref).abs().max().item()
                if err > 2e-2:
                    print(f"{name}: ERR {err:.3e}")
                graphs[name] = capture_graph(fn, 5)
            except Exception as e:  # noqa: BLE001 - report and go on
                print(f"{name}: failed: {str(e)[:200]}")
        per_call = {n: [] for n in graphs}
        names = list(graphs)
        for r in range(args.rounds):
            for n in names[r % len(names):] + names[:r % len(names)]:
                per_call[n].append(
                    median_ms(graphs[n].replay, args.iters, batch=1) / 5)
        print(f"== Hq:Hkv {hq}:{hkv} B {b} D {d} Nk {nk}", flush=True)
        for n, graph in graphs.items():
            kernels = {}
            for kname, _, dur in kernel_records(graph, 1):
                key = ("combine" if "combine" in kname else
                       "partial" if kname.startswith("fa_attention") else
                       kname[:16])
                kernels[key] = kernels.get(key, 0.0) + dur / 5
            ms = sorted(per_call[n])[len(per_call[n]) // 2]
            print(f"{n:10s} {ms * 1e3:8.1f} us {kv_bytes / ms / 1e6:6.0f} "
                  "GB/s  " + ", ".join(f"{k} {t:.1f}"
                                       for k, t in kernels.items()),
                  flush=True)


if __name__ == "__main__":
    main()
