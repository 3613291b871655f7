"""score_mod/mask_mod end to end on the Python side, without compiler or
GPU: trace with fa_mlir.torch.trace_mods, build the AttentionSpec the
launcher builds, and run the regions' text with the captures in
kernel-argument order through emulate.py; compare with the independent
reference of mods_cases.py (same cases as test_mods_gpu.py, on CPU tensors).
Needs torch (skipped without it); no CUDA."""

import math

import pytest

torch = pytest.importorskip("torch")

import fa_mlir.torch as fat  # noqa: E402
from fa_mlir import AttentionSpec, mods  # noqa: E402

import emulate  # noqa: E402
from mods_cases import assert_close, inputs, library_cases  # noqa: E402

CPU = "cpu"
SHAPES = [(1, 1, 1, 1, 1), (2, 4, 4, 17, 17), (1, 8, 2, 40, 70),
          (1, 8, 1, 70, 40), (1, 2, 2, 1, 90)]


def launch(q, k, v, causal=None, score_mod=None, mask_mod=None, lse=True):
    """What fa_mlir.torch.attention does, with the emulator as kernel."""
    m = fat.trace_mods(score_mod, mask_mod)
    spec = AttentionSpec(dtype={torch.float16: "f16",
                                torch.bfloat16: "bf16"}[q.dtype],
                         head_dim=q.shape[-1], causal=causal, lse=lse,
                         score_mod=m.score_mod, mask_mod=m.mask_mod,
                         captures=m.capture_types)
    return emulate.run(spec, q, k, v, m.captures)


def run_case(shape, causal, score_mod=None, mask_mod=None, score_fn=None,
             mask_fn=None, d=64, dtype=torch.bfloat16):
    b, hq, hkv, nq, nk = shape
    q, k, v = inputs(b, hq, hkv, nq, nk, d, dtype, device=CPU)
    out, lse = launch(q, k, v, causal, score_mod, mask_mod)
    assert_close(out, lse, q, k, v, 1 / math.sqrt(d), score_fn, mask_fn,
                 causal)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [None, "top_left", "bottom_right"])
@pytest.mark.parametrize("name", sorted(library_cases(SHAPES[1], CPU)))
def test_library_mods(name, causal, shape):
    if shape[3] != shape[4] and ("document" in name):
        pytest.skip("document ids describe one sequence")
    run_case(shape, causal, **library_cases(shape, CPU)[name])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16,
                                   torch.bfloat16, torch.float64, torch.int8,
                                   torch.uint8, torch.int16, torch.int32,
                                   torch.int64])
def test_capture_dtypes_in_argument_order(dtype):
    n = 33
    g = torch.Generator().manual_seed(1)
    if dtype.is_floating_point:
        table = torch.randn(n, n, generator=g).to(dtype)
        ref = table.double()
    else:
        lo = 0 if dtype == torch.uint8 else -100
        table = torch.randint(lo, 100, (n, n), generator=g).to(dtype)
        ref = table.double() / 50
    slopes = torch.rand(2, generator=g)
    allowed = torch.rand(n, n, generator=g) < 0.5
    allowed[:, 0] = True

    def score(s, b, h, q_idx, kv_idx):
        x = table[q_idx, kv_idx]
        x = x if dtype.is_floating_point else x / 50
        return s + x + slopes[h]

    def mask(b, h, q_idx, kv_idx):
        return allowed[q_idx, kv_idx] | (slopes[h] > 2)

    run_case((1, 2, 2, n, n), None, score, mask,
             lambda s, b, h, i, j: s + ref[i, j] + slopes.double()[h],
             lambda b, h, i, j: allowed[i, j])
    m = fat.trace_mods(score, mask)
    assert m.captures == (table, slopes, allowed)


def test_noncontiguous_and_zero_dim_captures():
    n = 50
    big = torch.randn(8)
    slopes = big[1::2]
    ids = (torch.arange(n) // 7).to(torch.int16)
    doc = torch.stack([ids, ids.flip(0)]).t().contiguous().t()
    t0 = torch.tensor(0.5)  # CPU 0-d: folded as a constant
    assert not slopes.is_contiguous() and not doc.is_contiguous()

    def score(s, b, h, q_idx, kv_idx):
        return s * t0 + slopes[h] * (kv_idx - q_idx) * 0.1

    def mask(b, h, q_idx, kv_idx):
        return doc[b, q_idx] == doc[b, kv_idx]

    run_case((2, 4, 4, n, n), "top_left", score, mask,
             lambda s, b, h, i, j: s * 0.5 + slopes.double()[h] * (j - i) *
             0.1, lambda b, h, i, j: doc[b, i] == doc[b, j])


def test_fully_masked_rows_and_minus_inf_scores():
    def score(s, b, h, q_idx, kv_idx):
        return torch.where(q_idx < 3, -float("inf"), s)

    def mask(b, h, q_idx, kv_idx):
        return (q_idx % 4 != 1) & (kv_idx <= q_idx)

    q, k, v = inputs(1, 2, 2, 20, 20, 64, torch.float16, device=CPU)
    out, lse = launch(q, k, v, None, score, mask)
    dead = torch.tensor([i < 3 or i % 4 == 1 for i in range(20)])
    assert (out[:, :, dead] == 0).all() and torch.isneginf(lse[:, :, dead]).all()
    assert torch.isfinite(lse[:, :, ~dead]).all()
    assert_close(out, lse, q, k, v, 1 / 8,
                 lambda s, b, h, i, j: s.masked_fill(i < 3, float("-inf")),
                 lambda b, h, i, j: (i % 4 != 1) & (j <= i))


@pytest.mark.parametrize("group", [1, 4, 8])
def test_h_is_the_query_head(group):
    w = torch.linspace(-1, 1, 8)
    run_case((1, 8, 8 // group, 30, 45), "bottom_right",
             lambda s, b, h, q_idx, kv_idx: s * (1 + w[h]),
             lambda b, h, q_idx, kv_idx: (h % 3 == 0) | (kv_idx != q_idx),
             lambda s, b, h, i, j: s * (1 + w.double()[h]),
             lambda b, h, i, j: (h % 3 == 0) | (j != i))


def test_same_function_as_python_numbers_and_torch():
    # mods work on torch tensors too (FlexAttention-compatible).
    s = torch.tensor(3.0)
    i, j = torch.tensor(10), torch.tensor(4)
    assert mods.softcap(2.0)(s, 0, 0, i, j).item() == pytest.approx(
        2 * math.tanh(1.5))
    assert bool(mods.sliding_window(6)(0, 0, i, j)) is False
    assert bool(mods.sliding_window(7)(0, 0, i, j)) is True
