"""CPU-only tests of variable-length queries against a paged KV cache in
the fa_mlir package: AttentionSpec(varlen=True, paged=...), the
fa.attention source it makes (the varlen clause without cu_seqlens_k, then
the paged clause), the kernel arguments a launcher passes, the cache keys,
and (once the compiler takes the combination) parsing and compiling it.
The GPU side is test_varlen_paged_gpu.py."""

import pytest

import fa_mlir
from fa_mlir import AttentionSpec, FAError, KernelCache
from fa_mlir.compiler import (attention_source, check_kernel_arguments,
                              compile_source, kernel_arguments,
                              split_kernel_arguments)

# The combined form as docs/Varlen.md writes it, by hand (not by
# attention_source): whether the compiler in use takes it at all.
_PROBE = """
func.func @f(%q: tensor<?x32x128xbf16>, %k: tensor<?x16x8x128xbf16>,
             %v: tensor<?x16x8x128xbf16>, %o0: tensor<?x32x128xbf16>,
             %lse0: tensor<32x?xf32>, %cu_q: tensor<?xi32>, %m: index,
             %bt: tensor<?x?xi32>, %sl: tensor<?xi32>)
    -> (tensor<?x32x128xbf16>, tensor<32x?xf32>) {
  %o, %lse = fa.attention
      ins(%q, %k, %v : tensor<?x32x128xbf16>, tensor<?x16x8x128xbf16>,
                       tensor<?x16x8x128xbf16>)
      outs(%o0, %lse0 : tensor<?x32x128xbf16>, tensor<32x?xf32>)
      varlen(%cu_q : tensor<?xi32>) max_seqlen_q = %m
      paged(%bt, %sl : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x32x128xbf16>, tensor<32x?xf32>
  return %o, %lse : tensor<?x32x128xbf16>, tensor<32x?xf32>
}
"""


def _compiler_takes_varlen_paged() -> bool:
    try:
        fa_mlir.Context().parse(_PROBE)
    except FAError:
        return False
    return True


needs_compiler = pytest.mark.skipif(
    not _compiler_takes_varlen_paged(),
    reason="this libFAMLIRCAPI.so does not take fa.attention varlen(%cu_q "
           ": ...) with paged(...)")

# A mask_mod reading a captured (B,) i32 tensor: kv_idx < cap0[b].
MASK = """^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index,
     %cap0: tensor<?xi32>):
  %0 = tensor.extract %cap0[%b] : tensor<?xi32>
  %1 = arith.index_cast %0 : i32 to index
  %2 = arith.cmpi ult, %kv_idx, %1 : index
  fa.yield %2 : i1"""

CU, TABLE, LENGTHS = "tensor<?xi32>", "tensor<?x?xi32>", "tensor<?xi32>"


def test_varlen_and_paged_combine():
    spec = AttentionSpec(varlen=True, paged=16)
    assert spec.varlen and spec.paged == 16
    text = attention_source(spec)
    assert f"varlen(%cu_q : {CU}) max_seqlen_q = %max_q" in text
    assert (f"paged(%block_table, %cache_seqlens : {TABLE}, {LENGTHS})"
            in text)
    assert "cu_k" not in text and "cu_seqlens_k" not in text


@pytest.mark.parametrize("kwargs, message", [
    (dict(varlen=True, paged=-16), "paged must be the page size"),
    (dict(varlen=True, paged=16.0), "paged must be the page size"),
    (dict(varlen=True, paged=True), "paged must be the page size"),
    (dict(varlen=True, paged="16"), "paged must be the page size"),
    (dict(varlen=True, paged=None), "paged must be the page size"),
    (dict(varlen=1, paged=16), "varlen must be a bool"),
    (dict(varlen="yes", paged=16), "varlen must be a bool"),
    (dict(varlen=True, paged=16, heads=(6, 4)), "heads must be"),
    (dict(varlen=True, paged=16, dtype="f32"), "dtype must be"),
    (dict(varlen=True, paged=16, causal="top"), "causal must be"),
    (dict(varlen=True, paged=16, captures=("tensor<?xf8>",)),
     "a capture must be"),
])
def test_bad_combinations_still_raise(kwargs, message):
    with pytest.raises(FAError, match=message) as e:
        AttentionSpec(**kwargs)
    assert isinstance(e.value, ValueError)


def test_page_size_zero_is_the_varlen_form():
    """paged=0 is no paged cache: the varlen form with both offsets."""
    text = attention_source(AttentionSpec(varlen=True, paged=0))
    assert f"varlen(%cu_q, %cu_k : {CU}, {CU}) max_seqlen_q = %max_q" in text
    assert "paged" not in text and "k_cache" not in text


def test_source():
    spec = AttentionSpec(dtype="f16", head_dim=64, causal="bottom_right",
                         lse=True, scale=0.25, varlen=True, paged=16,
                         mask_mod=MASK, captures=("tensor<?xi32>",))
    text = attention_source(spec)
    t, kv, lse = ("tensor<?x?x64xf16>", "tensor<?x16x?x64xf16>",
                  "tensor<?x?xf32>")
    # The function's arguments: the kernel's order, with the launch scalar
    # %max_q after the offsets.
    header = text.split("\n", 1)[0]
    assert header == (
        f"func.func @attention(%q: {t}, %k_cache: {kv}, %v_cache: {kv}, "
        f"%o: {t}, %lse: {lse}, %cu_q: {CU}, %max_q: index, %block_table: "
        f"{TABLE}, %cache_seqlens: {LENGTHS}, %capture0: tensor<?xi32>) -> "
        f"({t}, {lse}) {{")
    assert f"ins(%q, %k_cache, %v_cache : {t}, {kv}, {kv})" in text
    # varlen(...) then paged(...), after the captures, before the scale,
    # the mask and the regions.
    lines = [line.strip() for line in text.splitlines()]
    order = [lines.index(line) for line in (
        f"outs(%o, %lse : {t}, {lse})",
        "captures(%capture0 : tensor<?xi32>)",
        f"varlen(%cu_q : {CU}) max_seqlen_q = %max_q",
        f"paged(%block_table, %cache_seqlens : {TABLE}, {LENGTHS})",
        "scale = 0.25", "causal = <bottom_right>", "mask_mod {",
        f"-> {t}, {lse}")]
    assert order == sorted(order)
    assert "%cu_k" not in text


def test_source_with_static_heads_is_the_documented_op():
    """heads=(32, 8), page size 16: the op of docs/Varlen.md, operand for
    operand."""
    text = attention_source(AttentionSpec(
        dtype="bf16", head_dim=128, causal="bottom_right", lse=True,
        varlen=True, paged=16, heads=(32, 8)))
    t, kv, lse = ("tensor<?x32x128xbf16>", "tensor<?x16x8x128xbf16>",
                  "tensor<32x?xf32>")
    body = [line.strip() for line in text.splitlines()[1:-1]]
    assert body == [
        "%out, %l = fa.attention",
        f"ins(%q, %k_cache, %v_cache : {t}, {kv}, {kv})",
        f"outs(%o, %lse : {t}, {lse})",
        f"varlen(%cu_q : {CU}) max_seqlen_q = %max_q",
        f"paged(%block_table, %cache_seqlens : {TABLE}, {LENGTHS})",
        "causal = <bottom_right>",
        f"-> {t}, {lse}",
        f"return %out, %l : {t}, {lse}"]


def test_source_without_lse():
    text = attention_source(AttentionSpec(head_dim=128, varlen=True,
                                          paged=256))
    assert "%lse" not in text and "%out, %l" not in text
    assert "%k_cache: tensor<?x256x?x128xbf16>" in text
    assert "-> (tensor<?x?x128xbf16>) {" in text


def test_the_other_forms_keep_their_sources():
    """The varlen form keeps both offsets, the paged form its [B, H, N, D]
    q, and neither takes the other's clause."""
    varlen = attention_source(AttentionSpec(varlen=True, lse=True))
    assert f"varlen(%cu_q, %cu_k : {CU}, {CU})" in varlen
    assert "%k: tensor<?x?x128xbf16>" in varlen and "paged" not in varlen
    paged = attention_source(AttentionSpec(paged=16, lse=True))
    assert "%q: tensor<?x?x?x128xbf16>" in paged
    assert "%lse: tensor<?x?x?xf32>" in paged and "varlen" not in paged


def test_kernel_arguments():
    spec = AttentionSpec(dtype="bf16", varlen=True, paged=64, lse=True,
                         captures=("tensor<?x?xf32>",))
    assert kernel_arguments(spec) == [
        ("q", 3, "bf16"), ("k", 4, "bf16"), ("v", 4, "bf16"),
        ("o", 3, "bf16"), ("lse", 2, "f32"), ("cu_seqlens_q", 1, "i32"),
        ("block_table", 2, "i32"), ("cache_seqlens", 1, "i32"),
        ("capture0", 2, "f32")]
    assert kernel_arguments(AttentionSpec(dtype="f16", varlen=True,
                                          paged=64)) == [
        ("q", 3, "f16"), ("k", 4, "f16"), ("v", 4, "f16"), ("o", 3, "f16"),
        ("cu_seqlens_q", 1, "i32"), ("block_table", 2, "i32"),
        ("cache_seqlens", 1, "i32")]
    # (The forms alone, unchanged.)
    assert [n for n, _, _ in kernel_arguments(
        AttentionSpec(varlen=True))][4:] == ["cu_seqlens_q", "cu_seqlens_k"]
    assert kernel_arguments(AttentionSpec(paged=64))[:5] == [
        ("q", 4, "bf16"), ("k", 4, "bf16"), ("v", 4, "bf16"),
        ("o", 4, "bf16"), ("block_table", 2, "i32")]


def _metadata(args):
    return {"kernel": "k", "arguments": [
        {"name": n, "rank": r, "element_type": e} for n, r, e in args]}


def test_check_kernel_arguments():
    spec = AttentionSpec(dtype="f16", varlen=True, paged=16, lse=True)
    check_kernel_arguments(_metadata(kernel_arguments(spec)), spec)
    # A kernel that takes cu_seqlens_k too (the varlen form's list), or
    # misses the table: the package and the compiler disagree.
    both = kernel_arguments(spec)
    both.insert(6, ("cu_seqlens_k", 1, "i32"))
    for args in (both, kernel_arguments(spec)[:6],
                 kernel_arguments(AttentionSpec(dtype="f16", varlen=True,
                                                lse=True))):
        with pytest.raises(FAError, match="disagree"):
            check_kernel_arguments(_metadata(args), spec)


def test_no_split_kernels_for_varlen():
    """The compiler refuses split-KV for variable-length attentions: no
    argument list for one."""
    for spec in (AttentionSpec(varlen=True, paged=16),
                 AttentionSpec(varlen=True)):
        with pytest.raises(FAError, match="split-KV"):
            split_kernel_arguments(spec, "partial")
    split_kernel_arguments(AttentionSpec(paged=16), "partial")


def test_cache_keys():
    keys = {KernelCache.key(AttentionSpec(head_dim=64, varlen=v, paged=p))
            for v in (False, True) for p in (0, 16, 64)}
    assert len(keys) == 6
    assert (KernelCache.key(AttentionSpec(head_dim=64, varlen=True,
                                          paged=16)) ==
            KernelCache.key(AttentionSpec(head_dim=64, varlen=True,
                                          paged=16)))


@needs_compiler
@pytest.mark.parametrize("lse", [False, True])
def test_source_parses(lse):
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right",
                         lse=lse, varlen=True, paged=16, mask_mod=MASK,
                         captures=("tensor<?xi32>",))
    text = str(fa_mlir.Context().parse(attention_source(spec)))
    assert "varlen(%" in text and "paged(%" in text


@needs_compiler
@pytest.mark.parametrize("lse", [False, True])
@pytest.mark.parametrize("page_size", [16, 64])
def test_kernel(tmp_path, page_size, lse):
    """The kernel takes q, k, v, o, [lse,] cu_seqlens_q, block_table,
    cache_seqlens, then the captures; its grid is the varlen one
    (ceildiv(max_seqlen_q, block_m), Hq, cu_seqlens_q.size[0] - 1); the
    launch JSON has a "varlen" section without cu_seqlens_k and a "paged"
    section."""
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right",
                         lse=lse, varlen=True, paged=page_size,
                         mask_mod=MASK, captures=("tensor<?xi32>",))
    cache = KernelCache(str(tmp_path))
    kernel = cache.get(spec, format="ptx", strategy="mma-sync")
    check_kernel_arguments(kernel.metadata, spec)
    meta = kernel.metadata
    first = 5 if lse else 4
    assert [a["name"] for a in meta["arguments"]] == (
        ["q", "k", "v", "o"] + (["lse"] if lse else []) +
        ["cu_seqlens_q", "block_table", "cache_seqlens", "capture0"])
    grid = meta["grid"]
    assert grid[0]["scalar"] == "max_seqlen_q"
    assert grid[0]["ceildiv"] == meta["tile"]["block_m"]
    assert (grid[1]["arg"], grid[1]["dim"]) == (0, 1)
    assert (grid[2]["arg"], grid[2]["dim"], grid[2]["minus"]) == (first, 0,
                                                                  1)
    assert meta["varlen"]["cu_seqlens_q"] == first
    assert "cu_seqlens_k" not in meta["varlen"]
    assert "max_seqlen_q" in meta["varlen"]
    assert meta["paged"]["block_table"] == first + 1
    assert meta["paged"]["cache_seqlens"] == first + 2
    assert meta["paged"]["page_size"] == page_size
    # One kernel per page size, compiled once.
    assert cache.get(spec, format="ptx", strategy="mma-sync") is kernel
    assert cache.compilations == 1


@needs_compiler
@pytest.mark.parametrize("page_size", [0, 16])
def test_packed_gqa_kernel(tmp_path, page_size):
    """pack_gqa with static heads (32:8): a tile holds the 4 query heads
    of a key/value head at block_m / 4 positions; the grid is
    (ceildiv(max_seqlen_q, block_m / 4), Hkv, B), Hkv from k's head
    dimension (1 packed, 2 paged), and the tile states pack_gqa."""
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right",
                         lse=True, varlen=True, paged=page_size,
                         heads=(32, 8))
    kernel = KernelCache(str(tmp_path)).get(
        spec, format="ptx", strategy="mma-sync", pack_gqa=True, block_m=64)
    check_kernel_arguments(kernel.metadata, spec)
    meta = kernel.metadata
    assert meta["tile"]["pack_gqa"] == 4 and meta["tile"]["block_m"] == 64
    grid = meta["grid"]
    assert grid[0]["scalar"] == "max_seqlen_q" and grid[0]["ceildiv"] == 16
    assert (grid[1]["arg"], grid[1]["dim"]) == (1, 2 if page_size else 1)
    assert grid[2]["minus"] == 1
    assert "_gqa4_varlen" in kernel.name


@needs_compiler
@pytest.mark.parametrize("options", [
    dict(split_kv="auto"), dict(split_kv="4"),
    dict(pack_gqa=True, strategy="hopper-ws"),
    dict(strategy="hopper-ws", persistent="on")])
def test_refused_options(options):
    """Split-KV tiles take no variable-length attention, nor does
    hopper-ws packed GQA tiles or, against a paged cache, a persistent
    loop: the compiler says so."""
    spec = AttentionSpec(dtype="bf16", head_dim=128, varlen=True, paged=16,
                         heads=(32, 8))
    options = dict(dict(strategy="mma-sync"), **options)
    with pytest.raises(FAError):
        compile_source(attention_source(spec), format="ptx", **options)


@needs_compiler
@pytest.mark.parametrize("head_dim", [64, 128, 256])
def test_hopper_varlen_kernel(tmp_path, head_dim):
    """Without a paged cache the compiler's choice on sm_90a is hopper-ws:
    its tensor maps read the packed [T, H, D] q, k and v (rank 3, a box of
    64 columns of one head's rows), its grid is the varlen one, and a
    packed tensor encodes as dims (D, H, T)."""
    from fa_mlir import _tensormap
    spec = AttentionSpec(dtype="bf16", head_dim=head_dim,
                         causal="bottom_right", lse=True, varlen=True)
    kernel = KernelCache(str(tmp_path)).get(spec, format="ptx")
    meta = kernel.metadata
    assert meta["strategy"] == "hopper-ws"
    assert "persistent" not in meta
    block_m, block_n = meta["tile"]["block_m"], meta["tile"]["block_n"]
    maps = _tensormap.parse_tensor_maps(meta)
    assert [(m.operand, m.argument, m.rank, m.box) for m in maps] == [
        ("q", 0, 3, (64, 1, block_m)), ("k", 1, 3, (64, 1, block_n)),
        ("v", 2, 3, (64, 1, block_n))]
    assert meta["grid"][0]["scalar"] == "max_seqlen_q"
    assert [a["name"] for a in meta["arguments"]] == [
        "q", "k", "v", "o", "lse", "cu_seqlens_q", "cu_seqlens_k"]
    tokens, heads = 1000, 8
    encoded = _tensormap.encoding(maps[1], 1 << 20, (tokens, heads, head_dim),
                                  (heads * head_dim, head_dim, 1))
    assert encoded.global_dim == (head_dim, heads, tokens)
    assert encoded.global_strides == (2 * head_dim, 2 * heads * head_dim)
    # Without a mask at D 64 the kernel loops over the tiles (persistent).
    if head_dim == 64:
        plain = AttentionSpec(dtype="bf16", head_dim=64, varlen=True)
        meta = KernelCache(str(tmp_path)).get(plain, format="ptx").metadata
        assert meta["strategy"] == "hopper-ws" and "persistent" in meta
