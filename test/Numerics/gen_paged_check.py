#!/usr/bin/env python3
"""Emits an MLIR program that checks fa.attention on a paged KV cache (CPU).

The op under test (docs/PagedKV.md) reads K and V through a block table:
Q [B, Hq, Nq, D], K cache [num_pages, page_size, Hkv, D], V cache
[num_pages, page_size, Hkv, Dv], O [B, Hq, Nq, Dv], LSE [B, Hq, Nq],
block_table i32 [B, max_pages], cache_seqlens i32 [B]. Sequence b has
nk_b = cache_seqlens[b] keys; its key j is
K[block_table[b, j / page_size], j % page_size, h]. page_size is static in
the types; B, Nq and num_pages are dynamic (--static-shapes: static).

The inputs are seeded multiples of 1/64 in [-1, 1), exact in f32, f16 and
bf16, so the program and this script see the same values. The pool pages
are handed to the sequences' logical pages in a seeded random order
(--page-order random) or in order; --share-pages maps the first page of
every sequence b > 0 to sequence 0's first page; --spare-pages adds pages
nobody uses. Pool rows no sequence reaches (spare pages, the tail of a last
page) are NaN: reading them into a result shows. Table entries past a
sequence's ceildiv(nk_b, page_size) pages hold page ids far outside the pool
(the op must never read them; on the CPU a read through one faults).

The reference is computed here, in float64, one sequence at a time (the
keys gathered through the same table, scale, the causal mask with the
sequence's own length, the modifications, softmax, times V), and embedded
as dense f32 constants. @main calls @attention (the op, lowered by whatever
passes the RUN line applies; O and LSE start filled with a sentinel) and
prints

  max_abs_err_out   max |O - ref|
  max_abs_err_lse   the same for LSE (with --lse; -inf must match -inf)

then PASS or FAIL (the conventions of gen_varlen_check.py, so the same
FileCheck lines apply). A NaN anywhere it is compared makes the check FAIL.
A row that sees no key (nk_b = 0, bottom-right with Nq > nk_b, a window)
must give O = 0 and LSE = -inf.

The modifications --softcap C, --alibi, --seq-bias (only LSE shows it, so
use --lse) and --window W (docs/ProgrammableAttention.md; b is the sequence,
q_idx the query row i, kv_idx the key position j within the sequence) are
listed in attention_check_common.py, which holds the reference, the
modification regions and the comparison this script shares with
gen_varlen_check.py. The causal masks: top_left keeps j <= i, bottom_right
j <= i + nk_b - Nq. The control --perturb-reference scales the reference O
by 1.001 (the check must then FAIL).

--seqlens-q N0,N1,... packs the queries instead (varlen(%cu_seqlens_q)
with paged(...), docs/PagedKV.md): Q [Tq, Hq, D] and O [Tq, Hq, Dv] with
sequence b at rows [cu_q[b], cu_q[b + 1]), its nq_b queries the last
positions of its nk_b keys (bottom_right: j <= i + nk_b - nq_b); the LSE
is [Hq, Tq]. --gap G rows follow the last sequence: NaN in Q, and O and
the LSE must keep their sentinel there. max_seqlen_q is the longest nq_b
(or --max-seqlen-q).

  gen_paged_check.py --dtype f16 --cache-seqlens 0,1,9,40 --nq 3 \\
      --page-size 8 --hq 4 --hkv 2 --causal bottom_right --lse --share-pages
"""

import argparse
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attention_check_common import (  # noqa: E402
    LSE_TOLERANCE, SENTINEL, TOLERANCE, Op, add_mod_args, check_heads,
    check_mods, constant_cast, dense, err_init, fmt_f32, fmt_input, lengths,
    main_prologue, max_err, packed_lse, packed_rows, pass_fail, print_err,
    reference)


def assign_pages(lens, page, share, spare, order, seed):
    """(block table rows without the unused entries, num_pages)."""
    counts = [-(-n // page) for n in lens]
    logical = [(b, p) for b in range(len(lens)) for p in range(counts[b])
               if not (share and b > 0 and p == 0)]
    num_pages = len(logical) + spare
    ids = list(range(num_pages))
    if order == "random":
        random.Random(seed * 7919 + 17).shuffle(ids)
    table = [[None] * c for c in counts]
    for (b, p), page_id in zip(logical, ids):
        table[b][p] = page_id
    if share:
        for b in range(1, len(lens)):
            if counts[b]:
                table[b][0] = table[0][0]
    return table, num_pages


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dtype", default="f32", choices=sorted(TOLERANCE))
    p.add_argument("--cache-seqlens", type=lengths, default=[0, 1, 9, 40],
                   help="nk_b per sequence (B = their count)")
    for name, default in [("nq", 3), ("page_size", 16), ("hq", 4),
                          ("hkv", 2), ("d", 16), ("dv", 16), ("seed", 1),
                          ("spare_pages", 0)]:
        p.add_argument("--" + name.replace("_", "-"), type=int,
                       default=default)
    p.add_argument("--seqlens-q", type=lengths, default=None,
                   help="pack the queries: nq_b per sequence (replaces --nq)")
    p.add_argument("--gap", type=int, default=2,
                   help="with --seqlens-q: unused rows after the last "
                        "sequence")
    p.add_argument("--max-seqlen-q", type=int, default=None)
    p.add_argument("--max-pages", type=int, default=None,
                   help="width of the block table (default: the most pages "
                        "a sequence needs)")
    p.add_argument("--page-order", choices=["random", "sequential"],
                   default="random")
    p.add_argument("--share-pages", action="store_true",
                   help="sequences b > 0 use sequence 0's first page as "
                        "their first")
    p.add_argument("--static-shapes", action="store_true",
                   help="B, Nq, num_pages and max_pages static in the op")
    add_mod_args(p)
    a = p.parse_args()
    lens, P, nq = a.cache_seqlens, a.page_size, a.nq
    packed = a.seqlens_q is not None
    if packed and len(a.seqlens_q) != len(lens):
        p.error("--seqlens-q needs one length per sequence of "
                "--cache-seqlens")
    # Query counts per sequence, and the first packed row of each.
    nqs = a.seqlens_q if packed else [nq] * len(lens)
    cu_q = [sum(nqs[:b]) for b in range(len(lens) + 1)]
    tq = cu_q[-1] + (a.gap if packed else 0)
    max_q = max(nqs + [0]) if a.max_seqlen_q is None else a.max_seqlen_q
    if packed and (a.gap < 0 or max_q < max(nqs + [0])):
        p.error("bad --gap or --max-seqlen-q")
    check_heads(p, a)
    if min(a.d, a.dv, P) < 1 or nq < 0 or a.spare_pages < 0:
        p.error("bad --d / --dv / --page-size / --nq / --spare-pages")
    if a.share_pages and lens[0] == 0:
        p.error("--share-pages needs a first sequence with a page")
    check_mods(p, a)

    t, B = a.dtype, len(lens)
    hq, hkv, d, dv = a.hq, a.hkv, a.d, a.dv
    table, num_pages = assign_pages(lens, P, a.share_pages, a.spare_pages,
                                    a.page_order, a.seed)
    if num_pages < 1:
        p.error("no page in the pool (add --spare-pages)")
    need = max(len(row) for row in table)
    max_pages = max(need, 1) if a.max_pages is None else a.max_pages
    if max_pages < need or max_pages < 1:
        p.error(f"--max-pages must be at least {max(need, 1)}")
    # Entries past a sequence's pages: ids far outside the pool, so that
    # a read through one faults rather than finding other data.
    unused = [(1 << 24) + 1000 * b + s for b in range(B)
              for s in range(max_pages)]
    full_table = [[table[b][s] if s < len(table[b]) else unused[b * max_pages + s]
                   for s in range(max_pages)] for b in range(B)]

    # Inputs. Pool rows: [page][row][head][d], None (NaN) where no
    # sequence reaches.
    reached = {(table[b][j // P], j % P) for b in range(B)
               for j in range(lens[b])}
    rng = random.Random(a.seed)

    def val():
        return rng.randrange(-64, 64) / 64.0
    # q[b][h][i]: query i of sequence b (packed: row cu_q[b] + i).
    q = [[[[val() for _ in range(d)] for _ in range(nqs[b])]
          for _ in range(hq)] for b in range(B)]

    def pool(width):
        return [[[[val() for _ in range(width)] for _ in range(hkv)]
                 if (pg, r) in reached else None for r in range(P)]
                for pg in range(num_pages)]
    kc = pool(d)
    vc = pool(dv)

    # Reference, in float64 from the f32 constants the program uses; key j
    # of sequence b through the block table.
    def row(pool_, b, g, j):
        return pool_[table[b][j // P]][j % P][g]
    out, lse = reference(a, d, dv, hq, hkv, nqs, lens,
                         lambda b, h, i: q[b][h][i],
                         lambda b, g, j: row(kc, b, g, j),
                         lambda b, g, j: row(vc, b, g, j))

    # Types: the static ones of the constants, those of the op (dynamic B,
    # Nq, num_pages and max_pages unless --static-shapes).
    def ty(shape, elt, dyn=()):
        dims = ["?" if i in dyn and not a.static_shapes else str(x)
                for i, x in enumerate(shape)]
        return "tensor<" + "x".join(dims + [elt]) + ">"
    if packed:
        qsh, osh, lsh = [tq, hq, d], [tq, hq, dv], [hq, tq]
        qdyn, ldyn = (0,), (1,)
    else:
        qsh, osh, lsh = [B, hq, nq, d], [B, hq, nq, dv], [B, hq, nq]
        qdyn, ldyn = (0, 2), (0, 2)
    ksh, vsh = [num_pages, P, hkv, d], [num_pages, P, hkv, dv]
    qs, qt = ty(qsh, t), ty(qsh, t, qdyn)
    ks, kt = ty(ksh, t), ty(ksh, t, (0,))
    vs, vt = ty(vsh, t), ty(vsh, t, (0,))
    os_, ot = ty(osh, t), ty(osh, t, qdyn)
    ls, lt = ty(lsh, "f32"), ty(lsh, "f32", ldyn)
    cqs, cqt = ty([B + 1], "i32"), ty([B + 1], "i32", (0,))
    bts, btt = ty([B, max_pages], "i32"), ty([B, max_pages], "i32", (0, 1))
    sls, slt_ = ty([B], "i32"), ty([B], "i32", (0,))

    # The op under test.
    layout = ""
    if packed:
        layout += (f"\n      varlen(%cu_seqlens_q : {cqt}) "
                   "max_seqlen_q = %max_seqlen_q")
    layout += f"\n      paged(%block_table, %cache_seqlens : {btt}, {slt_})"
    op = Op(a, hq, B, ot, lt, layout)
    varlen_arg = (f", %cu_seqlens_q: {cqt}, %max_seqlen_q: index" if packed
                  else "")
    print(f"""// Generated by gen_paged_check.py; see the RUN line that made it.
// cache_seqlens = {lens}, page_size = {P}, num_pages = {num_pages}{f", seqlens_q = {nqs}" if packed else ""}
// block_table = {[row[:len(table[b])] for b, row in enumerate(full_table)]} (+ unused entries)
#a4 = affine_map<(b, h, i, e) -> (b, h, i, e)>
#s4 = affine_map<(b, h, i, e) -> ()>
#a3 = affine_map<(b, h, i) -> (b, h, i)>
#s3 = affine_map<(b, h, i) -> ()>
#a2 = affine_map<(h, i) -> (h, i)>
#s2 = affine_map<(h, i) -> ()>
""")
    print(op.func(("q", "k_cache", "v_cache"), (qt, kt, vt), ot, varlen_arg,
                  f"%block_table: {btt}, %cache_seqlens: {slt_}"))

    def flat_q(x, width, fill):
        """x[b][h][i] (rows of `width`) in the layout of Q or O."""
        if not packed:
            return [e for bb in x for hh in bb for ii in hh for e in ii]
        return packed_rows(x, cu_q, tq, hq, width, fill)

    def flat_lse(x):
        if not packed:
            return [v for bb in x for hh in bb for v in hh]
        return packed_lse(x, cu_q, tq, hq)

    def flat_pool(x, w):
        return [e for pg in x for r in pg
                for e in ([c for hh in r for c in hh] if r is not None
                          else [math.nan] * (hkv * w))]
    fin = fmt_input(t)
    lines = main_prologue(t)
    for name, vals, st, dt, shape in (
            ("q", flat_q(q, d, math.nan), qs, qt, qsh),
            ("k_cache", flat_pool(kc, d), ks, kt, ksh),
            ("v_cache", flat_pool(vc, dv), vs, vt, vsh)):
        lines += constant_cast(name, dense(vals, shape, fin), st, dt)
    lines += constant_cast(
        "block_table",
        dense([e for r in full_table for e in r], [B, max_pages], str),
        bts, btt)
    lines += constant_cast("cache_seqlens", dense(lens, [B], str), sls, slt_)
    more, call_args, call_tys = op.outputs(t, os_, ot, ls, lt,
                                           "%q, %k_cache, %v_cache",
                                           f"{qt}, {kt}, {vt}")
    lines += more
    if packed:
        lines += constant_cast("cu_seqlens_q", dense(cu_q, [B + 1], str),
                               cqs, cqt)
        lines += [f"  %max_seqlen_q = arith.constant {max_q} : index"]
        call_args += ", %cu_seqlens_q, %max_seqlen_q"
        call_tys += f", {cqt}, index"
    lines.append(op.call(call_args + ", %block_table, %cache_seqlens",
                         f"{call_tys}, {btt}, {slt_}"))

    # Comparison against the reference.
    ofs = ty(osh, "f32")
    lines += [
        f"  %oref = arith.constant "
        f"{dense(flat_q(out, dv, SENTINEL), osh, fmt_f32)}"
        f" : {ofs}",
        f"  %os = tensor.cast %o : {ot} to {os_}"]
    lines += err_init()
    n = len(osh)
    lines += max_err("err_t", "os", "oref", os_, ofs,
                     [f"#a{n}", f"#a{n}", f"#s{n}"], n, t, False)
    lines += print_err("max_abs_err_out", "err", TOLERANCE[t], "tol", "ok_o")
    if a.lse:
        lines += [
            f"  %lref = arith.constant "
            f"{dense(flat_lse(lse), lsh, fmt_f32)}"
            f" : {ls}",
            f"  %lss = tensor.cast %l : {lt} to {ls}"]
        n = len(lsh)
        lines += max_err("lerr_t", "lss", "lref", ls, ls,
                         [f"#a{n}", f"#a{n}", f"#s{n}"], n, "f32", True,
                         names=("lerr",))
        lines += print_err("max_abs_err_lse", "lerr", LSE_TOLERANCE, "ltol",
                           "ok_l")
        lines += ["  %ok = arith.andi %ok_o, %ok_l : i1"]
    else:
        lines += ["  %ok = arith.andi %ok_o, %ok_o : i1"]
    lines += pass_fail()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
