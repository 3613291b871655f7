//===- FusedTileMatcher.h - Checks a fused tile op by op --------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The matcher behind matchFusedAttentionTile (FusedAttentionTile.cpp: the
// loop, the Q tile and the scores body; FusedTileEpilogue.cpp: the grid and
// the writes).
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_DIALECT_FA_TRANSFORMS_FUSEDTILEMATCHER_H
#define FA_LIB_DIALECT_FA_TRANSFORMS_FUSEDTILEMATCHER_H

#include "fa/Dialect/FA/Transforms/Transforms.h"

namespace mlir::fa::detail {

/// Matches one fused tile; every failure is a diagnostic on the op that
/// differs from what the tile passes build.
class FusedTileMatcher {
public:
  explicit FusedTileMatcher(scf::ForallOp forall) { tile.forall = forall; }

  FailureOr<FusedAttentionTile> match();

private:
  LogicalResult fail(Operation *op, const Twine &what) {
    op->emitError("not a fused attention tile a GPU strategy can implement: ")
        << what;
    return failure();
  }

  /// The canonical tile op of `role` producing `value`, with operands
  /// `operands` (null entries accept anything: uninitialized out tensors).
  FailureOr<Operation *> tileOp(Value value, StringRef role,
                                ArrayRef<Value> operands, Operation *context);

  /// A [1, heads, extent, dim] slice of `source` (defined outside the
  /// forall) at (batch, head, start, 0); returns the source. `head` null:
  /// the forall's head induction variable (times `heads`).
  FailureOr<Value> slice(Value value, Value head, Value start, Value extent,
                         Operation *context, StringRef what, int64_t heads = 1);
  /// Variable-length tiles: `value` is the sequence offset cu[b] (`next`:
  /// cu[b + 1]) of the offsets `cu` (null: any, recorded in `cu`).
  bool isSequenceOffset(Value value, Value &cu, bool next);
  /// `value` is cu[b + 1] - base with base = cu[b].
  bool isSequenceLength(Value value, Value &cu, Value base);
  /// `ofr` is the first query head of the tile: the head induction
  /// variable, times packedHeads when packed.
  bool isFirstHead(OpFoldResult ofr);
  /// The Q tile: a slice taken once per tile, collapsed when packed.
  LogicalResult matchQuery(Value queryTile, Operation *qk);

  LogicalResult matchLoop();
  /// The K and V rows of a paged tile's block `iv`: fa.paged_rows of its
  /// sequence, min(block_n, cache_seqlens[b] - iv) rows from iv.
  LogicalResult matchPagedRows(PagedRowsOp key, Value valueTile, Value iv,
                               Operation *weighted);
  /// The K and V slices of a fixed-length or variable-length tile's block
  /// `iv`.
  LogicalResult matchSlicedRows(Operation *qk, Value valueTile, Value iv,
                                Operation *weighted);
  /// `value` is defined outside the tile.
  bool isDefinedOutside(Value value) {
    Operation *owner = value.getParentBlock()->getParentOp();
    return owner != tile.forall && !tile.forall->isProperAncestor(owner);
  }
  LogicalResult matchEpilogue();
  /// The grid and the writes of a variable-length tile.
  LogicalResult matchVarlenEpilogue(ArrayRef<OpFoldResult> ubs);
  /// A packed tile's write: `source` is its G * n rows expanded into
  /// [G, n, ...]; returns the rows.
  FailureOr<Value> matchExpandedRows(Operation *insert, Value source);
  /// The O and LSE tiles `insert` writes are the normalized output and the
  /// LSE of the online loop.
  LogicalResult matchWrittenTile(Operation *insert, Value source, bool isLse);
  LogicalResult matchScoresBody();

  FusedAttentionTile tile;
  Value cols;
  /// Whether the tile is variable-length (its K slice is of a packed
  /// [T, H, D] operand).
  bool varlen = false;
  /// Whether the tile reads its K and V through a block table.
  bool paged = false;
};

} // namespace mlir::fa::detail

#endif // FA_LIB_DIALECT_FA_TRANSFORMS_FUSEDTILEMATCHER_H
