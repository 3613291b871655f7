"""The attention a kernel computes (AttentionSpec) and its MLIR source:
the forward, the backward, and the variable-length and paged forms."""

import dataclasses
import math
import numbers
import re
import sys

from ._capi import FAArgumentError
from ._trace_values import _F32_MAX, _F32_MIN_NORMAL, decimal_literal

# The softmax runs on scale * log2(e) as an f32, and the kernels flush
# subnormal f32 values to zero: the range the fa.attention verifier takes.
_LARGEST_SCALE = _F32_MAX / 1.4426950408889634


def scale_range_error(scale: float):
    """What `scale` (a float) must be, when it cannot scale an attention;
    None when it can."""
    if not (scale > 0 and math.isfinite(scale)):
        return "a positive finite number"
    if not _F32_MIN_NORMAL <= scale <= _LARGEST_SCALE:
        return (f"in [{_F32_MIN_NORMAL:.6e}, {_LARGEST_SCALE:.6e}] (a normal "
                f"f32 with log2(e) folded in)")
    return None

DTYPES = ("f16", "bf16")
CAUSAL = (None, "top_left", "bottom_right")
CAPTURE_ELEMENT_TYPES = ("i1", "i8", "i16", "i32", "i64", "f16", "bf16",
                         "f32", "f64")
_CAPTURE_TYPE = re.compile(r"tensor<((?:(?:\?|[0-9]+)x)*)(%s)>" %
                           "|".join(CAPTURE_ELEMENT_TYPES))


def capture_type(text):
    """(element type, rank) of a capture's tensor type, e.g.
    "tensor<?x?xi32>" -> ("i32", 2); FAArgumentError (a ValueError) when
    it is not one."""
    m = _CAPTURE_TYPE.fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise FAArgumentError(f"a capture must be a ranked tensor type of "
                              f"{', '.join(CAPTURE_ELEMENT_TYPES)} (e.g. "
                              f"'tensor<?xf32>'), got {text!r}")
    return m.group(2), m.group(1).count("x")


def numpy_bool_types() -> tuple:
    """numpy.bool_ where numpy is loaded (it is no Python bool)."""
    numpy = sys.modules.get("numpy")
    return (numpy.bool_,) if numpy is not None else ()


@dataclasses.dataclass(frozen=True)
class AttentionSpec:
    """One fa.attention: element type, head dimension, mask, LSE, scale,
    and optionally a score_mod / mask_mod with their captures
    (docs/ProgrammableAttention.md).

    Batch, heads and sequence lengths stay dynamic: one kernel serves every
    (B, Hq, Hkv, Nq, Nk) with Hq a multiple of Hkv; `heads` = (Hq, Hkv)
    fixes the head counts (forward only), which packed GQA tiles
    (pack_gqa) need.

    `score_mod` / `mask_mod`: the region's block, without braces: the block
    header, the ops and the `fa.yield`, e.g.

        ^bb0(%score: f32, %b: index, %h: index, %q_idx: index,
             %kv_idx: index, %cap0: tensor<?xf32>):
          %0 = tensor.extract %cap0[%h] : tensor<?xf32>
          %1 = arith.addf %score, %0 : f32
          fa.yield %1 : f32

    (fa_mlir.torch traces them from Python functions). `captures`: the
    tensor types of the extra operands the regions read, in order (every
    region takes all of them as its trailing block arguments); they become
    kernel arguments after q, k, v, o and the LSE.

    `varlen`: a variable-length batch (fa.attention's varlen): q, k, v and
    o are packed (T, H, D), the LSE (Hq, Tq), and the kernel takes the
    int32 offsets cu_seqlens_q and cu_seqlens_k after the LSE (forward
    only; `heads` may fix the head counts).

    `paged`: the page size of a paged KV cache (fa.attention's paged form,
    docs/PagedKV.md), 0 for none: q and o are [B, Hq, Nq, D], k and v
    caches [num_pages, paged, Hkv, D], the LSE [B, Hq, Nq], and the kernel
    takes the int32 block_table [B, max_pages] and cache_seqlens [B] after
    the LSE (forward only). The page size is a constant of the kernel: one
    kernel per page size.

    Both: variable-length queries against a paged cache (docs/Varlen.md):
    q and o packed (Tq, Hq, D), the LSE (Hq, Tq), k and v caches
    [num_pages, paged, Hkv, D]; the kernel takes cu_seqlens_q, then
    block_table and cache_seqlens after the LSE (no cu_seqlens_k: the
    key counts are cache_seqlens).
    """
    dtype: str = "bf16"
    head_dim: int = 128
    causal: str = None         # None, "top_left" or "bottom_right"
    lse: bool = False
    scale: float = None        # None: 1 / sqrt(head_dim)
    score_mod: str = None      # region text, or None
    mask_mod: str = None       # region text, or None
    captures: tuple = ()       # capture tensor types, e.g. ("tensor<?xf32>",)
    heads: tuple = None        # (Hq, Hkv): static head counts (forward only)
    varlen: bool = False       # packed variable-length batch (forward only)
    paged: int = 0             # page size of a paged KV cache; 0: not paged

    def __post_init__(self):
        bad = FAArgumentError
        if self.heads is not None:
            if (not isinstance(self.heads, (tuple, list)) or
                    len(self.heads) != 2 or
                    not all(isinstance(h, int) and not isinstance(h, bool)
                            and h > 0 for h in self.heads) or
                    self.heads[0] % self.heads[1]):
                raise bad(f"heads must be (Hq, Hkv), positive ints with Hq "
                          f"a multiple of Hkv, got {self.heads!r}")
            object.__setattr__(self, "heads", tuple(self.heads))
        if not isinstance(self.varlen, bool):
            raise bad(f"varlen must be a bool, got {self.varlen!r}")
        if (not isinstance(self.paged, int) or isinstance(self.paged, bool)
                or self.paged < 0):
            raise bad(f"paged must be the page size, a non-negative int (0: "
                      f"not paged), got {self.paged!r}")
        if self.dtype not in DTYPES:
            raise bad(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if (not isinstance(self.head_dim, int) or
                isinstance(self.head_dim, bool) or self.head_dim <= 0):
            raise bad(f"head_dim must be a positive int, got "
                      f"{self.head_dim!r}")
        if self.causal not in CAUSAL:
            raise bad(f"causal must be one of {CAUSAL}, got {self.causal!r}")
        if isinstance(self.lse, numpy_bool_types()):
            object.__setattr__(self, "lse", bool(self.lse))
        if not isinstance(self.lse, bool):
            raise bad(f"lse must be a bool, got {self.lse!r}")
        if self.scale is not None:
            try:
                scale = (float(self.scale)
                         if isinstance(self.scale, numbers.Real) and
                         not isinstance(self.scale, bool) else math.nan)
            except OverflowError:
                scale = math.inf
            why = scale_range_error(scale)
            if why:
                raise bad(f"scale must be {why}, got {self.scale!r}")
        for name in ("score_mod", "mask_mod"):
            region = getattr(self, name)
            if region is not None and not (isinstance(region, str) and
                                           region.strip()):
                raise bad(f"{name} must be the region's text or None, got "
                          f"{region!r}")
        if isinstance(self.captures, str) or not isinstance(
                self.captures, (tuple, list)):
            raise bad(f"captures must be a tuple of tensor types, got "
                      f"{self.captures!r}")
        object.__setattr__(self, "captures", tuple(self.captures))
        for c in self.captures:
            capture_type(c)


# The types of the form operands: offsets, block table, key counts.
_CU = "tensor<?xi32>"
_TABLE, _LENGTHS = "tensor<?x?xi32>", "tensor<?xi32>"


def attention_source(spec: "AttentionSpec") -> str:
    """The MLIR module (text) of `spec`, with dynamic B and N, and H
    dynamic unless spec.heads fixes (Hq, Hkv). Captures are the function's
    arguments after %o (and %lse) and the form's operands: %capture0, ..."""
    _check_spec(spec)
    if spec.varlen and spec.paged:
        return _varlen_paged_source(spec)
    if spec.varlen:
        return _varlen_source(spec)
    if spec.paged:
        return _paged_source(spec)
    return _attention_function(spec)


def _check_spec(spec):
    if not isinstance(spec, AttentionSpec):
        raise TypeError(f"expected an AttentionSpec, got "
                        f"{type(spec).__name__} {_short_repr(spec)}")


def _short_repr(x, limit=60):
    text = repr(x)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _varlen_source(spec: "AttentionSpec") -> str:
    """The variable-length form: packed (T, H, D) operands, (Hq, Tq) LSE,
    the offsets %cu_q, %cu_k and %max_q after the LSE, then the captures."""
    return _attention_function(
        spec, f", %cu_q: {_CU}, %cu_k: {_CU}, %max_q: index",
        _varlen_clause(keys=True))


def _paged_source(spec: "AttentionSpec") -> str:
    """The paged-KV form: q and o [B, Hq, Nq, D], k and v caches
    [num_pages, page_size, Hkv, D], the LSE [B, Hq, Nq], then
    %block_table [B, max_pages] and %cache_seqlens [B] (i32), then the
    captures."""
    return _attention_function(
        spec, f", %block_table: {_TABLE}, %cache_seqlens: {_LENGTHS}",
        _paged_clause())


def _varlen_paged_source(spec: "AttentionSpec") -> str:
    """Variable-length queries against a paged cache: q and o packed
    (Tq, Hq, D), the LSE (Hq, Tq), k and v caches [num_pages, page_size,
    Hkv, D]; after the LSE %cu_q and %max_q (the varlen clause without
    %cu_k: the key counts are %cache_seqlens), %block_table and
    %cache_seqlens, then the captures."""
    return _attention_function(
        spec, f", %cu_q: {_CU}, %max_q: index, %block_table: {_TABLE}, "
              f"%cache_seqlens: {_LENGTHS}",
        _varlen_clause(keys=False) + _paged_clause())


def _varlen_clause(keys: bool) -> str:
    """fa.attention's varlen(...) clause: the query and key offsets, or
    (`keys` False, against a paged cache) the query offsets alone."""
    if keys:
        return (f"\n      varlen(%cu_q, %cu_k : {_CU}, {_CU}) max_seqlen_q = "
                f"%max_q")
    return f"\n      varlen(%cu_q : {_CU}) max_seqlen_q = %max_q"


def _paged_clause() -> str:
    """fa.attention's paged(...) clause."""
    return (f"\n      paged(%block_table, %cache_seqlens : {_TABLE}, "
            f"{_LENGTHS})")


def _operand_types(spec: "AttentionSpec"):
    """(q and o, k and v, LSE) tensor types of `spec`'s form: packed
    (T, H, D) and (Hq, T) with varlen, else [B, H, N, D] and [B, Hq, N];
    k and v caches [num_pages, page_size, Hkv, D] when paged."""
    hq, hkv = spec.heads or ("?", "?")
    d, e = spec.head_dim, spec.dtype
    if spec.varlen:
        t, kv, lse = (f"tensor<?x{hq}x{d}x{e}>", f"tensor<?x{hkv}x{d}x{e}>",
                      f"tensor<{hq}x?xf32>")
    else:
        t, kv, lse = (f"tensor<?x{hq}x?x{d}x{e}>",
                      f"tensor<?x{hkv}x?x{d}x{e}>", f"tensor<?x{hq}x?xf32>")
    if spec.paged:
        kv = f"tensor<?x{spec.paged}x{hkv}x{d}x{e}>"
    return t, kv, lse


def _attention_function(spec: "AttentionSpec", form_arguments: str = "",
                        form: str = "") -> str:
    """func.func @attention of `spec`: %q, %k and %v (%k_cache and
    %v_cache when paged), %o, [%lse,] then `form_arguments` (the form's
    operands, ", %name: type" each), then the captures; one fa.attention
    with the `form` clauses (varlen(...), paged(...))."""
    t, kv, lse_t = _operand_types(spec)
    k, v = ("%k_cache", "%v_cache") if spec.paged else ("%k", "%v")
    results = f"{t}, {lse_t}" if spec.lse else t
    values = "%out, %l" if spec.lse else "%out"
    lse = f", %lse: {lse_t}" if spec.lse else ""
    captures = "".join(f", %capture{i}: {c}"
                       for i, c in enumerate(spec.captures))
    attrs = _region_attributes(spec, form=form)
    return f"""func.func @attention(%q: {t}, {k}: {kv}, {v}: {kv}, %o: {t}\
{lse}{form_arguments}{captures}) -> ({results}) {{
  {values} = fa.attention
      ins(%q, {k}, {v} : {t}, {kv}, {kv})
      outs({'%o, %lse' if spec.lse else '%o'} : {results}){attrs}
      -> {results}
  return {values} : {results}
}}
"""


def _region_attributes(spec: "AttentionSpec", form: str = "") -> str:
    """The captures, then `form` (the varlen(...) and paged(...) clauses),
    then the scale, causal mask and regions of an attention op."""
    attrs = ""
    if spec.captures:
        attrs += "\n      captures(%s : %s)" % (
            ", ".join(f"%capture{i}" for i in range(len(spec.captures))),
            ", ".join(spec.captures))
    attrs += form
    if spec.scale is not None:
        attrs += f"\n      scale = {decimal_literal(spec.scale)}"
    if spec.causal:
        attrs += f"\n      causal = <{spec.causal}>"
    for name in ("score_mod", "mask_mod"):
        region = getattr(spec, name)
        if region is not None:
            body = "\n".join("      " + line if line.strip() else ""
                             for line in region.strip("\n").split("\n"))
            attrs += f"\n      {name} {{\n{body}\n      }}"
    return attrs


def attention_backward_source(spec: "AttentionSpec") -> str:
    """The MLIR module (text) of the backward of `spec`'s attention
    (fa.attention_backward: dQ, dK, dV from Q, K, V, O, dO and the LSE),
    with dynamic B, H and N; the captures follow the gradients' inits."""
    _check_spec(spec)
    if spec.varlen or spec.paged or spec.heads is not None:
        raise FAArgumentError(
            "the backward is compiled for (B, H, N, D) tensors with dynamic "
            "head counts: varlen, paged and heads are forward-only fields of "
            "the AttentionSpec")
    t = f"tensor<?x?x?x{spec.head_dim}x{spec.dtype}>"
    lse_t = "tensor<?x?x?xf32>"
    captures = "".join(f", %capture{i}: {c}"
                       for i, c in enumerate(spec.captures))
    attrs = _region_attributes(spec)
    return f"""func.func @attention_backward(%q: {t}, %k: {t}, %v: {t}, %o: {t}, \
%do: {t}, %lse: {lse_t}, %dq0: {t}, %dk0: {t}, %dv0: {t}{captures}) \
-> ({t}, {t}, {t}) {{
  %dq, %dk, %dv = fa.attention_backward
      ins(%q, %k, %v, %o, %do, %lse : {t}, {t}, {t}, {t}, {t}, {lse_t})
      outs(%dq0, %dk0, %dv0 : {t}, {t}, {t}){attrs}
      -> {t}, {t}, {t}
  return %dq, %dk, %dv : {t}, {t}, {t}
}}
""".replace("\\\n", "")
