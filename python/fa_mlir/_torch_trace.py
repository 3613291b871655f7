"""Tracing score_mod / mask_mod with torch: torch functions and Tensor
methods on traced values go to fa_mlir.tracing (a TorchFunctionMode), and
captured tensors become kernel arguments."""

from typing import Any, Callable, Optional

import torch

from . import tracing
from .trace_cache import TraceCache


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

