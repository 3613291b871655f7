"""Describe an attention, compile it (with a cache), read the metadata."""

import dataclasses
import hashlib
import json
import math
import numbers
import os
import re
import sys
import threading
from typing import List, Optional

from ._capi import Context, FAArgumentError, FAError, target_info, version
from ._trace_values import decimal_literal

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
        if isinstance(self.lse, _numpy_bool_types()):
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
            if not (scale > 0 and math.isfinite(scale)):
                raise bad(f"scale must be a positive finite number, got "
                          f"{self.scale!r}")
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


def kernel_arguments(spec):
    """[(name, rank, element type)] of the kernel of `spec`, in launch
    order: q, k, v, o, [lse,] [cu_seqlens_q, cu_seqlens_k,] [block_table,
    cache_seqlens,] capture0, capture1, ... (k and v are the caches of a
    paged spec; a varlen and paged spec takes cu_seqlens_q alone, then the
    block table and the key counts)."""
    rank = 3 if spec.varlen else 4  # (packed q and o)
    caches = 4 if spec.paged else rank  # (k and v)
    args = [("q", rank, spec.dtype), ("k", caches, spec.dtype),
            ("v", caches, spec.dtype), ("o", rank, spec.dtype)]
    if spec.lse:
        args.append(("lse", rank - 1, "f32"))
    if spec.varlen:
        args.append(("cu_seqlens_q", 1, "i32"))
        if not spec.paged:
            args.append(("cu_seqlens_k", 1, "i32"))
    if spec.paged:
        args += [("block_table", 2, "i32"), ("cache_seqlens", 1, "i32")]
    for i, c in enumerate(spec.captures):
        element, rank = capture_type(c)
        args.append((f"capture{i}", rank, element))
    return args


def backward_kernel_arguments(spec, accumulate: bool = False):
    """[(name, rank, element type)] of the three kernels of the backward of
    `spec`, in launch order: q, k, v, o, do, lse, delta, [dq_accum,] dq, dk,
    dv, capture0, ... (dq_accum, the f32 dQ accumulator, with
    backward_dq="accumulate")."""
    args = [(n, 4, spec.dtype) for n in ("q", "k", "v", "o", "do")]
    args += [("lse", 3, "f32"), ("delta", 3, "f32")]
    if accumulate:
        args.append(("dq_accum", 4, "f32"))
    args += [(n, 4, spec.dtype) for n in ("dq", "dk", "dv")]
    for i, c in enumerate(spec.captures):
        element, rank = capture_type(c)
        args.append((f"capture{i}", rank, element))
    return args


def split_kernel_arguments(spec, stage: str):
    """[(name, rank, element type)] of a split-KV kernel of `spec`: the
    partial kernel takes q, k, v, partial_o, partial_lse, [block_table,
    cache_seqlens,] capture0, ...; the combine kernel partial_o,
    partial_lse, o[, lse]. (The compiler splits no variable-length
    attention: FAArgumentError for a varlen spec.)"""
    if spec.varlen:
        raise FAArgumentError("split-KV takes no variable-length attention "
                              "(varlen): its kernel is the one-kernel "
                              "forward")
    parts = [("partial_o", 5, "f32"), ("partial_lse", 4, "f32")]
    if stage == "partial":
        args = [(n, 4, spec.dtype) for n in ("q", "k", "v")] + parts
        if spec.paged:
            args += [("block_table", 2, "i32"), ("cache_seqlens", 1, "i32")]
        for i, c in enumerate(spec.captures):
            element, rank = capture_type(c)
            args.append((f"capture{i}", rank, element))
        return args
    args = parts + [("o", 4, spec.dtype)]
    if spec.lse:
        args.append(("lse", 3, "f32"))
    return args


def check_kernel_arguments(metadata, spec, backward=False, accumulate=False,
                           split_stage=None):
    """Raises FAError unless the kernel's launch metadata ("arguments")
    lists exactly the arguments a launcher of `spec` passes (`accumulate`:
    a backward compiled with backward_dq="accumulate"; `split_stage`:
    "partial" or "combine", a split-KV kernel)."""
    if split_stage is not None:
        want = split_kernel_arguments(spec, split_stage)
    elif backward:
        want = backward_kernel_arguments(spec, accumulate)
    else:
        want = kernel_arguments(spec)
    have = [(a.get("name"), a.get("rank"), a.get("element_type"))
            for a in metadata.get("arguments", ())]
    if have != want:
        fmt = lambda args: ", ".join(f"{n}: rank {r} {e}" for n, r, e in args)
        raise FAError(
            f"kernel {metadata.get('kernel', '?')} takes [{fmt(have)}] but "
            f"fa_mlir passes [{fmt(want)}]; the compiler and the Python "
            f"package disagree (rebuild libFAMLIRCAPI.so, or clear a stale "
            f"kernel cache)")


@dataclasses.dataclass
class CompiledKernel:
    name: str
    ptx: str
    cubin: bytes
    metadata: dict

    @property
    def block_m(self):
        return self.metadata["tile"]["block_m"]


_context = None
_context_lock = threading.Lock()


def _shared_context():
    global _context
    with _context_lock:
        if _context is None:
            _context = Context()
        return _context


def options_string(**options) -> str:
    """The fa-compile option string of `options` (chip, strategy, block_m,
    block_n, warps, stages, format, opt_level, cuda_path): every option
    spelled out, the compiler's defaults (faGetTargetInfo) for those not
    given or None, so that equal compiles have equal strings (the cache
    keys)."""
    known = target_info()["options"]
    given = {}
    for key, value in options.items():
        flag = key.replace("_", "-")
        if flag not in known:
            names = ", ".join(sorted(k.replace("-", "_") for k in known))
            raise TypeError(f"unknown compile option {key!r}; the options "
                            f"are {names}")
        if flag in given:
            raise TypeError(f"compile option {key!r} given twice")
        if value is not None:
            given[flag] = _option_value(key, value,
                                        known[flag]["default"])
    values = {flag: given.get(flag, option["default"])
              for flag, option in known.items()}
    return " ".join(f"{flag}={value}" for flag, value in sorted(values.items())
                    if value != "")


def _numpy_bool_types() -> tuple:
    """numpy.bool_ where numpy is loaded (it is no Python bool)."""
    numpy = sys.modules.get("numpy")
    return (numpy.bool_,) if numpy is not None else ()


def _option_value(key, value, default):
    """`value` of the compile option `key` as the option string spells it;
    its type is the default's (a string option also takes an int, e.g.
    split_kv=3). Whitespace and separators are quoted; a value that would
    end or split the string is refused."""
    if isinstance(default, bool):
        if isinstance(value, _numpy_bool_types()):
            value = bool(value)
        if not isinstance(value, bool):
            raise TypeError(f"compile option {key} must be a bool, got "
                            f"{value!r}")
        return value
    integer = (isinstance(value, numbers.Integral) and
               not isinstance(value, (bool, _numpy_bool_types())))
    if isinstance(default, int):
        if not integer:
            raise TypeError(f"compile option {key} must be an int, got "
                            f"{value!r}")
        return int(value)
    if integer:
        return str(int(value))
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"compile option {key} must be a string, got "
                        f"{value!r}")
    if not value and default:
        raise ValueError(f"compile option {key} is empty; leave it out (or "
                         f"None) for the default, {default!r}")
    if "\0" in value or '"' in value:
        raise ValueError(f"compile option {key} holds a NUL or a double "
                         f"quote: {value!r}")
    if any(c.isspace() or c in "{}=," for c in value):
        return f'"{value}"'
    return value


def compile_source(source: str, **options) -> List["CompiledKernel"]:
    """Compiles MLIR text with the fa-compile pipeline; one CompiledKernel
    per fa.attention."""
    kernels = _shared_context().compile(source, options_string(**options))
    return [CompiledKernel(n, p, c, json.loads(m)) for n, p, c, m in kernels]


class KernelCache:
    """Compiled kernels in memory and on disk, keyed by everything that
    changes the kernel: compiler version, chip, tile options and the source
    (dtype, head dim, mask, LSE, scale, score_mod/mask_mod regions and the
    capture types; not capture values or shapes). The second request for a
    key compiles nothing; a later process reads the disk copy.

    Directory: $FA_MLIR_CACHE_DIR, else ~/.cache/fa_mlir.
    """

    def __init__(self, directory=None):
        self.directory = directory or os.environ.get(
            "FA_MLIR_CACHE_DIR",
            os.path.join(os.path.expanduser("~"), ".cache", "fa_mlir"))
        self._memory = {}
        self._lock = threading.Lock()
        self.compilations = 0  # compilations this cache ran (for tests)

    @staticmethod
    def key(spec, **options):
        text = json.dumps({"compiler": version(),
                           "source": attention_source(spec),
                           "options": options_string(**options)},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get(self, spec, **options):
        if options.get("split_kv") not in (None, "none"):
            raise ValueError("a split-KV attention compiles to two kernels: "
                             "use get_split")
        key = self.key(spec, **options)
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            kernel = self._load(key)
            if kernel is None:
                (kernel,) = compile_source(attention_source(spec), **options)
                self.compilations += 1
                self._store(key, kernel)
            self._memory[key] = kernel
            return kernel

    def get_split(self, spec, **options):
        """The two kernels of a split-KV attention (options split_kv="auto"
        or a count), partial then combine, compiled once per key."""
        if options.get("split_kv") in (None, "none"):
            raise ValueError("get_split needs split_kv='auto' or a count")
        key = self.key(spec, **options)
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            kernels = [self._load(f"{key}.{i}") for i in range(2)]
            if any(k is None for k in kernels):
                kernels = compile_source(attention_source(spec), **options)
                stages = [k.metadata.get("split_kv", {}).get("stage")
                          for k in kernels]
                if stages != ["partial", "combine"]:
                    raise FAError(f"a split-KV attention compiled to kernels "
                                  f"of stages {stages}, not partial, combine")
                for kernel, stage in zip(kernels, stages):
                    check_kernel_arguments(kernel.metadata, spec,
                                           split_stage=stage)
                self.compilations += 1
                for i, kernel in enumerate(kernels):
                    self._store(f"{key}.{i}", kernel)
            self._memory[key] = kernels
            return kernels

    @staticmethod
    def backward_key(spec, **options):
        text = json.dumps({"compiler": version(),
                           "source": attention_backward_source(spec),
                           "options": options_string(**options)},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get_backward(self, spec, **options):
        """The three kernels of the backward of `spec` in the order they run
        (delta, key_value, query; or delta, fused, dq_convert with
        backward_dq="accumulate"), compiled once per key."""
        key = self.backward_key(spec, **options)
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            kernels = [self._load(f"{key}.{i}") for i in range(3)]
            if any(k is None for k in kernels):
                kernels = compile_source(attention_backward_source(spec),
                                         **options)
                stages = [k.metadata.get("backward", {}).get("stage")
                          for k in kernels]
                if stages not in (["delta", "key_value", "query"],
                                  ["delta", "fused", "dq_convert"]):
                    raise FAError(f"the backward compiled to kernels of "
                                  f"stages {stages}, not delta, key_value, "
                                  f"query or delta, fused, dq_convert")
                self.compilations += 1
                for i, kernel in enumerate(kernels):
                    self._store(f"{key}.{i}", kernel)
            self._memory[key] = kernels
            return kernels

    def _paths(self, key):
        base = os.path.join(self.directory, key)
        return base + ".json", base + ".ptx", base + ".cubin"

    def _load(self, key):
        meta, ptx, cubin = self._paths(key)
        try:
            with open(meta) as f:
                metadata = json.load(f)
            with open(ptx) as f:
                ptx_text = f.read()
            cubin_bytes = b""
            if os.path.exists(cubin):
                with open(cubin, "rb") as f:
                    cubin_bytes = f.read()
        except (OSError, ValueError):
            return None
        # A damaged or foreign entry is a miss: compiled again, overwritten.
        if not (isinstance(metadata, dict) and
                isinstance(metadata.get("kernel"), str) and
                metadata["kernel"] and
                f".entry {metadata['kernel']}(" in ptx_text):
            return None
        return CompiledKernel(metadata["kernel"], ptx_text, cubin_bytes,
                              metadata)

    def _store(self, key, kernel):
        try:
            os.makedirs(self.directory, exist_ok=True)
            meta, ptx, cubin = self._paths(key)
            # Data first, metadata last (atomically): a reader that sees the
            # metadata sees complete files.
            with open(ptx, "w") as f:
                f.write(kernel.ptx)
            if kernel.cubin:
                with open(cubin, "wb") as f:
                    f.write(kernel.cubin)
            tmp = meta + f".{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(kernel.metadata, f)
            os.replace(tmp, meta)
        except OSError:
            pass  # a read-only cache directory only costs recompilation


_default_cache = None


def default_cache():
    global _default_cache
    if _default_cache is None:
        _default_cache = KernelCache()
    return _default_cache


def compile_attention(spec: AttentionSpec,
                      cache: Optional["KernelCache"] = None,
                      **options) -> "CompiledKernel":
    """The kernel for `spec` (from `cache`, default: the process-wide one)."""
    return (cache or default_cache()).get(spec, **options)
