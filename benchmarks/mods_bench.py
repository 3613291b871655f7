#!/usr/bin/env python3
"""Programmable attention against FlexAttention, side by side in one process.

    python3 benchmarks/mods_bench.py [--n 8192] [--batch 4] [--heads 16]
        [--only <text>] [--out benchmarks/results/<name>]

For each modification (plain causal, causal + softcap 30 tanh(s/30) with the
hardware tanh and with an accurate one, causal + ALiBi with captured slopes,
sliding window 1024, document mask), times fa_mlir.torch.attention(...,
score_mod=, mask_mod=) and torch.compile(flex_attention) with its block mask
on the same inputs (bf16, D = 128 by default), and prints TFLOP/s counted
over the visible pairs, plus each one's first call (fa_mlir: trace, compile
and load of a kernel it has never seen, in a fresh cache; Flex: its
compilation). Each sample is the mean of 5 back-to-back calls between two
CUDA events, median of --samples.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))


def timed(fn, samples, inner=5):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(samples):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / inner)
    return statistics.median(times)


def first_call(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def visible_pairs(mask, n, device):
    """Pairs the mask keeps (all batches and heads see the same mask here,
    except the document mask, counted on its own ids)."""
    q = torch.arange(n, device=device)[:, None]
    total = 0
    for start in range(0, n, 1024):
        qs = q[start:start + 1024]
        k = torch.arange(n, device=device)[None, :]
        total += int(mask(0, 0, qs, k).sum())
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--only", default=None,
                    help="run the cases whose name contains this text")
    ap.add_argument("--out", default=None, help="write <out>.md")
    args = ap.parse_args()

    from torch.nn.attention.flex_attention import (create_block_mask,
                                                   flex_attention)
    import fa_mlir
    from fa_mlir import mods
    from fa_mlir.torch import attention

    # A fresh kernel cache, so that first calls compile.
    os.environ["FA_MLIR_CACHE_DIR"] = tempfile.mkdtemp(prefix="fa-mlir-")
    cache = fa_mlir.KernelCache(os.environ["FA_MLIR_CACHE_DIR"])

    dev = "cuda"
    b, h, n, d = args.batch, args.heads, args.n, args.head_dim
    torch.manual_seed(0)
    q, k, v = (torch.randn(b, h, n, d, device=dev, dtype=torch.bfloat16)
               for _ in range(3))
    slopes = mods.alibi_slopes(h, device=dev)
    docs = (torch.arange(n, device=dev) // 1000).to(torch.int32)
    doc_ids = docs[None, :].expand(b, n).contiguous()
    flex = torch.compile(flex_attention)

    def causal_mask(bb, hh, qi, ki):
        return qi >= ki

    def window_mask(bb, hh, qi, ki):
        return (qi >= ki) & (qi - ki < args.window)

    def doc_mask(bb, hh, qi, ki):
        return docs[qi] == docs[ki]

    def flex_softcap(s, bb, hh, qi, ki):
        return 30 * torch.tanh(s / 30)

    def flex_alibi(s, bb, hh, qi, ki):
        return s + slopes[hh] * (ki - qi)

    cases = [
        # name, fa_mlir kwargs, flex score_mod, flex mask_mod, visible mask
        ("causal", dict(is_causal=True), None, causal_mask),
        ("causal + softcap (hardware tanh)",
         dict(is_causal=True, score_mod=mods.softcap(30.0)), flex_softcap,
         causal_mask),
        ("causal + softcap (accurate tanh)",
         dict(is_causal=True, score_mod=mods.softcap(30.0, approx=False)),
         flex_softcap, causal_mask),
        ("causal + ALiBi", dict(is_causal=True, score_mod=mods.alibi(slopes)),
         flex_alibi, causal_mask),
        (f"sliding window {args.window}",
         dict(mask_mod=mods.sliding_window(args.window)), None, window_mask),
        ("document mask (1000-token documents)",
         dict(mask_mod=mods.document_mask(doc_ids)), None, doc_mask),
        ("no mask", dict(), None, None),
    ]
    rows = []
    if args.only:
        cases = [c for c in cases if args.only in c[0]]
    for name, fa_kwargs, flex_score, flex_mask in cases:
        pairs = visible_pairs(flex_mask, n, dev) if flex_mask else n * n
        flops = 4 * d * pairs * b * h
        fa_call = lambda: attention(q, k, v, cache=cache, **fa_kwargs)
        fa_first = first_call(fa_call)
        fa_ms = timed(fa_call, args.samples)
        block_mask = (create_block_mask(flex_mask, None, None, n, n, device=dev)
                      if flex_mask else None)
        flex_call = lambda: flex(q, k, v, score_mod=flex_score,
                                 block_mask=block_mask)
        flex_first = first_call(flex_call)
        flex_ms = timed(flex_call, args.samples)
        # The two agree (a sanity check, not the correctness test).
        diff = (fa_call().float() - flex_call().float()).abs().max().item()
        row = dict(name=name, visible=pairs / (n * n),
                   fa=flops / (fa_ms * 1e-3) / 1e12,
                   flex=flops / (flex_ms * 1e-3) / 1e12,
                   fa_first=fa_first, flex_first=flex_first, diff=diff)
        rows.append(row)
        print(f"{name}: fa_mlir {row['fa']:.1f} TFLOP/s, flex "
              f"{row['flex']:.1f}, first calls {fa_first:.2f} s / "
              f"{flex_first:.2f} s, max |diff| {diff:.3g}", flush=True)

    gpu = torch.cuda.get_device_name()
    lines = [f"bf16, D = {d}, B = {b}, H = {h}, N = {n} on {gpu}; TFLOP/s "
             f"over the visible pairs (`python3 benchmarks/mods_bench.py "
             f"--n {n} --batch {b} --heads {h}`)", "",
             "| modification | visible | fa_mlir | FlexAttention | ratio | "
             "first call fa_mlir / Flex (s) | max abs diff |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['visible']:.3f} | {r['fa']:.1f} | "
                     f"{r['flex']:.1f} | {r['fa'] / r['flex']:.2f} | "
                     f"{r['fa_first']:.2f} / {r['flex_first']:.2f} | "
                     f"{r['diff']:.2g} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out + ".md", "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
