#!/usr/bin/env python3
"""Runs `ptxas -v` on PTX files; fails on any spill or stack frame, and on
wgmma.mma_async instructions that ptxas serializes (an accumulator touched
while its MMA is in flight, which costs the overlap the kernel was built
for).

usage: check_ptxas.py --ptxas PTXAS --arch sm_90a [--spill-budget B] FILE.ptx...
Prints one line per kernel and a summary line. With --spill-budget, a
kernel whose stack frame, spill stores and spill loads are each at most B
bytes passes (a measured trade: more registers' worth of tile than fit).
"""
import argparse
import re
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ptxas", required=True)
    ap.add_argument("--arch", default="sm_90a")
    ap.add_argument("--spill-budget", type=int, default=0,
                    help="bytes of stack, spill stores and spill loads a "
                         "kernel may have")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    spills = stacks = serialized = budgeted = 0
    for path in args.files:
        out = subprocess.run([args.ptxas, "-arch=" + args.arch, "-v", path,
                              "-o", "/dev/null"], capture_output=True,
                             text=True)
        if out.returncode != 0:
            sys.exit(f"ptxas failed on {path}:\n{out.stderr}")
        regs = re.search(r"Used (\d+) registers", out.stderr)
        frame = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores,"
                          r" (\d+) bytes spill loads", out.stderr)
        if not regs or not frame:
            sys.exit(f"unexpected ptxas output for {path}:\n{out.stderr}")
        stack, store, load = map(int, frame.groups())
        if 0 < max(stack, store, load) <= args.spill_budget:
            budgeted += 1
        else:
            spills += store > 0 or load > 0
            stacks += stack > 0
        serial = "wgmma.mma_async instructions are serialized" in out.stderr
        serialized += serial
        print(f"{path}: {regs.group(1)} registers, {stack} B stack, "
              f"{store} B spill stores, {load} B spill loads"
              + (", wgmma serialized" if serial else ""))
    print(f"{len(args.files)} kernels, {spills} spills, {stacks} stack frames, "
          f"{serialized} serialized"
          + (f", {budgeted} within {args.spill_budget} bytes"
             if args.spill_budget else ""))
    sys.exit(1 if spills or stacks or serialized else 0)


if __name__ == "__main__":
    main()
