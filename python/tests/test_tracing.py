"""CPU tests of score_mod/mask_mod tracing (fa_mlir.tracing, fa_mlir.mods)
without torch: the region text, its meaning (evaluated by region_eval on
numpy), captures and the error messages. Arrays are numpy-backed
stand-ins for captured tensors (FakeTensor). The trace cache is tested in
test_trace_cache.py."""

import itertools
import math

import numpy as np
import pytest

from fa_mlir import mods, tracing
from fa_mlir.tracing import CaptureType

import region_eval

_ELEMENT = {np.dtype(np.float32): ("f32", False),
            np.dtype(np.float16): ("f16", False),
            np.dtype(np.float64): ("f64", False),
            np.dtype(np.int8): ("i8", False), np.dtype(np.uint8): ("i8", True),
            np.dtype(np.int16): ("i16", False),
            np.dtype(np.int32): ("i32", False),
            np.dtype(np.int64): ("i64", False),
            np.dtype(np.bool_): ("i1", True)}


class FakeTensor:
    """A numpy array standing in for a captured torch tensor: indexing it
    while tracing captures it; outside, it indexes the data."""

    def __init__(self, data, element=None):
        self.data = np.asarray(data)
        self.element = element  # e.g. "bf16" for data kept as float32

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def shape(self):
        t = tracing.current_tracer()
        if t is not None:
            t.queried[id(self)] = self
        return self.data.shape

    def item(self):
        t = tracing.current_tracer()
        if t is not None:
            t.impure = True
        return self.data.item()

    def __getitem__(self, index):
        t = tracing.current_tracer()
        if t is not None:
            return t.extract(self, index)
        return self.data[index]


class FakeArrays(tracing.ArrayAdapter):
    def is_array(self, obj):
        return isinstance(obj, FakeTensor)

    def capture_type(self, array):
        if not isinstance(array, FakeTensor):
            raise TypeError("not a FakeTensor")
        if array.element:
            return CaptureType(array.element, array.ndim, False)
        if array.data.dtype not in _ELEMENT:
            raise TypeError(f"captured tensor of dtype {array.data.dtype} is "
                            f"not supported")
        element, unsigned = _ELEMENT[array.data.dtype]
        return CaptureType(element, array.ndim, unsigned)

    def array_key(self, array):
        return array.data.dtype.str, array.element, array.ndim

    def array_meta(self, array):
        return array.data.shape


ARRAYS = FakeArrays()


def traced(score_mod=None, mask_mod=None):
    return tracing.trace_mods(score_mod, mask_mod, ARRAYS)


def score_text(fn):
    return traced(score_mod=fn).score_mod


def mask_text(fn):
    return traced(mask_mod=fn).mask_mod


def body(region):
    return region.split("\n", 1)[1]


def run_score(text, score, b, h, q, kv, captures=()):
    return region_eval.evaluate(text, (score, b, h, q, kv),
                                [c.data for c in captures])


def run_mask(text, b, h, q, kv, captures=()):
    return region_eval.evaluate(text, (b, h, q, kv),
                                [c.data for c in captures])


# ---------------------------------------------------------------------------
# The texts the compiler sees (docs/ProgrammableAttention.md)

SOFTCAP = """\
^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
  %0 = arith.constant 30.0 : f32
  %1 = arith.divf %score, %0 : f32
  %2 = math.tanh %1 : f32
  %3 = arith.mulf %0, %2 fastmath<contract> : f32
  fa.yield %3 : f32"""

ALIBI = """\
^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index, \
%cap0: tensor<?xf32>):
  %0 = tensor.extract %cap0[%h] : tensor<?xf32>
  %1 = arith.subi %kv_idx, %q_idx : index
  %2 = arith.index_cast %1 : index to i64
  %3 = arith.sitofp %2 : i64 to f32
  %4 = arith.mulf %0, %3 fastmath<contract> : f32
  %5 = arith.addf %score, %4 fastmath<contract> : f32
  fa.yield %5 : f32"""

DOCUMENT = """\
^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index, \
%cap0: tensor<?x?xi32>):
  %0 = tensor.extract %cap0[%b, %q_idx] : tensor<?x?xi32>
  %1 = arith.index_cast %0 : i32 to index
  %2 = tensor.extract %cap0[%b, %kv_idx] : tensor<?x?xi32>
  %3 = arith.index_cast %2 : i32 to index
  %4 = arith.cmpi eq, %1, %3 : index
  fa.yield %4 : i1"""


SOFTCAP_LIBRARY = """\
^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
  %0 = arith.constant 0.03333333507180214 : f32
  %1 = arith.mulf %score, %0 fastmath<contract> : f32
  %2 = math.tanh %1 fastmath<afn> : f32
  %3 = arith.constant 30.0 : f32
  %4 = arith.mulf %3, %2 fastmath<contract> : f32
  fa.yield %4 : f32"""


def test_softcap_text():
    # FlexAttention's docs' softcap, traced as written: exact division and
    # tanh.
    assert score_text(lambda s, b, h, q, kv: 30 * (s / 30).tanh()) == SOFTCAP
    # The library's: a multiplication by 1 / cap and the hardware tanh
    # (tracing.tanh_approx), as FlashAttention-3; approx=False keeps tanh
    # accurate.
    assert score_text(mods.softcap(30)) == SOFTCAP_LIBRARY
    exact = score_text(mods.softcap(30, approx=False))
    assert "math.tanh %2 : f32" in exact.replace("%1 : f32", "%2 : f32") \
        or "fastmath" not in exact
    assert "arith.mulf %score" in exact


def test_alibi_text_and_capture():
    slopes = FakeTensor(np.float32([0.5, 0.25]))
    m = traced(score_mod=mods.alibi(slopes))
    assert m.score_mod == ALIBI
    assert m.capture_types == ("tensor<?xf32>",)
    assert m.captures == (slopes,)
    assert m.mask_mod is None


def test_document_mask_text():
    doc = FakeTensor(np.int32([[0, 0, 1, 1]]))
    m = traced(mask_mod=mods.document_mask(doc))
    assert m.mask_mod == DOCUMENT
    assert m.captures == (doc,) and m.capture_types == ("tensor<?x?xi32>",)


def test_causal_mask_text():
    assert mask_text(mods.causal) == (
        "^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):\n"
        "  %0 = arith.cmpi sge, %q_idx, %kv_idx : index\n"
        "  fa.yield %0 : i1")


def test_deterministic_and_equal_functions_trace_equal():
    a, b = mods.softcap(20.0), mods.softcap(20)
    assert a is not b
    assert score_text(a) == score_text(b) == score_text(a)
    assert score_text(mods.softcap(21)) != score_text(a)


def test_common_subexpressions_are_computed_once():
    text = score_text(lambda s, b, h, q, kv: s * (q - kv) + s * (q - kv))
    assert body(text).count("arith.subi") == 1
    assert body(text).count("arith.sitofp") == 1
    assert body(text).count("arith.mulf") == 1
    assert body(text).count("arith.constant") == 0


def test_unused_values_and_captures_are_dropped():
    t = FakeTensor(np.float32([1, 2]))
    u = FakeTensor(np.float32([3, 4]))

    def f(s, b, h, q, kv):
        unused = t[h] * 2 + (q - kv)  # noqa: F841
        return s + u[h]

    m = traced(score_mod=f)
    assert m.captures == (u,) and m.capture_types == ("tensor<?xf32>",)
    assert body(m.score_mod) == (
        "  %0 = tensor.extract %cap0[%h] : tensor<?xf32>\n"
        "  %1 = arith.addf %score, %0 fastmath<contract> : f32\n"
        "  fa.yield %1 : f32")


def test_identity_functions_are_left_out():
    m = traced(score_mod=lambda s, b, h, q, kv: s,
               mask_mod=lambda b, h, q, kv: True)
    assert m == (None, None, (), ())
    # A mask that keeps nothing is not an identity.
    assert body(mask_text(lambda b, h, q, kv: False)) == (
        "  %0 = arith.constant false\n  fa.yield %0 : i1")


def test_constants():
    assert tracing.float_literal(30) == "30.0"
    assert tracing.float_literal(1e-5) == "9.999999747378752e-06"
    assert tracing.float_literal(1e20) == "1.0000000200408773e+20"
    assert tracing.float_literal(-0.0) == "-0.0"
    assert tracing.float_literal(float("inf")) == "0x7F800000"
    assert tracing.float_literal(-float("inf")) == "0xFF800000"
    assert tracing.float_literal(float("nan")) == "0x7FC00000"
    assert tracing.float_literal(1e39) == "0x7F800000"  # beyond f32
    text = score_text(lambda s, b, h, q, kv: tracing.where(
        q >= kv, s, -float("inf")))
    assert "arith.constant 0xFF800000 : f32" in text
    for x in (0.1, 1 / 3, 1e-30, 3.4e38, 123456789.0):
        literal = tracing.float_literal(x)
        assert "." in literal.split("e")[0]
        assert np.float32(float(literal)) == np.float32(x)


# ---------------------------------------------------------------------------
# Meaning: the traced region, evaluated, against Python on the same inputs

POINTS = [(s, b, h, q, kv) for s, (b, h), q, kv in itertools.product(
    (-3.5, 0.0, 2.25), ((0, 0), (1, 3)), (0, 1, 7, 64, 129), (0, 5, 64, 200))]

SCORE_FUNCTIONS = [  # operators only: the same code runs on Python numbers
    lambda s, b, h, q, kv: s + q * 0.5 - kv,
    lambda s, b, h, q, kv: s * (kv - q) / 7,
    lambda s, b, h, q, kv: (q - kv) // 3 + (q - kv) % 5 + s,
    lambda s, b, h, q, kv: (kv - q) // -3 + (kv - q) % -5 + s,
    lambda s, b, h, q, kv: s // 1.5 + s % -1.25,
    lambda s, b, h, q, kv: q / (kv + 1) + s,
    lambda s, b, h, q, kv: -s + abs(q - kv) - abs(s),
    lambda s, b, h, q, kv: s ** 2 + s ** 3 - 2 ** -s + (q - kv) ** 2,
    lambda s, b, h, q, kv: s ** -2 + (q + 1) ** 0.5 if s else 0.0,
    lambda s, b, h, q, kv: tracing.where(q >= kv, s, s - 1000.0),
    lambda s, b, h, q, kv: tracing.where((q & 1) == 1, s, q),
    lambda s, b, h, q, kv: tracing.minimum(s, q) + tracing.maximum(kv, 3),
    lambda s, b, h, q, kv: ((q << 2) >> 1) + (q ^ kv) + (q | h) - (~kv) + s,
    lambda s, b, h, q, kv: (q > kv) * s + (q == kv) + (b != h) * 2.0,
    lambda s, b, h, q, kv: 1 - s * h + 10 * b,
]

MASK_FUNCTIONS = [
    lambda b, h, q, kv: q >= kv,
    lambda b, h, q, kv: (q - 64 < kv) & (kv <= q),
    lambda b, h, q, kv: (kv < 5) | ~(q > 7) ^ (b == 1),
    lambda b, h, q, kv: (q // 64) == (kv // 64),
    lambda b, h, q, kv: (q % 3 != 0) & (kv * 2 >= q - 7),
    lambda b, h, q, kv: tracing.where(b == 0, q >= kv, kv < 64),
    lambda b, h, q, kv: (q / 3 > kv / 7) | (h >= 2),
]


def _python(fn, *args):
    try:
        return fn(*args)
    except ZeroDivisionError:
        return math.inf if args[0] >= 0 else -math.inf


@pytest.mark.parametrize("i", range(len(SCORE_FUNCTIONS)))
def test_score_functions_compute_what_python_computes(i):
    fn = SCORE_FUNCTIONS[i]
    if i == 8:  # `if s` does not trace: the traced part alone
        fn = lambda s, b, h, q, kv: s ** -2 + (q + 1) ** 0.5  # noqa: E731
    text = score_text(fn)
    for p in POINTS:
        if i == 8 and p[0] == 0.0:
            continue
        want = _python(fn, *p)
        got = run_score(text, *p)
        assert isinstance(got, np.float32), (text, p)
        assert got == pytest.approx(float(want), rel=1e-5, abs=1e-4), (
            text, p, got, want)


@pytest.mark.parametrize("i", range(len(MASK_FUNCTIONS)))
def test_mask_functions_compute_what_python_computes(i):
    fn = MASK_FUNCTIONS[i]
    text = mask_text(fn)
    for _, b, h, q, kv in POINTS:
        # numpy integers: ~ on their comparisons is a logical not, as in torch
        want = bool(fn(*map(np.int64, (b, h, q, kv))))
        assert run_mask(text, b, h, q, kv) is want, (text, (b, h, q, kv))


def test_floor_division_and_modulo_follow_python_on_negatives():
    text = score_text(lambda s, b, h, q, kv: (q - kv) // 7 * 100 +
                      (q - kv) % 7)
    assert "arith.floordivsi" in text and "arith.remsi" not in text
    for q, kv in itertools.product(range(0, 30, 3), range(0, 30, 4)):
        want = (q - kv) // 7 * 100 + (q - kv) % 7
        assert run_score(text, 0.0, 0, 0, q, kv) == want


def test_float_and_index_mixing():
    # index -> i64 -> f32 when it meets a float; / on integers is a float.
    text = score_text(lambda s, b, h, q, kv: q / 2)
    assert body(text) == (
        "  %0 = arith.index_cast %q_idx : index to i64\n"
        "  %1 = arith.sitofp %0 : i64 to f32\n"
        "  %2 = arith.constant 2.0 : f32\n"
        "  %3 = arith.divf %1, %2 : f32\n"
        "  fa.yield %3 : f32")
    assert run_score(text, 0.0, 0, 0, 5, 0) == 2.5
    # An integer result of score_mod is converted to the float score.
    text = score_text(lambda s, b, h, q, kv: q - kv)
    assert text.endswith("arith.sitofp %1 : i64 to f32\n  fa.yield %2 : f32")
    # bool -> float is 0/1
    assert "arith.uitofp" in score_text(lambda s, b, h, q, kv: s + (q > kv))


def test_methods_trace_like_torch_functions():
    def f(s, b, h, q, kv):
        x = (s.tanh() + s.exp().log() + s.abs().sqrt() + s.abs().rsqrt()
             + s.sin() * s.cos() + s.exp2() - s.sigmoid())
        return x.clamp(-10, 10) + s.floor() + s.ceil() + (q - kv).clamp(
            min=-4).float() + s.clamp(max=1.0).log2() + s.round()
    text = score_text(f)
    for op in ("math.tanh", "math.exp", "math.log", "math.sqrt", "math.rsqrt",
               "math.sin", "math.cos", "math.exp2", "math.floor",
               "math.ceil", "math.log2", "math.roundeven", "math.absf",
               "arith.maximumf", "arith.minimumf", "arith.maxsi"):
        assert op in text, op
    # sigmoid is 1 / (1 + exp(-x))
    sig = score_text(lambda s, b, h, q, kv: s.sigmoid())
    assert body(sig) == (
        "  %0 = arith.negf %score : f32\n"
        "  %1 = math.exp %0 : f32\n"
        "  %2 = arith.constant 1.0 : f32\n"
        "  %3 = arith.addf %2, %1 fastmath<contract> : f32\n"
        "  %4 = arith.divf %2, %3 : f32\n"
        "  fa.yield %4 : f32")
    for s in (-3.0, 0.5, 2.0):
        want = 1 / (1 + math.exp(-s))
        assert run_score(sig, s, 0, 0, 0, 0) == pytest.approx(want, 1e-6)
    # torch.floor of an integer is the integer
    assert "math.floor" not in score_text(lambda s, b, h, q, kv: q.floor())


def test_powers():
    assert body(score_text(lambda s, b, h, q, kv: s ** 2)) == (
        "  %0 = arith.mulf %score, %score fastmath<contract> : f32\n  fa.yield %0 : f32")
    assert "math.sqrt" in score_text(lambda s, b, h, q, kv: s ** 0.5)
    assert "math.powf" in score_text(lambda s, b, h, q, kv: s ** 1.7)
    assert "math.powf" in score_text(lambda s, b, h, q, kv: 2.0 ** q)
    assert "arith.muli" in score_text(lambda s, b, h, q, kv: s + q ** 3)
    text = score_text(lambda s, b, h, q, kv: s ** 0)
    assert "arith.constant 1.0 : f32" in text


def test_comparisons_on_floats_use_ordered_predicates_and_une():
    text = mask_text(lambda b, h, q, kv: (q * 0.5 < kv) & (q * 0.5 != kv))
    assert "arith.cmpf olt" in text and "arith.cmpf une" in text


def test_bool_values_compare_unsigned():
    text = mask_text(lambda b, h, q, kv: (q > kv) > (kv > 3))
    assert "arith.cmpi ugt" in text


# ---------------------------------------------------------------------------
# Captures

@pytest.mark.parametrize("dtype, element, widen", [
    (np.float32, "f32", None),
    (np.float16, "f16", "arith.extf %0 : f16 to f32"),
    (np.float64, "f64", "arith.truncf %0 : f64 to f32"),
    (np.int8, "i8", "arith.index_cast %0 : i8 to index"),
    (np.uint8, "i8", "arith.index_castui %0 : i8 to index"),
    (np.int16, "i16", "arith.index_cast %0 : i16 to index"),
    (np.int32, "i32", "arith.index_cast %0 : i32 to index"),
    (np.int64, "i64", "arith.index_cast %0 : i64 to index"),
    (np.bool_, "i1", None),
])
def test_capture_element_types(dtype, element, widen):
    data = np.array([0, 1, 200, 3], dtype=np.uint8).astype(dtype)
    if dtype == np.int8:
        data = np.int8([0, 1, -56, 3])
    t = FakeTensor(data)
    if dtype == np.bool_:
        m = traced(mask_mod=lambda b, h, q, kv: t[kv] & (q >= kv))
        text = m.mask_mod
    else:
        m = traced(score_mod=lambda s, b, h, q, kv: s + t[kv])
        text = m.score_mod
    assert m.capture_types == (f"tensor<?x{element}>",)
    assert f"tensor.extract %cap0[%kv_idx] : tensor<?x{element}>" in text
    if widen:
        assert widen in text
    for kv in range(4):
        if dtype == np.bool_:
            assert run_mask(text, 0, 0, 3, kv, [t]) is bool(data[kv])
        else:
            assert run_score(text, 1.0, 0, 0, 0, kv, [t]) == np.float32(
                1 + data[kv].item())


def test_bf16_capture_is_widened():
    t = FakeTensor(np.float32([1, 2]), element="bf16")
    text = score_text(lambda s, b, h, q, kv: s * t[h])
    assert "arith.extf %0 : bf16 to f32" in text


def test_indexing_forms():
    t = FakeTensor(np.arange(24, dtype=np.int32).reshape(2, 3, 4))
    a = score_text(lambda s, b, h, q, kv: t[b, h, kv] + s)
    assert score_text(lambda s, b, h, q, kv: t[b][h][kv] + s) == a
    assert score_text(lambda s, b, h, q, kv: t[b, h][kv] + s) == a
    assert run_score(a, 0.0, 1, 2, 0, 3, [t]) == 23
    # Integer constants; negative ones count from the end (tensor.dim).
    c = score_text(lambda s, b, h, q, kv: t[1, -1, kv] + s)
    assert "tensor.dim %cap0, %" in c
    assert run_score(c, 0.0, 0, 0, 0, 2, [t]) == t.data[1, -1, 2]
    # A rank-0 tensor
    z = FakeTensor(np.float32(2.5))
    text = score_text(lambda s, b, h, q, kv: s * z[()])
    assert "tensor.extract %cap0[] : tensor<f32>" in text
    assert run_score(text, 2.0, 0, 0, 0, 0, [z]) == 5.0
    # Index arithmetic inside the index
    table = FakeTensor(np.arange(257, dtype=np.float32))
    text = score_text(lambda s, b, h, q, kv: s + table[q - kv + 128])
    assert run_score(text, 0.0, 0, 0, 10, 3, [table]) == 135.0


def test_capture_order_and_sharing():
    slopes = FakeTensor(np.float32([1, 2]))
    doc = FakeTensor(np.int64([[0, 1]]))
    bias = FakeTensor(np.float16([0.5, 0.25]))

    def score(s, b, h, q, kv):
        return s + slopes[h] * bias[kv] + slopes[h]   # slopes twice: once

    def mask(b, h, q, kv):
        return (doc[b, q] == doc[b, kv]) & (slopes[h] > 0)

    m = traced(score, mask)
    assert m.captures == (slopes, bias, doc)
    assert m.capture_types == ("tensor<?xf32>", "tensor<?xf16>",
                               "tensor<?x?xi64>")
    header = ", %cap0: tensor<?xf32>, %cap1: tensor<?xf16>, " \
             "%cap2: tensor<?x?xi64>):"
    assert m.score_mod.split("\n")[0].endswith(header)
    assert m.mask_mod.split("\n")[0].endswith(header)
    assert m.score_mod.count("tensor.extract %cap0[%h]") == 1
    # The mask's own captures are renumbered into the shared list.
    assert "tensor.extract %cap2[%b, %q_idx] : tensor<?x?xi64>" in m.mask_mod
    assert "tensor.extract %cap0[%h] : tensor<?xf32>" in m.mask_mod
    assert run_mask(m.mask_mod, 0, 1, 1, 1, [slopes, bias, doc]) is True
    assert run_mask(m.mask_mod, 0, 1, 0, 1, [slopes, bias, doc]) is False


# ---------------------------------------------------------------------------
# The library (fa_mlir.mods) against formulas written out here

def test_mods_softcap_values():
    text = score_text(mods.softcap(50.0))
    for s in (-200.0, -3.0, 0.0, 49.0, 1e4):
        assert run_score(text, s, 0, 0, 0, 0) == pytest.approx(
            50 * math.tanh(s / 50), abs=1e-5)


def test_mods_alibi_values():
    slopes = np.float32([2 ** -1, 2 ** -4, 2 ** -8])
    t = FakeTensor(slopes)
    text = score_text(mods.alibi(t))
    for h, q, kv in itertools.product(range(3), (0, 9, 100), (0, 9, 100)):
        assert run_score(text, 1.0, 0, h, q, kv, [t]) == pytest.approx(
            1.0 + slopes[h] * (kv - q))


def test_mods_sliding_window_is_huggingface_mistral():
    w = 4
    text = mask_text(mods.sliding_window(w))
    for q, kv in itertools.product(range(12), range(12)):
        assert run_mask(text, 0, 0, q, kv) is (q - w < kv <= q)
    # exactly `window` keys per query, once past the start
    assert sum(run_mask(text, 0, 0, 10, kv) for kv in range(12)) == w


def test_mods_prefix_lm_values():
    text = mask_text(mods.prefix_lm(3))
    lengths = FakeTensor(np.int32([0, 5]))
    per_batch = traced(mask_mod=mods.prefix_lm(lengths)).mask_mod
    for q, kv in itertools.product(range(8), range(8)):
        assert run_mask(text, 0, 0, q, kv) is (kv < 3 or kv <= q)
        for b in range(2):
            want = bool(kv < lengths.data[b] or kv <= q)
            assert run_mask(per_batch, b, 0, q, kv, [lengths]) is want


def test_mods_document_mask_values():
    ids = np.int32([[0, 0, 1, 1, 1, 7], [3, 3, 3, 3, 2, 2]])
    t = FakeTensor(ids)
    text = mask_text(mods.document_mask(t))
    kv_ids = FakeTensor(np.int64([[0, 1, 7], [2, 2, 3]]))
    cross = traced(mask_mod=mods.document_mask(t, kv_ids)).mask_mod
    for b, q, kv in itertools.product(range(2), range(6), range(6)):
        assert run_mask(text, b, 0, q, kv, [t]) is bool(ids[b, q] ==
                                                        ids[b, kv])
        if kv < 3:
            assert run_mask(cross, b, 0, q, kv, [t, kv_ids]) is bool(
                ids[b, q] == kv_ids.data[b, kv])


@pytest.mark.parametrize("per_head", [False, True])
def test_mods_relative_position_bias_values(per_head):
    m = 3
    data = np.arange(2 * (2 * m + 1), dtype=np.float32).reshape(2, -1)
    t = FakeTensor(data if per_head else data[0])
    text = score_text(mods.relative_position_bias(t, m))
    for h, q, kv in itertools.product(range(2), range(9), range(9)):
        d = min(max(kv - q, -m), m) + m
        bias = data[h, d] if per_head else data[0, d]
        assert run_score(text, 0.5, 0, h, q, kv, [t]) == 0.5 + bias


def test_mods_sinks_and_combinators():
    sinks_or_window = mods.or_masks(mods.attention_sinks(2),
                                    mods.sliding_window(3))
    text = mask_text(sinks_or_window)
    both = mask_text(mods.and_masks(mods.causal, mods.prefix_lm(4),
                                    mods.attention_sinks(6)))
    for q, kv in itertools.product(range(10), range(10)):
        assert run_mask(text, 0, 0, q, kv) is (kv < 2 or q - 3 < kv <= q)
        assert run_mask(both, 0, 0, q, kv) is (
            kv <= q and (kv < 4 or kv <= q) and kv < 6)
    assert mods.and_masks()(0, 0, 0, 0) is True
    assert mods.or_masks()(0, 0, 0, 0) is False
    assert traced(mask_mod=mods.and_masks()).mask_mod is None


def test_mods_import_no_torch():
    # Only alibi_slopes imports torch, when called.
    source = open(mods.__file__).read()
    assert "\nimport torch" not in source and "\nfrom torch" not in source


@pytest.mark.parametrize("make, message", [
    (lambda: mods.softcap(0), "cap must be a positive finite number"),
    (lambda: mods.softcap(float("inf")), "positive finite"),
    (lambda: mods.softcap(10 ** 400), "positive finite"),
    (lambda: mods.softcap(30, approx="no"), "approx must be a bool"),
    (lambda: mods.sliding_window(0), "window must be an int >= 1"),
    (lambda: mods.sliding_window(2.5), "window must be an int"),
    (lambda: mods.prefix_lm(-1), "prefix_length must be an int >= 0"),
    (lambda: mods.alibi(FakeTensor(np.zeros((2, 2), np.float32))),
     "slopes must have 1 dimensions"),
    (lambda: mods.document_mask(FakeTensor(np.zeros(3, np.int32))),
     "doc_ids must have 2 dimensions"),
    (lambda: mods.relative_position_bias(
        FakeTensor(np.zeros(5, np.float32)), 3), "2 \\* max_distance \\+ 1"),
    (lambda: mods.alibi([0.5]), "slopes must be a tensor"),
    (lambda: mods.and_masks(3), "and_masks takes mask_mod functions"),
])
def test_mods_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


# ---------------------------------------------------------------------------
# Errors name what is unsupported

@pytest.mark.parametrize("kind, fn, error, message", [
    ("mask", lambda b, h, q, kv: q > 5 if q > 5 else False, TypeError,
     "no Python truth value"),
    ("mask", lambda b, h, q, kv: kv < q < 100, TypeError,
     "chained comparisons"),
    ("mask", lambda b, h, q, kv: (q > kv) and (kv > 0), TypeError,
     "`and`, `or`, `not`"),
    ("mask", lambda b, h, q, kv: min(q, kv) > 0, TypeError,
     "min\\(\\)/max\\(\\)"),
    ("score", lambda s, b, h, q, kv: math.tanh(s), TypeError,
     "cannot convert the traced value score to a Python float"),
    ("score", lambda s, b, h, q, kv: s + [1, 2][h], TypeError,
     "to a Python int"),
    ("score", lambda s, b, h, q, kv: s + range(q)[0], TypeError,
     "to a Python int"),
    ("score", lambda s, b, h, q, kv: q > kv, TypeError,
     "returned a boolean \\(i1\\) value \\(\\(q_idx > kv_idx\\)\\); "
     "score_mod returns the modified score"),
    ("score", lambda s, b, h, q, kv: True, TypeError,
     "returned the bool True; score_mod returns"),
    ("score", lambda s, b, h, q, kv: None, TypeError,
     "must return the modified score .* got NoneType"),
    ("score", lambda s, b, h, q, kv: (s, s), TypeError, "got tuple"),
    ("mask", lambda b, h, q, kv: q - kv, TypeError,
     "must return a boolean .* got an integer \\(index\\) value "
     "\\(\\(q_idx - kv_idx\\)\\)"),
    ("mask", lambda b, h, q, kv: 1, TypeError,
     "must return a boolean .* got the int 1"),
    ("mask", lambda b, h, q, kv: q * 0.5, TypeError,
     "must return a boolean .* float"),
    ("score", lambda s, b, h, q, kv: s + "x", TypeError,
     "unsupported operand 'x' of type str"),
    ("score", lambda s, b, h, q, kv: s + [1], TypeError,
     "unsupported operand \\[1\\] of type list"),
    ("score", lambda s, b, h, q, kv: s & q, TypeError,
     "& needs booleans or integers"),
    ("mask", lambda b, h, q, kv: -(q > kv), TypeError,
     "negation \\(-\\) of the boolean"),
    ("score", lambda s, b, h, q, kv: s + 2 ** q, TypeError,
     "an integer raised to a traced integer power"),
    ("score", lambda s, b, h, q, kv: s + q ** -1, ValueError,
     "negative integer powers"),
    ("score", lambda s, b, h, q, kv: s + q // 0, ZeroDivisionError,
     "integer // by zero"),
    ("score", lambda s, b, h, q, kv: s + q % 0, ZeroDivisionError,
     "integer % by zero"),
    ("score", lambda s, b, h, q, kv: s + (1 << 70) * q, OverflowError,
     "does not fit in 64 bits"),
    ("score", lambda s, b, h, q, kv: s + 10 ** 400, OverflowError,
     "score_mod <lambda>: the integer 1000.* is too large for a float"),
    ("mask", lambda b, h, q, kv: tracing.where(q, True, False), TypeError,
     "where\\(\\) needs a boolean condition"),
    ("score", lambda s, b, h, q, kv: s + len(q), TypeError, "no len"),
    ("score", lambda s, b, h, q, kv: s + list(q)[0], TypeError,
     "cannot be iterated"),
    ("score", lambda s, b, h, q, kv: s.to("float16"), TypeError,
     "to\\(float16\\) is not supported"),
    ("score", lambda s, b, h, q, kv: round(s, 2), TypeError,
     "round\\(x, ndigits\\)"),
    # A set or dict lookup would compare identities: never a silent miss.
    ("mask", lambda b, h, q, kv: q in {0, 1, 2}, TypeError,
     "q_idx cannot be hashed"),
    ("score", lambda s, b, h, q, kv: s + {0: 1.0}.get(h, 0.0), TypeError,
     "h cannot be hashed"),
    ("score", lambda s, b, h, q, kv: s + {0: 1.0}[h], TypeError,
     "cannot be hashed"),
    ("score", lambda s, b, h, q, kv: s + (q << 64), ValueError,
     "shift count 64 .* shifts by 0 to 63"),
    ("score", lambda s, b, h, q, kv: s + (q >> -1), ValueError,
     "shift count -1"),
    ("score", lambda s, b, h, q, kv: s.to("uint8"), TypeError,
     "int32, int16 and int8 wrap around"),
])
def test_unsupported_constructs_raise(kind, fn, error, message):
    with pytest.raises(error, match=message):
        if kind == "score":
            traced(score_mod=fn)
        else:
            traced(mask_mod=fn)


def test_narrowing_integer_conversions_wrap_around():
    # x.to(torch.int32) keeps the low 32 bits, sign-extended, as torch does.
    fn = lambda s, b, h, q, kv: s + (q * 5000000000 + kv).to(  # noqa: E731
        "torch.int32") + (q * 40000).to("int16")
    text = score_text(fn)
    assert "index to i32" in text and "i32 to index" in text
    for q, kv in ((0, 0), (1, 2), (3, 7), (1000, 5)):
        def wrap(x, bits):
            x &= (1 << bits) - 1
            return x - (1 << bits) if x >> (bits - 1) else x
        want = 1.0 + wrap(q * 5000000000 + kv, 32) + wrap(q * 40000, 16)
        assert run_score(text, 1.0, 0, 0, q, kv) == pytest.approx(want)


def test_errors_name_the_function():
    def my_mask(b, h, q, kv):
        if q > kv:
            return True
        return False
    with pytest.raises(TypeError, match="mask_mod .*my_mask: the traced "
                       "value \\(q_idx > kv_idx\\) has no Python truth"):
        traced(mask_mod=my_mask)


@pytest.mark.parametrize("kind, fn", [
    ("score", lambda s, b, h, q: s),
    ("score", lambda b, h, q, kv: b),
    ("mask", lambda b, h, q, kv, extra: b),
    ("mask", lambda b, h: b),
])
def test_wrong_arity_raises(kind, fn):
    what = "5 positional arguments \\(score, b, h, q_idx, kv_idx\\)" \
        if kind == "score" else "4 positional arguments \\(b, h, q_idx, " \
        "kv_idx\\)"
    with pytest.raises(TypeError, match=f"{kind}_mod must take {what}"):
        traced(**{f"{kind}_mod": fn})


def test_flexattention_helpers_trace():
    # torch.nn.attention.flex_attention's and_masks/or_masks start from
    # b.new_ones((), dtype=torch.bool) / b.new_zeros(...).
    def and_mask(b, h, q, kv):
        result = b.new_ones((), dtype="torch.bool")
        for m in (mods.causal, mods.sliding_window(4)):
            result = result & m(b, h, q, kv)
        return result

    def or_mask(b, h, q, kv):
        result = b.new_zeros((), dtype="torch.bool")
        for m in (mods.attention_sinks(2), mods.sliding_window(4)):
            result = result | m(b, h, q, kv)
        return result

    assert mask_text(and_mask) == mask_text(mods.and_masks(
        mods.causal, mods.sliding_window(4)))
    assert mask_text(or_mask) == mask_text(mods.or_masks(
        mods.attention_sinks(2), mods.sliding_window(4)))
    assert traced(mask_mod=lambda b, h, q, kv: b.new_ones(
        (), dtype="torch.bool")).mask_mod is None
    assert "arith.constant 2.5 : f32" in score_text(
        lambda s, b, h, q, kv: s * s.new_full((), 2.5))
    # numpy booleans are booleans
    assert traced(mask_mod=lambda b, h, q, kv: np.bool_(True)).mask_mod \
        is None


def test_flexible_signatures_are_accepted():
    assert traced(score_mod=lambda *args: args[0] * 2).score_mod
    assert traced(mask_mod=lambda b, h, q, kv, extra=1: q >= kv).mask_mod
    with pytest.raises(TypeError, match="score_mod must be callable"):
        traced(score_mod=3)


def test_capture_errors():
    t = FakeTensor(np.float32([[1, 2], [3, 4]]))
    bad = FakeTensor(np.complex64([1]))
    cases = [
        (lambda s, b, h, q, kv: s + t[h, kv, q], IndexError,
         "too many indices \\(3\\) for a captured tensor of rank 2"),
        (lambda s, b, h, q, kv: s + t[h], TypeError,
         "indexes 1 of the 2 dimensions"),
        (lambda s, b, h, q, kv: s + t[h, 0:1], IndexError,
         "unsupported index slice"),
        (lambda s, b, h, q, kv: s + t[h, None], IndexError,
         "unsupported index None"),
        (lambda s, b, h, q, kv: s + t[h, s], TypeError,
         "the float \\(f32\\) value score cannot index a tensor"),
        (lambda s, b, h, q, kv: s + t[h, q > kv], TypeError,
         "boolean \\(i1\\) value .* cannot index"),
        (lambda s, b, h, q, kv: s + t[h, True], IndexError,
         "unsupported index True"),
        (lambda s, b, h, q, kv: s + bad[h], TypeError,
         "dtype complex64 is not supported"),
        (lambda s, b, h, q, kv: s + t, TypeError, "unsupported operand"),
    ]
    for fn, error, message in cases:
        with pytest.raises(error, match=message):
            traced(score_mod=fn)


def test_values_of_two_traces_do_not_mix():
    leaked = []
    traced(score_mod=lambda s, b, h, q, kv: leaked.append(q) or s)
    with pytest.raises(TypeError, match="belongs to another trace"):
        traced(score_mod=lambda s, b, h, q, kv: s + leaked[0])
