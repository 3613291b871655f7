"""The PyTorch operators behind fa_mlir.torch.attention, and its autograd.

torch.compile (fullgraph), torch.export and CUDA graphs see one opaque
custom op, torch.ops.fa_mlir.attention, with a fake (shape-only)
implementation instead of the compile-and-launch Python; its gradient is
another custom op, torch.ops.fa_mlir.attention_backward, so that
AOTAutograd traces both without graph breaks. The score_mod/mask_mod
regions travel as text (JSON [score_mod, mask_mod, capture types], or None).

An eager call (plain tensors, nothing tracing it) runs the same two bodies
through a torch.autograd.Function instead: the custom op's dispatch
(argument flattening, schema defaults, the alias checks, the autograd
wrapper) left the GPU idle between the forward and backward kernels at
N = 4096: without it a step issues 0.28-0.45 ms sooner on the H200 host
(benchmarks/results/2026-12-04-h200-training-host.md).
"""

import json
from typing import List, Optional, Tuple

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

from . import torch as _fa
from . import _torch_trace as _trace
from . import tracing


def _mods(regions, captures):
    if regions is None:
        return _trace._NO_MODS
    score_mod, mask_mod, capture_types = json.loads(regions)
    return tracing.TracedMods(score_mod, mask_mod, tuple(capture_types),
                              tuple(captures))


def _attention_impl(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    captures: List[torch.Tensor], causal: Optional[str],
                    scale: Optional[float], return_lse: bool,
                    regions: Optional[str], autotune: bool,
                    strategy: Optional[str]) -> Tuple[torch.Tensor,
                                                      torch.Tensor]:
    mods = _mods(regions, captures)
    options = _fa._strategy_options(strategy, q.device, None)
    out, lse = _fa._run(_fa._spec(q, causal, scale, return_lse, mods), q, k,
                        v, tuple(captures), autotune=autotune,
                        options=options)
    if lse is None:
        lse = q.new_empty((0,), dtype=torch.float32)
    return out, lse


def _attention_fake(q, k, v, captures, causal, scale, return_lse, regions,
                    autotune, strategy):
    b, hq, nq, _ = q.shape
    out = q.new_empty((b, hq, nq, v.shape[3]))
    lse = q.new_empty((b, hq, nq) if return_lse else (0,),
                      dtype=torch.float32)
    return out, lse


# The LSE the forward returns is not differentiable (as FlashAttention's):
# its backward reads it, and a loss of it gets no gradient through this op.
def _attention_backward_impl(q: torch.Tensor, k: torch.Tensor,
                             v: torch.Tensor, out: torch.Tensor,
                             grad_out: torch.Tensor, lse: torch.Tensor,
                             captures: List[torch.Tensor],
                             causal: Optional[str], scale: Optional[float],
                             regions: Optional[str]
                             ) -> Tuple[torch.Tensor, torch.Tensor,
                                        torch.Tensor]:
    mods = _mods(regions, captures)
    return _fa._run_backward(_fa._spec(q, causal, scale, False, mods), q, k,
                             v, out, grad_out, lse, tuple(captures))


def _attention_backward_fake(q, k, v, out, grad_out, lse, captures, causal,
                             scale, regions):
    # Contiguous, as _run_backward allocates them (not q's strides).
    return tuple(q.new_empty(t.shape) for t in (q, k, v))


def _setup_context(ctx, inputs, output):
    q, k, v, captures, causal, scale, _, regions, _, _ = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, *captures)
    ctx.attention = (causal, scale, regions)
    ctx.mark_non_differentiable(lse)
    # The LSE gets no gradient: no zeros of its shape for autograd to fill
    # each step (a kernel launch and its host time).
    ctx.set_materialize_grads(False)


def _input_gradients(ctx, grad_out, backward):
    """dQ, dK, dV by `backward` (the op or its body); None where no
    gradient reached out."""
    if grad_out is None:
        return None, None, None
    q, k, v, out, lse, *captures = ctx.saved_tensors
    causal, scale, regions = ctx.attention
    return backward(q, k, v, out, grad_out, lse, list(captures), causal,
                    scale, regions)


def _backward(ctx, grad_out, grad_lse):
    dq, dk, dv = _input_gradients(ctx, grad_out, _attention_backward_op)
    # One gradient per input, in the inputs' structure: None for each
    # capture (no gradient flows to them) and for the non-tensor arguments.
    captures = len(ctx.saved_tensors) - 5
    return (dq, dk, dv, [None] * captures, None, None, None, None, None,
            None)


_attention_op = _attention_impl
_attention_backward_op = _attention_backward_impl
if hasattr(torch.library, "custom_op"):  # PyTorch 2.4 and newer
    _attention_op = torch.library.custom_op(
        "fa_mlir::attention", mutates_args=())(_attention_impl)
    _attention_op.register_fake(_attention_fake)
    _attention_backward_op = torch.library.custom_op(
        "fa_mlir::attention_backward",
        mutates_args=())(_attention_backward_impl)
    _attention_backward_op.register_fake(_attention_backward_fake)
    _attention_op.register_autograd(_backward, setup_context=_setup_context)


class _EagerAttention(torch.autograd.Function):
    """The op's forward and backward bodies without its dispatch."""

    @staticmethod
    def forward(*inputs):
        return _attention_impl(*inputs)

    setup_context = staticmethod(_setup_context)

    @staticmethod
    def backward(ctx, grad_out, grad_lse):
        dq, dk, dv = _input_gradients(ctx, grad_out,
                                      _attention_backward_impl)
        return (dq, dk, dv) + (None,) * 7


# torch.compiler.is_compiling: PyTorch 2.3 and newer.
_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling",
                        lambda: False)


def _eager(tensors) -> bool:
    """Whether nothing but eager PyTorch sees this call: plain tensors, no
    torch.compile/export tracing, functorch transform or dispatch mode
    (those get the custom op)."""
    return (not _is_compiling() and
            not torch._C._are_functorch_transforms_active() and
            _get_current_dispatch_mode() is None and
            all(type(t) is torch.Tensor for t in tensors))


def attention(q, k, v, captures, causal, scale, return_lse, regions,
              autotune, strategy, needs_grad):
    """(out, lse) of fa_mlir.torch.attention's checked arguments: the
    custom op, or its bodies directly where the call is eager."""
    args = (q, k, v, captures, causal, scale, return_lse, regions, autotune,
            strategy)
    if not _eager((q, k, v, *captures)):
        return _attention_op(*args)
    if needs_grad:
        return _EagerAttention.apply(*args)
    return _attention_impl(*args)
