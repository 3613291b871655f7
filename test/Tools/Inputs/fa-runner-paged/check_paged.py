"""Checks fa-runner --reference-only on a paged kernel against numpy.

fa-runner <paged kernel> --reference-only --print-rows ... --dump-inputs DIR
prints, per row, the fp64 reference ("row b= h= i= kept= lse= out=...") and
writes what a launch would pass the kernel to DIR: q.bin ([B, Hq, Nq, D]),
k.bin and v.bin (the pools, [num_pages, page_size, Hkv, D], raw 16-bit
floats), block_table.bin ([B, max_pages]) and cache_seqlens.bin ([B]), i32.
This script checks, independently of fa-runner's code:

  - the pools: every row some sequence reaches through the table is finite,
    every other row (unused pages, the tail of a last page) is NaN;
  - the table: the entries a sequence reads are page ids of the pool; with
    --generated (fa-runner made the table), the entries past them are not
    (a kernel reading them would fault), no two reads share a page unless
    --shared says sequences after the first share sequence 0's first page,
    and the pages are handed out in order under sequential (random: not in
    order);
  - each printed row: attention in fp64 of query (b, h, i) over sequence b's
    keys read through the table (key j is K[table[b, j // S], j % S]),
    causal by the sequence's own length (with --document, also only keys
    of the query's document: capture0.bin, i32 [B, N], read at the
    sequence's own index b); the kept count, LSE and output must agree to
    1e-9 (an empty row: zeros and an LSE of -inf).

It prints "checked N rows (E empty), P pages: OK" or the mismatches and
exits 1.

usage: check_paged.py DIR OUTPUT --dtype bf16|f16 --sizes B,Hq,Hkv,Nq,D
           --page-size S --scale SCALE [--causal none|top_left|bottom_right]
           [--generated random|sequential] [--shared] [--document]
"""

import argparse
import os
import sys

import numpy as np

from paged_common import check_pools, check_row, half, kept_keys, printed_rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("output")
    ap.add_argument("--dtype", required=True)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--page-size", type=int, required=True)
    ap.add_argument("--scale", type=float, required=True)
    ap.add_argument("--causal", default="none")
    ap.add_argument("--generated", choices=("random", "sequential"))
    ap.add_argument("--shared", action="store_true")
    ap.add_argument("--document", action="store_true")
    a = ap.parse_args()
    B, Hq, Hkv, Nq, D = (int(x) for x in a.sizes.split(","))
    S = a.page_size
    lens = np.fromfile(os.path.join(a.dir, "cache_seqlens.bin"), np.int32)
    table = np.fromfile(os.path.join(a.dir, "block_table.bin"),
                        np.int32).reshape(B, -1)
    q = half(os.path.join(a.dir, "q.bin"), a.dtype).reshape(B, Hq, Nq, D)
    k = half(os.path.join(a.dir, "k.bin"), a.dtype).reshape(-1, S, Hkv, D)
    v = half(os.path.join(a.dir, "v.bin"), a.dtype).reshape(-1, S, Hkv, D)
    P = k.shape[0]
    doc = None
    if a.document:
        doc = np.fromfile(os.path.join(a.dir, "capture0.bin"),
                          np.int32).reshape(B, -1)
    errors = []
    if lens.shape != (B,):
        errors.append("cache_seqlens has %d entries, expected %d" %
                      (lens.size, B))

    # The table and the pools.
    reads = check_pools(table, lens, k, v, S, a.generated, errors)
    if a.generated:
        own = [page for b, p, page in reads
               if not (a.shared and b > 0 and p == 0)]
        if len(set(own)) != len(own):
            errors.append("two reads share a page: %s" % own)
        if a.shared:
            for b, p, page in reads:
                if b > 0 and p == 0 and page != table[0, 0]:
                    errors.append("sequence %d's first page is %d, not "
                                  "sequence 0's (%d)" % (b, page,
                                                         table[0, 0]))
        in_order = own == list(range(len(own)))
        if in_order != (a.generated == "sequential"):
            errors.append("pages handed out %s under --page-order %s: %s" %
                          ("in order" if in_order else "not in order",
                           a.generated, own))

    # The printed rows.
    checked = empty = 0
    for b, h, i, kept, lse, out in printed_rows(a.output):
        j = kept_keys(a.causal, i, Nq, int(lens[b]), doc, b)
        empty += check_row("row b=%d h=%d i=%d" % (b, h, i), kept, lse, out,
                           q, (b, h, i), table[b], j, k, v, S,
                           h // (Hq // Hkv), a.scale, errors)
        checked += 1
    if checked == 0:
        errors.append("no row printed")
    if errors:
        print("\n".join(errors[:20]))
        sys.exit(1)
    print("checked %d rows (%d empty), %d pages: OK" % (checked, empty, P))


if __name__ == "__main__":
    main()
