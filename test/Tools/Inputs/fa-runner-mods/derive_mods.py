"""Derives modified-attention kernels that a plain kernel computes exactly.

Until fa-compile's own modified kernels are in a test, this exercises
fa-runner's modified-attention references (CPU and GPU) on a real kernel:
given a plain bottom-right causal kernel PREFIX (.json + .cubin/.ptx), it
writes metadata that describes the same function through score_mod,
mask_mod and captures, next to a copy of the kernel image:

  identity  score_mod s -> s, mask_mod -> true (same causal mask)
  brmask    "causal": "none" and mask_mod kv_idx + SHIFT <= q_idx, which is
            bottom-right causal when SHIFT = Nq - Nk (rows < SHIFT empty)
  zeros     score_mod s + c[h] behind scf.if (h < dim(c, 0)), c an f32
            capture of zeros ([Hq]: --capture 0:Hq:const:0)
  oob       score_mod s + c[h] without the guard (a capture shorter than Hq
            makes the references read out of bounds)
  plusinf   score_mod +inf at kv_idx == 0 (undefined: refused)

usage: derive_mods.py PREFIX OUTDIR --shift SHIFT
"""

import argparse
import json
import os
import shutil

S = ["f32", "index", "index", "index", "index"]
M = ["index", "index", "index", "index"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("outdir")
    ap.add_argument("--shift", type=int, required=True)
    a = ap.parse_args()
    with open(a.prefix + ".json") as f:
        base = json.load(f)
    if base["attention"].get("causal") != "bottom_right":
        raise SystemExit("derive_mods.py: needs a bottom_right causal kernel")
    image = next(a.prefix + ext for ext in (".cubin", ".ptx")
                 if os.path.exists(a.prefix + ext))

    def variant(name, score=None, mask=None, captures=(), causal=None):
        meta = json.loads(json.dumps(base))
        att = meta["attention"]
        if causal:
            att["causal"] = causal
        caps = []
        for i, (elem, shape) in enumerate(captures):
            caps.append({"argument": len(meta["arguments"]),
                         "element_type": elem, "rank": len(shape)})
            meta["arguments"].append({
                "name": "capture%d" % i, "element_type": elem,
                "rank": len(shape), "shape": shape, "writes": False,
                "type": "memref<%sx%s, strided<[?], offset: ?>>" % (
                    "x".join("?" if d < 0 else str(d) for d in shape), elem)})
        att.update({"from_op": True, "captures": caps, "score_mod": score,
                    "mask_mod": mask})
        out = os.path.join(a.outdir, name)
        with open(out + ".json", "w") as f:
            json.dump(meta, f, indent=1)
        shutil.copy(image, out + os.path.splitext(image)[1])

    variant("identity",
            score={"arguments": S, "body": [{"name": "fa.yield", "operands": [0]}]},
            mask={"arguments": M, "body": [
                {"name": "arith.constant", "results": ["i1"], "operands": [], "value": 1},
                {"name": "fa.yield", "operands": [4]}]})
    variant("brmask", causal="none", mask={"arguments": M, "body": [
        {"name": "arith.constant", "results": ["index"], "operands": [], "value": a.shift},
        {"name": "arith.addi", "results": ["index"], "operands": [3, 4]},
        {"name": "arith.cmpi", "results": ["i1"], "operands": [5, 2], "predicate": "sle"},
        {"name": "fa.yield", "operands": [6]}]})
    c = "tensor<?xf32>"
    variant("zeros", captures=[("f32", [-1])], score={"arguments": S + [c], "body": [
        {"name": "arith.constant", "results": ["index"], "operands": [], "value": 0},
        {"name": "tensor.dim", "results": ["index"], "operands": [5, 6]},
        {"name": "arith.cmpi", "results": ["i1"], "operands": [2, 7], "predicate": "slt"},
        {"name": "scf.if", "results": ["f32"], "operands": [8],
         "then": [{"name": "tensor.extract", "results": ["f32"], "operands": [5, 2]},
                  {"name": "scf.yield", "operands": [10]}],
         "else": [{"name": "arith.constant", "results": ["f32"], "operands": [], "value": 0.0},
                  {"name": "scf.yield", "operands": [11]}]},
        {"name": "arith.addf", "results": ["f32"], "operands": [0, 9]},
        {"name": "fa.yield", "operands": [12]}]})
    variant("oob", captures=[("f32", [-1])], score={"arguments": S + [c], "body": [
        {"name": "tensor.extract", "results": ["f32"], "operands": [5, 2]},
        {"name": "arith.addf", "results": ["f32"], "operands": [0, 6]},
        {"name": "fa.yield", "operands": [7]}]})
    variant("plusinf", score={"arguments": S, "body": [
        {"name": "arith.constant", "results": ["index"], "operands": [], "value": 0},
        {"name": "arith.cmpi", "results": ["i1"], "operands": [4, 5], "predicate": "eq"},
        {"name": "arith.constant", "results": ["f32"], "operands": [], "value": "inf"},
        {"name": "arith.select", "results": ["f32"], "operands": [6, 7, 0]},
        {"name": "fa.yield", "operands": [8]}]})


if __name__ == "__main__":
    main()
