"""A reference evaluator of score_mod / mask_mod region text (the subset
fa_mlir.tracing emits), in numpy, for checking what traced functions
compute without a GPU. Deliberately independent of fa_mlir.tracing: it reads
only the MLIR text."""

import math
import re

import numpy as np

_MASK64 = (1 << 64) - 1
_HEADER = re.compile(r"\^bb0\((.*)\):")
_LINE = re.compile(r"(%\w+) = ([\w.]+) ?(.*)")


def _wrap(x):
    x &= _MASK64
    return x - (1 << 64) if x >> 63 else x


def _f32(x):
    return np.float32(x)


def _float_literal(text):
    if text.startswith("0x"):
        return np.frombuffer(int(text, 16).to_bytes(4, "little"),
                             dtype=np.float32)[0]
    return np.float32(float(text))


def _floordiv(a, b):
    return _wrap(a // b)  # Python's // is floor division


def _cmp(pred, a, b):
    return {"slt": a < b, "sle": a <= b, "sgt": a > b, "sge": a >= b,
            "ult": a < b, "ule": a <= b, "ugt": a > b, "uge": a >= b,
            "eq": a == b, "ne": a != b,
            "olt": a < b, "ole": a <= b, "ogt": a > b, "oge": a >= b,
            "oeq": a == b, "une": not (a == b)}[pred]


_MATH = {"tanh": np.tanh, "exp": np.exp, "exp2": np.exp2, "log": np.log,
         "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
         "expm1": np.expm1, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
         "tan": np.tan, "sinh": np.sinh, "cosh": np.cosh, "atan": np.arctan,
         "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc,
         "roundeven": np.rint, "absf": np.abs,
         "rsqrt": lambda x: np.float32(1) / np.sqrt(x),
         "erf": lambda x: np.float32(math.erf(float(x)))}


def evaluate(region, args, captures=()):
    """The yielded value of `region` (text) for block arguments `args`
    (score as a float, indices as ints) and capture arrays (numpy)."""
    lines = [l.strip() for l in region.strip().split("\n")]
    params = [p.strip() for p in _HEADER.fullmatch(lines[0]).group(1)
              .split(",")]
    names = [p.split(":")[0].strip() for p in params]
    values = dict(zip(names, list(args) + list(captures)))
    assert len(values) == len(names) == len(args) + len(captures), (
        names, args, captures)
    for name in names[:len(args)]:
        if name == "%score":
            values[name] = _f32(values[name])
    with np.errstate(all="ignore"):
        for line in lines[1:]:
            if line.startswith("fa.yield"):
                return values[line.split()[1]]
            m = _LINE.fullmatch(line)
            assert m, line
            result, op, rest = m.groups()
            values[result] = _step(op, rest, values)
    raise AssertionError("no fa.yield")


def _operands(rest, values):
    return [values[n] for n in re.findall(r"%\w+", rest)]


def _step(op, rest, values):
    body, _, type_ = rest.rpartition(" : ")
    if op == "arith.constant":
        if rest in ("true", "false"):
            return rest == "true"
        literal, _, t = rest.partition(" : ")
        return _float_literal(literal) if t.startswith("f") else int(literal)
    if op == "tensor.extract":
        cap, idx = re.fullmatch(r"(%\w+)\[(.*)\]", body).groups()
        index = tuple(values[i.strip()] for i in idx.split(",") if i.strip())
        array = values[cap]
        for i, n in zip(index, array.shape):
            assert 0 <= i < n, f"out of bounds: {index} in {array.shape}"
        v = array[index]
        if array.dtype == np.bool_:
            return bool(v)
        if array.dtype.kind in "iu":
            return int(v)  # the raw integer; casts below keep its bits
        return v
    if op == "tensor.dim":
        cap, d = [s.strip() for s in body.split(",")]
        return values[cap].shape[values[d]]
    ops = _operands(body.split(" to ")[0] if " to " in rest else body,
                    values)
    if op in ("arith.cmpi", "arith.cmpf"):
        pred = body.split(",")[0]
        return bool(_cmp(pred, *ops))
    if op == "arith.select":
        c, a, b = ops
        return a if c else b
    # casts
    if op in ("arith.index_cast", "arith.extf", "arith.truncf"):
        (x,) = ops
        if op == "arith.index_cast":
            dst = rest.split(" to ")[-1].strip()
            bits = {"i8": 8, "i16": 16, "i32": 32}.get(dst)
            if bits is None:
                return int(x)
            x = int(x) & ((1 << bits) - 1)  # truncation wraps around
            return x - (1 << bits) if x >> (bits - 1) else x
        return _f32(x)
    if op == "arith.index_castui":
        (x,) = ops
        src = rest.split(" : ")[1].split(" to ")[0]
        bits = {"i1": 1, "i8": 8, "i16": 16, "i32": 32}.get(src, 64)
        return int(x) & ((1 << bits) - 1)
    if op in ("arith.sitofp", "arith.uitofp"):
        return _f32(int(ops[0]))
    if op == "arith.fptosi":
        return int(np.trunc(ops[0]))
    if op.startswith("math."):
        name = op[5:]
        if name == "powf":
            return _f32(np.power(_f32(ops[0]), _f32(ops[1])))
        if name == "atan2":
            return _f32(np.arctan2(ops[0], ops[1]))
        if name == "copysign":
            return _f32(np.copysign(ops[0], ops[1]))
        return _f32(_MATH[name](_f32(ops[0])))
    if op == "arith.negf":
        return _f32(-ops[0])
    a, b = ops
    if type_ == "f32":
        a, b = _f32(a), _f32(b)
        return _f32({"arith.addf": lambda: a + b, "arith.subf": lambda: a - b,
                     "arith.mulf": lambda: a * b, "arith.divf": lambda: a / b,
                     "arith.remf": lambda: np.fmod(a, b),
                     "arith.maximumf": lambda: np.maximum(a, b),
                     "arith.minimumf": lambda: np.minimum(a, b),
                     "arith.maxnumf": lambda: np.fmax(a, b),
                     "arith.minnumf": lambda: np.fmin(a, b)}[op]())
    if type_ == "i1":
        a, b = bool(a), bool(b)
        return {"arith.andi": a and b, "arith.ori": a or b,
                "arith.xori": a != b}[op]
    return {"arith.addi": lambda: _wrap(a + b),
            "arith.subi": lambda: _wrap(a - b),
            "arith.muli": lambda: _wrap(a * b),
            "arith.floordivsi": lambda: _floordiv(a, b),
            "arith.divsi": lambda: _wrap(int(a / b) if abs(a) < 2 ** 52 and
                                         abs(b) < 2 ** 52 else
                                         (abs(a) // abs(b)) *
                                         (1 if (a < 0) == (b < 0) else -1)),
            "arith.maxsi": lambda: max(a, b), "arith.minsi": lambda: min(a, b),
            "arith.andi": lambda: _wrap(a & b), "arith.ori": lambda: _wrap(a | b),
            "arith.xori": lambda: _wrap(a ^ b),
            "arith.shli": lambda: _wrap(a << b),
            "arith.shrsi": lambda: a >> b}[op]()
