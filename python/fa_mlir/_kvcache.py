"""Attention against a KV cache, paged or not: FlashAttention's
flash_attn_with_kvcache on fa_mlir kernels.

A paged cache keeps the keys and values of every sequence in fixed-size
pages of one pool, k_cache and v_cache (num_pages, page_size, Hkv, D), and
gives each sequence a row of page ids in block_table (B, max_pages): key j
of sequence b is k_cache[block_table[b, j // page_size], j % page_size].
A contiguous cache, (B, Nk_max, Hkv, D), runs through the same kernel with
one page per sequence (page_size = Nk_max, block_table[b] = [b]). The
kernel is compiled from fa.attention's paged form (docs/PagedKV.md) and
reads the caches in place, with their strides.
"""

import json
import math
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import torch

from . import _driver, _splits
from . import torch as _fa
from . import _torch_inputs as _inputs, _torch_trace as _trace
from . import tracing
from ._source import scale_range_error
from .compiler import AttentionSpec, KernelCache

__all__ = ["attention_with_kvcache"]

# A length given as a number: an int, or under torch.compile(dynamic=True)
# a symbolic one.
_INTS = (int, getattr(torch, "SymInt", int))


def _check_tensor(name: str, t: Any) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got "
                        f"{type(t).__name__}")


_CACHE_SHAPES = ("(num_pages, page_size, Hkv, D) with a block_table, "
                 "(B, Nk_max, Hkv, D) without")


def _check_caches(q, k_cache, v_cache, paged: bool,
                  q_shape: str = "(B, Nq, Hq, D)",
                  names: Tuple[str, str] = ("k_cache", "v_cache"),
                  cache_shape: str = _CACHE_SHAPES) -> None:
    """The checks of q and the caches that shapes, dtypes and devices tell:
    CUDA float16/bfloat16 tensors of one dtype and device; q of the rank
    `q_shape` states, with Hq and D its last two dimensions; caches
    (num_pages, page_size, Hkv, D) when `paged`, else (B, Nk_max, Hkv, D),
    that agree with each other and with q. `names`: the caches' argument
    names; `cache_shape`: the shapes a message of a cache's rank states."""
    kn, vn = names
    for name, t in (("q", q), (kn, k_cache), (vn, v_cache)):
        _check_tensor(name, t)
        if t.device.type != "cuda":
            raise ValueError(f"{name} is on {t.device}: fa_mlir runs on CUDA "
                             f"tensors only")
        rank = len(q_shape.split(",")) if name == "q" else 4
        if t.dim() != rank:
            shape = q_shape if name == "q" else cache_shape
            raise ValueError(f"{name} must have shape {shape}, got "
                             f"{tuple(t.shape)}")
        if t.dtype not in _inputs._DTYPES:
            raise ValueError(f"{name} has dtype {t.dtype}; fa_mlir supports "
                             f"torch.float16 and torch.bfloat16")
    if not (q.dtype == k_cache.dtype == v_cache.dtype):
        raise ValueError(f"q, {kn}, {vn} must share a dtype, got "
                         f"{q.dtype}, {k_cache.dtype}, {v_cache.dtype}")
    if not (q.device == k_cache.device == v_cache.device):
        raise ValueError(f"q, {kn}, {vn} must be on one device, got "
                         f"{q.device}, {k_cache.device}, {v_cache.device}")
    hq, d = q.shape[-2:]
    _, page_size, hkv, dk = k_cache.shape
    for i, what in ((0, "pages" if paged else "batch"),
                    (1, "page_size" if paged else "Nk_max"),
                    (2, "heads")):
        if v_cache.shape[i] != k_cache.shape[i]:
            raise ValueError(f"{kn} and {vn} differ in {what} (dim {i}): "
                             f"{tuple(k_cache.shape)} and "
                             f"{tuple(v_cache.shape)}")
    if v_cache.shape[3] != dk:
        raise ValueError(f"{vn}'s head dim ({v_cache.shape[3]}) differs "
                         f"from {kn}'s ({dk}); fa_mlir kernels take "
                         f"Dv = D")
    if dk != d:
        raise ValueError(f"head dim of q ({d}) and {kn} ({dk}) differ")
    if d not in _inputs._head_dims():
        raise ValueError(f"head dim {d} is not supported; fa_mlir kernels "
                         f"take D in {_inputs._head_dims()}")
    if hkv == 0 or hq % hkv:
        raise ValueError(f"q heads ({hq}) must be a multiple of the caches' "
                         f"heads ({hkv})")
    if hq > 65535:
        raise ValueError(f"q has {hq} heads; at most 65535 (CUDA grid "
                         f"limits)")
    if page_size == 0:
        what = "the page size" if paged else "Nk_max without a block_table"
        raise ValueError(f"{kn} has no rows: its dim 1 ({what}) must be "
                         f"positive, got shape {tuple(k_cache.shape)}")


def _check_block_table(block_table: Any, batch: int, device,
                       batch_from: str = "q") -> None:
    """block_table: a 2-D torch.int32 tensor (B, max_pages) on `device`,
    with B = `batch`, the batch of `batch_from` (for the messages)."""
    _check_tensor("block_table", block_table)
    if block_table.dtype != torch.int32 or block_table.dim() != 2:
        raise ValueError(f"block_table must be a 2-D torch.int32 tensor "
                         f"(B, max_pages), got {block_table.dtype} of "
                         f"shape {tuple(block_table.shape)}")
    if block_table.shape[0] != batch:
        raise ValueError(f"block_table has {block_table.shape[0]} rows, "
                         f"{batch_from} a batch of {batch}")
    if block_table.device != device:
        raise ValueError(f"block_table is on {block_table.device}, q on "
                         f"{device}; they must share a device")


def _check_kvcache_inputs(q, k_cache, v_cache, cache_seqlens, block_table,
                          softmax_scale) -> None:
    """Checks everything the arguments' types, shapes, dtypes and devices
    tell, and an int cache_seqlens against the keys a sequence can have
    (max_pages * page_size); nothing that needs a tensor's values."""
    _check_caches(q, k_cache, v_cache, block_table is not None)
    b = q.shape[0]
    pages, page_size = k_cache.shape[:2]
    if b > 65535:
        raise ValueError(f"q has a batch of {b}; at most 65535 (CUDA grid "
                         f"limits)")
    if block_table is None:
        if pages != b:
            raise ValueError(f"without a block_table, k_cache and v_cache "
                             f"are (B, Nk_max, Hkv, D): batch of q ({b}) "
                             f"and k_cache ({pages}) differ")
        capacity = page_size
    else:
        _check_block_table(block_table, b, q.device)
        capacity = block_table.shape[1] * page_size
    if isinstance(cache_seqlens, torch.Tensor):
        if cache_seqlens.dtype != torch.int32 or cache_seqlens.dim() != 1:
            raise ValueError(f"cache_seqlens must be an int or a 1-D "
                             f"torch.int32 tensor (B,), got "
                             f"{cache_seqlens.dtype} of shape "
                             f"{tuple(cache_seqlens.shape)}")
        if cache_seqlens.shape[0] != b:
            raise ValueError(f"cache_seqlens has {cache_seqlens.shape[0]} "
                             f"entries, q a batch of {b}")
        if cache_seqlens.device != q.device:
            raise ValueError(f"cache_seqlens is on {cache_seqlens.device}, q "
                             f"on {q.device}; they must share a device")
    elif isinstance(cache_seqlens, _INTS) and not isinstance(cache_seqlens,
                                                             bool):
        if not 0 <= cache_seqlens <= capacity:
            raise ValueError(f"cache_seqlens = {cache_seqlens} is outside "
                             f"[0, {capacity}], the keys the cache holds "
                             f"per sequence")
    else:
        raise TypeError(f"cache_seqlens must be an int or a torch.int32 "
                        f"tensor, got {type(cache_seqlens).__name__}")
    _check_softmax_scale(softmax_scale)


def _check_softmax_scale(softmax_scale: Any) -> None:
    if softmax_scale is not None:
        if isinstance(softmax_scale, bool) or not isinstance(
                softmax_scale, (int, float)):
            raise TypeError(f"softmax_scale must be a float or None, got "
                            f"{type(softmax_scale).__name__}")
        try:
            why = scale_range_error(float(softmax_scale))
        except OverflowError:  # an int past the float range
            why = scale_range_error(math.inf)
        if why:
            raise ValueError(f"softmax_scale must be {why}, got "
                             f"{softmax_scale!r}")


def _validate_tables(block_table: torch.Tensor, cache_seqlens: torch.Tensor,
                     page_size: int, num_pages: int) -> None:
    """The checks the kernel cannot make, on the host (one device-to-host
    copy): 0 <= cache_seqlens[b] <= max_pages * page_size, and each page a
    sequence uses, block_table[b, p] for p < ceildiv(cache_seqlens[b],
    page_size), in [0, num_pages). ValueError naming the first violation."""
    batch, max_pages = block_table.shape
    host = torch.cat([cache_seqlens, block_table.reshape(-1)]).cpu()
    _check_tables(host[:batch], host[batch:].view(batch, max_pages),
                  page_size, num_pages)


def _check_tables(lengths: torch.Tensor, table: torch.Tensor, page_size: int,
                  num_pages: int, length_name: Callable[[int], str] =
                  "cache_seqlens[{}]".format) -> None:
    """_validate_tables' checks on host tensors: the key counts `lengths`
    (B,) and the block table (B, max_pages). `length_name(b)`: how a
    message names the key count of sequence b."""
    lengths = lengths.long()
    batch, max_pages = table.shape
    capacity = max_pages * page_size
    bad = ((lengths < 0) | (lengths > capacity)).nonzero()
    if bad.numel():
        b = int(bad[0])
        raise ValueError(f"{length_name(b)} = {int(lengths[b])} is outside "
                         f"[0, {capacity}] (max_pages {max_pages} x "
                         f"page_size {page_size})")
    used = (lengths + page_size - 1) // page_size
    reached = torch.arange(max_pages)[None, :] < used[:, None]
    bad = (reached & ((table < 0) | (table >= num_pages))).nonzero()
    if bad.numel():
        b, p = (int(x) for x in bad[0])
        raise ValueError(f"block_table[{b}, {p}] = {int(table[b, p])} is not "
                         f"a page of the cache (num_pages = {num_pages}); "
                         f"sequence {b} has {int(lengths[b])} keys, pages "
                         f"0..{int(used[b]) - 1} of its row")


def attention_with_kvcache(
        q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
        cache_seqlens: Union[int, torch.Tensor],
        block_table: Optional[torch.Tensor] = None, *,
        softmax_scale: Optional[float] = None, causal: bool = False,
        return_lse: bool = False,
        score_mod: Optional[Callable[..., Any]] = None,
        mask_mod: Optional[Callable[..., Any]] = None,
        validate: bool = True, cache: Optional[KernelCache] = None,
        _options=None
) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """Attention of new queries against a KV cache, in the conventions of
    flash_attn's flash_attn_with_kvcache (without its cache update and
    rotary embedding).

    q is (B, Nq, Hq, D), a CUDA float16/bfloat16 tensor (any strides with
    a unit innermost one). With block_table, an int32 (B, max_pages) tensor
    of page ids, k_cache and v_cache are paged, (num_pages, page_size, Hkv,
    D): key j of sequence b is k_cache[block_table[b, j // page_size],
    j % page_size]. Without, they are (B, Nk_max, Hkv, D), one contiguous
    cache per sequence (any strides with a unit innermost one, e.g. a
    slice [:, :n] of a longer cache). cache_seqlens, an int or an int32
    (B,) tensor, is the number of keys of each sequence (0 is allowed).

    The page size (Nk_max without a block_table) is a constant of the
    kernel: each one compiles a kernel of its own, so keep the cache's
    allocated length fixed and let cache_seqlens vary.

    causal=True is bottom-right aligned, as a cache's queries are its last
    tokens: query i of sequence b sees keys j <= i + cache_seqlens[b] - Nq.
    score_mod(score, b, h, q_idx, kv_idx) and mask_mod(b, h, q_idx, kv_idx)
    are FlexAttention's, with b the sequence, h the query head, q_idx the
    query row and kv_idx the key's position j in its sequence (not its row
    in a page). Hq must be a multiple of Hkv (grouped-query attention).

    Returns out (B, Nq, Hq, D) in q's dtype, and with return_lse=True the
    log-sum-exp (B, Hq, Nq) in float32 (-inf for a row that sees no key,
    whose output is 0: e.g. every row of a sequence with no keys).

    validate=True checks on the host, before the launch, that each length
    is in [0, max_pages * page_size] and that each page a sequence reaches
    is in [0, num_pages) (one device synchronization; nothing to check for
    an int cache_seqlens without a block_table). validate=False skips that
    (e.g. inside CUDA graphs); tables that break those rules then read out
    of bounds. Forward only (no autograd)."""
    _check_kvcache_inputs(q, k_cache, v_cache, cache_seqlens, block_table,
                          softmax_scale)
    if torch.is_grad_enabled() and any(
            t.requires_grad for t in (q, k_cache, v_cache)):
        raise ValueError("attention_with_kvcache is forward only: q, k_cache "
                         "or v_cache requires grad; call it under "
                         "torch.no_grad()")
    mods = _trace.trace_mods(score_mod, mask_mod)
    _trace._check_captures(mods.captures, q.device)
    batch = q.shape[0]
    # An int length (checked above) and the one-page-per-sequence table of a
    # contiguous cache need no check of their values.
    trusted = block_table is None and not isinstance(cache_seqlens,
                                                     torch.Tensor)
    if block_table is None:
        block_table = torch.arange(batch, dtype=torch.int32,
                                   device=q.device).view(batch, 1)
    if not isinstance(cache_seqlens, torch.Tensor):
        cache_seqlens = torch.full((batch,), cache_seqlens,
                                   dtype=torch.int32, device=q.device)
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool (bottom-right aligned when "
                        f"True), got {type(causal).__name__}")
    alignment = "bottom_right" if causal else None
    scale = None if softmax_scale is None else float(softmax_scale)
    check = bool(validate) and not trusted
    if cache is not None or _options is not None:
        # Python objects (a cache, private compile options): the eager path.
        out, lse = _run_kvcache(q, k_cache, v_cache, block_table,
                                cache_seqlens, alignment, scale,
                                bool(return_lse), mods, check, cache,
                                _options)
    else:
        regions = None
        if mods is not _trace._NO_MODS:
            regions = json.dumps([mods.score_mod, mods.mask_mod,
                                  list(mods.capture_types)])
        out, lse = _attention_with_kvcache_op(
            q, k_cache, v_cache, block_table, cache_seqlens,
            list(mods.captures), alignment, scale, bool(return_lse), regions,
            check)
    return (out, lse) if return_lse else out


def _run_kvcache(q, k_cache, v_cache, block_table, cache_seqlens, causal,
                 scale, return_lse, mods, validate, cache=None, options=None
                 ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Launches the paged kernel (checked inputs; the tables checked too
    when `validate`); returns (out (B, Nq, Hq, D), lse (B, Hq, Nq) or
    None)."""
    b, nq, hq, _ = q.shape
    num_pages, page_size = k_cache.shape[:2]
    if validate:
        _validate_tables(block_table, cache_seqlens, page_size, num_pages)
    # The kernel writes O as [B, Hq, Nq, D]: a view of flash_attn's layout.
    out = q.new_empty((b, nq, hq, v_cache.shape[3]))
    lse = (torch.empty((b, hq, nq), dtype=torch.float32, device=q.device)
           if return_lse else None)
    if b == 0 or nq == 0:
        return out, lse
    hkv = k_cache.shape[2]
    keys = block_table.shape[1] * page_size  # the most any sequence has
    tile = _tile_options(nq, hq, hkv, keys, b, q.device, page_size)
    spec = AttentionSpec(dtype=_inputs._DTYPES[q.dtype], head_dim=q.shape[3],
                         causal=causal, lse=return_lse, scale=scale,
                         score_mod=mods.score_mod, mask_mod=mods.mask_mod,
                         captures=tuple(mods.capture_types), paged=page_size,
                         heads=((hq, hkv) if "pack_gqa" in tile else None))
    with torch.cuda.device(q.device):
        _driver.make_current(q.device.index)
        chip = _inputs._chip(q.device)
        qk = _inputs._kernel_layout(q.transpose(1, 2))
        k, v = (_inputs._kernel_layout(t) for t in (k_cache, v_cache))
        if num_pages == 0:  # a valid address; no sequence reaches a page
            k = v = k.new_empty((1,) + tuple(k.shape[1:]))
        if block_table.shape[1] == 0:  # (likewise: every length is 0)
            block_table = block_table.new_zeros((b, 1))
        o = out.transpose(1, 2)
        tables = [block_table.contiguous(), cache_seqlens.contiguous()]
        captures = list(mods.captures)  # any strides, read as given
        stream = torch.cuda.current_stream(q.device).cuda_stream
        options = dict(tile, **(options or {}))
        if options.get("split_kv") not in (None, "none"):
            _launch_split(spec, chip, q.device, cache, options, qk, k, v, o,
                          lse, tables, captures, keys, stream)
            return out, lse
        kernel = _fa._load(spec, chip, q.device, cache, options)
        operands = [qk, k, v, o] + ([lse] if lse is not None else [])
        operands += tables + captures
        maps = _inputs._tensor_maps(kernel, (qk, k, v, o))
        kernel.launch(kernel.grid(_grid(kernel.metadata, operands)),
                      _memrefs(operands), stream, maps)
    return out, lse


def _memrefs(operands: Sequence[torch.Tensor]) -> List[int]:
    args: List[int] = []
    for t in operands:
        args += _inputs._memref(t)
    return args


def _launch_split(spec, chip, device, cache, options, q, k, v, o, lse,
                  tables, captures, keys, stream) -> None:
    """The split-KV pair (docs/SplitKV.md): the partial kernel shares each
    tile's part of its sequence's key blocks among S blocks (S from the
    rule the metadata names, over `keys` = max_pages * page_size, the most
    a sequence has), whose f32 partial outputs and LSEs the combine kernel
    merges into o and lse."""
    partial, combine = _fa._load_split(spec, chip, device, cache, options)
    b, hq, nq, dv = o.shape
    splits, _, _ = _splits.split_count(partial, b, hq, k.shape[2], nq, keys)
    partial_o = torch.empty((splits, b, hq, nq, dv), dtype=torch.float32,
                            device=device)
    partial_lse = torch.empty((splits, b, hq, nq), dtype=torch.float32,
                              device=device)
    operands = [q, k, v, partial_o, partial_lse] + tables + captures
    partial.launch(partial.grid(_grid(partial.metadata, operands)),
                   _memrefs(operands), stream)
    operands = [partial_o, partial_lse, o] + ([lse] if lse is not None
                                              else [])
    combine.launch(_grid(combine.metadata, operands), _memrefs(operands),
                   stream)


def _tile_options(nq: int, hq: int, hkv: int, keys: int = 0, batch: int = 0,
                  device: Optional[torch.device] = None,
                  page_size: int = 0) -> dict:
    """The kernel's tile for Nq queries of Hq heads against Hkv heads of
    caches of up to `keys` keys: decoding (a few queries) takes 64-row
    tiles, and with grouped heads packs the G = Hq / Hkv query heads of a
    key/value head into each tile, so that they share every page it reads
    (pack_gqa); longer queries the default 128-row tiles. Decoding splits
    the keys (split_kv) when the batch's tiles leave multiprocessors idle.
    (64 rows, not 16: the four warps of a 64-row tile read the cache
    1.1-1.7x faster than the one warp of a 16-row tile; B 8, Hq 32, Hkv 8,
    D 128, Nq 1 on the H200, benchmarks/results/2026-12-02-h200-paged.md.)
    Longer queries against pages of a multiple of 8 rows take the
    compiler's choice: hopper-ws on sm_90a (TMA per page piece; on an H100
    1.3-1.9x the mma-sync kernel, benchmarks/results/
    2026-12-06-h100-hopper-paged.md), mma-sync elsewhere."""
    group = hq // hkv if hkv and hq % hkv == 0 else 1
    packed = group if 1 < group <= 64 else 1
    options = {"strategy": "mma-sync"}
    if packed * nq <= 64:
        options["block_m"] = 64
        if packed > 1:
            options["pack_gqa"] = True
        # Split-KV decoding against caches of at least as many keys
        # (max_pages * page_size) as fa_mlir.torch.attention splits, when
        # the tiles leave multiprocessors idle; the rule picks the parts.
        if keys >= _fa._SPLIT_MIN_KEYS and device is not None:
            count = torch.cuda.get_device_properties(
                device).multi_processor_count
            if batch * (hkv if packed > 1 else hq) < count:
                options["split_kv"] = "auto"
    elif page_size % 8 == 0:
        options = {}
    return options


def _grid(metadata: dict, operands: Sequence[torch.Tensor],
          scalars: Optional[dict] = None) -> List[int]:
    """The grid the metadata states, from the sizes of the kernel's
    arguments (operands, in launch order) and the launch `scalars` (a
    variable-length kernel's {"max_seqlen_q": ...}): (ceildiv(Nq, block_m),
    Hq, B), or (ceildiv(max_seqlen_q, block_m), Hq, cu_seqlens_q.size[0] -
    1)."""
    dims = []
    for g in metadata["grid"]:
        if "scalar" in g and g["scalar"] in (scalars or {}):
            value = scalars[g["scalar"]]
        elif "arg" in g and "scalar" not in g:
            value = operands[g["arg"]].shape[g["dim"]]
        else:
            raise ValueError(f"kernel {metadata.get('kernel', '?')}: a grid "
                             f"dimension fa_mlir cannot size ({g})")
        if "ceildiv" in g:
            value = -(-value // g["ceildiv"])
        if "times" in g:  # (a split-KV partial kernel: tiles x S)
            value *= operands[g["times"]["arg"]].shape[g["times"]["dim"]]
        dims.append(value - g.get("minus", 0))
    return dims


# The custom op: torch.compile (fullgraph), torch.export and CUDA graphs
# see one opaque op with a shape-only fake. The tables are checked inside
# it, so validate=True needs no graph break.
def _attention_with_kvcache_op(
        q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
        block_table: torch.Tensor, cache_seqlens: torch.Tensor,
        captures: List[torch.Tensor], causal: Optional[str],
        scale: Optional[float], return_lse: bool, regions: Optional[str],
        validate: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    mods = _trace._NO_MODS
    if regions is not None:
        score_mod, mask_mod, capture_types = json.loads(regions)
        mods = tracing.TracedMods(score_mod, mask_mod, tuple(capture_types),
                                  tuple(captures))
    out, lse = _run_kvcache(q, k_cache, v_cache, block_table, cache_seqlens,
                            causal, scale, return_lse, mods, validate)
    if lse is None:
        lse = q.new_empty((0,), dtype=torch.float32)
    return out, lse


def _attention_with_kvcache_fake(q, k_cache, v_cache, block_table,
                                 cache_seqlens, captures, causal, scale,
                                 return_lse, regions, validate):
    b, nq, hq, _ = q.shape
    out = q.new_empty((b, nq, hq, v_cache.shape[3]))
    lse = q.new_empty((b, hq, nq) if return_lse else (0,),
                      dtype=torch.float32)
    return out, lse


if hasattr(torch.library, "custom_op"):  # PyTorch 2.4 and newer
    _attention_with_kvcache_op = torch.library.custom_op(
        "fa_mlir::attention_with_kvcache",
        mutates_args=())(_attention_with_kvcache_op)
    _attention_with_kvcache_op.register_fake(_attention_with_kvcache_fake)
