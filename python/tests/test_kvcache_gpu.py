"""fa_mlir.torch.attention_with_kvcache on a GPU: paged caches (page sizes
16, 64, 256; shuffled and shared pages; lengths 0, 1 and off the page
boundaries) and contiguous ones, checked sequence by sequence against a
float32 softmax attention over the keys gathered through the block table;
GQA 1/4/8, bottom-right causal, LSE, score_mod/mask_mod, bad tables and
arguments, the custom op under torch.compile and CUDA graphs. Skipped
without torch or CUDA."""

import math

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import fa_mlir.torch as fat  # noqa: E402
from fa_mlir import KernelCache  # noqa: E402

DEV = "cuda"
# Page-table entries no sequence reaches: never read, never checked.
UNUSED = 1 << 30


def paged_cache(lengths, page_size, hkv, d, dtype, spare=3, seed=0):
    """A pool of pages in random order, one table row per sequence (its
    unused tail UNUSED), and the lengths as an int32 tensor."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    counts = [-(-n // page_size) for n in lengths]
    num_pages = sum(counts) + spare
    order = torch.randperm(num_pages, generator=g).tolist()
    table = torch.full((len(lengths), max(counts, default=0) + 1), UNUSED,
                       dtype=torch.int32)
    for b, count in enumerate(counts):
        table[b, :count] = torch.tensor(order[:count], dtype=torch.int32)
        order = order[count:]
    gd = torch.Generator(device=DEV).manual_seed(seed)
    k = torch.randn(num_pages, page_size, hkv, d, device=DEV, dtype=dtype,
                    generator=gd)
    v = torch.randn(num_pages, page_size, hkv, d, device=DEV, dtype=dtype,
                    generator=gd)
    return (k, v, table.to(DEV),
            torch.tensor(lengths, dtype=torch.int32, device=DEV))


def queries(b, nq, hq, d, dtype, seed=1):
    g = torch.Generator(device=DEV).manual_seed(seed)
    return torch.randn(b, nq, hq, d, device=DEV, dtype=dtype, generator=g)


def reference(q, k_cache, v_cache, block_table, cache_seqlens, causal,
              scale=None, score_mod=None, mask_mod=None):
    """float32 softmax attention of each sequence over its keys, gathered
    through its table row; bottom-right causal (j <= i + n - Nq). Returns
    out (B, Nq, Hq, D) and lse (B, Hq, Nq); rows that see no key are 0 and
    -inf. score_mod / mask_mod run eagerly on broadcast index tensors."""
    b_, nq, hq, d = q.shape
    page_size, hkv = k_cache.shape[1], k_cache.shape[2]
    scale = 1 / math.sqrt(d) if scale is None else scale
    out = torch.zeros(b_, nq, hq, d, device=q.device)
    lse = torch.full((b_, hq, nq), float("-inf"), device=q.device)
    for b, n in enumerate(cache_seqlens.tolist()):
        pages = block_table[b, :-(-n // page_size)].long()
        k = k_cache[pages].reshape(-1, hkv, d)[:n].float()
        v = v_cache[pages].reshape(-1, hkv, d)[:n].float()
        k = k.repeat_interleave(hq // hkv, dim=1).transpose(0, 1)
        v = v.repeat_interleave(hq // hkv, dim=1).transpose(0, 1)
        s = q[b].float().transpose(0, 1) @ k.transpose(1, 2) * scale
        h = torch.arange(hq, device=q.device)[:, None, None]
        i = torch.arange(nq, device=q.device)[None, :, None]
        j = torch.arange(n, device=q.device)[None, None, :]
        if score_mod is not None:
            s = score_mod(s, b, h, i, j)
        keep = torch.ones_like(s, dtype=torch.bool)
        if causal:
            keep &= j <= i + n - nq
        if mask_mod is not None:
            keep &= mask_mod(b, h, i, j).expand_as(keep)
        s = s.masked_fill(~keep, float("-inf"))
        row_lse = torch.logsumexp(s, dim=-1)  # (Hq, Nq); -inf when empty
        seen = torch.isfinite(row_lse)
        p = torch.exp(s - row_lse.masked_fill(~seen, 0)[..., None])
        out[b] = (p.nan_to_num(0) @ v).masked_fill(~seen[..., None],
                                                   0).transpose(0, 1)
        lse[b] = row_lse
    return out, lse


def check(out, lse, ref_out, ref_lse, dtype):
    tol = 2e-2 if dtype == torch.bfloat16 else 1e-2
    assert not torch.isnan(out).any()
    err = (out.float() - ref_out).abs().max().item() if out.numel() else 0
    assert err <= tol, f"max error {err} > {tol}"
    empty = torch.isinf(ref_lse).transpose(1, 2)  # (B, Nq, Hq)
    assert (out[empty] == 0).all(), "rows that see no key must be 0"
    if lse is not None:
        seen = torch.isfinite(ref_lse)
        assert torch.isneginf(lse[~seen]).all()
        torch.testing.assert_close(lse[seen], ref_lse[seen], atol=2e-3,
                                   rtol=1e-3)


def lengths_for(page_size):
    """0, 1, and lengths around and off the page boundaries."""
    return [0, 1, page_size - 1, page_size + 1, 3 * page_size + 5, 777]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("nq", [1, 7])
@pytest.mark.parametrize("heads", [(8, 8), (8, 2), (8, 1)])
@pytest.mark.parametrize("page_size", [16, 64, 256])
def test_paged_matches_reference(page_size, heads, nq, causal):
    hq, hkv = heads
    dtype, d = torch.bfloat16, 128
    lengths = lengths_for(page_size)
    k, v, table, seqlens = paged_cache(lengths, page_size, hkv, d, dtype)
    q = queries(len(lengths), nq, hq, d, dtype)
    out, lse = fat.attention_with_kvcache(q, k, v, seqlens, table,
                                          causal=causal, return_lse=True)
    assert out.shape == q.shape and out.dtype == dtype
    assert lse.shape == (len(lengths), hq, nq) and lse.dtype == torch.float32
    check(out, lse, *reference(q, k, v, table, seqlens, causal), dtype)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("heads", [(8, 8), (8, 2)])
@pytest.mark.parametrize("page_size", [16, 48, 256, 12])
def test_prefill(page_size, heads, causal):
    """Prefill (a group's query rows above 64) takes the compiler's choice
    against pages of a multiple of 8 rows: hopper-ws on sm_90a, TMA per
    page piece; pages of 12 rows stay mma-sync. Ragged lengths, shorter
    and longer than the 200 queries, against the reference."""
    from fa_mlir import _kvcache
    hq, hkv = heads
    lengths = [0, 1, 199, 200, page_size * 9 + 5, 1000]
    options = _kvcache._tile_options(200, hq, hkv, 2048, len(lengths),
                                     torch.device(DEV), page_size)
    assert options == ({} if page_size % 8 == 0 else {"strategy": "mma-sync"})
    dtype = torch.bfloat16
    k, v, table, seqlens = paged_cache(lengths, page_size, hkv, 128, dtype)
    q = queries(len(lengths), 200, hq, 128, dtype)
    want = reference(q, k, v, table, seqlens, causal)
    out, lse = fat.attention_with_kvcache(q, k, v, seqlens, table,
                                          causal=causal, return_lse=True)
    check(out, lse, *want, dtype)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("heads", [(8, 8), (8, 2), (32, 8)])
@pytest.mark.parametrize("page_size", [16, 64])
def test_split_kv_decoding(page_size, heads, dtype):
    """Decoding against long ragged caches takes the split-KV pair (few
    tiles, tables of at least 1024 keys): each tile's part of its
    sequence's keys in a block of its own, merged by the combine kernel.
    The same result as the one-kernel forward and the reference."""
    from fa_mlir import _kvcache
    hq, hkv = heads
    lengths = [0, 1, 3000, 17, 4097, page_size * 40 + 3]
    k, v, table, seqlens = paged_cache(lengths, page_size, hkv, 128, dtype)
    assert "split_kv" in _kvcache._tile_options(
        1, hq, hkv, table.shape[1] * page_size, len(lengths),
        torch.device(DEV))
    for nq in (1, 3):
        q = queries(len(lengths), nq, hq, 128, dtype)
        want = reference(q, k, v, table, seqlens, True)
        out, lse = fat.attention_with_kvcache(q, k, v, seqlens, table,
                                              causal=True, return_lse=True)
        check(out, lse, *want, dtype)
        one, one_lse = fat.attention_with_kvcache(
            q, k, v, seqlens, table, causal=True, return_lse=True,
            _options={"split_kv": "none"})
        check(one, one_lse, *want, dtype)


def test_split_kv_contiguous_cache_and_mods():
    """A contiguous (B, Nk_max, Hkv, D) cache decodes through the split
    pair too (one page per sequence), with a score_mod and a mask_mod."""
    b, hq, hkv, d, nk = 3, 8, 2, 128, 5000
    g = torch.Generator(device=DEV).manual_seed(3)
    k = torch.randn(b, nk, hkv, d, device=DEV, dtype=torch.bfloat16,
                    generator=g)
    v = torch.randn_like(k)
    seqlens = torch.tensor([4999, 0, 1200], dtype=torch.int32, device=DEV)
    q = queries(b, 1, hq, d, torch.bfloat16)
    table = torch.arange(b, dtype=torch.int32, device=DEV).view(b, 1)

    def score_mod(score, b, h, q_idx, kv_idx):
        return score - 0.01 * (h + 1) * (q_idx - kv_idx).abs()

    def mask_mod(b, h, q_idx, kv_idx):
        return kv_idx % 7 != 3

    out, lse = fat.attention_with_kvcache(q, k, v, seqlens, causal=True,
                                          return_lse=True,
                                          score_mod=score_mod,
                                          mask_mod=mask_mod)
    check(out, lse, *reference(q, k, v, table, seqlens, True,
                               score_mod=score_mod, mask_mod=mask_mod),
          torch.bfloat16)


@pytest.mark.parametrize("d", [64, 128])
def test_float16_and_head_dims(d):
    dtype = torch.float16
    k, v, table, seqlens = paged_cache([5, 130, 64, 0], 64, 2, d, dtype)
    q = queries(4, 3, 4, d, dtype)
    out, lse = fat.attention_with_kvcache(q, k, v, seqlens, table,
                                          softmax_scale=0.3, causal=True,
                                          return_lse=True)
    check(out, lse, *reference(q, k, v, table, seqlens, True, scale=0.3),
          dtype)


def test_shared_pages():
    """Sequences whose rows name the same pages (a shared prompt): 0 and 2
    are the same sequence, 1 shares its first two pages."""
    dtype, page_size = torch.bfloat16, 16
    k, v, table, _ = paged_cache([100, 40], page_size, 2, 128, dtype)
    table = torch.cat([table, table[:1]])  # sequence 2 = sequence 0
    table[1, :2] = table[0, :2]
    seqlens = torch.tensor([100, 40, 100], dtype=torch.int32, device=DEV)
    q = queries(1, 4, 8, 128, dtype).expand(3, 4, 8, 128).contiguous()
    out, lse = fat.attention_with_kvcache(q, k, v, seqlens, table,
                                          causal=True, return_lse=True)
    check(out, lse, *reference(q, k, v, table, seqlens, True), dtype)
    assert torch.equal(out[0], out[2]) and torch.equal(lse[0], lse[2])


def test_int_cache_seqlens_and_strided_q():
    """An int length for every sequence; q sliced from a fused qkv tensor
    (strided heads)."""
    dtype = torch.bfloat16
    k, v, table, _ = paged_cache([200, 200, 200], 64, 2, 128, dtype)
    qkv = queries(3, 5, 12, 128, dtype)
    q = qkv[:, :, :8]
    assert not q.is_contiguous()
    out = fat.attention_with_kvcache(q, k, v, 150, table, causal=True)
    seqlens = torch.full((3,), 150, dtype=torch.int32, device=DEV)
    ref_out, ref_lse = reference(q, k, v, table, seqlens, True)
    check(out, None, ref_out, ref_lse, dtype)


@pytest.mark.parametrize("int_lengths", [False, True])
def test_contiguous_cache(int_lengths):
    """(B, Nk_max, Hkv, D) caches, one page per sequence; a slice of a
    longer cache (strided batches) reads in place."""
    dtype, hq, hkv, d, nk_max = torch.bfloat16, 8, 2, 128, 320
    g = torch.Generator(device=DEV).manual_seed(3)
    full_k = torch.randn(4, 512, hkv, d, device=DEV, dtype=dtype,
                         generator=g)
    full_v = torch.randn_like(full_k)
    k, v = full_k[:, :nk_max], full_v[:, :nk_max]
    assert not k.is_contiguous()
    lengths = [300] * 4 if int_lengths else [0, 1, 300, 320]
    seqlens = torch.tensor(lengths, dtype=torch.int32, device=DEV)
    q = queries(4, 2, hq, d, dtype)
    out, lse = fat.attention_with_kvcache(
        q, k, v, 300 if int_lengths else seqlens, causal=True,
        return_lse=True)
    table = torch.arange(4, dtype=torch.int32, device=DEV)[:, None]
    check(out, lse, *reference(q, k, v, table, seqlens, True), dtype)
    # The same keys in 16-row pages: the same attention.
    paged_k = k.reshape(4 * nk_max // 16, 16, hkv, d)
    paged_v = v.reshape(4 * nk_max // 16, 16, hkv, d)
    paged_table = torch.arange(4 * nk_max // 16, dtype=torch.int32,
                               device=DEV).view(4, -1)
    paged = fat.attention_with_kvcache(q, paged_k, paged_v, seqlens,
                                       paged_table, causal=True)
    assert (paged.float() - out.float()).abs().max().item() <= 2e-2


def test_score_mod_and_mask_mod():
    """kv_idx is the key's position in its sequence (not its page row), b
    the sequence: a softcap and a mask reading a captured tensor."""
    dtype, page_size = torch.bfloat16, 16
    lengths = [0, 1, 37, 250, 600]
    k, v, table, seqlens = paged_cache(lengths, page_size, 2, 128, dtype)
    q = queries(len(lengths), 3, 8, 128, dtype) * 4  # large scores

    def softcap(score, b, h, q_idx, kv_idx):
        return 5.0 * torch.tanh(score / 5.0)

    def recent_not_fifth(b, h, q_idx, kv_idx):
        return (kv_idx % 5 != 3) & (kv_idx + 100 >= seqlens[b])

    out, lse = fat.attention_with_kvcache(
        q, k, v, seqlens, table, causal=True, return_lse=True,
        score_mod=softcap, mask_mod=recent_not_fifth)
    check(out, lse, *reference(q, k, v, table, seqlens, True,
                               score_mod=softcap,
                               mask_mod=recent_not_fifth), dtype)


def test_empty_inputs():
    dtype = torch.bfloat16
    k, v, table, seqlens = paged_cache([10, 20], 16, 2, 64, dtype)
    q = queries(2, 0, 4, 64, dtype)
    out, lse = fat.attention_with_kvcache(q, k, v, seqlens, table,
                                          return_lse=True)
    assert out.shape == (2, 0, 4, 64) and lse.shape == (2, 4, 0)
    # No pages at all, a table of no columns: every sequence is empty.
    k0 = k.new_empty((0, 16, 2, 64))
    q = queries(2, 3, 4, 64, dtype)
    out, lse = fat.attention_with_kvcache(
        q, k0, k0, torch.zeros(2, dtype=torch.int32, device=DEV),
        table.new_empty((2, 0)), return_lse=True)
    assert (out == 0).all() and torch.isneginf(lse).all()


def test_decode_shape_matches_sdpa():
    """B 8, Hq 32, Hkv 8, D 128, one query against 8192 keys in 64-row
    pages, against SDPA on the gathered contiguous cache."""
    b, hq, hkv, d, nk, page_size = 8, 32, 8, 128, 8192, 64
    k, v, table, seqlens = paged_cache([nk] * b, page_size, hkv, d,
                                       torch.bfloat16, spare=0)
    q = queries(b, 1, hq, d, torch.bfloat16)
    out = fat.attention_with_kvcache(q, k, v, seqlens, table, causal=True)
    gathered = [t[table[:, :nk // page_size].long()].reshape(b, nk, hkv, d)
                .transpose(1, 2) for t in (k, v)]
    ref = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2).float(), gathered[0].float(), gathered[1].float(),
        enable_gqa=True).transpose(1, 2)
    assert (out.float() - ref).abs().max().item() <= 2e-2


def test_one_kernel_per_page_size(tmp_path):
    cache = KernelCache(str(tmp_path))
    dtype = torch.bfloat16
    for lengths, page_size in (([5, 70], 16), ([300], 16), ([5, 70], 64)):
        k, v, table, seqlens = paged_cache(lengths, page_size, 2, 64, dtype)
        q = queries(len(lengths), 1, 4, 64, dtype)
        fat.attention_with_kvcache(q, k, v, seqlens, table, cache=cache)
    assert cache.compilations == 2


def bad_case(**overrides):
    dtype = torch.bfloat16
    k, v, table, seqlens = paged_cache([20, 40], 16, 2, 64, dtype)
    args = dict(q=queries(2, 1, 4, 64, dtype), k_cache=k, v_cache=v,
                cache_seqlens=seqlens, block_table=table)
    args.update(overrides)
    return args


def _i32(rows):
    return torch.tensor(rows, dtype=torch.int32, device=DEV)


@pytest.mark.parametrize("name, make, error, message", [
    ("page id past the pool", lambda a: {"block_table": _i32(
        [[0, 1, UNUSED], [2, 99, 3]])}, ValueError, r"block_table\[1, 1\]"),
    ("negative page id", lambda a: {"block_table": _i32(
        [[-1, 1, 0], [2, 3, 4]])}, ValueError, r"block_table\[0, 0\] = -1"),
    ("length beyond the table", lambda a: {"cache_seqlens": _i32([20, 65])},
     ValueError, r"cache_seqlens\[1\] = 65 is outside \[0, 64\]"),
    ("negative length", lambda a: {"cache_seqlens": _i32([-1, 4])},
     ValueError, r"cache_seqlens\[0\] = -1"),
    ("int length beyond the table", lambda a: {"cache_seqlens": 65},
     ValueError, "outside"),
    ("int64 table", lambda a: {"block_table": a["block_table"].long()},
     ValueError, "int32"),
    ("int64 lengths", lambda a: {"cache_seqlens": a["cache_seqlens"].long()},
     ValueError, "int32"),
    ("float lengths", lambda a: {"cache_seqlens": 3.0}, TypeError,
     "cache_seqlens"),
    ("table as a list", lambda a: {"block_table": [[0, 1]]}, TypeError,
     "block_table"),
    ("float32 q", lambda a: {"q": a["q"].float()}, ValueError, "dtype"),
    ("f16 q, bf16 caches", lambda a: {"q": a["q"].half()}, ValueError,
     "share a dtype"),
    ("page sizes differ", lambda a: {"v_cache": a["v_cache"][:, :8]},
     ValueError, "page_size"),
    ("head dims differ", lambda a: {"v_cache": torch.cat(
        [a["v_cache"]] * 2, dim=3)}, ValueError, "head dim"),
    ("batch of the table", lambda a: {"block_table": a["block_table"][:1]},
     ValueError, "block_table has 1 rows"),
    ("batch of the lengths", lambda a: {"cache_seqlens":
                                        a["cache_seqlens"][:1]},
     ValueError, "cache_seqlens has 1 entries"),
    ("Hq not a multiple of Hkv", lambda a: {"q": a["q"][:, :, :3]},
     ValueError, "multiple"),
    ("lengths on the host", lambda a: {"cache_seqlens":
                                       a["cache_seqlens"].cpu()},
     ValueError, "share a device"),
    ("q on the host", lambda a: {"q": a["q"].cpu()}, ValueError, "CUDA"),
    ("caches of rank 3", lambda a: {"k_cache": a["k_cache"][0]},
     ValueError, "num_pages, page_size"),
])
def test_bad_inputs_raise_before_the_launch(name, make, error, message):
    args = bad_case()
    args.update(make(args))
    with pytest.raises(error, match=message):
        fat.attention_with_kvcache(**args)


def test_bad_contiguous_cache_and_scale():
    dtype = torch.bfloat16
    q = queries(2, 1, 4, 64, dtype)
    k = torch.randn(3, 32, 2, 64, device=DEV, dtype=dtype)
    with pytest.raises(ValueError, match="batch of q"):
        fat.attention_with_kvcache(q, k, k, 8)
    with pytest.raises(ValueError, match="outside"):
        fat.attention_with_kvcache(q, k[:2], k[:2], _i32([8, 33]))
    with pytest.raises(ValueError, match="softmax_scale"):
        fat.attention_with_kvcache(q, k[:2], k[:2], 8, softmax_scale=-1.0)


def test_validate_false_skips_the_check():
    """validate=False trusts the tables (no synchronization): valid ones
    give the validated result."""
    args = bad_case()
    want = fat.attention_with_kvcache(**args)
    got = fat.attention_with_kvcache(**args, validate=False)
    assert torch.equal(got, want)


needs_custom_op = pytest.mark.skipif(
    not hasattr(torch.library, "custom_op"),
    reason="torch.library.custom_op needs PyTorch 2.4")


@needs_custom_op
@pytest.mark.parametrize("paged", [True, False])
def test_custom_op_compiles_without_graph_breaks(paged):
    torch._dynamo.reset()
    dtype = torch.bfloat16
    k, v, table, seqlens = paged_cache([17, 300], 64, 2, 128, dtype)
    if not paged:
        k, v, table = k[:2], v[:2], None  # (B, 64, Hkv, D)
        seqlens = _i32([17, 64])
    q = queries(2, 3, 8, 128, dtype)

    def f(q, k, v, seqlens):
        out, lse = fat.attention_with_kvcache(q, k, v, seqlens, table,
                                              causal=True, return_lse=True)
        return out * 2, lse

    with torch.no_grad():
        want = f(q, k, v, seqlens)  # (eager first: loads the compiler)
        got = torch.compile(f, fullgraph=True)(q, k, v, seqlens)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    # The tables are still checked inside the op.
    with pytest.raises(ValueError, match="cache_seqlens"):
        torch.compile(f, fullgraph=True)(q, k, v, seqlens * 1000)
    torch._dynamo.reset()


@needs_custom_op
def test_opcheck():
    k, v, table, seqlens = paged_cache([17, 40], 16, 2, 64, torch.float16)
    q = queries(2, 5, 4, 64, torch.float16)
    torch.library.opcheck(
        torch.ops.fa_mlir.attention_with_kvcache.default,
        (q, k, v, table, seqlens, [], "bottom_right", None, True, None,
         True), test_utils=("test_schema", "test_faketensor"))


def test_cuda_graph_replays_with_new_lengths():
    """Decoding in a CUDA graph (validate=False): the graph reads the
    table and the lengths afresh at each replay."""
    dtype = torch.bfloat16
    k, v, table, seqlens = paged_cache([64, 64], 16, 2, 128, dtype)
    q = queries(2, 1, 8, 128, dtype)

    def step():
        return fat.attention_with_kvcache(q, k, v, seqlens, table,
                                          causal=True, validate=False)

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        step()  # compile and load outside the capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()
    for lengths in ([64, 64], [3, 50], [0, 17]):
        seqlens.copy_(_i32(lengths))
        graph.replay()
        torch.cuda.synchronize()
        ref_out, ref_lse = reference(q, k, v, table, seqlens, True)
        check(out, None, ref_out, ref_lse, dtype)
