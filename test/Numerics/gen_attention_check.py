#!/usr/bin/env python3
"""Emits an MLIR program that checks one fa.attention configuration on the CPU.

The program fills Q, K, V from a seeded integer hash (values in [-1, 1),
rounded to the element type), poisons O and LSE with NaN, calls @attention
(the fa.attention op, lowered by whatever fa passes the RUN line applies), and
compares against a naive reference written here with plain linalg.generic ops
over full [B, Hq, Nq, Nk] tensors: softmax(Q K^T * scale + mask) V in f32 on
the same rounded inputs. It prints the errors and PASS or FAIL.

Modifications (docs/ProgrammableAttention.md) put a score_mod and/or mask_mod
region, and the tensors they capture, on the op under test; the reference
implements the same modification on its own, directly in its linalg bodies over
the full score tensor (never from the region text), so that a region the
compiler clones or evaluates wrongly is not mirrored by the reference:

  --softcap C             score_mod  C * tanh(s / C)
  --alibi                 score_mod  s + slopes[h] * (kv_idx - q_idx);
                          capture slopes: f32 [Hq], 2^(-8 (h + 1) / Hq)
  --rel-bias [M]          score_mod  s + table[clamp(kv_idx - q_idx, -M, M) + M];
                          capture table: f32 [2 M + 1] (seeded)
  --window W              mask_mod   q_idx - W < kv_idx <= q_idx
  --sinks S               mask_mod   kv_idx < S or in the window (needs --window)
  --document-mask SEGLEN  mask_mod   doc[b, q_idx] == doc[b, kv_idx];
                          capture doc: i32 [B, max(Nq, Nk)], segments of
                          SEGLEN tokens (--document-varied: seeded lengths
                          in [1, 2 SEGLEN - 1])
  --prefix-lm P           mask_mod   kv_idx < P or kv_idx <= q_idx

Several score mods compose in that order (softcap, then ALiBi, then the
relative bias); several mask mods are and-ed, and with --causal, since a pair
is kept only when the causal mask and mask_mod both allow it. Captures are
extra arguments of @attention (after O and LSE), constants in @main; with
--dynamic-captures @attention takes them with dynamic shapes. The control
--unmodified-reference leaves the modifications out of the reference only (the
check must then FAIL, which shows that they change the result at that size).

  gen_attention_check.py --dtype f16 --b 1 --hq 4 --hkv 2 --nq 33 --nk 47 \\
      --d 16 --dv 8 --causal bottom_right --lse
"""

import argparse
import math

TOLERANCE = {"f32": 2e-5, "f16": 2e-3, "bf16": 1.6e-2}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dtype", default="f32", choices=sorted(TOLERANCE))
    for name, default in [("b", 1), ("hq", 2), ("hkv", 2), ("nq", 16),
                          ("nk", 16), ("d", 16), ("dv", 16), ("seed", 1)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--causal", choices=["none", "top_left", "bottom_right"],
                   default="none")
    p.add_argument("--scale", type=float, default=None)
    p.add_argument("--lse", action="store_true")
    p.add_argument("--magnitude", type=float, default=1.0,
                   help="inputs are drawn from [-magnitude, magnitude)")
    p.add_argument("--perturb-reference", action="store_true",
                   help="bias the reference (the check must then FAIL)")
    p.add_argument("--softcap", type=float, default=None, metavar="C",
                   help="score_mod: C * tanh(score / C)")
    p.add_argument("--alibi", action="store_true",
                   help="score_mod: score + slopes[h] * (kv_idx - q_idx)")
    p.add_argument("--rel-bias", type=int, nargs="?", const=8, default=None,
                   metavar="M", help="score_mod: score + table[clamp(kv_idx - "
                   "q_idx, -M, M) + M] (M defaults to 8)")
    p.add_argument("--window", type=int, default=None, metavar="W",
                   help="mask_mod: q_idx - W < kv_idx <= q_idx")
    p.add_argument("--sinks", type=int, default=None, metavar="S",
                   help="mask_mod: kv_idx < S or in the window")
    p.add_argument("--document-mask", type=int, default=None,
                   metavar="SEGLEN",
                   help="mask_mod: doc[b, q_idx] == doc[b, kv_idx]")
    p.add_argument("--document-varied", action="store_true",
                   help="seeded segment lengths in [1, 2 SEGLEN - 1]")
    p.add_argument("--prefix-lm", type=int, default=None, metavar="P",
                   help="mask_mod: kv_idx < P or kv_idx <= q_idx")
    p.add_argument("--unmodified-reference", action="store_true",
                   help="the reference leaves out the modifications (the "
                   "check must then FAIL: they are visible at this size)")
    p.add_argument("--dynamic-captures", action="store_true",
                   help="@attention takes the captures with dynamic shapes")
    a = p.parse_args()
    if a.unmodified_reference and not any(
            x is not None for x in (a.softcap, a.rel_bias, a.window,
                                    a.document_mask, a.prefix_lm)) \
            and not a.alibi:
        p.error("--unmodified-reference needs a modification")
    if a.sinks is not None and a.window is None:
        p.error("--sinks needs --window")
    if a.document_varied and a.document_mask is None:
        p.error("--document-varied needs --document-mask")
    if a.softcap is not None and not a.softcap > 0:
        p.error("--softcap must be positive")
    for name in ("window", "document_mask", "rel_bias"):
        if getattr(a, name) is not None and getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")

    t = a.dtype
    group = a.hq // a.hkv
    scale = a.scale if a.scale is not None else 1.0 / math.sqrt(a.d)
    qt = f"tensor<{a.b}x{a.hq}x{a.nq}x{a.d}x{t}>"
    kt = f"tensor<{a.b}x{a.hkv}x{a.nk}x{a.d}x{t}>"
    vt = f"tensor<{a.b}x{a.hkv}x{a.nk}x{a.dv}x{t}>"
    ot = f"tensor<{a.b}x{a.hq}x{a.nq}x{a.dv}x{t}>"
    lt = f"tensor<{a.b}x{a.hq}x{a.nq}xf32>"
    st = f"tensor<{a.b}x{a.hq}x{a.nq}x{a.nk}xf32>"
    of = f"tensor<{a.b}x{a.hq}x{a.nq}x{a.dv}xf32>"
    shift = {"none": None, "top_left": 0, "bottom_right": a.nk - a.nq}[a.causal]

    attrs = f"scale = {a.scale:.9e}" if a.scale is not None else ""
    if a.causal != "none":
        attrs += f" causal = <{a.causal}>"

    # Captures: (name, shape, element type, values, flattened row-major).
    captures = []
    if a.alibi:
        slopes = [2.0 ** (-8.0 * (h + 1) / a.hq) for h in range(a.hq)]
        captures.append(("slopes", [a.hq], "f32", slopes))
    if a.rel_bias is not None:
        m = a.rel_bias
        # Seeded, in [-2, 2) with 1/16384 steps (exact in f32).
        table = [((x * 40503 + a.seed * 131 + 7) % 65536) / 16384.0 - 2.0
                 for x in range(2 * m + 1)]
        captures.append(("relb", [2 * m + 1], "f32", table))
    if a.document_mask is not None:
        n = max(a.nq, a.nk)
        docs = []
        state = a.seed * 7919 + a.document_mask
        for b in range(a.b):
            row, doc = [], 0
            if a.document_varied:
                while len(row) < n:
                    state = (state * 1103515245 + 12345) % 2 ** 31
                    length = 1 + (state >> 8) % (2 * a.document_mask - 1)
                    row += [doc] * length
                    doc += 1
            else:
                # Each batch starts its segments at another offset.
                off = (b * (a.document_mask // 2 + 1)) % a.document_mask
                row = [(x + off) // a.document_mask for x in range(n)]
            docs += row[:n]
        captures.append(("doc", [a.b, n], "i32", docs))

    def tensor_type(shape, elt, dynamic=False):
        return "tensor<" + "".join(("?" if dynamic else str(x)) + "x"
                                   for x in shape) + elt + ">"

    cap_main = [tensor_type(sh, e) for _, sh, e, _ in captures]
    cap_attn = [tensor_type(sh, e, a.dynamic_captures)
                for _, sh, e, _ in captures]
    cap_args = "".join(f", %{n}: {ty}" for (n, _, _, _), ty in
                       zip(captures, cap_attn))
    cap_block = "".join(f", %{n}_a: {ty}" for (n, _, _, _), ty in
                        zip(captures, cap_attn))
    cap_clause = ""
    if captures:
        cap_clause = (" captures(" + ", ".join(f"%{c[0]}" for c in captures)
                      + " : " + ", ".join(cap_attn) + ")")

    # The regions of the op under test (written the way a user would; the
    # reference below computes the same functions its own way).
    score_lines, cur = [], "%s"
    if a.softcap is not None:
        score_lines += [f"      %cap = arith.constant {a.softcap:.9e} : f32",
                        f"      %sc_x = arith.divf {cur}, %cap : f32",
                        "      %sc_t = math.tanh %sc_x : f32",
                        "      %sc_r = arith.mulf %cap, %sc_t : f32"]
        cur = "%sc_r"
    if a.alibi:
        score_lines += ["      %al_s = tensor.extract %slopes_a[%h] : "
                        + cap_attn[0],
                        "      %al_d = arith.subi %j, %i : index",
                        "      %al_di = arith.index_cast %al_d : index to i64",
                        "      %al_df = arith.sitofp %al_di : i64 to f32",
                        "      %al_b = arith.mulf %al_s, %al_df : f32",
                        f"      %al_r = arith.addf {cur}, %al_b : f32"]
        cur = "%al_r"
    if a.rel_bias is not None:
        rty = cap_attn[[c[0] for c in captures].index("relb")]
        score_lines += ["      %rb_d = arith.subi %j, %i : index",
                        f"      %rb_lo = arith.constant {-a.rel_bias} : index",
                        f"      %rb_hi = arith.constant {a.rel_bias} : index",
                        "      %rb_c0 = arith.maxsi %rb_d, %rb_lo : index",
                        "      %rb_c1 = arith.minsi %rb_c0, %rb_hi : index",
                        "      %rb_x = arith.addi %rb_c1, %rb_hi : index",
                        f"      %rb_v = tensor.extract %relb_a[%rb_x] : {rty}",
                        f"      %rb_r = arith.addf {cur}, %rb_v : f32"]
        cur = "%rb_r"
    regions = ""
    if score_lines:
        regions += ("\n    score_mod {\n    ^bb0(%s: f32, %b: index, %h: index, "
                    f"%i: index, %j: index{cap_block}):\n"
                    + "\n".join(score_lines)
                    + f"\n      fa.yield {cur} : f32\n    }}")
    mask_lines, keeps = [], []
    if a.window is not None:
        mask_lines += [f"      %w_w = arith.constant {a.window} : index",
                       "      %w_lo = arith.subi %i, %w_w : index",
                       "      %w_after = arith.cmpi sgt, %j, %w_lo : index",
                       "      %w_upto = arith.cmpi sle, %j, %i : index",
                       "      %w_in = arith.andi %w_after, %w_upto : i1"]
        keeps.append("%w_in")
        if a.sinks is not None:
            mask_lines += [f"      %sk_s = arith.constant {a.sinks} : index",
                           "      %sk_in = arith.cmpi slt, %j, %sk_s : index",
                           "      %sk_or = arith.ori %sk_in, %w_in : i1"]
            keeps[-1] = "%sk_or"
    if a.document_mask is not None:
        dty = cap_attn[[c[0] for c in captures].index("doc")]
        mask_lines += [f"      %dc_q = tensor.extract %doc_a[%b, %i] : {dty}",
                       f"      %dc_k = tensor.extract %doc_a[%b, %j] : {dty}",
                       "      %dc_eq = arith.cmpi eq, %dc_q, %dc_k : i32"]
        keeps.append("%dc_eq")
    if a.prefix_lm is not None:
        mask_lines += [f"      %pf_p = arith.constant {a.prefix_lm} : index",
                       "      %pf_in = arith.cmpi slt, %j, %pf_p : index",
                       "      %pf_c = arith.cmpi sle, %j, %i : index",
                       "      %pf_or = arith.ori %pf_in, %pf_c : i1"]
        keeps.append("%pf_or")
    if keeps:
        kept = keeps[0]
        for n, other in enumerate(keeps[1:]):
            mask_lines.append(f"      %and{n} = arith.andi {kept}, {other} : i1")
            kept = f"%and{n}"
        regions += ("\n    mask_mod {\n    ^bb0(%b: index, %h: index, "
                    f"%i: index, %j: index{cap_block}):\n"
                    + "\n".join(mask_lines)
                    + f"\n      fa.yield {kept} : i1\n    }}")
    attrs = cap_clause + (" " + attrs.strip() if attrs.strip() else "") + regions

    if a.lse:
        op = f"""  %o, %l = fa.attention ins(%q, %k, %v : {qt}, {kt}, {vt})
      outs(%o0, %l0 : {ot}, {lt}){attrs} -> {ot}, {lt}
  return %o, %l : {ot}, {lt}"""
        sig = f"(%q: {qt}, %k: {kt}, %v: {vt}, %o0: {ot}, %l0: {lt}{cap_args}) -> ({ot}, {lt})"
    else:
        op = f"""  %o = fa.attention ins(%q, %k, %v : {qt}, {kt}, {vt})
      outs(%o0 : {ot}){attrs} -> {ot}
  return %o : {ot}"""
        sig = f"(%q: {qt}, %k: {kt}, %v: {vt}, %o0: {ot}{cap_args}) -> {ot}"

    def fill(name, ty, salt):
        # x = ((linear_index * 2654435761 + seed * 97 + salt) mod 65536) / 32768 - 1
        dims = ty[len("tensor<"):].split("x")[:-1]
        rank = len(dims)
        idx = ", ".join(f"d{i}" for i in range(rank))
        iterators = ", ".join(['"parallel"'] * rank)
        lines = [f"  %{name}_e = tensor.empty() : {ty}",
                 f"  %{name} = linalg.generic {{indexing_maps = [affine_map<({idx}) -> ({idx})>], "
                 f"iterator_types = [{iterators}]}} outs(%{name}_e : {ty}) {{",
                 f"  ^bb0(%out: {t}):"]
        lin = None
        for i, size in enumerate(dims):
            lines.append(f"    %i{i} = linalg.index {i} : index")
            if lin is None:
                lin = f"%i{i}"
            else:
                lines.append(f"    %m{i} = arith.muli {lin}, %c{size}_{name} : index")
                lines.append(f"    %a{i} = arith.addi %m{i}, %i{i} : index")
                lin = f"%a{i}"
        consts = [f"    %c{size}_{name} = arith.constant {size} : index" for size in sorted(set(dims))]
        lines[3:3] = consts
        lines += [f"    %li = arith.index_cast {lin} : index to i64",
                  "    %mul = arith.constant 2654435761 : i64",
                  f"    %add = arith.constant {a.seed * 97 + salt} : i64",
                  "    %mask = arith.constant 65535 : i64",
                  "    %h0 = arith.muli %li, %mul : i64",
                  "    %h1 = arith.addi %h0, %add : i64",
                  "    %h2 = arith.andi %h1, %mask : i64",
                  "    %hf = arith.uitofp %h2 : i64 to f32",
                  f"    %sc = arith.constant {a.magnitude / 32768.0:.9e} : f32",
                  f"    %off = arith.constant {a.magnitude:.9e} : f32",
                  "    %x0 = arith.mulf %hf, %sc : f32",
                  "    %x = arith.subf %x0, %off : f32"]
        lines.append("    %xt = arith.truncf %x : f32 to " + t if t != "f32" else "    %xt = arith.addf %x, %x0_zero : f32")
        if t == "f32":
            lines.insert(-1, "    %x0_zero = arith.constant 0.0 : f32")
        lines += [f"    linalg.yield %xt : {t}", f"  }} -> {ty}"]
        return "\n".join(lines)

    ext = (lambda v, o: f"    {o} = arith.extf {v} : {t} to f32") if t != "f32" else \
          (lambda v, o: f"    {o} = arith.addf {v}, %zero_c : f32")
    zero_c = "    %zero_c = arith.constant 0.0 : f32" if t == "f32" else ""
    mods = bool(score_lines or keeps) and not a.unmodified_reference
    ref_ins, ref_maps, ref_args, ref_pre = [], [], [], []
    if not mods:
        if shift is not None:
            mask_lines = f"""    %ri = linalg.index 2 : index
    %cj = linalg.index 3 : index
    %shift = arith.constant {shift} : index
    %last = arith.addi %ri, %shift : index
    %hidden = arith.cmpi sgt, %cj, %last : index
    %sm = arith.select %hidden, %ninf, %sc1 : f32"""
        else:
            mask_lines = "    %sm = arith.addf %sc1, %zero2 : f32"
    else:
        # The reference's own implementation of the modifications, over the
        # full score tensor: i and j as i64, the slopes and document ids
        # through indexing maps, tanh from exp.
        ref = ["    %ri = linalg.index 2 : index",
               "    %cj = linalg.index 3 : index",
               "    %ri64 = arith.index_cast %ri : index to i64",
               "    %cj64 = arith.index_cast %cj : index to i64",
               "    %back = arith.subi %ri64, %cj64 : i64",
               "    %true = arith.constant true"]
        cur = "%sc1"
        if a.softcap is not None:
            # tanh(y) = 1 - 2 / (exp(2 y) + 1)
            ref += [f"    %rc_k = arith.constant {2.0 / a.softcap:.9e} : f32",
                    f"    %rc_c = arith.constant {a.softcap:.9e} : f32",
                    "    %rc_one = arith.constant 1.0 : f32",
                    "    %rc_two = arith.constant 2.0 : f32",
                    f"    %rc_y2 = arith.mulf {cur}, %rc_k : f32",
                    "    %rc_e = math.exp %rc_y2 : f32",
                    "    %rc_den = arith.addf %rc_e, %rc_one : f32",
                    "    %rc_q = arith.divf %rc_two, %rc_den : f32",
                    "    %rc_t = arith.subf %rc_one, %rc_q : f32",
                    "    %rc_r = arith.mulf %rc_t, %rc_c : f32"]
            cur = "%rc_r"
        if a.alibi:
            ref_ins.append(("%slopes", cap_main[0]))
            ref_maps.append("affine_map<(b, h, i, j) -> (h)>")
            ref_args.append("%slope_r: f32")
            ref += ["    %ra_fi = arith.sitofp %ri64 : i64 to f32",
                    "    %ra_fj = arith.sitofp %cj64 : i64 to f32",
                    "    %ra_d = arith.subf %ra_fj, %ra_fi : f32",
                    "    %ra_b = arith.mulf %ra_d, %slope_r : f32",
                    f"    %ra_r = arith.addf {cur}, %ra_b : f32"]
            cur = "%ra_r"
        if a.rel_bias is not None:
            rty = cap_main[[c[0] for c in captures].index("relb")]
            ref += ["    %rr_d = arith.subi %cj64, %ri64 : i64",
                    f"    %rr_m = arith.constant {a.rel_bias} : i64",
                    f"    %rr_nm = arith.constant {-a.rel_bias} : i64",
                    "    %rr_low = arith.cmpi slt, %rr_d, %rr_nm : i64",
                    "    %rr_high = arith.cmpi sgt, %rr_d, %rr_m : i64",
                    "    %rr_c0 = arith.select %rr_low, %rr_nm, %rr_d : i64",
                    "    %rr_c1 = arith.select %rr_high, %rr_m, %rr_c0 : i64",
                    "    %rr_x = arith.addi %rr_c1, %rr_m : i64",
                    "    %rr_ix = arith.index_cast %rr_x : i64 to index",
                    f"    %rr_v = tensor.extract %relb[%rr_ix] : {rty}",
                    f"    %rr_r = arith.addf {cur}, %rr_v : f32"]
            cur = "%rr_r"
        vis = []
        if shift is not None:
            ref += [f"    %shift = arith.constant {shift} : i64",
                    "    %rcs = arith.addi %back, %shift : i64",
                    "    %zero64 = arith.constant 0 : i64",
                    "    %causal_ok = arith.cmpi sge, %rcs, %zero64 : i64"]
            vis.append("%causal_ok")
        if a.window is not None:
            # 0 <= i - j < W, as one unsigned comparison.
            ref += [f"    %rw_w = arith.constant {a.window} : i64",
                    "    %rw_in = arith.cmpi ult, %back, %rw_w : i64"]
            vis.append("%rw_in")
            if a.sinks is not None:
                ref += [f"    %rs_s = arith.constant {a.sinks} : i64",
                        "    %rs_in = arith.cmpi ult, %cj64, %rs_s : i64",
                        "    %rs_or = arith.ori %rs_in, %rw_in : i1"]
                vis[-1] = "%rs_or"
        if a.document_mask is not None:
            dty = cap_main[[c[0] for c in captures].index("doc")]
            ref_ins += [("%doc_rq", f"tensor<{a.b}x{a.nq}xi32>"),
                        ("%doc_rk", f"tensor<{a.b}x{a.nk}xi32>")]
            ref_pre += [f"  %doc_r{x} = tensor.extract_slice %doc[0, 0] "
                        f"[{a.b}, {n}] [1, 1] : {dty} to tensor<{a.b}x{n}xi32>"
                        for x, n in (("q", a.nq), ("k", a.nk))]
            ref_maps += ["affine_map<(b, h, i, j) -> (b, i)>",
                         "affine_map<(b, h, i, j) -> (b, j)>"]
            ref_args += ["%doc_q: i32", "%doc_k: i32"]
            ref += ["    %rd_eq = arith.cmpi eq, %doc_q, %doc_k : i32"]
            vis.append("%rd_eq")
        if a.prefix_lm is not None:
            ref += [f"    %rp_p = arith.constant {a.prefix_lm} : i64",
                    "    %rp_in = arith.cmpi ult, %cj64, %rp_p : i64",
                    "    %rp_zero = arith.constant 0 : i64",
                    "    %rp_c = arith.cmpi sge, %back, %rp_zero : i64",
                    "    %rp_or = arith.ori %rp_in, %rp_c : i1"]
            vis.append("%rp_or")
        kept = "%true"
        for n, v in enumerate(vis):
            ref.append(f"    %vis{n} = arith.andi {kept}, {v} : i1")
            kept = f"%vis{n}"
        ref.append(f"    %sm = arith.select {kept}, {cur}, %ninf : f32")
        mask_lines = "\n".join(ref)
    sm_ins = ""
    if ref_ins:
        sm_ins = (" ins(" + ", ".join(n for n, _ in ref_ins) + " : "
                  + ", ".join(ty for _, ty in ref_ins) + ")")
    sm_maps = ", ".join(ref_maps + ["#id4"])
    sm_args = ", ".join(ref_args + ["%x: f32"])
    perturb = "1.001" if a.perturb_reference else "1.0"
    tol = TOLERANCE[t]

    print(f"""// Generated by gen_attention_check.py; see the RUN line that made it.
#q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#k = affine_map<(b, h, i, j, d) -> (b, h floordiv {group}, j, d)>
#s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h floordiv {group}, j, e)>
#pv_l = affine_map<(b, h, i, e, j) -> (b, h, i)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
#id4 = affine_map<(b, h, i, j) -> (b, h, i, j)>
#row4 = affine_map<(b, h, i, j) -> (b, h, i)>
#id3 = affine_map<(b, h, i) -> (b, h, i)>

func.func @attention{sig} {{
{op}
}}

func.func @main() {{
  %nan = arith.constant 0x7FC00000 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
{fill("q", qt, 11)}
{fill("k", kt, 23)}
{fill("v", vt, 37)}
  %o0e = tensor.empty() : {ot}
  %poison_t = arith.truncf %nan : f32 to {t}
""".replace("  %poison_t = arith.truncf %nan : f32 to f32\n", "  %poison_t = arith.addf %nan, %zero : f32\n"))
    print(f"""  %o0 = linalg.fill ins(%poison_t : {t}) outs(%o0e : {ot}) -> {ot}
  %l0e = tensor.empty() : {lt}
  %l0 = linalg.fill ins(%nan : f32) outs(%l0e : {lt}) -> {lt}""")
    # Captures: deterministic constants, passed as they are or cast to
    # dynamic shapes.
    call_caps = ""
    for (name, shape, elt, values), ty, aty in zip(captures, cap_main,
                                                   cap_attn):
        fmt = (lambda x: f"{x:.9e}") if elt == "f32" else str
        flat = [fmt(x) for x in values]
        for size in reversed(shape[1:]):
            flat = ["[" + ", ".join(flat[r:r + size]) + "]"
                    for r in range(0, len(flat), size)]
        print(f"  %{name} = arith.constant dense<[{', '.join(flat)}]> : {ty}")
        arg = f"%{name}"
        if aty != ty:
            print(f"  %{name}_d = tensor.cast %{name} : {ty} to {aty}")
            arg = f"%{name}_d"
        call_caps += ", " + arg
    call_tys = "".join(", " + ty for ty in cap_attn)
    if a.lse:
        print(f"  %o, %l = func.call @attention(%q, %k, %v, %o0, %l0{call_caps}) : ({qt}, {kt}, {vt}, {ot}, {lt}{call_tys}) -> ({ot}, {lt})")
    else:
        print(f"  %o = func.call @attention(%q, %k, %v, %o0{call_caps}) : ({qt}, {kt}, {vt}, {ot}{call_tys}) -> {ot}")
    print(f"""
  // Reference: S = scale * Q K^T (+ mask), softmax over keys, times V.
  %se = tensor.empty() : {st}
  %s0 = linalg.fill ins(%zero : f32) outs(%se : {st}) -> {st}
  %s = linalg.generic {{indexing_maps = [#q, #k, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}}
      ins(%q, %k : {qt}, {kt}) outs(%s0 : {st}) {{
  ^bb0(%a: {t}, %b: {t}, %acc: f32):
{zero_c}
{ext("%a", "%af")}
{ext("%b", "%bf")}
    %p = arith.mulf %af, %bf : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }} -> {st}
{"".join(x + chr(10) for x in ref_pre)}  %sm_t = linalg.generic {{indexing_maps = [{sm_maps}], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}{sm_ins} outs(%s : {st}) {{
  ^bb0({sm_args}):
    %scale = arith.constant {scale:.9e} : f32
    %zero2 = arith.constant 0.0 : f32
    %sc1 = arith.mulf %x, %scale : f32
{mask_lines}
    linalg.yield %sm : f32
  }} -> {st}
  %me = tensor.empty() : {lt}
  %m0 = linalg.fill ins(%ninf : f32) outs(%me : {lt}) -> {lt}
  %m = linalg.generic {{indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}} ins(%sm_t : {st}) outs(%m0 : {lt}) {{
  ^bb0(%x: f32, %acc: f32):
    %r = arith.maximumf %acc, %x : f32
    linalg.yield %r : f32
  }} -> {lt}
  %ee = tensor.empty() : {st}
  %e = linalg.generic {{indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}} ins(%sm_t, %m : {st}, {lt}) outs(%ee : {st}) {{
  ^bb0(%x: f32, %mx: f32, %out: f32):
    %none = arith.cmpf oeq, %mx, %ninf : f32
    %d = arith.subf %x, %mx : f32
    %ex = math.exp %d : f32
    %r = arith.select %none, %zero, %ex : f32
    linalg.yield %r : f32
  }} -> {st}
  %sum0 = linalg.fill ins(%zero : f32) outs(%me : {lt}) -> {lt}
  %sum = linalg.generic {{indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}} ins(%e : {st}) outs(%sum0 : {lt}) {{
  ^bb0(%x: f32, %acc: f32):
    %r = arith.addf %acc, %x : f32
    linalg.yield %r : f32
  }} -> {lt}
  %ofe = tensor.empty() : {of}
  %of0 = linalg.fill ins(%zero : f32) outs(%ofe : {of}) -> {of}
  %ref = linalg.generic {{indexing_maps = [#pv_p, #pv_v, #pv_l, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}}
      ins(%e, %v, %sum : {st}, {vt}, {lt}) outs(%of0 : {of}) {{
  ^bb0(%pe: f32, %vv: {t}, %lsum: f32, %acc: f32):
{zero_c}
{ext("%vv", "%vf")}
    %empty = arith.cmpf oeq, %lsum, %zero : f32
    %w0 = arith.divf %pe, %lsum : f32
    %bias = arith.constant {perturb} : f32
    %w1 = arith.mulf %w0, %bias : f32
    %w = arith.select %empty, %zero, %w1 : f32
    %p = arith.mulf %w, %vf : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }} -> {of}

  // max |O - ref| (NaN poisons the max: maximumf propagates NaN).
  %err0 = tensor.empty() : tensor<f32>
  %err_init = linalg.fill ins(%zero : f32) outs(%err0 : tensor<f32>) -> tensor<f32>
  %err_t = linalg.generic {{indexing_maps = [#id4, #id4, affine_map<(b, h, i, j) -> ()>], iterator_types = ["reduction", "reduction", "reduction", "reduction"]}}
      ins(%o, %ref : {ot}, {of}) outs(%err_init : tensor<f32>) {{
  ^bb0(%x: {t}, %y: f32, %acc: f32):
{zero_c}
{ext("%x", "%xf")}
    %d = arith.subf %xf, %y : f32
    %ad = math.absf %d : f32
    %r = arith.maximumf %acc, %ad : f32
    linalg.yield %r : f32
  }} -> tensor<f32>
  %err = tensor.extract %err_t[] : tensor<f32>
  vector.print str "max_abs_err_out "
  vector.print %err : f32
  %tol = arith.constant {tol:.9e} : f32
  %ok_o = arith.cmpf olt, %err, %tol : f32""")
    if a.lse:
        print(f"""  %lref = linalg.generic {{indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}} ins(%m, %sum : {lt}, {lt}) outs(%me : {lt}) {{
  ^bb0(%mx: f32, %sm2: f32, %out: f32):
    %lg = math.log %sm2 : f32
    %r = arith.addf %mx, %lg : f32
    linalg.yield %r : f32
  }} -> {lt}
  %lerr_t = linalg.generic {{indexing_maps = [#id3, #id3, affine_map<(b, h, i) -> ()>], iterator_types = ["reduction", "reduction", "reduction"]}}
      ins(%l, %lref : {lt}, {lt}) outs(%err_init : tensor<f32>) {{
  ^bb0(%x: f32, %y: f32, %acc: f32):
    // Rows that see no key: both must be -inf.
    %bx = arith.cmpf oeq, %x, %ninf : f32
    %by = arith.cmpf oeq, %y, %ninf : f32
    %both = arith.andi %bx, %by : i1
    %d = arith.subf %x, %y : f32
    %ad0 = math.absf %d : f32
    %ad = arith.select %both, %zero, %ad0 : f32
    %r = arith.maximumf %acc, %ad : f32
    linalg.yield %r : f32
  }} -> tensor<f32>
  %lerr = tensor.extract %lerr_t[] : tensor<f32>
  vector.print str "max_abs_err_lse "
  vector.print %lerr : f32
  %ltol = arith.constant 1.0e-4 : f32
  %ok_l = arith.cmpf olt, %lerr, %ltol : f32
  %ok = arith.andi %ok_o, %ok_l : i1""")
    else:
        print("  %ok = arith.andi %ok_o, %ok_o : i1")
    print("""  scf.if %ok {
    vector.print str "PASS\\n"
  } else {
    vector.print str "FAIL\\n"
  }
  return
}""")


if __name__ == "__main__":
    main()
