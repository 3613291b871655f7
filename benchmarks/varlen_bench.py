#!/usr/bin/env python3
"""Variable-length prefill: fa_mlir.torch.attention_varlen against the
fixed-length kernels on the same tokens.

    python3 benchmarks/varlen_bench.py [--out benchmarks/results/varlen]
        [--total 16384] [--heads 32:8] [--head-dim 128]

For each case a batch of sequences with `total` tokens in all is run
three ways in one process, on the same inputs:
- varlen: attention_varlen on the packed (T, H, D) tensors, with the
  compiler's strategy (hopper-ws on the H200) and with mma-sync;
- fixed mma-sync / fixed default: attention on (B, H, N, D) views of the
  same packed tensors, when every sequence has the same length N (for
  ragged batches, one fixed-length call per distinct length, summed);
- SDPA cuDNN and flash on the same (B, H, N, D) views where lengths are
  equal (their varlen entry points are not public in torch).
TFLOP/s count 4 * sum(nq * nk) * H * D (halved under causal, as
torch_bench.py does). Timing as torch_bench.py: median of --iters samples
of 5 back-to-back calls.
"""
import argparse
import csv
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
import fa_mlir.torch as fat  # noqa: E402
from torch_bench import graph_median_ms, median_ms  # noqa: E402


def lengths_of(name, total, seed=0):
    """Sequence lengths summing to `total`: equal (uniform:N) or ragged
    (lengths drawn in [total/(2B), 3 total/(2B)])."""
    kind, n = name.split(":")
    n = int(n)
    if kind == "uniform":
        return [n] * (total // n)
    g = torch.Generator().manual_seed(seed)
    b = total // n
    lengths = (torch.rand(b, generator=g) * n + n // 2).long().tolist()
    lengths[-1] += total - sum(lengths)
    return [max(1, x) for x in lengths]


def flops(lengths, h, d, causal):
    work = sum(n * n for n in lengths) * 4 * h * d
    return work / 2 if causal else work


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/varlen")
    ap.add_argument("--total", type=int, default=16384)
    ap.add_argument("--cases",
                    default="uniform:512,uniform:2048,ragged:512,ragged:2048")
    ap.add_argument("--heads", default="32:8")
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--causal", default="0,1")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--timing", choices=("eager", "graph"), default="eager",
                    help="graph: time 5 calls captured in one CUDA graph "
                    "(no host cost; the validated call, which synchronizes, "
                    "is left out)")
    ap.add_argument("--warps", type=int, default=0,
                    help="also time the varlen kernel with this many warps "
                    "(mma-sync)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("varlen_bench: no CUDA device")
    graph = args.timing == "graph"

    def timed(fn):
        return (graph_median_ms if graph else median_ms)(fn, args.iters)

    hq, hkv = (int(x) for x in args.heads.split(":"))
    d, dtype = args.head_dim, torch.bfloat16
    rows = []
    for case in args.cases.split(","):
        lengths = lengths_of(case, args.total)
        total = sum(lengths)
        q = torch.randn(total, hq, d, device="cuda", dtype=dtype)
        k = torch.randn(total, hkv, d, device="cuda", dtype=dtype)
        v = torch.randn(total, hkv, d, device="cuda", dtype=dtype)
        cu = torch.tensor([0] + list(torch.tensor(lengths).cumsum(0)),
                          dtype=torch.int32, device="cuda")
        for causal in (c == "1" for c in args.causal.split(",")):
            work = flops(lengths, hq, d, causal)
            times = {}
            times["varlen"] = timed(lambda: fat.attention_varlen(
                q, k, v, cu, cu, max(lengths), max(lengths), causal=causal,
                validate=False))
            if not graph:
                times["varlen validated"] = median_ms(
                    lambda: fat.attention_varlen(
                        q, k, v, cu, cu, max(lengths), max(lengths),
                        causal=causal), args.iters)
            times["varlen mma-sync"] = timed(
                lambda: fat.attention_varlen(
                    q, k, v, cu, cu, max(lengths), max(lengths),
                    causal=causal, validate=False,
                    _options={"strategy": "mma-sync"}))
            if args.warps:
                times[f"varlen w{args.warps}"] = timed(
                    lambda: fat.attention_varlen(
                        q, k, v, cu, cu, max(lengths), max(lengths),
                        causal=causal, validate=False,
                        _options={"warps": args.warps,
                                  "strategy": "mma-sync"}))
            # Fixed-length calls on (B, H, N, D) views of the same tensors,
            # one per distinct length.
            groups = []
            start = 0
            for n in lengths:
                if groups and groups[-1][1] == n:
                    groups[-1][2] += 1
                else:
                    groups.append([start, n, 1])
                start += n
            views = []
            for first, n, count in groups:
                rows_ = slice(first, first + n * count)
                views.append(tuple(
                    t[rows_].view(count, n, t.shape[1], d).transpose(1, 2)
                    for t in (q, k, v)))

            def fixed(strategy):
                def run():
                    for qv, kv, vv in views:
                        fat.attention(qv, kv, vv, is_causal=causal,
                                      causal_alignment="bottom_right",
                                      enable_gqa=True, strategy=strategy)
                return run
            times["fixed mma-sync"] = timed(fixed("mma-sync"))
            times["fixed default"] = timed(fixed(None))
            if len(views) == 1:
                qv, kv, vv = views[0]
                for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION),
                                      ("flash", SDPBackend.FLASH_ATTENTION)):
                    def run(backend=backend):
                        with sdpa_kernel(backend):
                            return F.scaled_dot_product_attention(
                                qv, kv, vv, is_causal=causal,
                                enable_gqa=True)
                    try:
                        times[name] = timed(run)
                    except RuntimeError as e:
                        print(f"  {name}: {str(e).splitlines()[0]}")
            line = {"case": case, "sequences": len(lengths), "total": total,
                    "causal": int(causal)}
            for name, ms in times.items():
                line[f"{name} ms"] = round(ms, 4)
                line[f"{name} TFLOP/s"] = round(work / (ms * 1e-3) / 1e12, 1)
            line["varlen / fixed default"] = round(
                times["fixed default"] / times["varlen"], 3)
            line["varlen mma-sync / fixed mma-sync"] = round(
                times["fixed mma-sync"] / times["varlen mma-sync"], 3)
            rows.append(line)
            print("  ".join(f"{key}={value}" for key, value in line.items()),
                  flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    keys = []
    for r in rows:
        keys += [key for key in r if key not in keys]
    with open(args.out + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}.csv")


if __name__ == "__main__":
    main()
