"""Checks of fa_mlir.torch's arguments and how its kernels see tensors:
the chip of a device, the (B, H, N, D) inputs' checks, the layouts and
memref descriptors the kernels read, their tensor maps and grids."""

import math
from typing import Dict, Tuple

import torch

from ._capi import FAError, target_info
from . import _driver
from ._source import scale_range_error


_DTYPES = {torch.float16: "f16", torch.bfloat16: "bf16"}


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
    (b, hq, _, d), (bk, hk, nk, dk) = q.shape, k.shape
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
    if scale is not None:
        why = scale_range_error(scale)
        if why:
            raise ValueError(f"scale must be {why}, got {scale!r}")


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
