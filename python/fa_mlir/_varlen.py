"""Variable-length batches: FlashAttention's `varlen` call on fa_mlir kernels.

The sequences of a batch are packed along one token axis, as serving and
packed-sequence training keep them: q (Tq, Hq, D), k and v (Tk, Hkv, D),
and sequence b is rows cu_seqlens_q[b]:cu_seqlens_q[b + 1] of q and
cu_seqlens_k[b]:cu_seqlens_k[b + 1] of k and v. The kernel is compiled from
fa.attention's varlen form (docs/Varlen.md) and reads the packed tensors in
place, with their strides.
"""

import json
from typing import Any, Callable, List, Optional, Tuple, Union

import torch

from . import torch as _fa
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
    _fa._check_inputs(*views, True, causal_alignment, scale)
    _check_offsets("cu_seqlens_q", cu_q, q.device)
    _check_offsets("cu_seqlens_k", cu_k, q.device)
    if cu_q.numel() != cu_k.numel():
        raise ValueError(f"cu_seqlens_q and cu_seqlens_k must hold the same "
                         f"number of offsets (B + 1), got {cu_q.numel()} and "
                         f"{cu_k.numel()}")
    if cu_q.numel() - 1 > 65535:
        raise ValueError("at most 65535 sequences (CUDA grid limits)")
    for name, m in (("max_seqlen_q", max_seqlen_q),
                    ("max_seqlen_k", max_seqlen_k)):
        if not isinstance(m, int) or isinstance(m, bool) or m < 0:
            raise TypeError(f"{name} must be a non-negative int, got {m!r}")
    if not validate:
        return True  # (the caller vouches for the offsets)
    # The kernel reads what the offsets say: check them on the host (one
    # device-to-host copy; validate=False skips it, e.g. in CUDA graphs).
    both = torch.cat([cu_q, cu_k]).tolist()
    count = cu_q.numel()
    for name, offsets, rows, bound, bound_name in (
            ("cu_seqlens_q", both[:count], q.shape[0], max_seqlen_q,
             "max_seqlen_q"),
            ("cu_seqlens_k", both[count:], k.shape[0], max_seqlen_k,
             "max_seqlen_k")):
        if offsets[0] < 0:
            raise ValueError(f"{name}[0] = {offsets[0]} is negative")
        lengths = [b - a for a, b in zip(offsets, offsets[1:])]
        for i, n in enumerate(lengths):
            if n < 0:
                raise ValueError(f"{name} must be non-decreasing: {name}"
                                 f"[{i + 1}] = {offsets[i + 1]} < {name}"
                                 f"[{i}] = {offsets[i]}")
        if offsets[-1] > rows:
            raise ValueError(f"{name}[-1] = {offsets[-1]} is past the "
                             f"{rows} token rows of "
                             f"{'q' if name.endswith('q') else 'k and v'}")
        longest = max(lengths, default=0)
        if longest > bound:
            raise ValueError(f"{bound_name} = {bound} is below the longest "
                             f"sequence in {name} ({longest})")
        if name == "cu_seqlens_q":
            covered = offsets[0] == 0 and offsets[-1] == rows
    return covered


def attention_varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor,
                     max_seqlen_q: int, max_seqlen_k: int, *,
                     softmax_scale: Optional[float] = None,
                     causal: bool = False,
                     causal_alignment: str = "bottom_right",
                     return_lse: bool = False,
                     score_mod: Optional[Callable[..., Any]] = None,
                     mask_mod: Optional[Callable[..., Any]] = None,
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

    causal=True masks key j from query i of a sequence unless j <= i +
    (nk - nq) (FlashAttention's bottom-right alignment, the default here;
    causal_alignment="top_left": j <= i). score_mod(score, b, h, q_idx,
    kv_idx) and mask_mod(b, h, q_idx, kv_idx) are FlexAttention's, with b
    the sequence and q_idx, kv_idx positions within it. Hq must be a
    multiple of Hkv (grouped-query attention).

    Returns out (Tq, Hq, D) in q's dtype, and with return_lse=True the
    log-sum-exp (Hq, Tq) in float32 (flash_attn's layout; -inf for a row
    that sees no key, whose output is 0). Rows outside every sequence
    (before cu_seqlens_q[0] or from cu_seqlens_q[B]) are 0 in out and -inf
    in the LSE; the kernel does not write them, so they are filled when the
    validated offsets leave such rows (with validate=False they are left
    uninitialized, as flash_attn leaves them).

    validate=True checks the offsets on the host before the launch (non-
    decreasing, within the tensors, lengths within the bounds): one device
    synchronization. validate=False skips that (e.g. inside CUDA graphs);
    offsets that break those rules then read or write out of bounds.
    Forward only (no autograd)."""
    covered = _check_varlen_inputs(q, k, v, cu_seqlens_q, cu_seqlens_k,
                                   max_seqlen_q, max_seqlen_k,
                                   causal_alignment, softmax_scale, validate)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        raise ValueError("attention_varlen is forward only: q, k or v "
                         "requires grad; call it under torch.no_grad()")
    mods = _fa.trace_mods(score_mod, mask_mod)
    _fa._check_captures(mods.captures, q.device)
    alignment = causal_alignment if causal else None
    scale = None if softmax_scale is None else float(softmax_scale)
    if cache is not None or _options is not None:
        # Python objects (a cache, private compile options): the eager path.
        out, lse = _run_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k,
                               max_seqlen_q, alignment, scale,
                               bool(return_lse), mods, not covered, cache,
                               _options)
    else:
        regions = None
        if mods is not _fa._NO_MODS:
            regions = json.dumps([mods.score_mod, mods.mask_mod,
                                  list(mods.capture_types)])
        out, lse = _attention_varlen_op(
            q, k, v, cu_seqlens_q, cu_seqlens_k, int(max_seqlen_q),
            list(mods.captures), alignment, scale, bool(return_lse), regions,
            not covered)
    return (out, lse) if return_lse else out


def _run_varlen(q, k, v, cu_q, cu_k, max_seqlen_q, causal, scale, return_lse,
                mods, fill=True, cache=None, options=None):
    """Launches the varlen kernel (checked inputs); returns (out, lse).
    `fill`: rows outside every sequence may exist (the kernel does not
    write them): start from zeros and -inf."""
    tq, hq, _ = q.shape
    if fill:
        out = q.new_zeros((tq, hq, v.shape[2]))
        lse = (torch.full((hq, tq), float("-inf"), dtype=torch.float32,
                          device=q.device) if return_lse else None)
    else:
        out = q.new_empty((tq, hq, v.shape[2]))
        lse = (torch.empty((hq, tq), dtype=torch.float32, device=q.device)
               if return_lse else None)
    batch = cu_q.numel() - 1
    if tq == 0 or batch == 0 or max_seqlen_q == 0:
        return out, lse
    spec = AttentionSpec(dtype=_fa._DTYPES[q.dtype], head_dim=q.shape[2],
                         causal=causal, lse=return_lse, scale=scale,
                         score_mod=mods.score_mod, mask_mod=mods.mask_mod,
                         captures=tuple(mods.capture_types), varlen=True)
    with torch.cuda.device(q.device):
        chip = _fa._chip(q.device)
        # (hopper-ws does not build variable-length tiles yet.)
        kernel = _fa._load(spec, chip, q.device, cache,
                           dict(options or {}, strategy="mma-sync"))
        q, k, v = (_fa._kernel_layout(t) for t in (q, k, v))
        if k.shape[0] == 0:  # a valid (empty) address for the descriptor
            k = v = k.new_empty((1,) + tuple(k.shape[1:]))
        args = (_fa._memref(q) + _fa._memref(k) + _fa._memref(v) +
                _fa._memref(out))
        if lse is not None:
            args += _fa._memref(lse)
        args += _fa._memref(cu_q) + _fa._memref(cu_k)
        for c in mods.captures:
            args += _fa._memref(c)
        grid = _varlen_grid(kernel.metadata, max_seqlen_q, q, batch)
        stream = torch.cuda.current_stream(q.device).cuda_stream
        kernel.launch(kernel.grid(grid), args, stream, [])
    return out, lse


def _varlen_grid(metadata, max_seqlen_q, q, batch) -> List[int]:
    """The grid the metadata states: (ceildiv(max_seqlen_q, block_m), Hq,
    B)."""
    dims = []
    for g in metadata["grid"]:
        if g.get("scalar") == "max_seqlen_q":
            value = max_seqlen_q
        elif g.get("arg") == 0:
            value = q.shape[g["dim"]]
        else:  # the offsets: B + 1 of them
            value = batch + 1
        if "ceildiv" in g:
            value = -(-value // g["ceildiv"])
        value -= g.get("minus", 0)
        dims.append(value)
    return dims


# The custom op: torch.compile (fullgraph), torch.export and CUDA graphs
# see one opaque op with a shape-only fake.
def _attention_varlen_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         cu_seqlens_q: torch.Tensor,
                         cu_seqlens_k: torch.Tensor, max_seqlen_q: int,
                         captures: List[torch.Tensor], causal: Optional[str],
                         scale: Optional[float], return_lse: bool,
                         regions: Optional[str],
                         fill: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    mods = _fa._NO_MODS
    if regions is not None:
        score_mod, mask_mod, capture_types = json.loads(regions)
        mods = tracing.TracedMods(score_mod, mask_mod, tuple(capture_types),
                                  tuple(captures))
    out, lse = _run_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                           causal, scale, return_lse, mods, fill)
    if lse is None:
        lse = q.new_empty((0,), dtype=torch.float32)
    return out, lse


def _attention_varlen_fake(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                           captures, causal, scale, return_lse, regions,
                           fill):
    tq, hq, _ = q.shape
    out = q.new_empty((tq, hq, v.shape[2]))
    lse = q.new_empty((hq, tq) if return_lse else (0,), dtype=torch.float32)
    return out, lse


if hasattr(torch.library, "custom_op"):  # PyTorch 2.4 and newer
    _attention_varlen_op = torch.library.custom_op(
        "fa_mlir::attention_varlen", mutates_args=())(_attention_varlen_op)
    _attention_varlen_op.register_fake(_attention_varlen_fake)
