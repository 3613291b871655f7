"""What check_paged.py and check_varlen_paged.py share: reading the dumped
16-bit floats, checking the block table and the pools, and checking a
printed row against attention in fp64 over its keys read through the table.
"""

import math
import re

import numpy as np


def half(path, dtype):
    """The raw bf16 or f16 values of `path` as float64."""
    bits = np.fromfile(path, dtype=np.uint16)
    if dtype == "bf16":
        return (bits.astype(np.uint32) << 16).view(np.float32).astype(
            np.float64)
    return bits.view(np.float16).astype(np.float64)


def check_pools(table, lens, k, v, S, generated, errors):
    """Checks the table entries each sequence reads (page ids of the pool;
    with `generated`, the entries past them are not) and that the pools'
    rows some sequence reaches are finite and the others NaN. Returns the
    (b, p, page) of every entry read."""
    B, M = table.shape
    P = k.shape[0]
    reached = np.zeros((P, S), dtype=bool)
    reads = []
    for b in range(B):
        pages = -(-int(lens[b]) // S)
        for p in range(M):
            page = int(table[b, p])
            if p >= pages:
                if generated and 0 <= page < P:
                    errors.append("block_table[%d, %d] = %d is unused but a "
                                  "page of the pool" % (b, p, page))
                continue
            if not 0 <= page < P:
                errors.append("block_table[%d, %d] = %d is read but outside "
                              "the pool's %d pages" % (b, p, page, P))
                continue
            reads.append((b, p, page))
            reached[page, :min(S, int(lens[b]) - p * S)] = True
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
    return reads


ROW = re.compile(r"row b=(\d+) h=(\d+) i=(\d+) kept=(\d+) "
                 r"lse=(\S+) out=(\S+)")


def printed_rows(output):
    """The rows fa-runner printed to `output`: (b, h, i, kept, lse, out)."""
    with open(output) as f:
        for line in f:
            m = ROW.match(line)
            if m:
                b, h, i, kept = (int(m.group(n)) for n in range(1, 5))
                out = np.array([float(x) for x in m.group(6).split(",")])
                yield b, h, i, kept, float(m.group(5)), out


def kept_keys(causal, i, nq, nk, doc, b):
    """The positions of the keys query i of sequence b (nq queries, the last
    of its nk positions) keeps: causal, and with `doc` of its document."""
    end = nk
    if causal == "top_left":
        end = min(nk, i + 1)
    elif causal == "bottom_right":
        end = max(0, min(nk, i + nk - nq + 1))
    j = np.arange(end)
    if doc is not None:
        j = j[doc[b, j] == doc[b, i]]
    return j


def check_row(where, kept, lse, out, q, at, pages, j, k, v, S, kvh, scale,
              errors):
    """Checks a printed row (kept, lse, out) against attention in fp64 of
    query q[at] over keys `j` of key/value head `kvh`, read through `pages`
    (the sequence's table row); returns whether the row is empty."""
    keys = k[pages[j // S], j % S, kvh]
    vals = v[pages[j // S], j % S, kvh]
    if kept != j.size:
        errors.append("%s: kept %d, expected %d" % (where, kept, j.size))
    if j.size == 0:
        if not (math.isinf(lse) and lse < 0) or np.any(out != 0):
            errors.append("%s: empty, but lse=%s out=%s" %
                          (where, lse, out[:4]))
        return True
    s = keys @ q[at] * scale
    mx = s.max()
    e = np.exp(s - mx)
    want = (e @ vals) / e.sum()
    want_lse = mx + math.log(e.sum())
    if abs(lse - want_lse) > 1e-9 * max(1.0, abs(want_lse)) or \
            not np.allclose(out, want[:out.size], rtol=1e-9, atol=1e-12):
        errors.append("%s: lse %r out %s, expected %r %s" %
                      (where, lse, out[:4], want_lse, want[:4]))
    return False
