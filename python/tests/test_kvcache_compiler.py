"""CPU-only tests of the paged KV cache in the fa_mlir package:
AttentionSpec(paged=...), the fa.attention source it makes, the kernel
arguments a launcher passes, the cache keys, and (once the compiler takes
`paged(...)`) parsing and compiling it. The GPU side is
test_kvcache_gpu.py."""

import re

import pytest

import fa_mlir
from fa_mlir import AttentionSpec, FAError, KernelCache
from fa_mlir.compiler import (attention_source, check_kernel_arguments,
                              compile_source, kernel_arguments)

# The example of docs/PagedKV.md, written by hand (not by attention_source):
# whether the compiler in use takes the paged form at all.
_PROBE = """
func.func @f(%q: tensor<?x32x?x128xbf16>, %k: tensor<?x16x8x128xbf16>,
             %v: tensor<?x16x8x128xbf16>, %o0: tensor<?x32x?x128xbf16>,
             %bt: tensor<?x?xi32>, %sl: tensor<?xi32>)
    -> tensor<?x32x?x128xbf16> {
  %o = fa.attention
      ins(%q, %k, %v : tensor<?x32x?x128xbf16>, tensor<?x16x8x128xbf16>,
                       tensor<?x16x8x128xbf16>)
      outs(%o0 : tensor<?x32x?x128xbf16>)
      paged(%bt, %sl : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x32x?x128xbf16>
  return %o : tensor<?x32x?x128xbf16>
}
"""


def _compiler_takes_paged() -> bool:
    try:
        fa_mlir.Context().parse(_PROBE)
    except FAError:
        return False
    return True


needs_paged_compiler = pytest.mark.skipif(
    not _compiler_takes_paged(),
    reason="this libFAMLIRCAPI.so does not take fa.attention paged(...)")

# A mask_mod reading a captured (B,) i32 tensor: kv_idx < cap0[b].
MASK = """^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index,
     %cap0: tensor<?xi32>):
  %0 = tensor.extract %cap0[%b] : tensor<?xi32>
  %1 = arith.index_cast %0 : i32 to index
  %2 = arith.cmpi ult, %kv_idx, %1 : index
  fa.yield %2 : i1"""


def test_paged_defaults_to_off():
    spec = AttentionSpec()
    assert spec.paged == 0
    assert "paged" not in attention_source(spec)
    assert AttentionSpec(paged=16).paged == 16


@pytest.mark.parametrize("kwargs", [
    dict(paged=-1), dict(paged=16.0), dict(paged=True), dict(paged="16"),
    dict(paged=None)])
def test_bad_page_sizes_raise(kwargs):
    with pytest.raises(FAError, match="paged must be the page size") as e:
        AttentionSpec(**kwargs)
    assert isinstance(e.value, ValueError)


def test_paged_source():
    spec = AttentionSpec(dtype="f16", head_dim=64, causal="bottom_right",
                         lse=True, scale=0.25, paged=16, mask_mod=MASK,
                         captures=("tensor<?xi32>",))
    text = attention_source(spec)
    t, kv = "tensor<?x?x?x64xf16>", "tensor<?x16x?x64xf16>"
    lse, table, lengths = ("tensor<?x?x?xf32>", "tensor<?x?xi32>",
                           "tensor<?xi32>")
    # The function's arguments in the kernel's order.
    header = text.split("\n", 1)[0]
    assert header == (
        f"func.func @attention(%q: {t}, %k_cache: {kv}, %v_cache: {kv}, "
        f"%o: {t}, %lse: {lse}, %block_table: {table}, %cache_seqlens: "
        f"{lengths}, %capture0: tensor<?xi32>) -> ({t}, {lse}) {{")
    assert f"ins(%q, %k_cache, %v_cache : {t}, {kv}, {kv})" in text
    # paged(...) where varlen(...) goes: after the captures, before the
    # scale, the mask and the regions.
    lines = [line.strip() for line in text.splitlines()]
    paged = (f"paged(%block_table, %cache_seqlens : {table}, {lengths})")
    order = [lines.index(line) for line in (
        f"outs(%o, %lse : {t}, {lse})",
        "captures(%capture0 : tensor<?xi32>)", paged, "scale = 0.25",
        "causal = <bottom_right>", "mask_mod {")]
    assert order == sorted(order)
    assert "varlen" not in text and "max_seqlen_q" not in text


def test_paged_source_with_static_heads_and_no_lse():
    text = attention_source(AttentionSpec(head_dim=128, paged=256,
                                          heads=(32, 8)))
    assert "%k_cache: tensor<?x256x8x128xbf16>" in text
    assert "%q: tensor<?x32x?x128xbf16>" in text
    assert "%lse" not in text
    assert re.search(r"-> \(tensor<\?x32x\?x128xbf16>\) \{", text)


def test_paged_kernel_arguments():
    spec = AttentionSpec(dtype="bf16", paged=64, lse=True,
                         captures=("tensor<?x?xf32>",))
    assert kernel_arguments(spec) == [
        ("q", 4, "bf16"), ("k", 4, "bf16"), ("v", 4, "bf16"),
        ("o", 4, "bf16"), ("lse", 3, "f32"), ("block_table", 2, "i32"),
        ("cache_seqlens", 1, "i32"), ("capture0", 2, "f32")]
    assert kernel_arguments(AttentionSpec(paged=64))[4:] == [
        ("block_table", 2, "i32"), ("cache_seqlens", 1, "i32")]


def test_check_kernel_arguments_wants_the_tables():
    spec = AttentionSpec(dtype="f16", paged=16)

    def metadata(names):
        shapes = {"block_table": (2, "i32"), "cache_seqlens": (1, "i32")}
        return {"kernel": "k", "arguments": [
            {"name": n, "rank": shapes.get(n, (4, "f16"))[0],
             "element_type": shapes.get(n, (4, "f16"))[1]} for n in names]}

    check_kernel_arguments(
        metadata(["q", "k", "v", "o", "block_table", "cache_seqlens"]), spec)
    with pytest.raises(FAError, match="disagree"):
        check_kernel_arguments(metadata(["q", "k", "v", "o"]), spec)


def test_cache_key_covers_the_page_size():
    keys = {KernelCache.key(AttentionSpec(head_dim=64, paged=p))
            for p in (0, 16, 64, 256)}
    assert len(keys) == 4
    assert (KernelCache.key(AttentionSpec(head_dim=64, paged=16)) ==
            KernelCache.key(AttentionSpec(head_dim=64, paged=16)))


@needs_paged_compiler
@pytest.mark.parametrize("lse", [False, True])
def test_paged_source_parses(lse):
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right",
                         lse=lse, paged=16, mask_mod=MASK,
                         captures=("tensor<?xi32>",))
    text = str(fa_mlir.Context().parse(attention_source(spec)))
    assert "paged(%" in text and "causal = <bottom_right>" in text


@needs_paged_compiler
@pytest.mark.parametrize("page_size", [16, 64])
def test_paged_kernel(tmp_path, page_size):
    """The kernel takes q, k, v, o, lse, block_table, cache_seqlens, then
    the captures; its grid is the fixed-length one over q; the launch JSON
    has the "paged" section of docs/PagedKV.md."""
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right",
                         lse=True, paged=page_size, mask_mod=MASK,
                         captures=("tensor<?xi32>",))
    cache = KernelCache(str(tmp_path))
    kernel = cache.get(spec, format="ptx", strategy="mma-sync")
    check_kernel_arguments(kernel.metadata, spec)
    meta = kernel.metadata
    assert [a["name"] for a in meta["arguments"]] == [
        "q", "k", "v", "o", "lse", "block_table", "cache_seqlens",
        "capture0"]
    assert [(g["arg"], g["dim"]) for g in meta["grid"]] == [
        (0, 2), (0, 1), (0, 0)]
    assert meta["paged"]["block_table"] == 5
    assert meta["paged"]["cache_seqlens"] == 6
    assert meta["paged"]["page_size"] == page_size
    assert meta["attention"]["paged"] is True
    assert meta["attention"]["page_size"] == page_size
    assert kernel.name.endswith(f"_paged{page_size}")
    # One kernel per page size, compiled once.
    assert cache.get(spec, format="ptx", strategy="mma-sync") is kernel
    assert cache.compilations == 1


@needs_paged_compiler
def test_paged_split_kernels(tmp_path):
    """Split-KV on a paged cache: the partial kernel takes q, k, v,
    partial_o, partial_lse, block_table, cache_seqlens, then the captures,
    and states the rule's blocks over max_pages * page_size keys; the
    combine kernel is the fixed-length one. The split tile's default is
    16 x 64 at D = 128 (4 positions of the 4 packed heads)."""
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right",
                         lse=True, paged=16, mask_mod=MASK,
                         captures=("tensor<?xi32>",), heads=(32, 8))
    partial, combine = KernelCache(str(tmp_path)).get_split(
        spec, format="ptx", strategy="mma-sync", split_kv="auto",
        pack_gqa=True)
    check_kernel_arguments(partial.metadata, spec, split_stage="partial")
    check_kernel_arguments(combine.metadata, spec, split_stage="combine")
    meta = partial.metadata
    assert [a["name"] for a in meta["arguments"]] == [
        "q", "k", "v", "partial_o", "partial_lse", "block_table",
        "cache_seqlens", "capture0"]
    assert (meta["tile"]["block_m"], meta["tile"]["block_n"]) == (16, 64)
    assert meta["paged"]["block_table"] == 5
    assert meta["paged"]["cache_seqlens"] == 6
    assert meta["split_kv"]["blocks"] == "ceildiv(block_table.size[1] * 16, 64)"
    assert meta["split_kv"]["tiles"] == \
        "q.size[0] * k.size[2] * ceildiv(q.size[2], 4)"
    # Packed tiles run over Hkv, dimension 2 of the pages.
    assert (meta["grid"][1]["arg"], meta["grid"][1]["dim"]) == (1, 2)
    assert meta["grid"][0]["times"] == {"arg": 4, "dim": 0}
    assert partial.name.endswith("_gqa4_paged16_splitkv")
    assert "paged" not in combine.metadata


@needs_paged_compiler
def test_paged_kernel_without_lse():
    spec = AttentionSpec(dtype="f16", head_dim=64, paged=32)
    (kernel,) = compile_source(attention_source(spec), format="ptx",
                               strategy="mma-sync")
    check_kernel_arguments(kernel.metadata, spec)
    assert kernel.metadata["paged"]["block_table"] == 4


@needs_paged_compiler
def test_paged_hopper_ws():
    """hopper-ws reads pages of a multiple of 8 rows with TMA (auto picks
    it on sm_90a): rank-4 tensor maps over the pool, a box of 64 columns x
    1 head x gcd(page size, block-n) rows x 1 page. Other page sizes are
    refused, and auto builds them with mma-sync."""
    spec = AttentionSpec(dtype="bf16", head_dim=128, paged=16)
    for strategy in ("hopper-ws", "auto"):
        (kernel,) = compile_source(attention_source(spec), format="ptx",
                                   strategy=strategy)
        assert kernel.metadata["strategy"] == "hopper-ws"
        maps = {m["argument"]: m for m in kernel.metadata["tensor_maps"]}
        for argument in (1, 2):
            assert maps[argument]["rank"] == 4
            assert maps[argument]["box"] == [64, 1, 16, 1]
        check_kernel_arguments(kernel.metadata, spec)
    odd = AttentionSpec(dtype="bf16", head_dim=128, paged=12)
    with pytest.raises(FAError, match="pages of a multiple of 8 rows"):
        compile_source(attention_source(odd), format="ptx",
                       strategy="hopper-ws")
    (kernel,) = compile_source(attention_source(odd), format="ptx",
                               strategy="auto")
    assert kernel.metadata["strategy"] == "mma-sync"
