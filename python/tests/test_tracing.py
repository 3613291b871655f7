"""CPU tests of score_mod/mask_mod tracing (fa_mlir.tracing) without
torch: the region text, its meaning (evaluated by region_eval on numpy) and
captures. Arrays are numpy-backed stand-ins for captured tensors
(trace_fakes.FakeTensor). The library of fa_mlir.mods is tested in
test_mods_library.py, the error messages in test_tracing_errors.py, the
trace cache in test_trace_cache.py."""

import itertools
import math

import numpy as np
import pytest

from fa_mlir import mods, tracing

from trace_fakes import (FakeTensor, body, mask_text, run_mask, run_score,
                         score_text, traced)


# ---------------------------------------------------------------------------
# The texts the compiler sees (docs/ProgrammableAttention.md)

SOFTCAP = """\
^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
  %0 = arith.constant 30.0 : f32
  %1 = arith.divf %score, %0 fastmath<arcp,afn> : f32
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
    # FlexAttention's docs' softcap, traced as written: a division that may
    # multiply by the reciprocal (as Triton's fp32 /), and exact tanh.
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


def test_division_may_use_the_reciprocal():
    # `/` of a float in a score_mod carries arcp (Triton's fp32 / is
    # div.full.f32); div_rn and floor division stay exact (floor decides an
    # integer; test_tracing_torch has torch.div's rounding modes).
    assert "arith.divf %score, %0 fastmath<arcp,afn>" in score_text(
        lambda s, b, h, q, kv: s / 3)
    exact = score_text(lambda s, b, h, q, kv: tracing.div_rn(s, 3))
    assert "arith.divf %score, %0 : f32" in exact
    assert run_score(exact, 1.0, 0, 0, 0, 0) == pytest.approx(1 / 3)
    floor = score_text(lambda s, b, h, q, kv: s // 3)
    assert "arith.divf" in floor and "arcp" not in floor
    # A quotient of integers, or any in a mask_mod, mostly decides an
    # integer: floor(kv / 41) with 41 * RN(1/41) = 0.99999994 would put
    # key 41 into block 0.
    blocks = mask_text(lambda b, h, q, kv: (q / 41).floor() == (kv / 41).floor())
    assert blocks.count("arith.divf") == 2 and "arcp" not in blocks
    assert run_mask(blocks, 0, 0, 41, 41) and not run_mask(blocks, 0, 0, 41, 40)
    assert "arcp" not in score_text(lambda s, b, h, q, kv: s + (kv - q) / 41)
    assert "arcp" not in mask_text(lambda b, h, q, kv: q * 0.5 / 3 < kv)
    assert tracing.div_rn(1.0, 4.0) == 0.25


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
        "  %4 = arith.divf %2, %3 fastmath<arcp,afn> : f32\n"
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
