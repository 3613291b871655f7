"""The modification library in MLIR: score_mod / mask_mod regions of
fa.attention (docs/ProgrammableAttention.md) for the common variants of
attention, as region text for fa_mlir.AttentionSpec.

fa_mlir.mods builds the same modifications from Python functions (traced);
this module is their MLIR form, used to compile the GPU test and benchmark
kernels (make_kernels.py --mods) and to write examples/mods/. Each entry
also says how fa-runner fills its captures (--capture I:SHAPE:FILL, SHAPE
over B, Hq, Hkv, Nq, Nk and N = max(Nq, Nk)) and which pairs it keeps
(for counting TFLOP/s over visible pairs).
"""

import dataclasses

SCORE_ARGS = ("%score: f32, %b: index, %h: index, %q_idx: index, "
              "%kv_idx: index")
MASK_ARGS = "%b: index, %h: index, %q_idx: index, %kv_idx: index"


@dataclasses.dataclass(frozen=True)
class Mod:
    name: str
    doc: str
    score_mod: str = None
    mask_mod: str = None
    captures: tuple = ()          # capture tensor types
    runner_captures: tuple = ()   # fa-runner --capture specs, {N} etc.
    # Keys row q keeps among [0, hi) (hi: what causal leaves), or None for
    # all of them: counts the visible pairs of a benchmark.
    row_keys: object = None
    # False when the visible pairs depend on the captured data (a document
    # mask over random segments): benchmarks report times only.
    counted: bool = True

    def runner_flags(self, b, hq, hkv, nq, nk):
        n = max(nq, nk)
        flags = []
        for spec in self.runner_captures:
            flags += ["--capture", spec.format(B=b, Hq=hq, Hkv=hkv, Nq=nq,
                                               Nk=nk, N=n)]
        return flags


def _args(base, captures):
    return base + "".join(f", %cap{i}: {t}" for i, t in enumerate(captures))


def softcap(cap=30.0, approx=True):
    """cap * tanh(score / cap) (Gemma 2), the division as a multiplication
    by 1 / cap; `approx` allows the hardware tanh (tanh.approx.f32, about
    2^-11 relative error, as FlashAttention-3; fa_mlir.mods.softcap's
    default) instead of an accurate one."""
    fm = " fastmath<afn>" if approx else ""
    return Mod(
        name="softcap" if approx else "softcap_exact",
        doc=f"logit softcap: {cap} * tanh(score / {cap})",
        score_mod=f"""^bb0({SCORE_ARGS}):
  %cap = arith.constant {cap!r} : f32
  %inv = arith.constant {1.0 / cap!r} : f32
  %x = arith.mulf %score, %inv : f32
  %t = math.tanh %x{fm} : f32
  %r = arith.mulf %t, %cap : f32
  fa.yield %r : f32""")


def alibi():
    """score + slope[h] * (kv_idx - q_idx), slopes per query head; the
    product and the sum may contract into FMAs (as Python's tracing and
    Triton allow), so the score's scale, the bias and the sum are one FMA."""
    captures = ("tensor<?xf32>",)
    return Mod(
        name="alibi", doc="ALiBi: score + slopes[h] * (kv_idx - q_idx)",
        score_mod=f"""^bb0({_args(SCORE_ARGS, captures)}):
  %slope = tensor.extract %cap0[%h] : tensor<?xf32>
  %d = arith.subi %kv_idx, %q_idx : index
  %di = arith.index_cast %d : index to i64
  %df = arith.sitofp %di : i64 to f32
  %bias = arith.mulf %slope, %df fastmath<contract> : f32
  %r = arith.addf %score, %bias fastmath<contract> : f32
  fa.yield %r : f32""",
        captures=captures, runner_captures=("0:{Hq}:alibi",))


def _window_keep(window):
    return f"""  %w = arith.constant {window} : index
  %lo = arith.subi %q_idx, %w : index
  %after = arith.cmpi sgt, %kv_idx, %lo : index
  %past = arith.cmpi sle, %kv_idx, %q_idx : index
  %in = arith.andi %after, %past : i1"""


def sliding_window(window=256):
    """Mistral's sliding window: q_idx - window < kv_idx <= q_idx (causal
    within the window; top-left aligned)."""
    return Mod(
        name=f"window{window}",
        doc=f"sliding window: q_idx - {window} < kv_idx <= q_idx",
        mask_mod=f"""^bb0({MASK_ARGS}):
{_window_keep(window)}
  fa.yield %in : i1""",
        row_keys=lambda q, hi: max(0, min(hi, q + 1) - max(0, q - window + 1)))


def prefix_lm(prefix=100):
    """Bidirectional over a prefix, causal after: kv_idx < prefix or
    kv_idx <= q_idx."""
    return Mod(
        name=f"prefix{prefix}",
        doc=f"prefix-LM: kv_idx < {prefix} or kv_idx <= q_idx",
        mask_mod=f"""^bb0({MASK_ARGS}):
  %p = arith.constant {prefix} : index
  %in_prefix = arith.cmpi slt, %kv_idx, %p : index
  %past = arith.cmpi sle, %kv_idx, %q_idx : index
  %keep = arith.ori %in_prefix, %past : i1
  fa.yield %keep : i1""",
        row_keys=lambda q, hi: min(hi, max(prefix, q + 1)))


def document_mask(max_length=300):
    """Packed sequences: doc[b, q_idx] == doc[b, kv_idx] over i32 document
    ids [B, N] (fa-runner fills segments of up to `max_length` tokens)."""
    captures = ("tensor<?x?xi32>",)
    return Mod(
        name="document", doc="document mask: doc[b, q_idx] == doc[b, kv_idx]",
        mask_mod=f"""^bb0({_args(MASK_ARGS, captures)}):
  %dq = tensor.extract %cap0[%b, %q_idx] : tensor<?x?xi32>
  %dk = tensor.extract %cap0[%b, %kv_idx] : tensor<?x?xi32>
  %same = arith.cmpi eq, %dq, %dk : i32
  fa.yield %same : i1""",
        captures=captures,
        runner_captures=(f"0:{{B}},{{N}}:segments:{max_length}",),
        counted=False)


def relative_position_bias(max_distance=128):
    """score + table[clamp(kv_idx - q_idx, -M, M) + M] over a captured f32
    table [2M + 1]."""
    captures = ("tensor<?xf32>",)
    m = max_distance
    return Mod(
        name="relbias", doc=f"relative position bias, table of {2 * m + 1}",
        score_mod=f"""^bb0({_args(SCORE_ARGS, captures)}):
  %m = arith.constant {m} : index
  %neg = arith.constant {-m} : index
  %d = arith.subi %kv_idx, %q_idx : index
  %lo = arith.maxsi %d, %neg : index
  %c = arith.minsi %lo, %m : index
  %i = arith.addi %c, %m : index
  %bias = tensor.extract %cap0[%i] : tensor<?xf32>
  %r = arith.addf %score, %bias : f32
  fa.yield %r : f32""",
        captures=captures,
        runner_captures=(f"0:{2 * m + 1}:uniform:-1:1",))


def attention_sinks(sinks=4, window=256):
    """The first `sinks` keys stay visible (causally), beside a sliding
    window (StreamingLLM)."""
    return Mod(
        name=f"sinks{sinks}_window{window}",
        doc=f"sinks: kv_idx < {sinks} or q_idx - {window} < kv_idx <= q_idx",
        mask_mod=f"""^bb0({MASK_ARGS}):
{_window_keep(window)}
  %s = arith.constant {sinks} : index
  %sink = arith.cmpi slt, %kv_idx, %s : index
  %sink_past = arith.andi %sink, %past : i1
  %keep = arith.ori %in, %sink_past : i1
  fa.yield %keep : i1""",
        row_keys=lambda q, hi: (
            max(0, min(hi, q + 1) - max(0, q - window + 1)) +
            max(0, min(sinks, hi, q + 1, max(0, q - window + 1)))))


def library():
    """Every modification, with the parameters the tests use."""
    return [softcap(), softcap(approx=False), alibi(), sliding_window(),
            prefix_lm(), document_mask(), relative_position_bias(),
            attention_sinks()]


def by_name(name):
    """A modification by name; `window<W>` / `prefix<P>` take parameters."""
    for mod in library():
        if mod.name == name:
            return mod
    if name.startswith("window"):
        return sliding_window(int(name[len("window"):]))
    if name.startswith("prefix"):
        return prefix_lm(int(name[len("prefix"):]))
    raise KeyError(f"unknown modification {name!r}; known: "
                   + ", ".join(m.name for m in library()))
