//===- BlockClassifier.h - Which key blocks a query tile sees ---*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Evaluates the visibility predicate of a tile's scores body in interval
// arithmetic over a box of (query rows of the tile) x (keys of a range of
// blocks), as IR the kernel runs once per tile: whether any pair of the box
// can be visible, and whether any can be hidden. That classifies every
// block as invisible (skipped, never loaded), fully visible (run without
// masking) or partial (masked), for any mask made of index arithmetic and
// comparisons (causal, sliding window, chunked, prefix-LM, sinks...), with
// no special cases. Integer data read from a capture over a short index
// range (the keys of one block, the rows of the tile) is bounded by its
// minimum and maximum, which the warp's lanes load together and combine
// with shuffles: a document mask classifies each block from the documents
// it holds. Wider ranges (the binary searches over many blocks), float
// data and the score are "maybe". Such a classification costs a memory
// latency; given a BlockTable (hopper-ws, for masks that read captures),
// the whole thread block classifies the tile's blocks into shared memory
// once, a group of 8 lanes per block, and the ranges and each block's
// verdict are read from there.
//
// The arithmetic assumes the predicate's integer arithmetic on positions
// does not overflow 64 bits (positions are below 2^31 in practice).
// Arithmetic on captured data is checked instead: where an interval's
// bounds may have wrapped, the comparisons that read it answer "maybe".
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_BLOCKCLASSIFIER_H
#define FA_LIB_CONVERSION_FATOGPU_BLOCKCLASSIFIER_H

#include "ScoreCloner.h"

#include <memory>
#include <optional>

namespace mlir::fa::detail {

struct TileIntervals;

/// The block ranges of one query tile, in key blocks: [lo, hi) may hold
/// visible keys, [fullLo, fullHi) within it is fully visible (no masking);
/// the blocks of [lo, fullLo) and [fullHi, hi) run masked and skip the ones
/// that turn out invisible.
struct BlockRanges {
  Value lo, fullLo, fullHi, hi;

  /// Whether `block` lies in [fullLo, fullHi) and runs unmasked: the one
  /// test every schedule uses, so that the warps that load a block and the
  /// ones that compute it decide alike.
  Value isUnmasked(ImplicitLocOpBuilder &b, Value block) const;
};

/// An scf.if on `condition` that carries an emitter's packed loop state
/// `before` (its results replace the state): each branch yields what its
/// emitter returns for the values (a null emitter yields them unchanged).
/// The masked, unmasked and skipped key blocks of every strategy are such
/// branches.
ValueRange
emitGuardedValues(ImplicitLocOpBuilder &b, ValueRange before, Value condition,
                  function_ref<SmallVector<Value>(ValueRange)> thenEmit,
                  function_ref<SmallVector<Value>(ValueRange)> elseEmit);

/// `x` (i32) reduced over the warp's 32 lanes with signed max (or min), by
/// xor shuffles: every lane ends with the result.
Value reduceWarpI32(ImplicitLocOpBuilder &b, Value x, bool max);

/// Shared memory for a tile's classification of its key blocks, one byte
/// per block (bit 0: may hold a visible key; bit 1: fully visible), built
/// by all the thread block's warps at once, every group of 8 lanes
/// classifying one block. A mask that reads captured data (a document mask)
/// costs one memory latency per classification, which a key loop pays per
/// block in series; the table pays it once per `warps` blocks. Every
/// thread of the block must build it (a barrier ends the build).
struct BlockTable {
  /// !llvm.ptr<3> to the first entry.
  Value entries;
  int64_t capacity = 0;
  /// This thread's warp (index) among `warps`.
  Value warp;
  int64_t warps = 0;
};

class BlockClassifier {
public:
  /// `rowStart` and `rows`: the tile's query rows; `keys`: the number of
  /// keys (keys past it are padding, masked by the kernel). With `table`,
  /// computeRanges builds it and the blocks it holds are looked up there.
  BlockClassifier(ImplicitLocOpBuilder &b, const ScoreFunction &function,
                  TileCloner &cloner, Value rows, Value keys, int64_t blockN,
                  std::optional<BlockTable> table = std::nullopt);

  /// Whether some pair of the tile's rows and the keys of blocks
  /// [first, last) (first < last) may be visible, and whether some may be
  /// hidden (including padding past the last key): two i1. Capture data
  /// is loaded with `loadsPerLane` loads in flight per lane, shared by
  /// `groupLanes` lanes (IntervalEmitter).
  std::pair<Value, Value> classify(Value first, Value last,
                                   int64_t loadsPerLane,
                                   int64_t groupLanes = 32);

  /// Whether block `block` may hold a visible key (for skipping): its
  /// table entry, or its classification.
  Value mayBeVisible(Value block);

  /// The block ranges of the tile among blocks [firstBlock, numBlocks)
  /// (firstBlock <= numBlocks).
  BlockRanges computeRanges(Value firstBlock, Value numBlocks);

  /// Whether the scores body masks anything beyond the key padding.
  bool hasPredicate() const { return static_cast<bool>(function.getVisible()); }

private:
  Value add(Value x, int64_t c);
  /// Smallest x in [lo, hi) with pred(x), or hi: pred must be monotone
  /// (false, then true).
  Value searchFirst(Value lo, Value hi, function_ref<Value(Value)> pred);
  /// Builds the table of blocks [firstBlock, min(numBlocks, firstBlock +
  /// capacity)) and reads the ranges from it; blocks past it may be
  /// visible and run masked.
  BlockRanges computeRangesFromTable(Value firstBlock, Value numBlocks);
  /// The table entry of `block` (i8), and its address.
  Value loadEntry(Value block);
  Value entryAddress(Value block);
  Value i8(int64_t v);
  static constexpr int64_t kMayBeVisible = 1, kFullyVisible = 2;

  ImplicitLocOpBuilder &b;
  const ScoreFunction &function;
  TileCloner &cloner;
  Value rows, keys;
  int64_t blockN;
  std::shared_ptr<TileIntervals> tileIntervals;
  std::optional<BlockTable> table;
  /// With a table: where block 0's entry would be (the table starts at
  /// the first block), and the end of the blocks it holds.
  Value tableOrigin, tableEnd;
};

/// The key loop of a tile, as every strategy runs it: the K/V head, the
/// classifier of its blocks of `blockN` keys and their ranges, from the
/// tile's IR (the loop's upper bound, the head mapping, the mask).
struct KeyBlockPlan {
  Value kvHead;
  std::unique_ptr<BlockClassifier> classifier;
  BlockRanges ranges;
};
KeyBlockPlan planKeyBlocks(ImplicitLocOpBuilder &b,
                           const ScoreFunction &function, TileCloner &cloner,
                           Value kvLength, int64_t blockN,
                           std::optional<BlockTable> table = std::nullopt);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_BLOCKCLASSIFIER_H
