"""The split-count rule of the Python launcher against the compiler's
(include/fa/Runtime/KVSplits.h, evaluated by fa-resolve-split-count in
test/Dialect/FA/Transforms/fa-resolve-split-count.mlir on the same cases)."""

import pytest

from fa_mlir._splits import RULE, choose_kv_splits, split_count


def test_rule_matches_compiler():
    cases = [((4, 100, 132, 128), 33), ((200, 100, 132, 128), 1),
             ((4, 1, 132, 128), 1), ((0, 100, 132, 128), 1),
             ((1, 10, 132, 128), 10), ((1, 100, 132, 8), 8),
             ((66, 100, 132, 128), 2), ((132, 100, 132, 128), 1),
             ((40, 100, 132, 128), 3), ((64, 171, 528, 128), 8)]
    for args, expected in cases:
        assert choose_kv_splits(*args) == expected, args


class _Partial:
    """A split-KV partial kernel as split_count reads it."""

    def __init__(self, splits=0, pack_gqa=None, slots=132):
        tile = {"block_m": 64, "block_n": 64}
        if pack_gqa:
            tile["pack_gqa"] = pack_gqa
        self.metadata = {"split_kv": {"splits": splits, "max_splits": 128},
                         "tile": tile}
        self._slots = slots

    def slots(self):
        return self._slots


def test_split_count():
    # 8 x 32 heads x 1 tile of 64 queries fill 132 slots: one part.
    assert split_count(_Partial(), 8, 32, 8, 1, 8192) == (1, 1, 32)
    # Packed 4:1: 8 x 8 tiles of one position each over 132 slots, 2 parts.
    assert split_count(_Partial(pack_gqa=4), 8, 32, 8, 1, 8192) == (2, 1, 8)
    # 1 x 8 tiles of 16 positions (64 rows / G 4) for 40 queries: 3 tiles.
    assert split_count(_Partial(pack_gqa=4), 1, 32, 8, 40, 8192) == (5, 3, 8)
    # A count fixed in the kernel, or given.
    assert split_count(_Partial(splits=7), 8, 32, 8, 1, 100) == (7, 1, 32)
    assert split_count(_Partial(), 8, 32, 8, 1, 100, kv_splits=3)[0] == 3
    with pytest.raises(ValueError, match="compiled for 7 splits"):
        split_count(_Partial(splits=7), 8, 32, 8, 1, 100, kv_splits=3)
    with pytest.raises(ValueError, match=r"kv_splits must be in \[1, 128\]"):
        split_count(_Partial(), 8, 32, 8, 1, 100, kv_splits=0)


def test_rule_name():
    # The name the launch metadata gives the rule (KVSplits.h kKVSplitRule).
    assert RULE == "fill-slots-v2"


def test_split_options_pack_gqa():
    """The decode launcher packs the query heads of a key/value group into
    one tile (pack_gqa) and takes the compiler's split-KV tile sizes."""
    torch = __import__("pytest").importorskip("torch")
    import fa_mlir.torch as fat

    def options(hq, hkv, nq):
        q = torch.empty((1, hq, nq, 64))
        k = torch.empty((1, hkv, 1024, 64))
        return fat._split_options(q, k)

    assert options(8, 8, 1) == {"strategy": "mma-sync", "split_kv": "auto"}
    assert options(32, 8, 1) == {"strategy": "mma-sync", "split_kv": "auto",
                                 "pack_gqa": True}
    assert "pack_gqa" not in options(128, 1, 1)    # G > 64: one head a tile
