//===- KernelGrid.h - Which tile a block computes ---------------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The grid every strategy is launched with (lowerAttentionTileToGPU:
// (ceildiv(Nq, block_m), Hq, B); a packed GQA tile's (ceildiv(Nq, block_m
// / G), Hkv, B)), read back inside the kernel: one tile per block, or, in a
// persistent kernel, the tiles a block loops over.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_KERNELGRID_H
#define FA_LIB_CONVERSION_FATOGPU_KERNELGRID_H

#include "ScoreCloner.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::fa::detail {

/// This block's tile and the sequence lengths.
struct TileCoordinates {
  Value tileIndex, head, batch, qLength, kvLength, rowStart;
  /// The split of a split-KV tile (null otherwise): grid x is split *
  /// ceildiv(Nq, block_m) + tile.
  Value split;
};

/// Reads the tile of this block: query tile x, head y, batch z; `blockM`
/// is the query positions of a tile (FusedAttentionTile::positions()). With a
/// mask, later query tiles usually see more keys (causal), so the tiles are
/// handed out in reverse: the short ones fill the last wave.
TileCoordinates emitTileCoordinates(ImplicitLocOpBuilder &b,
                                    const ScoreFunction &function, Value query,
                                    Value key, int64_t blockM);

/// A variable-length tile's operands seen as a fixed-length attention of
/// its own sequence: Q, K, V, O as [1, H, n, D] and the LSE as [1, Hq, nq]
/// views of the packed [T, H, D] / [Hq, Tq] arguments, starting at the
/// sequence's first row, with batch stride 0 (any batch index reads the
/// sequence); and the sequence's lengths. The bases and lengths are cloned
/// from the IR (FusedAttentionTile::queryBase, ...).
struct SequenceViews {
  Value query, key, value, output, lse, qLength, kvLength;
};
SequenceViews emitSequenceViews(ImplicitLocOpBuilder &b, TileCloner &cloner,
                                const FusedAttentionTile &tile, Value query,
                                Value key, Value value, Value output,
                                Value lse);

/// The loop of a persistent kernel over its block's tiles: `body` is given
/// each tile's coordinates and the loop-carried values and returns their
/// new values; the loop's results are returned. Any grid computes every
/// tile once: block i (numbered x fastest) takes the tiles i, i + blocks,
/// i + 2 blocks, ... of the order below, so the runtimes may launch one
/// block per tile or a block per multiprocessor.
///
/// The order without a mask: query tile fastest, then head, then batch,
/// so that the blocks running together share K and V in L2; every tile
/// costs the same.
///
/// Under a mask tiles cost different amounts (causal: the later, the more
/// keys). The heads (batch x head) are cut into sections whose K and V fit
/// a third of L2; a section runs its query tiles last to first (longest
/// first under causal), each across the section's heads; and the blocks
/// take the units in waves, odd waves in reverse (a snake), so that each
/// block's share costs about the same.
///
/// With MaskedTileOrder::Pairs, a unit is two tiles of one head:
/// the n-th query tile from the end and the n-th from the start (the
/// middle one alone when the count is odd), run by the same block one
/// after the other, the longer first. Under a causal mask every pair costs
/// about the same (T + 1 key blocks of T tiles), so the waves share it
/// evenly whatever the section and wave sizes; the short tile's K and V
/// are a prefix of the long one's, still in L2. Costs in the sections
/// order fall within a section and jump back at the next: where section
/// and wave sizes do not fit, a third of the blocks idle at the end
/// (benchmarks/persistent_balance.py models both).
///
/// With MaskedTileOrder::HeadPairs, pairs in sections of one head: a
/// head's pairs run side by side, for masks whose neighbouring tiles read
/// mostly the same K and V blocks (a sliding window), which pairs across
/// the heads of a section would read at different times. Under a window a
/// pair costs about twice the window; under causal (a window as long as
/// the sequence) the same for every pair. (The n-th tile from the end runs
/// first, the longer one only under causal-shaped costs.)
///
/// `space` gives the tiles: query tiles, heads and batches (i32), and the
/// query and key lengths (index) the coordinates carry; a masked order
/// needs the key length (its sections) and the key type (bytes per key).
struct TileSpace {
  Value queryTiles, heads, batches;
  Value qLength, kvLength;
  MemRefType keyType;
};
/// The tile space of fixed-length [B, H, N, D] operands.
TileSpace getTileSpace(ImplicitLocOpBuilder &b, Value query, Value key,
                       int64_t blockM);
enum class MaskedTileOrder { Sections, Pairs, HeadPairs };
SmallVector<Value> emitPersistentTileLoop(
    ImplicitLocOpBuilder &b, const ScoreFunction &function,
    const TileSpace &space, int64_t blockM, MaskedTileOrder order,
    ValueRange init,
    function_ref<SmallVector<Value>(const TileCoordinates &, ValueRange)> body);

/// Refuses a launch grid with a constant dimension beyond the hardware's
/// limits (x at most 2^31 - 1, y and z at most 65535): static sizes a
/// runtime could never launch. `what` names the kernel's grid dimensions,
/// e.g. {"query tiles", "heads", "batch"}. Errors at `loc`.
LogicalResult verifyStaticGrid(Location loc, const gpu::KernelDim3 &grid,
                               ArrayRef<StringRef> what);

/// The roots of a tile's scores body: its batch, head and query tile, and
/// the kernel arguments standing for the tile's tensors.
TileCloner::Roots getTileRoots(const TileCoordinates &coordinates,
                               const FusedAttentionTile &tile,
                               ValueRange arguments);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_KERNELGRID_H
