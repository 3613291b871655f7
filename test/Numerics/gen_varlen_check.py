#!/usr/bin/env python3
"""Emits an MLIR program that checks the variable-length fa.attention (CPU).

The op under test takes B sequences packed along one token axis (the varlen
form of FlashAttention): Q [Tq, Hq, D], K [Tk, Hkv, D], V [Tk, Hkv, Dv],
O [Tq, Hq, Dv], LSE [Hq, Tq]; sequence b is query rows [cu_q[b], cu_q[b+1])
and key rows [cu_k[b], cu_k[b+1]); max_seqlen_q bounds every query length.

The inputs are seeded multiples of 1/64 in [-1, 1), exact in f32, f16 and bf16,
so the program and this script see the same values. The reference is computed
here, in float64, one sequence at a time (scale, causal mask with the
sequence's own lengths, the modifications, softmax, times V), and embedded as
dense f32 constants; O and LSE of rows no sequence covers are expected to keep
their initial fill (SENTINEL). @main fills Q, K, V (rows in the gaps, which no
sequence covers, are NaN: reading them into a result shows), fills O and LSE
with SENTINEL, calls @attention (the op, lowered by whatever passes the RUN
line applies), and prints

  max_abs_err_out   max |O - ref| over the covered rows
  max_abs_err_lse   the same for LSE (with --lse; -inf must match -inf)
  max_abs_err_gap   max |O - SENTINEL| (and LSE) over the uncovered rows: 0

then PASS or FAIL (the conventions of gen_attention_check.py, so the same
FileCheck lines apply). A NaN anywhere it is compared makes the check FAIL.

The modifications --softcap C, --alibi, --seq-bias (only LSE shows it, so
use --lse) and --window W (docs/ProgrammableAttention.md; their b is the
sequence index, q_idx / kv_idx the positions within the sequence) are listed
in attention_check_common.py, which holds the reference, the modification
regions and the comparison this script shares with gen_paged_check.py. The
control --perturb-reference scales the reference O by 1.001 (the check must
then FAIL).

  gen_varlen_check.py --dtype f16 --seqlens-q 5,0,1,37 --seqlens-k 9,3,0,40 \\
      --hq 4 --hkv 2 --d 16 --dv 16 --causal bottom_right --lse --gap-after 3
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dtype", default="f32", choices=sorted(TOLERANCE))
    p.add_argument("--seqlens-q", type=lengths, default=[5, 0, 1, 37])
    p.add_argument("--seqlens-k", type=lengths, default=[9, 3, 0, 40])
    for name, default in [("hq", 4), ("hkv", 2), ("d", 16), ("dv", 16),
                          ("seed", 1), ("gap_before", 0), ("gap_after", 0)]:
        p.add_argument("--" + name.replace("_", "-"), type=int,
                       default=default)
    p.add_argument("--max-seqlen-q", type=int, default=None,
                   help="the op's max_seqlen_q (default: the longest query)")
    add_mod_args(p)
    a = p.parse_args()
    lq, lk = a.seqlens_q, a.seqlens_k
    if len(lq) != len(lk):
        p.error("--seqlens-q and --seqlens-k need as many entries")
    check_heads(p, a)
    if min(a.d, a.dv) < 1 or min(a.gap_before, a.gap_after) < 0:
        p.error("bad --d / --dv / --gap-*")
    max_q = max(lq) if a.max_seqlen_q is None else a.max_seqlen_q
    if max_q < max(lq):
        p.error("--max-seqlen-q is shorter than a query sequence")
    check_mods(p, a)

    t, B = a.dtype, len(lq)
    hq, hkv, d, dv = a.hq, a.hkv, a.d, a.dv
    cu_q, cu_k = [a.gap_before], [a.gap_before]
    for nq, nk in zip(lq, lk):
        cu_q.append(cu_q[-1] + nq)
        cu_k.append(cu_k[-1] + nk)
    tq, tk = cu_q[-1] + a.gap_after, cu_k[-1] + a.gap_after
    covered = [cu_q[0] <= r < cu_q[-1] for r in range(tq)]
    key_covered = [cu_k[0] <= r < cu_k[-1] for r in range(tk)]

    # Inputs: [token][head][d]; None (NaN) in rows no sequence covers.
    rng = random.Random(a.seed)

    def rows(n, heads, width, cover):
        return [[[rng.randrange(-64, 64) / 64.0 for _ in range(width)]
                 if cover[r] else None for _ in range(heads)]
                for r in range(n)]
    q = rows(tq, hq, d, covered)
    k = rows(tk, hkv, d, key_covered)
    v = rows(tk, hkv, dv, key_covered)

    # Reference, in float64 from the f32 constants the program uses.
    out, lse = reference(a, d, dv, hq, hkv, lq, lk,
                         lambda b, h, i: q[cu_q[b] + i][h],
                         lambda b, g, j: k[cu_k[b] + j][g],
                         lambda b, g, j: v[cu_k[b] + j][g])

    # Types.
    qs, ks = f"tensor<{tq}x{hq}x{d}x{t}>", f"tensor<{tk}x{hkv}x{d}x{t}>"
    vs, os_ = f"tensor<{tk}x{hkv}x{dv}x{t}>", f"tensor<{tq}x{hq}x{dv}x{t}>"
    ls = f"tensor<{hq}x{tq}xf32>"
    qt, kt = f"tensor<?x{hq}x{d}x{t}>", f"tensor<?x{hkv}x{d}x{t}>"
    vt, ot = f"tensor<?x{hkv}x{dv}x{t}>", f"tensor<?x{hq}x{dv}x{t}>"
    lt, ct = f"tensor<{hq}x?xf32>", "tensor<?xi32>"

    # The op under test.
    op = Op(a, hq, B, ot, lt, f"\n      varlen(%cu_q, %cu_k : {ct}, {ct}) "
            "max_seqlen_q = %max_q")
    print(f"""// Generated by gen_varlen_check.py; see the RUN line that made it.
// seqlens_q = {lq}, seqlens_k = {lk}, cu_q = {cu_q}, cu_k = {cu_k}
#o3 = affine_map<(r, h, e) -> (r, h, e)>
#r3 = affine_map<(r, h, e) -> (r)>
#s3 = affine_map<(r, h, e) -> ()>
#l2 = affine_map<(h, r) -> (h, r)>
#c2 = affine_map<(h, r) -> (r)>
#s2 = affine_map<(h, r) -> ()>
""")
    print(op.func(("q", "k", "v"), (qt, kt, vt), ot, "",
                  f"%cu_q: {ct}, %cu_k: {ct}, %max_q: index"))

    def flat(x3, w):
        return [e for r in x3 for hd in r
                for e in (hd if hd is not None else [math.nan] * w)]
    fin = fmt_input(t)
    lines = main_prologue(t)
    for name, x3, st, dt, w in (("q", q, qs, qt, d), ("k", k, ks, kt, d),
                                ("v", v, vs, vt, dv)):
        shape = [int(z) for z in st[7:].split("x")[:-1]]
        lines += constant_cast(name, dense(flat(x3, w), shape, fin), st, dt)
    for name, cu in (("cu_q", cu_q), ("cu_k", cu_k)):
        lines += constant_cast(name, dense(cu, [B + 1], str),
                               f"tensor<{B + 1}xi32>", ct)
    lines += [f"  %max_q = arith.constant {max_q} : index"]
    more, call_args, call_tys = op.outputs(t, os_, ot, ls, lt, "%q, %k, %v",
                                           f"{qt}, {kt}, {vt}")
    lines += more
    lines.append(op.call(call_args + ", %cu_q, %cu_k, %max_q",
                         f"{call_tys}, {ct}, {ct}, index"))

    # Comparison: over the covered rows against the reference, over the
    # others against SENTINEL (which the reference holds there).
    cov = dense(["true" if c else "false" for c in covered], [tq], str)
    ofs = f"tensor<{tq}x{hq}x{dv}xf32>"
    covt = f"tensor<{tq}xi1>"
    lines += [
        f"  %cov = arith.constant {cov} : {covt}",
        f"  %oref = arith.constant "
        f"{dense(packed_rows(out, cu_q, tq, hq, dv, SENTINEL), [tq, hq, dv], fmt_f32)}"
        f" : {ofs}",
        f"  %os = tensor.cast %o : {ot} to {os_}"]
    lines += err_init()
    lines += max_err("err_t", "os", "oref", os_, ofs,
                     ["#o3", "#o3", "#r3", "#s3", "#s3"], 3, t, False,
                     cov=covt, gap_init="%err_init", names=("err", "gerr_o"))
    lines += print_err("max_abs_err_out", "err", TOLERANCE[t], "tol", "ok_o")
    if a.lse:
        lines += [
            f"  %lref = arith.constant "
            f"{dense(packed_lse(lse, cu_q, tq, hq), [hq, tq], fmt_f32)} : {ls}",
            f"  %lss = tensor.cast %l : {lt} to {ls}",
            "  // The gap error of LSE starts from O's.",
            "  %gerr_o_t = tensor.from_elements %gerr_o : tensor<f32>"]
        lines += max_err("lerr_t", "lss", "lref", ls, ls,
                         ["#l2", "#l2", "#c2", "#s2", "#s2"], 2, "f32", True,
                         cov=covt, gap_init="%gerr_o_t",
                         names=("lerr", "gerr"))
        lines += print_err("max_abs_err_lse", "lerr", LSE_TOLERANCE, "ltol",
                           "ok_l0")
        lines += ["  %ok_l = arith.andi %ok_o, %ok_l0 : i1"]
    else:
        lines += ["  %gerr = arith.addf %gerr_o, %zero : f32",
                  "  %ok_l = arith.andi %ok_o, %ok_o : i1"]
    lines += [
        "  vector.print str \"max_abs_err_gap \"",
        "  vector.print %gerr : f32",
        "  %ok_g = arith.cmpf oeq, %gerr, %zero : f32",
        "  %ok = arith.andi %ok_l, %ok_g : i1"]
    lines += pass_fail()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
