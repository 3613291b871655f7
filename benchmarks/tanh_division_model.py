#!/usr/bin/env python3
"""A float32 model of the accurate tanh's division (fa-lower-math-to-nvvm).

The accurate math.tanh is upstream MLIR's rational approximation: x is
clamped to [-7.99881172, 7.99881172], |x| < 4e-4 returns x, otherwise
x p(x^2) / q(x^2). Its division was div.rn.f32; it is now
r = rcp.approx(q), y = p r, y = fma(fma(-q, y, p), r, y).

This script evaluates both in float32 (numpy; the fma as one f64 product
and sum rounded to f32, the reciprocal correctly rounded and then nudged
by one ulp either way to cover rcp.approx's error) on seeded random
inputs, and prints their largest and mean errors in ulps against f64
tanh, and how often the Newton-step quotient differs from the correctly
rounded one. The coefficients are those of MLIR 22
(test/Conversion/NVGPUToNVVM/fa-lower-math-to-nvvm.mlir pins the
denominator's).

    /usr/bin/python3 benchmarks/tanh_division_model.py [--samples 20000000]
"""

import argparse

import numpy as np

F = np.float32
NUMERATOR = [F(-2.76076837e-16), F(2.00018794e-13), F(-8.60467184e-11),
             F(5.12229725e-8), F(1.48572235e-5), F(6.37261954e-4),
             F(0.00489352457)]
DENOMINATOR = [F(1.19825836e-6), F(1.18534706e-4), F(0.00226843474),
               F(0.00489352504)]
CLAMP = F(7.99881172)


def fma(a, b, c):
    return (a.astype(np.float64) * b + c).astype(np.float32)


def horner(x2, coefficients):
    result = np.full_like(x2, coefficients[0])
    for c in coefficients[1:]:
        result = fma(x2, result, np.full_like(x2, c))
    return result


def tanh(x, division, nudge=0):
    c = np.clip(x, -CLAMP, CLAMP)
    x2 = c * c
    p = c * horner(x2, NUMERATOR)
    q = horner(x2, DENOMINATOR)
    if division == "div.rn":
        y = p / q
    else:
        r = (np.float64(1) / q).astype(np.float32)
        if nudge:
            r = np.nextafter(r, np.float32(np.inf * nudge))
        y = p * r
        y = fma(fma(-q, y, p), r, y)
    return np.where(np.abs(x) < F(4e-4), c, y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000_000,
                        help="random |x| in [1e-4, 10], each with both "
                             "signs (default 20000000)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    bits = rng.integers(0x38D1B717, 0x41200000, size=args.samples,
                        dtype=np.int64).astype(np.uint32)
    x = bits.view(np.float32)
    x = np.concatenate([x, -x])
    reference = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(reference).astype(np.float32)).astype(np.float64)
    exact = tanh(x, "div.rn")
    for division, nudge in [("div.rn", 0), ("rcp+newton", 0),
                            ("rcp+newton", 1), ("rcp+newton", -1)]:
        y = tanh(x, division, nudge)
        error = np.abs(y.astype(np.float64) - reference) / ulp
        print(f"{division:10s} rcp nudge {nudge:+d}: max {error.max():.2f} "
              f"ulp, mean {error.mean():.3f} ulp, differs from div.rn on "
              f"{np.count_nonzero(y != exact)} of {x.size}")


if __name__ == "__main__":
    main()
