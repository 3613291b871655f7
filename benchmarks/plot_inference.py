#!/usr/bin/env python3
"""One figure of the inference benchmarks' CSVs: decoding (decode_bench.py),
paged caches (kvcache_bench.py) and variable-length prefill
(varlen_bench.py), each panel against its contenders.

    python3 benchmarks/plot_inference.py --decode D.csv --paged P.csv \\
        --varlen V.csv --out benchmarks/results/inference.png

Any of the three may be left out. Needs matplotlib.
"""
import argparse
import csv
import sys


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def bars(ax, labels, series, ylabel, title):
    """Grouped bars: series is [(name, [value or None per label])]."""
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width
              for x in range(len(labels))]
        ax.bar(xs, [v or 0 for v in values], width, label=name)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    # Room above the bars for the legend.
    top = max((v or 0) for _, values in series for v in values)
    ax.set_ylim(0, top * 1.3)
    ax.legend(fontsize=7, ncol=3, loc="upper center")
    ax.grid(axis="y", alpha=0.3)


def number(row, key):
    value = row.get(key)
    return float(value) if value not in (None, "") else None


def decode_panel(ax, rows):
    labels = [f"{r['hq']}:{r['hkv']} Nq{r['nq']} Nk{r['nk']}" for r in rows]
    series = [(name, [number(r, key) for r in rows]) for name, key in
              (("fa-mlir", "fa_mlir"), ("cuDNN", "cudnn"), ("FA2", "flash"))]
    bars(ax, labels, series, "K+V GB/s", "Decoding, B 8, D 128, bf16")


def paged_panel(ax, rows):
    labels = [f"Nk{r['nk']} page {r['page_size']}" for r in rows]
    series = [(name, [number(r, f"{key} GB/s") for r in rows]) for name, key
              in (("paged", "paged"), ("one page a sequence", "contiguous"),
                  ("fa-mlir (B,H,N,D)", "fa_mlir"), ("cuDNN", "cudnn"),
                  ("FA2", "flash"))]
    bars(ax, labels, series, "K+V GB/s",
         "Paged caches, 32:8, Nq 1 (pages shuffled)")


def varlen_panel(ax, rows):
    labels = [f"{r['case']}{' causal' if r['causal'] == '1' else ''}"
              for r in rows]
    series = [(name, [number(r, f"{key} TFLOP/s") for r in rows])
              for name, key in (("varlen", "varlen"),
                                ("fixed length", "fixed default"),
                                ("varlen mma-sync", "varlen mma-sync"),
                                ("cuDNN (fixed)", "cudnn"))]
    bars(ax, labels, series, "TFLOP/s",
         "Variable-length prefill, 16384 tokens, 32:8, D 128")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decode")
    ap.add_argument("--paged")
    ap.add_argument("--varlen")
    ap.add_argument("--title", default="fa-mlir on the H200")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    panels = [(fn, path) for fn, path in ((decode_panel, args.decode),
                                          (paged_panel, args.paged),
                                          (varlen_panel, args.varlen))
              if path]
    if not panels:
        sys.exit("plot_inference: give --decode, --paged or --varlen")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_inference: needs matplotlib")
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5),
                             squeeze=False)
    for ax, (fn, path) in zip(axes[0], panels):
        fn(ax, read(path))
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
