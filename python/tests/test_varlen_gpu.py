"""fa_mlir.torch.attention_varlen on a GPU: packed batches of sequences of
different lengths (0 and 1 among them), checked sequence by sequence
against the fp64 reference with the rule of docs/Measurement.md
(test_torch_gpu.py's assert_close); GQA 1/4/8, both alignments, LSE,
strided inputs, score_mod/mask_mod, rows outside every sequence, the
custom op under torch.compile, and bad offsets. Skipped without torch or
CUDA."""

import math

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import fa_mlir.torch as fat  # noqa: E402
from test_torch_gpu import assert_close  # noqa: E402

DEV = "cuda"


def packed(lengths_q, lengths_k, hq, hkv, d, dtype, gap=0, seed=0):
    """Packed q (Tq, Hq, D), k, v (Tk, Hkv, D), the offsets and the
    lengths; `gap` rows before the first and after the last sequence."""
    g = torch.Generator(device=DEV).manual_seed(seed)
    tq, tk = sum(lengths_q) + 2 * gap, sum(lengths_k) + 2 * gap
    q = torch.randn(tq, hq, d, device=DEV, dtype=dtype, generator=g)
    k = torch.randn(tk, hkv, d, device=DEV, dtype=dtype, generator=g)
    v = torch.randn(tk, hkv, d, device=DEV, dtype=dtype, generator=g)

    def offsets(lengths):
        cu = [gap]
        for n in lengths:
            cu.append(cu[-1] + n)
        return torch.tensor(cu, dtype=torch.int32, device=DEV)

    return q, k, v, offsets(lengths_q), offsets(lengths_k)


def check(out, lse, q, k, v, cu_q, cu_k, causal, scale, score_mod=None,
          mask_mod=None):
    """Each sequence against the fixed-length reference (or, with mods,
    against fa_mlir's fixed-length attention of that sequence alone)."""
    cq, ck = cu_q.tolist(), cu_k.tolist()
    for b in range(len(cq) - 1):
        qs = q[cq[b]:cq[b + 1]].transpose(0, 1)[None]
        ks = k[ck[b]:ck[b + 1]].transpose(0, 1)[None]
        vs = v[ck[b]:ck[b + 1]].transpose(0, 1)[None]
        os = out[cq[b]:cq[b + 1]].transpose(0, 1)[None]
        ls = lse[:, cq[b]:cq[b + 1]][None] if lse is not None else None
        if qs.shape[2] == 0:
            continue
        if ks.shape[2] == 0:  # nothing to see: zeros, -inf
            assert (os == 0).all()
            if ls is not None:
                assert torch.isneginf(ls).all()
            continue
        if score_mod is None and mask_mod is None:
            assert_close(os, qs, ks, vs, causal, scale, ls)
        else:
            ref = fat.attention(qs, ks, vs, is_causal=causal is not None,
                                causal_alignment=causal or "top_left",
                                enable_gqa=True, scale=scale,
                                score_mod=score_mod, mask_mod=mask_mod,
                                strategy="mma-sync")
            assert (os.float() - ref.float()).abs().max().item() <= 2e-2


CASES = [  # (lengths_q, lengths_k, Hq, Hkv, D)
    ([1, 0, 300, 129, 17], [1, 5, 300, 77, 0], 8, 2, 128),
    ([5, 1000, 3, 64], [9, 1000, 2000, 64], 4, 4, 64),
    ([4000, 7, 250], [4000, 300, 1], 8, 1, 128),
    ([128, 128, 128, 128], [128, 128, 128, 128], 32, 8, 128),
]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [None, "top_left", "bottom_right"])
@pytest.mark.parametrize("case", CASES)
def test_matches_reference(dtype, causal, case):
    lq, lk, hq, hkv, d = case
    q, k, v, cu_q, cu_k = packed(lq, lk, hq, hkv, d, dtype)
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=causal is not None,
        causal_alignment=causal or "bottom_right", return_lse=True)
    assert out.shape == q.shape and out.dtype == dtype
    assert lse.shape == (hq, q.shape[0]) and lse.dtype == torch.float32
    check(out, lse, q, k, v, cu_q, cu_k, causal, 1 / math.sqrt(d))


@pytest.mark.parametrize("causal", [None, "top_left", "bottom_right"])
@pytest.mark.parametrize("case", CASES[:2])
def test_matches_reference_mma_sync(causal, case):
    """The mma-sync strategy's variable-length kernel (the default is
    hopper-ws on sm_90a)."""
    lq, lk, hq, hkv, d = case
    q, k, v, cu_q, cu_k = packed(lq, lk, hq, hkv, d, torch.bfloat16, gap=3)
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=causal is not None,
        causal_alignment=causal or "bottom_right", return_lse=True,
        _options={"strategy": "mma-sync"})
    check(out, lse, q, k, v, cu_q, cu_k, causal, 1 / math.sqrt(d))


@pytest.mark.parametrize("causal", [None, "bottom_right"])
def test_nan_past_the_sequences(causal):
    """Rows of the packed tensors outside every sequence may hold
    anything: NaN there (read by a sequence's last tiles, whose TMA boxes
    run past it) must not reach any output."""
    lq, lk = [300, 129, 17], [300, 77, 200]
    q, k, v, cu_q, cu_k = packed(lq, lk, 8, 2, 128, torch.bfloat16, gap=5)
    for t in (q, k, v):
        t[:5] = float("nan")
        t[-5:] = float("nan")
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=causal is not None,
        causal_alignment=causal or "bottom_right", return_lse=True)
    check(out, lse, q, k, v, cu_q, cu_k, causal, 1 / math.sqrt(128))
    assert not out[5:-5].isnan().any() and not lse[:, 5:-5].isnan().any()


SHORT_CASES = [  # decode steps and short chunks: packed GQA tiles
    ([1, 0, 1, 17, 64, 3], [4000, 5, 0, 300, 64, 2], 8, 2, 128),
    ([1, 1, 1, 1], [1, 7000, 33, 129], 32, 8, 64),
    ([2, 9, 1], [100, 9, 0], 8, 1, 128),
]


@pytest.mark.parametrize("pack", [None, False])
@pytest.mark.parametrize("causal", [None, "top_left", "bottom_right"])
@pytest.mark.parametrize("case", SHORT_CASES)
def test_short_queries_pack_gqa(case, causal, pack):
    """At most 64 queries a sequence: the grouped heads of a key/value
    head share one tile by default (pack None; _varlen._kernel_options),
    and the result is the same without packing (pack False)."""
    lq, lk, hq, hkv, d = case
    q, k, v, cu_q, cu_k = packed(lq, lk, hq, hkv, d, torch.bfloat16, gap=2)
    options = None if pack is None else {"pack_gqa": pack}
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=causal is not None,
        causal_alignment=causal or "bottom_right", return_lse=True,
        _options=options)
    check(out, lse, q, k, v, cu_q, cu_k, causal, 1 / math.sqrt(d))
    assert (out[:2] == 0).all() and (out[-2:] == 0).all()


def test_short_queries_pack_gqa_with_mods():
    """ALiBi's slopes are per query head: a packed row given the wrong
    head would take another slope."""
    lq, lk = [1, 5, 64, 0, 1], [900, 5, 70, 3, 1]
    q, k, v, cu_q, cu_k = packed(lq, lk, 8, 2, 128, torch.bfloat16)
    slopes = torch.exp2(-torch.arange(1, 9, device=DEV, dtype=torch.float32))

    def alibi(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)

    out = fat.attention_varlen(q, k, v, cu_q, cu_k, 64, 900, causal=True,
                               score_mod=alibi)
    check(out, None, q, k, v, cu_q, cu_k, "bottom_right",
          1 / math.sqrt(128), score_mod=alibi)


def test_gaps_strides_and_a_larger_bound():
    """Rows outside every sequence stay 0 / -inf; q sliced from a fused
    qkv tensor (strided rows); max_seqlen_q above the longest."""
    lq, lk = [33, 0, 70], [40, 9, 70]
    q, k, v, cu_q, cu_k = packed(lq, lk, 4, 2, 128, torch.bfloat16, gap=3)
    qkv = torch.cat([q, torch.zeros_like(q)], dim=1)  # (T, 8, D)
    qs = qkv[:, :4]
    assert not qs.is_contiguous()
    out, lse = fat.attention_varlen(qs, k, v, cu_q, cu_k, 200, 100,
                                    causal=True, return_lse=True)
    check(out, lse, q, k, v, cu_q, cu_k, "bottom_right",
          1 / math.sqrt(128))
    assert (out[:3] == 0).all() and (out[-3:] == 0).all()
    assert torch.isneginf(lse[:, :3]).all() and torch.isneginf(lse[:, -3:]).all()


def test_mods_see_positions_within_the_sequence():
    lq, lk = [50, 1, 200], [80, 10, 200]
    q, k, v, cu_q, cu_k = packed(lq, lk, 8, 2, 128, torch.bfloat16)
    slopes = torch.exp2(-torch.arange(1, 9, device=DEV, dtype=torch.float32))

    def alibi(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)

    def window_mask(b, h, q_idx, kv_idx):
        return q_idx - kv_idx < 32

    out = fat.attention_varlen(q, k, v, cu_q, cu_k, 200, 200, causal=True,
                               score_mod=alibi, mask_mod=window_mask)
    check(out, None, q, k, v, cu_q, cu_k, "bottom_right",
          1 / math.sqrt(128), score_mod=alibi, mask_mod=window_mask)


def test_custom_op_compiles_without_graph_breaks():
    lq, lk = [17, 300], [17, 400]
    q, k, v, cu_q, cu_k = packed(lq, lk, 4, 4, 64, torch.float16)

    def f(q, k, v):
        return fat.attention_varlen(q, k, v, cu_q, cu_k, 300, 400,
                                    causal=True, validate=False) * 2

    compiled = torch.compile(f, fullgraph=True)
    torch.testing.assert_close(compiled(q, k, v), f(q, k, v))


@pytest.mark.parametrize("cu_q, cu_k, max_q, max_k, message", [
    ([0, 5, 3], [0, 5, 10], 5, 5, "non-decreasing"),
    ([0, 5, 10], [0, 5, 99], 5, 94, "past the"),
    ([0, 5, 10], [0, 5, 10], 4, 5, "max_seqlen_q = 4 is below"),
    ([0, 5, 10], [0, 5], 5, 5, "same number of offsets"),
    ([-1, 5, 10], [0, 5, 10], 6, 5, "negative"),
])
def test_bad_offsets_raise_before_the_launch(cu_q, cu_k, max_q, max_k,
                                             message):
    q, k, v, _, _ = packed([5, 5], [5, 5], 2, 2, 64, torch.float16)
    t = lambda x: torch.tensor(x, dtype=torch.int32, device=DEV)
    with pytest.raises(ValueError, match=message):
        fat.attention_varlen(q, k, v, t(cu_q), t(cu_k), max_q, max_k)


def test_bad_arguments_raise():
    q, k, v, cu_q, cu_k = packed([5], [5], 2, 2, 64, torch.float16)
    with pytest.raises(ValueError, match="int32"):
        fat.attention_varlen(q, k, v, cu_q.long(), cu_k, 5, 5)
    with pytest.raises(ValueError, match="packed"):
        fat.attention_varlen(q[None], k, v, cu_q, cu_k, 5, 5)
    with pytest.raises(TypeError, match="max_seqlen_q"):
        fat.attention_varlen(q, k, v, cu_q, cu_k, 5.0, 5)
    with pytest.raises(ValueError, match="share a device"):
        fat.attention_varlen(q, k, v, cu_q.cpu(), cu_k, 5, 5)
