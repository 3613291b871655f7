"""The values a trace hands to a score_mod / mask_mod (fa_mlir.tracing):
`Value`, the proxy of a traced scalar whose operators and torch-like
methods append ops; a captured tensor indexed in part (`PartialIndex`);
the MLIR types of traced scalars; and f32 literals. The operations
themselves are in _trace_ops.
"""

import math
import struct
import threading

F32, INDEX, I1 = "f32", "index", "i1"
ELEMENT_TYPES = ("i1", "i8", "i16", "i32", "i64", "f16", "bf16", "f32", "f64")
SCORE_ARGS = ("score", "b", "h", "q_idx", "kv_idx")
MASK_ARGS = ("b", "h", "q_idx", "kv_idx")
_INT64 = (-(1 << 63), (1 << 63) - 1)
# The normal range of f32: a region's float constants are f32, and the
# kernels flush subnormal values to zero.
_F32_MIN_NORMAL = 2.0 ** -126
_F32_MAX = 3.4028234663852886e38
_TYPE_WORDS = {F32: "float (f32)", INDEX: "integer (index)",
               I1: "boolean (i1)", "i64": "i64"}


def _a(type_):
    word = _TYPE_WORDS[type_]
    return ("an " if word[0] in "aeiou" else "a ") + word


_state = threading.local()


def current_tracer():
    """The tracer of the function being traced on this thread, or None."""
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else None


# ---------------------------------------------------------------------------
# Values


class TracedAttributeError(TypeError, AttributeError):
    """A traced value lacks the attribute or method a function asked for: a
    TypeError for the user, and an AttributeError so that hasattr() probes
    (of torch or other libraries) still answer False."""


class TracedOverflowError(ValueError, OverflowError):
    """A constant of a traced function does not fit the region's type (an
    integer past 64 bits, a float past f32's range): a ValueError, as every
    bad argument of fa_mlir, and an OverflowError, as Python's own."""


class TracedZeroDivisionError(ValueError, ZeroDivisionError):
    """A traced function divides an integer by the constant 0: a ValueError,
    and a ZeroDivisionError as Python's own."""


class Value:
    """A traced scalar: the score (f32), an index (b, h, q_idx, kv_idx or
    integer arithmetic on them) or a boolean (i1). Supports Python's
    operators and torch-like methods; has no Python truth value."""

    __slots__ = ("_tracer", "_name", "_type", "_expr", "__weakref__")

    def __init__(self, tracer, name, type_, expr):
        self._tracer, self._name, self._type, self._expr = (tracer, name,
                                                            type_, expr)

    def __repr__(self):
        return f"<traced {self._type} {self._expr}>"

    def __hash__(self):
        # A set or dict lookup (q_idx in {0, 1}, table.get(h)) would compare
        # identities and silently give the miss: refuse it, like `if`.
        raise self._tracer.error(
            f"the traced value {self._expr} cannot be hashed: `in` on a set "
            f"or dict, dict lookups and set() need a concrete value. Compare "
            f"with == and combine with | (or torch.where), or index a "
            f"captured tensor with it")

    # Arithmetic and comparisons --------------------------------------------
    def __add__(self, o): return _ops._arith(self._tracer, "+", self, o)
    def __radd__(self, o): return _ops._arith(self._tracer, "+", o, self)
    def __sub__(self, o): return _ops._arith(self._tracer, "-", self, o)
    def __rsub__(self, o): return _ops._arith(self._tracer, "-", o, self)
    def __mul__(self, o): return _ops._arith(self._tracer, "*", self, o)
    def __rmul__(self, o): return _ops._arith(self._tracer, "*", o, self)
    def __truediv__(self, o): return _ops._arith(self._tracer, "/", self, o)
    def __rtruediv__(self, o): return _ops._arith(self._tracer, "/", o, self)
    def __floordiv__(self, o): return _ops._arith(self._tracer, "//", self, o)
    def __rfloordiv__(self, o): return _ops._arith(self._tracer, "//", o, self)
    def __mod__(self, o): return _ops._arith(self._tracer, "%", self, o)
    def __rmod__(self, o): return _ops._arith(self._tracer, "%", o, self)
    def __pow__(self, o): return _ops._pow(self._tracer, self, o)
    def __rpow__(self, o): return _ops._pow(self._tracer, o, self)
    def __and__(self, o): return _ops._bitwise(self._tracer, "&", self, o)
    def __rand__(self, o): return _ops._bitwise(self._tracer, "&", o, self)
    def __or__(self, o): return _ops._bitwise(self._tracer, "|", self, o)
    def __ror__(self, o): return _ops._bitwise(self._tracer, "|", o, self)
    def __xor__(self, o): return _ops._bitwise(self._tracer, "^", self, o)
    def __rxor__(self, o): return _ops._bitwise(self._tracer, "^", o, self)
    def __lshift__(self, o): return _ops._bitwise(self._tracer, "<<", self, o)
    def __rlshift__(self, o): return _ops._bitwise(self._tracer, "<<", o, self)
    def __rshift__(self, o): return _ops._bitwise(self._tracer, ">>", self, o)
    def __rrshift__(self, o): return _ops._bitwise(self._tracer, ">>", o, self)
    def __lt__(self, o): return _ops._compare(self._tracer, "<", self, o)
    def __le__(self, o): return _ops._compare(self._tracer, "<=", self, o)
    def __gt__(self, o): return _ops._compare(self._tracer, ">", self, o)
    def __ge__(self, o): return _ops._compare(self._tracer, ">=", self, o)
    def __eq__(self, o): return _ops._compare(self._tracer, "==", self, o)
    def __ne__(self, o): return _ops._compare(self._tracer, "!=", self, o)
    def __neg__(self): return _ops._neg(self._tracer, self)
    def __pos__(self): return self
    def __abs__(self): return _ops._abs(self._tracer, self)
    def __invert__(self): return _ops._invert(self._tracer, self)
    def __round__(self, ndigits=None):
        if ndigits is not None:
            raise self._tracer.error("round(x, ndigits) is not supported")
        return _ops._unary_math(self._tracer, "round", self)

    # What a traced value cannot do ------------------------------------------
    def __bool__(self):
        raise self._tracer.error(
            f"the traced value {self._expr} has no Python truth value: "
            f"`if`, `and`, `or`, `not`, chained comparisons (a < b < c), "
            f"min()/max() and assert need a concrete bool. Use "
            f"torch.where(cond, x, y) for if/else, & | ~ for and/or/not, "
            f"(a < b) & (b < c) for chains and torch.minimum/maximum")

    def _no_conversion(self, what):
        raise self._tracer.error(
            f"cannot convert the traced value {self._expr} to a Python "
            f"{what} (int(), float(), a list index, range(), math.* ...): "
            f"it has no value until the kernel runs; use torch functions on "
            f"it, or index a captured tensor with it")

    def __index__(self): self._no_conversion("int")
    def __int__(self): self._no_conversion("int")
    def __float__(self): self._no_conversion("float")
    def __complex__(self): self._no_conversion("complex")
    def item(self): self._no_conversion("number (.item())")
    def tolist(self): self._no_conversion("number (.tolist())")

    def __iter__(self):
        raise self._tracer.error(f"the traced value {self._expr} is a "
                                 f"scalar: it cannot be iterated")

    def __len__(self):
        raise self._tracer.error(f"the traced value {self._expr} is a "
                                 f"scalar: it has no len()")

    def __getitem__(self, index):
        raise self._tracer.error(f"the traced value {self._expr} is a "
                                 f"scalar: it cannot be indexed (index a "
                                 f"captured tensor with it instead)")

    def __call__(self, *args, **kwargs):
        raise self._tracer.error(f"the traced value {self._expr} is a "
                                 f"scalar: it cannot be called")

    def __getattr__(self, name):
        # Only for names the class lacks (slots and methods resolve first);
        # private and dunder lookups (copy, pickle) keep AttributeError.
        if name.startswith("_"):
            raise AttributeError(name)
        raise self._tracer.error(
            f"the traced value {self._expr} is a scalar and has no "
            f"attribute or method {name!r}: the supported torch functions "
            f"and methods are listed in docs/ProgrammableAttention.md",
            cls=TracedAttributeError)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        # Reached when torch sees a Value outside fa_mlir.torch's tracing
        # mode (e.g. tensor[value]); the mode handles it while tracing.
        tracer = current_tracer()
        handler = getattr(tracer, "torch_function", None)
        if handler is None:
            raise TypeError(f"{_func_name(func)}: a traced fa_mlir value was "
                            f"used outside of its score_mod/mask_mod")
        return handler(func, args, kwargs or {})

    # torch-like methods ----------------------------------------------------
    def tanh(self): return _ops._unary_math(self._tracer, "tanh", self)
    def exp(self): return _ops._unary_math(self._tracer, "exp", self)
    def exp2(self): return _ops._unary_math(self._tracer, "exp2", self)
    def expm1(self): return _ops._unary_math(self._tracer, "expm1", self)
    def log(self): return _ops._unary_math(self._tracer, "log", self)
    def log2(self): return _ops._unary_math(self._tracer, "log2", self)
    def log10(self): return _ops._unary_math(self._tracer, "log10", self)
    def log1p(self): return _ops._unary_math(self._tracer, "log1p", self)
    def sqrt(self): return _ops._unary_math(self._tracer, "sqrt", self)
    def rsqrt(self): return _ops._unary_math(self._tracer, "rsqrt", self)
    def sin(self): return _ops._unary_math(self._tracer, "sin", self)
    def cos(self): return _ops._unary_math(self._tracer, "cos", self)
    def tan(self): return _ops._unary_math(self._tracer, "tan", self)
    def sinh(self): return _ops._unary_math(self._tracer, "sinh", self)
    def cosh(self): return _ops._unary_math(self._tracer, "cosh", self)
    def atan(self): return _ops._unary_math(self._tracer, "atan", self)
    def erf(self): return _ops._unary_math(self._tracer, "erf", self)
    def floor(self): return _ops._unary_math(self._tracer, "floor", self)
    def ceil(self): return _ops._unary_math(self._tracer, "ceil", self)
    def round(self): return _ops._unary_math(self._tracer, "round", self)
    def trunc(self): return _ops._unary_math(self._tracer, "trunc", self)
    def sigmoid(self): return _ops._sigmoid(self._tracer, self)
    def abs(self): return _ops._abs(self._tracer, self)
    def neg(self): return _ops._neg(self._tracer, self)
    negative = neg
    def square(self): return _ops._arith(self._tracer, "*", self, self)
    def reciprocal(self): return _ops._arith(self._tracer, "/", 1.0, self)
    def pow(self, e): return _ops._pow(self._tracer, self, e)
    def remainder(self, o): return _ops._arith(self._tracer, "%", self, o)
    def minimum(self, o): return _ops._minmax(self._tracer, "min", self, o)
    def maximum(self, o): return _ops._minmax(self._tracer, "max", self, o)

    def clamp(self, min=None, max=None):
        return _ops._clamp(self._tracer, self, min, max)

    clip = clamp

    def clamp_min(self, min): return _ops._clamp(self._tracer, self, min, None)
    def clamp_max(self, max): return _ops._clamp(self._tracer, self, None, max)

    def where(self, condition, other):
        return _ops._where(self._tracer, condition, self, other)

    def logical_and(self, o): return _ops._logical(self._tracer, "&", self, o)
    def logical_or(self, o): return _ops._logical(self._tracer, "|", self, o)
    def logical_xor(self, o): return _ops._logical(self._tracer, "^", self, o)
    def logical_not(self): return _ops._logical_not(self._tracer, self)

    @property
    def device(self):
        return None  # values live in the kernel (FlexAttention helpers ask)

    def _new_constant(self, size, value, dtype):
        if tuple(size) not in ((), (1,)):
            raise self._tracer.error(f"new tensors of size {tuple(size)} "
                                     f"are not supported: values are scalars")
        name = str(dtype).replace("torch.", "") if dtype is not None \
            else {F32: "float32", INDEX: "int64", I1: "bool"}[self._type]
        if name == "bool":
            return bool(value)
        if name.startswith(("float", "bfloat", "half", "double")):
            return float(value)
        if name.startswith(("int", "uint", "long", "short")):
            return int(value)
        raise self._tracer.error(f"dtype {dtype} is not supported")

    def new_ones(self, size=(), dtype=None, **kwargs):
        """A constant 1 (True for dtype=torch.bool), as in FlexAttention's
        and_masks: b.new_ones((), dtype=torch.bool)."""
        return self._new_constant(size, 1, dtype)

    def new_zeros(self, size=(), dtype=None, **kwargs):
        return self._new_constant(size, 0, dtype)

    def new_full(self, size, fill_value, dtype=None, **kwargs):
        return self._new_constant(size, fill_value, dtype)

    def float(self): return self._tracer.cast(self, F32)
    def long(self): return _ops._to_index(self._tracer, self)
    def int(self): return self.to("int32")  # torch's .int() is int32
    def bool(self): return _ops._to_bool(self._tracer, self)

    def to(self, dtype):
        name = str(dtype).replace("torch.", "")
        if name in ("float32", "float", "float64", "double"):
            return self.float()
        if name in ("int64", "long"):
            return self.long()
        if name in _ops._NARROW_INTEGERS:
            return _ops._wrap_integer(self._tracer, self.long(),
                                 _ops._NARROW_INTEGERS[name], name)
        if name == "bool":
            return self.bool()
        raise self._tracer.error(f"x.to({dtype}) is not supported: floats "
                                 f"are f32, integers 64-bit (int32, int16 "
                                 f"and int8 wrap around as in torch)")


class _Capture:
    """A captured array inside a trace (its local index)."""

    __slots__ = ("index", "type", "_name")

    def __init__(self, index, ctype):
        self.index, self.type = index, ctype
        self._name = f"%cap{index}"


class PartialIndex:
    """A captured tensor indexed in fewer dimensions than it has
    (`doc_ids[b]` of a [B, N] tensor); index it further (`[q_idx]`)."""

    def __init__(self, tracer, capture, indices, expr):
        self._tracer, self._capture = tracer, capture
        self._indices, self._expr = indices, expr

    def __getitem__(self, index):
        more = index if isinstance(index, tuple) else (index,)
        return self._tracer.index(self._capture, self._indices + list(more),
                                  self._expr)

    def __repr__(self):
        return (f"<{self._expr}[{len(self._indices)} of "
                f"{self._capture.type.rank} indices]>")

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return Value.__torch_function__(func, types, args, kwargs)


def _func_name(func):
    name = getattr(func, "__name__", None) or repr(func)
    if name == "__get__":
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", name)
    return name


def _short(text, limit=60):
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---------------------------------------------------------------------------
# Constants


def float_literal(x):
    """`x` rounded to f32, as an MLIR float literal that parses back to
    exactly that value (hex bit patterns for inf and NaN)."""
    x = float(x)
    if math.isnan(x):
        return "0x7FC00000"
    try:
        f = struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        f = math.copysign(math.inf, x)
    if math.isinf(f):
        return "0x7F800000" if f > 0 else "0xFF800000"
    return decimal_literal(f)


def decimal_literal(x):
    """The finite float `x` as an MLIR float literal: Python's repr, with a
    decimal point before any exponent (5e-05 is an integer literal to MLIR;
    5.0e-05 is not)."""
    mantissa, e, exponent = repr(float(x)).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


# The operations the methods above append (a module reference, resolved at
# call time: _trace_ops builds Values, so each module imports the other).
from . import _trace_ops as _ops  # noqa: E402
