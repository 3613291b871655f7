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
import math
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch

from ._capi import FAError, target_info
from . import _driver, _splits, tracing
from .compiler import (AttentionSpec, KernelCache, check_kernel_arguments,
                       default_cache)
from .trace_cache import TraceCache

_DTYPES = {torch.float16: "f16", torch.bfloat16: "bf16"}
_loaded = {}
_loaded_lock = threading.Lock()


_chips = {}


def _chip(device):
    index = device.index if device.index is not None else \
        torch.cuda.current_device()
    chip = _chips.get(index)
    if chip is None:
        chip = _chips[index] = _chip_of(index)
    return chip


def _head_dims() -> Tuple[int, ...]:
    """The head dimensions the compiler builds (its table, faGetTargetInfo)."""
    return tuple(target_info()["head_dims"])


def _chips_by_capability() -> Dict[Tuple[int, int], str]:
    """The chip fa_mlir compiles for on each compute capability, from the
    compiler's table: of the chips of a capability, the one that runs the
    most strategies (sm_90a, with wgmma, rather than sm_90)."""
    chips: Dict[Tuple[int, int], dict] = {}
    for chip in target_info()["chips"]:
        cap = tuple(chip["capability"])
        best = chips.get(cap)
        if best is None or len(chip["strategies"]) > len(best["strategies"]):
            chips[cap] = chip
    return {cap: chip["chip"] for cap, chip in chips.items()}


def _chip_of(device):
    cap = torch.cuda.get_device_capability(device)
    chips = _chips_by_capability()
    if cap not in chips:
        names = ", ".join(sorted(set(chips.values())))
        raise FAError(f"fa_mlir has kernels for {names}, not "
                      f"sm_{cap[0]}{cap[1]} "
                      f"({torch.cuda.get_device_name(device)}); use "
                      f"torch.nn.functional.scaled_dot_product_attention")
    return chips[cap]


def _check_inputs(q, k, v, enable_gqa, causal_alignment, scale):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got "
                            f"{type(t).__name__}")
        if t.device.type != "cuda":
            raise ValueError(f"{name} is on {t.device}: fa_mlir runs on CUDA "
                             f"tensors only; move the inputs with .cuda() or "
                             f"use torch's scaled_dot_product_attention")
        if t.dim() != 4:
            raise ValueError(f"{name} must have shape (B, H, N, D), got "
                             f"{tuple(t.shape)}")
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name} has dtype {t.dtype}; fa_mlir supports "
                             f"torch.float16 and torch.bfloat16")
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k, v must share a dtype, got {q.dtype}, "
                         f"{k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k, v must be on one device, got {q.device}, "
                         f"{k.device}, {v.device}")
    (b, hq, nq, d), (bk, hk, nk, dk) = q.shape, k.shape
    if tuple(v.shape) != tuple(k.shape):
        raise ValueError(f"v must have the shape of k {tuple(k.shape)}, got "
                         f"{tuple(v.shape)}")
    if bk != b:
        raise ValueError(f"batch of q ({b}) and k ({bk}) differ")
    if dk != d:
        raise ValueError(f"head dim of q ({d}) and k ({dk}) differ")
    if d not in _head_dims():
        raise ValueError(f"head dim {d} is not supported; fa_mlir kernels "
                         f"take D in {_head_dims()}")
    if hq != hk:
        if not enable_gqa:
            raise ValueError(f"q has {hq} heads and k/v {hk}: pass "
                             f"enable_gqa=True for grouped-query attention")
        if hk == 0 or hq % hk:
            raise ValueError(f"q heads ({hq}) must be a multiple of k/v "
                             f"heads ({hk})")
    if nk == 0:
        raise ValueError("k and v have no keys (N = 0): the softmax is "
                         "undefined")
    if b > 65535 or hq > 65535:
        raise ValueError("batch and heads must be at most 65535 (CUDA grid "
                         "limits)")
    if causal_alignment not in ("top_left", "bottom_right"):
        raise ValueError(f"causal_alignment must be 'top_left' or "
                         f"'bottom_right', got {causal_alignment!r}")
    if scale is not None and not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be positive and finite, got {scale}")


def _kernel_layout(t):
    """t itself when the kernel can read it (unit innermost stride, 16-byte
    aligned rows and no broadcast dimension: what cp.async and TMA tensor
    maps need), else a contiguous copy."""
    aligned = (t.stride(-1) == 1 and t.data_ptr() % 16 == 0 and
               all(s % 8 == 0 and (s > 0 or n <= 1)
                   for s, n in zip(t.stride()[:-1], t.shape[:-1])))
    return t if aligned else t.contiguous()


def _memref(t):
    return [t.data_ptr(), t.data_ptr(), 0, *t.shape, *t.stride()]


def _tensor_maps(kernel, operands):
    """The CUtensorMaps a TMA kernel takes after its descriptors (none for
    other kernels), of `operands` as the kernel reads them: its tensor
    arguments in order (q, k, v, o, ...; each map's "argument" indexes
    them)."""
    maps = []
    for spec in kernel.tensor_maps:
        t = operands[spec.argument]
        maps.append(_driver.tensor_map(spec, t.data_ptr(), tuple(t.shape),
                                       t.stride()))
    return maps


def _grid(metadata, q, k):
    dims = []
    for g in metadata["grid"]:
        value = (q, k)[g["arg"]].shape[g["dim"]]
        if "ceildiv" in g:
            value = -(-value // g["ceildiv"])
        dims.append(value)
    return dims


# ---------------------------------------------------------------------------
# Tracing score_mod / mask_mod with torch


# torch dtype -> (MLIR element type, unsigned)
CAPTURE_DTYPES = {
    torch.float32: ("f32", False), torch.float16: ("f16", False),
    torch.bfloat16: ("bf16", False), torch.float64: ("f64", False),
    torch.int8: ("i8", False), torch.uint8: ("i8", True),
    torch.int16: ("i16", False), torch.int32: ("i32", False),
    torch.int64: ("i64", False), torch.bool: ("i1", True),
}
# Metadata a traced function may read off a tensor: the first kind is part
# of the trace key already (dtype, rank), the second is checked when read.
_TYPE_QUERIES = {"dtype", "device", "ndim", "dim", "is_cuda", "layout",
                 "requires_grad", "element_size", "get_device",
                 "is_floating_point", "is_complex", "is_signed", "ndimension"}
_SHAPE_QUERIES = {"shape", "size", "stride", "numel", "nelement", "__len__",
                  "is_contiguous"}
_impls = None


def _torch_impls():
    """torch functions and Tensor methods -> tracing implementations."""
    global _impls
    if _impls is None:
        table = {}
        for name, impl in tracing.FUNCTIONS.items():
            for owner in (torch, torch.Tensor, torch.special):
                f = getattr(owner, name, None)
                if f is not None:
                    table[f] = impl
        for name, impl in tracing.OPERATORS.items():
            f = getattr(torch.Tensor, name, None)
            if f is not None:
                table[f] = impl
        for f in (torch.sigmoid, torch.special.expit, torch.Tensor.sigmoid):
            table[f] = tracing.FUNCTIONS["sigmoid"]
        table[torch.Tensor.where] = lambda t, input, condition, other: \
            tracing.FUNCTIONS["where"](t, condition, input, other)
        _impls = table
    return _impls


def _is_traced(x):
    return isinstance(x, (tracing.Value, tracing.PartialIndex))


def _has_traced(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if _is_traced(a):
            return True
        if isinstance(a, (tuple, list)) and any(_is_traced(b) for b in a):
            return True
    return False


def _torch_function(t, func, args, kwargs):
    """A torch function called while `t` traces: traced operands go to the
    tracer; anything else runs as usual (and is noted)."""
    if func is torch.Tensor.__getitem__ and _has_traced(args[1:], {}):
        return t.extract(args[0], args[1])
    if _has_traced(args, kwargs):
        impl = _torch_impls().get(func)
        if impl is None:
            raise t.error(
                f"{tracing._func_name(func)}() is not supported on traced "
                f"values. Supported: Python arithmetic, comparisons and "
                f"& | ~ ^, torch.where/minimum/maximum/clamp, elementwise "
                f"math (tanh, exp, exp2, log, log2, sqrt, rsqrt, sin, cos, "
                f"sigmoid, floor, ceil, abs, ...) and indexing captured "
                f"tensors")
        return impl(t, *args, **kwargs)
    name = tracing._func_name(func)
    if name in _SHAPE_QUERIES:
        if args and isinstance(args[0], torch.Tensor):
            t.queried[id(args[0])] = args[0]
    elif name not in _TYPE_QUERIES:
        # A computation on concrete tensors (slopes * 2, x.item(), ...): its
        # result may depend on values, so this trace is not reused.
        t.impure = True
    return func(*args, **kwargs)


class _TracingMode(torch.overrides.TorchFunctionMode):
    def __init__(self, tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.tracer.internal:
            return func(*args, **kwargs)
        return _torch_function(self.tracer, func, args, kwargs)


class TorchArrays(tracing.ArrayAdapter):
    """Captured tensors are torch tensors; torch functions trace."""

    def is_array(self, obj):
        return isinstance(obj, torch.Tensor)

    def capture_type(self, array):
        if not isinstance(array, torch.Tensor):
            raise TypeError(f"cannot capture {type(array).__name__}")
        if array.layout != torch.strided:
            raise TypeError(f"captured tensors must be strided (dense), got "
                            f"a {array.layout} tensor")
        info = CAPTURE_DTYPES.get(array.dtype)
        if info is None:
            raise TypeError(
                f"captured tensor of dtype {array.dtype} (shape "
                f"{tuple(array.shape)}) is not supported; captures are "
                f"float32, float16, bfloat16, float64, int8, uint8, int16, "
                f"int32, int64 or bool")
        return tracing.CaptureType(info[0], array.dim(), info[1])

    def array_key(self, array):
        return array.dtype, array.dim()

    def array_meta(self, array):
        return tuple(array.shape), array.stride()

    def scalar_operand(self, tracer, obj):
        if not isinstance(obj, torch.Tensor):
            return None
        if obj.dim() != 0:
            raise tracer.error(
                f"a tensor of shape {tuple(obj.shape)} is used as an operand; "
                f"score_mod/mask_mod compute on scalars: index captured "
                f"tensors down to one element (e.g. slopes[h])")
        if obj.device.type == "cpu":
            tracer.impure = True  # its value goes into the source
            return obj.item()
        return tracer.extract(obj, ())

    def constant_key(self, obj):
        if isinstance(obj, (torch.dtype, torch.device)):
            return type(obj), str(obj)
        if isinstance(obj, torch.Size):
            return torch.Size, tuple(obj)
        return None

    def tracing(self, tracer):
        tracer.torch_function = lambda func, args, kwargs: _torch_function(
            tracer, func, args, kwargs)
        return _TracingMode(tracer)


_traces = TraceCache(TorchArrays())
_NO_MODS = tracing.TracedMods(None, None, (), ())


def trace_mods(score_mod: Optional[Callable[..., Any]] = None,
               mask_mod: Optional[Callable[..., Any]] = None
               ) -> tracing.TracedMods:
    """The traced form of a score_mod and a mask_mod (either may be None):
    a fa_mlir.tracing.TracedMods with the region texts and capture types
    for AttentionSpec, and the captured tensors in kernel-argument order.
    Traces are reused while the functions' code, closures and the globals
    they name are unchanged (see fa_mlir.trace_cache.TraceCache).

        mods = trace_mods(score_mod=fa_mlir.mods.softcap(30))
        print(fa_mlir.attention_source(AttentionSpec(
            score_mod=mods.score_mod, mask_mod=mods.mask_mod,
            captures=mods.capture_types)))
    """
    if score_mod is None and mask_mod is None:
        return _NO_MODS
    return _traces.trace_mods(score_mod, mask_mod)


def _check_captures(captures, device):
    for i, c in enumerate(captures):
        if c.device != device:
            raise ValueError(
                f"captured tensor {i} ({c.dtype}, shape {tuple(c.shape)}) is "
                f"on {c.device}: tensors read by score_mod/mask_mod must be "
                f"CUDA tensors on the device of q ({device})")


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
