"""Checks fa-runner --reference-only on a varlen-paged kernel against numpy.

fa-runner <varlen-paged kernel> --reference-only --print-rows ...
--dump-inputs DIR prints, per row, the fp64 reference ("row b= h= i= kept=
lse= out=...": sequence b, query head h, position i among the sequence's
queries) and writes what a launch would pass the kernel to DIR: q.bin (the
packed queries, [Tq, Hq, D], raw 16-bit floats), k.bin and v.bin (the
pools, [num_pages, page_size, Hkv, D]), cu_seqlens_q.bin ([B + 1]),
block_table.bin ([B, max_pages]) and cache_seqlens.bin ([B]), i32. This
script checks, independently of fa-runner's code:

  - the offsets: with --seqlens-q and --gap, cu_seqlens_q packs those
    lengths after the gap and Q has the gap again after the last sequence;
  - Q: rows inside a sequence are finite, every other row is NaN;
  - the pools: every row some sequence reaches through the table is finite,
    every other row is NaN; the table entries a sequence reads are page ids
    of the pool, and (--generated: fa-runner made the table) the entries
    past them are not;
  - each printed row: attention in fp64 of query i of sequence b (packed
    row cu[b] + i) over its nk_b keys read through the table (key j is
    K[table[b, j // S], j % S]); the queries are the sequence's last n_b
    positions, so bottom-right keeps j <= i + nk_b - n_b and top-left
    j <= i (with --document, also only keys of the query's document:
    capture0.bin, i32 [B, N], at doc[b, i] and doc[b, j]). The kept count,
    LSE and output must agree to 1e-9 (an empty row: zeros, LSE -inf);
  - with --all, the printed rows are every (b, h, i) exactly once.

It prints "checked N rows (E empty), T query rows, P pages: OK" or the
mismatches and exits 1.

usage: check_varlen_paged.py DIR OUTPUT --dtype bf16|f16 --heads HQ,HKV
           --head-dim D --page-size S --scale SCALE
           [--causal none|top_left|bottom_right] [--seqlens-q L0,L1,...]
           [--gap G] [--generated] [--document] [--all]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fa-runner-paged"))
from paged_common import (check_pools, check_row, half,  # noqa: E402
                         kept_keys, printed_rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("output")
    ap.add_argument("--dtype", required=True)
    ap.add_argument("--heads", required=True)
    ap.add_argument("--head-dim", type=int, required=True)
    ap.add_argument("--page-size", type=int, required=True)
    ap.add_argument("--scale", type=float, required=True)
    ap.add_argument("--causal", default="none")
    ap.add_argument("--seqlens-q")
    ap.add_argument("--gap", type=int, default=0)
    ap.add_argument("--generated", action="store_true")
    ap.add_argument("--document", action="store_true")
    ap.add_argument("--all", action="store_true")
    a = ap.parse_args()
    Hq, Hkv = (int(x) for x in a.heads.split(","))
    D, S = a.head_dim, a.page_size
    path = lambda name: os.path.join(a.dir, name)  # noqa: E731
    cu = np.fromfile(path("cu_seqlens_q.bin"), np.int32).astype(np.int64)
    lens = np.fromfile(path("cache_seqlens.bin"), np.int32).astype(np.int64)
    B = lens.size
    table = np.fromfile(path("block_table.bin"), np.int32).reshape(B, -1)
    q = half(path("q.bin"), a.dtype).reshape(-1, Hq, D)
    k = half(path("k.bin"), a.dtype).reshape(-1, S, Hkv, D)
    v = half(path("v.bin"), a.dtype).reshape(-1, S, Hkv, D)
    T, P = q.shape[0], k.shape[0]
    doc = None
    if a.document:
        doc = np.fromfile(path("capture0.bin"), np.int32).reshape(B, -1)
    errors = []

    # The offsets and Q.
    if cu.size != B + 1:
        errors.append("cu_seqlens_q has %d offsets for %d sequences" %
                      (cu.size, B))
    if a.seqlens_q is not None:
        want = np.concatenate(([a.gap], a.gap + np.cumsum(
            [int(x) for x in a.seqlens_q.split(",")])))
        if cu.tolist() != want.tolist():
            errors.append("cu_seqlens_q is %s, expected %s" %
                          (cu.tolist(), want.tolist()))
        if T != want[-1] + a.gap:
            errors.append("q has %d rows, expected %d" %
                          (T, want[-1] + a.gap))
    inside = np.zeros(T, dtype=bool)
    inside[cu[0]:cu[-1]] = True
    finite = np.isfinite(q).all(axis=(1, 2))
    nan = np.isnan(q).all(axis=(1, 2))
    if not (finite == inside).all() or not (nan == ~inside).all():
        t = int(np.argwhere((finite != inside) | (nan == inside))[0][0])
        errors.append("q row %d: inside a sequence %s, but not all %s" %
                      (t, inside[t], "finite" if inside[t] else "NaN"))

    # The table and the pools.
    check_pools(table, lens, k, v, S, a.generated, errors)

    # The printed rows.
    checked = empty = 0
    seen = set()
    for b, h, i, kept, lse, out in printed_rows(a.output):
        seen.add((b, h, i))
        where = "row b=%d h=%d i=%d" % (b, h, i)
        nq, nk = int(cu[b + 1] - cu[b]), int(lens[b])
        if i >= nq:
            errors.append("%s: sequence %d has %d queries" % (where, b, nq))
            continue
        j = kept_keys(a.causal, i, nq, nk, doc, b)
        empty += check_row(where, kept, lse, out, q, (cu[b] + i, h),
                           table[b], j, k, v, S, h // (Hq // Hkv), a.scale,
                           errors)
        checked += 1
    if checked == 0:
        errors.append("no row printed")
    if a.all:
        every = {(b, h, i) for b in range(B) for h in range(Hq)
                 for i in range(int(cu[b + 1] - cu[b]))}
        if seen != every or checked != len(every):
            errors.append("printed %d rows (%d distinct), expected every one "
                          "of the %d rows" % (checked, len(seen),
                                              len(every)))
    if errors:
        print("\n".join(errors[:20]))
        sys.exit(1)
    print("checked %d rows (%d empty), %d query rows, %d pages: OK" %
          (checked, empty, T, P))


if __name__ == "__main__":
    main()
