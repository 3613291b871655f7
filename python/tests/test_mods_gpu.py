"""fa_mlir.torch.attention with score_mod / mask_mod on a GPU: every
modification of fa_mlir.mods and hand-written ones (captures of every dtype,
non-contiguous captures, GQA 1/4/8, both causal alignments composed with a
mask_mod, tails N = 1/17/1000, Nq != Nk, fully masked rows) against a plain
torch reference that shares nothing with the tracer: scores from
torch.matmul, the modification written out in torch on index grids,
masked_fill(-inf), softmax, @ v. Tolerance as in test_torch_gpu.py: twice
the error of a low-precision implementation of the same reference.
Skipped without torch or CUDA."""

import math

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import fa_mlir  # noqa: E402
from fa_mlir import mods  # noqa: E402
from fa_mlir.torch import FlashAttention, attention  # noqa: E402

from mods_cases import (assert_close, doc_ids_for, inputs,  # noqa: E402
                        library_cases)

DEV = "cuda"
SHAPES = [  # (B, Hq, Hkv, Nq, Nk): tails, Nq != Nk, GQA groups 1, 4, 8
    (1, 1, 1, 1, 1), (2, 4, 4, 17, 17), (1, 8, 2, 113, 203),
    (1, 8, 1, 1000, 1000), (2, 4, 1, 1000, 17), (1, 2, 2, 1, 1000),
    (1, 4, 4, 300, 129),
]
CAUSAL = [None, "top_left", "bottom_right"]


def run_case(shape, d, dtype, causal, score_mod=None, mask_mod=None,
             score_fn=None, mask_fn=None, seed=0):
    b, hq, hkv, nq, nk = shape
    q, k, v = inputs(b, hq, hkv, nq, nk, d, dtype, seed)
    out, lse = attention(q, k, v, is_causal=causal is not None,
                         causal_alignment=causal or "top_left",
                         enable_gqa=hq != hkv, return_lse=True,
                         score_mod=score_mod, mask_mod=mask_mod)
    assert_close(out, lse, q, k, v, 1 / math.sqrt(d), score_fn, mask_fn,
                 causal)


LIBRARY = sorted(library_cases(SHAPES[1]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", CAUSAL)
@pytest.mark.parametrize("name", LIBRARY)
def test_library_mods_match_reference(name, causal, shape):
    if name == "document_mask" or name.startswith("window_and") or \
            name.startswith("softcap_alibi"):
        if shape[3] != shape[4]:
            pytest.skip("document ids describe one sequence: Nq == Nk")
    case = library_cases(shape)[name]
    run_case(shape, 128, torch.bfloat16, causal, **case)


@pytest.mark.parametrize("name", ["softcap", "alibi", "sliding_window",
                                  "document_mask"])
@pytest.mark.parametrize("d", [64, 256])
def test_library_mods_f16_and_other_head_dims(name, d):
    shape = (2, 4, 2, 257, 257)
    run_case(shape, d, torch.float16, "top_left",
             **library_cases(shape)[name])


def test_alibi_slopes():
    s = mods.alibi_slopes(8)
    assert s.dtype == torch.float32 and s.device.type == "cuda"
    assert torch.allclose(s.cpu(), torch.tensor([2.0 ** -(i + 1)
                                                 for i in range(8)]))
    s12 = mods.alibi_slopes(12, device="cpu")
    base = [2.0 ** (-(i + 1)) for i in range(8)]
    extra = [2.0 ** (-0.5 * (i + 1)) for i in range(16)][0::2][:4]
    assert torch.allclose(s12, torch.tensor(base + extra))


# ---------------------------------------------------------------------------
# Hand-written modifications

@pytest.mark.parametrize("group", [1, 4, 8])
def test_h_is_the_query_head_with_gqa(group):
    hq = 8
    shape = (2, hq, hq // group, 200, 333)
    weights = torch.linspace(-1, 1, hq, device=DEV)

    def score(s, b, h, q_idx, kv_idx):
        return s * (1 + weights[h]) + h * 0.25 - b

    def mask(b, h, q_idx, kv_idx):
        return (h % 2 == 0) | (kv_idx <= q_idx + h)

    run_case(shape, 64, torch.bfloat16, None, score, mask,
             lambda s, b, h, i, j: s * (1 + weights.double()[h]) + h * 0.25
             - b,
             lambda b, h, i, j: (h % 2 == 0) | (j <= i + h))


@pytest.mark.parametrize("causal", ["top_left", "bottom_right"])
@pytest.mark.parametrize("shape", [(1, 4, 4, 100, 300), (1, 4, 2, 300, 100),
                                   (2, 2, 2, 17, 1000)])
def test_causal_alignments_compose_with_mask_mod(causal, shape):
    def mask(b, h, q_idx, kv_idx):
        return (q_idx - kv_idx) % 3 != 1

    run_case(shape, 128, torch.float16, causal, mask_mod=mask,
             mask_fn=lambda b, h, i, j: (i - j) % 3 != 1)


def test_block_diagonal_with_floor_division():
    def mask(b, h, q_idx, kv_idx):
        return q_idx // 64 == kv_idx // 64

    run_case((1, 2, 2, 1000, 1000), 64, torch.bfloat16, None,
             mask_mod=mask, mask_fn=lambda b, h, i, j: i // 64 == j // 64)


def test_fully_masked_rows_give_zeros_and_lse_minus_inf():
    # Every 4th query row keeps nothing; others keep their causal prefix.
    def mask(b, h, q_idx, kv_idx):
        return (q_idx % 4 != 0) & (kv_idx <= q_idx)

    run_case((2, 4, 2, 257, 257), 128, torch.bfloat16, None, mask_mod=mask,
             mask_fn=lambda b, h, i, j: (i % 4 != 0) & (j <= i))
    q, k, v = inputs(1, 2, 2, 64, 64, 64, torch.float16)
    out, lse = attention(q, k, v, return_lse=True, mask_mod=mask)
    assert (out[:, :, ::4] == 0).all()
    assert torch.isneginf(lse[:, :, ::4]).all()
    assert torch.isfinite(lse[:, :, 1::4]).all()


def test_nothing_visible():
    q, k, v = inputs(1, 2, 2, 100, 77, 64, torch.bfloat16)
    out, lse = attention(q, k, v, return_lse=True,
                         mask_mod=lambda b, h, q_idx, kv_idx: kv_idx < 0)
    assert (out == 0).all() and torch.isneginf(lse).all()


def test_minus_inf_scores_from_score_mod_count_as_masked():
    def score(s, b, h, q_idx, kv_idx):
        # rows < 5 see only -inf; elsewhere keys > q are -inf
        return torch.where((q_idx < 5) | (kv_idx > q_idx), -float("inf"), s)

    run_case((1, 2, 2, 129, 129), 64, torch.bfloat16, None, score_mod=score,
             score_fn=lambda s, b, h, i, j: s.masked_fill((i < 5) | (j > i),
                                                          float("-inf")))
    q, k, v = inputs(1, 2, 2, 129, 129, 64, torch.bfloat16)
    out, lse = attention(q, k, v, return_lse=True, score_mod=score)
    assert (out[:, :, :5] == 0).all() and torch.isneginf(lse[:, :, :5]).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16,
                                   torch.bfloat16, torch.float64, torch.int8,
                                   torch.uint8, torch.int16, torch.int32,
                                   torch.int64])
def test_capture_dtypes(dtype):
    n = 150
    g = torch.Generator().manual_seed(1)
    if dtype.is_floating_point:
        table = torch.randn(n, n, generator=g).to(dtype).to(DEV)
        ref_table = table.double()
    else:
        lo = 0 if dtype == torch.uint8 else -100
        table = torch.randint(lo, 100, (n, n), generator=g).to(dtype).to(DEV)
        ref_table = table.double() / 50
    if dtype.is_floating_point:
        def score(s, b, h, q_idx, kv_idx):
            return s + table[q_idx, kv_idx]
    else:
        def score(s, b, h, q_idx, kv_idx):
            return s + table[q_idx, kv_idx] / 50

    run_case((1, 2, 2, n, n), 64, torch.bfloat16, None, score_mod=score,
             score_fn=lambda s, b, h, i, j: s + ref_table[i, j])


def test_bool_capture_as_mask_table():
    n = 140
    g = torch.Generator().manual_seed(2)
    allowed = (torch.rand(n, n, generator=g) < 0.3).to(DEV)
    allowed[:, 0] = True

    def mask(b, h, q_idx, kv_idx):
        return allowed[q_idx, kv_idx]

    run_case((2, 2, 1, n, n), 64, torch.float16, None, mask_mod=mask,
             mask_fn=lambda b, h, i, j: allowed[i, j])


def test_noncontiguous_captures():
    b, hq, n = 2, 4, 300
    big = torch.randn(2 * hq, device=DEV)
    slopes = big[::2]                               # stride 2
    doc_t = doc_ids_for(b, n).t().contiguous()
    doc = doc_t.t()                                 # (B, N) view, strides (1, B)
    table = torch.randn(3, 2 * 40 + 1, device=DEV)[1]  # offset view
    assert not slopes.is_contiguous() and not doc.is_contiguous()

    def score(s, b_, h, q_idx, kv_idx):
        return s + slopes[h] * (kv_idx - q_idx) * 0.01 + table[
            (kv_idx - q_idx).clamp(-40, 40) + 40]

    def mask(b_, h, q_idx, kv_idx):
        return doc[b_, q_idx] == doc[b_, kv_idx]

    run_case((b, hq, hq, n, n), 128, torch.bfloat16, "top_left", score, mask,
             lambda s, b_, h, i, j: s + slopes.double()[h] * (j - i) * 0.01 +
             table.double()[torch.clamp(j - i, -40, 40) + 40],
             lambda b_, h, i, j: doc[b_, i] == doc[b_, j])


def test_zero_dim_capture():
    temperature = torch.tensor(0.5, device=DEV)
    run_case((1, 2, 2, 64, 64), 64, torch.bfloat16, None,
             score_mod=lambda s, b, h, q_idx, kv_idx: s / temperature,
             score_fn=lambda s, b, h, i, j: s / 0.5)


def test_strided_qkv_with_mods():
    b, n, h, d = 2, 150, 4, 64
    base = torch.randn(b, n, 3, h, d, device=DEV, dtype=torch.bfloat16)
    q, k, v = base.permute(2, 0, 3, 1, 4)
    out, lse = attention(q, k, v, return_lse=True,
                         score_mod=mods.softcap(10.0),
                         mask_mod=mods.sliding_window(32))
    assert_close(out, lse, q, k, v, 1 / 8,
                 lambda s, b_, h_, i, j: 10 * torch.tanh(s / 10),
                 lambda b_, h_, i, j: (j > i - 32) & (j <= i))


# ---------------------------------------------------------------------------
# Caching: kernels by source, traces by function, captures read each call

def test_equal_functions_share_a_kernel(tmp_path):
    cache = fa_mlir.KernelCache(str(tmp_path))
    q, k, v = inputs(1, 2, 2, 64, 64, 64, torch.float16)
    attention(q, k, v, score_mod=mods.softcap(30), cache=cache)
    attention(q, k, v, score_mod=mods.softcap(30.0), cache=cache)

    def mine(score, b, h, q_idx, kv_idx):
        return 30 * torch.tanh(score / 30)

    attention(q, k, v, score_mod=mine, cache=cache)
    attention(q, k, v, score_mod=mine, cache=cache)
    # The library's softcap (hardware tanh) and the exact one written out:
    # two kernels, each compiled once.
    assert cache.compilations == 2
    attention(q, k, v, score_mod=mods.softcap(31), cache=cache)
    assert cache.compilations == 3


def test_captured_values_are_read_at_every_call(tmp_path):
    cache = fa_mlir.KernelCache(str(tmp_path))
    q, k, v = inputs(1, 4, 4, 100, 100, 64, torch.bfloat16)
    slopes = torch.rand(4, device=DEV)
    alibi = mods.alibi(slopes)

    def check(out, sl):
        assert_close(out, None, q, k, v, 1 / 8,
                     lambda s, b, h, i, j: s + sl.double()[h] * (j - i))

    check(attention(q, k, v, score_mod=alibi, cache=cache), slopes)
    slopes.mul_(3)                          # in place
    check(attention(q, k, v, score_mod=alibi, cache=cache), slopes)
    other = torch.rand(4, device=DEV) * 2   # a new closure, same types
    check(attention(q, k, v, score_mod=mods.alibi(other), cache=cache),
          other)
    holder = {"slopes": torch.rand(4, device=DEV)}

    def from_dict(s, b, h, q_idx, kv_idx):
        return s + holder["slopes"][h] * (kv_idx - q_idx)

    check(attention(q, k, v, score_mod=from_dict, cache=cache),
          holder["slopes"])
    holder["slopes"] = torch.rand(4, device=DEV)   # rebound: seen
    check(attention(q, k, v, score_mod=from_dict, cache=cache),
          holder["slopes"])
    assert cache.compilations == 1


def test_flash_attention_module_with_mods():
    layer = FlashAttention(is_causal=True, score_mod=mods.softcap(20.0),
                           mask_mod=mods.sliding_window(64))
    assert "score_mod=softcap(20.0, approx=True)" in repr(layer)
    q, k, v = inputs(1, 4, 4, 200, 200, 64, torch.float16)
    out = layer(q, k, v)
    assert_close(out, None, q, k, v, 1 / 8,
                 lambda s, b, h, i, j: 20 * torch.tanh(s / 20),
                 lambda b, h, i, j: (j > i - 64) & (j <= i), "top_left")


def test_empty_queries_with_mods():
    q, k, v = inputs(1, 2, 2, 0, 10, 64, torch.float16)
    out = attention(q, k, v, score_mod=mods.softcap(5.0))
    assert out.shape == q.shape


def test_autotune_with_mods(tmp_path):
    cache = fa_mlir.KernelCache(str(tmp_path))
    q, k, v = inputs(1, 4, 4, 512, 512, 64, torch.bfloat16)
    slopes = mods.alibi_slopes(4)
    out = attention(q, k, v, score_mod=mods.alibi(slopes), autotune=True,
                    cache=cache)
    assert_close(out, None, q, k, v, 1 / 8,
                 lambda s, b, h, i, j: s + slopes.double()[h] * (j - i))


# ---------------------------------------------------------------------------
# Errors

def test_capture_on_cpu_raises():
    q, k, v = inputs(1, 2, 2, 16, 16, 64, torch.float16)
    slopes = torch.rand(2)
    with pytest.raises(ValueError, match="captured tensor 0 \\(torch.float32, "
                       "shape \\(2,\\)\\) is on cpu"):
        attention(q, k, v, score_mod=mods.alibi(slopes))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="one GPU")
def test_capture_on_another_gpu_raises():
    q, k, v = inputs(1, 2, 2, 16, 16, 64, torch.float16)
    slopes = torch.rand(2, device="cuda:1")
    with pytest.raises(ValueError, match="is on cuda:1"):
        attention(q, k, v, score_mod=mods.alibi(slopes))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(score_mod=lambda s, b, h, q, kv: s if q > 3 else -s), TypeError,
     "no Python truth value"),
    (dict(score_mod=lambda s, b, h, q, kv: torch.cumsum(s, 0)), TypeError,
     "cumsum\\(\\) is not supported"),
    (dict(score_mod=lambda s, b, h, q, kv: q > kv), TypeError,
     "returned a boolean"),
    (dict(mask_mod=lambda b, h, q, kv: q - kv), TypeError,
     "must return a boolean"),
    (dict(mask_mod=lambda b, h, q: q > 0), TypeError,
     "mask_mod must take 4 positional arguments"),
    (dict(score_mod=lambda s, b, h, q, kv: s + torch.zeros(
        2, dtype=torch.complex64, device=DEV)[h]), TypeError,
     "dtype torch.complex64"),
])
def test_bad_mods_raise(kwargs, error, message):
    q, k, v = inputs(1, 2, 2, 16, 16, 64, torch.float16)
    with pytest.raises(error, match=message):
        attention(q, k, v, **kwargs)
