"""CPU tests of programmable attention on the compiler side: the fa.attention
source with captures and score_mod/mask_mod regions (AttentionSpec,
attention_source), the kernel-argument check, cache keys, and, once
libFAMLIRCAPI.so knows the regions (docs/ProgrammableAttention.md), that
everything fa_mlir.tracing emits parses, verifies and compiles."""

import functools

import numpy as np
import pytest

import fa_mlir
from fa_mlir import AttentionSpec, FAError, KernelCache, mods, tracing
from fa_mlir.compiler import (check_kernel_arguments, kernel_arguments,
                              attention_source)

from test_tracing import SOFTCAP
from trace_fakes import ARRAYS, FakeTensor


def spec_of(score_mod=None, mask_mod=None, **kwargs):
    m = tracing.trace_mods(score_mod, mask_mod, ARRAYS)
    return AttentionSpec(score_mod=m.score_mod, mask_mod=m.mask_mod,
                         captures=m.capture_types, **kwargs)


# ---------------------------------------------------------------------------
# The source text

def test_source_without_mods_is_unchanged():
    # benchmarks/make_kernels.py and every cached kernel depend on it.
    assert attention_source(AttentionSpec(
        dtype="f16", head_dim=64, causal="bottom_right", lse=True,
        scale=0.1)) == """\
func.func @attention(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>, \
%v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>, %lse: tensor<?x?x?xf32>) \
-> (tensor<?x?x?x64xf16>, tensor<?x?x?xf32>) {
  %out, %l = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, \
tensor<?x?x?x64xf16>)
      outs(%o, %lse : tensor<?x?x?x64xf16>, tensor<?x?x?xf32>)
      scale = 0.1
      causal = <bottom_right>
      -> tensor<?x?x?x64xf16>, tensor<?x?x?xf32>
  return %out, %l : tensor<?x?x?x64xf16>, tensor<?x?x?xf32>
}
"""
    assert attention_source(AttentionSpec()) == """\
func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, \
%v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> \
(tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, \
tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
"""


ALIBI_WINDOW_SOURCE = """\
func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, \
%v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>, \
%capture0: tensor<?xf32>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, \
tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      captures(%capture0 : tensor<?xf32>)
      causal = <top_left>
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index, \
%cap0: tensor<?xf32>):
        %0 = tensor.extract %cap0[%h] : tensor<?xf32>
        %1 = arith.subi %kv_idx, %q_idx : index
        %2 = arith.index_cast %1 : index to i64
        %3 = arith.sitofp %2 : i64 to f32
        %4 = arith.mulf %0, %3 fastmath<contract> : f32
        %5 = arith.addf %score, %4 fastmath<contract> : f32
        fa.yield %5 : f32
      }
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index, \
%cap0: tensor<?xf32>):
        %0 = arith.constant 1024 : index
        %1 = arith.subi %q_idx, %0 : index
        %2 = arith.cmpi slt, %1, %kv_idx : index
        %3 = arith.cmpi sle, %kv_idx, %q_idx : index
        %4 = arith.andi %2, %3 : i1
        fa.yield %4 : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
"""


def test_source_with_captures_and_regions():
    slopes = FakeTensor(np.float32([0.5, 0.25]))
    spec = spec_of(mods.alibi(slopes), mods.sliding_window(1024),
                   causal="top_left")
    assert spec.captures == ("tensor<?xf32>",)
    assert attention_source(spec) == ALIBI_WINDOW_SOURCE


def test_source_with_lse_and_several_captures():
    slopes = FakeTensor(np.float32([0.5]))
    doc = FakeTensor(np.int64([[0]]))
    spec = spec_of(mods.alibi(slopes), mods.document_mask(doc), lse=True,
                   scale=0.125, dtype="f16", head_dim=64)
    text = attention_source(spec)
    assert ("%lse: tensor<?x?x?xf32>, %capture0: tensor<?xf32>, "
            "%capture1: tensor<?x?xi64>) -> ") in text
    assert ("      captures(%capture0, %capture1 : tensor<?xf32>, "
            "tensor<?x?xi64>)\n      scale = 0.125\n      score_mod {") in text
    assert text.count("%cap0: tensor<?xf32>, %cap1: tensor<?x?xi64>):") == 2


def test_hand_written_region_text():
    region = ("^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):\n"
              "  %c = arith.constant 2.0 : f32\n"
              "  %r = arith.mulf %s, %c : f32\n"
              "  fa.yield %r : f32\n")
    text = attention_source(AttentionSpec(score_mod=region))
    assert ("      score_mod {\n      ^bb0(%s: f32, %b: index, %h: index, "
            "%i: index, %j: index):\n        %c = arith.constant 2.0 : f32\n"
            "        %r = arith.mulf %s, %c : f32\n        fa.yield %r : f32\n"
            "      }\n      -> ") in text


@pytest.mark.parametrize("kwargs, message", [
    (dict(captures=("tensor<?xindex>",)), "a capture must be a ranked"),
    (dict(captures=("memref<?xf32>",)), "a capture must be a ranked"),
    (dict(captures="tensor<?xf32>"), "captures must be a tuple"),
    (dict(captures=(3,)), "a capture must be a ranked"),
    (dict(score_mod=""), "score_mod must be the region's text"),
    (dict(mask_mod=3), "mask_mod must be the region's text"),
])
def test_bad_programmable_specs_raise(kwargs, message):
    with pytest.raises(FAError, match=message):
        AttentionSpec(**kwargs)


def test_spec_captures_list_becomes_tuple_and_hashes():
    spec = AttentionSpec(captures=["tensor<4x?xi1>", "tensor<bf16>"])
    assert spec.captures == ("tensor<4x?xi1>", "tensor<bf16>")
    assert hash(spec) == hash(AttentionSpec(
        captures=("tensor<4x?xi1>", "tensor<bf16>")))


def test_cache_keys_cover_the_modifications():
    a = spec_of(mods.softcap(30))
    keys = {KernelCache.key(AttentionSpec()), KernelCache.key(a),
            KernelCache.key(spec_of(mods.softcap(20))),
            KernelCache.key(spec_of(mask_mod=mods.sliding_window(8))),
            KernelCache.key(spec_of(mods.softcap(30), mods.causal)),
            KernelCache.key(spec_of(mods.alibi(
                FakeTensor(np.float32([1]))))),
            KernelCache.key(spec_of(mods.alibi(
                FakeTensor(np.float16([1])))))}
    assert len(keys) == 7
    # Equal functions, equal sources: one kernel.
    assert KernelCache.key(a) == KernelCache.key(spec_of(mods.softcap(30)))
    assert KernelCache.key(spec_of(lambda s, b, h, q, kv: 30 * (s / 30).tanh())) \
        == KernelCache.key(spec_of(lambda s, b, h, q, kv: 30 * (s / 30).tanh()))
    # Capture values are not in the key, only their types.
    assert KernelCache.key(spec_of(mods.alibi(FakeTensor(np.float32([1]))))) \
        == KernelCache.key(spec_of(mods.alibi(FakeTensor(np.float32([7, 8])))))


# ---------------------------------------------------------------------------
# Kernel arguments

def _meta(names):
    return {"kernel": "k", "arguments": [
        {"name": n, "rank": r, "element_type": e} for n, r, e in names]}


def test_kernel_arguments_order():
    spec = AttentionSpec(dtype="f16", lse=True,
                         captures=("tensor<?xf32>", "tensor<?x?xi8>"))
    assert kernel_arguments(spec) == [
        ("q", 4, "f16"), ("k", 4, "f16"), ("v", 4, "f16"), ("o", 4, "f16"),
        ("lse", 3, "f32"), ("capture0", 1, "f32"), ("capture1", 2, "i8")]
    check_kernel_arguments(_meta(kernel_arguments(spec)), spec)


@pytest.mark.parametrize("change, message", [
    (lambda a: a[:-1], "takes \\[q: rank 4 bf16, .*\\] but fa_mlir passes"),
    (lambda a: a + [("capture1", 1, "f32")], "disagree"),
    (lambda a: a[:4] + [("capture0", 2, "f32")], "capture0: rank 2 f32"),
    (lambda a: a[:4] + [("capture0", 1, "f16")], "capture0: rank 1 f16"),
    (lambda a: a[:4] + [("slopes", 1, "f32")], "slopes: rank 1 f32"),
])
def test_kernel_argument_mismatch_raises(change, message):
    spec = AttentionSpec(captures=("tensor<?xf32>",))
    with pytest.raises(FAError, match=message):
        check_kernel_arguments(_meta(change(kernel_arguments(spec))), spec)


def test_real_kernel_arguments_match_without_mods():
    spec = AttentionSpec(dtype="bf16", head_dim=64, lse=True)
    (kernel,) = fa_mlir.compile_source(attention_source(spec), format="ptx")
    check_kernel_arguments(kernel.metadata, spec)


# ---------------------------------------------------------------------------
# Through the compiler (skipped until it parses programmable fa.attention)

DOC_EXAMPLE = """\
func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>,
                     %v: tensor<?x?x?x128xbf16>, %o0: tensor<?x?x?x128xbf16>,
                     %slopes: tensor<?xf32>) -> tensor<?x?x?x128xbf16> {
  %o = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>,
                       tensor<?x?x?x128xbf16>)
      outs(%o0 : tensor<?x?x?x128xbf16>)
      captures(%slopes : tensor<?xf32>)
      causal = <top_left>
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index,
           %slopes_arg: tensor<?xf32>):
        %slope = tensor.extract %slopes_arg[%h] : tensor<?xf32>
        %dist = arith.subi %kv_idx, %q_idx : index
        %dist_i = arith.index_cast %dist : index to i64
        %dist_f = arith.sitofp %dist_i : i64 to f32
        %bias = arith.mulf %slope, %dist_f : f32
        %r = arith.addf %score, %bias : f32
        fa.yield %r : f32
      }
      -> tensor<?x?x?x128xbf16>
  return %o : tensor<?x?x?x128xbf16>
}
"""


@functools.lru_cache(None)
def _compiler_support():
    """None when libFAMLIRCAPI.so parses the docs' example, else why not."""
    try:
        fa_mlir.Context().parse(DOC_EXAMPLE)
        return None
    except FAError as e:
        return str(e).splitlines()[0]


@functools.lru_cache(None)
def _compile_support():
    """None when the compiler builds a kernel that takes a capture (ALiBi's
    slopes) and describes its score_mod in the metadata, else why not."""
    if _compiler_support():
        return _compiler_support()
    spec = spec_of(mods.alibi(FakeTensor(np.float32([1]))))
    try:
        (kernel,) = fa_mlir.compile_source(attention_source(spec),
                                           format="ptx")
        check_kernel_arguments(kernel.metadata, spec)
    except FAError as e:
        return str(e).splitlines()[0]
    if not kernel.metadata.get("attention", {}).get("score_mod"):
        return "the kernel's metadata does not describe the score_mod"
    return None


def needs_parser():
    reason = _compiler_support()
    if reason:
        pytest.skip(f"the compiler does not parse programmable fa.attention "
                    f"yet: {reason}")


def needs_compiler():
    reason = _compile_support()
    if reason:
        pytest.skip(f"the compiler does not compile a score_mod yet: "
                    f"{reason}")


def _kitchen_sink_score(t16, ti8, tu8, tbool, t2d, t0):
    def f(s, b, h, q, kv):
        x = (s.tanh() * 2 + s.exp2() / 3 - s.abs().sqrt() + s.abs().rsqrt()
             + s.sin() * s.cos() + s.exp().log() + s.abs().log2() - s.sigmoid()
             + s.floor() + s.ceil() + s.round() + s ** 3 + s ** 1.5
             + s // 2 + s % 3 + t16[kv] + ti8[h] + tu8[q] + t0[()]
             + t2d[b, -1] + tbool[kv])
        i = (q - kv) // 7 + (q - kv) % 5 + abs(q - kv) + (q << 1) + (kv >> 2)
        x = x + tracing.minimum(i, 5) + tracing.maximum(s, -1.0) + i / 3
        return tracing.where((q > kv) & ~(tbool[kv] | (h == 2)) ^ (b != 0),
                             x.clamp(-100, 100), -float("inf"))
    return f


def _all_cases():
    slopes = FakeTensor(np.float32([0.5, 0.25]))
    doc = FakeTensor(np.int32([[0, 1]]))
    prefix = FakeTensor(np.int64([3]))
    table = FakeTensor(np.float32(np.zeros(9)))
    head_table = FakeTensor(np.float32(np.zeros((2, 9))))
    caps = (FakeTensor(np.float16([1])), FakeTensor(np.int8([1])),
            FakeTensor(np.uint8([1])), FakeTensor(np.bool_([1])),
            FakeTensor(np.float64([[1]])), FakeTensor(np.float32(1)))
    return {
        "softcap": dict(score_mod=mods.softcap(30)),
        "alibi": dict(score_mod=mods.alibi(slopes)),
        "relative_position_bias": dict(
            score_mod=mods.relative_position_bias(table, 4)),
        "relative_position_bias_per_head": dict(
            score_mod=mods.relative_position_bias(head_table, 4)),
        "causal": dict(mask_mod=mods.causal),
        "sliding_window": dict(mask_mod=mods.sliding_window(256)),
        "prefix_lm": dict(mask_mod=mods.prefix_lm(16)),
        "prefix_lm_batch": dict(mask_mod=mods.prefix_lm(prefix)),
        "document_mask": dict(mask_mod=mods.document_mask(doc)),
        "sinks_window": dict(mask_mod=mods.or_masks(
            mods.attention_sinks(4), mods.sliding_window(64))),
        "alibi_document": dict(score_mod=mods.alibi(slopes),
                               mask_mod=mods.and_masks(
                                   mods.document_mask(doc),
                                   mods.prefix_lm(prefix))),
        "nothing_visible": dict(mask_mod=lambda b, h, q, kv: False),
        "kitchen_sink": dict(score_mod=_kitchen_sink_score(*caps),
                             mask_mod=lambda b, h, q, kv: caps[3][kv] |
                             (q // 64 == kv // 64)),
    }


CASES = sorted(_all_cases())


def test_the_docs_example_parses_when_supported():
    needs_parser()
    text = str(fa_mlir.Context().parse(DOC_EXAMPLE))
    assert "score_mod" in text and "captures(" in text


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("lse, causal", [(False, None), (True, "top_left"),
                                         (False, "bottom_right")])
def test_traced_sources_parse_and_verify(name, lse, causal):
    needs_parser()
    spec = spec_of(**_all_cases()[name], lse=lse, causal=causal)
    module = fa_mlir.Context().parse(attention_source(spec))
    printed = str(module)
    assert ("score_mod" in printed) == (spec.score_mod is not None)
    assert ("mask_mod" in printed) == (spec.mask_mod is not None)
    # The printed form parses again (round trip).
    fa_mlir.Context().parse(printed)


def test_region_errors_from_the_verifier_are_reported():
    needs_parser()
    bad = SOFTCAP.replace("fa.yield %3 : f32", "fa.yield %b : index")
    with pytest.raises(FAError):
        fa_mlir.Context().parse(attention_source(AttentionSpec(
            score_mod=bad)))


@pytest.mark.parametrize("name", CASES)
def test_traced_sources_compile_with_the_expected_arguments(name, tmp_path):
    needs_compiler()
    spec = spec_of(**_all_cases()[name], lse=True)
    cache = KernelCache(str(tmp_path))
    kernel = cache.get(spec, format="ptx")
    check_kernel_arguments(kernel.metadata, spec)
    attention = kernel.metadata["attention"]
    if attention.get("from_op"):
        captures = attention.get("captures", [])
        assert [c["argument"] for c in captures] == list(
            range(5, 5 + len(spec.captures)))
        assert (attention.get("score_mod") is None) == (spec.score_mod is None)
        assert (attention.get("mask_mod") is None) == (spec.mask_mod is None)
    # A second equal function compiles nothing.
    again = spec_of(**_all_cases()[name], lse=True)
    assert cache.get(again, format="ptx") is kernel
    assert cache.compilations == 1


def test_captures_are_the_last_kernel_arguments():
    needs_compiler()
    spec = spec_of(mods.alibi(FakeTensor(np.float32([1]))),
                   mods.document_mask(FakeTensor(np.int32([[1]]))))
    (kernel,) = fa_mlir.compile_source(attention_source(spec), format="ptx")
    args = kernel.metadata["arguments"]
    assert [a["name"] for a in args] == ["q", "k", "v", "o", "capture0",
                                         "capture1"]
    assert args[4]["type"].startswith("memref<?xf32")
    assert args[5]["type"].startswith("memref<?x?xi32")
    assert not args[4]["writes"] and not args[5]["writes"]


# Row-only booleans are cloned once per fragment row, not per element
# (they once failed with 'operand #0 does not dominate this use').
@pytest.mark.parametrize("fn", [
    lambda s, b, h, q, kv: tracing.where(q < 5, -float("inf"), s),
    lambda s, b, h, q, kv: tracing.where((q < 5) | (kv > q), -float("inf"),
                                         s),
    lambda s, b, h, q, kv: s + (q < 5),
])
def test_row_only_conditions_in_score_mod_compile(fn):
    needs_compiler()
    spec = spec_of(fn)
    (kernel,) = fa_mlir.compile_source(attention_source(spec), format="ptx")
    check_kernel_arguments(kernel.metadata, spec)


@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("strategy", ["auto", "hopper-ws"])
def test_hopper_backward_is_the_wgmma_fused_kernel(tmp_path, d, strategy):
    """On sm_90a the default backward (auto, as fa_mlir.torch compiles it)
    and hopper-ws run the fused stage as warpgroup MMAs, with dQ summed in
    f32: 64 queries by 128 keys (128 by 128 at D = 64), two warpgroups;
    delta and dq_convert are the row-wise kernels. A capture's argument
    index in the metadata counts the dQ accumulator. dq=stage stays
    mma.sync under auto."""
    needs_compiler()
    spec = spec_of(mods.alibi(FakeTensor(np.float32([0.5, 0.25]))),
                   dtype="bf16", head_dim=d, causal="bottom_right")
    cache = KernelCache(str(tmp_path))
    kernels = cache.get_backward(spec, format="ptx", chip="sm_90a",
                                 strategy=strategy, backward_dq="auto")
    assert [k.metadata["backward"]["stage"] for k in kernels] == [
        "delta", "fused", "dq_convert"]
    fused = kernels[1]
    assert fused.metadata["strategy"] == "hopper-ws"
    tile = fused.metadata["tile"]
    block_m = 128 if d == 64 else 64
    assert (tile["block_m"], tile["block_n"], tile["warps"]) == \
        (block_m, 128, 8)
    assert fused.metadata["block"] == [256, 1, 1]
    assert "wgmma.mma_async.sync.aligned" in fused.ptx
    assert "mma.sync.aligned" not in fused.ptx
    for k in kernels:
        check_kernel_arguments(k.metadata, spec, backward=True,
                               accumulate=True)
        captures = k.metadata["backward"]["captures"]
        names = [a["name"] for a in k.metadata["arguments"]]
        assert names[captures[0]["argument"]] == "capture0"
    staged = cache.get_backward(spec, format="ptx", chip="sm_90a",
                                strategy="auto", backward_dq="stage")
    assert [k.metadata["strategy"] for k in staged] == ["mma-sync"] * 3
