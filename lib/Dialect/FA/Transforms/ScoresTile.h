//===- ScoresTile.h - The element-wise scores op of a tile ------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The linalg.generic of role `scores` that the forward and the backward
// tilings build over a Q K^T tile: the scale, a clone of the op's score_mod,
// the causal bound and a clone of its mask_mod, each element with its
// global indices. The backward's also yields d score_mod / d score.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_DIALECT_FA_TRANSFORMS_SCORESTILE_H
#define FA_LIB_DIALECT_FA_TRANSFORMS_SCORESTILE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Region.h"

namespace mlir::fa::tileutils {

/// What the scores body of a tile reads besides the Q K^T element.
struct ScoreContext {
  /// The batch and query head of the tile (the mod regions' b and h); of
  /// a packed GQA tile, its first query head.
  Value batch, head;
  /// A packed GQA tile's positions per head (null otherwise): row r is
  /// query head `head + r / positions` at `rowStart + r % positions`.
  Value packedPositions;
  /// Key j is visible from row i iff j <= i + causalShift; null without a
  /// causal mask.
  Value causalShift;
  double scale = 1.0;
  /// The op's score_mod and mask_mod (possibly empty) and its captures.
  Region *scoreMod = nullptr, *maskMod = nullptr;
  ValueRange captures;
};

/// The `scores` op over `qk` ([rows, cols] f32): each element is
/// `score_mod(scale * qk)` at row `rowStart + linalg.index 0`, column
/// `colStart + linalg.index 1`, and -inf where the causal bound or mask_mod
/// hides it. With `derivative`, the op has a second result, d score_mod /
/// d score of each element (the score_mod must be differentiable), stored
/// there.
Value buildScoresTile(OpBuilder &b, Location loc, const ScoreContext &context,
                      Value rowStart, Value colStart, Value qk,
                      Value *derivative = nullptr);

} // namespace mlir::fa::tileutils

#endif // FA_LIB_DIALECT_FA_TRANSFORMS_SCORESTILE_H
