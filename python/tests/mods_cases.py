"""Shared by the GPU tests of score_mod/mask_mod and their emulated twin:
a plain torch reference that shares nothing with the tracer (scores from
torch.matmul, the modification written out in torch on index grids,
masked_fill(-inf), softmax, @ v), the tolerance rule of test_torch_gpu.py
(twice the error of a low-precision implementation), and the fa_mlir.mods
cases with their formulas. Imported only where torch is available."""

import torch

from fa_mlir import mods


# ---------------------------------------------------------------------------
# The reference

def grids(b, hq, nq, nk, device):
    """Broadcastable (b, h, i, j) index grids, int64."""
    return (torch.arange(b, device=device)[:, None, None, None],
            torch.arange(hq, device=device)[None, :, None, None],
            torch.arange(nq, device=device)[None, None, :, None],
            torch.arange(nk, device=device)[None, None, None, :])


def reference(q, k, v, scale, score_fn=None, mask_fn=None, causal=None,
              precise=True):
    """(out, lse, empty rows). precise: float64 throughout; else what a
    plain low-precision implementation does (matmuls in the input dtype,
    the modification and softmax in float32)."""
    b, hq, nq, _ = q.shape
    group = hq // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    nk = k.shape[2]
    if precise:
        s = torch.matmul(q.double(), k.double().transpose(-1, -2)) * scale
    else:
        s = torch.matmul(q, k.transpose(-1, -2)).float() * scale
    bi, hi, i, j = grids(b, hq, nq, nk, q.device)
    if score_fn is not None:
        s = score_fn(s, bi, hi, i, j)
    keep = torch.ones(s.shape, dtype=torch.bool, device=s.device)
    if mask_fn is not None:
        keep = keep & mask_fn(bi, hi, i, j)
    if causal:
        shift = 0 if causal == "top_left" else nk - nq
        keep = keep & (j <= i + shift)
    s = s.masked_fill(~keep, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    empty = torch.isneginf(lse)
    p = torch.softmax(s.masked_fill(empty[..., None], 0.0), dim=-1)
    if precise:
        out = p @ v.double()
    else:
        out = (p.to(v.dtype) @ v).double()
    out = out.masked_fill(empty[..., None], 0.0)
    return out, lse, empty


def assert_close(out, lse, q, k, v, scale, score_fn=None, mask_fn=None,
                 causal=None):
    ref, ref_lse, empty = reference(q, k, v, scale, score_fn, mask_fn,
                                    causal)
    base, _, _ = reference(q, k, v, scale, score_fn, mask_fn, causal,
                           precise=False)
    assert out.shape == q.shape and out.dtype == q.dtype
    assert not torch.isnan(out).any()
    err = (out.double() - ref).abs().max().item()
    bound = 2 * (base - ref).abs().max().item() + 1e-5
    assert err <= bound, f"max error {err} > bound {bound}"
    assert (out[empty] == 0).all(), "rows that keep no key must be 0"
    if lse is not None:
        finite = ~empty
        tol = 1e-3 + 1e-4 * ref_lse[finite].abs()
        assert ((lse[finite].double() - ref_lse[finite]).abs() <= tol).all()
        assert torch.isneginf(lse[empty]).all(), "empty rows: LSE -inf"


def inputs(b, hq, hkv, nq, nk, d, dtype, seed=0, device="cuda"):
    g = torch.Generator(device=device).manual_seed(seed)
    q = torch.randn(b, hq, nq, d, device=device, dtype=dtype, generator=g)
    k = torch.randn(b, hkv, nk, d, device=device, dtype=dtype, generator=g)
    v = torch.randn(b, hkv, nk, d, device=device, dtype=dtype, generator=g)
    return q, k, v


# ---------------------------------------------------------------------------
# The library, each against its formula written out here

def doc_ids_for(b, n, seed=0, device="cuda"):
    """Packed documents of random lengths: (B, N) int32, non-decreasing."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max(2, n // 3), (b, n), generator=g)
    return (torch.cumsum(lengths, 1) // max(1, n // 4)).to(torch.int32).to(
        device)


def library_cases(shape, device="cuda"):
    """name -> dict(score_mod/mask_mod: the fa_mlir.mods function,
    score_fn/mask_fn: its formula in torch on index grids)."""
    b, hq, _, nq, nk = shape
    n = max(nq, nk)
    g = torch.Generator().manual_seed(3)
    slopes = mods.alibi_slopes(hq, device=device)
    table = torch.randn(2 * 64 + 1, generator=g).to(device)
    head_table = torch.randn(hq, 2 * 16 + 1, generator=g).to(device)
    doc = doc_ids_for(b, n, device=device)
    prefix = torch.randint(0, n + 1, (b,), generator=g).to(device)
    return {
        "softcap": dict(
            score_mod=mods.softcap(20.0),
            score_fn=lambda s, b_, h, i, j: 20.0 * torch.tanh(s / 20.0)),
        "alibi": dict(
            score_mod=mods.alibi(slopes),
            score_fn=lambda s, b_, h, i, j: s + slopes.double()[h] * (j - i)),
        "relative_position_bias": dict(
            score_mod=mods.relative_position_bias(table, 64),
            score_fn=lambda s, b_, h, i, j: s + table.double()[
                torch.clamp(j - i, -64, 64) + 64]),
        "relative_position_bias_per_head": dict(
            score_mod=mods.relative_position_bias(head_table, 16),
            score_fn=lambda s, b_, h, i, j: s + head_table.double()[
                h, torch.clamp(j - i, -16, 16) + 16]),
        "sliding_window": dict(
            mask_mod=mods.sliding_window(48),
            mask_fn=lambda b_, h, i, j: (j > i - 48) & (j <= i)),
        "causal": dict(mask_mod=mods.causal,
                       mask_fn=lambda b_, h, i, j: j <= i),
        "prefix_lm": dict(
            mask_mod=mods.prefix_lm(10),
            mask_fn=lambda b_, h, i, j: (j < 10) | (j <= i)),
        "prefix_lm_per_batch": dict(
            mask_mod=mods.prefix_lm(prefix),
            mask_fn=lambda b_, h, i, j: (j < prefix[b_]) | (j <= i)),
        "document_mask": dict(
            mask_mod=mods.document_mask(doc),
            mask_fn=lambda b_, h, i, j: doc[b_, i] == doc[b_, j]),
        "sinks_or_window": dict(
            mask_mod=mods.or_masks(mods.attention_sinks(3),
                                   mods.sliding_window(20)),
            mask_fn=lambda b_, h, i, j: (j < 3) | ((j > i - 20) & (j <= i))),
        "window_and_document": dict(
            mask_mod=mods.and_masks(mods.sliding_window(100),
                                    mods.document_mask(doc)),
            mask_fn=lambda b_, h, i, j: (j > i - 100) & (j <= i) & (
                doc[b_, i] == doc[b_, j])),
        "softcap_alibi_document": dict(
            score_mod=lambda s, b_, h, q_idx, kv_idx: mods.softcap(30.0)(
                mods.alibi(slopes)(s, b_, h, q_idx, kv_idx), b_, h, q_idx,
                kv_idx),
            mask_mod=mods.document_mask(doc),
            score_fn=lambda s, b_, h, i, j: 30.0 * torch.tanh(
                (s + slopes.double()[h] * (j - i)) / 30.0),
            mask_fn=lambda b_, h, i, j: doc[b_, i] == doc[b_, j]),
    }
