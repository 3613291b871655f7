"""Tracing FlexAttention-style `score_mod` / `mask_mod` functions into the
regions of `fa.attention` (docs/ProgrammableAttention.md).

    def softcap(score, b, h, q_idx, kv_idx):
        return 30 * torch.tanh(score / 30)

is called once with proxy values (`Value`) in place of its arguments; each
operation on them appends one MLIR op to a region:

    ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
      %0 = arith.constant 30.0 : f32
      %1 = arith.divf %score, %0 : f32
      %2 = math.tanh %1 : f32
      %3 = arith.mulf %0, %2 fastmath<contract> : f32
      fa.yield %3 : f32

(Float +, - and * carry `fastmath<contract>`: like Triton, and so
FlexAttention, the kernel may fuse a product and a sum into one FMA.)

What traces: Python's + - * / // % ** unary - abs(), comparisons, & | ^ ~
(logical on booleans, bitwise on integers), << >>, with Python numbers and
other traced values; torch.where, minimum, maximum, clamp, elementwise math
(tanh, exp, exp2, log, log2, sqrt, rsqrt, sin, cos, sigmoid, floor, ceil,
round, abs, ...) and the same Tensor methods (x.tanh(), x.clamp(lo, hi));
indexing a captured tensor with traced integers and ints (slopes[h],
doc_ids[b, q_idx], table[q_idx - kv_idx + 128], doc_ids[b][q_idx]; a
negative int counts from the end). What does not: anything that needs a
concrete value (`if`, `and`/`or`/`not`, chained comparisons a < b < c,
min()/max(), int(), math.*, Python list indexing), slices and tensor
indices, tensors used without indexing them down to one element, torch
functions other than the elementwise ones. Each raises TypeError (or
IndexError, ValueError) naming the construct and the function.

Types: the score is `f32`; b, h, q_idx, kv_idx are `index` (64-bit
integers); comparisons give `i1`. Python ints and floats mix in like
torch's scalars. Mixed float/integer arithmetic converts the integer
(`index_cast` to i64, `sitofp`); `/` always gives a float; `//` and `%` on
integers round towards -inf as in Python (`arith.floordivsi`; a % b is
a - (a // b) * b). A value read from a captured tensor is widened to `f32`
(f16, bf16; f64 is narrowed) or cast to `index` (signed integers;
`index_castui` for uint8); bool tensors give `i1`. score_mod must give a
number (an integer is converted), mask_mod a boolean.

Captures: each tensor the functions index is one capture (the same object
twice is one), numbered in order of first use, score_mod's first. They are
trailing block arguments `%cap<i>` of both regions and kernel arguments
after q, k, v, o and the LSE; only their element type and rank enter the
source, so new values (or new tensors of the same type) reuse the kernel.

The output is deterministic (values numbered in order, constants printed
exactly), identical subexpressions are computed once and unused ones are
dropped, so equal functions give equal text and one kernel. A function
that returns the score unchanged, or a mask that is always True, gives no
region. fa_mlir.trace_cache.TraceCache reuses a trace while the function's code and the values
it can see (closure, defaults, the globals it names) are unchanged.

This module needs no torch: Python operators and the torch-like methods of
`Value` trace on their own; arrays and torch functions come in through an
`ArrayAdapter` (fa_mlir.torch supplies the one for torch tensors).
"""

import collections
import inspect
import math
import numbers
import re
import struct
import threading

F32, INDEX, I1 = "f32", "index", "i1"
ELEMENT_TYPES = ("i1", "i8", "i16", "i32", "i64", "f16", "bf16", "f32", "f64")
SCORE_ARGS = ("score", "b", "h", "q_idx", "kv_idx")
MASK_ARGS = ("b", "h", "q_idx", "kv_idx")
_INT64 = (-(1 << 63), (1 << 63) - 1)


class CaptureType(collections.namedtuple("CaptureType",
                                         "element rank unsigned")):
    """A captured tensor as the kernel sees it: MLIR element type (`f32`,
    `i8`, ...), rank, and whether its integers are unsigned (uint8, bool)."""

    @property
    def tensor_type(self):
        return "tensor<" + "?x" * self.rank + self.element + ">"


class Region(collections.namedtuple("Region",
                                    "kind body captures identity")):
    """One traced function. `body`: the ops and the `fa.yield`, one a line,
    captures named `%cap<i>` (i: index into `captures`, this region's own
    numbering); `identity`: the function changes nothing (returns the score
    unchanged, or a mask that is always true), so the region can be left
    out."""


class TracedMods(collections.namedtuple(
        "TracedMods", "score_mod mask_mod capture_types captures")):
    """What `fa.attention` needs: the region texts (None when absent) for
    AttentionSpec(score_mod=..., mask_mod=...), the capture tensor types for
    AttentionSpec(captures=...), and the captured arrays in kernel-argument
    order."""


_state = threading.local()


def current_tracer():
    """The tracer of the function being traced on this thread, or None."""
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else None


class ArrayAdapter:
    """How a tracer meets arrays (captured tensors). The base class knows
    none: every array operand is an error."""

    def is_array(self, obj):
        return False

    def capture_type(self, array):
        """CaptureType of an array the function indexes; raises TypeError
        for unsupported ones."""
        raise TypeError(f"cannot capture {type(array).__name__}")

    def array_key(self, array):
        """Hashable summary of what tracing may depend on besides the values
        and the shape (dtype, rank)."""
        raise NotImplementedError

    def array_meta(self, array):
        """Hashable shape and strides (checked when a trace read them)."""
        raise NotImplementedError

    def scalar_operand(self, tracer, obj):
        """An array used directly as an operand (a 0-d tensor): a Value, a
        Python number, or None when `obj` is not an array."""
        return None

    def constant_key(self, obj):
        """Hashable key of an immutable library object (a dtype, a device)
        a function may refer to, else None."""
        return None

    def tracing(self, tracer):
        """Context manager active while a function is traced."""
        return _nullcontext()


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------
# Values


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
    def __add__(self, o): return _arith(self._tracer, "+", self, o)
    def __radd__(self, o): return _arith(self._tracer, "+", o, self)
    def __sub__(self, o): return _arith(self._tracer, "-", self, o)
    def __rsub__(self, o): return _arith(self._tracer, "-", o, self)
    def __mul__(self, o): return _arith(self._tracer, "*", self, o)
    def __rmul__(self, o): return _arith(self._tracer, "*", o, self)
    def __truediv__(self, o): return _arith(self._tracer, "/", self, o)
    def __rtruediv__(self, o): return _arith(self._tracer, "/", o, self)
    def __floordiv__(self, o): return _arith(self._tracer, "//", self, o)
    def __rfloordiv__(self, o): return _arith(self._tracer, "//", o, self)
    def __mod__(self, o): return _arith(self._tracer, "%", self, o)
    def __rmod__(self, o): return _arith(self._tracer, "%", o, self)
    def __pow__(self, o): return _pow(self._tracer, self, o)
    def __rpow__(self, o): return _pow(self._tracer, o, self)
    def __and__(self, o): return _bitwise(self._tracer, "&", self, o)
    def __rand__(self, o): return _bitwise(self._tracer, "&", o, self)
    def __or__(self, o): return _bitwise(self._tracer, "|", self, o)
    def __ror__(self, o): return _bitwise(self._tracer, "|", o, self)
    def __xor__(self, o): return _bitwise(self._tracer, "^", self, o)
    def __rxor__(self, o): return _bitwise(self._tracer, "^", o, self)
    def __lshift__(self, o): return _bitwise(self._tracer, "<<", self, o)
    def __rlshift__(self, o): return _bitwise(self._tracer, "<<", o, self)
    def __rshift__(self, o): return _bitwise(self._tracer, ">>", self, o)
    def __rrshift__(self, o): return _bitwise(self._tracer, ">>", o, self)
    def __lt__(self, o): return _compare(self._tracer, "<", self, o)
    def __le__(self, o): return _compare(self._tracer, "<=", self, o)
    def __gt__(self, o): return _compare(self._tracer, ">", self, o)
    def __ge__(self, o): return _compare(self._tracer, ">=", self, o)
    def __eq__(self, o): return _compare(self._tracer, "==", self, o)
    def __ne__(self, o): return _compare(self._tracer, "!=", self, o)
    def __neg__(self): return _neg(self._tracer, self)
    def __pos__(self): return self
    def __abs__(self): return _abs(self._tracer, self)
    def __invert__(self): return _invert(self._tracer, self)
    def __round__(self, ndigits=None):
        if ndigits is not None:
            raise self._tracer.error("round(x, ndigits) is not supported")
        return _unary_math(self._tracer, "round", self)

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
    def tanh(self): return _unary_math(self._tracer, "tanh", self)
    def exp(self): return _unary_math(self._tracer, "exp", self)
    def exp2(self): return _unary_math(self._tracer, "exp2", self)
    def expm1(self): return _unary_math(self._tracer, "expm1", self)
    def log(self): return _unary_math(self._tracer, "log", self)
    def log2(self): return _unary_math(self._tracer, "log2", self)
    def log10(self): return _unary_math(self._tracer, "log10", self)
    def log1p(self): return _unary_math(self._tracer, "log1p", self)
    def sqrt(self): return _unary_math(self._tracer, "sqrt", self)
    def rsqrt(self): return _unary_math(self._tracer, "rsqrt", self)
    def sin(self): return _unary_math(self._tracer, "sin", self)
    def cos(self): return _unary_math(self._tracer, "cos", self)
    def tan(self): return _unary_math(self._tracer, "tan", self)
    def sinh(self): return _unary_math(self._tracer, "sinh", self)
    def cosh(self): return _unary_math(self._tracer, "cosh", self)
    def atan(self): return _unary_math(self._tracer, "atan", self)
    def erf(self): return _unary_math(self._tracer, "erf", self)
    def floor(self): return _unary_math(self._tracer, "floor", self)
    def ceil(self): return _unary_math(self._tracer, "ceil", self)
    def round(self): return _unary_math(self._tracer, "round", self)
    def trunc(self): return _unary_math(self._tracer, "trunc", self)
    def sigmoid(self): return _sigmoid(self._tracer, self)
    def abs(self): return _abs(self._tracer, self)
    def neg(self): return _neg(self._tracer, self)
    negative = neg
    def square(self): return _arith(self._tracer, "*", self, self)
    def reciprocal(self): return _arith(self._tracer, "/", 1.0, self)
    def pow(self, e): return _pow(self._tracer, self, e)
    def remainder(self, o): return _arith(self._tracer, "%", self, o)
    def minimum(self, o): return _minmax(self._tracer, "min", self, o)
    def maximum(self, o): return _minmax(self._tracer, "max", self, o)

    def clamp(self, min=None, max=None):
        return _clamp(self._tracer, self, min, max)

    clip = clamp

    def clamp_min(self, min): return _clamp(self._tracer, self, min, None)
    def clamp_max(self, max): return _clamp(self._tracer, self, None, max)

    def where(self, condition, other):
        return _where(self._tracer, condition, self, other)

    def logical_and(self, o): return _logical(self._tracer, "&", self, o)
    def logical_or(self, o): return _logical(self._tracer, "|", self, o)
    def logical_xor(self, o): return _logical(self._tracer, "^", self, o)
    def logical_not(self): return _logical_not(self._tracer, self)

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
    def long(self): return _to_index(self._tracer, self)
    int = long
    def bool(self): return _to_bool(self._tracer, self)

    def to(self, dtype):
        name = str(dtype).replace("torch.", "")
        if name in ("float32", "float", "float64", "double"):
            return self.float()
        if name in ("int64", "long"):
            return self.long()
        if name in _NARROW_INTEGERS:
            return _wrap_integer(self._tracer, self.long(),
                                 _NARROW_INTEGERS[name], name)
        if name == "bool":
            return self.bool()
        raise self._tracer.error(f"x.to({dtype}) is not supported: floats "
                                 f"are f32, integers 64-bit (int32 and int16 "
                                 f"wrap around as in torch)")


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
    text = repr(f)
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


# ---------------------------------------------------------------------------
# The tracer


class Tracer:
    """Records the ops of one function. Internal; see trace()."""

    def __init__(self, kind, fn_name, adapter):
        self.kind, self.fn_name, self.adapter = kind, fn_name, adapter
        self.ops = []        # [name, template, operands, type]
        self._cse = {}
        self._count = 0
        self.captures = []   # the arrays
        self._capture_of = {}
        self.impure = False  # the trace read something beyond types/shapes
        self.queried = {}    # id -> array whose shape/strides were read
        self.internal = 0    # >0 while the adapter inspects arrays itself
        self.args = []
        self._capture_objects = []

    # Errors name the function being traced.
    def error(self, message, cls=TypeError):
        return cls(f"{self.kind} {self.fn_name}: {message}")

    def op(self, template, operands, type_, expr):
        """Appends `%r = template.format(*operand names)` of type `type_`
        and returns %r, or the value of an identical op traced before (all
        ops are pure: common subexpressions are computed once). `expr`
        describes the value in error messages."""
        key = (template, tuple(o._name for o in operands))
        value = self._cse.get(key)
        if value is None:
            name = f"%{self._count}"
            self._count += 1
            value = Value(self, name, type_, _short(expr))
            self.ops.append((name, template, tuple(operands), type_))
            self._cse[key] = value
        return value

    def const(self, value, type_):
        if type_ == F32:
            try:
                number = float(value)
            except OverflowError:
                raise self.error(f"the integer {_short(str(value))} is too "
                                 f"large for a float (f32) operand",
                                 OverflowError) from None
            return self.op(f"arith.constant {float_literal(number)} : f32",
                           (), F32, repr(number))
        if type_ == I1:
            text = "true" if value else "false"
            return self.op(f"arith.constant {text}", (), I1, text)
        value = int(value)
        if not _INT64[0] <= value <= _INT64[1]:
            raise self.error(f"integer constant {value} does not fit in 64 "
                             f"bits", OverflowError)
        return self.op(f"arith.constant {value} : index", (), INDEX,
                       str(value))

    def operand(self, x):
        """A Value or a Python number (bool, int, float) for `x`."""
        if isinstance(x, Value):
            if x._tracer is not self:
                raise self.error(f"the traced value {x._expr} belongs to "
                                 f"another trace ({x._tracer.kind} "
                                 f"{x._tracer.fn_name})")
            return x
        if isinstance(x, bool):
            return x
        if isinstance(x, numbers.Integral):
            return int(x)
        if isinstance(x, numbers.Real):
            return float(x)
        if isinstance(x, PartialIndex):
            raise self.error(
                f"{x._expr} indexes {len(x._indices)} of the "
                f"{x._capture.type.rank} dimensions of the captured tensor; "
                f"index all of them to get a scalar")
        if type(x).__module__ == "numpy" and type(x).__name__ in ("bool_",
                                                                  "bool"):
            return bool(x)
        self.internal += 1
        try:
            value = self.adapter.scalar_operand(self, x)
        finally:
            self.internal -= 1
        if value is not None:
            return value
        raise self.error(f"unsupported operand {_short(repr(x), 40)} of "
                         f"type {type(x).__name__}: score_mod/mask_mod "
                         f"compute on scalars (the arguments, Python "
                         f"numbers and elements of captured tensors)")

    def cast(self, x, type_):
        """`x` (Value or Python number) converted to `type_`."""
        if not isinstance(x, Value):
            if type_ == I1:
                return self.const(bool(x), I1)
            if type_ == INDEX:
                if isinstance(x, float):
                    raise self.error(f"the float {x!r} is used where an "
                                     f"integer is needed")
                return self.const(int(x), INDEX)
            return self.const(x, F32)
        t = x._type
        if t == type_:
            return x
        if type_ == F32:
            if t == INDEX:
                i = self.op("arith.index_cast {} : index to i64", (x,),
                            "i64", x._expr)
                return self.op("arith.sitofp {} : i64 to f32", (i,), F32,
                               x._expr)
            if t == I1:
                return self.op("arith.uitofp {} : i1 to f32", (x,), F32,
                               x._expr)
        if type_ == INDEX and t == I1:
            return self.op("arith.index_castui {} : i1 to index", (x,), INDEX,
                           x._expr)
        raise self.error(f"cannot use the {_TYPE_WORDS[t]} value {x._expr} "
                         f"where {_a(type_)} is needed")

    # Captures ---------------------------------------------------------------
    def capture(self, array):
        i = self._capture_of.get(id(array))
        if i is None:
            self.internal += 1
            try:
                ctype = self.adapter.capture_type(array)
            finally:
                self.internal -= 1
            if not isinstance(ctype, CaptureType):
                raise TypeError(f"adapter gave {ctype!r}, not a CaptureType")
            i = len(self.captures)
            self.captures.append(array)
            self._capture_of[id(array)] = i
            self._capture_objects.append(_Capture(i, ctype))
        return self._capture_objects[i]

    def extract(self, array, index):
        """array[index] for a captured array: a Value when every dimension
        is indexed, else a PartialIndex."""
        cap = self.capture(array)
        idx = list(index) if isinstance(index, tuple) else [index]
        return self.index(cap, idx, f"capture{cap.index}")

    def index(self, cap, idx, expr):
        ctype = cap.type
        if len(idx) > ctype.rank:
            raise self.error(f"too many indices ({len(idx)}) for a captured "
                             f"tensor of rank {ctype.rank} "
                             f"({ctype.tensor_type})", IndexError)
        parts = [self._index_operand(cap, d, i) for d, i in enumerate(idx)]
        expr = f"{expr}[{', '.join(p._expr for p in parts)}]"
        if len(idx) < ctype.rank:
            return PartialIndex(self, cap, idx, _short(expr))
        t = ctype.tensor_type
        raw = self.op(
            "tensor.extract {}[" + ", ".join(["{}"] * len(parts)) +
            f"] : {t}", [cap] + parts, ctype.element, expr)
        e = ctype.element
        if e == F32 or e == I1:
            return raw
        if e in ("f16", "bf16"):
            return self.op(f"arith.extf {{}} : {e} to f32", (raw,), F32, expr)
        if e == "f64":
            return self.op("arith.truncf {} : f64 to f32", (raw,), F32, expr)
        cast = "arith.index_castui" if ctype.unsigned else "arith.index_cast"
        return self.op(f"{cast} {{}} : {e} to index", (raw,), INDEX, expr)

    def _index_operand(self, cap, dim, i):
        if isinstance(i, Value):
            i = self.operand(i)
            if i._type != INDEX:
                raise self.error(f"the {_TYPE_WORDS[i._type]} value "
                                 f"{i._expr} cannot index a tensor; "
                                 f"indices are integers")
            return i
        if isinstance(i, numbers.Integral) and not isinstance(i, bool):
            i = int(i)
            if i >= 0:
                return self.const(i, INDEX)
            # Negative constants count from the end, as in torch.
            size = self.op(f"tensor.dim {{}}, {{}} : {cap.type.tensor_type}",
                           (cap, self.const(dim, INDEX)), INDEX,
                           f"size({dim})")
            return self.op("arith.addi {}, {} : index",
                           (size, self.const(i, INDEX)), INDEX,
                           f"size({dim}) - {-i}")
        raise self.error(f"unsupported index {_short(repr(i), 40)}: index "
                         f"captured tensors with integers and traced "
                         f"integer values, one per dimension (no slices, "
                         f"None, ..., bool or tensor indices)", IndexError)

    # Finishing --------------------------------------------------------------
    def finish(self, result):
        kind = self.kind
        if isinstance(result, Value) and result is self.args[0]:
            return Region(kind, "", (), True), []  # score unchanged
        try:
            value = self.operand(result)
        except TypeError:
            value = None
            what = type(result).__name__
        else:
            what = (f"{_a(value._type)} value ({value._expr})"
                    if isinstance(value, Value) else
                    f"the {type(value).__name__} {value!r}")
        t = _type_of(value) if value is not None else None
        if kind == "score_mod":
            if t == I1:
                raise self.error(
                    f"returned {what}; score_mod returns the modified score "
                    f"(a float). To hide pairs, return a mask from a "
                    f"mask_mod or torch.where(cond, score, -float('inf'))")
            if t is None:
                raise self.error(f"must return the modified score (a float "
                                 f"value), got {what}")
            return self._region(self.cast(value, F32), F32)
        if t != I1:
            raise self.error(f"must return a boolean (e.g. q_idx >= kv_idx; "
                             f"True keeps the pair), got {what}")
        if value is True:
            return Region(kind, "", (), True), []  # keeps every pair
        return self._region(self.cast(value, I1), I1)

    def _region(self, value, yield_type):
        # Dead-code elimination from the yield, then dense renumbering.
        live = {value._name}
        for name, _, operands, _ in reversed(self.ops):
            if name in live:
                live.update(o._name for o in operands)
        names = {a._name: a._name for a in self.args}
        cap_order = []
        lines = []
        for name, template, operands, _ in self.ops:
            if name not in live:
                continue
            parts = []
            for o in operands:
                if isinstance(o, _Capture):
                    if o._name not in names:
                        names[o._name] = f"%cap{len(cap_order)}"
                        cap_order.append(o.index)
                parts.append(names[o._name])
            names[name] = f"%{len(lines)}"
            lines.append(f"{names[name]} = {template.format(*parts)}")
        lines.append(f"fa.yield {names[value._name]} : {yield_type}")
        captures = tuple(self._capture_objects[i].type for i in cap_order)
        arrays = [self.captures[i] for i in cap_order]
        return Region(self.kind, "\n".join(lines), captures, False), arrays


_TYPE_WORDS = {F32: "float (f32)", INDEX: "integer (index)",
               I1: "boolean (i1)", "i64": "i64"}


def _a(type_):
    word = _TYPE_WORDS[type_]
    return ("an " if word[0] in "aeiou" else "a ") + word


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


def _arith(t, op, a, b):
    a, b = t.operand(a), t.operand(b)
    rt = F32 if op == "/" else _promote(a, b)
    if rt == I1:
        rt = INDEX  # bool arithmetic counts in integers
    if op in ("//", "%") and rt == INDEX and not isinstance(b, Value) \
            and int(b) == 0:
        raise t.error(f"integer {op} by zero", ZeroDivisionError)
    expr = f"({_expr(a)} {op} {_expr(b)})"
    ca, cb = t.cast(a, rt), t.cast(b, rt)
    if op in ("+", "-", "*", "/"):
        # Float +, - and * may contract into FMAs (with the score's scale
        # too), as Triton, and so FlexAttention, does by default.
        flags = " fastmath<contract>" if rt == F32 and op != "/" else ""
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
            return _unary_math(t, "trunc", _arith(t, "/", a, b))
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


# ---------------------------------------------------------------------------
# Tracing a function


def _check_arity(fn, kind, n):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins, some callables: the call itself will tell
    try:
        sig.bind(*range(n))
    except TypeError:
        names = ", ".join(SCORE_ARGS if kind == "score_mod" else MASK_ARGS)
        raise TypeError(
            f"{kind} must take {n} positional arguments ({names}), as in "
            f"FlexAttention; {_fn_name(fn)}{sig} does not") from None


def _fn_name(fn):
    return getattr(fn, "__qualname__", None) or getattr(
        fn, "__name__", None) or type(fn).__name__


def trace(fn, kind, adapter=None):
    """Traces `fn` ("score_mod" or "mask_mod"). Returns (Region, the
    captured arrays in the region's capture order, the tracer)."""
    if kind not in ("score_mod", "mask_mod"):
        raise ValueError(f"kind must be score_mod or mask_mod, got {kind!r}")
    if not callable(fn):
        raise TypeError(f"{kind} must be callable, got "
                        f"{type(fn).__name__}")
    adapter = adapter or ArrayAdapter()
    names = SCORE_ARGS if kind == "score_mod" else MASK_ARGS
    _check_arity(fn, kind, len(names))
    t = Tracer(kind, _fn_name(fn), adapter)
    t.args = [Value(t, f"%{n}", F32 if n == "score" else INDEX, n)
              for n in names]
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    stack.append(t)
    try:
        with adapter.tracing(t):
            result = fn(*t.args)
    finally:
        stack.pop()
    region, arrays = t.finish(result)
    return region, arrays, t


def block_header(kind, capture_types):
    caps = "".join(f", %cap{i}: {c}" for i, c in enumerate(capture_types))
    args = ("%score: f32, " if kind == "score_mod" else "") + \
        "%b: index, %h: index, %q_idx: index, %kv_idx: index"
    return f"^bb0({args}{caps}):"


_CAP_NAME = re.compile(r"%cap(\d+)\b")


def render(region, mapping, capture_types):
    """The region text (block header, ops, yield; ops indented by two) for
    AttentionSpec: `mapping[i]` is the global capture number of the region's
    capture i, `capture_types` the tensor types of all captures."""
    body = region.body
    if any(i != j for i, j in enumerate(mapping)):
        body = _CAP_NAME.sub(lambda m: f"%cap{mapping[int(m.group(1))]}",
                             body)
    return block_header(region.kind, capture_types) + "\n" + "\n".join(
        "  " + line for line in body.split("\n"))


def combine(score, mask):
    """TracedMods from (Region, arrays) pairs (None for an absent or
    identity function). Captures: the score_mod's in order of first use,
    then the mask_mod's new ones; one array used twice is one capture."""
    arrays, types, position = [], [], {}
    maps = []
    for part in (score, mask):
        if part is None:
            maps.append(None)
            continue
        region, objs = part
        m = []
        for ctype, obj in zip(region.captures, objs):
            j = position.get(id(obj))
            if j is None:
                j = position[id(obj)] = len(arrays)
                arrays.append(obj)
                types.append(ctype.tensor_type)
            m.append(j)
        maps.append(tuple(m))
    texts = [None if p is None else render(p[0], m, types)
             for p, m in zip((score, mask), maps)]
    return TracedMods(texts[0], texts[1], tuple(types), tuple(arrays))



def trace_mods(score_mod=None, mask_mod=None, adapter=None):
    """TracedMods of `score_mod` and `mask_mod`, traced now (no cache)."""
    parts = []
    for fn, kind in ((score_mod, "score_mod"), (mask_mod, "mask_mod")):
        if fn is None:
            parts.append(None)
            continue
        region, arrays, _ = trace(fn, kind, adapter)
        parts.append(None if region.identity else (region, arrays))
    return combine(*parts)
