#!/usr/bin/env python3
"""Compile a family of fa.attention kernels with fa-compile.

Writes, for every (dtype, head dim, causal alignment, LSE) combination, an
`.mlir` file with dynamic B/H/N and the `.ptx`/`.cubin`/`.json` triple that
fa-runner loads. Used to prepare GPU runs on a machine without LLVM/MLIR:

    python3 benchmarks/make_kernels.py --out build/gpu-kernels
"""
import argparse
import itertools
import os
import subprocess
import sys

TEMPLATE = """func.func @attention(%q: tensor<?x?x?x{d}x{t}>, %k: tensor<?x?x?x{d}x{t}>,
                     %v: tensor<?x?x?x{d}x{t}>, %o: tensor<?x?x?x{d}x{t}>{lse_arg})
    -> ({results}) {{
  {names} = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x{d}x{t}>, tensor<?x?x?x{d}x{t}>,
                       tensor<?x?x?x{d}x{t}>)
      outs({outs} : {out_types}){causal}
      -> {results}
  return {names} : {results}
}}
"""


def kernel_source(dtype, d, causal, lse):
    out_t = f"tensor<?x?x?x{d}x{dtype}>"
    lse_t = "tensor<?x?x?xf32>"
    return TEMPLATE.format(
        d=d, t=dtype,
        lse_arg=f", %lse: {lse_t}" if lse else "",
        results=f"{out_t}, {lse_t}" if lse else out_t,
        names="%out, %l" if lse else "%out",
        outs="%o, %lse" if lse else "%o",
        out_types=f"{out_t}, {lse_t}" if lse else out_t,
        causal=f"\n      causal = <{causal}>" if causal != "none" else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--fa-compile", default="build/bin/fa-compile")
    parser.add_argument("--dtypes", default="bf16,f16")
    parser.add_argument("--head-dims", default="64,128")
    parser.add_argument("--causal", default="none,top_left,bottom_right")
    parser.add_argument("--lse", default="0,1")
    parser.add_argument("--extra", default="",
                        help="extra fa-compile flags, e.g. '--block-n=128'")
    parser.add_argument("--suffix", default="")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = []
    for dtype, d, causal, lse in itertools.product(
            args.dtypes.split(","), args.head_dims.split(","),
            args.causal.split(","), args.lse.split(",")):
        lse = lse == "1"
        name = f"{dtype}_d{d}_{causal}{'_lse' if lse else ''}{args.suffix}"
        src = os.path.join(args.out, name + ".mlir")
        with open(src, "w") as f:
            f.write(kernel_source(dtype, int(d), causal, lse))
        cmd = [args.fa_compile, src, "-o", os.path.join(args.out, name)]
        cmd += args.extra.split()
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            sys.exit(f"make_kernels: fa-compile failed for {name}")
        names.append(name)
    print(f"make_kernels: {len(names)} kernels in {args.out}")


if __name__ == "__main__":
    main()
