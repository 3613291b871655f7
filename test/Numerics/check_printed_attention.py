#!/usr/bin/env python3
"""Checks what an fa.attention example printed against a reference computed here.

Reads the example (.mlir): the dense constants %q, %k, %v of @main, and the
`scale` and `causal` of its fa.attention. Reads the mlir-runner output on
stdin: printMemrefF32 of O [B, H, Nq, Dv], then of the LSE [B, H, Nq].
Computes softmax(scale Q K^T + mask) V and the natural-log LSE in float64
with plain Python (one K/V head per query head), and prints the largest
errors and PASS or FAIL. A row that sees no key must print O = 0 and
LSE = -inf.

  fa-opt --fa-lower-to-cpu examples/attention-cpu.mlir | mlir-runner ... |
      check_printed_attention.py examples/attention-cpu.mlir

--perturb-reference moves one reference element by 1e-3 relative (the
check must then FAIL).
"""

import argparse
import ast
import math
import re
import sys

# Relative to max(1, |reference|); printMemref prints 6 significant digits.
TOLERANCE = 2e-5


def parse_constant(source, name):
    match = re.search(r"%" + name + r"\s*=\s*arith\.constant\s+dense<(.*?)>\s*"
                      r":\s*tensor<([0-9x]+)xf32>", source, re.S)
    if not match:
        sys.exit("no dense f32 constant %%%s in the example" % name)
    return ast.literal_eval(match.group(1).replace("\n", " "))


def parse_attention(source):
    scale = re.search(r"\bscale\s*=\s*([-+0-9.eE]+)", source)
    causal = re.search(r"\bcausal\s*=\s*<(\w+)>", source)
    if not scale:
        sys.exit("the example's fa.attention must state its scale")
    return float(scale.group(1)), causal.group(1) if causal else "none"


def parse_printed(text):
    """The flat values of each printMemref in the output, with its sizes."""
    tensors = []
    for block in text.split("Unranked Memref")[1:]:
        sizes = re.search(r"sizes = \[([0-9, ]*)\]", block)
        data = block.split("data =", 1)[1]
        values = [float(v) for v in
                  re.findall(r"-?(?:inf|nan|[0-9.]+(?:e[-+]?[0-9]+)?)", data)]
        tensors.append(([int(s) for s in sizes.group(1).split(",")], values))
    return tensors


def reference(q, k, v, scale, causal):
    out, lse = [], []
    for qb, kb, vb in zip(q, k, v):
        for qh, kh, vh in zip(qb, kb, vb):
            nq, nk = len(qh), len(kh)
            for i in range(nq):
                visible = [j for j in range(nk)
                           if causal == "none"
                           or (causal == "top_left" and j <= i)
                           or (causal == "bottom_right" and j <= i + nk - nq)]
                if not visible:
                    out.extend([0.0] * len(vh[0]))
                    lse.append(-math.inf)
                    continue
                scores = {j: scale * sum(a * b for a, b in zip(qh[i], kh[j]))
                          for j in visible}
                m = max(scores.values())
                total = sum(math.exp(s - m) for s in scores.values())
                for e in range(len(vh[0])):
                    out.append(sum(math.exp(scores[j] - m) / total * vh[j][e]
                                   for j in visible))
                lse.append(m + math.log(total))
    return out, lse


def max_error(got, want):
    if len(got) != len(want):
        return math.inf
    worst = 0.0
    for g, w in zip(got, want):
        if math.isinf(w) and g == w:
            continue
        error = abs(g - w) / max(1.0, abs(w))
        worst = max(worst, error if not math.isnan(error) else math.inf)
    return worst


def main():
    p = argparse.ArgumentParser()
    p.add_argument("example")
    p.add_argument("--perturb-reference", action="store_true")
    args = p.parse_args()
    source = open(args.example).read()
    q, k, v = (parse_constant(source, name) for name in ("q", "k", "v"))
    scale, causal = parse_attention(source)
    want_out, want_lse = reference(q, k, v, scale, causal)
    if args.perturb_reference:
        middle = len(want_out) // 2
        want_out[middle] += 1e-3 * max(1.0, abs(want_out[middle]))
    printed = parse_printed(sys.stdin.read())
    if len(printed) != 2:
        print("expected two printed memrefs (O, LSE), got %d" % len(printed))
        print("FAIL")
        return
    (out_sizes, got_out), (lse_sizes, got_lse) = printed
    shape = [len(q), len(q[0]), len(q[0][0]), len(v[0][0][0])]
    print("O sizes", out_sizes, "LSE sizes", lse_sizes)
    err_out = max_error(got_out, want_out) if out_sizes == shape else math.inf
    err_lse = (max_error(got_lse, want_lse) if lse_sizes == shape[:3]
               else math.inf)
    print("max_rel_err_out %.3g" % err_out)
    print("max_rel_err_lse %.3g" % err_lse)
    print("PASS" if max(err_out, err_lse) <= TOLERANCE else "FAIL")


if __name__ == "__main__":
    main()
