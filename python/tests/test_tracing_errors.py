"""CPU tests of what score_mod/mask_mod tracing refuses (fa_mlir.tracing)
without torch: every error names what was unsupported."""

import math

import numpy as np
import pytest

from fa_mlir import mods, tracing

from trace_fakes import (FakeTensor, mask_text, run_score, score_text, traced)


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
    ("score", lambda s, b, h, q, kv: s.softmax(-1), TypeError,
     "score_mod <lambda>: the traced value score is a scalar and has no "
     "attribute or method 'softmax'"),
    ("score", lambda s, b, h, q, kv: s + s.shape[0], TypeError,
     "no attribute or method 'shape'"),
    ("score", lambda s, b, h, q, kv: s[0], TypeError,
     "the traced value score is a scalar: it cannot be indexed"),
    ("mask", lambda b, h, q, kv: q(1) > kv, TypeError,
     "the traced value q_idx is a scalar: it cannot be called"),
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
    # Each of those is a ValueError too, as every bad argument of fa_mlir.
    ("score", lambda s, b, h, q, kv: s + q // 0, ValueError,
     "integer // by zero"),
    ("score", lambda s, b, h, q, kv: s + (1 << 70) * q, ValueError,
     "does not fit in 64 bits"),
    # A finite float whose f32 is infinite.
    ("score", lambda s, b, h, q, kv: s * 1e39, ValueError,
     "the constant 1e\\+39 is outside f32's range"),
    ("score", lambda s, b, h, q, kv: s - 3.5e38, OverflowError,
     "outside f32's range"),
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


def test_attribute_probes_of_a_traced_value_answer_false():
    # hasattr() (as libraries probe) sees an AttributeError, not a failure.
    seen = []

    def score_mod(s, b, h, q, kv):
        seen.append((hasattr(s, "dtype"), hasattr(s, "tanh")))
        return s

    tracing.trace(score_mod, "score_mod")
    assert seen == [(False, True)]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(adapter="x"), TypeError, "adapter must be an ArrayAdapter, got str"),
])
def test_trace_checks_its_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        tracing.trace(lambda s, b, h, q, kv: s, "score_mod", **kwargs)
