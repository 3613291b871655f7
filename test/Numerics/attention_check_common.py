"""Shared parts of gen_varlen_check.py and gen_paged_check.py.

Both emit an MLIR program that checks fa.attention on the CPU against a
float64 reference computed in Python, one sequence at a time, and embedded
as dense f32 constants. This module holds what they have in common:

  * the constants (tolerances, the NaN patterns, the sentinel O and LSE
    start with) and the literal helpers (f32, dense, fmt_f32);
  * the command-line options of the modifications and their checks;
  * the reference (scale, causal mask with the sequence's own lengths,
    --window, --softcap, --alibi, --seq-bias, softmax, times V);
  * the pieces of the emitted program: the fa.attention clauses and
    @attention, and in @main the constants, tensor.cast, the O/LSE fills,
    the captures, the call, the error reductions and PASS/FAIL.

Modifications (docs/ProgrammableAttention.md; b is the sequence index,
q_idx / kv_idx the positions within the sequence):

  --softcap C   score_mod  C * tanh(s / C)
  --alibi       score_mod  s + slopes[h] * (kv_idx - q_idx); capture slopes:
                f32 [Hq], 2^(-8 (h + 1) / Hq)
  --seq-bias    score_mod  s + seqbias[b]; capture seqbias: f32 [B], (b + 1) / 4
                (a constant per sequence: only LSE shows it, so use --lse)
  --window W    mask_mod   q_idx - W < kv_idx <= q_idx (and-ed with --causal)

The causal masks: top_left keeps j <= i, bottom_right j <= i + nk_b - nq_b.
The control --perturb-reference scales the reference O by 1.001 (the check
must then FAIL).
"""

import argparse
import math
import struct

TOLERANCE = {"f32": 2e-5, "f16": 2e-3, "bf16": 1.6e-2}
LSE_TOLERANCE = 1e-4
NAN_HEX = {"f32": "0x7FC00000", "f16": "0x7E00", "bf16": "0x7FC0"}
SENTINEL = 7.0


# Literals.

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


def fmt_input(t):
    """The element format of an input literal of type t (exact values; NaN
    as t's bit pattern)."""
    nan = NAN_HEX[t]
    return lambda x: nan if math.isnan(x) else repr(x)


def packed_rows(x, cu_q, tq, hq, width, fill):
    """x[b][h][i] (rows of `width`) flattened in the packed [Tq, Hq, width]
    layout: sequence b at rows [cu_q[b], cu_q[b + 1]), `fill` elsewhere."""
    rows = [[[fill] * width for _ in range(hq)] for _ in range(tq)]
    for b in range(len(x)):
        for h in range(hq):
            for i in range(len(x[b][h])):
                rows[cu_q[b] + i][h] = x[b][h][i]
    return [e for r in rows for hh in r for e in hh]


def packed_lse(x, cu_q, tq, hq):
    """x[b][h][i] flattened in the packed [Hq, Tq] LSE layout, SENTINEL in
    the rows no sequence covers."""
    rows = [[SENTINEL] * tq for _ in range(hq)]
    for b in range(len(x)):
        for h in range(hq):
            for i in range(len(x[b][h])):
                rows[h][cu_q[b] + i] = x[b][h][i]
    return [v for r in rows for v in r]


# Command line.

def add_mod_args(p):
    """The options both generators end with: the causal mask, scale, LSE,
    the control and the modifications."""
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


def check_heads(p, a):
    if a.hq < 1 or a.hkv < 1 or a.hq % a.hkv:
        p.error("--hq must be a positive multiple of --hkv")


def check_mods(p, a):
    if a.softcap is not None and not a.softcap > 0:
        p.error("--softcap must be positive")
    if a.window is not None and a.window < 1:
        p.error("--window must be at least 1")


# Reference.

def alibi_slopes(hq):
    """The --alibi slopes, f32: 2^(-8 (h + 1) / Hq)."""
    return [f32(2.0 ** (-8.0 * (h + 1) / hq)) for h in range(hq)]


def seq_biases(B):
    """The --seq-bias values: (b + 1) / 4."""
    return [(b + 1) / 4.0 for b in range(B)]


def reference(a, d, dv, hq, hkv, nqs, nks, query, key, value):
    """O[b][h][i] (rows of dv) and LSE[b][h][i] in float64, from the f32
    constants the program uses. Sequence b has nqs[b] queries and nks[b]
    keys; query(b, h, i), key(b, g, j) and value(b, g, j) give the rows
    (g: the KV head of query head h). A row that sees no key gets O = 0
    and LSE = -inf."""
    scale = f32(a.scale if a.scale is not None else 1.0 / math.sqrt(d))
    cap = f32(a.softcap) if a.softcap is not None else None
    slopes = alibi_slopes(hq)
    group = hq // hkv
    bias = 1.001 if a.perturb_reference else 1.0
    out = [[[None] * nqs[b] for _ in range(hq)] for b in range(len(nqs))]
    lse = [[[None] * nqs[b] for _ in range(hq)] for b in range(len(nqs))]
    for b in range(len(nqs)):
        nq, nk = nqs[b], nks[b]
        for h in range(hq):
            g = h // group
            for i in range(nq):
                qi = query(b, h, i)
                scores = []
                for j in range(nk):
                    if a.causal == "top_left" and j > i:
                        continue
                    if a.causal == "bottom_right" and j > i + nk - nq:
                        continue
                    if a.window is not None and not i - a.window < j <= i:
                        continue
                    kj = key(b, g, j)
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
                out[b][h][i] = [bias * sum(w * value(b, g, j)[e]
                                           for j, w in ws) / tot
                                for e in range(dv)]
                lse[b][h][i] = m + math.log(tot)
    return out, lse


# The op under test.

def mods_clause(a, captures, slt, sbt, more_score=None):
    """The score_mod / mask_mod regions of --softcap, --alibi, --seq-bias and
    --window, after the captures `captures` ((name, type) pairs); slt and sbt
    are the slopes' and the per-sequence biases' tensor types. `more_score`
    (cur -> (lines, result)) adds a generator's own score_mod lines last."""
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
    if getattr(a, "seq_bias", False):
        score += [f"      %sb_v = tensor.extract %seqbias_a[%b] : {sbt}",
                  f"      %sb_r = arith.addf {cur}, %sb_v : f32"]
        cur = "%sb_r"
    if more_score is not None:
        lines, cur = more_score(cur)
        score += lines
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


class Op:
    """The fa.attention under test: its captures (--alibi's slopes
    [Hq], --seq-bias's biases [B]), its results (O, and LSE with --lse)
    and the clauses after outs(...), with `layout` (varlen(...) and/or
    paged(...)) after the captures."""

    def __init__(self, a, hq, B, ot, lt, layout):
        self.a, self.hq, self.B = a, hq, B
        self.slt, self.sbt = f"tensor<{hq}xf32>", f"tensor<{B}xf32>"
        self.captures = ([("slopes", self.slt)] if a.alibi else []) + \
            ([("seqbias", self.sbt)] if a.seq_bias else [])
        self.outs = f"%o0, %l0 : {ot}, {lt}" if a.lse else f"%o0 : {ot}"
        self.res_t = f"{ot}, {lt}" if a.lse else ot
        self.res = "%o, %l" if a.lse else "%o"
        self.lse_arg = f", %l0: {lt}" if a.lse else ""
        self.cap_args = "".join(f", %{n}: {ty}" for n, ty in self.captures)
        clause = ""
        if self.captures:
            clause += ("\n      captures("
                       + ", ".join("%" + n for n, _ in self.captures) + " : "
                       + ", ".join(ty for _, ty in self.captures) + ")")
        clause += layout
        if a.scale is not None:
            clause += f" scale = {a.scale:.9e}"
        if a.causal != "none":
            clause += f" causal = <{a.causal}>"
        self.clause = clause + mods_clause(a, self.captures, self.slt,
                                           self.sbt)

    def func(self, ins, types, ot, more_args, tail_args):
        """@attention: the three inputs `ins` of types `types`, O, LSE, the
        captures, `more_args`, then on the second line `tail_args`."""
        q, k, v = ins
        qt, kt, vt = types
        return f"""func.func @attention(%{q}: {qt}, %{k}: {kt}, %{v}: {vt}, %o0: {ot}{self.lse_arg}{self.cap_args}{more_args},
                     {tail_args}) -> ({self.res_t}) {{
  {self.res} = fa.attention ins(%{q}, %{k}, %{v} : {qt}, {kt}, {vt})
      outs({self.outs}){self.clause}
      -> {self.res_t}
  return {self.res} : {self.res_t}
}}
"""

    def outputs(self, t, os_, ot, ls, lt, call_args, call_tys):
        """@main's O and LSE (SENTINEL, cast to the op's types) and the
        captures; (lines, call_args, call_tys) with those appended."""
        a = self.a
        lines = [f"  %o0e = tensor.empty() : {os_}",
                 f"  %o0s = linalg.fill ins(%sent : {t}) outs(%o0e : {os_}) -> {os_}",
                 f"  %o0 = tensor.cast %o0s : {os_} to {ot}"]
        call_args, call_tys = call_args + ", %o0", call_tys + ", " + ot
        if a.lse:
            lines += [f"  %l0e = tensor.empty() : {ls}",
                      f"  %l0s = linalg.fill ins(%sent32 : f32) outs(%l0e : {ls}) -> {ls}",
                      f"  %l0 = tensor.cast %l0s : {ls} to {lt}"]
            call_args, call_tys = call_args + ", %l0", call_tys + ", " + lt
        if a.alibi:
            lines.append(f"  %slopes = arith.constant "
                         f"{dense(alibi_slopes(self.hq), [self.hq], fmt_f32)}"
                         f" : {self.slt}")
            call_args += ", %slopes"
            call_tys += ", " + self.slt
        if a.seq_bias:
            sb = dense(seq_biases(self.B), [self.B], fmt_f32)
            lines.append(f"  %seqbias = arith.constant {sb} : {self.sbt}")
            call_args += ", %seqbias"
            call_tys += ", " + self.sbt
        return lines, call_args, call_tys

    def call(self, call_args, call_tys):
        return (f"  {self.res} = func.call @attention({call_args}) : "
                f"({call_tys}) -> ({self.res_t})")


# @main.

def main_prologue(t):
    return ["func.func @main() {",
            "  %zero = arith.constant 0.0 : f32",
            f"  %sent = arith.constant {SENTINEL} : {t}",
            f"  %sent32 = arith.constant {SENTINEL} : f32",
            "  %ninf = arith.constant 0xFF800000 : f32"]


def constant_cast(name, literal, st, dt):
    """%name: the constant `literal` of static type st, cast to dt."""
    return [f"  %{name}_s = arith.constant {literal} : {st}",
            f"  %{name} = tensor.cast %{name}_s : {st} to {dt}"]


def max_err(res, x, ref, xt, reft, maps, rank, elt, lse, cov=None,
            gap_init=None, names=("err",)):
    """A linalg.generic reducing max |x - ref| over a rank-`rank` tensor;
    `maps` are its indexing maps. With lse, a row where both are -inf counts
    0. With cov (the type of %cov, a mask of the covered rows) it reduces
    two maxima, over the covered and over the other rows (the latter
    starting from gap_init); names are the f32 scalars extracted."""
    two = cov is not None
    ins = f"%{x}, %{ref}" + (", %cov" if two else "")
    ins_t = f"{xt}, {reft}" + (f", {cov}" if two else "")
    outs = "%err_init" + (f", {gap_init}" if two else "")
    outs_t = "tensor<f32>" + (", tensor<f32>" if two else "")
    lines = [
        f"  %{res}{':2' if two else ''} = linalg.generic {{indexing_maps = "
        f"[{', '.join(maps)}], iterator_types = ["
        + ", ".join(['"reduction"'] * rank) + "]}",
        f"      ins({ins} : {ins_t}) outs({outs} : {outs_t}) {{",
        f"  ^bb0(%x: {elt}, %y: f32{', %c: i1' if two else ''}, %acc: f32"
        f"{', %gacc: f32' if two else ''}):"]
    if lse:
        lines += ["    // Rows that see no key: both must be -inf.",
                  "    %bx = arith.cmpf oeq, %x, %ninf : f32",
                  "    %by = arith.cmpf oeq, %y, %ninf : f32",
                  "    %both = arith.andi %bx, %by : i1",
                  "    %d = arith.subf %x, %y : f32",
                  "    %ad0 = math.absf %d : f32",
                  "    %ad = arith.select %both, %zero, %ad0 : f32"]
    else:
        lines += [f"    %xf = arith.extf %x : {elt} to f32" if elt != "f32"
                  else "    %xf = arith.addf %x, %zero : f32",
                  "    %d = arith.subf %xf, %y : f32",
                  "    %ad = math.absf %d : f32"]
    if two:
        lines += ["    %ec = arith.select %c, %ad, %zero : f32",
                  "    %eg = arith.select %c, %zero, %ad : f32",
                  "    %r = arith.maximumf %acc, %ec : f32",
                  "    %rg = arith.maximumf %gacc, %eg : f32",
                  "    linalg.yield %r, %rg : f32, f32",
                  "  } -> (tensor<f32>, tensor<f32>)"]
        lines += [f"  %{n} = tensor.extract %{res}#{k}[] : tensor<f32>"
                  for k, n in enumerate(names)]
    else:
        lines += ["    %r = arith.maximumf %acc, %ad : f32",
                  "    linalg.yield %r : f32",
                  "  } -> tensor<f32>",
                  f"  %{names[0]} = tensor.extract %{res}[] : tensor<f32>"]
    return lines


def err_init():
    return ["  %err0 = tensor.empty() : tensor<f32>",
            "  %err_init = linalg.fill ins(%zero : f32) outs(%err0 : tensor<f32>) -> tensor<f32>"]


def print_err(label, err, tol, tol_name, ok):
    """Prints `label` and %err, and sets %ok to %err < tol."""
    return [f"  vector.print str \"{label} \"",
            f"  vector.print %{err} : f32",
            f"  %{tol_name} = arith.constant {tol:.9e} : f32",
            f"  %{ok} = arith.cmpf olt, %{err}, %{tol_name} : f32"]


def pass_fail():
    """Prints PASS if %ok, else FAIL, and ends @main."""
    return ["  scf.if %ok {",
            "    vector.print str \"PASS\\n\"",
            "  } else {",
            "    vector.print str \"FAIL\\n\"",
            "  }",
            "  return",
            "}"]
