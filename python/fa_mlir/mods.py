"""Common attention modifications as FlexAttention-style functions.

Each factory returns a `score_mod(score, b, h, q_idx, kv_idx)` or a
`mask_mod(b, h, q_idx, kv_idx)` for fa_mlir.torch.attention:

    from fa_mlir import mods
    from fa_mlir.torch import attention
    out = attention(q, k, v, score_mod=mods.softcap(50.0), is_causal=True)
    out = attention(q, k, v, is_causal=True,
                    mask_mod=mods.or_masks(mods.attention_sinks(4),
                                           mods.sliding_window(4096)))

Notation: `b` batch, `h` query head (with GQA too), `q_idx` / `kv_idx`
query and key positions in the whole sequences, `score` the scaled score
q.k * scale in float32. A mask_mod returns True to keep a (query, key) pair.
Tensors given to a factory (slopes, doc_ids, tables) are read on the GPU
when the kernel runs: they must be CUDA tensors on the device of q (any
strides), and may be updated in place between calls.

The functions use only Python operators and tensor methods, so they also
work on torch tensors (e.g. with torch.nn.attention.flex_attention). This
module imports torch only in alibi_slopes().
"""

import math
import numbers
from ._trace_values import _F32_MAX, _F32_MIN_NORMAL, _INT64
from .tracing import tanh_approx

__all__ = ["softcap", "alibi", "alibi_slopes", "sliding_window", "causal",
           "prefix_lm", "document_mask", "relative_position_bias",
           "attention_sinks", "and_masks", "or_masks"]




def _positive_number(name, value, inverted=False):
    """`value` as a float in f32's normal range (and its inverse too when
    the region uses it, as softcap's 1 / cap)."""
    try:
        number = (float(value) if isinstance(value, numbers.Real) and
                  not isinstance(value, bool) else math.nan)
    except OverflowError:  # an int past the float range
        number = math.inf
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be a positive finite number, got "
                         f"{value!r}")
    lo, hi = _F32_MIN_NORMAL, _F32_MAX
    if inverted:
        lo, hi = max(lo, 1 / hi), min(hi, 1 / lo)
    if not lo <= number <= hi:
        raise ValueError(f"{name} must be in [{lo:.6e}, {hi:.6e}] (a normal "
                         f"f32{', and so its inverse' if inverted else ''}), "
                         f"got {value!r}")
    return number


def _nonnegative_int(name, value, minimum=0):
    if not (isinstance(value, numbers.Integral) and not isinstance(
            value, bool) and minimum <= value <= _INT64[1]):
        raise ValueError(f"{name} must be an int in [{minimum}, 2**63 - 1], "
                         f"got {value!r}")
    return int(value)


def _rank(name, tensor, ranks):
    ndim = getattr(tensor, "ndim", None)
    if ndim is None:
        raise TypeError(f"{name} must be a tensor, got "
                        f"{type(tensor).__name__}")
    if ndim not in ranks:
        raise ValueError(f"{name} must have {' or '.join(map(str, ranks))} "
                         f"dimensions, got shape {tuple(tensor.shape)}")
    return ndim


# ---------------------------------------------------------------------------
# score_mods


def softcap(cap, approx=True):
    """score_mod: logit soft-capping (Gemma 2, Grok-1),

        score' = cap * tanh(score / cap)

    which keeps every score in (-cap, cap) (Gemma 2 uses cap = 50 in
    attention). The division is a multiplication by 1 / cap. With
    `approx=True` (the default, as in FlashAttention-3) tanh is the
    hardware approximation (tracing.tanh_approx: about 2^-11 relative
    error, within the error of bf16/f16 attention); `approx=False` uses an
    accurate tanh (a rational approximation, under 5 ulp), about 1.5x
    slower on the GPU."""
    cap = _positive_number("cap", cap, inverted=True)
    if type(approx).__name__ == "bool_":  # numpy.bool_
        approx = bool(approx)
    if not isinstance(approx, bool):
        raise TypeError(f"approx must be a bool, got {approx!r}")
    inverse = 1.0 / cap

    if approx:
        def softcap_mod(score, b, h, q_idx, kv_idx):
            return cap * tanh_approx(score * inverse)
    else:
        def softcap_mod(score, b, h, q_idx, kv_idx):
            return cap * (score * inverse).tanh()

    softcap_mod.__qualname__ = f"softcap({cap!r}, approx={approx!r})"
    return softcap_mod


def alibi(slopes):
    """score_mod: ALiBi (Press et al., "Train Short, Test Long"),

        score' = score + slopes[h] * (kv_idx - q_idx)

    a linear penalty on the distance to the key (for causal attention, where
    kv_idx <= q_idx, the bias is <= 0). `slopes`: a (Hq,) float tensor on
    the GPU, e.g. alibi_slopes(Hq); `h` is the query head."""
    _rank("slopes", slopes, (1,))

    def alibi_mod(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)

    return alibi_mod


def _alibi_powers(n):
    start = 2.0 ** (-8.0 / n)
    return [start ** (i + 1) for i in range(n)]


def alibi_slopes(num_heads, device="cuda", dtype=None):
    """The standard ALiBi slopes as a (num_heads,) float32 tensor: for n a
    power of two, slope_i = 2 ** (-8 (i + 1) / n), i = 0 .. n-1 (1/2, 1/4,
    ..., 1/256 for n = 8); otherwise the slopes of the power of two p below
    n, followed by every other slope of 2p (as in the paper's reference
    code and most models)."""
    import torch
    n = _nonnegative_int("num_heads", num_heads, 1)
    p = 2 ** int(math.floor(math.log2(n)))
    slopes = _alibi_powers(p)
    if p < n:
        slopes += _alibi_powers(2 * p)[0::2][:n - p]
    return torch.tensor(slopes, dtype=dtype or torch.float32, device=device)


def relative_position_bias(table, max_distance):
    """score_mod: a learned bias per clipped relative position,

        d      = clamp(kv_idx - q_idx, -max_distance, max_distance)
        score' = score + table[d + max_distance]          (table: (2M+1,))
        score' = score + table[h, d + max_distance]       (table: (H, 2M+1))

    with M = max_distance: distances beyond M share the bias of M (a
    T5/Swin-like bias without buckets). `table` is a float tensor on the
    GPU, one row per query head when it is 2-D."""
    m = _nonnegative_int("max_distance", max_distance)
    rank = _rank("table", table, (1, 2))
    if table.shape[-1] != 2 * m + 1:
        raise ValueError(f"table must have 2 * max_distance + 1 = {2 * m + 1} "
                         f"entries in its last dimension, got shape "
                         f"{tuple(table.shape)}")

    if rank == 1:
        def relative_position_bias_mod(score, b, h, q_idx, kv_idx):
            return score + table[(kv_idx - q_idx).clamp(-m, m) + m]
    else:
        def relative_position_bias_mod(score, b, h, q_idx, kv_idx):
            return score + table[h, (kv_idx - q_idx).clamp(-m, m) + m]

    return relative_position_bias_mod


# ---------------------------------------------------------------------------
# mask_mods


def causal(b, h, q_idx, kv_idx):
    """mask_mod: top-left causal mask, kv_idx <= q_idx (as FlexAttention's
    causal_mask). `is_causal=True` gives the same and also the bottom-right
    alignment; use this to combine causality with and_masks/or_masks."""
    return q_idx >= kv_idx


def sliding_window(window):
    """mask_mod: causal sliding-window attention,

        q_idx - window < kv_idx <= q_idx

    each query sees exactly `window` keys: itself and the window - 1 before
    it. This is Mistral's `sliding_window` as Hugging Face transformers
    applies it (its mask hides kv_idx <= q_idx - window). Conventions that
    also keep key q_idx - window (FlexAttention's example `q_idx - kv_idx
    <= window`, mistral-src's reference) are sliding_window(window + 1).
    Positions count from the start of both sequences (top-left aligned,
    like is_causal's default): with Nq != Nk, query i is at position i."""
    w = _nonnegative_int("window", window, 1)

    def sliding_window_mask(b, h, q_idx, kv_idx):
        return (q_idx - w < kv_idx) & (kv_idx <= q_idx)

    sliding_window_mask.__qualname__ = f"sliding_window({w})"
    return sliding_window_mask


def prefix_lm(prefix_length):
    """mask_mod: prefix-LM (T5, PaLI, ...): bidirectional over the prefix,
    causal after it,

        kv_idx < prefix_length  or  kv_idx <= q_idx

    `prefix_length`: an int, or a (B,) integer tensor on the GPU with one
    prefix length per batch element (then prefix_length[b])."""
    if isinstance(prefix_length, numbers.Integral) and not isinstance(
            prefix_length, bool):
        n = _nonnegative_int("prefix_length", prefix_length)

        def prefix_lm_mask(b, h, q_idx, kv_idx):
            return (kv_idx < n) | (kv_idx <= q_idx)

        prefix_lm_mask.__qualname__ = f"prefix_lm({n})"
        return prefix_lm_mask
    _rank("prefix_length", prefix_length, (1,))

    def prefix_lm_batch_mask(b, h, q_idx, kv_idx):
        return (kv_idx < prefix_length[b]) | (kv_idx <= q_idx)

    return prefix_lm_batch_mask


def document_mask(doc_ids, kv_doc_ids=None):
    """mask_mod: packed sequences (several documents in one row), attention
    within each document only,

        doc_ids[b, q_idx] == doc_ids[b, kv_idx]
        doc_ids[b, q_idx] == kv_doc_ids[b, kv_idx]     (kv_doc_ids given)

    `doc_ids`: a (B, N) integer tensor on the GPU with the document of each
    token (any ids; they need not be sorted). Give `kv_doc_ids` (B, Nk)
    when queries and keys are different sequences. Combine with
    is_causal=True for causal attention within documents."""
    _rank("doc_ids", doc_ids, (2,))
    if kv_doc_ids is None:
        def document_mask_mod(b, h, q_idx, kv_idx):
            return doc_ids[b, q_idx] == doc_ids[b, kv_idx]
        return document_mask_mod
    _rank("kv_doc_ids", kv_doc_ids, (2,))

    def cross_document_mask(b, h, q_idx, kv_idx):
        return doc_ids[b, q_idx] == kv_doc_ids[b, kv_idx]

    return cross_document_mask


def attention_sinks(num_sinks):
    """mask_mod: the first `num_sinks` keys (StreamingLLM's attention sinks),

        kv_idx < num_sinks

    meant to be combined: or_masks(attention_sinks(4), sliding_window(w))
    keeps the sinks visible beyond the window. It ignores causality; with
    is_causal=True (both masks must allow a pair) a query still never sees
    a later key."""
    n = _nonnegative_int("num_sinks", num_sinks)

    def attention_sinks_mask(b, h, q_idx, kv_idx):
        return kv_idx < n

    attention_sinks_mask.__qualname__ = f"attention_sinks({n})"
    return attention_sinks_mask


def _check_masks(name, masks):
    for m in masks:
        if not callable(m):
            raise TypeError(f"{name} takes mask_mod functions, got "
                            f"{type(m).__name__}")


def and_masks(*masks):
    """mask_mod keeping a pair when every mask keeps it (FlexAttention's
    and_masks; True for no masks)."""
    _check_masks("and_masks", masks)

    def and_mask(b, h, q_idx, kv_idx):
        result = True
        for m in masks:
            keep = m(b, h, q_idx, kv_idx)
            result = keep if result is True else result & keep
        return result

    return and_mask


def or_masks(*masks):
    """mask_mod keeping a pair when any mask keeps it (FlexAttention's
    or_masks; False for no masks)."""
    _check_masks("or_masks", masks)

    def or_mask(b, h, q_idx, kv_idx):
        result = False
        for m in masks:
            keep = m(b, h, q_idx, kv_idx)
            result = keep if result is False else result | keep
        return result

    return or_mask
