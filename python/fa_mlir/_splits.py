"""How many parts a split-KV kernel splits each tile's key range into.

The rule of ``fa.split_count`` (``include/fa/Runtime/KVSplits.h``,
``chooseKVSplits``), restated for the launcher; ``tests/test_splits.py``
compares the two through the compiler's CPU lowering of the op.
"""

RULE = "fill-slots-v2"


def choose_kv_splits(tiles: int, blocks: int, slots: int,
                     max_splits: int) -> int:
    """Parts per tile: 1 when the ``tiles`` fill the ``slots`` (blocks the
    device runs at once), else as many as fill them in one wave, at most
    one per key block (``blocks``) and at most ``max_splits``."""
    if tiles <= 0 or blocks <= 1 or slots <= tiles or max_splits <= 1:
        return 1
    wanted = slots // tiles
    return max(1, min(wanted, blocks, max_splits))
