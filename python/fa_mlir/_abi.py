"""The kernel arguments a launcher of an AttentionSpec passes, in order,
and the check of a compiled kernel's metadata against them."""

from ._capi import FAArgumentError, FAError
from ._source import capture_type


def _capture_arguments(spec):
    """[(capture<i>, rank, element type)] of spec's captures, in order:
    every kernel that evaluates the regions takes them last."""
    args = []
    for i, c in enumerate(spec.captures):
        element, rank = capture_type(c)
        args.append((f"capture{i}", rank, element))
    return args


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
    args += _capture_arguments(spec)
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
    args += _capture_arguments(spec)
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
        args += _capture_arguments(spec)
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
