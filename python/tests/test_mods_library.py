"""CPU tests of the library of modifications (fa_mlir.mods) without torch:
the traced regions, evaluated by region_eval, against formulas written out
here, and the library's argument checks."""

import itertools
import math

import numpy as np
import pytest

from fa_mlir import mods

from trace_fakes import (FakeTensor, mask_text, run_mask, run_score,
                         score_text, traced)


# ---------------------------------------------------------------------------
# The library (fa_mlir.mods) against formulas written out here

def test_mods_softcap_values():
    text = score_text(mods.softcap(50.0))
    for s in (-200.0, -3.0, 0.0, 49.0, 1e4):
        assert run_score(text, s, 0, 0, 0, 0) == pytest.approx(
            50 * math.tanh(s / 50), abs=1e-5)


def test_mods_alibi_values():
    slopes = np.float32([2 ** -1, 2 ** -4, 2 ** -8])
    t = FakeTensor(slopes)
    text = score_text(mods.alibi(t))
    for h, q, kv in itertools.product(range(3), (0, 9, 100), (0, 9, 100)):
        assert run_score(text, 1.0, 0, h, q, kv, [t]) == pytest.approx(
            1.0 + slopes[h] * (kv - q))


def test_mods_sliding_window_is_huggingface_mistral():
    w = 4
    text = mask_text(mods.sliding_window(w))
    for q, kv in itertools.product(range(12), range(12)):
        assert run_mask(text, 0, 0, q, kv) is (q - w < kv <= q)
    # exactly `window` keys per query, once past the start
    assert sum(run_mask(text, 0, 0, 10, kv) for kv in range(12)) == w


def test_mods_prefix_lm_values():
    text = mask_text(mods.prefix_lm(3))
    lengths = FakeTensor(np.int32([0, 5]))
    per_batch = traced(mask_mod=mods.prefix_lm(lengths)).mask_mod
    for q, kv in itertools.product(range(8), range(8)):
        assert run_mask(text, 0, 0, q, kv) is (kv < 3 or kv <= q)
        for b in range(2):
            want = bool(kv < lengths.data[b] or kv <= q)
            assert run_mask(per_batch, b, 0, q, kv, [lengths]) is want


def test_mods_document_mask_values():
    ids = np.int32([[0, 0, 1, 1, 1, 7], [3, 3, 3, 3, 2, 2]])
    t = FakeTensor(ids)
    text = mask_text(mods.document_mask(t))
    kv_ids = FakeTensor(np.int64([[0, 1, 7], [2, 2, 3]]))
    cross = traced(mask_mod=mods.document_mask(t, kv_ids)).mask_mod
    for b, q, kv in itertools.product(range(2), range(6), range(6)):
        assert run_mask(text, b, 0, q, kv, [t]) is bool(ids[b, q] ==
                                                        ids[b, kv])
        if kv < 3:
            assert run_mask(cross, b, 0, q, kv, [t, kv_ids]) is bool(
                ids[b, q] == kv_ids.data[b, kv])


@pytest.mark.parametrize("per_head", [False, True])
def test_mods_relative_position_bias_values(per_head):
    m = 3
    data = np.arange(2 * (2 * m + 1), dtype=np.float32).reshape(2, -1)
    t = FakeTensor(data if per_head else data[0])
    text = score_text(mods.relative_position_bias(t, m))
    for h, q, kv in itertools.product(range(2), range(9), range(9)):
        d = min(max(kv - q, -m), m) + m
        bias = data[h, d] if per_head else data[0, d]
        assert run_score(text, 0.5, 0, h, q, kv, [t]) == 0.5 + bias


def test_mods_sinks_and_combinators():
    sinks_or_window = mods.or_masks(mods.attention_sinks(2),
                                    mods.sliding_window(3))
    text = mask_text(sinks_or_window)
    both = mask_text(mods.and_masks(mods.causal, mods.prefix_lm(4),
                                    mods.attention_sinks(6)))
    for q, kv in itertools.product(range(10), range(10)):
        assert run_mask(text, 0, 0, q, kv) is (kv < 2 or q - 3 < kv <= q)
        assert run_mask(both, 0, 0, q, kv) is (
            kv <= q and (kv < 4 or kv <= q) and kv < 6)
    assert mods.and_masks()(0, 0, 0, 0) is True
    assert mods.or_masks()(0, 0, 0, 0) is False
    assert traced(mask_mod=mods.and_masks()).mask_mod is None


def test_mods_import_no_torch():
    # Only alibi_slopes imports torch, when called.
    source = open(mods.__file__).read()
    assert "\nimport torch" not in source and "\nfrom torch" not in source


@pytest.mark.parametrize("make, message", [
    (lambda: mods.softcap(0), "cap must be a positive finite number"),
    (lambda: mods.softcap(float("inf")), "positive finite"),
    (lambda: mods.softcap(10 ** 400), "positive finite"),
    (lambda: mods.softcap(30, approx="no"), "approx must be a bool"),
    # Caps whose f32 (or whose inverse's) would be inf, 0 or subnormal.
    (lambda: mods.softcap(1e308), "cap must be in \\[1.175494e-38, "
     "8.507059e\\+37\\] \\(a normal f32, and so its inverse\\)"),
    (lambda: mods.softcap(3.5e38), "a normal f32"),
    (lambda: mods.softcap(1e-320), "a normal f32"),
    (lambda: mods.softcap(1e-38), "a normal f32"),
    (lambda: mods.sliding_window(0), "window must be an int in \\[1, "),
    (lambda: mods.sliding_window(2.5), "window must be an int"),
    (lambda: mods.sliding_window(2 ** 70), "2\\*\\*63 - 1\\], got"),
    (lambda: mods.prefix_lm(-1), "prefix_length must be an int in \\[0, "),
    (lambda: mods.prefix_lm(2 ** 64), "prefix_length must be an int"),
    (lambda: mods.attention_sinks(2 ** 64), "num_sinks must be an int"),
    (lambda: mods.alibi(FakeTensor(np.zeros((2, 2), np.float32))),
     "slopes must have 1 dimensions"),
    (lambda: mods.document_mask(FakeTensor(np.zeros(3, np.int32))),
     "doc_ids must have 2 dimensions"),
    (lambda: mods.relative_position_bias(
        FakeTensor(np.zeros(5, np.float32)), 3), "2 \\* max_distance \\+ 1"),
    (lambda: mods.alibi([0.5]), "slopes must be a tensor"),
    (lambda: mods.and_masks(3), "and_masks takes mask_mod functions"),
])
def test_mods_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()
