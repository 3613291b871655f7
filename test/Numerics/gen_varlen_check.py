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

Modifications (docs/ProgrammableAttention.md; their b is the sequence index,
q_idx / kv_idx the positions within the sequence):

  --softcap C   score_mod  C * tanh(s / C)
  --alibi       score_mod  s + slopes[h] * (kv_idx - q_idx); capture slopes:
                f32 [Hq], 2^(-8 (h + 1) / Hq)
  --seq-bias    score_mod  s + seqbias[b]; capture seqbias: f32 [B], (b + 1) / 4
                (a constant per sequence: only LSE shows it, so use --lse)
  --window W    mask_mod   q_idx - W < kv_idx <= q_idx (and-ed with --causal)

The control --perturb-reference scales the reference O by 1.001 (the check
must then FAIL).

  gen_varlen_check.py --dtype f16 --seqlens-q 5,0,1,37 --seqlens-k 9,3,0,40 \\
      --hq 4 --hkv 2 --d 16 --dv 16 --causal bottom_right --lse --gap-after 3
"""

import argparse
import math
import random
import struct

TOLERANCE = {"f32": 2e-5, "f16": 2e-3, "bf16": 1.6e-2}
LSE_TOLERANCE = 1e-4
NAN_HEX = {"f32": "0x7FC00000", "f16": "0x7E00", "bf16": "0x7FC0"}
SENTINEL = 7.0


def f32(x):
    """x rounded to the nearest f32 (as an MLIR f32 constant is)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def lengths(text):
    try:
        vals = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of ints: {text}")
    if not vals or min(vals) < 0:
        raise argparse.ArgumentTypeError("lengths must be >= 0")
    return vals


def dense(values, shape, fmt):
    """A dense<...> literal of row-major `values` with the given shape."""
    if not values:
        return "dense<>"
    flat = [fmt(x) for x in values]
    for size in reversed(shape[1:]):
        flat = ["[" + ", ".join(flat[r:r + size]) + "]"
                for r in range(0, len(flat), size)]
    return "dense<[" + ", ".join(flat) + "]>"


def fmt_f32(x):
    if math.isnan(x):
        return NAN_HEX["f32"]
    if math.isinf(x):
        return "0x7F800000" if x > 0 else "0xFF800000"
    return f"{x:.9e}"


def mods_clause(a, captures, slt, sbt):
    """The score_mod / mask_mod regions of --softcap, --alibi, --seq-bias and
    --window, after the captures `captures` ((name, type) pairs); slt and sbt
    are the slopes' and the per-sequence biases' tensor types."""
    cap_block = "".join(f", %{n}_a: {ty}" for n, ty in captures)
    clause, score, cur = "", [], "%s"
    if a.softcap is not None:
        score += [f"      %cap = arith.constant {a.softcap:.9e} : f32",
                  f"      %sc_x = arith.divf {cur}, %cap : f32",
                  "      %sc_t = math.tanh %sc_x : f32",
                  "      %sc_r = arith.mulf %cap, %sc_t : f32"]
        cur = "%sc_r"
    if a.alibi:
        score += [f"      %al_s = tensor.extract %slopes_a[%h] : {slt}",
                  "      %al_d = arith.subi %j, %i : index",
                  "      %al_di = arith.index_cast %al_d : index to i64",
                  "      %al_df = arith.sitofp %al_di : i64 to f32",
                  "      %al_b = arith.mulf %al_s, %al_df : f32",
                  f"      %al_r = arith.addf {cur}, %al_b : f32"]
        cur = "%al_r"
    if a.seq_bias:
        score += [f"      %sb_v = tensor.extract %seqbias_a[%b] : {sbt}",
                  f"      %sb_r = arith.addf {cur}, %sb_v : f32"]
        cur = "%sb_r"
    if score:
        clause += ("\n    score_mod {\n    ^bb0(%s: f32, %b: index, %h: index, "
                   f"%i: index, %j: index{cap_block}):\n" + "\n".join(score)
                   + f"\n      fa.yield {cur} : f32\n    }}")
    if a.window is not None:
        clause += ("\n    mask_mod {\n    ^bb0(%b: index, %h: index, %i: index, "
                   f"%j: index{cap_block}):\n"
                   f"      %w_w = arith.constant {a.window} : index\n"
                   "      %w_lo = arith.subi %i, %w_w : index\n"
                   "      %w_after = arith.cmpi sgt, %j, %w_lo : index\n"
                   "      %w_upto = arith.cmpi sle, %j, %i : index\n"
                   "      %w_in = arith.andi %w_after, %w_upto : i1\n"
                   "      fa.yield %w_in : i1\n    }")
    return clause


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
    lq, lk = a.seqlens_q, a.seqlens_k
    if len(lq) != len(lk):
        p.error("--seqlens-q and --seqlens-k need as many entries")
    if a.hq < 1 or a.hkv < 1 or a.hq % a.hkv:
        p.error("--hq must be a positive multiple of --hkv")
    if min(a.d, a.dv) < 1 or min(a.gap_before, a.gap_after) < 0:
        p.error("bad --d / --dv / --gap-*")
    max_q = max(lq) if a.max_seqlen_q is None else a.max_seqlen_q
    if max_q < max(lq):
        p.error("--max-seqlen-q is shorter than a query sequence")
    if a.softcap is not None and not a.softcap > 0:
        p.error("--softcap must be positive")
    if a.window is not None and a.window < 1:
        p.error("--window must be at least 1")

    t, B = a.dtype, len(lq)
    hq, hkv, d, dv, group = a.hq, a.hkv, a.d, a.dv, a.hq // a.hkv
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
    scale = f32(a.scale if a.scale is not None else 1.0 / math.sqrt(d))
    cap = f32(a.softcap) if a.softcap is not None else None
    slopes = [f32(2.0 ** (-8.0 * (h + 1) / hq)) for h in range(hq)]
    out = [[[SENTINEL] * dv for _ in range(hq)] for _ in range(tq)]
    lse = [[SENTINEL] * tq for _ in range(hq)]
    for b in range(B):
        nq, nk = lq[b], lk[b]
        for h in range(hq):
            g = h // group
            for i in range(nq):
                qi = q[cu_q[b] + i][h]
                scores = []
                for j in range(nk):
                    if a.causal == "top_left" and j > i:
                        continue
                    if a.causal == "bottom_right" and j > i + nk - nq:
                        continue
                    if a.window is not None and not i - a.window < j <= i:
                        continue
                    kj = k[cu_k[b] + j][g]
                    s = f32(scale * f32(sum(x * y for x, y in zip(qi, kj))))
                    if cap is not None:
                        s = cap * math.tanh(s / cap)
                    if a.alibi:
                        s += slopes[h] * (j - i)
                    if a.seq_bias:
                        s += (b + 1) / 4.0
                    scores.append((j, s))
                row = cu_q[b] + i
                if not scores:
                    out[row][h] = [0.0] * dv
                    lse[h][row] = -math.inf
                    continue
                m = max(s for _, s in scores)
                ws = [(j, math.exp(s - m)) for j, s in scores]
                tot = sum(w for _, w in ws)
                bias = 1.001 if a.perturb_reference else 1.0
                out[row][h] = [bias * sum(w * v[cu_k[b] + j][g][e]
                                          for j, w in ws) / tot
                               for e in range(dv)]
                lse[h][row] = m + math.log(tot)

    # Types.
    qs, ks = f"tensor<{tq}x{hq}x{d}x{t}>", f"tensor<{tk}x{hkv}x{d}x{t}>"
    vs, os_ = f"tensor<{tk}x{hkv}x{dv}x{t}>", f"tensor<{tq}x{hq}x{dv}x{t}>"
    ls = f"tensor<{hq}x{tq}xf32>"
    qt, kt = f"tensor<?x{hq}x{d}x{t}>", f"tensor<?x{hkv}x{d}x{t}>"
    vt, ot = f"tensor<?x{hkv}x{dv}x{t}>", f"tensor<?x{hq}x{dv}x{t}>"
    lt, ct = f"tensor<{hq}x?xf32>", "tensor<?xi32>"
    slt = f"tensor<{hq}xf32>"

    # The op under test.
    sbt = f"tensor<{B}xf32>"
    captures = ([("slopes", slt)] if a.alibi else []) + \
        ([("seqbias", sbt)] if a.seq_bias else [])
    cap_args = "".join(f", %{n}: {ty}" for n, ty in captures)
    clause = ""
    if captures:
        clause += ("\n      captures(" + ", ".join("%" + n for n, _ in captures)
                   + " : " + ", ".join(ty for _, ty in captures) + ")")
    clause += (f"\n      varlen(%cu_q, %cu_k : {ct}, {ct}) "
               "max_seqlen_q = %max_q")
    if a.scale is not None:
        clause += f" scale = {a.scale:.9e}"
    if a.causal != "none":
        clause += f" causal = <{a.causal}>"
    clause += mods_clause(a, captures, slt, sbt)
    outs = f"%o0, %l0 : {ot}, {lt}" if a.lse else f"%o0 : {ot}"
    res_t = f"{ot}, {lt}" if a.lse else ot
    res = "%o, %l" if a.lse else "%o"
    lse_arg = f", %l0: {lt}" if a.lse else ""
    print(f"""// Generated by gen_varlen_check.py; see the RUN line that made it.
// seqlens_q = {lq}, seqlens_k = {lk}, cu_q = {cu_q}, cu_k = {cu_k}
#o3 = affine_map<(r, h, e) -> (r, h, e)>
#r3 = affine_map<(r, h, e) -> (r)>
#s3 = affine_map<(r, h, e) -> ()>
#l2 = affine_map<(h, r) -> (h, r)>
#c2 = affine_map<(h, r) -> (r)>
#s2 = affine_map<(h, r) -> ()>

func.func @attention(%q: {qt}, %k: {kt}, %v: {vt}, %o0: {ot}{lse_arg}{cap_args},
                     %cu_q: {ct}, %cu_k: {ct}, %max_q: index) -> ({res_t}) {{
  {res} = fa.attention ins(%q, %k, %v : {qt}, {kt}, {vt})
      outs({outs}){clause}
      -> {res_t}
  return {res} : {res_t}
}}
""")

    def flat(x3, w):
        return [e for r in x3 for hd in r
                for e in (hd if hd is not None else [math.nan] * w)]
    nan = NAN_HEX[t]
    fin = (lambda x: nan if math.isnan(x) else repr(x))
    lines = ["func.func @main() {",
             "  %zero = arith.constant 0.0 : f32",
             f"  %sent = arith.constant {SENTINEL} : {t}",
             f"  %sent32 = arith.constant {SENTINEL} : f32",
             "  %ninf = arith.constant 0xFF800000 : f32"]
    for name, x3, st, dt, w in (("q", q, qs, qt, d), ("k", k, ks, kt, d),
                                ("v", v, vs, vt, dv)):
        shape = [int(z) for z in st[7:].split("x")[:-1]]
        lines += [f"  %{name}_s = arith.constant "
                  f"{dense(flat(x3, w), shape, fin)} : {st}",
                  f"  %{name} = tensor.cast %{name}_s : {st} to {dt}"]
    for name, cu in (("cu_q", cu_q), ("cu_k", cu_k)):
        lines += [f"  %{name}_s = arith.constant "
                  f"{dense(cu, [B + 1], str)} : tensor<{B + 1}xi32>",
                  f"  %{name} = tensor.cast %{name}_s : tensor<{B + 1}xi32> "
                  f"to {ct}"]
    lines += [f"  %max_q = arith.constant {max_q} : index",
              f"  %o0e = tensor.empty() : {os_}",
              f"  %o0s = linalg.fill ins(%sent : {t}) outs(%o0e : {os_}) -> {os_}",
              f"  %o0 = tensor.cast %o0s : {os_} to {ot}"]
    call_args, call_tys = "%q, %k, %v, %o0", f"{qt}, {kt}, {vt}, {ot}"
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
        bias = dense([(b + 1) / 4.0 for b in range(B)], [B], fmt_f32)
        lines.append(f"  %seqbias = arith.constant {bias} : {sbt}")
        call_args, call_tys = call_args + ", %seqbias", call_tys + ", " + sbt
    lines.append(f"  {res} = func.call @attention({call_args}, %cu_q, %cu_k, "
                 f"%max_q) : ({call_tys}, {ct}, {ct}, index) -> ({res_t})")

    # Comparison: over the covered rows against the reference, over the
    # others against SENTINEL (which the reference holds there).
    cov = dense(["true" if c else "false" for c in covered], [tq], str)
    ofs = f"tensor<{tq}x{hq}x{dv}xf32>"
    ext = (lambda x: f"    %xf = arith.extf {x} : {t} to f32"
           if t != "f32" else f"    %xf = arith.addf {x}, %zero : f32")
    lines += [
        f"  %cov = arith.constant {cov} : tensor<{tq}xi1>",
        f"  %oref = arith.constant "
        f"{dense([e for r in out for hd in r for e in hd], [tq, hq, dv], fmt_f32)}"
        f" : {ofs}",
        f"  %os = tensor.cast %o : {ot} to {os_}",
        "  %err0 = tensor.empty() : tensor<f32>",
        "  %err_init = linalg.fill ins(%zero : f32) outs(%err0 : tensor<f32>) -> tensor<f32>",
        "  %err_t:2 = linalg.generic {indexing_maps = [#o3, #o3, #r3, #s3, #s3], "
        "iterator_types = [\"reduction\", \"reduction\", \"reduction\"]}",
        f"      ins(%os, %oref, %cov : {os_}, {ofs}, tensor<{tq}xi1>) "
        "outs(%err_init, %err_init : tensor<f32>, tensor<f32>) {",
        f"  ^bb0(%x: {t}, %y: f32, %c: i1, %acc: f32, %gacc: f32):",
        ext("%x"),
        "    %d = arith.subf %xf, %y : f32",
        "    %ad = math.absf %d : f32",
        "    %ec = arith.select %c, %ad, %zero : f32",
        "    %eg = arith.select %c, %zero, %ad : f32",
        "    %r = arith.maximumf %acc, %ec : f32",
        "    %rg = arith.maximumf %gacc, %eg : f32",
        "    linalg.yield %r, %rg : f32, f32",
        "  } -> (tensor<f32>, tensor<f32>)",
        "  %err = tensor.extract %err_t#0[] : tensor<f32>",
        "  %gerr_o = tensor.extract %err_t#1[] : tensor<f32>",
        "  vector.print str \"max_abs_err_out \"",
        "  vector.print %err : f32",
        f"  %tol = arith.constant {TOLERANCE[t]:.9e} : f32",
        "  %ok_o = arith.cmpf olt, %err, %tol : f32"]
    if a.lse:
        lines += [
            f"  %lref = arith.constant "
            f"{dense([x for hd in lse for x in hd], [hq, tq], fmt_f32)} : {ls}",
            f"  %lss = tensor.cast %l : {lt} to {ls}",
            "  // The gap error of LSE starts from O's.",
            "  %gerr_o_t = tensor.from_elements %gerr_o : tensor<f32>",
            "  %lerr_t:2 = linalg.generic {indexing_maps = [#l2, #l2, #c2, #s2, #s2], "
            "iterator_types = [\"reduction\", \"reduction\"]}",
            f"      ins(%lss, %lref, %cov : {ls}, {ls}, tensor<{tq}xi1>) "
            "outs(%err_init, %gerr_o_t : tensor<f32>, tensor<f32>) {",
            "  ^bb0(%x: f32, %y: f32, %c: i1, %acc: f32, %gacc: f32):",
            "    // Rows that see no key: both must be -inf.",
            "    %bx = arith.cmpf oeq, %x, %ninf : f32",
            "    %by = arith.cmpf oeq, %y, %ninf : f32",
            "    %both = arith.andi %bx, %by : i1",
            "    %d = arith.subf %x, %y : f32",
            "    %ad0 = math.absf %d : f32",
            "    %ad = arith.select %both, %zero, %ad0 : f32",
            "    %ec = arith.select %c, %ad, %zero : f32",
            "    %eg = arith.select %c, %zero, %ad : f32",
            "    %r = arith.maximumf %acc, %ec : f32",
            "    %rg = arith.maximumf %gacc, %eg : f32",
            "    linalg.yield %r, %rg : f32, f32",
            "  } -> (tensor<f32>, tensor<f32>)",
            "  %lerr = tensor.extract %lerr_t#0[] : tensor<f32>",
            "  %gerr = tensor.extract %lerr_t#1[] : tensor<f32>",
            "  vector.print str \"max_abs_err_lse \"",
            "  vector.print %lerr : f32",
            f"  %ltol = arith.constant {LSE_TOLERANCE:.9e} : f32",
            "  %ok_l0 = arith.cmpf olt, %lerr, %ltol : f32",
            "  %ok_l = arith.andi %ok_o, %ok_l0 : i1"]
    else:
        lines += ["  %gerr = arith.addf %gerr_o, %zero : f32",
                  "  %ok_l = arith.andi %ok_o, %ok_o : i1"]
    lines += [
        "  vector.print str \"max_abs_err_gap \"",
        "  vector.print %gerr : f32",
        "  %ok_g = arith.cmpf oeq, %gerr, %zero : f32",
        "  %ok = arith.andi %ok_l, %ok_g : i1",
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
