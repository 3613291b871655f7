"""Split-KV (flash-decoding) kernels on a GPU: fa_mlir.torch.attention takes
them for one or a few query rows against many keys; checked against the
fp64 reference with the rule of docs/Measurement.md (test_torch_gpu.py's
assert_close) on ragged lengths, GQA 1/4/8, both alignments, LSE, empty
splits and score_mod/mask_mod with captures. Skipped without torch or
CUDA."""

import math

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import fa_mlir.torch as fat  # noqa: E402
from fa_mlir import mods  # noqa: E402
from test_torch_gpu import assert_close, inputs  # noqa: E402

SHAPES = [  # (B, Hq, Hkv, Nq, Nk)
    (1, 8, 8, 1, 1024), (2, 8, 2, 1, 4097), (4, 32, 8, 1, 8192),
    (1, 8, 1, 3, 2000), (2, 4, 4, 16, 1500), (1, 16, 2, 17, 3000),
    (1, 4, 1, 64, 5000),
]


def _uses_split(q, k):
    return fat._splits_keys(q, k)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("causal", [None, "top_left", "bottom_right"])
@pytest.mark.parametrize("shape", SHAPES)
def test_split_matches_reference(dtype, d, causal, shape):
    b, hq, hkv, nq, nk = shape
    q, k, v = inputs(b, hq, hkv, nq, nk, d, dtype)
    assert _uses_split(q, k), "the shape should take the split kernels"
    out, lse = fat.attention(q, k, v, is_causal=causal is not None,
                             causal_alignment=causal or "top_left",
                             enable_gqa=hq != hkv, return_lse=True)
    assert_close(out, q, k, v, causal, 1 / math.sqrt(d), lse)


@pytest.mark.parametrize("splits", [1, 2, 7, 20, 128])
def test_split_counts(splits):
    """Any count the launcher picks gives the same result, including more
    splits than key blocks (empty parts: 0 and -inf, merged away)."""
    q, k, v = inputs(2, 8, 2, 5, 1100, 128, torch.bfloat16)
    b, hq, nq, d = q.shape
    out = torch.empty_like(q)
    lse = torch.empty((b, hq, nq), dtype=torch.float32, device=q.device)
    spec = fat._spec(q, "bottom_right", None, True, fat._NO_MODS)
    with torch.cuda.device(q.device):
        fat._run_split(spec, q, k, v, out, lse, (), fat._chip(q.device),
                       None, kv_splits=splits)
    assert_close(out, q, k, v, "bottom_right", 1 / math.sqrt(d), lse)


@pytest.mark.parametrize("stages", [2, 3])
def test_split_private_options(stages):
    """attention's private options with split_kv reach the split kernels
    (what the decode sweeps tune)."""
    q, k, v = inputs(2, 8, 2, 1, 4097, 128, torch.bfloat16)
    out, lse = fat.attention(q, k, v, enable_gqa=True, return_lse=True,
                             _options={"split_kv": "auto", "stages": stages})
    assert_close(out, q, k, v, None, 1 / math.sqrt(128), lse)
    assert any(key[0] == "split" and ("stages", stages) in key[3]
               for key in fat._loaded), "the split kernels were not used"


def test_split_one_part_runs_one_kernel(monkeypatch):
    """When the rule gives one part a tile (MHA decoding of a batch whose
    tiles fill the device), the split tile runs as one kernel that writes
    O itself, without the combine; and gives the same result."""
    count = torch.cuda.get_device_properties(0).multi_processor_count
    b, hq, nq, nk, d = 4, count, 1, 2048, 128
    q, k, v = inputs(b, hq, hq, nq, nk, d, torch.bfloat16)
    assert _uses_split(q, k)
    calls = []
    launch_one = fat._launch_one

    def spy(*args):
        calls.append(args[-1])
        return launch_one(*args)

    monkeypatch.setattr(fat, "_launch_one", spy)
    out, lse = fat.attention(q, k, v, return_lse=True)
    assert_close(out, q, k, v, None, 1 / math.sqrt(d), lse)
    assert calls and "split_kv" not in calls[0], calls
    assert calls[0]["block_m"] < 64, calls  # the split tile's rows


def test_split_rejects_bad_count():
    q, k, v = inputs(1, 2, 2, 1, 2048, 64, torch.float16)
    out = torch.empty_like(q)
    spec = fat._spec(q, None, None, False, fat._NO_MODS)
    with pytest.raises(ValueError, match="kv_splits must be in"):
        fat._run_split(spec, q, k, v, out, None, (), fat._chip(q.device),
                       None, kv_splits=0)


def test_split_with_mods():
    """score_mod (softcap and ALiBi with its captured per-head slopes) and a
    mask_mod are cloned into the partial kernel like into any other."""
    b, hq, hkv, nq, nk, d = 2, 8, 2, 2, 3000, 128
    q, k, v = inputs(b, hq, hkv, nq, nk, d, torch.bfloat16)
    slopes = mods.alibi_slopes(hq)
    cap, alibi = mods.softcap(30.0, approx=False), mods.alibi(slopes)

    def score_mod(score, b_, h, q_idx, kv_idx):
        return alibi(cap(score, b_, h, q_idx, kv_idx), b_, h, q_idx, kv_idx)

    def mask_mod(b_, h, q_idx, kv_idx):
        return kv_idx >= 1000  # the first 1000 keys hidden

    assert _uses_split(q, k)
    out = fat.attention(q, k, v, enable_gqa=True, score_mod=score_mod,
                        mask_mod=mask_mod)
    qd, kd, vd = (t.double() for t in (q, k, v))
    kd = kd.repeat_interleave(hq // hkv, dim=1)
    vd = vd.repeat_interleave(hq // hkv, dim=1)
    s = qd @ kd.transpose(-1, -2) / math.sqrt(d)
    i = torch.arange(nq, device=q.device)[:, None]
    j = torch.arange(nk, device=q.device)[None, :]
    s = 30.0 * torch.tanh(s / 30.0) + \
        slopes.double()[:, None, None] * (j - i)
    s = s.masked_fill(j < 1000, float("-inf"))
    ref = torch.softmax(s, dim=-1) @ vd
    err = (out.double() - ref).abs().max().item()
    assert err < 2e-2, err
