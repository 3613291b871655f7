//===- BackwardStageMatcher.h - Matching a backward stage -------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The matcher behind matchBackwardStageTile, shared by the files that check
// the stages: BackwardStageTile.cpp (delta, query, the shared pieces) and
// BackwardKeyTile.cpp (key_value and fused, which walk key tiles).
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_DIALECT_FA_TRANSFORMS_BACKWARDSTAGEMATCHER_H
#define FA_LIB_DIALECT_FA_TRANSFORMS_BACKWARDSTAGEMATCHER_H

#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "llvm/ADT/DenseSet.h"

namespace mlir::fa::detail {

/// The chain that computes dS of one block: S = Q K^T, the scores body,
/// P = exp(s - LSE), dP = dO V^T, dS = P (dP - delta) [* d s'/d s].
struct GradScoresChain {
  Operation *qk, *probabilities, *gradProbabilities, *gradScores;
  linalg::GenericOp scores;
  /// The slices each contraction reads.
  Value querySlice, keySlice, gradOutputSlice, valueSlice, lseSlice, deltaSlice;
};

class BackwardStageMatcher {
public:
  explicit BackwardStageMatcher(scf::ForallOp forall) { tile.forall = forall; }

  FailureOr<BackwardStageTile> match();

private:
  LogicalResult fail(Operation *op, const Twine &what) {
    op->emitError("not a backward stage a GPU strategy can implement: ")
        << what;
    return failure();
  }

  /// The canonical op of `role` producing `value`, reading `operands`
  /// (null entries accept anything).
  FailureOr<Operation *> tileOp(Value value, StringRef role,
                                ArrayRef<Value> operands, Operation *context);
  /// The slice [b, head, start:start+extent(, :)] of a rank-4 (or rank-3,
  /// `vector`) tensor defined outside the stage; returns the tensor.
  FailureOr<Value> slice(Value value, Value head, Value start, Value extent,
                         bool vector, Operation *context, StringRef what);
  /// dS of one block, back from the grad_scores op that makes `gradScores`.
  FailureOr<GradScoresChain> matchChain(Value gradScores, Operation *context);
  /// The grid (B, H, ceildiv(N, block)) of the rank-4 `operand`.
  LogicalResult matchGrid(Value operand, int64_t block);
  /// `insert` writes `source` into shared output `index` at [b, head,
  /// start(, 0)] with `extent` rows.
  LogicalResult matchInsert(tensor::ParallelInsertSliceOp insert,
                            unsigned index, Value head, Value start,
                            Value extent, Value source, bool vector);
  /// A streamed loop of `step` with the stage attribute `name`.
  LogicalResult matchLoop(scf::ForOp loop, StringRef name, int64_t step);
  /// No op in `block` computes besides the role ops of the stage (`known`).
  LogicalResult matchNothingElse(Block *block,
                                 const DenseSet<Operation *> &known);
  LogicalResult matchScoresBody(linalg::GenericOp scores);

  /// What matchKeyTile finds: the tile's first key and extent, the dQ
  /// accumulator the query blocks add to (fused), and the ops it checked.
  struct KeyTileParts {
    Value colStart, cols, gradQueryAccumulator;
    DenseSet<Operation *> known;
  };
  /// The computation of one key tile (key_value and fused), from the
  /// values `insertK` and `insertV` store (checked to be the scaled dK and
  /// dV stores; dK's factor goes to tile.gradientScale): K and V sliced
  /// once in `tileBody`, the loops over the query heads and the query
  /// blocks, and, `fused`, dS K added to the carried dQ accumulator. The
  /// caller checks where the tile starts and what `tileBody` writes.
  LogicalResult matchKeyTile(Value storedK, Operation *insertK, Value storedV,
                             Operation *insertV, Block *tileBody, bool fused,
                             KeyTileParts &parts);

  LogicalResult matchDelta();
  LogicalResult matchKeyValue();
  LogicalResult matchFused();
  LogicalResult matchQuery();

  BackwardStageTile tile;
};

} // namespace mlir::fa::detail

#endif // FA_LIB_DIALECT_FA_TRANSFORMS_BACKWARDSTAGEMATCHER_H
