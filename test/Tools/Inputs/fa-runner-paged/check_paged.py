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
import math
import os
import re
import sys

import numpy as np


def half(path, dtype):
    bits = np.fromfile(path, dtype=np.uint16)
    if dtype == "bf16":
        return (bits.astype(np.uint32) << 16).view(np.float32).astype(
            np.float64)
    return bits.view(np.float16).astype(np.float64)


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
    M = table.shape[1]
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
    reached = np.zeros((P, S), dtype=bool)
    reads = []  # (b, p, page) of every entry a sequence reads
    for b in range(B):
        pages = -(-int(lens[b]) // S)
        for p in range(M):
            page = int(table[b, p])
            if p >= pages:
                if a.generated and 0 <= page < P:
                    errors.append("block_table[%d, %d] = %d is unused but a "
                                  "page of the pool" % (b, p, page))
                continue
            if not 0 <= page < P:
                errors.append("block_table[%d, %d] = %d is read but outside "
                              "the pool's %d pages" % (b, p, page, P))
                continue
            reads.append((b, p, page))
            rows = min(S, int(lens[b]) - p * S)
            reached[page, :rows] = True
    for pool, name in ((k, "k"), (v, "v")):
        finite = np.isfinite(pool).all(axis=(2, 3))
        nan = np.isnan(pool).all(axis=(2, 3))
        if not (finite == reached).all() or not (nan == ~reached).all():
            bad = np.argwhere((finite != reached) | (nan == reached))[0]
            errors.append("%s pool row (page %d, row %d): reached %s, but "
                          "not all %s" % (name, bad[0], bad[1],
                                          reached[bad[0], bad[1]],
                                          "finite" if reached[bad[0], bad[1]]
                                          else "NaN"))
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
    row_re = re.compile(r"row b=(\d+) h=(\d+) i=(\d+) kept=(\d+) "
                        r"lse=(\S+) out=(\S+)")
    checked = empty = 0
    with open(a.output) as f:
        for line in f:
            m = row_re.match(line)
            if not m:
                continue
            b, h, i, kept = (int(m.group(n)) for n in range(1, 5))
            lse = float(m.group(5))
            out = np.array([float(x) for x in m.group(6).split(",")])
            nk = int(lens[b])
            end = nk
            if a.causal == "top_left":
                end = min(nk, i + 1)
            elif a.causal == "bottom_right":
                end = max(0, min(nk, i + nk - Nq + 1))
            kvh = h // (Hq // Hkv)
            j = np.arange(end)
            if doc is not None:
                j = j[doc[b, j] == doc[b, i]]
                end = j.size
            keys = k[table[b, j // S], j % S, kvh] if end else np.zeros((0, D))
            vals = v[table[b, j // S], j % S, kvh] if end else np.zeros((0, D))
            where = "row b=%d h=%d i=%d" % (b, h, i)
            if kept != end:
                errors.append("%s: kept %d, expected %d" % (where, kept, end))
            if end == 0:
                empty += 1
                if not (math.isinf(lse) and lse < 0) or np.any(out != 0):
                    errors.append("%s: empty, but lse=%s out=%s" %
                                  (where, lse, out[:4]))
            else:
                s = keys @ q[b, h, i] * a.scale
                mx = s.max()
                e = np.exp(s - mx)
                want = (e @ vals) / e.sum()
                want_lse = mx + math.log(e.sum())
                cols = out.size
                if abs(lse - want_lse) > 1e-9 * max(1.0, abs(want_lse)) or \
                        not np.allclose(out, want[:cols], rtol=1e-9,
                                        atol=1e-12):
                    errors.append("%s: lse %r out %s, expected %r %s" %
                                  (where, lse, out[:4], want_lse, want[:4]))
            checked += 1
    if checked == 0:
        errors.append("no row printed")
    if errors:
        print("\n".join(errors[:20]))
        sys.exit(1)
    print("checked %d rows (%d empty), %d pages: OK" % (checked, empty, P))


if __name__ == "__main__":
    main()
