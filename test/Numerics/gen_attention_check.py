#!/usr/bin/env python3
"""Emits an MLIR program that checks one fa.attention configuration on the CPU.

The program fills Q, K, V from a seeded integer hash (values in [-1, 1),
rounded to the element type), poisons O and LSE with NaN, calls @attention
(the fa.attention op, lowered by whatever fa passes the RUN line applies), and
compares against a naive reference written here with plain linalg.generic ops
over full [B, Hq, Nq, Nk] tensors: softmax(Q K^T * scale + mask) V in f32 on
the same rounded inputs. It prints the errors and PASS or FAIL.

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
    a = p.parse_args()

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
    if a.lse:
        op = f"""  %o, %l = fa.attention ins(%q, %k, %v : {qt}, {kt}, {vt})
      outs(%o0, %l0 : {ot}, {lt}) {attrs} -> {ot}, {lt}
  return %o, %l : {ot}, {lt}"""
        sig = f"(%q: {qt}, %k: {kt}, %v: {vt}, %o0: {ot}, %l0: {lt}) -> ({ot}, {lt})"
    else:
        op = f"""  %o = fa.attention ins(%q, %k, %v : {qt}, {kt}, {vt})
      outs(%o0 : {ot}) {attrs} -> {ot}
  return %o : {ot}"""
        sig = f"(%q: {qt}, %k: {kt}, %v: {vt}, %o0: {ot}) -> {ot}"

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
    mask_lines = ""
    if shift is not None:
        mask_lines = f"""    %ri = linalg.index 2 : index
    %cj = linalg.index 3 : index
    %shift = arith.constant {shift} : index
    %last = arith.addi %ri, %shift : index
    %hidden = arith.cmpi sgt, %cj, %last : index
    %sm = arith.select %hidden, %ninf, %sc1 : f32"""
    else:
        mask_lines = "    %sm = arith.addf %sc1, %zero2 : f32"
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
    if a.lse:
        print(f"  %o, %l = func.call @attention(%q, %k, %v, %o0, %l0) : ({qt}, {kt}, {vt}, {ot}, {lt}) -> ({ot}, {lt})")
    else:
        print(f"  %o = func.call @attention(%q, %k, %v, %o0) : ({qt}, {kt}, {vt}, {ot}) -> {ot}")
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
  %sm_t = linalg.generic {{indexing_maps = [#id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}} outs(%s : {st}) {{
  ^bb0(%x: f32):
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
