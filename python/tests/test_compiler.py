"""CPU-only tests of the fa_mlir package: IR, the pipeline, the cache, errors.
Run in CI (make check, through test/Python/pytest.test)."""

import os
import re
import struct

import numpy as np
import pytest

import fa_mlir
from fa_mlir import AttentionSpec, FAError, KernelCache, _tensormap
from fa_mlir.compiler import (attention_backward_source, attention_source,
                              backward_kernel_arguments,
                              check_kernel_arguments, compile_source,
                              options_string)


def test_version():
    assert re.match(r"fa-mlir \S+ \(MLIR 22\.", fa_mlir.version())


def test_attention_source_parses_and_round_trips():
    spec = AttentionSpec(dtype="f16", head_dim=64, causal="bottom_right",
                         lse=True, scale=0.1)
    module = fa_mlir.Context().parse(fa_mlir.attention_source(spec))
    text = str(module)
    assert "fa.attention" in text
    assert "causal = <bottom_right>" in text
    assert "scale = 1.000000e-01" in text
    assert "tensor<?x?x?xf32>" in text  # the LSE result
    assert '"fa.attention"' in module.print(generic=True)


def test_passes_run_in_place():
    ctx = fa_mlir.Context()
    module = ctx.parse(fa_mlir.attention_source(AttentionSpec(head_dim=128)))
    module.run("func.func(fa-tile-attention{block-m=64 block-n=32}),"
               "func.func(fa-fuse-online-softmax)")
    text = str(module)
    assert "fa.attention_tile = {block_m = 64 : i64, block_n = 32 : i64" in text
    assert 'fa.softmax_stage = "online"' in text
    assert "fa.attention " not in text  # the op is gone


def test_compile_to_ptx_and_metadata():
    (kernel,) = fa_mlir.compile_source(
        fa_mlir.attention_source(AttentionSpec(dtype="bf16", head_dim=64,
                                               causal="top_left")),
        format="ptx", strategy="mma-sync")
    assert kernel.name.startswith("fa_attention_bf16_d64_bm128_bn64_w4")
    assert kernel.cubin == b""
    assert "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32" in kernel.ptx
    assert kernel.metadata["kernel"] == kernel.name
    assert kernel.metadata["attention"]["causal"] == "top_left"
    assert kernel.metadata["tile"]["warps"] == 4
    assert kernel.metadata["compiler"] == fa_mlir.version()


def _toolkit_tool(tool):
    root = (os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
            or "/usr/local/cuda")
    return os.path.join(root, "bin", tool)


def _toolkit_has(tool):
    return os.access(_toolkit_tool(tool), os.X_OK)


@pytest.mark.skipif(not (_toolkit_has("ptxas") and _toolkit_has("fatbinary")),
                    reason="no CUDA toolkit with ptxas and fatbinary")
def test_fatbin_holds_the_cubin_and_the_ptx():
    # ptxas and fatbinary on the PTX of the one LLVM backend run.
    (kernel,) = fa_mlir.compile_source(
        fa_mlir.attention_source(AttentionSpec(dtype="f16", head_dim=64)),
        format="fatbin", chip="sm_90a")
    fatbin = kernel.cubin
    magic, _, header, size = struct.unpack_from("<IHHQ", fatbin, 0)
    assert magic == 0xBA55ED50 and header + size == len(fatbin)
    images, offset = [], header
    while offset < len(fatbin):
        kind, _, entry, payload = struct.unpack_from("<HHIQ", fatbin, offset)
        arch = struct.unpack_from("<I", fatbin, offset + 28)[0]
        images.append((kind, arch))
        offset += entry + payload
    assert images == [(2, 90), (1, 90)]  # an sm_90 ELF, then its PTX
    assert ".target sm_90a" in kernel.ptx


@pytest.mark.skipif(not _toolkit_has("ptxas"), reason="no ptxas")
def test_fatbin_without_fatbinary_says_so(tmp_path):
    (tmp_path / "bin").mkdir()
    os.symlink(_toolkit_tool("ptxas"), tmp_path / "bin" / "ptxas")
    source = fa_mlir.attention_source(AttentionSpec(head_dim=64))
    with pytest.raises(FAError, match="no fatbinary at .* to make a fatbin"):
        fa_mlir.Context().compile(source,
                                  f"format=fatbin cuda-path={tmp_path}")


def test_hopper_strategy_compiles_wgmma():
    (kernel,) = fa_mlir.compile_source(
        fa_mlir.attention_source(AttentionSpec(dtype="f16", head_dim=128,
                                               causal="bottom_right",
                                               lse=True)),
        format="ptx", strategy="hopper-ws")
    assert kernel.name.startswith("fa_attention_f16_d128_bm128_bn128_wg2_s2_"
                                  "wgmma_lse_")
    assert "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16" in kernel.ptx
    assert kernel.metadata["strategy"] == "hopper-ws"
    # Two consumer warpgroups and the producer; TMA maps of Q, K and V,
    # and of O, which the default epilogue stores by TMA.
    assert kernel.metadata["block"][0] == 384
    assert "cp.async.bulk.tensor.4d" in kernel.ptx
    assert [m["operand"] for m in kernel.metadata["tensor_maps"]] == [
        "q", "k", "v", "o"]
    assert kernel.metadata["tensor_maps"][1]["box"] == [64, 128, 1, 1]


def test_cache_compiles_once_and_reads_disk(tmp_path):
    spec = AttentionSpec(dtype="f16", head_dim=64)
    cache = KernelCache(str(tmp_path))
    first = cache.get(spec, format="ptx")
    second = cache.get(spec, format="ptx")
    assert first is second and cache.compilations == 1
    # A new process (a new cache object) compiles nothing either.
    fresh = KernelCache(str(tmp_path))
    again = fresh.get(spec, format="ptx")
    assert fresh.compilations == 0
    assert again.ptx == first.ptx and again.metadata == first.metadata
    # split_kv=None is the default (none), as None is for every option.
    assert KernelCache(str(tmp_path)).get(spec, format="ptx",
                                          split_kv=None).ptx == first.ptx


@pytest.mark.parametrize("metadata", ["{}", "null", "[]", '{"kernel": 5}',
                                      '{"kernel": "another_kernel"}'])
def test_a_damaged_cache_entry_is_compiled_again(tmp_path, metadata):
    spec = AttentionSpec(dtype="f16", head_dim=64)
    first = KernelCache(str(tmp_path)).get(spec, format="ptx")
    key = KernelCache.key(spec, format="ptx")
    (tmp_path / f"{key}.json").write_text(metadata)
    cache = KernelCache(str(tmp_path))
    again = cache.get(spec, format="ptx")
    assert cache.compilations == 1 and again.metadata == first.metadata
    assert KernelCache(str(tmp_path)).get(spec, format="ptx").metadata == \
        first.metadata  # and overwritten


@pytest.mark.parametrize("dq,stages", [
    ("accumulate", ["delta", "fused", "dq_convert"]),
    ("stage", ["delta", "key_value", "query"])])
def test_backward_compiles_three_kernels_once(tmp_path, dq, stages):
    spec = AttentionSpec(dtype="bf16", head_dim=64, causal="bottom_right")
    cache = KernelCache(str(tmp_path))
    kernels = cache.get_backward(spec, format="ptx", strategy="mma-sync",
                                 backward_dq=dq)
    assert [k.metadata["backward"]["stage"] for k in kernels] == stages
    want = backward_kernel_arguments(spec, accumulate=dq == "accumulate")
    for k in kernels:
        check_kernel_arguments(k.metadata, spec, backward=True,
                               accumulate=dq == "accumulate")
        assert [a["name"] for a in k.metadata["arguments"]] == [
            n for n, _, _ in want]
        assert ".entry " + k.name in k.ptx
    assert kernels[1].metadata["grid"][0]["arg"] == 1  # tiles over K
    if dq == "accumulate":
        # The fused kernel adds dQ with atomics; dq_convert rounds it.
        assert "red.global.add.v4.f32" in kernels[1].ptx  # sm_90a
        writes = [[a["name"] for a in k.metadata["arguments"] if a["writes"]]
                  for k in kernels]
        assert writes == [["delta", "dq_accum"], ["dq_accum", "dk", "dv"],
                          ["dq"]]
    # The forward's key is another key; a new cache reads the disk.
    assert cache.backward_key(spec, format="ptx") != cache.key(
        spec, format="ptx")
    fresh = KernelCache(str(tmp_path))
    again = fresh.get_backward(spec, format="ptx", strategy="mma-sync",
                               backward_dq=dq)
    assert fresh.compilations == 0
    assert [k.ptx for k in again] == [k.ptx for k in kernels]


@pytest.mark.parametrize("splits", ["auto", "4"])
def test_split_kv_compiles_partial_and_combine_once(tmp_path, splits):
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right",
                         lse=True)
    cache = KernelCache(str(tmp_path))
    options = dict(format="ptx", strategy="mma-sync", split_kv=splits,
                   block_m=16)
    partial, combine = cache.get_split(spec, **options)
    assert partial.metadata["split_kv"]["stage"] == "partial"
    assert combine.metadata["split_kv"]["stage"] == "combine"
    assert partial.metadata["split_kv"]["splits"] == (
        0 if splits == "auto" else 4)
    assert partial.metadata["split_kv"]["rule"] == "fill-slots-v2"
    assert [a["name"] for a in partial.metadata["arguments"]] == [
        "q", "k", "v", "partial_o", "partial_lse"]
    assert [a["name"] for a in combine.metadata["arguments"]] == [
        "partial_o", "partial_lse", "o", "lse"]
    assert [a["name"] for a in combine.metadata["arguments"]
            if a["writes"]] == ["o", "lse"]
    assert partial.metadata["grid"][0]["times"] == {"arg": 4, "dim": 0}
    assert combine.metadata["block"] == [128, 1, 1]
    fresh = KernelCache(str(tmp_path))
    again = fresh.get_split(spec, **options)
    assert fresh.compilations == 0
    assert [k.ptx for k in again] == [partial.ptx, combine.ptx]
    with pytest.raises(ValueError, match="split_kv"):
        cache.get_split(spec, format="ptx")
    with pytest.raises(ValueError, match="get_split"):
        cache.get(spec, **options)


def test_packed_gqa_split_kernels(tmp_path):
    """pack_gqa: a tile holds the 4 query heads of a key/value head, 4
    positions each; the grid runs over Hkv (k's dimension 1) and the
    combine over the query heads."""
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right",
                         lse=True, heads=(32, 8))
    partial, combine = KernelCache(str(tmp_path)).get_split(
        spec, format="ptx", strategy="mma-sync", split_kv="auto",
        block_m=16, pack_gqa=True)
    tile = partial.metadata["tile"]
    assert (tile["block_m"], tile["pack_gqa"]) == (16, 4)
    grid = partial.metadata["grid"]
    assert grid[0]["ceildiv"] == 4 and grid[0]["times"] == {"arg": 4,
                                                            "dim": 0}
    assert (grid[1]["arg"], grid[1]["dim"]) == (1, 1)
    assert partial.metadata["split_kv"]["tiles"] == \
        "q.size[0] * k.size[1] * ceildiv(q.size[2], 4)"
    assert partial.metadata["arguments"][0]["shape"] == [-1, 32, -1, 128]
    assert "pack_gqa" not in combine.metadata["tile"]
    assert (combine.metadata["grid"][1]["arg"],
            combine.metadata["grid"][1]["dim"]) == (2, 1)


def test_packed_gqa_needs_static_heads():
    spec = AttentionSpec(dtype="bf16", head_dim=128)
    with pytest.raises(FAError, match="pack-gqa needs static head counts"):
        compile_source(attention_source(spec), format="ptx",
                       strategy="mma-sync", pack_gqa=True)


def test_cache_key_covers_everything_that_changes_the_kernel():
    base = AttentionSpec(dtype="f16", head_dim=64)
    keys = {
        KernelCache.key(base),
        KernelCache.key(AttentionSpec(dtype="bf16", head_dim=64)),
        KernelCache.key(AttentionSpec(dtype="f16", head_dim=128)),
        KernelCache.key(AttentionSpec(dtype="f16", head_dim=64,
                                      causal="top_left")),
        KernelCache.key(AttentionSpec(dtype="f16", head_dim=64, lse=True)),
        KernelCache.key(AttentionSpec(dtype="f16", head_dim=64, scale=0.2)),
        KernelCache.key(base, chip="sm_80"),
        KernelCache.key(base, block_n=128),
        KernelCache.key(base, format="ptx"),
        KernelCache.key(base, strategy="hopper-ws"),
        KernelCache.key(AttentionSpec(dtype="f16", head_dim=64,
                                      heads=(8, 2))),
        KernelCache.key(base, pack_gqa=True),
    }
    assert len(keys) == 12
    assert KernelCache.key(base) == KernelCache.key(
        AttentionSpec(dtype="f16", head_dim=64))


@pytest.mark.parametrize("kwargs, message", [
    (dict(dtype="f32"), "dtype must be one of"),
    (dict(head_dim=0), "head_dim must be a positive int"),
    (dict(causal="left"), "causal must be one of"),
    (dict(scale=-1.0), "scale must be a positive finite number"),
    (dict(scale=float("inf")), "scale must be a positive finite number"),
    (dict(heads=(8, 3)), "heads must be"),
    (dict(heads=(8,)), "heads must be"),
    (dict(heads=(0, 1)), "heads must be"),
    (dict(heads=(8.0, 2)), "heads must be"),
    (dict(head_dim=True), "head_dim must be a positive int"),
    (dict(scale=True), "scale must be a positive finite number"),
    (dict(scale="0.1"), "scale must be a positive finite number"),
    (dict(scale=10 ** 400), "scale must be a positive finite number"),
    # Finite, but inf or 0 once log2(e) is folded in as an f32 (the
    # fa.attention verifier's range).
    (dict(scale=3e38), "scale must be in \\[1.175494e-38, 2.358657e\\+38\\]"),
    (dict(scale=1e-39), "a normal f32 with log2\\(e\\) folded in"),
    (dict(scale=1e-320), "scale must be in"),
    (dict(lse="yes"), "lse must be a bool"),
    (dict(lse=None), "lse must be a bool"),
])
def test_bad_specs_raise(kwargs, message):
    with pytest.raises(FAError, match=message):
        AttentionSpec(**kwargs)


@pytest.mark.parametrize("scale", [5e-05, 1e-30, 1e16, 3, np.float32(0.1),
                                   np.float64(0.2)])
def test_any_valid_scale_compiles(scale):
    # 5e-05 is an integer literal to MLIR: the source writes 5.0e-05.
    source = fa_mlir.attention_source(AttentionSpec(head_dim=64, scale=scale))
    fa_mlir.Context().parse(source)
    written = re.search(r"scale = (\S+)", source).group(1)
    assert float(written) == float(scale)


@pytest.mark.parametrize("split", [0, -1, "auto", 3])
def test_cache_get_names_the_split_it_was_given(split, tmp_path):
    cache = fa_mlir.KernelCache(str(tmp_path))
    with pytest.raises(ValueError, match=f"split_kv={split!r} asks for a "
                       "split-KV attention.*use get_split"):
        cache.get(AttentionSpec(head_dim=64), split_kv=split)


def test_the_backward_refuses_forward_only_fields():
    for kwargs in (dict(varlen=True), dict(paged=16), dict(heads=(8, 2))):
        with pytest.raises(FAError, match="forward-only fields"):
            attention_backward_source(AttentionSpec(**kwargs))


def test_arguments_of_the_wrong_type_raise_type_errors():
    with pytest.raises(TypeError, match="expected an AttentionSpec, got str"):
        fa_mlir.compile_attention("bf16", format="ptx")
    with pytest.raises(TypeError, match="the source must be a str"):
        fa_mlir.compile_source(b"module {}", format="ptx")
    with pytest.raises(TypeError, match="the source must be a str"):
        fa_mlir.Context().parse(None)
    with pytest.raises(TypeError, match="the pipeline must be a str"):
        fa_mlir.Context().parse("module {}").run(None)
    # A NUL would end the C string there: the rest would be ignored.
    with pytest.raises(ValueError, match="NUL character"):
        fa_mlir.compile_source(fa_mlir.attention_source(AttentionSpec()) +
                               "\0garbage", format="ptx")


@pytest.mark.parametrize("options, error, message", [
    (dict(warps="0 chip=sm_80"), TypeError, "warps must be an int"),
    (dict(block_m=64.5), TypeError, "block_m must be an int"),
    (dict(block_m=True), TypeError, "block_m must be an int"),
    (dict(pack_gqa=1), TypeError, "pack_gqa must be a bool"),
    (dict(chip=""), ValueError, "chip is empty"),
    (dict(strategy="auto mma-sync"), FAError, "strategy must be mma-sync"),
    (dict(strategy="auto\0 x"), ValueError, "NUL or a double quote"),
    (dict(cuda_path='a"b'), ValueError, "NUL or a double quote"),
])
def test_option_values_are_checked(options, error, message):
    # A value is one option: it cannot smuggle in others.
    with pytest.raises(error, match=message):
        fa_mlir.compile_source(fa_mlir.attention_source(AttentionSpec()),
                               **dict(dict(format="ptx"), **options))


def test_option_values_with_spaces_are_quoted(tmp_path):
    toolkit = tmp_path / "a toolkit"
    (toolkit / "bin").mkdir(parents=True)
    assert f'cuda-path="{toolkit}"' in options_string(cuda_path=str(toolkit))
    assert "split-kv=3 " in options_string(split_kv=3)
    assert "stages=2 " in options_string(stages=np.int64(2))
    assert f'cuda-path="{toolkit}"' in options_string(cuda_path=toolkit)
    assert AttentionSpec(lse=np.bool_(True)).lse is True
    with pytest.raises(FAError, match=f"no ptxas at {toolkit}/bin/ptxas"):
        fa_mlir.compile_source(fa_mlir.attention_source(AttentionSpec()),
                               cuda_path=str(toolkit))


def test_bad_ir_raises_with_the_diagnostic():
    with pytest.raises(FAError, match="expected 'ins'"):
        fa_mlir.Context().parse("func.func @f() { %x = fa.attention }")


def test_deeply_nested_text_is_an_error_not_a_crash():
    # The parser would overflow its stack (a segfault of the process).
    with pytest.raises(FAError, match="input:1:279: error: brackets nested more "
                                      "than 256 deep"):
        fa_mlir.Context().parse(
            "module attributes {a = " + "[" * 10000 + "]" * 10000 + "} {}")
    with pytest.raises(FAError, match="nested more than 256 deep"):
        fa_mlir.compile_source("module {" * 5000 + "}" * 5000, format="ptx")


def test_verifier_errors_are_reported():
    bad = fa_mlir.attention_source(AttentionSpec(head_dim=64)).replace(
        "%o: tensor<?x?x?x64xbf16>", "%o: tensor<?x?x?x32xbf16>", 1)
    with pytest.raises(FAError, match="error"):
        fa_mlir.Context().parse(bad)


def test_bad_pipeline_raises():
    module = fa_mlir.Context().parse(
        fa_mlir.attention_source(AttentionSpec()))
    with pytest.raises(FAError, match="invalid pass pipeline"):
        module.run("no-such-pass")
    with pytest.raises(FAError, match="run fa-fuse-online-softmax first"):
        module.run("func.func(fa-tile-attention),fa-lower-to-gpu")


@pytest.mark.parametrize("options, message", [
    (dict(block_n=24), "block-n must be a multiple of 16"),
    (dict(chip="sm_70"), "unsupported chip 'sm_70'"),
    (dict(stages=1), "stages must be 0 .* or in \\[2, 4\\]"),
    (dict(strategy="wmma"), "strategy must be .*, got 'wmma'"),
    (dict(strategy="hopper-ws", chip="sm_80"),
     "the hopper-ws strategy needs sm_90a"),
    (dict(strategy="hopper-ws", block_m=256),
     "block-m must be 64, 128 or 192 for the hopper-ws strategy"),
    (dict(persistent="always"), "persistent must be auto, on or off"),
    (dict(strategy="mma-sync", persistent="on"),
     "persistent=on is an option of the hopper-ws strategy"),
    (dict(epilogue="pairs"),
     "epilogue must be auto, registers, staged or tma"),
    (dict(strategy="mma-sync", epilogue="tma"),
     "epilogue=staged and epilogue=tma are options of the hopper-ws"),
])
def test_bad_compile_options_raise(options, message):
    source = fa_mlir.attention_source(AttentionSpec(head_dim=64))
    opts = dict(format="ptx")
    opts.update(options)
    with pytest.raises(FAError, match=message) as error:
        fa_mlir.compile_source(source, **opts)
    # The diagnostic and its location, not a dump of the IR it is about.
    text = str(error.value)
    assert "see current operation" not in text and len(text) < 400, text


def test_unsupported_head_dim_raises():
    with pytest.raises(
            FAError,
            match=r"supports D == Dv in \{64, 128, 192, 256\}, got D = 96"):
        fa_mlir.compile_attention(AttentionSpec(head_dim=96), format="ptx",
                                  cache=KernelCache(os.devnull + ".nodir"))


def test_persistent_option_overrides_the_strategy():
    # A causal D = 128 kernel loops over its tiles (in pairs) by default;
    # persistent="off" builds one tile per block, and the cache keys on it.
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right")
    source = fa_mlir.attention_source(spec)
    (auto,) = fa_mlir.compile_source(source, format="ptx",
                                     strategy="hopper-ws")
    (off,) = fa_mlir.compile_source(source, format="ptx",
                                    strategy="hopper-ws", persistent="off")
    assert "persistent" in auto.metadata
    assert "persistent" not in off.metadata
    assert "setmaxnreg.dec.sync.aligned.u32 \t56;" in auto.ptx
    assert "setmaxnreg.dec.sync.aligned.u32 \t24;" in off.ptx
    assert KernelCache.key(spec, persistent="off") != KernelCache.key(spec)


def test_tma_epilogue_adds_the_output_tensor_map():
    # epilogue="tma" (and the default, "auto", at two consumer warpgroups)
    # stores the staged O through a tensor map of O: the metadata lists it
    # after Q's, K's and V's, and the driver's parser accepts it (boxes of
    # 64 columns of a warpgroup's 64 rows). "registers" has no such map.
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right")
    source = fa_mlir.attention_source(spec)
    (tma,) = fa_mlir.compile_source(source, format="ptx",
                                    strategy="hopper-ws", epilogue="tma")
    maps = _tensormap.parse_tensor_maps(tma.metadata)
    assert [m.operand for m in maps] == ["q", "k", "v", "o"]
    assert maps[3].argument == 3 and tuple(maps[3].box) == (64, 64, 1, 1)
    assert "cp.async.bulk.tensor.4d.global.shared::cta" in tma.ptx
    (default,) = fa_mlir.compile_source(source, format="ptx",
                                        strategy="hopper-ws")
    assert default.ptx == tma.ptx
    (registers,) = fa_mlir.compile_source(source, format="ptx",
                                          strategy="hopper-ws",
                                          epilogue="registers")
    assert len(_tensormap.parse_tensor_maps(registers.metadata)) == 3
    assert KernelCache.key(spec, epilogue="registers") != KernelCache.key(spec)


def test_target_info_is_the_compilers_table():
    info = fa_mlir._capi.target_info()
    chips = {c["chip"]: c for c in info["chips"]}
    assert set(chips) == {"sm_80", "sm_86", "sm_87", "sm_89", "sm_90",
                          "sm_90a"}
    assert chips["sm_90a"]["strategies"] == ["mma-sync", "hopper-ws"]
    assert chips["sm_90"]["strategies"] == ["mma-sync"]
    assert chips["sm_86"]["capability"] == [8, 6]
    assert info["head_dims"] == [64, 128, 192, 256]
    # The options and defaults of FACompileOptions.def.
    assert info["options"]["stages"]["default"] == 0
    assert info["options"]["format"]["default"] == "cubin"
    assert info["options"]["strategy"]["default"] == "auto"
    assert info["options"]["stages"]["help"].startswith(
        "depth of the K/V ring in shared memory, 2 to 4 (0: the strategy's")
    # What values each takes, for the bindings' checks.
    assert info["options"]["stages"]["kind"] == "int"
    assert info["options"]["opt-level"]["kind"] == "uint"
    assert info["options"]["pack-gqa"]["kind"] == "bool"
    assert info["options"]["strategy"]["kind"] == "string"
    assert info["options"]["format"]["kind"] == "enum"
    assert info["options"]["format"]["values"] == ["ptx", "cubin", "fatbin"]
    assert info["options"]["llvm-passes"]["kind"] == "enum"
    assert info["options"]["llvm-passes"]["default"] == "kernel"
    assert info["options"]["llvm-passes"]["values"] == ["kernel", "default"]


@pytest.mark.parametrize("options, message", [
    (dict(opt_level=-1), "opt_level must be in \\[0, 4294967295\\], got -1"),
    (dict(opt_level=2**32), "opt_level must be in"),
    (dict(block_m=10**30), "block_m must be in \\[-9223372036854775808, "),
    (dict(format="elf"), "format must be one of ptx, cubin, fatbin, got 'elf'"),
    (dict(format=1), "format must be one of ptx, cubin, fatbin, got 1"),
    (dict(llvm_passes="O3"),
     "llvm_passes must be one of kernel, default, got 'O3'"),
])
def test_option_values_out_of_their_range_are_value_errors(options, message):
    # Checked before the compiler's option parser, which would print its
    # reason to stderr instead of the exception.
    with pytest.raises(ValueError, match=message):
        fa_mlir.compile_source("module {}", **options)


def test_module_wrapper_checks_its_arguments():
    context = fa_mlir.Context()
    with pytest.raises(ValueError, match="use Context.parse"):
        fa_mlir.Module(context, None)
    with pytest.raises(TypeError, match="context must be a Context"):
        fa_mlir.Module("ctx", 1)
    module = context.parse("module {}")
    with pytest.raises(TypeError, match="generic must be a bool"):
        module.print(generic="yes")
    assert "module" in module.print(generic=True)


def test_options_string_spells_every_option_with_the_defaults():
    from fa_mlir.compiler import options_string
    # Equal compiles, equal strings (the kernel cache keys on them).
    assert options_string() == options_string(chip="sm_90a", stages=0)
    text = options_string(block_n=64, strategy="hopper-ws")
    assert "block-n=64" in text and "strategy=hopper-ws" in text
    assert "stages=0" in text and "format=cubin" in text
    assert "cuda-path" not in text  # empty default: left out
    with pytest.raises(TypeError, match="unknown compile option 'stage'"):
        options_string(stage=3)
    # None is the default; one option spelled two ways is an error.
    assert options_string(strategy=None) == options_string()
    with pytest.raises(TypeError, match="given twice"):
        options_string(**{"block_m": 64, "block-m": 128})


@pytest.mark.parametrize("chip, strategy, name", [
    ("sm_90a", "hopper-ws", "fa_attention_f16_d128_bm128_bn128_wg2_s2_wgmma"),
    ("sm_80", "mma-sync", "fa_attention_f16_d128_bm128_bn48_w4_s2"),
    ("sm_90", "mma-sync", "fa_attention_f16_d128_bm128_bn48_w4_s2")])
def test_default_strategy_is_auto(chip, strategy, name):
    # No strategy: the compiler's default, auto, builds with wgmma where the
    # chip has it, and takes that strategy's tile.
    (kernel,) = fa_mlir.compile_source(
        fa_mlir.attention_source(AttentionSpec(dtype="f16", head_dim=128)),
        format="ptx", chip=chip)
    assert kernel.metadata["strategy"] == strategy
    assert kernel.name.startswith(name)


def test_varlen_kernel(tmp_path):
    """varlen: packed (T, H, D) operands, a (Hq, Tq) LSE and the two
    offsets after it; the grid reads max_seqlen_q and B + 1 offsets."""
    spec = AttentionSpec(dtype="bf16", head_dim=128, causal="bottom_right",
                         lse=True, varlen=True)
    kernel = KernelCache(str(tmp_path)).get(spec, format="ptx",
                                            strategy="mma-sync")
    check_kernel_arguments(kernel.metadata, spec)
    meta = kernel.metadata
    assert [a["name"] for a in meta["arguments"]] == [
        "q", "k", "v", "o", "lse", "cu_seqlens_q", "cu_seqlens_k"]
    assert meta["grid"][0]["scalar"] == "max_seqlen_q"
    assert (meta["grid"][2]["arg"], meta["grid"][2]["minus"]) == (5, 1)
    assert meta["varlen"]["cu_seqlens_k"] == 6
    assert meta["attention"]["varlen"] is True
    assert kernel.name.endswith("_varlen")


def test_varlen_hopper_ws():
    """hopper-ws builds variable-length tiles, also against a paged cache
    of pages of a multiple of 8 rows (auto picks it on sm_90a); pages of
    12 rows auto builds with mma-sync."""
    spec = AttentionSpec(dtype="bf16", head_dim=128, varlen=True)
    for strategy in ("hopper-ws", "auto"):
        [kernel] = compile_source(attention_source(spec), format="ptx",
                                  strategy=strategy)
        assert kernel.metadata["strategy"] == "hopper-ws"
        assert kernel.name.endswith("_varlen")
    paged = AttentionSpec(dtype="bf16", head_dim=128, varlen=True, paged=16)
    for strategy in ("hopper-ws", "auto"):
        [kernel] = compile_source(attention_source(paged), format="ptx",
                                  strategy=strategy)
        assert kernel.metadata["strategy"] == "hopper-ws"
        assert kernel.name.endswith("_varlen_paged16")
    odd = AttentionSpec(dtype="bf16", head_dim=128, varlen=True, paged=12)
    [kernel] = compile_source(attention_source(odd), format="ptx",
                              strategy="auto")
    assert kernel.metadata["strategy"] == "mma-sync"
    assert kernel.name.endswith("_varlen_paged12")
    [kernel] = compile_source(attention_source(paged), format="ptx",
                              strategy="hopper-ws")
    assert "persistent" not in kernel.metadata
    assert kernel.metadata["tensor_maps"][0]["box"] == [64, 1, 128]
    with pytest.raises(FAError, match="a variable-length tile against a "
                       "paged cache runs one tile per block"):
        compile_source(attention_source(paged), format="ptx",
                       strategy="hopper-ws", persistent="on")


@pytest.mark.parametrize("directory", [5, b"/tmp/x", 2.5])
def test_kernel_cache_directory_must_be_a_path(directory):
    with pytest.raises(TypeError, match="directory must be a"):
        fa_mlir.KernelCache(directory)


@pytest.mark.parametrize("options, message", [
    ("opt-level=-1", "invalid value '-1' of opt-level: an unsigned 32-bit"),
    ("format=elf", "invalid value 'elf' of format: one of ptx, cubin, fatbin"),
    ("block-m=abc", "invalid value 'abc' of block-m: a 64-bit integer"),
    ("pack-gqa=maybe", "invalid value 'maybe' of pack-gqa: true or false"),
])
def test_c_api_option_values_fail_with_their_reason(options, message, capfd):
    # The C API checks the values the option parser would explain only on
    # stderr: the reason is in the error, and nothing is printed.
    with pytest.raises(FAError, match=message):
        fa_mlir.Context().compile("module {}", options)
    assert capfd.readouterr().err == ""
