"""The operations of a trace (fa_mlir.tracing): Python's operators, torch's
elementwise functions and Tensor methods on traced values, each appending
the MLIR ops that compute it to the tracer's region, with the type rules
of the module docstring of fa_mlir.tracing.
"""

import math

from ._trace_values import (F32, I1, INDEX, TracedZeroDivisionError, Value,
                            _TYPE_WORDS)

# ---------------------------------------------------------------------------
# Operations


def _type_of(x):
    if isinstance(x, Value):
        return x._type
    if isinstance(x, bool):
        return I1
    if isinstance(x, int):
        return INDEX
    return F32


def _promote(a, b):
    ta, tb = _type_of(a), _type_of(b)
    if F32 in (ta, tb):
        return F32
    if INDEX in (ta, tb):
        return INDEX
    return I1


def _expr(x):
    return x._expr if isinstance(x, Value) else repr(x)


_ARITH = {("+", F32): "arith.addf", ("+", INDEX): "arith.addi",
          ("-", F32): "arith.subf", ("-", INDEX): "arith.subi",
          ("*", F32): "arith.mulf", ("*", INDEX): "arith.muli",
          ("/", F32): "arith.divf"}


def _binop(t, name, a, b, type_, op):
    return t.op(f"{name} {{}}, {{}} : {type_}", (a, b), type_,
                f"({_expr(a)} {op} {_expr(b)})")


def _arith(t, op, a, b, exact=False):
    a, b = t.operand(a), t.operand(b)
    rt = F32 if op == "/" else _promote(a, b)
    if rt == I1:
        rt = INDEX  # bool arithmetic counts in integers
    if op in ("//", "%") and rt == INDEX and not isinstance(b, Value) \
            and int(b) == 0:
        raise t.error(f"integer {op} by zero", TracedZeroDivisionError)
    expr = f"({_expr(a)} {op} {_expr(b)})"
    ca, cb = t.cast(a, rt), t.cast(b, rt)
    if op in ("+", "-", "*", "/"):
        # Float +, - and * may contract into FMAs (with the score's scale
        # too), as Triton, and so FlexAttention, does by default; float /
        # may multiply by an approximate reciprocal of the divisor (arcp,
        # afn: x / 30 becomes x times 1/30, x / y x times rcp.approx(y)),
        # as Triton's fp32 / is div.full.f32 (within 2 ulp). No correctly
        # rounded division then, whose slow path ptxas reaches by a call
        # (its saved registers spilled in looping hopper-ws kernels).
        # `exact` (div_rn, a truncating division) keeps it, as do a
        # quotient of integers (positions, block sizes) and one in a
        # mask_mod, which mostly decide an integer or a comparison
        # (floor(q / 64)).
        flags = ""
        if rt == F32 and op != "/":
            flags = " fastmath<contract>"
        elif rt == F32 and not (exact or t.kind == "mask_mod" or
                                F32 not in (_type_of(a), _type_of(b))):
            flags = " fastmath<arcp,afn>"
        return t.op(f"{_ARITH[op, rt]} {{}}, {{}}{flags} : {rt}", (ca, cb),
                    rt, expr)
    if rt == INDEX:
        q = t.op("arith.floordivsi {}, {} : index", (ca, cb), INDEX,
                 f"({_expr(a)} // {_expr(b)})")
        if op == "//":
            return q
        # Python's a % b: a - (a // b) * b, the sign of b.
        qb = t.op("arith.muli {}, {} : index", (q, cb), INDEX, expr)
        return t.op("arith.subi {}, {} : index", (ca, qb), INDEX, expr)
    if op == "//":
        d = t.op("arith.divf {}, {} : f32", (ca, cb), F32, expr)
        return t.op("math.floor {} : f32", (d,), F32, expr)
    # torch.remainder on floats: fmod, moved into the sign of b.
    r = t.op("arith.remf {}, {} : f32", (ca, cb), F32, expr)
    zero = t.const(0.0, F32)
    nonzero = t.op("arith.cmpf une, {}, {} : f32", (r, zero), I1, expr)
    rneg = t.op("arith.cmpf olt, {}, {} : f32", (r, zero), I1, expr)
    bneg = t.op("arith.cmpf olt, {}, {} : f32", (cb, zero), I1, expr)
    differ = t.op("arith.xori {}, {} : i1", (rneg, bneg), I1, expr)
    fix = t.op("arith.andi {}, {} : i1", (nonzero, differ), I1, expr)
    moved = t.op("arith.addf {}, {} : f32", (r, cb), F32, expr)
    return t.op("arith.select {}, {}, {} : f32", (fix, moved, r), F32, expr)


def _pow(t, a, b):
    a, b = t.operand(a), t.operand(b)
    ta = _type_of(a)
    expr = f"({_expr(a)} ** {_expr(b)})"
    if not isinstance(b, Value):
        e = b
        if isinstance(e, float) and e == 0.5 and ta == F32:
            return _unary_math(t, "sqrt", a)
        if isinstance(e, float) and e.is_integer() and abs(e) <= 64:
            if ta != F32:
                a = t.cast(a, F32)
                ta = F32
            e = int(e)
        if isinstance(e, int) and abs(e) <= 64:
            rt = F32 if ta == F32 else INDEX
            if e < 0 and rt == INDEX:
                raise t.error(f"{expr}: integers to negative integer powers "
                              f"are not allowed (as in torch)", ValueError)
            x = t.cast(a, rt)
            result, n, base = None, abs(e), x
            while n:
                if n & 1:
                    result = base if result is None else _arith(
                        t, "*", result, base)
                n >>= 1
                if n:
                    base = _arith(t, "*", base, base)
            if result is None:
                result = t.const(1, rt)
            return _arith(t, "/", 1.0, result) if e < 0 else result
    elif ta != F32 and _type_of(b) != F32:
        raise t.error(f"{expr}: an integer raised to a traced integer power "
                      f"is not supported; use floats (2.0 ** x)")
    return t.op("math.powf {}, {} : f32", (t.cast(a, F32), t.cast(b, F32)),
                F32, expr)


_CMPF = {"<": "olt", "<=": "ole", ">": "ogt", ">=": "oge", "==": "oeq",
         "!=": "une"}
_CMPI = {"<": "slt", "<=": "sle", ">": "sgt", ">=": "sge", "==": "eq",
         "!=": "ne"}
_CMPU = {"<": "ult", "<=": "ule", ">": "ugt", ">=": "uge", "==": "eq",
         "!=": "ne"}


def _compare(t, op, a, b):
    a, b = t.operand(a), t.operand(b)
    rt = _promote(a, b)
    expr = f"({_expr(a)} {op} {_expr(b)})"
    ca, cb = t.cast(a, rt), t.cast(b, rt)
    if rt == F32:
        return t.op(f"arith.cmpf {_CMPF[op]}, {{}}, {{}} : f32", (ca, cb), I1,
                    expr)
    pred = (_CMPI if rt == INDEX else _CMPU)[op]
    return t.op(f"arith.cmpi {pred}, {{}}, {{}} : {rt}", (ca, cb), I1, expr)


_BITWISE = {"&": "arith.andi", "|": "arith.ori", "^": "arith.xori",
            "<<": "arith.shli", ">>": "arith.shrsi"}


def _bitwise(t, op, a, b):
    a, b = t.operand(a), t.operand(b)
    rt = _promote(a, b)
    if rt == F32:
        raise t.error(f"{op} needs booleans or integers, got "
                      f"({_expr(a)} {op} {_expr(b)}) with a float operand")
    if op in ("<<", ">>"):
        rt = INDEX
        if not isinstance(b, Value) and not 0 <= int(b) < 64:
            raise t.error(f"shift count {b} in ({_expr(a)} {op} {b}): a "
                          f"64-bit integer shifts by 0 to 63", ValueError)
    if rt == I1:
        # A Python bool operand folds: True & x = x, False | x = x, ...
        for c, x in ((a, b), (b, a)):
            if isinstance(c, bool):
                if op == "&":
                    return x if c else False
                if op == "|":
                    return True if c else x
                return _invert(t, x) if c else x
    return _binop(t, _BITWISE[op], t.cast(a, rt), t.cast(b, rt), rt, op)


def _logical(t, op, a, b):
    a, b = _to_bool(t, a), _to_bool(t, b)
    return _binop(t, _BITWISE[op], a, b, I1, op)


def _logical_not(t, x):
    return _invert(t, _to_bool(t, x))


def _neg(t, x):
    x = t.operand(x)
    if not isinstance(x, Value):
        return -x
    if x._type == F32:
        return t.op("arith.negf {} : f32", (x,), F32, f"-{x._expr}")
    if x._type == INDEX:
        return t.op("arith.subi {}, {} : index", (t.const(0, INDEX), x),
                    INDEX, f"-{x._expr}")
    raise t.error(f"negation (-) of the boolean {x._expr} is not supported "
                  f"(as in torch); use ~ or logical_not()")


def _abs(t, x):
    x = t.operand(x)
    if not isinstance(x, Value):
        return abs(x)
    if x._type == F32:
        return t.op("math.absf {} : f32", (x,), F32, f"abs({x._expr})")
    if x._type == INDEX:
        return _minmax(t, "max", x, _neg(t, x))
    raise t.error(f"abs() of the boolean {x._expr} is not supported")


def _invert(t, x):
    x = t.operand(x)
    if isinstance(x, bool):
        return not x
    if not isinstance(x, Value):
        if isinstance(x, int):
            return ~x
    elif x._type == I1:
        return t.op("arith.xori {}, {} : i1", (x, t.const(True, I1)), I1,
                    f"~{x._expr}")
    elif x._type == INDEX:
        return t.op("arith.xori {}, {} : index", (x, t.const(-1, INDEX)),
                    INDEX, f"~{x._expr}")
    raise t.error(f"~ needs a boolean or an integer, got {_expr(x)}")


def _minmax(t, which, a, b):
    a, b = t.operand(a), t.operand(b)
    rt = _promote(a, b)
    ca, cb = t.cast(a, rt), t.cast(b, rt)
    name = {(F32, "min"): "arith.minimumf", (F32, "max"): "arith.maximumf",
            (INDEX, "min"): "arith.minsi", (INDEX, "max"): "arith.maxsi",
            (I1, "min"): "arith.andi", (I1, "max"): "arith.ori"}[rt, which]
    return t.op(f"{name} {{}}, {{}} : {rt}", (ca, cb), rt,
                f"{which}imum({_expr(a)}, {_expr(b)})")


def _clamp(t, x, lo=None, hi=None):
    if lo is None and hi is None:
        raise t.error("clamp() needs min or max")
    x = t.operand(x)
    if lo is not None:
        x = _minmax(t, "max", x, lo)
    if hi is not None:
        x = _minmax(t, "min", x, hi)
    return x


def _to_bool(t, x):
    x = t.operand(x)
    if isinstance(x, Value):
        if x._type == I1:
            return x
        return _compare(t, "!=", x, 0)
    return t.const(bool(x), I1)


_NARROW_INTEGERS = {"int32": "i32", "int": "i32", "int16": "i16",
                    "short": "i16", "int8": "i8"}


def _wrap_integer(t, x, width, name):
    """x.to(int32) (int16, int8): the low bits, sign-extended back to 64,
    as torch's conversion wraps around."""
    narrow = t.op(f"arith.index_cast {{}} : index to {width}", (x,), width,
                  x._expr)
    return t.op(f"arith.index_cast {{}} : {width} to index", (narrow,), INDEX,
                f"{x._expr}.to({name})")


def _to_index(t, x):
    x = t.operand(x)
    if isinstance(x, Value) and x._type == F32:
        i = t.op("arith.fptosi {} : f32 to i64", (x,), "i64", x._expr)
        return t.op("arith.index_cast {} : i64 to index", (i,), INDEX,
                    f"int({x._expr})")
    if isinstance(x, Value):
        return t.cast(x, INDEX)
    return t.const(int(x), INDEX)


_INTEGER_IDENTITY = ("floor", "ceil", "round", "trunc")


def _unary_math(t, name, x):
    x = t.operand(x)
    if not isinstance(x, Value):
        x = t.const(x, F32)
    if name in _INTEGER_IDENTITY and x._type != F32:
        return x  # torch.floor of an integer is the integer
    x = t.cast(x, F32)
    op = {"round": "roundeven"}.get(name, name)
    return t.op(f"math.{op} {{}} : f32", (x,), F32, f"{name}({x._expr})")


def _sigmoid(t, x):
    # 1 / (1 + exp(-x))
    x = t.cast(t.operand(x), F32)
    e = _unary_math(t, "exp", _neg(t, x))
    return _arith(t, "/", 1.0, _arith(t, "+", 1.0, e))


def _where(t, c, a, b):
    c = t.operand(c)
    if isinstance(c, Value) and c._type != I1:
        raise t.error(f"where() needs a boolean condition, got the "
                      f"{_TYPE_WORDS[c._type]} value {c._expr}")
    a, b = t.operand(a), t.operand(b)
    if not isinstance(c, Value):
        return a if c else b
    rt = _promote(a, b)
    ca, cb = t.cast(a, rt), t.cast(b, rt)
    if ca is cb:
        return ca
    return t.op(f"arith.select {{}}, {{}}, {{}} : {rt}", (c, ca, cb), rt,
                f"where({c._expr}, {_expr(a)}, {_expr(b)})")


def _atan2(t, a, b):
    a, b = t.cast(t.operand(a), F32), t.cast(t.operand(b), F32)
    return _binop(t, "math.atan2", a, b, F32, "atan2")


def _copysign(t, a, b):
    a, b = t.cast(t.operand(a), F32), t.cast(t.operand(b), F32)
    return _binop(t, "math.copysign", a, b, F32, "copysign")


def _fminmax(t, which, a, b):
    # torch.fmin/fmax ignore NaN: minnumf/maxnumf
    a, b = t.cast(t.operand(a), F32), t.cast(t.operand(b), F32)
    return _binop(t, f"arith.{which}numf", a, b, F32, f"f{which}")


def _full_like(t, x, value):
    x = t.operand(x)
    return t.cast(t.operand(value), _type_of(x))


def _unary(name):
    return lambda t, input: _unary_math(t, name, input)


# Functions by torch name: (tracer, *args, **kwargs) -> Value, with torch's
# parameter names. fa_mlir.torch maps torch.<name> and torch.Tensor.<name>
# to these.
FUNCTIONS = {name: _unary(name) for name in (
    "tanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt",
    "rsqrt", "sin", "cos", "tan", "sinh", "cosh", "atan", "erf", "floor",
    "ceil", "round", "trunc")}
FUNCTIONS.update({
    "sigmoid": lambda t, input: _sigmoid(t, input),
    "abs": lambda t, input: _abs(t, input),
    "neg": lambda t, input: _neg(t, input),
    "square": lambda t, input: _arith(t, "*", input, input),
    "reciprocal": lambda t, input: _arith(t, "/", 1.0, input),
    "add": lambda t, input, other, alpha=1: _arith(
        t, "+", input, other if alpha == 1 else _arith(t, "*", alpha, other)),
    "sub": lambda t, input, other, alpha=1: _arith(
        t, "-", input, other if alpha == 1 else _arith(t, "*", alpha, other)),
    "rsub": lambda t, input, other, alpha=1: _arith(
        t, "-", other, input if alpha == 1 else _arith(t, "*", alpha, input)),
    "mul": lambda t, input, other: _arith(t, "*", input, other),
    "true_divide": lambda t, input, other: _arith(t, "/", input, other),
    "floor_divide": lambda t, input, other: _arith(t, "//", input, other),
    "remainder": lambda t, input, other: _arith(t, "%", input, other),
    "pow": lambda t, input, exponent: _pow(t, input, exponent),
    "minimum": lambda t, input, other: _minmax(t, "min", input, other),
    "maximum": lambda t, input, other: _minmax(t, "max", input, other),
    "fmin": lambda t, input, other: _fminmax(t, "min", input, other),
    "fmax": lambda t, input, other: _fminmax(t, "max", input, other),
    "clamp": lambda t, input, min=None, max=None: _clamp(t, input, min, max),
    "clamp_min": lambda t, input, min: _clamp(t, input, min, None),
    "clamp_max": lambda t, input, max: _clamp(t, input, None, max),
    "where": lambda t, condition, input, other: _where(t, condition, input,
                                                       other),
    "eq": lambda t, input, other: _compare(t, "==", input, other),
    "ne": lambda t, input, other: _compare(t, "!=", input, other),
    "lt": lambda t, input, other: _compare(t, "<", input, other),
    "le": lambda t, input, other: _compare(t, "<=", input, other),
    "gt": lambda t, input, other: _compare(t, ">", input, other),
    "ge": lambda t, input, other: _compare(t, ">=", input, other),
    "logical_and": lambda t, input, other: _logical(t, "&", input, other),
    "logical_or": lambda t, input, other: _logical(t, "|", input, other),
    "logical_xor": lambda t, input, other: _logical(t, "^", input, other),
    "logical_not": lambda t, input: _logical_not(t, input),
    "bitwise_and": lambda t, input, other: _bitwise(t, "&", input, other),
    "bitwise_or": lambda t, input, other: _bitwise(t, "|", input, other),
    "bitwise_xor": lambda t, input, other: _bitwise(t, "^", input, other),
    "bitwise_not": lambda t, input: _invert(t, input),
    "atan2": lambda t, input, other: _atan2(t, input, other),
    "copysign": lambda t, input, other: _copysign(t, input, other),
    "full_like": lambda t, input, fill_value: _full_like(t, input,
                                                         fill_value),
    "zeros_like": lambda t, input: _full_like(t, input, 0),
    "ones_like": lambda t, input: _full_like(t, input, 1),
})
for _alias, _name in (("absolute", "abs"), ("negative", "neg"),
                      ("subtract", "sub"), ("multiply", "mul"),
                      ("clip", "clamp"), ("greater", "gt"),
                      ("greater_equal", "ge"), ("less", "lt"),
                      ("less_equal", "le"), ("not_equal", "ne"),
                      ("arctan", "atan"), ("arctan2", "atan2")):
    FUNCTIONS[_alias] = FUNCTIONS[_name]


def _div(t, input, other, rounding_mode=None):
    a, b = input, other
    if rounding_mode is None:
        return _arith(t, "/", a, b)
    if rounding_mode == "floor":
        return _arith(t, "//", a, b)
    if rounding_mode == "trunc":
        a, b = t.operand(a), t.operand(b)
        if _promote(a, b) == F32:
            return _unary_math(t, "trunc", _arith(t, "/", a, b, exact=True))
        ca, cb = t.cast(a, INDEX), t.cast(b, INDEX)
        return _binop(t, "arith.divsi", ca, cb, INDEX, "//")
    raise t.error(f"div(rounding_mode={rounding_mode!r}) is not supported")


FUNCTIONS["div"] = FUNCTIONS["divide"] = _div

# Operators of torch.Tensor (a 0-d tensor on the left of a traced value).
OPERATORS = {
    "__add__": lambda t, a, b: _arith(t, "+", a, b),
    "__radd__": lambda t, a, b: _arith(t, "+", b, a),
    "__sub__": lambda t, a, b: _arith(t, "-", a, b),
    "__rsub__": lambda t, a, b: _arith(t, "-", b, a),
    "__mul__": lambda t, a, b: _arith(t, "*", a, b),
    "__rmul__": lambda t, a, b: _arith(t, "*", b, a),
    "__truediv__": lambda t, a, b: _arith(t, "/", a, b),
    "__div__": lambda t, a, b: _arith(t, "/", a, b),
    "__rtruediv__": lambda t, a, b: _arith(t, "/", b, a),
    "__rdiv__": lambda t, a, b: _arith(t, "/", b, a),
    "__floordiv__": lambda t, a, b: _arith(t, "//", a, b),
    "__rfloordiv__": lambda t, a, b: _arith(t, "//", b, a),
    "__mod__": lambda t, a, b: _arith(t, "%", a, b),
    "__rmod__": lambda t, a, b: _arith(t, "%", b, a),
    "__pow__": lambda t, a, b: _pow(t, a, b),
    "__rpow__": lambda t, a, b: _pow(t, b, a),
    "__and__": lambda t, a, b: _bitwise(t, "&", a, b),
    "__rand__": lambda t, a, b: _bitwise(t, "&", b, a),
    "__or__": lambda t, a, b: _bitwise(t, "|", a, b),
    "__ror__": lambda t, a, b: _bitwise(t, "|", b, a),
    "__xor__": lambda t, a, b: _bitwise(t, "^", a, b),
    "__rxor__": lambda t, a, b: _bitwise(t, "^", b, a),
    "__lt__": lambda t, a, b: _compare(t, "<", a, b),
    "__le__": lambda t, a, b: _compare(t, "<=", a, b),
    "__gt__": lambda t, a, b: _compare(t, ">", a, b),
    "__ge__": lambda t, a, b: _compare(t, ">=", a, b),
    "__eq__": lambda t, a, b: _compare(t, "==", a, b),
    "__ne__": lambda t, a, b: _compare(t, "!=", a, b),
    "__neg__": _neg, "__abs__": _abs, "__invert__": _invert,
}


def where(condition, x, y):
    """torch.where for traced values without torch: x where condition is
    true, else y."""
    for v in (condition, x, y):
        if isinstance(v, Value):
            return _where(v._tracer, condition, x, y)
    return x if condition else y


def tanh_approx(x):
    """tanh where an approximation is allowed: `math.tanh fastmath<afn>`,
    which the GPU kernels run as the hardware tanh (tanh.approx.f32, a
    relative error of about 2^-11, one instruction) where plain tanh is an
    accurate polynomial (about 2x slower attention for a softcap). Outside a
    trace it is math.tanh (or Tensor.tanh)."""
    if isinstance(x, Value):
        t = x._tracer
        x = t.cast(t.operand(x), F32)
        return t.op("math.tanh {} fastmath<afn> : f32", (x,), F32,
                    f"tanh_approx({x._expr})")
    if hasattr(x, "tanh"):
        return x.tanh()
    import math
    return math.tanh(x)


def div_rn(a, b):
    """a / b correctly rounded (`arith.divf` without fastmath flags), where
    traced `/` may multiply by the divisor's reciprocal as Triton's does.
    Outside a trace it is a / b."""
    for v in (a, b):
        if isinstance(v, Value):
            return _arith(v._tracer, "/", a, b, exact=True)
    return a / b


def minimum(a, b):
    """torch.minimum for traced values without torch."""
    for v in (a, b):
        if isinstance(v, Value):
            return _minmax(v._tracer, "min", a, b)
    return min(a, b)


def maximum(a, b):
    """torch.maximum for traced values without torch."""
    for v in (a, b):
        if isinstance(v, Value):
            return _minmax(v._tracer, "max", a, b)
    return max(a, b)

