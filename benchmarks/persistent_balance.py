#!/usr/bin/env python3
"""How evenly a persistent grid's static tile order shares causal work.

A persistent hopper-ws kernel under a mask hands each block a fixed list
of query tiles (KernelGrid.cpp, emitPersistentTileLoop). Under a causal
mask tile t of T computes t + 1 key blocks, so a block's share depends on
the order. This models three orders and prints, per shape, the largest
share over the mean (1.00: the blocks end together; 1.50: a third of the
machine idles at the end):

- sections: the order of main at 2026-12-05: heads in sections whose K
  and V fit 16 MiB of L2, a section's query tiles last to first across
  its heads, waves of `blocks` units snaking;
- pairs: units of the n-th tile from the end and the n-th (equal costs
  under causal), in the same sections, waves snaking;
- hybrid: pairs, but the last one or two waves' worth of units dealt out
  tile by tile (first tiles in order, second tiles in reverse), snaking.

With --window W the mask is a bottom-right causal sliding window of W
keys (tile t computes min(t + 1, W / block-m + 1) key blocks) and the
orders are those a window could take:

- linear: the order without a mask, a head's query tiles side by side,
  block i taking the tiles i, i + blocks, ...;
- head-pairs: pairs as above, in sections of one head (a head's pairs
  side by side), waves snaking.

    python3 benchmarks/persistent_balance.py --blocks 132
    python3 benchmarks/persistent_balance.py --blocks 132 --window 1024
"""

import argparse
import math

# (D, N, B, H): the shapes of gpu_suite.py (B x N = 32768, H = 2048 / D)
# and a few with fewer heads.
SHAPES = [(64, 1024, 32, 32), (64, 4096, 8, 32), (64, 16384, 2, 32),
          (128, 1024, 32, 16), (128, 4096, 8, 16), (128, 16384, 2, 16),
          (256, 1024, 32, 8), (256, 16384, 2, 8),
          (64, 4096, 4, 16), (64, 8192, 2, 16), (64, 16384, 1, 8),
          (128, 8192, 4, 16)]


def section_heads(d, n, heads):
    return min(max(16 * 2**20 // (n * 2 * d * 2), 1), heads)


def _snake(units, blocks):
    """(block, unit) as the blocks take the units: waves of `blocks`, odd
    waves right to left."""
    for wave in range(math.ceil(units / blocks)):
        for b in range(blocks):
            u = wave * blocks + (blocks - 1 - b if wave % 2 else b)
            if u < units:
                yield b, u


def sections(tiles, heads, blocks, section):
    load = [0] * blocks
    section_units = section * tiles
    for b, u in _snake(tiles * heads, blocks):
        index, inside = divmod(u, section_units)
        width = min(section, heads - index * section)
        load[b] += tiles - inside // width  # tile t costs t + 1 blocks
    return load


def linear(tiles, heads, blocks, cost):
    load = [0] * blocks
    for u in range(tiles * heads):
        load[u % blocks] += cost(u % tiles)
    return load


def head_pairs(tiles, heads, blocks, cost):
    load = [0] * blocks
    count = (tiles + 1) // 2
    for b, u in _snake(count * heads, blocks):
        p = u % count
        mirror = tiles - 1 - p
        load[b] += cost(mirror) + (cost(p) if p != mirror else 0)
    return load


def _pair_of(u, heads, pairs, section):
    index, inside = divmod(u, section * pairs)
    return inside // min(section, heads - index * section)


def _pair_costs(tiles, p):
    mirror = tiles - 1 - p
    return mirror + 1, (p + 1 if p != mirror else 0)


def pairs(tiles, heads, blocks, section):
    load = [0] * blocks
    count = (tiles + 1) // 2
    for b, u in _snake(count * heads, blocks):
        load[b] += sum(_pair_costs(tiles, _pair_of(u, heads, count, section)))
    return load


def hybrid(tiles, heads, blocks, section):
    load = [0] * blocks
    count = (tiles + 1) // 2
    units = count * heads
    whole = max(units // blocks, 1) - 1
    for u in range(whole * blocks):
        load[u % blocks] += sum(_pair_costs(
            tiles, _pair_of(u, heads, count, section)))
    start = whole * blocks
    tail = units - start
    for wave in range(math.ceil(2 * tail / blocks)):
        for b in range(blocks):
            i = wave * blocks + (blocks - 1 - b if wave % 2 else b)
            if i >= 2 * tail:
                continue
            second = i >= tail
            u = start + (2 * tail - 1 - i if second else i)
            load[b] += _pair_costs(tiles,
                                   _pair_of(u, heads, count, section))[second]
    return load


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=132,
                    help="blocks of the persistent grid (the H200: 132)")
    ap.add_argument("--block-m", type=int, default=128)
    ap.add_argument("--window", type=int, default=0,
                    help="model a sliding window of this many keys")
    args = ap.parse_args()
    if args.window:
        width = args.window // args.block_m + 1

        def cost(t):
            return min(t + 1, width)

        print("| N | B x H | linear | head-pairs |")
        print("|---|---|---|---|")
        for n in (1024, 2048, 4096, 8192, 16384):
            tiles, b = -(-n // args.block_m), 32768 // n
            cells = []
            for order in (linear, head_pairs):
                load = order(tiles, b * 16, args.blocks, cost)
                cells.append(f"{max(load) / (sum(load) / len(load)):.3f}")
            print(f"| {n} | {b}x16 | " + " | ".join(cells) + " |")
        return
    print("| D | N | B x H | sections | pairs | hybrid |")
    print("|---|---|---|---|---|---|")
    for d, n, b, h in SHAPES:
        tiles = -(-n // args.block_m)
        section = section_heads(d, n, b * h)
        cells = []
        for order in (sections, pairs, hybrid):
            load = order(tiles, b * h, args.blocks, section)
            cells.append(f"{max(load) / (sum(load) / len(load)):.3f}")
        print(f"| {d} | {n} | {b}x{h} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
