"""Variable-length batches: FlashAttention's `varlen` call on fa_mlir kernels.

The sequences of a batch are packed along one token axis, as serving and
packed-sequence training keep them: q (Tq, Hq, D), k and v (Tk, Hkv, D),
and sequence b is rows cu_seqlens_q[b]:cu_seqlens_q[b + 1] of q and
cu_seqlens_k[b]:cu_seqlens_k[b + 1] of k and v. The kernel is compiled from
fa.attention's varlen form (docs/Varlen.md) and reads the packed tensors in
place, with their strides.

With a block_table, k and v are a paged KV cache instead (flash_attn's
flash_attn_varlen_func(..., block_table=...)): (num_pages, page_size, Hkv,
D) pages, sequence b's key j at k[block_table[b, j // page_size],
j % page_size], its key count cu_seqlens_k[b + 1] - cu_seqlens_k[b]; the
kernel is compiled from fa.attention's varlen form without cu_seqlens_k
together with its paged form.
"""

import json
from typing import Any, Callable, List, Optional, Tuple, Union

import torch

from . import _driver, _kvcache
from . import torch as _fa
from . import _torch_inputs as _inputs, _torch_trace as _trace
from . import tracing
from .compiler import AttentionSpec, KernelCache

__all__ = ["attention_varlen"]


def _check_offsets(name: str, cu: Any, device) -> None:
    if not isinstance(cu, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got "
                        f"{type(cu).__name__}")
    if cu.dtype != torch.int32 or cu.dim() != 1 or cu.numel() < 1:
        raise ValueError(f"{name} must be a 1-D torch.int32 tensor of B + 1 "
                         f"offsets, got {cu.dtype} of shape "
                         f"{tuple(cu.shape)}")
    if cu.device != device:
        raise ValueError(f"{name} is on {cu.device}, q on {device}; they "
                         f"must share a device")


def _check_varlen_inputs(q, k, v, cu_q, cu_k, max_seqlen_q, max_seqlen_k,
                         causal_alignment, scale, validate):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got "
                            f"{type(t).__name__}")
        if t.dim() != 3:
            raise ValueError(f"{name} must be packed (total tokens, H, D), "
                             f"got shape {tuple(t.shape)}")
    # The fixed-length checks on (1, H, T, D) views: dtypes, devices, head
    # counts and dims.
    views = [t.unsqueeze(0).transpose(1, 2) for t in (q, k, v)]
    if k.shape[0] == 0:  # (no keys at all: every sequence is empty)
        views[1] = views[2] = views[1].new_empty(
            (1, k.shape[1], 1, k.shape[2]))
    _inputs._check_inputs(*views, True, causal_alignment, scale)
    _check_offsets("cu_seqlens_q", cu_q, q.device)
    _check_offsets("cu_seqlens_k", cu_k, q.device)
    _check_offset_counts(cu_q, cu_k)
    _check_batch_and_bounds(cu_q, max_seqlen_q, max_seqlen_k)
    if not validate:
        return True  # (the caller vouches for the offsets)
    # The kernel reads what the offsets say: check them on the host (one
    # device-to-host copy; validate=False skips it, e.g. in CUDA graphs).
    both = torch.cat([cu_q, cu_k]).tolist()
    count = cu_q.numel()
    _check_offset_values("cu_seqlens_q", both[:count], q.shape[0], "q",
                         max_seqlen_q, "max_seqlen_q")
    _check_offset_values("cu_seqlens_k", both[count:], k.shape[0],
                         "k and v", max_seqlen_k, "max_seqlen_k")
    return _covers(both[:count], q.shape[0])


def _check_batch_and_bounds(cu_q, max_seqlen_q, max_seqlen_k) -> None:
    """At most 65535 sequences; the bounds non-negative ints (or, under
    torch.compile(dynamic=True), symbolic ones)."""
    if cu_q.numel() - 1 > 65535:
        raise ValueError("at most 65535 sequences (CUDA grid limits)")
    for name, m in (("max_seqlen_q", max_seqlen_q),
                    ("max_seqlen_k", max_seqlen_k)):
        if not isinstance(m, _kvcache._INTS) or isinstance(m, bool) or m < 0:
            raise TypeError(f"{name} must be a non-negative int, got {m!r}")


def _check_offset_values(name: str, offsets: List[int], rows: Optional[int],
                         rows_name: Optional[str], bound: int,
                         bound_name: str) -> List[int]:
    """ValueError unless the host `offsets` (B + 1) start at 0 or after,
    are non-decreasing, end within the `rows` token rows of `rows_name`
    (None: no rows to end within, as the keys of a paged cache) and leave
    no sequence longer than `bound`; returns the B lengths."""
    if offsets[0] < 0:
        raise ValueError(f"{name}[0] = {offsets[0]} is negative")
    lengths = [b - a for a, b in zip(offsets, offsets[1:])]
    for i, n in enumerate(lengths):
        if n < 0:
            raise ValueError(f"{name} must be non-decreasing: {name}"
                             f"[{i + 1}] = {offsets[i + 1]} < {name}"
                             f"[{i}] = {offsets[i]}")
    if rows is not None and offsets[-1] > rows:
        raise ValueError(f"{name}[-1] = {offsets[-1]} is past the {rows} "
                         f"token rows of {rows_name}")
    longest = max(lengths, default=0)
    if longest > bound:
        raise ValueError(f"{bound_name} = {bound} is below the longest "
                         f"sequence in {name} ({longest})")
    return lengths


def _covers(offsets_q: List[int], rows: int) -> bool:
    """Whether the query sequences cover every row of q (else the rows
    outside them are filled: the kernel does not write them)."""
    return offsets_q[0] == 0 and offsets_q[-1] == rows


def _check_paged_inputs(q, k, v, cu_q, cu_k, block_table, max_seqlen_q,
                        max_seqlen_k, causal_alignment, scale) -> None:
    """The checks of a call with a block_table that need no tensor's
    values: q packed (Tq, Hq, D), k and v caches (num_pages, page_size,
    Hkv, D), int32 offsets and an int32 (B, max_pages) table on q's
    device."""
    _kvcache._check_caches(
        q, k, v, True, q_shape="(total tokens, Hq, D)", names=("k", "v"),
        cache_shape="(num_pages, page_size, Hkv, D) with a block_table")
    _check_offsets("cu_seqlens_q", cu_q, q.device)
    _check_offsets("cu_seqlens_k", cu_k, q.device)
    _check_offset_counts(cu_q, cu_k)
    _kvcache._check_block_table(block_table, cu_q.numel() - 1, q.device,
                                batch_from="cu_seqlens_q")
    _check_batch_and_bounds(cu_q, max_seqlen_q, max_seqlen_k)
    if causal_alignment not in ("top_left", "bottom_right"):
        raise ValueError(f"causal_alignment must be 'top_left' or "
                         f"'bottom_right', got {causal_alignment!r}")
    _kvcache._check_softmax_scale(scale)


def _check_offset_counts(cu_q, cu_k) -> None:
    if cu_q.numel() != cu_k.numel():
        raise ValueError(f"cu_seqlens_q and cu_seqlens_k must hold the same "
                         f"number of offsets (B + 1), got {cu_q.numel()} and "
                         f"{cu_k.numel()}")


def attention_varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor,
                     max_seqlen_q: int, max_seqlen_k: int, *,
                     softmax_scale: Optional[float] = None,
                     causal: bool = False,
                     causal_alignment: str = "bottom_right",
                     return_lse: bool = False,
                     score_mod: Optional[Callable[..., Any]] = None,
                     mask_mod: Optional[Callable[..., Any]] = None,
                     block_table: Optional[torch.Tensor] = None,
                     validate: bool = True,
                     cache: Optional[KernelCache] = None, _options=None
                     ) -> Union[torch.Tensor, Tuple[torch.Tensor,
                                                    torch.Tensor]]:
    """Attention over a packed batch of sequences of different lengths, in
    the conventions of flash_attn's flash_attn_varlen_func.

    q is (Tq, Hq, D), k and v (Tk, Hkv, D) CUDA float16/bfloat16 tensors
    (any strides with a unit innermost one); cu_seqlens_q and cu_seqlens_k
    are int32 (B + 1) offsets on q's device: sequence b is rows
    cu_seqlens_q[b]:cu_seqlens_q[b + 1] of q and cu_seqlens_k[b]:
    cu_seqlens_k[b + 1] of k and v, attended independently. max_seqlen_q
    and max_seqlen_k bound the lengths (max_seqlen_q sizes the grid).

    block_table, an int32 (B, max_pages) tensor of page ids, makes k and v
    a paged KV cache, (num_pages, page_size, Hkv, D) (flash_attn's
    block_table): sequence b has nk = cu_seqlens_k[b + 1] - cu_seqlens_k[b]
    keys, key j at k[block_table[b, j // page_size], j % page_size] (and v
    alike), and its queries are the sequence's last nq positions, as a
    serving batch that mixes prefill chunks and decode steps has them. The
    page size is a constant of the kernel: each one compiles a kernel of
    its own.

    causal=True masks key j from query i of a sequence unless j <= i +
    (nk - nq) (FlashAttention's bottom-right alignment, the default here;
    causal_alignment="top_left": j <= i). score_mod(score, b, h, q_idx,
    kv_idx) and mask_mod(b, h, q_idx, kv_idx) are FlexAttention's, with b
    the sequence and q_idx, kv_idx positions within it (kv_idx is j, not a
    page row). Hq must be a multiple of Hkv (grouped-query attention).

    Returns out (Tq, Hq, D) in q's dtype, and with return_lse=True the
    log-sum-exp (Hq, Tq) in float32 (flash_attn's layout; -inf for a row
    that sees no key, whose output is 0). Rows outside every sequence
    (before cu_seqlens_q[0] or from cu_seqlens_q[B]) are 0 in out and -inf
    in the LSE; the kernel does not write them, so they are filled when the
    validated offsets leave such rows (with validate=False they are left
    uninitialized, as flash_attn leaves them).

    validate=True checks the offsets on the host before the launch (non-
    decreasing, within the tensors, lengths within the bounds) and, with a
    block_table, that each length is at most max_pages * page_size and
    each page a sequence reaches is in [0, num_pages): one device
    synchronization (inside the custom op with a block_table, so that
    torch.compile traces it whole). validate=False skips that (e.g. inside
    CUDA graphs); offsets or tables that break those rules then read or
    write out of bounds. Forward only (no autograd)."""
    if block_table is None:
        covered = _check_varlen_inputs(q, k, v, cu_seqlens_q, cu_seqlens_k,
                                       max_seqlen_q, max_seqlen_k,
                                       causal_alignment, softmax_scale,
                                       validate)
    else:
        _check_paged_inputs(q, k, v, cu_seqlens_q, cu_seqlens_k, block_table,
                            max_seqlen_q, max_seqlen_k, causal_alignment,
                            softmax_scale)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        raise ValueError("attention_varlen is forward only: q, k or v "
                         "requires grad; call it under torch.no_grad()")
    mods = _trace.trace_mods(score_mod, mask_mod)
    _trace._check_captures(mods.captures, q.device)
    alignment = causal_alignment if causal else None
    scale = None if softmax_scale is None else float(softmax_scale)
    regions = None
    if mods is not _trace._NO_MODS:
        regions = json.dumps([mods.score_mod, mods.mask_mod,
                              list(mods.capture_types)])
    eager = cache is not None or _options is not None
    # (Eager: Python objects, a cache or private compile options, that the
    # custom ops do not take.)
    if block_table is not None and eager:
        out, lse = _run_varlen_paged(
            q, k, v, cu_seqlens_q, cu_seqlens_k, block_table, max_seqlen_q,
            max_seqlen_k, alignment, scale, bool(return_lse), mods,
            bool(validate), cache, _options)
    elif block_table is not None:
        out, lse = _attention_varlen_paged_op(
            q, k, v, cu_seqlens_q, cu_seqlens_k, block_table, max_seqlen_q,
            max_seqlen_k, list(mods.captures), alignment, scale,
            bool(return_lse), regions, bool(validate))
    elif eager:
        out, lse = _run_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k,
                               max_seqlen_q, alignment, scale,
                               bool(return_lse), mods, not covered, cache,
                               _options)
    else:
        out, lse = _attention_varlen_op(
            q, k, v, cu_seqlens_q, cu_seqlens_k, int(max_seqlen_q),
            list(mods.captures), alignment, scale, bool(return_lse), regions,
            not covered)
    return (out, lse) if return_lse else out


def _outputs(q, dv, return_lse, fill):
    """out (Tq, Hq, Dv) and lse (Hq, Tq) or None. `fill`: rows outside
    every sequence may exist (the kernel does not write them): start from
    zeros and -inf."""
    tq, hq, _ = q.shape
    if fill:
        out = q.new_zeros((tq, hq, dv))
        lse = (torch.full((hq, tq), float("-inf"), dtype=torch.float32,
                          device=q.device) if return_lse else None)
    else:
        out = q.new_empty((tq, hq, dv))
        lse = (torch.empty((hq, tq), dtype=torch.float32, device=q.device)
               if return_lse else None)
    return out, lse


# Grouped-query heads: when the sequences are short on average (decode
# steps, short chunks, serving batches that mix them with a few prefills),
# a tile packs the G = Hq / Hkv query heads of a key/value group
# (pack_gqa), so that each K/V block is read once for the group rather
# than once per head; a 64-row tile when the group's rows of the longest
# sequence fit in it. On the H200 (B 8-64, Hq 32, Hkv 8, D 128, bf16;
# benchmarks/results/2026-12-02-h200-varlen-pack-gqa.md) packing ran
# decode steps and 16-query chunks 3-6x as fast and a mixed batch (4
# prefills of 512 queries, 60 decode steps) about 1.9x, and prefills of
# 2048 queries 0.9-1.0x: hence the mean query length as the rule.
_PACK_MAX_MEAN_QUERIES = 64
_PACK_SMALL_TILE_ROWS = 64


def _kernel_options(spec, q, kv_heads, batch, max_seqlen_q, options):
    """The compile options of a variable-length kernel and its spec:
    packed GQA tiles when the mean query length is at most
    _PACK_MAX_MEAN_QUERIES, unless `options` says pack_gqa. The strategy
    is the compiler's choice unless `options` names one: hopper-ws on
    sm_90a (mma-sync for packed GQA tiles and for pages of a size that is
    not a multiple of 8 rows)."""
    options = dict(options or {})
    hq = q.shape[1]
    group = hq // kv_heads if kv_heads else 1
    if "pack_gqa" not in options:
        options["pack_gqa"] = (1 < group <= 64 and batch > 0 and
                               q.shape[0] <= _PACK_MAX_MEAN_QUERIES * batch)
        if (options["pack_gqa"] and "block_m" not in options and
                group * max_seqlen_q <= _PACK_SMALL_TILE_ROWS):
            options["block_m"] = _PACK_SMALL_TILE_ROWS
    if not options["pack_gqa"]:
        del options["pack_gqa"]
    else:
        # Packing needs the head counts in the kernel's types.
        spec = _fa._with_heads(spec, (hq, kv_heads))
    return spec, options


def _launch(spec, q, k, v, out, lse, form, mods, max_seqlen_q, cache,
            options) -> None:
    """Launches the variable-length kernel of `spec` on q, k, v, out, lse
    (None without), the `form` operands (the offsets; the block table and
    the key counts), then the captures; the grid is the metadata's."""
    with torch.cuda.device(q.device):
        _driver.make_current(q.device.index)
        chip = _inputs._chip(q.device)
        kv_heads = k.shape[2] if spec.paged else k.shape[1]
        spec, options = _kernel_options(spec, q, kv_heads, form[0].numel() - 1,
                                        max_seqlen_q, options)
        kernel = _fa._load(spec, chip, q.device, cache, options)
        q, k, v = (_inputs._kernel_layout(t) for t in (q, k, v))
        if k.shape[0] == 0:  # a valid (empty) address for the descriptor
            k = v = k.new_empty((1,) + tuple(k.shape[1:]))
        operands = [q, k, v, out] + ([lse] if lse is not None else [])
        operands += list(form) + list(mods.captures)
        grid = _kvcache._grid(kernel.metadata, operands,
                              {"max_seqlen_q": max_seqlen_q})
        stream = torch.cuda.current_stream(q.device).cuda_stream
        kernel.launch(kernel.grid(grid), _kvcache._memrefs(operands), stream,
                      _inputs._tensor_maps(kernel, (q, k, v, out)))


def _run_varlen(q, k, v, cu_q, cu_k, max_seqlen_q, causal, scale, return_lse,
                mods, fill=True, cache=None, options=None):
    """Launches the varlen kernel (checked inputs); returns (out, lse).
    `fill`: rows outside every sequence may exist (the kernel does not
    write them): start from zeros and -inf."""
    out, lse = _outputs(q, v.shape[2], return_lse, fill)
    batch = cu_q.numel() - 1
    if q.shape[0] == 0 or batch == 0 or max_seqlen_q == 0:
        return out, lse
    spec = AttentionSpec(dtype=_inputs._DTYPES[q.dtype], head_dim=q.shape[2],
                         causal=causal, lse=return_lse, scale=scale,
                         score_mod=mods.score_mod, mask_mod=mods.mask_mod,
                         captures=tuple(mods.capture_types), varlen=True)
    _launch(spec, q, k, v, out, lse, (cu_q, cu_k), mods, max_seqlen_q, cache,
            options)
    return out, lse


def _validate_paged(q, cu_q, cu_k, block_table, page_size, num_pages,
                    max_seqlen_q, max_seqlen_k) -> bool:
    """The checks of the offsets and the table the kernel cannot make, on
    the host (one device-to-host copy): the offsets as without a table
    (cu_seqlens_k bounds no rows: the keys are in the pages), then the
    table for the key counts they give (_kvcache._check_tables). Returns
    whether the query sequences cover every row of q."""
    count, (batch, max_pages) = cu_q.numel(), block_table.shape
    host = torch.cat([cu_q, cu_k, block_table.reshape(-1)]).cpu()
    offsets_q = host[:count].tolist()
    _check_offset_values("cu_seqlens_q", offsets_q, q.shape[0], "q",
                         max_seqlen_q, "max_seqlen_q")
    lengths = _check_offset_values("cu_seqlens_k",
                                   host[count:2 * count].tolist(), None, None,
                                   max_seqlen_k, "max_seqlen_k")
    _kvcache._check_tables(
        torch.tensor(lengths, dtype=torch.long),
        host[2 * count:].view(batch, max_pages), page_size, num_pages,
        lambda b: f"cu_seqlens_k[{b + 1}] - cu_seqlens_k[{b}]")
    return _covers(offsets_q, q.shape[0])


def _run_varlen_paged(q, k_cache, v_cache, cu_q, cu_k, block_table,
                      max_seqlen_q, max_seqlen_k, causal, scale, return_lse,
                      mods, validate, cache=None, options=None):
    """Launches the kernel of variable-length queries against a paged
    cache (checked inputs; the offsets and the table checked too when
    `validate`); returns (out (Tq, Hq, Dv), lse (Hq, Tq) or None)."""
    num_pages, page_size = k_cache.shape[:2]
    fill = validate and not _validate_paged(
        q, cu_q, cu_k, block_table, page_size, num_pages, max_seqlen_q,
        max_seqlen_k)
    out, lse = _outputs(q, v_cache.shape[3], return_lse, fill)
    batch = cu_q.numel() - 1
    if q.shape[0] == 0 or batch == 0 or max_seqlen_q == 0:
        return out, lse
    # The kernel takes the key counts: cache_seqlens on the device.
    cache_seqlens = (cu_k[1:] - cu_k[:-1]).to(torch.int32)
    if block_table.shape[1] == 0:  # a valid address; every length is 0
        block_table = block_table.new_zeros((batch, 1))
    spec = AttentionSpec(dtype=_inputs._DTYPES[q.dtype], head_dim=q.shape[2],
                         causal=causal, lse=return_lse, scale=scale,
                         score_mod=mods.score_mod, mask_mod=mods.mask_mod,
                         captures=tuple(mods.capture_types), varlen=True,
                         paged=page_size)
    _launch(spec, q, k_cache, v_cache, out, lse,
            (cu_q, block_table.contiguous(), cache_seqlens), mods,
            max_seqlen_q, cache, options)
    return out, lse


# The custom ops: torch.compile (fullgraph), torch.export and CUDA graphs
# see one opaque op with a shape-only fake.
def _attention_varlen_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         cu_seqlens_q: torch.Tensor,
                         cu_seqlens_k: torch.Tensor, max_seqlen_q: int,
                         captures: List[torch.Tensor], causal: Optional[str],
                         scale: Optional[float], return_lse: bool,
                         regions: Optional[str],
                         fill: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    out, lse = _run_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                           causal, scale, return_lse,
                           _mods(regions, captures), fill)
    if lse is None:
        lse = q.new_empty((0,), dtype=torch.float32)
    return out, lse


def _mods(regions: Optional[str], captures: List[torch.Tensor]):
    """The traced mods a custom op's `regions` text and captures carry."""
    if regions is None:
        return _trace._NO_MODS
    score_mod, mask_mod, capture_types = json.loads(regions)
    return tracing.TracedMods(score_mod, mask_mod, tuple(capture_types),
                              tuple(captures))


def _attention_varlen_fake(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                           captures, causal, scale, return_lse, regions,
                           fill):
    tq, hq, _ = q.shape
    out = q.new_empty((tq, hq, v.shape[2]))
    lse = q.new_empty((hq, tq) if return_lse else (0,), dtype=torch.float32)
    return out, lse


# With a block table, the offsets and the table are checked inside the op
# (validate), so validate=True needs no graph break.
def _attention_varlen_paged_op(
        q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
        cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor,
        block_table: torch.Tensor, max_seqlen_q: int, max_seqlen_k: int,
        captures: List[torch.Tensor], causal: Optional[str],
        scale: Optional[float], return_lse: bool, regions: Optional[str],
        validate: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    out, lse = _run_varlen_paged(
        q, k_cache, v_cache, cu_seqlens_q, cu_seqlens_k, block_table,
        max_seqlen_q, max_seqlen_k, causal, scale, return_lse,
        _mods(regions, captures), validate)
    if lse is None:
        lse = q.new_empty((0,), dtype=torch.float32)
    return out, lse


def _attention_varlen_paged_fake(q, k_cache, v_cache, cu_seqlens_q,
                                 cu_seqlens_k, block_table, max_seqlen_q,
                                 max_seqlen_k, captures, causal, scale,
                                 return_lse, regions, validate):
    tq, hq, _ = q.shape
    out = q.new_empty((tq, hq, v_cache.shape[3]))
    lse = q.new_empty((hq, tq) if return_lse else (0,), dtype=torch.float32)
    return out, lse


if hasattr(torch.library, "custom_op"):  # PyTorch 2.4 and newer
    _attention_varlen_op = torch.library.custom_op(
        "fa_mlir::attention_varlen", mutates_args=())(_attention_varlen_op)
    _attention_varlen_op.register_fake(_attention_varlen_fake)
    _attention_varlen_paged_op = torch.library.custom_op(
        "fa_mlir::attention_varlen_paged",
        mutates_args=())(_attention_varlen_paged_op)
    _attention_varlen_paged_op.register_fake(_attention_varlen_paged_fake)
