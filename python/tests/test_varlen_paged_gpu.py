"""fa_mlir.torch.attention_varlen with a block_table on a GPU: variable-
length (packed) queries against a paged KV cache, in flash_attn_varlen_func's
convention. Sequence b has nk_b = cu_seqlens_k[b + 1] - cu_seqlens_k[b] keys,
key j in page block_table[b, j // page_size], row j % page_size, and its
queries, rows cu_seqlens_q[b]:cu_seqlens_q[b + 1] of q, are its last nq_b
positions. Checked sequence by sequence against a float32 attention over
the keys gathered through the table: ragged lengths with 0 and 1, nq_b >
nk_b, page sizes 16, 64 and 256, shuffled and shared pages, GQA 1/4/8,
causal (both alignments) and not, the LSE, a softcap score_mod and a
mask_mod, rows outside every sequence; against attention_with_kvcache and
the contiguous varlen call; bad inputs; the custom op under torch.compile,
opcheck and CUDA graphs. Skipped without torch or CUDA."""

import math

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import fa_mlir.torch as fat  # noqa: E402
from fa_mlir import AttentionSpec, KernelCache, _varlen  # noqa: E402
from test_kvcache_gpu import UNUSED, paged_cache  # noqa: E402

DEV = "cuda"


def offsets(lengths, start=0):
    """int32 cumulative offsets of `lengths` from `start` (B + 1 of them)."""
    cu = [start]
    for n in lengths:
        cu.append(cu[-1] + n)
    return torch.tensor(cu, dtype=torch.int32, device=DEV)


def packed_queries(lengths_q, hq, d, dtype, gap=0, seed=1):
    """q (Tq, Hq, D), with `gap` rows before the first and after the last
    sequence, and cu_seqlens_q."""
    g = torch.Generator(device=DEV).manual_seed(seed)
    tq = sum(lengths_q) + 2 * gap
    q = torch.randn(tq, hq, d, device=DEV, dtype=dtype, generator=g)
    return q, offsets(lengths_q, gap)


def case(lengths_q, lengths_k, page_size, hq, hkv, d=128,
         dtype=torch.bfloat16, gap=0, seed=0):
    """q, k_cache, v_cache, cu_seqlens_q, cu_seqlens_k, block_table: a pool
    of pages in random order with spare pages, one table row per sequence
    with an UNUSED tail (test_kvcache_gpu.paged_cache)."""
    k, v, table, _ = paged_cache(lengths_k, page_size, hkv, d, dtype,
                                 seed=seed)
    q, cu_q = packed_queries(lengths_q, hq, d, dtype, gap, seed + 1)
    return q, k, v, cu_q, offsets(lengths_k), table


def reference(q, k_cache, v_cache, cu_q, cu_k, block_table, causal,
              scale=None, score_mod=None, mask_mod=None):
    """float32 softmax attention of each sequence b: its nq queries over
    its nk keys, gathered through its table row. causal: None,
    "bottom_right" (j <= i + nk - nq) or "top_left" (j <= i), i the query's
    row within its sequence. score_mod / mask_mod run eagerly on broadcast
    (h, i, j) index tensors with b an int. Returns out (Tq, Hq, Dv) and lse
    (Hq, Tq); rows that see no key and rows outside every sequence are 0
    and -inf."""
    tq, hq, d = q.shape
    page_size, hkv, dv = (k_cache.shape[1], k_cache.shape[2],
                          v_cache.shape[3])
    scale = 1 / math.sqrt(d) if scale is None else scale
    out = torch.zeros(tq, hq, dv, device=q.device)
    lse = torch.full((hq, tq), float("-inf"), device=q.device)
    cq, ck = cu_q.tolist(), cu_k.tolist()
    for b in range(len(cq) - 1):
        first, nq, nk = cq[b], cq[b + 1] - cq[b], ck[b + 1] - ck[b]
        if nq == 0:
            continue
        pages = block_table[b, :-(-nk // page_size)].long()
        k = k_cache[pages].reshape(-1, hkv, d)[:nk].float()
        v = v_cache[pages].reshape(-1, hkv, dv)[:nk].float()
        k = k.repeat_interleave(hq // hkv, dim=1).transpose(0, 1)
        v = v.repeat_interleave(hq // hkv, dim=1).transpose(0, 1)
        qb = q[first:first + nq].float().transpose(0, 1)  # (Hq, nq, D)
        s = qb @ k.transpose(1, 2) * scale  # (Hq, nq, nk)
        h = torch.arange(hq, device=q.device)[:, None, None]
        i = torch.arange(nq, device=q.device)[None, :, None]
        j = torch.arange(nk, device=q.device)[None, None, :]
        if score_mod is not None:
            s = score_mod(s, b, h, i, j).float().expand(hq, nq, nk)
        keep = torch.ones((hq, nq, nk), dtype=torch.bool, device=q.device)
        if causal == "bottom_right":
            keep &= j <= i + nk - nq
        elif causal == "top_left":
            keep &= j <= i
        if mask_mod is not None:
            keep &= mask_mod(b, h, i, j).expand_as(keep)
        s = s.masked_fill(~keep, float("-inf"))
        row_lse = torch.logsumexp(s, dim=-1)  # (Hq, nq); -inf when empty
        seen = torch.isfinite(row_lse)
        p = torch.exp(s - row_lse.masked_fill(~seen, 0)[..., None])
        o = (p.nan_to_num(0) @ v).masked_fill(~seen[..., None], 0)
        out[first:first + nq] = o.transpose(0, 1)
        lse[:, first:first + nq] = row_lse
    return out, lse


def check(out, lse, ref_out, ref_lse, dtype):
    tol = 2e-2 if dtype == torch.bfloat16 else 1e-2
    assert out.dtype == dtype and out.shape == ref_out.shape
    assert not torch.isnan(out).any()
    err = (out.float() - ref_out).abs().max().item() if out.numel() else 0
    assert err <= tol, f"max error {err} > {tol}"
    empty = torch.isinf(ref_lse).transpose(0, 1)  # (Tq, Hq)
    assert (out[empty] == 0).all(), "rows that see no key must be 0"
    if lse is not None:
        assert lse.dtype == torch.float32 and lse.shape == ref_lse.shape
        seen = torch.isfinite(ref_lse)
        assert torch.isneginf(lse[~seen]).all()
        torch.testing.assert_close(lse[seen], ref_lse[seen], atol=2e-3,
                                   rtol=1e-3)


def lengths_for(page_size):
    """(query lengths, key lengths): decode steps (one query) against 1,
    page_size - 1 and 777 keys; three queries against none; no queries
    against 300 keys; a prefill chunk of 200 queries (two 128-row tiles)
    against 3 * page_size + 205 keys; 5 queries against 2 keys (nq > nk:
    under bottom-right the first three see nothing); lengths on and off the
    page boundaries."""
    p = page_size
    return ([1, 3, 0, 1, 7, 200, 5, 1],
            [1, 0, 300, p - 1, p + 1, 3 * p + 205, 2, 777])


@pytest.mark.parametrize("causal", [None, "bottom_right"])
@pytest.mark.parametrize("heads", [(8, 8), (8, 2), (8, 1)])
@pytest.mark.parametrize("page_size", [16, 64, 256])
def test_matches_reference(page_size, heads, causal):
    hq, hkv = heads
    lq, lk = lengths_for(page_size)
    q, k, v, cu_q, cu_k, table = case(lq, lk, page_size, hq, hkv)
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=causal is not None,
        return_lse=True, block_table=table)
    assert out.shape == q.shape and lse.shape == (hq, q.shape[0])
    check(out, lse, *reference(q, k, v, cu_q, cu_k, table, causal),
          torch.bfloat16)


@pytest.mark.parametrize("causal", [None, "bottom_right"])
@pytest.mark.parametrize("page_size", [16, 64])
def test_hopper_ws_matches_reference(page_size, causal):
    """strategy=hopper-ws (auto builds these with mma-sync): the same
    ragged batch, gathered (16-row pages) or by TMA pieces (64)."""
    lq, lk = lengths_for(page_size)
    q, k, v, cu_q, cu_k, table = case(lq, lk, page_size, 8, 2)
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=causal is not None,
        return_lse=True, block_table=table,
        _options={"strategy": "hopper-ws", "pack_gqa": False})
    check(out, lse, *reference(q, k, v, cu_q, cu_k, table, causal),
          torch.bfloat16)


@pytest.mark.parametrize("tq, batch, max_q, heads, want", [
    (16384, 8, 2048, (32, 8), {}),                     # prefill
    (64, 64, 1, (32, 8), {"pack_gqa": True, "block_m": 64}),  # decode
    (512, 32, 16, (32, 8), {"pack_gqa": True, "block_m": 64}),
    (1024, 16, 64, (32, 8), {"pack_gqa": True}),       # 64-query chunks
    (2108, 64, 512, (32, 8), {"pack_gqa": True}),      # mixed
    (64, 64, 1, (32, 32), {}),                         # MHA
    (64, 64, 1, (128, 1), {}),                         # a group of 128
])
def test_kernel_options_rule(tq, batch, max_q, heads, want):
    """Packed GQA tiles when the mean query length is at most 64, in
    64-row tiles when the group's rows of the longest sequence fit."""
    hq, hkv = heads
    q = torch.empty((tq, hq, 128), device="meta")
    spec = AttentionSpec(dtype="bf16", head_dim=128, varlen=True)
    spec, options = _varlen._kernel_options(spec, q, hkv, batch, max_q,
                                            None)
    assert options == want  # the strategy is the compiler's choice
    assert spec.heads == (heads if want else None)
    # Explicit options win.
    _, options = _varlen._kernel_options(spec, q, hkv, batch, max_q,
                                         {"pack_gqa": False})
    assert "pack_gqa" not in options


@pytest.mark.parametrize("pack", [None, True, False])
@pytest.mark.parametrize("causal", [None, "bottom_right", "top_left"])
@pytest.mark.parametrize("heads", [(8, 2), (32, 8), (8, 1)])
def test_short_queries_pack_gqa(heads, causal, pack):
    """A serving batch of decode steps and short chunks (at most 64
    queries): grouped heads are packed into one tile by default (pack
    None), or as _options says; ALiBi's slopes are per query head, so a
    row given the wrong head would take another."""
    hq, hkv = heads
    lq, lk = [1, 3, 0, 1, 64, 17, 1], [1, 0, 300, 63, 65, 1000, 4000]
    q, k, v, cu_q, cu_k, table = case(lq, lk, 64, hq, hkv)
    slopes = torch.exp2(-torch.arange(1, hq + 1, device=DEV,
                                      dtype=torch.float32))

    def alibi(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)

    options = None if pack is None else {"pack_gqa": pack}
    spec = AttentionSpec(dtype="bf16", head_dim=128, varlen=True,
                                 paged=64)
    _, chosen = _varlen._kernel_options(spec, q, hkv, len(lq), max(lq),
                                        options)
    assert chosen.get("pack_gqa", False) == (pack is not False and hq > hkv)
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=causal is not None,
        causal_alignment=causal or "bottom_right", return_lse=True,
        block_table=table, score_mod=alibi, _options=options)
    check(out, lse, *reference(q, k, v, cu_q, cu_k, table, causal,
                               score_mod=alibi), torch.bfloat16)


def test_top_left_alignment():
    lq, lk = lengths_for(64)
    q, k, v, cu_q, cu_k, table = case(lq, lk, 64, 8, 2)
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=True,
        causal_alignment="top_left", return_lse=True, block_table=table)
    check(out, lse, *reference(q, k, v, cu_q, cu_k, table, "top_left"),
          torch.bfloat16)


@pytest.mark.parametrize("d", [64, 128])
def test_float16_head_dims_and_scale(d):
    dtype = torch.float16
    lq, lk = [5, 1, 0, 64], [130, 0, 7, 64]
    q, k, v, cu_q, cu_k, table = case(lq, lk, 64, 4, 2, d=d, dtype=dtype)
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, 64, 130, softmax_scale=0.3, causal=True,
        return_lse=True, block_table=table)
    check(out, lse, *reference(q, k, v, cu_q, cu_k, table, "bottom_right",
                               scale=0.3), dtype)


def test_shared_pages():
    """Sequences whose rows name the same pages (a shared prompt): 0 and 2
    are the same sequence, 1 shares its first two pages."""
    dtype = torch.bfloat16
    k, v, table, _ = paged_cache([100, 40], 16, 2, 128, dtype)
    table = torch.cat([table, table[:1]])  # sequence 2 = sequence 0
    table[1, :2] = table[0, :2]
    q0, _ = packed_queries([4], 8, 128, dtype)
    q = torch.cat([q0, q0[:2], q0])
    cu_q, cu_k = offsets([4, 2, 4]), offsets([100, 40, 100])
    out, lse = fat.attention_varlen(q, k, v, cu_q, cu_k, 4, 100, causal=True,
                                    return_lse=True, block_table=table)
    check(out, lse, *reference(q, k, v, cu_q, cu_k, table, "bottom_right"),
          dtype)
    assert torch.equal(out[0:4], out[6:10])
    assert torch.equal(lse[:, 0:4], lse[:, 6:10])


def test_gaps_strides_and_larger_bounds():
    """Rows outside every sequence stay 0 / -inf; q sliced from a fused
    qkv tensor (strided rows) and caches sliced from a pool of more heads
    (strided pages); cu_seqlens_k not starting at 0 (only its differences
    count); max_seqlen_q and max_seqlen_k above the longest."""
    dtype = torch.bfloat16
    lq, lk = [33, 0, 70, 1], [40, 9, 70, 500]
    k, v, table, _ = paged_cache(lk, 64, 4, 128, dtype)
    ks, vs = k[:, :, :2], v[:, :, 2:]
    assert not ks.is_contiguous()
    q, cu_q = packed_queries(lq, 4, 128, dtype, gap=3)
    qs = torch.cat([q, torch.zeros_like(q)], dim=1)[:, :4]
    assert not qs.is_contiguous()
    out, lse = fat.attention_varlen(qs, ks, vs, cu_q, offsets(lk, 5), 200,
                                    1000, causal=True, return_lse=True,
                                    block_table=table)
    check(out, lse, *reference(q, ks, vs, cu_q, offsets(lk), table,
                               "bottom_right"), dtype)
    assert (out[:3] == 0).all() and (out[-3:] == 0).all()
    assert torch.isneginf(lse[:, :3]).all()
    assert torch.isneginf(lse[:, -3:]).all()


@pytest.mark.parametrize("nq", [1, 4])
def test_equal_query_lengths_match_attention_with_kvcache(nq):
    """Every sequence with nq queries: the (B, Nq, Hq, D) call of
    attention_with_kvcache on the same cache and table."""
    dtype, hq, hkv, d = torch.bfloat16, 8, 2, 128
    lk = [0, 1, 300, 1500, 17]
    k, v, table, seqlens = paged_cache(lk, 64, hkv, d, dtype)
    g = torch.Generator(device=DEV).manual_seed(5)
    q4 = torch.randn(len(lk), nq, hq, d, device=DEV, dtype=dtype,
                     generator=g)
    want, want_lse = fat.attention_with_kvcache(
        q4, k, v, seqlens, table, causal=True, return_lse=True)
    out, lse = fat.attention_varlen(
        q4.reshape(-1, hq, d), k, v, offsets([nq] * len(lk)), offsets(lk),
        nq, max(lk), causal=True, return_lse=True, block_table=table)
    out = out.view(len(lk), nq, hq, d)
    lse = lse.view(hq, len(lk), nq).transpose(0, 1)
    assert (out.float() - want.float()).abs().max().item() <= 2e-2
    assert torch.equal(torch.isneginf(lse), torch.isneginf(want_lse))
    seen = torch.isfinite(want_lse)
    torch.testing.assert_close(lse[seen], want_lse[seen], atol=2e-3,
                               rtol=1e-3)


def test_matches_the_contiguous_varlen_call():
    """The keys gathered into packed (Tk, Hkv, D) tensors: the varlen call
    without a table computes the same attention."""
    hkv, d = 2, 128
    lq, lk = lengths_for(16)
    q, k, v, cu_q, cu_k, table = case(lq, lk, 16, 8, hkv)
    gathered = []
    for cache in (k, v):
        rows = [cache[table[b, :-(-n // 16)].long()].reshape(-1, hkv, d)[:n]
                for b, n in enumerate(lk)]
        gathered.append(torch.cat(rows))
    want, want_lse = fat.attention_varlen(
        q, *gathered, cu_q, cu_k, max(lq), max(lk), causal=True,
        return_lse=True)
    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=True, return_lse=True,
        block_table=table)
    assert (out.float() - want.float()).abs().max().item() <= 2e-2
    assert torch.equal(torch.isneginf(lse), torch.isneginf(want_lse))
    seen = torch.isfinite(want_lse)
    torch.testing.assert_close(lse[seen], want_lse[seen], atol=2e-3,
                               rtol=1e-3)


def test_softcap_and_a_mask_reading_a_capture():
    """A softcap score_mod and a mask_mod that reads a captured tensor at
    the sequence index: kv_idx is the key's position j in its sequence
    (not its page row), b the sequence."""
    dtype = torch.bfloat16
    lq, lk = [1, 3, 0, 50, 2], [0, 37, 5, 250, 600]
    q, k, v, cu_q, cu_k, table = case(lq, lk, 16, 8, 2)
    q = q * 4  # large scores: the cap matters
    nk = torch.tensor(lk, dtype=torch.int32, device=DEV)

    def softcap(score, b, h, q_idx, kv_idx):
        return 5.0 * torch.tanh(score / 5.0)

    def recent_not_fifth(b, h, q_idx, kv_idx):
        return (kv_idx % 5 != 3) & (kv_idx + 100 >= nk[b])

    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), causal=True, return_lse=True,
        score_mod=softcap, mask_mod=recent_not_fifth, block_table=table)
    check(out, lse, *reference(q, k, v, cu_q, cu_k, table, "bottom_right",
                               score_mod=softcap,
                               mask_mod=recent_not_fifth), dtype)


def test_score_mod_sees_positions_within_the_sequence():
    """q_idx is the query's row within its sequence, kv_idx the key's
    position, b the sequence, h the query head (GQA)."""
    dtype = torch.bfloat16
    lq, lk = [4, 1, 60], [30, 200, 60]
    q, k, v, cu_q, cu_k, table = case(lq, lk, 64, 8, 2)

    def bias(score, b, h, q_idx, kv_idx):
        return score - 0.01 * (h + 1) * (q_idx - kv_idx).abs() + 0.5 * b

    out, lse = fat.attention_varlen(
        q, k, v, cu_q, cu_k, max(lq), max(lk), return_lse=True,
        score_mod=bias, block_table=table)
    check(out, lse, *reference(q, k, v, cu_q, cu_k, table, None,
                               score_mod=bias), dtype)


def test_empty_inputs():
    dtype = torch.bfloat16
    k, v, table, _ = paged_cache([10, 20], 16, 2, 64, dtype)
    # No query rows.
    q = torch.empty(0, 4, 64, device=DEV, dtype=dtype)
    out, lse = fat.attention_varlen(q, k, v, offsets([0, 0]),
                                    offsets([10, 20]), 0, 20,
                                    return_lse=True, block_table=table)
    assert out.shape == (0, 4, 64) and lse.shape == (4, 0)
    # No sequences: every row is outside them.
    q, _ = packed_queries([3], 4, 64, dtype)
    out, lse = fat.attention_varlen(q, k, v, offsets([]), offsets([]), 0, 0,
                                    return_lse=True, block_table=table[:0])
    assert (out == 0).all() and torch.isneginf(lse).all()
    # No pages at all, a table of no columns: every sequence is empty.
    k0 = k.new_empty((0, 16, 2, 64))
    q, cu_q = packed_queries([3, 1], 4, 64, dtype)
    out, lse = fat.attention_varlen(
        q, k0, k0, cu_q, offsets([0, 0]), 3, 0, causal=True,
        return_lse=True, block_table=table.new_empty((2, 0)))
    assert out.shape == q.shape
    assert (out == 0).all() and torch.isneginf(lse).all()


def test_one_kernel_per_page_size(tmp_path):
    cache = KernelCache(str(tmp_path))
    for lq, lk, page_size in (([1, 5], [5, 70], 16), ([3], [300], 16),
                              ([1, 5], [5, 70], 64)):
        q, k, v, cu_q, cu_k, table = case(lq, lk, page_size, 4, 2, d=64)
        fat.attention_varlen(q, k, v, cu_q, cu_k, max(lq), max(lk),
                             block_table=table, cache=cache)
    assert cache.compilations == 2


def test_validate_false_skips_the_check():
    """validate=False trusts the offsets and the table (no
    synchronization): valid ones give the validated result."""
    args = bad_case()
    want = fat.attention_varlen(**args)
    got = fat.attention_varlen(**args, validate=False)
    assert torch.equal(got, want)


def bad_case():
    """Two sequences, 3 and 1 queries against 20 and 40 keys in 16-row
    pages: table rows of 4 entries (2 and 3 in use), 8 pages."""
    dtype = torch.bfloat16
    q, k, v, cu_q, cu_k, table = case([3, 1], [20, 40], 16, 4, 2, d=64,
                                      dtype=dtype)
    assert table.shape == (2, 4) and k.shape[0] == 8
    return dict(q=q, k=k, v=v, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k,
                max_seqlen_q=3, max_seqlen_k=40, block_table=table)


def _i32(rows):
    return torch.tensor(rows, dtype=torch.int32, device=DEV)


U = UNUSED


@pytest.mark.parametrize("name, make, error, message", [
    ("page id past the pool", lambda a: {"block_table": _i32(
        [[0, 1, U, U], [2, 99, 3, U]])}, ValueError,
     r"block_table\[1, 1\] = 99"),
    ("negative page id", lambda a: {"block_table": _i32(
        [[-1, 1, U, U], [2, 3, 4, U]])}, ValueError,
     r"block_table\[0, 0\] = -1"),
    ("key length beyond the table", lambda a: {
        "cu_seqlens_k": _i32([0, 20, 85]), "max_seqlen_k": 65}, ValueError,
     r"cu_seqlens_k\[2\] - cu_seqlens_k\[1\] = 65 is outside \[0, 64\]"),
    ("decreasing key offsets", lambda a: {"cu_seqlens_k": _i32([0, 20, 10])},
     ValueError, "cu_seqlens_k must be non-decreasing"),
    ("query offsets past q", lambda a: {"cu_seqlens_q": _i32([0, 3, 5])},
     ValueError, "past the 4 token rows of q"),
    ("negative first offset", lambda a: {"cu_seqlens_q": _i32([-1, 2, 4])},
     ValueError, r"cu_seqlens_q\[0\] = -1 is negative"),
    ("max_seqlen_q below the longest", lambda a: {"max_seqlen_q": 2},
     ValueError, "max_seqlen_q = 2 is below"),
    ("max_seqlen_k below the longest", lambda a: {"max_seqlen_k": 39},
     ValueError, "max_seqlen_k = 39 is below"),
    ("offset counts differ", lambda a: {"cu_seqlens_k": _i32([0, 20])},
     ValueError, "same number of offsets"),
    ("table rows", lambda a: {"block_table": a["block_table"][:1]},
     ValueError, "block_table has 1 rows"),
    ("int64 table", lambda a: {"block_table": a["block_table"].long()},
     ValueError, "int32"),
    ("int64 offsets", lambda a: {"cu_seqlens_q": a["cu_seqlens_q"].long()},
     ValueError, "int32"),
    ("table as a list", lambda a: {"block_table": [[0, 1], [2, 3]]},
     TypeError, "block_table"),
    ("table on the host", lambda a: {"block_table": a["block_table"].cpu()},
     ValueError, "share a device"),
    ("offsets on the host", lambda a: {"cu_seqlens_k":
                                       a["cu_seqlens_k"].cpu()},
     ValueError, "share a device"),
    ("packed k with a table", lambda a: {"k": a["k"].reshape(-1, 2, 64),
                                         "v": a["v"].reshape(-1, 2, 64)},
     ValueError, "num_pages, page_size"),
    ("page sizes differ", lambda a: {"v": a["v"][:, :8]}, ValueError,
     "page_size"),
    ("head dims differ", lambda a: {"v": torch.cat([a["v"]] * 2, dim=3)},
     ValueError, "head dim"),
    ("pages of no rows", lambda a: {"k": a["k"][:, :0], "v": a["v"][:, :0]},
     ValueError, "no rows"),
    ("Hq not a multiple of Hkv", lambda a: {"q": a["q"][:, :3]}, ValueError,
     "multiple"),
    ("float32 q", lambda a: {"q": a["q"].float()}, ValueError, "dtype"),
    ("q on the host", lambda a: {"q": a["q"].cpu()}, ValueError, "CUDA"),
    ("float max_seqlen_q", lambda a: {"max_seqlen_q": 3.0}, TypeError,
     "max_seqlen_q"),
    ("unknown alignment", lambda a: {"causal": True,
                                     "causal_alignment": "middle"},
     ValueError, "causal_alignment"),
    ("negative scale", lambda a: {"softmax_scale": -1.0}, ValueError,
     "softmax_scale"),
    ("q requires grad", lambda a: {"q": a["q"].detach().requires_grad_()},
     ValueError, "forward only"),
])
def test_bad_inputs_raise_before_the_launch(name, make, error, message):
    args = bad_case()
    args.update(make(args))
    with pytest.raises(error, match=message):
        fat.attention_varlen(**args)


needs_custom_op = pytest.mark.skipif(
    not hasattr(torch.library, "custom_op"),
    reason="torch.library.custom_op needs PyTorch 2.4")


@needs_custom_op
def test_custom_op_compiles_without_graph_breaks():
    torch._dynamo.reset()
    q, k, v, cu_q, cu_k, table = case([3, 1, 40], [17, 300, 40], 64, 8, 2)

    def f(q, k, v, cu_q, cu_k, table):
        out, lse = fat.attention_varlen(q, k, v, cu_q, cu_k, 40, 300,
                                        causal=True, return_lse=True,
                                        block_table=table)
        return out * 2, lse

    with torch.no_grad():
        want = f(q, k, v, cu_q, cu_k, table)  # (eager first: the compiler)
        got = torch.compile(f, fullgraph=True)(q, k, v, cu_q, cu_k, table)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        # The offsets and the table are still checked inside the op.
        with pytest.raises(ValueError, match="cu_seqlens_k"):
            torch.compile(f, fullgraph=True)(q, k, v, cu_q, cu_k * 1000,
                                             table)
    torch._dynamo.reset()


@needs_custom_op
def test_opcheck():
    q, k, v, cu_q, cu_k, table = case([5, 0, 9], [17, 3, 40], 16, 4, 2, d=64,
                                      dtype=torch.float16)
    torch.library.opcheck(
        torch.ops.fa_mlir.attention_varlen_paged.default,
        (q, k, v, cu_q, cu_k, table, 9, 40, [], "bottom_right", None, True,
         None, True), test_utils=("test_schema", "test_faketensor"))


def test_cuda_graph_replays_with_new_lengths():
    """Decoding in a CUDA graph (validate=False): each replay reads the
    offsets and the table afresh (the key counts are computed from
    cu_seqlens_k inside the graph)."""
    dtype = torch.bfloat16
    k, v, table, _ = paged_cache([64, 64, 64], 16, 2, 128, dtype)
    q, cu_q = packed_queries([1, 2, 1], 8, 128, dtype)
    cu_k = offsets([64, 64, 64])

    def step():
        return fat.attention_varlen(q, k, v, cu_q, cu_k, 2, 64, causal=True,
                                    block_table=table, validate=False)

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        step()  # compile and load outside the capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()
    for lengths in ([64, 64, 64], [3, 50, 1], [0, 17, 2]):
        cu_k.copy_(offsets(lengths))
        graph.replay()
        torch.cuda.synchronize()
        ref_out, ref_lse = reference(q, k, v, cu_q, cu_k, table,
                                     "bottom_right")
        check(out, None, ref_out, ref_lse, dtype)
