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


def split_count(partial, batch: int, q_heads: int, kv_heads: int,
                queries: int, keys: int,
                kv_splits: "int | None" = None) -> "tuple[int, int, int]":
    """(S, query tiles, tile heads) of a split-KV partial kernel (its
    metadata's "split_kv" and "tile") for `batch` sequences of `queries`
    queries against up to `keys` keys: S is the kernel's fixed count, else
    `kv_splits`, else the rule for the tiles over the device's slots. A
    packed tile (pack_gqa) covers block_m / G positions of one key/value
    head's G query heads, so its tiles run over the `kv_heads`. Raises
    ValueError for a count the kernels cannot take."""
    split, tile = partial.metadata["split_kv"], partial.metadata["tile"]
    positions = tile["block_m"] // tile.get("pack_gqa", 1)
    tile_heads = kv_heads if "pack_gqa" in tile else q_heads
    query_tiles = -(-queries // positions)
    if split["splits"]:
        if kv_splits is not None and kv_splits != split["splits"]:
            raise ValueError(f"kv_splits={kv_splits}, but the kernels were "
                             f"compiled for {split['splits']} splits")
        splits = split["splits"]
    elif kv_splits is not None:
        splits = kv_splits
    else:
        splits = choose_kv_splits(batch * tile_heads * query_tiles,
                                  -(-keys // tile["block_n"]),
                                  partial.slots(), split["max_splits"])
    if not 1 <= splits <= split["max_splits"]:
        raise ValueError(f"kv_splits must be in [1, {split['max_splits']}], "
                         f"got {splits}")
    return splits, query_tiles, tile_heads
