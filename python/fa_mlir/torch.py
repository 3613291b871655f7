"""fa_mlir for PyTorch: an SDPA-compatible attention on CUDA tensors.

    from fa_mlir.torch import attention, FlashAttention
    out = attention(q, k, v, is_causal=True)               # (B, H, N, D)
    out, lse = attention(q, k, v, return_lse=True)

Same meaning as torch.nn.functional.scaled_dot_product_attention for the
arguments they share (is_causal is top-left aligned there and here;
causal_alignment="bottom_right" aligns the mask to the last key instead).
Kernels are compiled on first use for (dtype, head dim, mask, LSE, scale,
modifications, GPU) and cached in memory and on disk; they run on the
current CUDA stream.

FlexAttention-style modifications (docs/ProgrammableAttention.md; a library
of common ones is in fa_mlir.mods):

    def softcap(score, b, h, q_idx, kv_idx):
        return 30 * torch.tanh(score / 30)
    def document(b, h, q_idx, kv_idx):          # doc_ids: (B, N) CUDA int
        return doc_ids[b, q_idx] == doc_ids[b, kv_idx]
    out = attention(q, k, v, score_mod=softcap, mask_mod=document)

The functions are traced once into the kernel's source (see
fa_mlir.tracing); the tensors they index become kernel arguments, read
afresh on every call.

`attention` runs the custom op torch.ops.fa_mlir.attention (PyTorch 2.4 and
newer), so torch.compile(fullgraph=True), torch.export and CUDA graphs take
it as one opaque op; score_mod/mask_mod are traced outside the graph (a
graph break under torch.compile). An eager call skips the op's dispatch
and runs the same forward and backward through an autograd.Function
(fa_mlir._ops).
"""

import dataclasses
import functools
import json
import threading
from typing import Any, Callable, Optional, Tuple, Union

import torch

from ._capi import target_info
from . import _driver, _splits
from ._torch_inputs import (_DTYPES, _check_inputs, _chip, _grid,
                            _kernel_layout, _memref, _tensor_maps)
from ._torch_trace import _check_captures, _NO_MODS, trace_mods
from .compiler import (AttentionSpec, KernelCache, check_kernel_arguments,
                       default_cache)

_loaded = {}
_loaded_lock = threading.Lock()


# One tuner per kernel cache: a tuner writes its choices to its cache's
# directory.
_tuners = {}


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
              is_causal: bool = False, scale: Optional[float] = None,
              enable_gqa: bool = False, causal_alignment: str = "top_left",
              return_lse: bool = False,
              score_mod: Optional[Callable[..., Any]] = None,
              mask_mod: Optional[Callable[..., Any]] = None,
              autotune: bool = False, strategy: Optional[str] = None,
              cache: Optional[KernelCache] = None, _options=None
              ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """softmax(q k^T * scale [+ causal mask]) v for (B, H, N, D) CUDA tensors
    of float16 or bfloat16; returns out (B, Hq, Nq, D) in q's dtype, and with
    return_lse=True also the log-sum-exp (B, Hq, Nq) in float32 (-inf for a
    row that sees no key; its output is 0).

    score_mod(score, b, h, q_idx, kv_idx) -> float and mask_mod(b, h, q_idx,
    kv_idx) -> bool are FlexAttention's: score_mod rewrites each scaled
    score (f32) and mask_mod keeps (True) or hides (False) a (query, key)
    pair; h is the query head (with GQA too), q_idx and kv_idx positions in
    the whole sequences. A pair is kept when both is_causal's mask (if any)
    and mask_mod allow it. Tensors the functions index (slopes[h],
    doc_ids[b, q_idx]) must be CUDA tensors on q's device (any strides;
    float32/16, bfloat16, float64, int8/16/32/64, uint8 or bool); they are
    read when the kernel runs. See fa_mlir.tracing for what traces.

    strategy picks the kernel schedule: "hopper-ws" (wgmma; sm_90a, where
    it is the default; docs/HopperStrategy.md) or "mma-sync" (sm_80 and
    newer; the default elsewhere). autotune=True times both on sm_90a (only
    the given one when strategy is set)."""
    _check_inputs(q, k, v, enable_gqa, causal_alignment, scale)
    if strategy is not None and strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES} or None, "
                         f"got {strategy!r}")
    mods = trace_mods(score_mod, mask_mod)
    _check_captures(mods.captures, q.device)
    causal = causal_alignment if is_causal else None
    # Training: the op also returns the LSE its backward reads.
    needs_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (q, k, v, *mods.captures))
    if needs_grad:
        _check_backward(q, mods.captures, cache, _options)
    if cache is not None or _options is not None:
        # Arguments that are Python objects: the eager path, not the op.
        options = _strategy_options(strategy, q.device, _options)
        out, lse = _run(_spec(q, causal, scale, return_lse, mods), q, k, v,
                        mods.captures, autotune=autotune, cache=cache,
                        options=options)
    else:
        regions = None
        if mods is not _NO_MODS:
            regions = json.dumps([mods.score_mod, mods.mask_mod,
                                  list(mods.capture_types)])
        out, lse = _ops.attention(
            q, k, v, list(mods.captures), causal,
            None if scale is None else float(scale),
            bool(return_lse or needs_grad), regions, bool(autotune), strategy,
            needs_grad)
    return (out, lse) if return_lse else out


def _check_backward(q, captures, cache, options):
    """What the backward cannot do, said before the forward runs."""
    d = q.shape[3]
    if d > _MAX_BACKWARD_HEAD_DIM:
        raise ValueError(f"q, k or v requires grad, and fa_mlir's backward "
                         f"kernels take D <= {_MAX_BACKWARD_HEAD_DIM}, got "
                         f"D = {d}; call under torch.no_grad() or use SDPA "
                         f"for training at this head dim")
    for i, c in enumerate(captures):
        if c.requires_grad:
            raise ValueError(f"capture {i} of score_mod/mask_mod requires "
                             f"grad: fa_mlir computes no gradient for "
                             f"captured tensors; pass it detached")
    if cache is not None or options is not None:
        raise ValueError("q, k or v requires grad: the differentiable path "
                         "takes the default kernel cache (cache=None)")


# The backward's register budget (MmaSyncBackwardKernel.cpp): dK and dV of
# a 16-row tile stay in registers up to D = 128.
_MAX_BACKWARD_HEAD_DIM = 128


def _spec(q, causal, scale, return_lse, mods):
    return _spec_of(_DTYPES[q.dtype], q.shape[3], causal, bool(return_lse),
                    scale, mods.score_mod, mods.mask_mod,
                    tuple(mods.capture_types))


# Specs are immutable and their checks cost more than a decode kernel's
# launch: one per distinct call signature.
@functools.lru_cache(maxsize=1024)
def _spec_of(dtype, head_dim, causal, lse, scale, score_mod, mask_mod,
             captures):
    return AttentionSpec(dtype=dtype, head_dim=head_dim, causal=causal,
                         lse=lse, scale=scale, score_mod=score_mod,
                         mask_mod=mask_mod, captures=captures)


@functools.lru_cache(maxsize=1024)
def _with_heads(spec, heads):
    """`spec` with static head counts (a packed tile's kernel needs them)."""
    return dataclasses.replace(spec, heads=heads)


def _run_backward(spec, q, k, v, out, grad_out, lse, captures=()):
    """dQ, dK, dV of `spec`'s attention from the forward's out and LSE."""
    if lse.numel() != q.shape[0] * q.shape[1] * q.shape[2]:
        raise RuntimeError("fa_mlir's backward needs the forward's LSE; the "
                           "forward ran without it")
    dq = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    dk = torch.empty(k.shape, dtype=k.dtype, device=k.device)
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)
    if q.shape[2] == 0:
        return dq, dk.zero_(), dv.zero_()
    with torch.cuda.device(q.device):
        _driver.make_current(q.device.index)
        chip = _chip(q.device)
        kernels = _load_backward(spec, chip, q.device)
        q, k, v, out, grad_out = (_kernel_layout(t)
                                  for t in (q, k, v, out, grad_out))
        lse = lse.contiguous()
        delta = torch.empty_like(lse)
        scratch = [delta]
        if kernels[1].metadata["backward"]["stage"] == "fused":
            # dQ in f32, zeroed by the delta kernel, summed into by the
            # fused kernel (TMA tensor reductions on sm_90a, else atomics).
            scratch.append(torch.empty(q.shape, dtype=torch.float32,
                                       device=q.device))
        operands = (q, k, v, out, grad_out, lse, *scratch, dq, dk, dv,
                    *captures)
        args = []
        for t in operands:
            args += _memref(t)
        stream = torch.cuda.current_stream(q.device).cuda_stream
        for kernel in kernels:  # delta, key_value, query (or fused, dq_convert)
            grid = []
            for g in kernel.metadata["grid"]:
                value = (q, k)[g["arg"]].shape[g["dim"]]
                if "ceildiv" in g:
                    value = -(-value // g["ceildiv"])
                grid.append(value)
            # The hopper-ws fused kernel's maps: q, k, v, do (TMA loads)
            # and dq_accum (TMA reductions).
            kernel.launch(grid, args, stream, _tensor_maps(kernel, operands))
    return dq, dk, dv


def _load_backward(spec, chip, device):
    # The compiler's choice (auto: on sm_90a the wgmma fused kernel, dQ
    # summed by TMA tensor reductions; elsewhere mma.sync, the fused kernel
    # where that is the faster) unless PyTorch is asked for deterministic
    # algorithms: then dQ has its own (mma.sync) kernel.
    dq = "stage" if torch.are_deterministic_algorithms_enabled() else "auto"
    cache = default_cache()
    key = ("backward", spec, chip, dq, device.index, id(cache))
    with _loaded_lock:
        kernels = _loaded.get(key)
        if kernels is None:
            kernels = []
            compiled_kernels = cache.get_backward(
                spec, chip=chip, strategy="auto", backward_dq=dq)
            # get_backward checked the stages: (delta, fused, dq_convert)
            # take the f32 dQ accumulator too.
            accumulate = \
                compiled_kernels[1].metadata["backward"]["stage"] == "fused"
            for compiled in compiled_kernels:
                check_kernel_arguments(compiled.metadata, spec, backward=True,
                                       accumulate=accumulate)
                kernels.append(_driver.LoadedKernel(compiled))
            _loaded[key] = kernels
        return kernels


_STRATEGIES = ("mma-sync", "hopper-ws")


def _strategy_options(strategy, device, options):
    """The compile options of `strategy` (None: the default) on top of the
    private `options`; a strategy the device cannot run is a ValueError."""
    if strategy is None:
        return options
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES} or None, "
                         f"got {strategy!r}")
    if strategy == "hopper-ws" and _chip(device) != "sm_90a":
        raise ValueError("strategy='hopper-ws' needs an sm_90a GPU "
                         f"(wgmma); {device} is {_chip(device)}")
    return dict(options or {}, strategy=strategy)


def default_strategy(chip):
    """The kernel schedule used when none is asked for: hopper-ws (wgmma)
    where the compiler's chip table lists it (sm_90a), mma-sync elsewhere:
    what the compiler's strategy=auto picks for the shapes fa_mlir.torch
    takes."""
    for entry in target_info()["chips"]:
        if entry["chip"] == chip and "hopper-ws" in entry["strategies"]:
            return "hopper-ws"
    return "mma-sync"


def _run(spec, q, k, v, captures=(), autotune=False, cache=None,
         options=None):
    """Launches the kernel of `spec` (checked inputs); returns (out, lse)."""
    b, hq, nq, d = q.shape
    out = torch.empty((b, hq, nq, d), dtype=q.dtype, device=q.device)
    lse = (torch.empty((b, hq, nq), dtype=torch.float32, device=q.device)
           if spec.lse else None)
    if nq == 0:
        return out, lse
    with torch.cuda.device(q.device):
        _driver.make_current(q.device.index)
        chip = _chip(q.device)
        opts = dict(options or {})
        # autotune picks the tile (and, unless one is given, the strategy)
        # unless the private options fix one.
        if autotune and set(opts) <= {"strategy"}:
            tuner_cache = cache or default_cache()
            _tuner = _tuners.get(id(tuner_cache))
            if _tuner is None:
                from .autotune import Tuner
                _tuner = _tuners[id(tuner_cache)] = Tuner(tuner_cache)
            opts = dict(_tuner.best(spec, q, k, v, chip, captures,
                                    strategy=opts.get("strategy")))
        split = opts.get("split_kv") not in (None, "none")
        if split or (not opts and _splits_keys(q, k)):
            # One or a few query rows against many keys: the tiles alone
            # would leave most of the GPU idle (flash-decoding). Private
            # options with split_kv tune the split kernels.
            return _run_split(spec, q, k, v, out, lse, captures, chip, cache,
                              opts)
        opts.setdefault("strategy", default_strategy(chip))
        _launch_one(spec, q, k, v, out, lse, captures, chip, cache, opts)
    return out, lse


def _launch_one(spec, q, k, v, out, lse, captures, chip, cache, options):
    """Launches the one kernel of `spec` under `options` into out (and
    lse), on the current device and stream."""
    kernel = _load(spec, chip, q.device, cache, options)
    q, k, v = (_kernel_layout(t) for t in (q, k, v))
    args = _memref(q) + _memref(k) + _memref(v) + _memref(out)
    if lse is not None:
        args += _memref(lse)
    for c in captures:  # any strides: the kernel reads them as given
        args += _memref(c)
    maps = _tensor_maps(kernel, (q, k, v, out))
    stream = torch.cuda.current_stream(q.device).cuda_stream
    kernel.launch(kernel.grid(_grid(kernel.metadata, q, k)), args, stream,
                  maps)


# Split-KV (flash-decoding): query lengths up to _SPLIT_MAX_QUERIES against
# at least _SPLIT_MIN_KEYS keys, when the (batch, head, 128-row tile) tiles
# do not fill the multiprocessors, always with grouped-query heads (whose
# tiles the decode kernels pack) and always for up to 16 query rows. The
# split kernels take the compiler's tiles for split-KV: 16 rows whose warps
# split each key block (benchmarks/results/2026-12-02-h200-decode-key-warps.md).
_SPLIT_MAX_QUERIES = 64
_SPLIT_MIN_KEYS = 1024


def _splits_keys(q, k) -> bool:
    b, hq, nq, _ = q.shape
    if nq > _SPLIT_MAX_QUERIES or k.shape[2] < _SPLIT_MIN_KEYS:
        return False
    # Grouped-query heads: the decode kernels pack a group into one tile
    # and read its K/V once (1.2-1.5x the one-kernel forward at B 8, Hq 32,
    # Hkv 8, Nq 1-4 on the H200,
    # benchmarks/results/2026-12-01-h200-decode-pack-gqa.md).
    if _packed_heads(q, k) > 1:
        return True
    # One 16-row tile of queries: the split kernels' 16-row tiles read the
    # cache faster than the one-kernel forward's 128-row tiles, which are
    # padding in the tensor cores, even unsplit (MHA, B 8, Hq 32, Nq 1,
    # D 128 on the H200,
    # benchmarks/results/2026-12-02-h200-decode-key-warps.md).
    if nq <= 16:
        return True
    count = torch.cuda.get_device_properties(q.device).multi_processor_count
    return b * hq * -(-nq // 128) < count


def _packed_heads(q, k) -> int:
    """The query heads a split tile packs (pack_gqa): the G = Hq / Hkv heads
    of a key/value group share every K/V load; 1 for MHA or a group larger
    than a 64-row tile."""
    if k.shape[1] == 0:
        return 1
    group = q.shape[1] // k.shape[1]
    return group if 1 < group <= 64 else 1


def _split_options(q, k):
    options = {"strategy": "mma-sync", "split_kv": "auto"}
    if _packed_heads(q, k) > 1:
        options["pack_gqa"] = True
    return options


def _run_split(spec, q, k, v, out, lse, captures, chip, cache,
               options=None, kv_splits: Optional[int] = None):
    """The two kernels of a split-KV attention: each tile's key blocks are
    shared among S blocks, whose f32 partial outputs and LSEs the combine
    kernel merges (S from the rule the metadata names, or kv_splits); where
    the rule gives S = 1, the split tile as one kernel instead. `options`
    (private) override the split kernels' compile options. (The pair is
    loaded first even then: the rule needs the partial kernel's slots.)"""
    options = dict(_split_options(q, k), **(options or {}))
    if options.get("pack_gqa"):
        # Packing needs the head counts in the kernel's types.
        spec = _with_heads(spec, (q.shape[1], k.shape[1]))
    kernels = _load_split(spec, chip, q.device, cache, options)
    partial, combine = kernels
    b, hq, nq, d = q.shape
    splits, query_tiles, tile_heads = _splits.split_count(
        partial, b, hq, k.shape[1], nq, k.shape[2], kv_splits)
    if splits == 1 and kv_splits is None and \
            not partial.metadata["split_kv"]["splits"]:
        # The tiles fill the device (MHA decoding of a large batch): the
        # same tile as one kernel writes O itself, without the combine's
        # launch and pass (the schedule of a tile does not depend on the
        # split: the same warps, key groups and ring).
        tile = partial.metadata["tile"]
        one = {key: value for key, value in options.items()
               if key != "split_kv"}
        one.update(block_m=tile["block_m"], block_n=tile["block_n"])
        _launch_one(spec, q, k, v, out, lse, captures, chip, cache, one)
        return out, lse
    q, k, v = (_kernel_layout(t) for t in (q, k, v))
    partial_o = torch.empty((splits, b, hq, nq, d), dtype=torch.float32,
                            device=q.device)
    partial_lse = torch.empty((splits, b, hq, nq), dtype=torch.float32,
                              device=q.device)
    args = (_memref(q) + _memref(k) + _memref(v) + _memref(partial_o) +
            _memref(partial_lse))
    for c in captures:
        args += _memref(c)
    stream = torch.cuda.current_stream(q.device).cuda_stream
    partial.launch([query_tiles * splits, tile_heads, b], args, stream)
    combine_args = _memref(partial_o) + _memref(partial_lse) + _memref(out)
    if lse is not None:
        combine_args += _memref(lse)
    combine.launch([-(-nq // combine.metadata["tile"]["block_m"]), hq, b],
                   combine_args, stream)
    return out, lse


def _load_split(spec, chip, device, cache, options):
    cache = cache or default_cache()
    key = ("split", spec, chip, tuple(sorted(options.items())), device.index,
           id(cache))
    with _loaded_lock:
        kernels = _loaded.get(key)
        if kernels is None:
            kernels = []
            for stage, compiled in zip(("partial", "combine"),
                                       cache.get_split(spec, chip=chip,
                                                       **options)):
                check_kernel_arguments(compiled.metadata, spec,
                                       split_stage=stage)
                kernels.append(_driver.LoadedKernel(compiled))
            _loaded[key] = kernels
        return kernels


def _load(spec, chip, device, cache, options):
    # Keyed by everything the kernel depends on (as the compile cache is):
    # kernel names do not encode the scale, so a name is not a key.
    cache = cache or default_cache()
    key = (spec, chip, tuple(sorted(options.items())), device.index,
           id(cache))
    with _loaded_lock:
        kernel = _loaded.get(key)
        if kernel is None:
            compiled = cache.get(spec, chip=chip, **options)
            check_kernel_arguments(compiled.metadata, spec)
            kernel = _driver.LoadedKernel(compiled)
            _loaded[key] = kernel
        return kernel


class FlashAttention(torch.nn.Module):
    """nn.Module form of `attention`: FlashAttention(is_causal=True)(q, k, v),
    FlashAttention(score_mod=fa_mlir.mods.softcap(50))(q, k, v)."""

    def __init__(self, is_causal: bool = False,
                 scale: Optional[float] = None, enable_gqa: bool = False,
                 causal_alignment: str = "top_left", autotune: bool = False,
                 score_mod: Optional[Callable[..., Any]] = None,
                 mask_mod: Optional[Callable[..., Any]] = None) -> None:
        super().__init__()
        self.is_causal, self.scale, self.enable_gqa = is_causal, scale, enable_gqa
        self.causal_alignment, self.autotune = causal_alignment, autotune
        self.score_mod, self.mask_mod = score_mod, mask_mod

    def forward(self, q: torch.Tensor, k: torch.Tensor,
                v: torch.Tensor) -> torch.Tensor:
        return attention(q, k, v, is_causal=self.is_causal, scale=self.scale,
                         enable_gqa=self.enable_gqa,
                         causal_alignment=self.causal_alignment,
                         autotune=self.autotune, score_mod=self.score_mod,
                         mask_mod=self.mask_mod)

    def extra_repr(self):
        mods = "".join(
            f", {n}={getattr(f, '__qualname__', f)}"
            for n, f in (("score_mod", self.score_mod),
                         ("mask_mod", self.mask_mod)) if f is not None)
        return (f"is_causal={self.is_causal}, causal_alignment="
                f"{self.causal_alignment!r}, scale={self.scale}, "
                f"enable_gqa={self.enable_gqa}, autotune={self.autotune}"
                f"{mods}")


# Variable-length batches (fa_mlir.torch.attention_varlen), in their own
# module; imported last, since it uses this one's helpers.
from . import _ops  # noqa: E402  (registers the custom ops)
from ._varlen import attention_varlen  # noqa: E402
from ._kvcache import attention_with_kvcache  # noqa: E402
