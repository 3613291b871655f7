"""Checks every op of fa-runner's region interpreter against Python.

For each case this script writes a kernel .json whose score_mod or mask_mod
computes one op on constants, runs `fa-runner PREFIX --eval ...` (CPU only)
and compares the printed value with the value computed here, from MLIR's
definition of the op (arith and math dialect docs), independently of
fa-runner's code. Integer results are checked inside the region (cmpi eq
against the expected constant: the mask_mod must print true); float results
are yielded by a score_mod and compared exactly (bit-exact, -0 and NaN
included), or within 4 ulp of fp64 for the transcendental functions.

usage: check_ops.py FA_RUNNER WORKDIR
Prints "N cases: OK", or each failing case, and exits 1.
"""

import json
import math
import os
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

RUNNER, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
WIDTH = {"i1": 1, "i8": 8, "i16": 16, "i32": 32, "i64": 64, "index": 64}
SCORE_ARGS = ["f32", "index", "index", "index", "index"]
MASK_ARGS = ["index", "index", "index", "index"]
failures = []
pending = []  # (prefix, --eval spec, flags, verify(output) -> error or None)
count = 0


def wrap(x, w):
    return x & ((1 << w) - 1)


def sx(x, w):
    x = wrap(x, w)
    return x - (1 << w) if x >> (w - 1) else x


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def round_to(x, mantissa, min_exp, max_finite):
    """x rounded to nearest even with `mantissa` bits, exactly (Fraction)."""
    if x != x or x in (0.0, math.inf, -math.inf):
        return x
    a = Fraction(abs(x))
    e = max(math.frexp(abs(x))[1] - 1, min_exp)
    quantum = Fraction(2) ** (e - mantissa)
    q = round(a / quantum) * quantum  # round() of a Fraction: half to even
    r = math.inf if q > max_finite else float(q)
    return -r if x < 0 else r


def to_type(x, ty):
    if ty == "f16":
        return round_to(x, 10, -14, 65504)
    if ty == "bf16":
        return round_to(x, 7, -126, float.fromhex("0x1.fep127"))
    if ty == "f32":
        return round_to(x, 23, -126, float.fromhex("0x1.fffffep127"))
    return x


def jvalue(x):
    if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    return x


def kernel(name, score=None, mask=None, captures=()):
    args = [{"name": n, "type": "memref<?x?x?x64xbf16>", "element_type": "bf16",
             "rank": 4, "shape": [-1, -1, -1, 64], "writes": n == "o"}
            for n in "qkvo"]
    caps = []
    for i, (elem, shape) in enumerate(captures):
        caps.append({"argument": 4 + i, "element_type": elem, "rank": len(shape)})
        args.append({"name": "capture%d" % i, "type": "memref", "element_type": elem,
                     "rank": len(shape), "shape": shape, "writes": False})
    meta = {"arguments": args, "attention": {
        "dtype": "bf16", "head_dim": 64, "scale": 0.125, "causal": "none",
        "lse": False, "from_op": True, "captures": caps,
        "score_mod": score, "mask_mod": mask}}
    prefix = os.path.join(WORK, name)
    with open(prefix + ".json", "w") as f:
        json.dump(meta, f)
    return prefix


class Region:
    """Builds a region body with pre-order value numbers."""

    def __init__(self, args):
        self.args, self.body, self.n = args, [], len(args)

    def op(self, name, results, operands, **extra):
        d = {"name": name, "results": results, "operands": operands}
        d.update(extra)
        self.body.append(d)
        first = self.n
        self.n += len(results)
        return first

    def const(self, ty, value):
        return self.op("arith.constant", [ty], [], value=jvalue(value))

    def json(self, result):
        self.body.append({"name": "fa.yield", "operands": [result]})
        return {"arguments": self.args, "body": self.body}


def run(prefix, spec, flags=()):
    p = subprocess.run([RUNNER, prefix, "--eval", spec] + list(flags),
                       capture_output=True, text=True)
    if p.returncode != 0:
        return "exit %d: %s" % (p.returncode, p.stderr.strip())
    return p.stdout.strip().split(" = ")[-1]


def check_int(label, build, expected, ty):
    """build(region) -> value number of an integer of type ty."""
    global count
    count += 1
    r = Region(list(MASK_ARGS))
    v = build(r)
    e = r.const(ty, sx(expected, WIDTH[ty]) if ty != "i1" else wrap(expected, 1))
    c = r.op("arith.cmpi", ["i1"], [v, e], predicate="eq")
    prefix = kernel("case%d" % count, mask=r.json(c))
    message = "%s: expected %d (%s), got " % (label, sx(expected, WIDTH[ty]), ty)
    pending.append((prefix, "mask_mod:0,0,0,0", (),
                    lambda got: None if got == "true" else message + got))


def check_bool(label, build, expected):
    global count
    count += 1
    r = Region(list(MASK_ARGS))
    prefix = kernel("case%d" % count, mask=r.json(build(r)))
    want = "true" if expected else "false"
    pending.append((prefix, "mask_mod:0,0,0,0", (),
                    lambda got: None if got == want else
                    "%s: expected %s, got %s" % (label, want, got)))


def same(a, b, ulps):
    if a != a or b != b:
        return a != a and b != b
    if a == b:
        return math.copysign(1, a) == math.copysign(1, b)
    return ulps > 0 and abs(a - b) <= ulps * math.ulp(b)


def check_float(label, build, expected, ulps=0, captures=(), flags=()):
    """build(region) -> value number of an f32 (held as fp64)."""
    global count
    count += 1
    r = Region(SCORE_ARGS + [c[2] for c in captures])
    prefix = kernel("case%d" % count, score=r.json(build(r)),
                    captures=[(c[0], c[1]) for c in captures])

    def verify(got):
        try:
            value = float(got)
        except ValueError:
            return "%s: %s" % (label, got)
        if not same(value, expected, ulps):
            return "%s: expected %r, got %r" % (label, expected, value)
        return None
    pending.append((prefix, "score_mod:0,0,0,0,0", tuple(flags), verify))


# --- integer arithmetic -------------------------------------------------------

def divs(a, b, mode):
    if b == -1:
        return -a
    if mode == "floor":
        return a // b
    if mode == "ceil":
        return -((-a) // b)
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


INT_OPS = {
    "addi": lambda a, b, w: a + b,
    "subi": lambda a, b, w: a - b,
    "muli": lambda a, b, w: a * b,
    "divsi": lambda a, b, w: divs(sx(a, w), sx(b, w), "trunc"),
    "ceildivsi": lambda a, b, w: divs(sx(a, w), sx(b, w), "ceil"),
    "floordivsi": lambda a, b, w: divs(sx(a, w), sx(b, w), "floor"),
    "divui": lambda a, b, w: wrap(a, w) // wrap(b, w),
    "ceildivui": lambda a, b, w: -(-wrap(a, w) // wrap(b, w)),
    "remsi": lambda a, b, w: 0 if sx(b, w) == -1 else
    sx(a, w) - sx(b, w) * divs(sx(a, w), sx(b, w), "trunc"),
    "remui": lambda a, b, w: wrap(a, w) % wrap(b, w),
    "minsi": lambda a, b, w: min(sx(a, w), sx(b, w)),
    "maxsi": lambda a, b, w: max(sx(a, w), sx(b, w)),
    "minui": lambda a, b, w: min(wrap(a, w), wrap(b, w)),
    "maxui": lambda a, b, w: max(wrap(a, w), wrap(b, w)),
    "andi": lambda a, b, w: a & b,
    "ori": lambda a, b, w: a | b,
    "xori": lambda a, b, w: a ^ b,
    # Shifts by >= the width are poison in MLIR; fa-runner documents PTX's
    # values (0, or the sign for shrsi).
    "shli": lambda a, b, w: 0 if wrap(b, w) >= w else wrap(a, w) << wrap(b, w),
    "shrui": lambda a, b, w: 0 if wrap(b, w) >= w else wrap(a, w) >> wrap(b, w),
    "shrsi": lambda a, b, w: sx(a, w) >> min(wrap(b, w), w - 1),
}
PAIRS = [(7, 2), (-7, 2), (7, -2), (-7, -2), (-8, 3), (0, 5), (100, 7),
         (-1, 1), (5, 300)]
for ty in ["i8", "i32", "index"]:
    w = WIDTH[ty]
    lo = -(1 << (w - 1))
    pairs = PAIRS + [(lo, -1), (lo, 1), ((1 << (w - 1)) - 1, 2), (3, w - 1),
                     (-3, w), (1, w + 1)]
    for op, f in INT_OPS.items():
        for a, b in pairs:
            a, b = sx(a, w), sx(b, w)
            if "div" in op or "rem" in op:
                if wrap(b, w) == 0:
                    continue
            check_int("arith.%s %s %d, %d" % (op, ty, a, b),
                      lambda r, a=a, b=b, op=op, ty=ty: r.op(
                          "arith." + op, [ty], [r.const(ty, a), r.const(ty, b)]),
                      wrap(f(a, b, w), w), ty)
    for a in [5, -5, 0, lo]:
        a = sx(a, w)
        check_int("math.absi %s %d" % (ty, a),
                  lambda r, a=a, ty=ty: r.op("math.absi", [ty], [r.const(ty, a)]),
                  wrap(abs(a), w), ty)

PREDICATES_I = {
    "eq": lambda a, b, w: a == b, "ne": lambda a, b, w: a != b,
    "slt": lambda a, b, w: sx(a, w) < sx(b, w), "sle": lambda a, b, w: sx(a, w) <= sx(b, w),
    "sgt": lambda a, b, w: sx(a, w) > sx(b, w), "sge": lambda a, b, w: sx(a, w) >= sx(b, w),
    "ult": lambda a, b, w: wrap(a, w) < wrap(b, w), "ule": lambda a, b, w: wrap(a, w) <= wrap(b, w),
    "ugt": lambda a, b, w: wrap(a, w) > wrap(b, w), "uge": lambda a, b, w: wrap(a, w) >= wrap(b, w),
}
for ty in ["i8", "index"]:
    for pred, f in PREDICATES_I.items():
        for a, b in [(-1, 1), (3, 3), (1, -1)]:
            check_bool("arith.cmpi %s %s %d, %d" % (pred, ty, a, b),
                       lambda r, a=a, b=b, pred=pred, ty=ty: r.op(
                           "arith.cmpi", ["i1"], [r.const(ty, a), r.const(ty, b)],
                           predicate=pred),
                       f(wrap(a, WIDTH[ty]), wrap(b, WIDTH[ty]), WIDTH[ty]))

# --- integer casts and select ---------------------------------------------------

CASTS = [  # (op, from, to, value, expected (any representation))
    ("index_cast", "index", "i8", 300, 44), ("index_cast", "i8", "index", -5, -5),
    ("index_cast", "i1", "index", 1, -1), ("index_cast", "i32", "index", -7, -7),
    ("index_castui", "i8", "index", -56, 200), ("index_castui", "index", "i16", -1, 0xffff),
    ("index_castui", "i1", "index", 1, 1),
    ("extsi", "i8", "i32", -5, -5), ("extsi", "i1", "i64", 1, -1),
    ("extui", "i8", "i32", -5, 251), ("extui", "i1", "i32", 1, 1),
    ("trunci", "i32", "i8", 300, 44), ("trunci", "i64", "i1", 3, 1),
    ("trunci", "i64", "i16", -70000, wrap(-70000, 16)),
]
for op, src, dst, a, e in CASTS:
    check_int("arith.%s %s %d to %s" % (op, src, a, dst),
              lambda r, op=op, src=src, dst=dst, a=a: r.op(
                  "arith." + op, [dst], [r.const(src, a)]),
              wrap(e, WIDTH[dst]), dst)
FPTOI = [("fptosi", "i32", -2.7, -2), ("fptosi", "i32", 1e10, 2**31 - 1),
         ("fptosi", "i32", -1e10, -2**31), ("fptosi", "i32", math.nan, 0),
         ("fptosi", "i8", 300.5, 127), ("fptosi", "i8", -300.0, -128),
         ("fptoui", "i8", 300.5, 255), ("fptoui", "i32", -3.0, 0),
         ("fptoui", "i32", 7.9, 7), ("fptosi", "i64", -0.5, 0)]
for op, dst, x, e in FPTOI:
    check_int("arith.%s f32 %r to %s" % (op, x, dst),
              lambda r, op=op, dst=dst, x=x: r.op(
                  "arith." + op, [dst], [r.const("f32", x)]),
              wrap(e, WIDTH[dst]), dst)
for cond, e in [(1, 11), (0, 22)]:
    check_int("arith.select %d" % cond,
              lambda r, cond=cond: r.op("arith.select", ["i32"], [
                  r.const("i1", cond), r.const("i32", 11), r.const("i32", 22)]),
              e, "i32")

# --- floats -------------------------------------------------------------------------

def fconst(r, x, ty="f32"):
    return r.const(ty, x)


def unary(name, x, f, ulps=0):
    xr = f32(x) if not math.isnan(x) else x
    check_float("math.%s %r" % (name, x),
                lambda r: r.op(name, ["f32"], [fconst(r, x)]), f(xr), ulps)


def binary(name, x, y, f, ulps=0):
    check_float("%s %r, %r" % (name, x, y),
                lambda r: r.op(name, ["f32"], [fconst(r, x), fconst(r, y)]),
                f(f32(x), f32(y)), ulps)


inf, nan = math.inf, math.nan
for x, y in [(1.5, -2.25), (0.1, 0.2), (1e30, 1e30), (3.0, 0.0), (-0.0, 0.0)]:
    binary("arith.addf", x, y, lambda a, b: a + b)
    binary("arith.subf", x, y, lambda a, b: a - b)
    binary("arith.mulf", x, y, lambda a, b: a * b)  # fp64: no f32 overflow
binary("arith.divf", 1.0, 3.0, lambda a, b: a / b)
binary("arith.divf", 1.0, 0.0, lambda a, b: inf)
binary("arith.divf", -1.0, 0.0, lambda a, b: -inf)
binary("arith.divf", 0.0, 0.0, lambda a, b: nan)
for x, y in [(5.5, 2.0), (-5.5, 2.0), (5.5, -2.0), (1.0, 0.0)]:
    binary("arith.remf", x, y, lambda a, b: math.fmod(a, b) if b else nan)


def minmax(a, b, is_max, propagate):
    if a != a or b != b:
        return nan if propagate else (b if a != a else a)
    if a == b == 0:
        neg_a = math.copysign(1, a) < 0
        return (b if neg_a else a) if is_max else (a if neg_a else b)
    return max(a, b) if is_max else min(a, b)


for x, y in [(nan, 1.0), (1.0, nan), (-0.0, 0.0), (0.0, -0.0), (1.0, 2.0),
             (-inf, 3.0)]:
    for op, is_max, prop in [("maximumf", 1, 1), ("minimumf", 0, 1),
                             ("maxnumf", 1, 0), ("minnumf", 0, 0)]:
        binary("arith." + op, x, y,
               lambda a, b, m=is_max, p=prop: minmax(a, b, m, p))
for x, y in [(3.0, -0.0), (-2.0, 5.0), (0.0, -1.0)]:
    binary("math.copysign", x, y, math.copysign)
binary("math.powf", 2.0, 0.5, math.pow, 1)
binary("math.powf", -8.0, 3.0, math.pow)
binary("math.atan2", 1.0, -2.0, math.atan2, 4)
binary("math.atan2", -0.0, -1.0, math.atan2)

for x in [2.5, -2.5, 0.5, -0.0, 3.7, -3.7]:
    unary("arith.negf", x, lambda a: -a)
    unary("math.absf", x, abs)
    unary("math.ceil", x, lambda a: float(math.ceil(a)) if a else a)
    unary("math.floor", x, lambda a: float(math.floor(a)) if a else a)
    unary("math.trunc", x, lambda a: math.copysign(float(math.trunc(a)), a))
    unary("math.round", x, lambda a: math.copysign(math.floor(abs(a) + 0.5), a))
    unary("math.roundeven", x, lambda a: math.copysign(float(round(a)), a))
TRANSCENDENTAL = [
    ("math.sqrt", math.sqrt, [2.0, 0.25]), ("math.rsqrt", lambda a: 1 / math.sqrt(a), [4.0, 2.0]),
    ("math.exp", math.exp, [1.0, -3.5]), ("math.exp2", lambda a: 2.0 ** a, [0.5, -3.0]),
    ("math.expm1", math.expm1, [1e-6, 2.0]), ("math.log", math.log, [2.0, 0.5]),
    ("math.log2", math.log2, [3.0, 1024.0]), ("math.log10", math.log10, [1000.0, 2.0]),
    ("math.log1p", math.log1p, [1e-7, 3.0]), ("math.tanh", math.tanh, [0.5, -20.0]),
    ("math.sinh", math.sinh, [1.5]), ("math.cosh", math.cosh, [1.5]),
    ("math.sin", math.sin, [1.0, 100.0]), ("math.cos", math.cos, [1.0, 100.0]),
    ("math.tan", math.tan, [1.0]), ("math.atan", math.atan, [0.5, -1e9]),
    ("math.erf", math.erf, [0.5, -2.0]),
]
for name, f, xs in TRANSCENDENTAL:
    for x in xs:
        unary(name, x, f, 4)
unary("math.sqrt", -1.0, lambda a: nan)
unary("math.log", 0.0, lambda a: -inf)

# fma is fused: with f64 operands 1 +- 2^-30 the unfused product rounds to 1.
a64, b64 = 1 + 2.0 ** -30, 1 - 2.0 ** -30
check_float("math.fma f64 (fused)", lambda r: r.op("arith.truncf", ["f32"], [r.op(
    "math.fma", ["f64"], [fconst(r, a64, "f64"), fconst(r, b64, "f64"),
                          fconst(r, -1.0, "f64")])]), -(2.0 ** -60))

PREDICATES_F = ["false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord",
                "ueq", "ugt", "uge", "ult", "ule", "une", "uno", "true"]


def cmpf(pred, a, b):
    unordered = a != a or b != b
    base = pred[1:] if pred not in ("false", "true", "ord", "uno") else pred
    rel = {"eq": a == b, "gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b,
           "ne": a != b}
    if pred in ("false", "true"):
        return pred == "true"
    if pred == "ord":
        return not unordered
    if pred == "uno":
        return unordered
    if pred[0] == "o":
        return not unordered and rel[base]
    return unordered or rel[base]


for pred in PREDICATES_F:
    for x, y in [(1.0, 2.0), (2.0, 2.0), (nan, 1.0), (-0.0, 0.0)]:
        check_bool("arith.cmpf %s %r, %r" % (pred, x, y),
                   lambda r, p=pred, x=x, y=y: r.op(
                       "arith.cmpf", ["i1"], [fconst(r, x), fconst(r, y)],
                       predicate=p),
                   cmpf(pred, x, y))

# --- float conversions and constants -----------------------------------------------

for x, ty in [(0.1, "f32"), (0.1, "f16"), (0.1, "bf16"), (1 + 2.0 ** -11, "f16"),
              (70000.0, "f16"), (3.0 * 2.0 ** -26, "f16")]:
    check_float("arith.constant %r : %s" % (x, ty),
                lambda r, x=x, ty=ty: fconst(r, x, ty) if ty == "f32" else r.op(
                    "arith.extf", ["f32"], [fconst(r, x, ty)]),
                to_type(x, ty))
TRUNCF = [  # (from, to, value): ties to even, overflow to inf, subnormals
    ("f32", "bf16", 1 + 2.0 ** -8), ("f32", "bf16", 1 + 3 * 2.0 ** -8),
    ("f32", "bf16", -(1 + 2.0 ** -8 + 2.0 ** -20)), ("f32", "f16", 1 + 2.0 ** -11),
    ("f32", "f16", 65519.0), ("f32", "f16", 65520.0), ("f32", "f16", 2.0 ** -25),
    ("f32", "f16", 3 * 2.0 ** -26), ("f64", "f32", 0.1), ("f64", "bf16", 1 + 2.0 ** -8 + 2.0 ** -40),
    ("f64", "f16", 1e-30), ("f32", "bf16", 3.4e38),
]
for src, dst, x in TRUNCF:
    def build(r, src=src, dst=dst, x=x):
        t = r.op("arith.truncf", [dst], [fconst(r, x, src)])
        return t if dst == "f32" else r.op("arith.extf", ["f32"], [t])
    check_float("arith.truncf %s %r to %s" % (src, x, dst), build,
                to_type(to_type(x, src), dst))
ITOF = [("sitofp", "i32", -7, -7.0), ("sitofp", "i64", 2**53 + 1, 2.0 ** 53),
        ("sitofp", "i64", 2**24 + 1, 2.0 ** 24), ("uitofp", "i8", -1, 255.0),
        ("sitofp", "i1", 1, -1.0), ("uitofp", "i1", 1, 1.0),
        ("uitofp", "i64", -1, 2.0 ** 64)]
for op, src, a, e in ITOF:
    check_float("arith.%s %s %d" % (op, src, a),
                lambda r, op=op, src=src, a=a: r.op("arith." + op, ["f32"],
                                                   [r.const(src, a)]), e)

# --- scf.if --------------------------------------------------------------------------
# score_mod(s, b, h, i, j): nested ifs with results, an if without results
# (its then-block defines values nobody outside sees), outer values used
# inside branches.


def if_chain(r):
    # %5 = 2 > 1; %6 = scf.if %5 -> f32 { %7 = 10.0; yield %7 } else { %8 = 20.0; yield %8 }
    # %9 = scf.if %false { %10 = 99.0 } (no results, no else)
    # %11 = scf.if %5 -> f32 { %12 = scf.if %false -> f32 {%13 = 1.0} else {%14 = 2.0}
    #                          %15 = addf %12, %6; yield %15 } else { yield %6 }
    # yield addf(%11, %0)
    c = r.op("arith.cmpi", ["i1"], [r.const("index", 2), r.const("index", 1)],
             predicate="sgt")
    n = r.n
    r.body.append({"name": "scf.if", "results": ["f32"], "operands": [c],
                   "then": [{"name": "arith.constant", "results": ["f32"], "operands": [], "value": 10.0},
                            {"name": "scf.yield", "operands": [n + 1]}],
                   "else": [{"name": "arith.constant", "results": ["f32"], "operands": [], "value": 20.0},
                            {"name": "scf.yield", "operands": [n + 2]}]})
    first = n
    r.n += 3
    f = r.const("i1", 0)
    r.body.append({"name": "scf.if", "results": [], "operands": [f],
                   "then": [{"name": "arith.constant", "results": ["f32"], "operands": [], "value": 99.0},
                            {"name": "scf.yield", "operands": []}]})
    r.n += 1
    n = r.n
    r.body.append({"name": "scf.if", "results": ["f32"], "operands": [c],
                   "then": [{"name": "scf.if", "results": ["f32"], "operands": [f],
                             "then": [{"name": "arith.constant", "results": ["f32"], "operands": [], "value": 1.0},
                                      {"name": "scf.yield", "operands": [n + 2]}],
                             "else": [{"name": "arith.constant", "results": ["f32"], "operands": [], "value": 2.0},
                                      {"name": "scf.yield", "operands": [n + 3]}]},
                            {"name": "arith.addf", "results": ["f32"], "operands": [n + 1, first]},
                            {"name": "scf.yield", "operands": [n + 4]}],
                   "else": [{"name": "scf.yield", "operands": [first]}]})
    r.n += 5
    return r.op("arith.addf", ["f32"], [n, 0])


check_float("scf.if chain", if_chain, 12.0)

# --- captures: tensor.extract of each element type, tensor.dim ---------------------
CAPTURE_CASES = [  # (elem, fill, index, expected)
    ("i1", "const:1", 4, 1.0), ("i8", "arange", 5, 5.0), ("i16", "const:-300", 0, -300.0),
    ("i32", "arange", 4, 4.0), ("i64", "const:-9", 1, -9.0),
    ("f16", "const:0.1", 2, to_type(0.1, "f16")), ("bf16", "const:0.1", 2, to_type(0.1, "bf16")),
    ("f32", "const:0.1", 3, to_type(0.1, "f32")),
    ("f64", "const:0.1", 3, to_type(0.1, "f32")),  # then truncf to f32
    ("f32", "alibi", 1, to_type(2.0 ** (-8.0 * 2 / 6), "f32")),
]
for elem, fill, index, e in CAPTURE_CASES:
    def build(r, elem=elem, index=index):
        x = r.op("tensor.extract", [elem], [5, r.const("index", index)])
        if elem == "i1":
            x = r.op("arith.extui", ["i32"], [x])
            elem = "i32"
        if elem in WIDTH:
            return r.op("arith.sitofp", ["f32"], [x])
        if elem == "f64":
            return r.op("arith.truncf", ["f32"], [x])
        return x if elem == "f32" else r.op("arith.extf", ["f32"], [x])
    check_float("tensor.extract %s %s [%d]" % (elem, fill, index), build, e,
                captures=[(elem, [-1], "tensor<?x%s>" % elem)],
                flags=["--capture", "0:6:" + fill])
check_float("tensor.dim", lambda r: r.op("arith.sitofp", ["f32"], [r.op(
    "arith.index_cast", ["i64"], [r.op("tensor.dim", ["index"],
                                       [5, r.const("index", 1)])])]), 7.0,
    captures=[("f32", [3, -1], "tensor<3x?xf32>")], flags=["--capture", "0:3,7:const:0"])
check_float("tensor.extract 2-D", lambda r: r.op("arith.sitofp", ["f32"], [r.op(
    "tensor.extract", ["i32"], [5, r.const("index", 1), r.const("index", 2)])]),
    9.0, captures=[("i32", [-1, 7], "tensor<?x7xi32>")],
    flags=["--capture", "0:2,7:arange"])

with ThreadPoolExecutor(max_workers=4) as pool:
    outputs = pool.map(lambda c: run(c[0], c[1], c[2]), pending)
    for case, got in zip(pending, outputs):
        error = case[3](got)
        if error:
            failures.append(error)
if failures:
    print("\n".join(failures))
    print("%d of %d cases failed" % (len(failures), count))
    sys.exit(1)
print("%d cases: OK" % count)
