"""Tracing with torch (fa_mlir.torch.trace_mods): torch functions, Tensor
methods and indexing of captured torch tensors, the trace cache with real
tensors, and the errors. Needs torch, not CUDA (captures may live anywhere
while tracing; attention() checks their device). Skipped without torch."""

import math

import pytest

torch = pytest.importorskip("torch")

from fa_mlir import mods  # noqa: E402
from fa_mlir.trace_cache import TraceCache  # noqa: E402
import fa_mlir.torch as fat  # noqa: E402
from fa_mlir._torch_trace import CAPTURE_DTYPES, TorchArrays  # noqa: E402

import region_eval  # noqa: E402
from test_tracing import (SOFTCAP, SOFTCAP_LIBRARY, ALIBI,  # noqa: E402
                          DOCUMENT)
from trace_fakes import body  # noqa: E402


def fresh():
    """A private trace cache (counts traces)."""
    return TraceCache(TorchArrays())


def score_text(fn):
    return fresh().trace_mods(score_mod=fn).score_mod


def mask_text(fn):
    return fresh().trace_mods(mask_mod=fn).mask_mod


def evaluate(text, args, captures=()):
    arrays = []
    for c in captures:
        c = c.detach().cpu()
        if c.dtype == torch.bfloat16:
            c = c.float()
        arrays.append(c.numpy())
    return region_eval.evaluate(text, args, arrays)


# ---------------------------------------------------------------------------
# FlexAttention-style functions written with torch

def test_torch_softcap_is_the_docs_text():
    def softcap(score, b, h, q_idx, kv_idx):
        return 30 * torch.tanh(score / 30)
    assert score_text(softcap) == SOFTCAP
    # The library's: a multiplication by 1 / cap and the hardware tanh.
    assert score_text(mods.softcap(30)) == SOFTCAP_LIBRARY


def test_indexing_torch_tensors_captures_them():
    slopes = torch.tensor([0.5, 0.25])
    m = fat.trace_mods(score_mod=lambda s, b, h, q, kv:
                       s + slopes[h] * (kv - q))
    assert m.score_mod == ALIBI and m.captures[0] is slopes
    doc = torch.tensor([[0, 0, 1]], dtype=torch.int32)
    m = fat.trace_mods(mask_mod=lambda b, h, q, kv: doc[b, q] == doc[b, kv])
    assert m.mask_mod == DOCUMENT and m.captures[0] is doc
    assert m.capture_types == ("tensor<?x?xi32>",)


def test_torch_functions_and_methods():
    def f(s, b, h, q, kv):
        x = (torch.tanh(s) + torch.exp(s) + torch.exp2(s) + torch.log(s.abs())
             + torch.log2(torch.abs(s)) + torch.sqrt(s.abs()) + torch.rsqrt(
                 s.abs()) + torch.sin(s) + torch.cos(s) + torch.sigmoid(s)
             + torch.floor(s) + torch.ceil(s) + s.tanh() + s.exp2())
        y = torch.minimum(x, s) + torch.maximum(s, x) + torch.clamp(
            s, min=-1.0, max=2.0) + torch.clamp(q - kv, -3, 3)
        return torch.where(q >= kv, y, torch.full_like(s, -1.0))
    text = score_text(f)
    for op in ("math.tanh", "math.exp", "math.exp2", "math.log", "math.log2",
               "math.sqrt", "math.rsqrt", "math.sin", "math.cos",
               "math.floor", "math.ceil", "math.absf", "arith.minimumf",
               "arith.maximumf", "arith.maxsi", "arith.minsi",
               "arith.select"):
        assert op in text, op
    for s, q, kv in ((0.7, 3, 1), (-2.0, 0, 5)):
        want = f(torch.tensor(s, dtype=torch.float64), 0, 0, torch.tensor(q),
                 torch.tensor(kv)).item()
        got = evaluate(text, (s, 0, 0, q, kv))
        assert got == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_torch_mask_functions():
    def mask(b, h, q, kv):
        return torch.logical_and(q >= kv, torch.logical_not(kv < 2)) | (
            torch.remainder(q, 4) == 0) ^ torch.eq(b, 1)
    text = mask_text(mask)
    for b, q, kv in ((0, 3, 1), (1, 4, 0), (0, 5, 6), (1, 7, 7)):
        want = bool(mask(torch.tensor(b), 0, torch.tensor(q),
                         torch.tensor(kv)))
        assert evaluate(text, (b, 0, q, kv)) is want


def test_capture_dtypes():
    for dtype, element in CAPTURE_DTYPES.items():
        t = torch.zeros(3, 4, dtype=dtype)
        if dtype == torch.bool:
            m = fat.trace_mods(mask_mod=lambda b, h, q, kv: t[q, kv])
        else:
            m = fat.trace_mods(score_mod=lambda s, b, h, q, kv: s + t[q, kv])
        assert m.capture_types == (f"tensor<?x?x{element[0]}>",), dtype
    u8 = torch.tensor([200], dtype=torch.uint8)
    text = score_text(lambda s, b, h, q, kv: s + u8[0 * q])
    assert "arith.index_castui %2 : i8 to index" in text
    assert evaluate(text, (0.0, 0, 0, 0, 0), [u8]) == 200.0


@pytest.mark.parametrize("make, error, message", [
    (lambda: torch.zeros(2, dtype=torch.complex64), TypeError,
     "dtype torch.complex64 .* not supported; captures are float32"),
    (lambda: torch.zeros(2).to_sparse(), TypeError, "must be strided"),
])
def test_unsupported_captures(make, error, message):
    t = make()
    with pytest.raises(error, match=message):
        fat.trace_mods(score_mod=lambda s, b, h, q, kv: s + t[h])


def test_noncontiguous_captures_trace_like_any_other():
    base = torch.arange(12.0).reshape(3, 4)
    view = base.t()[1:]           # strides (1, 4), offset 1
    m = fat.trace_mods(score_mod=lambda s, b, h, q, kv: s + view[h, kv])
    assert m.captures[0] is view and m.capture_types == ("tensor<?x?xf32>",)
    assert evaluate(m.score_mod, (0.0, 0, 1, 0, 2), [view]) == view[1, 2]


def test_same_tensor_in_both_functions_is_one_capture():
    slopes = torch.tensor([1.0, 2.0])
    m = fat.trace_mods(lambda s, b, h, q, kv: s * slopes[h],
                       lambda b, h, q, kv: slopes[h] > q)
    assert m.captures == (slopes,) and len(m.capture_types) == 1


def test_zero_dim_tensors():
    temperature = torch.tensor(2.0)          # a CPU scalar: a constant
    text = score_text(lambda s, b, h, q, kv: s / temperature)
    assert "arith.constant 2.0 : f32" in text
    cache = fresh()
    fn = lambda s, b, h, q, kv: s * torch.tensor(3.0)  # noqa: E731
    cache.trace_mods(fn)
    cache.trace_mods(fn)
    assert cache.traces == 2  # values read from tensors are not reused


def test_tensor_left_operands():
    z = torch.tensor(0.5)
    text = score_text(lambda s, b, h, q, kv: z * s + z)
    assert body(text).count("arith.constant 0.5 : f32") == 1


# ---------------------------------------------------------------------------
# The trace cache with torch tensors

def test_closure_tensor_replaced_reuses_trace_with_new_tensor():
    cache = fresh()
    a, b = torch.rand(4), torch.rand(8)
    ma = cache.trace_mods(mods.alibi(a))
    mb = cache.trace_mods(mods.alibi(b))
    assert cache.traces == 1 and ma.captures[0] is a and mb.captures[0] is b
    c = torch.rand(4, dtype=torch.float16)
    cache.trace_mods(mods.alibi(c))
    assert cache.traces == 2


def test_shape_reads_are_checked():
    cache = fresh()
    doc = torch.zeros(1, 5, dtype=torch.int64)

    def last_token(b, h, q, kv):
        return kv == doc.shape[1] - 1

    assert "arith.constant 4 : index" in cache.trace_mods(
        mask_mod=last_token).mask_mod
    cache.trace_mods(mask_mod=last_token)
    assert cache.traces == 1
    doc = torch.zeros(1, 9, dtype=torch.int64)
    assert "arith.constant 8 : index" in cache.trace_mods(
        mask_mod=last_token).mask_mod


def test_values_read_in_the_function_retrace():
    cache = fresh()
    n = torch.tensor(4)

    def mask(b, h, q, kv):
        return kv < int(n)      # a value from a tensor: into the source

    assert "4 : index" in cache.trace_mods(mask_mod=mask).mask_mod
    n.fill_(6)
    assert "6 : index" in cache.trace_mods(mask_mod=mask).mask_mod
    assert cache.traces == 2


def test_tensors_computed_in_the_function_are_captured_each_call():
    cache = fresh()
    base = torch.arange(4.0)

    def score(s, b, h, q, kv):
        return s + (base * 2)[h]

    m1 = cache.trace_mods(score)
    m2 = cache.trace_mods(score)
    assert cache.traces == 2 and m1.captures[0] is not m2.captures[0]
    assert torch.equal(m2.captures[0], base * 2)


# ---------------------------------------------------------------------------
# Errors

@pytest.mark.parametrize("kind, fn, error, message", [
    ("score", lambda s, b, h, q, kv: torch.cumsum(s, 0), TypeError,
     "cumsum\\(\\) is not supported on traced values"),
    ("score", lambda s, b, h, q, kv: torch.nn.functional.softplus(s),
     TypeError, "softplus\\(\\) is not supported"),
    ("score", lambda s, b, h, q, kv: s + torch.arange(4), TypeError,
     "a tensor of shape \\(4,\\) is used as an operand"),
    ("mask", lambda b, h, q, kv: torch.ones(3)[q] > 0 if q > 2 else True,
     TypeError, "no Python truth value"),
    ("score", lambda s, b, h, q, kv: torch.where(q > kv, s, None),
     TypeError, ""),
    ("mask", lambda b, h, q, kv: torch.where(q, kv > 0, kv < 0), TypeError,
     "needs a boolean condition"),
    ("score", lambda s, b, h, q, kv: s + math.exp(s), TypeError,
     "cannot convert the traced value score to a Python float"),
    ("score", lambda s, b, h, q, kv: torch.ones(4)[q:], TypeError, ""),
])
def test_torch_errors(kind, fn, error, message):
    with pytest.raises(error, match=message or None):
        fat.trace_mods(**{f"{kind}_mod": fn})


def test_attention_rejects_cpu_and_foreign_device_captures():
    # The device check needs no GPU: CPU q is refused first, so test the
    # helper directly.
    t = torch.zeros(2)
    with pytest.raises(ValueError, match="captured tensor 0 .* is on cpu: "
                       "tensors read by score_mod/mask_mod must be CUDA "
                       "tensors on the device of q \\(cuda:0\\)"):
        fat._check_captures((t,), torch.device("cuda", 0))


def test_flex_attention_helpers_from_torch():
    flex = pytest.importorskip("torch.nn.attention.flex_attention")

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    def window(b, h, q_idx, kv_idx):
        return q_idx - kv_idx < 8

    ours = fresh().trace_mods(mask_mod=mods.and_masks(causal, window))
    theirs = fresh().trace_mods(mask_mod=flex.and_masks(causal, window))
    assert theirs.mask_mod == ours.mask_mod
    assert fresh().trace_mods(mask_mod=flex.or_masks(causal, window)) \
        .mask_mod == fresh().trace_mods(
            mask_mod=mods.or_masks(causal, window)).mask_mod
    assert fresh().trace_mods(mask_mod=flex.noop_mask).mask_mod is None


def test_division_rounding_modes():
    # torch.div without a rounding mode may use the reciprocal (arcp, as
    # Triton's fp32 /); with "trunc" or "floor" the division stays
    # correctly rounded, as it decides an integer.
    assert "fastmath<arcp,afn>" in score_text(
        lambda s, b, h, q, kv: torch.div(s, 3))
    for mode in ("trunc", "floor"):
        text = score_text(
            lambda s, b, h, q, kv: torch.div(s, 3, rounding_mode=mode))
        assert "arith.divf" in text and "arcp" not in text
