"""fa_mlir.torch on a GPU: correctness against SDPA's math backend on the
shapes that break attention kernels (docs/Measurement.md), GQA, both causal
alignments, LSE, strided inputs, a transformer block, the cache, autotuning
and the error messages. Skipped without torch or CUDA."""

import json
import math
import os
import threading

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import torch.nn.functional as F  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

import fa_mlir  # noqa: E402
from fa_mlir.torch import FlashAttention, attention  # noqa: E402

DEV = "cuda"
SHAPES = [  # (B, Hq, Hkv, Nq, Nk)
    (1, 1, 1, 1, 1), (2, 4, 4, 17, 17), (1, 4, 4, 113, 203),
    (1, 2, 2, 203, 113), (1, 2, 2, 1023, 1024), (1, 2, 1, 239, 1),
    (1, 2, 2, 799, 3), (2, 8, 2, 128, 1000), (1, 8, 1, 1000, 128),
]


def reference(q, k, v, causal, scale):
    """fp64 softmax(q k^T scale + mask) v, its LSE, and which rows see no key
    (causal: None, 'top_left', 'bottom_right')."""
    q, k, v = q.double(), k.double(), v.double()
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    s = q @ k.transpose(-1, -2) * scale
    nq, nk = q.shape[2], k.shape[2]
    if causal:
        shift = 0 if causal == "top_left" else nk - nq
        i = torch.arange(nq, device=q.device)[:, None]
        j = torch.arange(nk, device=q.device)[None, :]
        s = s.masked_fill(j > i + shift, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    empty = torch.isinf(lse)
    p = torch.softmax(s.masked_fill(empty[..., None], 0.0), dim=-1)
    out = (p @ v).masked_fill(empty[..., None], 0.0)
    return out, lse, empty


def baseline(q, k, v, causal, scale):
    """SDPA's math backend in the input precision: the error any plain
    low-precision implementation has (the yardstick of docs/Measurement.md's rule)."""
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    mask = None
    if causal:
        nq, nk = q.shape[2], k.shape[2]
        shift = 0 if causal == "top_left" else nk - nq
        i = torch.arange(nq, device=q.device)[:, None]
        j = torch.arange(nk, device=q.device)[None, :]
        mask = j <= i + shift
    with sdpa_kernel(SDPBackend.MATH):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             scale=scale)
    return out.nan_to_num(0.0)


def assert_close(out, q, k, v, causal, scale, lse=None):
    ref, ref_lse, empty = reference(q, k, v, causal, scale)
    base = baseline(q, k, v, causal, scale)
    err = (out.double() - ref).abs().max().item()
    bound = 2 * (base.double() - ref).abs().max().item() + 1e-5
    assert not torch.isnan(out).any()
    assert err <= bound, f"max error {err} > bound {bound}"
    assert (out[empty] == 0).all(), "fully masked rows must be 0"
    if lse is not None:
        finite = ~empty
        tol = 1e-3 + 1e-4 * ref_lse[finite].abs()
        assert ((lse[finite].double() - ref_lse[finite]).abs() <= tol).all()
        assert torch.isneginf(lse[empty]).all()


def inputs(b, hq, hkv, nq, nk, d, dtype, seed=0):
    g = torch.Generator(device=DEV).manual_seed(seed)
    q = torch.randn(b, hq, nq, d, device=DEV, dtype=dtype, generator=g)
    k = torch.randn(b, hkv, nk, d, device=DEV, dtype=dtype, generator=g)
    v = torch.randn(b, hkv, nk, d, device=DEV, dtype=dtype, generator=g)
    return q, k, v


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("causal", [None, "top_left", "bottom_right"])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference(dtype, d, causal, shape):
    b, hq, hkv, nq, nk = shape
    q, k, v = inputs(b, hq, hkv, nq, nk, d, dtype)
    out, lse = attention(q, k, v, is_causal=causal is not None,
                         causal_alignment=causal or "top_left",
                         enable_gqa=hq != hkv, return_lse=True)
    assert out.shape == q.shape and out.dtype == dtype
    assert lse.shape == (b, hq, nq) and lse.dtype == torch.float32
    assert_close(out, q, k, v, causal, 1 / math.sqrt(d), lse)


@pytest.mark.parametrize("d", [192, 256])
def test_wide_heads(d):
    q, k, v = inputs(1, 2, 2, 300, 257, d, torch.bfloat16)
    out = attention(q, k, v, is_causal=True)
    assert_close(out, q, k, v, "top_left", 1 / math.sqrt(d))


def _is_sm90a():
    return torch.cuda.get_device_capability() == (9, 0)


# Each strategy on every GPU that has it (the default on sm_90a is
# hopper-ws, so mma-sync is asked for by name there); hopper-ws also at the
# wide heads.
@pytest.mark.parametrize("strategy, d", [
    ("hopper-ws", 64), ("hopper-ws", 128), ("hopper-ws", 192),
    ("hopper-ws", 256), ("mma-sync", 64), ("mma-sync", 128)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [None, "bottom_right"])
@pytest.mark.parametrize("shape", SHAPES[1:4] + SHAPES[7:])
def test_strategy_matches_reference(strategy, d, dtype, causal, shape):
    if strategy == "hopper-ws" and not _is_sm90a():
        pytest.skip("hopper-ws needs sm_90a")
    b, hq, hkv, nq, nk = shape
    q, k, v = inputs(b, hq, hkv, nq, nk, d, dtype)
    out, lse = attention(q, k, v, is_causal=causal is not None,
                         causal_alignment=causal or "top_left",
                         enable_gqa=hq != hkv, return_lse=True,
                         strategy=strategy)
    assert_close(out, q, k, v, causal, 1 / math.sqrt(d), lse)


@pytest.mark.skipif(not _is_sm90a(), reason="hopper-ws needs sm_90a")
def test_hopper_strategy_runs_a_score_mod_with_a_capture():
    q, k, v = inputs(1, 4, 2, 300, 517, 128, torch.bfloat16)
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0625], device=DEV)

    def alibi(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)

    out = attention(q, k, v, enable_gqa=True, score_mod=alibi,
                    strategy="hopper-ws")
    expected = attention(q, k, v, enable_gqa=True, score_mod=alibi,
                         strategy="mma-sync")
    torch.testing.assert_close(out, expected, atol=2e-2, rtol=0)


def test_matches_sdpa_semantics_is_causal_and_scale():
    q, k, v = inputs(2, 4, 4, 256, 256, 64, torch.float16)
    ours = attention(q, k, v, is_causal=True, scale=0.3)
    with sdpa_kernel(SDPBackend.MATH):
        theirs = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                scale=0.3)
    assert (ours.float() - theirs.float()).abs().max().item() < 2e-2


def test_gqa_matches_sdpa_enable_gqa():
    q, k, v = inputs(1, 8, 2, 200, 300, 128, torch.bfloat16)
    ours = attention(q, k, v, enable_gqa=True)
    with sdpa_kernel(SDPBackend.MATH):
        theirs = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    assert (ours.float() - theirs.float()).abs().max().item() < 3e-2


def test_strided_inputs():
    # (B, N, H, D) memory viewed as (B, H, N, D), an odd-strided slice that
    # needs a copy, and a non-unit innermost stride.
    b, n, h, d = 2, 150, 4, 64
    base = torch.randn(b, n, h, d, device=DEV, dtype=torch.float16)
    q = base.transpose(1, 2)
    wide = torch.randn(b, h, n, d + 3, device=DEV, dtype=torch.float16)
    k = wide[..., :d]                    # row stride d + 3: not 16-byte rows
    v = torch.randn(b, h, d, n, device=DEV,
                    dtype=torch.float16).transpose(-1, -2)  # innermost != 1
    out = attention(q, k, v, is_causal=True)
    assert_close(out, q, k, v, "top_left", 1 / math.sqrt(d))


def test_runs_on_the_current_stream():
    q, k, v = inputs(1, 4, 4, 512, 512, 128, torch.float16)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        out = attention(q, k, v)
    stream.synchronize()
    assert_close(out, q, k, v, None, 1 / math.sqrt(128))


def test_runs_on_a_thread_without_a_cuda_call():
    """A thread that has made no CUDA call has no current context (as the
    autograd engine's device threads): the launcher makes PyTorch's
    current; a fresh kernel (its own scale) is loaded there too."""
    q, k, v = inputs(1, 2, 2, 100, 130, 64, torch.bfloat16)
    result = {}

    def run():
        try:
            result["out"] = attention(q, k, v, scale=0.0625)
        except Exception as error:  # reported below
            result["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert "error" not in result, result.get("error")
    assert_close(result["out"], q, k, v, None, 0.0625)


class Block(torch.nn.Module):
    """A pre-norm transformer block whose attention is pluggable."""

    def __init__(self, dim, heads, attn):
        super().__init__()
        self.heads, self.attn = heads, attn
        self.norm1 = torch.nn.LayerNorm(dim)
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)
        self.norm2 = torch.nn.LayerNorm(dim)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, 4 * dim),
                                       torch.nn.GELU(),
                                       torch.nn.Linear(4 * dim, dim))

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # strided views, no copy
        y = self.attn(q, k, v).transpose(1, 2).reshape(b, n, c)
        x = x + self.proj(y)
        return x + self.mlp(self.norm2(x))


def test_transformer_block_matches_sdpa():
    torch.manual_seed(0)
    sdpa = lambda q, k, v: F.scaled_dot_product_attention(q, k, v,
                                                          is_causal=True)
    block = Block(512, 8, sdpa).to(DEV, torch.bfloat16)
    x = torch.randn(2, 333, 512, device=DEV, dtype=torch.bfloat16)
    with torch.no_grad():
        expected = block(x)
        block.attn = FlashAttention(is_causal=True)
        got = block(x)
    rel = ((got.float() - expected.float()).norm() /
           expected.float().norm()).item()
    assert rel < 1e-2, rel


def test_second_call_compiles_nothing(tmp_path):
    cache = fa_mlir.KernelCache(str(tmp_path))
    q, k, v = inputs(1, 2, 2, 64, 64, 64, torch.float16)
    attention(q, k, v, cache=cache)
    attention(q, k, v, cache=cache)
    q2, k2, v2 = inputs(3, 4, 4, 999, 100, 64, torch.float16)  # other sizes
    attention(q2, k2, v2, cache=cache)
    assert cache.compilations == 1
    assert fa_mlir.KernelCache(str(tmp_path)).get(
        fa_mlir.AttentionSpec(dtype="f16", head_dim=64), chip="sm_90a"
    ) is not None


def test_autotune_persists_a_choice(tmp_path):
    cache = fa_mlir.KernelCache(str(tmp_path))
    q, k, v = inputs(1, 4, 4, 1024, 1024, 64, torch.bfloat16)
    out = attention(q, k, v, autotune=True, cache=cache)
    assert_close(out, q, k, v, None, 1 / 8)
    files = [f for f in os.listdir(tmp_path) if f.startswith("autotune-")]
    assert files, "the tuned choice is written to the cache directory"
    with open(os.path.join(tmp_path, files[0])) as f:
        choices = json.load(f)
    # Each choice names its strategy; on sm_90a both were candidates.
    assert all(c["strategy"] in ("mma-sync", "hopper-ws")
               for c in choices.values())


def test_default_strategy_follows_the_chip():
    from fa_mlir.torch import default_strategy
    assert default_strategy("sm_90a") == "hopper-ws"
    assert default_strategy("sm_80") == "mma-sync"
    assert default_strategy("sm_89") == "mma-sync"


@pytest.mark.parametrize("strategy", ["mma-sync", "hopper-ws"])
def test_autotune_within_one_strategy(tmp_path, strategy):
    if strategy == "hopper-ws" and not _is_sm90a():
        pytest.skip("hopper-ws needs sm_90a")
    cache = fa_mlir.KernelCache(str(tmp_path))
    q, k, v = inputs(1, 2, 2, 300, 700, 128, torch.float16)
    out = attention(q, k, v, is_causal=True, autotune=True, cache=cache,
                    strategy=strategy)
    assert_close(out, q, k, v, "top_left", 1 / math.sqrt(128))
    (name,) = [f for f in os.listdir(tmp_path) if f.startswith("autotune-")]
    with open(os.path.join(tmp_path, name)) as f:
        assert {c["strategy"] for c in json.load(f).values()} == {strategy}


@pytest.mark.parametrize("make, error, message", [
    (lambda q: (q.cpu(), q.cpu(), q.cpu()), ValueError, "CUDA tensors only"),
    (lambda q: (q.float(), q.float(), q.float()), ValueError,
     "supports torch.float16 and torch.bfloat16"),
    (lambda q: (q[0], q[0], q[0]), ValueError, "must have shape"),
    (lambda q: (q, q.to(torch.bfloat16), q), ValueError, "share a dtype"),
    (lambda q: (q[..., :48], q[..., :48], q[..., :48]), ValueError,
     "head dim 48 is not supported"),
    (lambda q: (q, q[:, :2], q[:, :2]), ValueError, "enable_gqa=True"),
    (lambda q: (q, q[:1], q[:1]), ValueError, "batch of q"),
    (lambda q: (q, q[:, :, :0], q[:, :, :0]), ValueError, "no keys"),
    (lambda q: ([1], q, q), TypeError, "must be a torch.Tensor"),
])
def test_bad_inputs_raise(make, error, message):
    q = torch.randn(2, 4, 16, 64, device=DEV, dtype=torch.float16)
    with pytest.raises(error, match=message):
        attention(*make(q))


def test_bad_options_raise():
    q = torch.randn(1, 1, 16, 64, device=DEV, dtype=torch.float16)
    with pytest.raises(ValueError, match="causal_alignment"):
        attention(q, q, q, is_causal=True, causal_alignment="left")
    with pytest.raises(ValueError, match="scale must be positive"):
        attention(q, q, q, scale=-1.0)
    with pytest.raises(ValueError, match="strategy must be one of"):
        attention(q, q, q, strategy="wmma")
    if not _is_sm90a():
        with pytest.raises(ValueError, match="needs an sm_90a GPU"):
            attention(q, q, q, strategy="hopper-ws")
    wide = torch.randn(1, 1, 16, 256, device=DEV, dtype=torch.float16,
                       requires_grad=True)
    with pytest.raises(ValueError, match="D <= 128"):
        attention(wide, wide, wide)
    with pytest.raises(ValueError, match="default kernel cache"):
        attention(q.requires_grad_(), q, q, cache=fa_mlir.KernelCache())


def test_kernels_differing_only_in_scale_are_not_confused():
    # Kernel names do not encode the scale: a launcher keyed by name would
    # run the first scale's kernel for the second.
    q, k, v = inputs(1, 2, 2, 64, 64, 64, torch.float16)
    for scale in (0.5, 0.05, 0.5):
        out = attention(q, k, v, scale=scale)
        assert_close(out, q, k, v, None, scale)
