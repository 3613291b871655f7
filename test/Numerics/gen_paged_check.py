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

Modifications (docs/ProgrammableAttention.md; b is the sequence, q_idx the
query row i, kv_idx the key position j within the sequence):

  --softcap C   score_mod  C * tanh(s / C)
  --alibi       score_mod  s + slopes[h] * (kv_idx - q_idx); capture slopes:
                f32 [Hq], 2^(-8 (h + 1) / Hq)
  --seq-bias    score_mod  s + seqbias[b]; capture seqbias: f32 [B], (b + 1) / 4
                (a constant per sequence: only LSE shows it, so use --lse)
  --window W    mask_mod   q_idx - W < kv_idx <= q_idx (and-ed with --causal)

The causal masks: top_left keeps j <= i, bottom_right j <= i + nk_b - Nq.
The control --perturb-reference scales the reference O by 1.001 (the check
must then FAIL).

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
from gen_varlen_check import (LSE_TOLERANCE, NAN_HEX, SENTINEL,  # noqa: E402
                              mods_clause,
                              TOLERANCE, dense, f32, fmt_f32, lengths)


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
    p.add_argument("--causal", choices=["none", "top_left", "bottom_right"],
                   default="none")
    p.add_argument("--scale", type=float, default=None)
    p.add_argument("--lse", action="store_true")
    p.add_argument("--perturb-reference", action="store_true",
                   help="bias the reference (the check must then FAIL)")
    p.add_argument("--softcap", type=float, default=None, metavar="C",
                   help="score_mod: C * tanh(score / C)")
    p.add_argument("--alibi", action="store_true",
                   help="score_mod: score + slopes[h] * (kv_idx - q_idx)")
    p.add_argument("--seq-bias", action="store_true",
                   help="score_mod: score + seqbias[b] (seen in LSE)")
    p.add_argument("--window", type=int, default=None, metavar="W",
                   help="mask_mod: q_idx - W < kv_idx <= q_idx")
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
    if a.hq < 1 or a.hkv < 1 or a.hq % a.hkv:
        p.error("--hq must be a positive multiple of --hkv")
    if min(a.d, a.dv, P) < 1 or nq < 0 or a.spare_pages < 0:
        p.error("bad --d / --dv / --page-size / --nq / --spare-pages")
    if a.share_pages and lens[0] == 0:
        p.error("--share-pages needs a first sequence with a page")
    if a.softcap is not None and not a.softcap > 0:
        p.error("--softcap must be positive")
    if a.window is not None and a.window < 1:
        p.error("--window must be at least 1")

    t, B = a.dtype, len(lens)
    hq, hkv, d, dv, group = a.hq, a.hkv, a.d, a.dv, a.hq // a.hkv
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

    # Reference, in float64 from the f32 constants the program uses.
    scale = f32(a.scale if a.scale is not None else 1.0 / math.sqrt(d))
    cap = f32(a.softcap) if a.softcap is not None else None
    slopes = [f32(2.0 ** (-8.0 * (h + 1) / hq)) for h in range(hq)]
    out = [[[None] * nqs[b] for _ in range(hq)] for b in range(B)]
    lse = [[[None] * nqs[b] for _ in range(hq)] for b in range(B)]
    bias = 1.001 if a.perturb_reference else 1.0
    for b in range(B):
        nk, nq = lens[b], nqs[b]

        def row(pool_, j, g):
            return pool_[table[b][j // P]][j % P][g]
        for h in range(hq):
            g = h // group
            for i in range(nq):
                qi = q[b][h][i]
                scores = []
                for j in range(nk):
                    if a.causal == "top_left" and j > i:
                        continue
                    if a.causal == "bottom_right" and j > i + nk - nq:
                        continue
                    if a.window is not None and not i - a.window < j <= i:
                        continue
                    kj = row(kc, j, g)
                    s = f32(scale * f32(sum(x * y for x, y in zip(qi, kj))))
                    if cap is not None:
                        s = cap * math.tanh(s / cap)
                    if a.alibi:
                        s += slopes[h] * (j - i)
                    if a.seq_bias:
                        s += (b + 1) / 4.0
                    scores.append((j, s))
                if not scores:
                    out[b][h][i] = [0.0] * dv
                    lse[b][h][i] = -math.inf
                    continue
                m = max(s for _, s in scores)
                ws = [(j, math.exp(s - m)) for j, s in scores]
                tot = sum(w for _, w in ws)
                out[b][h][i] = [bias * sum(w * row(vc, j, g)[e]
                                           for j, w in ws) / tot
                                for e in range(dv)]
                lse[b][h][i] = m + math.log(tot)

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
    slt, sbt = f"tensor<{hq}xf32>", f"tensor<{B}xf32>"

    # The op under test.
    captures = ([("slopes", slt)] if a.alibi else []) + \
        ([("seqbias", sbt)] if a.seq_bias else [])
    cap_args = "".join(f", %{n}: {ty_}" for n, ty_ in captures)
    clause = ""
    if captures:
        clause += ("\n      captures(" + ", ".join("%" + n for n, _ in captures)
                   + " : " + ", ".join(ty_ for _, ty_ in captures) + ")")
    if packed:
        clause += (f"\n      varlen(%cu_seqlens_q : {cqt}) "
                   "max_seqlen_q = %max_seqlen_q")
    clause += f"\n      paged(%block_table, %cache_seqlens : {btt}, {slt_})"
    if a.scale is not None:
        clause += f" scale = {a.scale:.9e}"
    if a.causal != "none":
        clause += f" causal = <{a.causal}>"
    clause += mods_clause(a, captures, slt, sbt)
    outs = f"%o0, %l0 : {ot}, {lt}" if a.lse else f"%o0 : {ot}"
    res_t = f"{ot}, {lt}" if a.lse else ot
    res = "%o, %l" if a.lse else "%o"
    lse_arg = f", %l0: {lt}" if a.lse else ""
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

func.func @attention(%q: {qt}, %k_cache: {kt}, %v_cache: {vt}, %o0: {ot}{lse_arg}{cap_args}{varlen_arg},
                     %block_table: {btt}, %cache_seqlens: {slt_}) -> ({res_t}) {{
  {res} = fa.attention ins(%q, %k_cache, %v_cache : {qt}, {kt}, {vt})
      outs({outs}){clause}
      -> {res_t}
  return {res} : {res_t}
}}
""")

    nan = NAN_HEX[t]
    fin = (lambda x: nan if math.isnan(x) else repr(x))

    def flat_q(x, width, fill):
        """x[b][h][i] (rows of `width`) in the layout of Q or O."""
        if not packed:
            return [e for bb in x for hh in bb for ii in hh for e in ii]
        rows = [[[fill] * width for _ in range(hq)] for _ in range(tq)]
        for b in range(B):
            for h in range(hq):
                for i in range(nqs[b]):
                    rows[cu_q[b] + i][h] = x[b][h][i]
        return [e for r in rows for hh in r for e in hh]

    def flat_lse(x):
        if not packed:
            return [v for bb in x for hh in bb for v in hh]
        rows = [[SENTINEL] * tq for _ in range(hq)]
        for b in range(B):
            for h in range(hq):
                for i in range(nqs[b]):
                    rows[h][cu_q[b] + i] = x[b][h][i]
        return [v for r in rows for v in r]

    def flat_pool(x, w):
        return [e for pg in x for r in pg
                for e in ([c for hh in r for c in hh] if r is not None
                          else [math.nan] * (hkv * w))]
    lines = ["func.func @main() {",
             "  %zero = arith.constant 0.0 : f32",
             f"  %sent = arith.constant {SENTINEL} : {t}",
             f"  %sent32 = arith.constant {SENTINEL} : f32",
             "  %ninf = arith.constant 0xFF800000 : f32"]
    for name, vals, st, dt, shape in (
            ("q", flat_q(q, d, math.nan), qs, qt, qsh),
            ("k_cache", flat_pool(kc, d), ks, kt, ksh),
            ("v_cache", flat_pool(vc, dv), vs, vt, vsh)):
        lines += [f"  %{name}_s = arith.constant "
                  f"{dense(vals, shape, fin)} : {st}",
                  f"  %{name} = tensor.cast %{name}_s : {st} to {dt}"]
    lines += [f"  %block_table_s = arith.constant "
              f"{dense([e for r in full_table for e in r], [B, max_pages], str)}"
              f" : {bts}",
              f"  %block_table = tensor.cast %block_table_s : {bts} to {btt}",
              f"  %cache_seqlens_s = arith.constant "
              f"{dense(lens, [B], str)} : {sls}",
              f"  %cache_seqlens = tensor.cast %cache_seqlens_s : {sls} to "
              f"{slt_}",
              f"  %o0e = tensor.empty() : {os_}",
              f"  %o0s = linalg.fill ins(%sent : {t}) outs(%o0e : {os_}) -> {os_}",
              f"  %o0 = tensor.cast %o0s : {os_} to {ot}"]
    call_args, call_tys = ("%q, %k_cache, %v_cache, %o0",
                           f"{qt}, {kt}, {vt}, {ot}")
    if a.lse:
        lines += [f"  %l0e = tensor.empty() : {ls}",
                  f"  %l0s = linalg.fill ins(%sent32 : f32) outs(%l0e : {ls}) -> {ls}",
                  f"  %l0 = tensor.cast %l0s : {ls} to {lt}"]
        call_args, call_tys = call_args + ", %l0", call_tys + ", " + lt
    if a.alibi:
        lines.append(f"  %slopes = arith.constant "
                     f"{dense(slopes, [hq], fmt_f32)} : {slt}")
        call_args, call_tys = call_args + ", %slopes", call_tys + ", " + slt
    if a.seq_bias:
        sb = dense([(b + 1) / 4.0 for b in range(B)], [B], fmt_f32)
        lines.append(f"  %seqbias = arith.constant {sb} : {sbt}")
        call_args, call_tys = call_args + ", %seqbias", call_tys + ", " + sbt
    if packed:
        lines += [f"  %cu_seqlens_q_s = arith.constant "
                  f"{dense(cu_q, [B + 1], str)} : {cqs}",
                  f"  %cu_seqlens_q = tensor.cast %cu_seqlens_q_s : {cqs} to "
                  f"{cqt}",
                  f"  %max_seqlen_q = arith.constant {max_q} : index"]
        call_args += ", %cu_seqlens_q, %max_seqlen_q"
        call_tys += f", {cqt}, index"
    lines.append(f"  {res} = func.call @attention({call_args}, %block_table, "
                 f"%cache_seqlens) : ({call_tys}, {btt}, {slt_}) -> ({res_t})")

    # Comparison against the reference.
    ofs = ty(osh, "f32")
    ext = (lambda x: f"    %xf = arith.extf {x} : {t} to f32"
           if t != "f32" else f"    %xf = arith.addf {x}, %zero : f32")
    lines += [
        f"  %oref = arith.constant "
        f"{dense(flat_q(out, dv, SENTINEL), osh, fmt_f32)}"
        f" : {ofs}",
        f"  %os = tensor.cast %o : {ot} to {os_}",
        "  %err0 = tensor.empty() : tensor<f32>",
        "  %err_init = linalg.fill ins(%zero : f32) outs(%err0 : tensor<f32>) -> tensor<f32>",
        f"  %err_t = linalg.generic {{indexing_maps = [#a{len(osh)}, "
        f"#a{len(osh)}, #s{len(osh)}], iterator_types = ["
        + ", ".join(['\"reduction\"'] * len(osh)) + "]}",
        f"      ins(%os, %oref : {os_}, {ofs}) outs(%err_init : tensor<f32>) {{",
        f"  ^bb0(%x: {t}, %y: f32, %acc: f32):",
        ext("%x"),
        "    %d = arith.subf %xf, %y : f32",
        "    %ad = math.absf %d : f32",
        "    %r = arith.maximumf %acc, %ad : f32",
        "    linalg.yield %r : f32",
        "  } -> tensor<f32>",
        "  %err = tensor.extract %err_t[] : tensor<f32>",
        "  vector.print str \"max_abs_err_out \"",
        "  vector.print %err : f32",
        f"  %tol = arith.constant {TOLERANCE[t]:.9e} : f32",
        "  %ok_o = arith.cmpf olt, %err, %tol : f32"]
    if a.lse:
        lines += [
            f"  %lref = arith.constant "
            f"{dense(flat_lse(lse), lsh, fmt_f32)}"
            f" : {ls}",
            f"  %lss = tensor.cast %l : {lt} to {ls}",
            f"  %lerr_t = linalg.generic {{indexing_maps = [#a{len(lsh)}, "
            f"#a{len(lsh)}, #s{len(lsh)}], iterator_types = ["
            + ", ".join(['\"reduction\"'] * len(lsh)) + "]}",
            f"      ins(%lss, %lref : {ls}, {ls}) outs(%err_init : tensor<f32>) {{",
            "  ^bb0(%x: f32, %y: f32, %acc: f32):",
            "    // Rows that see no key: both must be -inf.",
            "    %bx = arith.cmpf oeq, %x, %ninf : f32",
            "    %by = arith.cmpf oeq, %y, %ninf : f32",
            "    %both = arith.andi %bx, %by : i1",
            "    %d = arith.subf %x, %y : f32",
            "    %ad0 = math.absf %d : f32",
            "    %ad = arith.select %both, %zero, %ad0 : f32",
            "    %r = arith.maximumf %acc, %ad : f32",
            "    linalg.yield %r : f32",
            "  } -> tensor<f32>",
            "  %lerr = tensor.extract %lerr_t[] : tensor<f32>",
            "  vector.print str \"max_abs_err_lse \"",
            "  vector.print %lerr : f32",
            f"  %ltol = arith.constant {LSE_TOLERANCE:.9e} : f32",
            "  %ok_l = arith.cmpf olt, %lerr, %ltol : f32",
            "  %ok = arith.andi %ok_o, %ok_l : i1"]
    else:
        lines += ["  %ok = arith.andi %ok_o, %ok_o : i1"]
    lines += [
        "  scf.if %ok {",
        "    vector.print str \"PASS\\n\"",
        "  } else {",
        "    vector.print str \"FAIL\\n\"",
        "  }",
        "  return",
        "}"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
