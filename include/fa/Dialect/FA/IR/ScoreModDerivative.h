//===- ScoreModDerivative.h - d score_mod / d score -------------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The derivative of a score_mod region with respect to its score argument,
// which the backward pass multiplies into the gradient of the scores
// (fa.attention_backward's ds'/ds). It is derived in forward mode from the
// region's ops: every float value that depends on the score carries its
// derivative, the index arguments and the captures carry none (no gradient
// flows to them).
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_IR_SCOREMODDERIVATIVE_H
#define FA_DIALECT_FA_IR_SCOREMODDERIVATIVE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Region.h"

namespace mlir::fa {

/// The first op of `scoreMod` (in program order, nested ops included) that
/// uses a value depending on the score in a way the compiler cannot
/// differentiate (an op without a derivative rule, or a float-to-integer
/// conversion of the score), and null when the region is differentiable.
/// An empty region (no score_mod) is differentiable.
Operation *findNonDifferentiableOp(Region &scoreMod);

/// Reports the op findNonDifferentiableOp finds, as an error that names it,
/// at `loc` (so that the caller's IR is not printed with it).
LogicalResult verifyScoreModDifferentiable(Region &scoreMod, Location loc);

/// Clones `scoreMod` at `builder`'s insertion point with its block arguments
/// replaced by `arguments` (as cloneModRegion) and emits the derivative of
/// its yield with respect to the score argument alongside. Returns the
/// modified score and its derivative (an f32 constant 1 or 0 where the
/// region makes it constant). The region must be differentiable.
std::pair<Value, Value> cloneScoreModWithDerivative(OpBuilder &builder,
                                                    Region &scoreMod,
                                                    ValueRange arguments);

/// Whether the derivative of the differentiable `scoreMod` with respect to
/// the score is a constant (true for an empty region: 1): derived into a
/// scratch block that is dropped again.
bool hasConstantDerivative(Region &scoreMod);

} // namespace mlir::fa

#endif // FA_DIALECT_FA_IR_SCOREMODDERIVATIVE_H
