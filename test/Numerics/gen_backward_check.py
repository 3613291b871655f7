#!/usr/bin/env python3
"""Emits an MLIR program that checks one fa.attention_backward on the CPU.

The program holds seeded inputs Q, K, V, dO (rounded to the element type) and
the forward's O (rounded) and LSE (f32) as constants, calls @backward (the
fa.attention_backward op, lowered by whatever fa passes the RUN line applies)
and compares dQ, dK and dV with reference gradients computed here, in Python
floats (f64), independently of the compiler:

  --reference analytic   the gradients of softmax attention written out
                         (delta = rowsum(dO O), dS = P (dP - delta) mod'(s),
                         dQ = scale dS K, dK = scale dS^T Q, dV = P^T dO),
                         with each modification's derivative by hand;
  --reference central    central differences in f64 of the loss
                         sum(O * dO) with respect to every element of Q, K
                         and V (no derivative formula at all; tiny shapes).

It prints, per gradient, the largest absolute error and the bound it must
stay under (atol + rtol max|reference|, by element type), then PASS or FAIL.

Modifications put regions (and captures) on the op under test; the reference
implements them itself:

  --softcap C       score_mod  C tanh(s / C)
  --alibi           score_mod  s + slopes[h] (kv_idx - q_idx),
                    slopes[h] = 2^(-8 (h + 1) / Hq) captured
  --leaky T         score_mod  s > T ? T + (s - T) / 4 : s, as an scf.if
  --window W        mask_mod   q_idx - W < kv_idx <= q_idx

Controls (the check must then FAIL): --perturb-reference scales the reference
gradients by 1.01; --underived-reference leaves the score_mod's derivative out
of the analytic reference (shows that the derivative matters at that size).
"""

import argparse
import math
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attention_check_common import mods_clause  # noqa: E402

# rtol per element type; atol is rtol / 100.
RTOL = {"f32": 2e-5, "f16": 2e-3, "bf16": 1e-2}


def round_to(dtype, x):
    if dtype == "f16":
        return struct.unpack("<e", struct.pack("<e", x))[0]
    f = struct.unpack("<f", struct.pack("<f", x))[0]
    if dtype == "f32":
        return f
    bits = struct.unpack("<I", struct.pack("<f", f))[0]
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def zeros(*shape):
    if len(shape) == 1:
        return [0.0] * shape[0]
    return [zeros(*shape[1:]) for _ in range(shape[0])]


class Problem:
    def __init__(self, a):
        self.a = a
        self.group = a.hq // a.hkv
        self.scale = a.scale if a.scale is not None else 1.0 / math.sqrt(a.d)
        self.shift = {"none": None, "top_left": 0,
                      "bottom_right": a.nk - a.nq}[a.causal]
        self.slopes = [2.0 ** (-8.0 * (h + 1) / a.hq) for h in range(a.hq)]

    def visible(self, i, j):
        a = self.a
        if self.shift is not None and j > i + self.shift:
            return False
        if a.window is not None and not (i - a.window < j <= i):
            return False
        return True

    def mod(self, s, h, i, j):
        """score_mod(s) and its derivative."""
        a, d = self.a, 1.0
        if a.softcap is not None:
            t = math.tanh(s / a.softcap)
            s, d = a.softcap * t, d * (1.0 - t * t)
        if a.alibi:
            s = s + self.slopes[h] * (j - i)
        if a.leaky is not None and s > a.leaky:
            s, d = a.leaky + (s - a.leaky) * 0.25, d * 0.25
        if a.underived_reference:
            d = 1.0
        return s, d

    def forward(self, q, k, v):
        """O, LSE and, per row, (P, mod') over the visible keys."""
        a = self.a
        out = zeros(a.b, a.hq, a.nq, a.dv)
        lse = zeros(a.b, a.hq, a.nq)
        rows = {}
        for b in range(a.b):
            for h in range(a.hq):
                hk = h // self.group
                for i in range(a.nq):
                    scores, derivs = {}, {}
                    for j in range(a.nk):
                        if not self.visible(i, j):
                            continue
                        raw = self.scale * sum(
                            x * y for x, y in zip(q[b][h][i], k[b][hk][j]))
                        scores[j], derivs[j] = self.mod(raw, h, i, j)
                    if not scores:
                        lse[b][h][i] = -math.inf
                        rows[b, h, i] = ({}, {})
                        continue
                    m = max(scores.values())
                    total = sum(math.exp(s - m) for s in scores.values())
                    lse[b][h][i] = m + math.log(total)
                    p = {j: math.exp(s - m) / total for j, s in scores.items()}
                    rows[b, h, i] = (p, derivs)
                    for e in range(a.dv):
                        out[b][h][i][e] = sum(
                            pj * v[b][hk][j][e] for j, pj in p.items())
        return out, lse, rows

    def analytic(self, q, k, v, do):
        a = self.a
        out, _, rows = self.forward(q, k, v)
        dq = zeros(a.b, a.hq, a.nq, a.d)
        dk = zeros(a.b, a.hkv, a.nk, a.d)
        dv = zeros(a.b, a.hkv, a.nk, a.dv)
        for b in range(a.b):
            for h in range(a.hq):
                hk = h // self.group
                for i in range(a.nq):
                    p, derivs = rows[b, h, i]
                    delta = sum(x * y for x, y in zip(do[b][h][i],
                                                      out[b][h][i]))
                    for j, pj in p.items():
                        dp = sum(x * y for x, y in zip(do[b][h][i],
                                                       v[b][hk][j]))
                        ds = pj * (dp - delta) * derivs[j]
                        for c in range(a.d):
                            dq[b][h][i][c] += self.scale * ds * k[b][hk][j][c]
                            dk[b][hk][j][c] += self.scale * ds * q[b][h][i][c]
                        for e in range(a.dv):
                            dv[b][hk][j][e] += pj * do[b][h][i][e]
        return dq, dk, dv

    def central(self, q, k, v, do):
        a = self.a

        def loss():
            out = self.forward(q, k, v)[0]
            return sum(out[b][h][i][e] * do[b][h][i][e]
                       for b in range(a.b) for h in range(a.hq)
                       for i in range(a.nq) for e in range(a.dv))

        eps = 1e-6
        grads = []
        for tensor in (q, k, v):
            grad = zeros(len(tensor), len(tensor[0]), len(tensor[0][0]),
                         len(tensor[0][0][0]))
            for b, plane in enumerate(tensor):
                for h, rows in enumerate(plane):
                    for i, row in enumerate(rows):
                        for c in range(len(row)):
                            x = row[c]
                            row[c] = x + eps
                            up = loss()
                            row[c] = x - eps
                            down = loss()
                            row[c] = x
                            grad[b][h][i][c] = (up - down) / (2 * eps)
            grads.append(grad)
        return grads


def dense(values, elt):
    def fmt(x):
        if x == -math.inf:
            return "0xFF800000"
        return repr(float(x))

    def rec(x):
        if isinstance(x, list):
            return "[" + ", ".join(rec(y) for y in x) + "]"
        return fmt(x)
    return rec(values)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dtype", default="f32", choices=sorted(RTOL))
    for name, default in [("b", 1), ("hq", 2), ("hkv", 2), ("nq", 16),
                          ("nk", 16), ("d", 16), ("dv", 16), ("seed", 1)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--causal", choices=["none", "top_left", "bottom_right"],
                   default="none")
    p.add_argument("--scale", type=float, default=None)
    p.add_argument("--magnitude", type=float, default=1.0)
    p.add_argument("--softcap", type=float, default=None)
    p.add_argument("--alibi", action="store_true")
    p.add_argument("--leaky", type=float, default=None)
    p.add_argument("--window", type=int, default=None)
    p.add_argument("--dynamic", action="store_true",
                   help="@backward takes dynamic sequence lengths")
    p.add_argument("--reference", choices=["analytic", "central"],
                   default="analytic")
    p.add_argument("--perturb-reference", action="store_true")
    p.add_argument("--underived-reference", action="store_true")
    a = p.parse_args()
    if a.hkv < 1 or a.hq % a.hkv:
        p.error("--hq must be a multiple of --hkv")
    if a.underived_reference and a.softcap is None and a.leaky is None:
        p.error("--underived-reference needs a score_mod with a derivative "
                "other than 1 (--softcap or --leaky)")

    t = a.dtype
    prob = Problem(a)
    rng = random.Random(a.seed)

    def tensor(*shape):
        if len(shape) == 1:
            return [round_to(t, rng.uniform(-a.magnitude, a.magnitude))
                    for _ in range(shape[0])]
        return [tensor(*shape[1:]) for _ in range(shape[0])]

    q = tensor(a.b, a.hq, a.nq, a.d)
    k = tensor(a.b, a.hkv, a.nk, a.d)
    v = tensor(a.b, a.hkv, a.nk, a.dv)
    do = tensor(a.b, a.hq, a.nq, a.dv)
    out, lse, _ = prob.forward(q, k, v)
    out_in = [[[[round_to(t, x) for x in r] for r in pl] for pl in bt]
              for bt in out]
    lse_in = [[[x if x == -math.inf else round_to("f32", x) for x in r]
               for r in bt] for bt in lse]
    if a.reference == "analytic":
        refs = prob.analytic(q, k, v, do)
    else:
        refs = prob.central(q, k, v, do)
    if a.perturb_reference:
        refs = [[[[[x * 1.01 for x in r] for r in pl] for pl in bt]
                 for bt in g] for g in refs]

    qt = f"tensor<{a.b}x{a.hq}x{a.nq}x{a.d}x{t}>"
    kt = f"tensor<{a.b}x{a.hkv}x{a.nk}x{a.d}x{t}>"
    vt = f"tensor<{a.b}x{a.hkv}x{a.nk}x{a.dv}x{t}>"
    ot = f"tensor<{a.b}x{a.hq}x{a.nq}x{a.dv}x{t}>"
    lt = f"tensor<{a.b}x{a.hq}x{a.nq}xf32>"
    types = [qt, kt, vt]

    captures = []
    if a.alibi:
        captures.append(("slopes", f"tensor<{a.hq}xf32>", prob.slopes))
    attrs = ""
    if captures:
        attrs += (" captures(" + ", ".join(f"%{n}" for n, _, _ in captures)
                  + " : " + ", ".join(ty for _, ty, _ in captures) + ")")
    if a.scale is not None:
        attrs += f" scale = {a.scale:.9e}"
    if a.causal != "none":
        attrs += f" causal = <{a.causal}>"
    def leaky(cur):
        """--leaky's lines (an scf.if) after the common modifications."""
        if a.leaky is None:
            return [], cur
        return [f"      %lk_t = arith.constant {a.leaky:.9e} : f32",
                f"      %lk_above = arith.cmpf ogt, {cur}, %lk_t : f32",
                "      %lk_r = scf.if %lk_above -> (f32) {",
                f"        %lk_x = arith.subf {cur}, %lk_t : f32",
                "        %lk_q = arith.constant 2.5e-01 : f32",
                "        %lk_y = arith.mulf %lk_x, %lk_q : f32",
                "        %lk_z = arith.addf %lk_t, %lk_y : f32",
                "        scf.yield %lk_z : f32",
                "      } else {",
                f"        scf.yield {cur} : f32",
                "      }"], "%lk_r"

    attrs += mods_clause(a, [(n, ty) for n, ty, _ in captures],
                         f"tensor<{a.hq}xf32>", None, more_score=leaky)

    cap_args = "".join(f", %{n}: {ty}" for n, ty, _ in captures)
    # The types @backward takes (dynamic sequence lengths with --dynamic).
    if a.dynamic:
        def dyn(ty, n):
            return ty.replace(f"x{n}x", "x?x", 1) if ty.count("x") > 3 \
                else ty.replace(f"x{n}xf32", "x?xf32")
        bq, bk, bv = dyn(qt, a.nq), dyn(kt, a.nk), dyn(vt, a.nk)
        bo, bl = dyn(ot, a.nq), dyn(lt, a.nq)
        inits = """  %c2 = arith.constant 2 : index
  %nq = tensor.dim %q, %c2 : {bq}
  %nk = tensor.dim %k, %c2 : {bk}
  %dq0 = tensor.empty(%nq) : {bq}
  %dk0 = tensor.empty(%nk) : {bk}
  %dv0 = tensor.empty(%nk) : {bv}""".format(bq=bq, bk=bk, bv=bv)
    else:
        bq, bk, bv, bo, bl = qt, kt, vt, ot, lt
        inits = f"""  %dq0 = tensor.empty() : {qt}
  %dk0 = tensor.empty() : {kt}
  %dv0 = tensor.empty() : {vt}"""
    print(f"""// Generated by gen_backward_check.py; see the RUN line that made it.
func.func @backward(%q: {bq}, %k: {bk}, %v: {bv}, %o: {bo}, %do: {bo}, %lse: {bl}{cap_args}) -> ({bq}, {bk}, {bv}) {{
{inits}
  %dq, %dk, %dv = fa.attention_backward
      ins(%q, %k, %v, %o, %do, %lse : {bq}, {bk}, {bv}, {bo}, {bo}, {bl})
      outs(%dq0, %dk0, %dv0 : {bq}, {bk}, {bv}){attrs}
      -> {bq}, {bk}, {bv}
  return %dq, %dk, %dv : {bq}, {bk}, {bv}
}}

#id4 = affine_map<(b, h, i, j) -> (b, h, i, j)>
#all4 = affine_map<(b, h, i, j) -> ()>
func.func @main() {{
  %zero = arith.constant 0.0 : f32""")
    for name, ty, values in [("q", qt, q), ("k", kt, k), ("v", vt, v),
                             ("o", ot, out_in), ("do", ot, do),
                             ("lse", lt, lse_in)]:
        print(f"  %{name} = arith.constant dense<{dense(values, t)}> : {ty}")
    for name, ty, values in captures:
        print(f"  %{name} = arith.constant dense<{dense(values, 'f32')}> : "
              f"{ty}")
    cap_vals = "".join(f", %{n}" for n, _, _ in captures)
    cap_tys = "".join(f", {ty}" for _, ty, _ in captures)
    args = []
    for name, ty, bty in [("q", qt, bq), ("k", kt, bk), ("v", vt, bv),
                          ("o", ot, bo), ("do", ot, bo), ("lse", lt, bl)]:
        if ty != bty:
            print(f"  %{name}_d = tensor.cast %{name} : {ty} to {bty}")
            name += "_d"
        args.append("%" + name)
    print(f"  %dq_r, %dk_r, %dv_r = func.call @backward({', '.join(args)}"
          f"{cap_vals}) : ({bq}, {bk}, {bv}, {bo}, {bo}, {bl}{cap_tys}) -> "
          f"({bq}, {bk}, {bv})")
    for name, ty, bty in [("dq", qt, bq), ("dk", kt, bk), ("dv", vt, bv)]:
        if ty != bty:
            print(f"  %{name} = tensor.cast %{name}_r : {bty} to {ty}")
        else:
            print(f"  %{name} = tensor.cast %{name}_r : {ty} to {ty}")
    ext = (lambda x, y: f"    {y} = arith.extf {x} : {t} to f32") \
        if t != "f32" else (lambda x, y: f"    {y} = arith.addf {x}, %zero "
                            ": f32")
    oks = []
    rtol = RTOL[t]
    for name, ref, ty in zip(("dq", "dk", "dv"), refs, types):
        fty = ty.replace(t + ">", "f32>")
        peak = max(abs(x) for bt in ref for pl in bt for r in pl for x in r)
        bound = rtol / 100 + rtol * peak
        print(f"""  %{name}_ref = arith.constant dense<{dense(ref, 'f32')}> : {fty}
  %{name}_e0 = tensor.empty() : tensor<f32>
  %{name}_e1 = linalg.fill ins(%zero : f32) outs(%{name}_e0 : tensor<f32>) -> tensor<f32>
  %{name}_et = linalg.generic {{indexing_maps = [#id4, #id4, #all4], iterator_types = ["reduction", "reduction", "reduction", "reduction"]}}
      ins(%{name}, %{name}_ref : {ty}, {fty}) outs(%{name}_e1 : tensor<f32>) {{
  ^bb0(%x: {t}, %y: f32, %acc: f32):
{ext("%x", "%xf")}
    %d = arith.subf %xf, %y : f32
    %ad = math.absf %d : f32
    %r = arith.maximumf %acc, %ad : f32
    linalg.yield %r : f32
  }} -> tensor<f32>
  %{name}_err = tensor.extract %{name}_et[] : tensor<f32>
  %{name}_bound = arith.constant {bound:.9e} : f32
  vector.print str "max_abs_err_{name} "
  vector.print %{name}_err : f32
  vector.print str "bound_{name} "
  vector.print %{name}_bound : f32
  %{name}_ok = arith.cmpf olt, %{name}_err, %{name}_bound : f32""")
        oks.append(f"%{name}_ok")
    print(f"""  %ok0 = arith.andi {oks[0]}, {oks[1]} : i1
  %ok = arith.andi %ok0, {oks[2]} : i1
  scf.if %ok {{
    vector.print str "PASS\\n"
  }} else {{
    vector.print str "FAIL\\n"
  }}
  return
}}""")


if __name__ == "__main__":
    main()
