#!/usr/bin/env python3
"""Attention against a KV cache: fa_mlir's paged kernels against the same
kernels on a contiguous cache, fa_mlir's fixed-length attention and SDPA.

    python3 benchmarks/kvcache_bench.py [--out benchmarks/results/kvcache]
        [--lengths 8192,65536] [--queries 1] [--page-sizes 16,64,256]
        [--heads 32:8] [--batch 8] [--head-dim 128] [--block-m 16,64]

Decode shapes by default: B = 8, Hq 32, Hkv 8, D 128, bf16, one query per
sequence, every sequence Nk keys long. For each (Nq, Nk, page size) one
cache is laid out in pages in shuffled order (a block table as a serving
system leaves it after some churn) and gathered into a contiguous copy,
and all contenders run in one process on the same values:
- paged: attention_with_kvcache(q, k_pages, v_pages, lengths, table,
  validate=False); "paged validated" is the same with the host check of
  the table (one synchronization per call); "paged one kernel" is paged
  without split-KV (split_kv="none": one block per tile reads its whole
  sequence), the path decoding takes when its tiles fill the GPU;
- paged bmN: paged with block_m = N (--block-m);
- contiguous: attention_with_kvcache on the (B, Nk, Hkv, D) copy, without a
  table (the same paged kernel, one Nk-row page per sequence);
- fa_mlir: attention() on (B, H, Nk, D) (its split-KV decode kernels);
- cudnn, flash: SDPA's backends on the same (B, H, Nk, D) copy.
No mask (with one query every key is visible; for more queries a bottom-
right causal mask would keep SDPA's flash backend out). GB/s count the K+V
bytes read, 2 * B * Hkv * Nk * D * 2, over the median time (timing as
torch_bench.py: median of --iters samples of 5 back-to-back calls), next
to the device's copy bandwidth. Writes --out.csv and --out.md.
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
from decode_bench import copy_bandwidth  # noqa: E402
from torch_bench import (  # noqa: E402
    graph_median_ms, median_ms, sdpa_gqa)


# What the paged kernel's GB/s are divided by, in the ratio columns.
_OTHERS = ("paged one kernel", "contiguous", "fa_mlir", "cudnn", "flash")


def paged_copy(k, v, page_size, seed=0):
    """k, v (B, Nk, Hkv, D) cut into pages of a shuffled pool: (k_pages,
    v_pages, block_table) with k_pages[block_table[b, p]] = k[b, p * page:
    (p + 1) * page]."""
    b, nk, hkv, d = k.shape
    per_row = nk // page_size
    g = torch.Generator(device="cpu").manual_seed(seed)
    order = torch.randperm(b * per_row, generator=g).to(k.device)
    table = order.view(b, per_row).to(torch.int32)
    pages = []
    for t in (k, v):
        pool = torch.empty((b * per_row, page_size, hkv, d), dtype=t.dtype,
                           device=t.device)
        pool[order] = t.reshape(b * per_row, page_size, hkv, d)
        pages.append(pool)
    return pages[0], pages[1], table


def time_all(contenders, iters, graph=False):
    """{name: median ms, or None where the contender refuses the shape}."""
    times = {}
    for name, fn in contenders.items():
        try:
            times[name] = (graph_median_ms if graph else median_ms)(
                fn, iters)
        except RuntimeError as e:  # a refused shape or option
            print(f"  {name}: {str(e).splitlines()[0][:100]}")
            times[name] = None
    return times


def write_markdown(path, rows, ceiling):
    names = [key[:-5] for key in rows[0] if key.endswith(" GB/s")]
    with open(path, "w") as f:
        f.write(f"Device copy bandwidth {ceiling:.0f} GB/s (read + write). "
                f"K+V GB/s; ratios of paged's GB/s to the others'.\n\n")
        head = (["Nq", "Nk", "page"] + names +
                [f"paged / {o}" for o in _OTHERS] + ["max err"])
        f.write("| " + " | ".join(head) + " |\n")
        f.write("|" + "---|" * len(head) + "\n")
        for r in rows:
            cells = [str(r["nq"]), str(r["nk"]), str(r["page_size"])]
            cells += ["-" if r[f"{n} GB/s"] is None else
                      f"{r[f'{n} GB/s']:.0f}" for n in names]
            cells += ["-" if r[f"paged / {o}"] is None else
                      f"{r[f'paged / {o}']:.2f}" for o in _OTHERS]
            cells.append(f"{r['max_abs_err']:.1e}")
            f.write("| " + " | ".join(cells) + " |\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/kvcache")
    ap.add_argument("--lengths", default="8192,65536")
    ap.add_argument("--queries", default="1")
    ap.add_argument("--page-sizes", default="16,64,256")
    ap.add_argument("--heads", default="32:8")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--block-m", default="",
                    help="also time the paged kernel with these block_m")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--timing", choices=("eager", "graph"), default="eager",
                    help="graph: time 5 calls captured in one CUDA graph "
                         "(no host launch cost; \"paged validated\", "
                         "which synchronizes, is left out)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("kvcache_bench: no CUDA device")
    ceiling = copy_bandwidth(args.iters)
    print(f"device copy bandwidth: {ceiling:.0f} GB/s (read + write)")
    b, d, dtype = args.batch, args.head_dim, torch.bfloat16
    hq, hkv = (int(x) for x in args.heads.split(":"))
    block_ms = [int(x) for x in args.block_m.split(",") if x]
    rows = []
    for nk in (int(x) for x in args.lengths.split(",")):
        torch.manual_seed(0)
        k = torch.randn(b, nk, hkv, d, dtype=dtype, device="cuda")
        v = torch.randn_like(k)
        # SDPA's and attention()'s (B, H, N, D), contiguous.
        kt, vt = (t.transpose(1, 2).contiguous() for t in (k, v))
        for nq in (int(x) for x in args.queries.split(",")):
            q = torch.randn(b, nq, hq, d, dtype=dtype, device="cuda")
            qt = q.transpose(1, 2).contiguous()
            ref = F.scaled_dot_product_attention(
                qt, kt, vt, enable_gqa=True).transpose(1, 2).float()
            # The contiguous contenders, once per shape.
            base = time_all({
                "contiguous": lambda: fat.attention_with_kvcache(
                    q, k, v, nk),
                "fa_mlir": lambda: fat.attention(qt, kt, vt,
                                                 enable_gqa=True),
                "cudnn": sdpa_gqa(SDPBackend.CUDNN_ATTENTION, qt, kt, vt),
                "flash": sdpa_gqa(SDPBackend.FLASH_ATTENTION, qt, kt, vt),
            }, args.iters, args.timing == "graph")
            for page_size in (int(x) for x in args.page_sizes.split(",")):
                if nk % page_size:
                    continue
                kp, vp, table = paged_copy(k, v, page_size)
                lengths = torch.full((b,), nk, dtype=torch.int32,
                                     device="cuda")
                contenders = {
                    "paged": lambda: fat.attention_with_kvcache(
                        q, kp, vp, lengths, table, validate=False),
                    "paged validated": lambda: fat.attention_with_kvcache(
                        q, kp, vp, lengths, table),
                    "paged one kernel": lambda: fat.attention_with_kvcache(
                        q, kp, vp, lengths, table, validate=False,
                        _options={"split_kv": "none"}),
                }
                for bm in block_ms:
                    contenders[f"paged bm{bm}"] = (
                        lambda bm=bm: fat.attention_with_kvcache(
                            q, kp, vp, lengths, table, validate=False,
                            _options={"strategy": "mma-sync",
                                      "block_m": bm}))
                err = (fat.attention_with_kvcache(q, kp, vp, lengths, table)
                       .float() - ref).abs().max().item()
                if args.timing == "graph":
                    del contenders["paged validated"]
                times = time_all(contenders, args.iters,
                                 args.timing == "graph")
                times.update(base)
                gbs = {n: None if ms is None else
                       2 * b * hkv * nk * d * 2 / (ms * 1e-3) / 1e9
                       for n, ms in times.items()}
                row = {"b": b, "hq": hq, "hkv": hkv, "d": d, "nq": nq,
                       "nk": nk, "page_size": page_size}
                row.update({f"{n} GB/s": g for n, g in gbs.items()})
                for other in _OTHERS:
                    ok = gbs.get("paged") and gbs.get(other)
                    row[f"paged / {other}"] = (gbs["paged"] / gbs[other]
                                               if ok else None)
                row["max_abs_err"] = err
                rows.append(row)
                text = ", ".join(f"{n} {'-' if g is None else f'{g:.0f}'}"
                                 for n, g in gbs.items())
                ratios = ", ".join(
                    f"x {o} {row[f'paged / {o}']:.2f}"
                    for o in _OTHERS if row[f"paged / {o}"] is not None)
                share = (f" ({gbs['paged'] / ceiling:.0%} of copy)"
                         if gbs.get("paged") else "")
                print(f"Nq {nq} Nk {nk:6d} page {page_size:4d}: {text} GB/s"
                      f"{share}; paged {ratios}; err {err:.1e}", flush=True)
    if not rows:
        sys.exit("kvcache_bench: no case ran")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    keys = []
    for r in rows:
        keys += [key for key in r if key not in keys]
    with open(args.out + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    write_markdown(args.out + ".md", rows, ceiling)
    print(f"wrote {args.out}.csv and {args.out}.md")


if __name__ == "__main__":
    main()
