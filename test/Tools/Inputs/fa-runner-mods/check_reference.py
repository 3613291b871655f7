"""Checks fa-runner --reference-only output against numpy, independently.

fa-runner --reference-only --print-rows ... --dump-inputs DIR prints, per
row, the fp64 reference ("row b= h= i= kept= lse= out=...") and the
low-precision baseline ("base ... out=..."), and writes the inputs it used
to DIR (q/k/v.bin: raw 16-bit floats in [B, H, N, D] order; capture<I>.bin:
raw elements, row-major). This script recomputes each printed row in fp64
with numpy, with the modification written out by hand here (not read from
the kernel's JSON), and checks fa-runner's numbers. It prints one line,
"checked N rows (E empty): OK", or the mismatches and exits 1.

usage: check_reference.py MOD DIR OUTPUT --dtype bf16|f16
           --sizes B,Hq,Hkv,Nq,Nk,D --scale S --causal none|top_left|bottom_right
           [--maxlen N]
MOD: none, softcap, alibi, window, document, guarded, empties.
"""

import argparse
import math
import os
import sys

import numpy as np


def half(raw, dtype):
    bits = np.frombuffer(raw, dtype=np.uint16)
    if dtype == "bf16":
        return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return bits.view(np.float16).astype(np.float64)


def load(path, dtype, shape):
    with open(path, "rb") as f:
        raw = f.read()
    if dtype in ("bf16", "f16"):
        return half(raw, dtype).reshape(shape)
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mod")
    ap.add_argument("dir")
    ap.add_argument("output")
    ap.add_argument("--dtype", required=True)
    ap.add_argument("--sizes", required=True)
    ap.add_argument("--scale", type=float, required=True)
    ap.add_argument("--causal", default="none")
    ap.add_argument("--maxlen", type=int, default=0)
    a = ap.parse_args()
    B, Hq, Hkv, Nq, Nk, D = (int(x) for x in a.sizes.split(","))
    q = load(os.path.join(a.dir, "q.bin"), a.dtype, (B, Hq, Nq, D))
    k = load(os.path.join(a.dir, "k.bin"), a.dtype, (B, Hkv, Nk, D))
    v = load(os.path.join(a.dir, "v.bin"), a.dtype, (B, Hkv, Nk, D))
    cap = os.path.join(a.dir, "capture0.bin")
    errors = []

    # The modifications, written out independently of the kernels' JSON.
    j = np.arange(Nk)
    if a.mod == "alibi":
        slope = load(cap, np.float32, (Hq,)).astype(np.float64)
        want = np.float32(2.0 ** (-8.0 * np.arange(1, Hq + 1) / Hq))
        if not np.array_equal(slope, want.astype(np.float64)):
            errors.append("alibi slopes %s, expected %s" % (slope, want))
    elif a.mod == "document":
        doc = load(cap, np.int32, (B, Nk))
        for b in range(B):
            ids = doc[b]
            steps = np.diff(ids)
            runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, ids, -1])))
            if ids[0] != 0 or not np.all((steps == 0) | (steps == 1)) or \
                    runs.max() > a.maxlen:
                errors.append("segments of batch %d: %s" % (b, ids))
    elif a.mod == "guarded":
        bias = load(cap, "bf16", (-1,))
    elif a.mod == "empties":
        drop = load(cap, np.int8, (Nq,))

    def modify(s, b, h, i):
        """Modified scores and the kept mask of row (b, h, i)."""
        keep = np.ones(Nk, dtype=bool)
        if a.causal == "top_left":
            keep &= j <= i
        elif a.causal == "bottom_right":
            keep &= j <= i + Nk - Nq
        if a.mod == "softcap":
            s = 30.0 * np.tanh(s / 30.0)
        elif a.mod == "alibi":
            s = s + slope[h] * (j - i)
        elif a.mod == "window":
            keep &= i - j < 8
        elif a.mod == "document":
            keep &= doc[b, i] == doc[b]
        elif a.mod == "guarded":
            s = s + np.where(j < len(bias), bias[np.minimum(j, len(bias) - 1)], 0.0)
        elif a.mod == "empties":
            keep &= drop[i] == 0
            minus = (i % 3 == 1) | ((i % 3 == 2) & (j % 2 == 1))
            s = np.where(minus, -np.inf, s)
        elif a.mod != "none":
            sys.exit("unknown modification " + a.mod)
        return s, keep

    rows = empty = 0
    with open(a.output) as f:
        lines = f.read().splitlines()
    for line in lines:
        fields = line.split()
        if not fields or fields[0] not in ("row", "base"):
            continue
        kv = dict(x.split("=", 1) for x in fields[1:])
        b, h, i = int(kv["b"]), int(kv["h"]), int(kv["i"])
        got = np.array([float(x) for x in kv["out"].split(",")])
        kvh = h // (Hq // Hkv)
        s = a.scale * (k[b, kvh] @ q[b, h, i])
        s, keep = modify(s, b, h, i)
        where = "%s b=%d h=%d i=%d" % (fields[0], b, h, i)
        finite = keep & (s > -np.inf)
        if fields[0] == "base":
            # The baseline rounds; it must be near the exact row and zero
            # where the row is empty.
            ref = np.zeros(D)
            if finite.any():
                p = np.exp(s[finite] - s[finite].max())
                ref = (p @ v[b, kvh][finite]) / p.sum()
                if np.abs(got - ref[:len(got)]).max() > 0.05:
                    errors.append("%s: baseline far from fp64" % where)
            elif np.any(got != 0):
                errors.append("%s: baseline of an empty row is not 0" % where)
            continue
        rows += 1
        if int(kv["kept"]) != int(keep.sum()):
            errors.append("%s: kept=%s, expected %d" % (where, kv["kept"],
                                                       keep.sum()))
        if not finite.any():
            empty += 1
            if float(kv["lse"]) != -math.inf or np.any(got != 0):
                errors.append("%s: an empty row must be 0 with LSE -inf" %
                              where)
            continue
        m = s[finite].max()
        p = np.exp(s[finite] - m)
        ref = (p @ v[b, kvh][finite]) / p.sum()
        lse = m + math.log(p.sum())
        tol = 1e-12 + 1e-10 * np.abs(ref[:len(got)])
        if np.any(np.abs(got - ref[:len(got)]) > tol):
            errors.append("%s: out differs by %.3e" %
                          (where, np.abs(got - ref[:len(got)]).max()))
        if abs(float(kv["lse"]) - lse) > 1e-12 + 1e-10 * abs(lse):
            errors.append("%s: lse %s, expected %.17g" % (where, kv["lse"], lse))
    if errors or rows == 0:
        print("\n".join(errors[:20]) or "no rows printed")
        sys.exit(1)
    print("checked %d rows (%d empty): OK" % (rows, empty))


if __name__ == "__main__":
    main()
