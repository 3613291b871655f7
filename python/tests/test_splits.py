"""The split-count rule of the Python launcher against the compiler's
(include/fa/Runtime/KVSplits.h, evaluated by fa-resolve-split-count in
test/Dialect/FA/Transforms/fa-resolve-split-count.mlir on the same cases)."""

from fa_mlir._splits import RULE, choose_kv_splits


def test_rule_matches_compiler():
    cases = [((4, 100, 132, 128), 33), ((200, 100, 132, 128), 1),
             ((4, 1, 132, 128), 1), ((0, 100, 132, 128), 1),
             ((1, 10, 132, 128), 10), ((1, 100, 132, 8), 8),
             ((66, 100, 132, 128), 2), ((132, 100, 132, 128), 1),
             ((40, 100, 132, 128), 3), ((64, 171, 528, 128), 8)]
    for args, expected in cases:
        assert choose_kv_splits(*args) == expected, args


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
