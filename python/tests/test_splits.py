"""The split-count rule of the Python launcher against the compiler's
(include/fa/Runtime/KVSplits.h, evaluated by fa-resolve-split-count in
test/Dialect/FA/Transforms/fa-resolve-split-count.mlir on the same cases)."""

from fa_mlir._splits import RULE, choose_kv_splits


def test_rule_matches_compiler():
    cases = [((4, 100, 132, 128), 33), ((200, 100, 132, 128), 1),
             ((4, 1, 132, 128), 1), ((0, 100, 132, 128), 1),
             ((1, 10, 132, 128), 10), ((1, 100, 132, 8), 8),
             ((66, 100, 132, 128), 2), ((132, 100, 132, 128), 1)]
    for args, expected in cases:
        assert choose_kv_splits(*args) == expected, args


def test_rule_name():
    # The name the launch metadata gives the rule (KVSplits.h kKVSplitRule).
    assert RULE == "fill-slots-v1"
