#!/usr/bin/env python3
"""fa_mlir against PyTorch's SDPA backends on the benchmark shapes of docs/Measurement.md.

    python3 benchmarks/torch_bench.py --out benchmarks/results/torch-bench
        [--dtypes bf16,f16] [--head-dims 64,128] [--triton module:function]

Times fa_mlir.torch.attention and SDPA's flash (FA2), cuDNN, efficient and
math backends in one process on the same inputs: B*N = 32768, H = 2048 / D,
Nq = Nk = N in {1024, 4096, 16384}; FLOPs = 4 B H N^2 D, halved when causal.
Median of --iters samples, each the mean of 5 back-to-back calls between
two CUDA events, after warm-up (compilation excluded).
The math backend runs only up to N = 4096 (it materializes N^2 scores).
--triton imports a user-supplied kernel, called as fn(q, k, v, causal,
scale); none is vendored here.

Prints a table (TFLOP/s, ratios to FA2 and cuDNN), writes <out>.csv and
<out>-tflops.png / <out>-speedup.png (matplotlib).
"""
import argparse
import csv
import importlib
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
import fa_mlir.torch as fat  # noqa: E402

BACKENDS = [("flash", SDPBackend.FLASH_ATTENTION),
            ("cudnn", SDPBackend.CUDNN_ATTENTION),
            ("efficient", SDPBackend.EFFICIENT_ATTENTION),
            ("math", SDPBackend.MATH)]
COLUMNS = ["fa_mlir", "flash", "cudnn", "efficient", "math", "triton"]


def sdpa_gqa(backend, q, k, v):
    """A call of SDPA with `backend` only (grouped heads allowed) on q, k, v:
    the cuDNN and FA2 contenders of the decode benchmarks."""
    def run():
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    return run


def median_ms(fn, iters, batch=5):
    """Median over `iters` samples of the mean time of `batch` back-to-back
    calls between two CUDA events: the GPU stays busy, so each contender's
    host-side launch cost counts only where it exceeds the kernel time."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(batch):
            fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / batch)
    times.sort()
    return times[len(times) // 2]


def capture_graph(fn, batch=5):
    """`batch` back-to-back calls of fn captured in one CUDA graph (after a
    warm-up on a side stream: compilation, allocations, caches)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(batch):
            fn()
    return graph


def graph_median_ms(fn, iters, batch=5):
    """median_ms of `batch` calls captured once in a CUDA graph and
    replayed: the GPU time alone, without the host's launch cost (as a
    serving system runs its decode steps)."""
    return median_ms(capture_graph(fn, batch).replay, iters, batch=1) / batch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/torch-bench")
    ap.add_argument("--dtypes", default="bf16,f16")
    ap.add_argument("--head-dims", default="64,128")
    ap.add_argument("--lengths", default="1024,4096,16384")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--triton", default=None,
                    help="module:function of a user-supplied Triton kernel")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("torch_bench: no CUDA device")
    triton_fn = None
    if args.triton:
        module, _, name = args.triton.partition(":")
        triton_fn = getattr(importlib.import_module(module), name)

    types = {"bf16": torch.bfloat16, "f16": torch.float16}
    rows = []
    for dtype in args.dtypes.split(","):
        for d in map(int, args.head_dims.split(",")):
            for causal in (False, True):
                for n in map(int, args.lengths.split(",")):
                    b, h = 32768 // n, 2048 // d
                    q, k, v = (torch.randn(b, h, n, d, device="cuda",
                                           dtype=types[dtype])
                               for _ in range(3))
                    flops = 4 * b * h * n * n * d / (2 if causal else 1)
                    tflops = lambda ms: flops / (ms * 1e-3) / 1e12
                    row = {"dtype": dtype, "D": d, "causal": causal, "N": n}
                    with torch.no_grad():
                        row["fa_mlir"] = tflops(median_ms(
                            lambda: fat.attention(q, k, v, is_causal=causal),
                            args.iters))
                        for name, backend in BACKENDS:
                            if name == "math" and n > 4096:
                                continue
                            try:
                                with sdpa_kernel(backend):
                                    row[name] = tflops(median_ms(
                                        lambda: F.scaled_dot_product_attention(
                                            q, k, v, is_causal=causal),
                                        args.iters if name != "math" else 3,
                                        1 if name == "math" else 5))
                            except RuntimeError:
                                pass  # backend unavailable for this shape
                        if triton_fn:
                            row["triton"] = tflops(median_ms(
                                lambda: triton_fn(q, k, v, causal,
                                                  1 / math.sqrt(d)),
                                args.iters))
                    rows.append(row)
                    del q, k, v
                    torch.cuda.empty_cache()

    fmt = lambda x: f"{x:.1f}" if x else "-"
    ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"
    import fa_mlir
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"{fa_mlir.version()}")
    print("| dtype | D | causal | N | fa_mlir | SDPA flash (FA2) | cuDNN |"
          " efficient | math | triton | vs FA2 | vs cuDNN |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dtype']} | {r['D']} | {'yes' if r['causal'] else 'no'}"
              f" | {r['N']} | " + " | ".join(fmt(r.get(c)) for c in COLUMNS)
              + f" | {ratio(r['fa_mlir'], r.get('flash'))} | "
              f"{ratio(r['fa_mlir'], r.get('cudnn'))} |")

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["dtype", "D", "causal", "N"] + COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    plot(rows, args.out)


def plot(rows, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("torch_bench: matplotlib missing; no plots")
        return
    groups = sorted({(r["dtype"], r["D"], r["causal"]) for r in rows})
    cols = min(4, len(groups))
    nrows = -(-len(groups) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.4 * nrows),
                             squeeze=False)
    for ax, (dtype, d, causal) in zip(axes.flat, groups):
        sel = [r for r in rows if (r["dtype"], r["D"], r["causal"]) ==
               (dtype, d, causal)]
        for c in COLUMNS:
            pts = [(r["N"], r[c]) for r in sel if r.get(c)]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=c)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{dtype} D={d} {'causal' if causal else 'full'}")
        ax.set_xlabel("N")
        ax.set_ylabel("TFLOP/s")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out + "-tflops.png", dpi=110)

    fig, ax = plt.subplots(figsize=(6, 4))
    for dtype, d, causal in groups:
        sel = [r for r in rows if (r["dtype"], r["D"], r["causal"]) ==
               (dtype, d, causal) and r.get("flash")]
        if sel:
            ax.plot([r["N"] for r in sel],
                    [r["fa_mlir"] / r["flash"] for r in sel], marker="o",
                    label=f"{dtype} D={d} {'causal' if causal else 'full'}")
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N")
    ax.set_ylabel("fa_mlir / SDPA flash (FA2)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out + "-speedup.png", dpi=110)


if __name__ == "__main__":
    main()
