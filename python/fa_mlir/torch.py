"""fa_mlir for PyTorch: an SDPA-compatible attention on CUDA tensors.

    from fa_mlir.torch import attention, FlashAttention
    out = attention(q, k, v, is_causal=True)               # (B, H, N, D)
    out, lse = attention(q, k, v, return_lse=True)

Same meaning as torch.nn.functional.scaled_dot_product_attention for the
arguments they share (is_causal is top-left aligned there and here;
causal_alignment="bottom_right" aligns the mask to the last key instead).
Kernels are compiled on first use for (dtype, head dim, mask, LSE, scale,
GPU) and cached in memory and on disk; they run on the current CUDA stream.
"""

import math
import os
import threading

import torch

from ._capi import FAError
from . import _driver
from .compiler import AttentionSpec, KernelCache, default_cache

_DTYPES = {torch.float16: "f16", torch.bfloat16: "bf16"}
_HEAD_DIMS = (64, 128, 192, 256)
_CHIPS = {(8, 0): "sm_80", (8, 6): "sm_86", (8, 7): "sm_87", (8, 9): "sm_89",
          (9, 0): "sm_90a"}
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


def _chip_of(device):
    cap = torch.cuda.get_device_capability(device)
    if cap not in _CHIPS:
        raise FAError(f"fa_mlir has kernels for sm_80, sm_86, sm_87, sm_89 "
                      f"and sm_90, not sm_{cap[0]}{cap[1]} "
                      f"({torch.cuda.get_device_name(device)}); use "
                      f"torch.nn.functional.scaled_dot_product_attention")
    return _CHIPS[cap]


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
        if t.requires_grad and torch.is_grad_enabled():
            raise ValueError(f"{name} requires grad: fa_mlir has no backward "
                             f"yet; call under torch.no_grad() or use SDPA "
                             f"for training")
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
    if d not in _HEAD_DIMS:
        raise ValueError(f"head dim {d} is not supported; fa_mlir kernels "
                         f"take D in {_HEAD_DIMS}")
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
    aligned rows), else a contiguous copy."""
    aligned = (t.stride(-1) == 1 and t.data_ptr() % 16 == 0 and
               all(s % 8 == 0 for s in t.stride()[:-1]))
    return t if aligned else t.contiguous()


def _memref(t):
    return [t.data_ptr(), t.data_ptr(), 0, *t.shape, *t.stride()]


def _grid(metadata, q):
    dims = []
    for g in metadata["grid"]:
        value = q.shape[g["dim"]]
        if "ceildiv" in g:
            value = -(-value // g["ceildiv"])
        dims.append(value)
    return dims


_tuner = None


def attention(q, k, v, *, is_causal=False, scale=None, enable_gqa=False,
              causal_alignment="top_left", return_lse=False, autotune=False,
              cache=None, _options=None):
    """softmax(q k^T * scale [+ causal mask]) v for (B, H, N, D) CUDA tensors
    of float16 or bfloat16; returns out (B, Hq, Nq, D) in q's dtype, and with
    return_lse=True also the log-sum-exp (B, Hq, Nq) in float32 (-inf for a
    row that sees no key; its output is 0)."""
    _check_inputs(q, k, v, enable_gqa, causal_alignment, scale)
    b, hq, nq, d = q.shape
    out = torch.empty((b, hq, nq, d), dtype=q.dtype, device=q.device)
    lse = (torch.empty((b, hq, nq), dtype=torch.float32, device=q.device)
           if return_lse else None)
    if nq == 0:
        return (out, lse) if return_lse else out
    spec = AttentionSpec(dtype=_DTYPES[q.dtype], head_dim=d,
                         causal=causal_alignment if is_causal else None,
                         lse=return_lse, scale=scale)
    with torch.cuda.device(q.device):
        chip = _chip(q.device)
        options = dict(_options or {})
        if autotune and _options is None:
            global _tuner
            if _tuner is None:
                from .autotune import Tuner
                _tuner = Tuner(cache or default_cache())
            options = _tuner.best(spec, q, k, v, chip)
        kernel = _load(spec, chip, q.device, cache, options)
        q, k, v = (_kernel_layout(t) for t in (q, k, v))
        args = _memref(q) + _memref(k) + _memref(v) + _memref(out)
        if lse is not None:
            args += _memref(lse)
        stream = torch.cuda.current_stream(q.device).cuda_stream
        kernel.launch(_grid(kernel.metadata, q), args, stream)
    return (out, lse) if return_lse else out


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
            kernel = _driver.LoadedKernel(compiled)
            kernel.metadata = compiled.metadata
            _loaded[key] = kernel
        return kernel


class FlashAttention(torch.nn.Module):
    """nn.Module form of `attention`: FlashAttention(is_causal=True)(q, k, v)."""

    def __init__(self, is_causal=False, scale=None, enable_gqa=False,
                 causal_alignment="top_left", autotune=False):
        super().__init__()
        self.is_causal, self.scale, self.enable_gqa = is_causal, scale, enable_gqa
        self.causal_alignment, self.autotune = causal_alignment, autotune

    def forward(self, q, k, v):
        return attention(q, k, v, is_causal=self.is_causal, scale=self.scale,
                         enable_gqa=self.enable_gqa,
                         causal_alignment=self.causal_alignment,
                         autotune=self.autotune)

    def extra_repr(self):
        return (f"is_causal={self.is_causal}, causal_alignment="
                f"{self.causal_alignment!r}, scale={self.scale}, "
                f"enable_gqa={self.enable_gqa}, autotune={self.autotune}")
