"""Tracing FlexAttention-style `score_mod` / `mask_mod` functions into the
regions of `fa.attention` (docs/ProgrammableAttention.md).

    def softcap(score, b, h, q_idx, kv_idx):
        return 30 * torch.tanh(score / 30)

is called once with proxy values (`Value`) in place of its arguments; each
operation on them appends one MLIR op to a region:

    ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
      %0 = arith.constant 30.0 : f32
      %1 = arith.divf %score, %0 fastmath<arcp,afn> : f32
      %2 = math.tanh %1 : f32
      %3 = arith.mulf %0, %2 fastmath<contract> : f32
      fa.yield %3 : f32

(Float +, - and * carry `fastmath<contract>`: like Triton, and so
FlexAttention, the kernel may fuse a product and a sum into one FMA. A
float division in a score_mod carries `fastmath<arcp,afn>`: Triton's fp32 /
is the approximate div.full.f32, and the kernel may multiply by an
approximate reciprocal of the divisor, score / 30 as score * (1/30).
Quotients of integers, divisions in a mask_mod and `div_rn(a, b)` are
correctly rounded.)

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

# The values and operations of a trace live in their own modules; their
# public names are this module's.
from ._trace_values import (  # noqa: F401 (re-exported)
    ELEMENT_TYPES, F32, I1, INDEX, MASK_ARGS, SCORE_ARGS, PartialIndex,
    TracedOverflowError, TracedZeroDivisionError, Value, _Capture, _F32_MAX,
    _INT64, _TYPE_WORDS, _a, _func_name, _short, _state, current_tracer,
    float_literal)
from ._trace_ops import (  # noqa: F401 (re-exported)
    FUNCTIONS, OPERATORS, _type_of, div_rn, maximum, minimum, tanh_approx,
    where)


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
                                 TracedOverflowError) from None
            if math.isfinite(number) and abs(number) > _F32_MAX:
                raise self.error(f"the constant {number!r} is outside f32's "
                                 f"range (its f32 would be infinite)",
                                 TracedOverflowError)
            return self.op(f"arith.constant {float_literal(number)} : f32",
                           (), F32, repr(number))
        if type_ == I1:
            text = "true" if value else "false"
            return self.op(f"arith.constant {text}", (), I1, text)
        value = int(value)
        if not _INT64[0] <= value <= _INT64[1]:
            raise self.error(f"integer constant {value} does not fit in 64 "
                             f"bits", TracedOverflowError)
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
    if adapter is not None and not isinstance(adapter, ArrayAdapter):
        raise TypeError(f"adapter must be an ArrayAdapter, got "
                        f"{type(adapter).__name__}")
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
