//===- FAOps.h - Operations of the fa dialect -------------------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_IR_FAOPS_H
#define FA_DIALECT_FA_IR_FAOPS_H

#include "fa/Dialect/FA/IR/FADialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "fa/Dialect/FA/IR/FAEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "fa/Dialect/FA/IR/FAAttrs.h.inc"

#define GET_OP_CLASSES
#include "fa/Dialect/FA/IR/FAOps.h.inc"

namespace mlir::fa {

/// The backward op of `forward`, which must return its log-sum-exp: the
/// gradients of its Q, K and V given `gradOutput`, the gradient of the loss
/// with respect to its output (of the output's type), with the forward's
/// scale, causal alignment, captures and regions (cloned). The inits are
/// `tensor.empty` of the types of Q, K and V. Built at the builder's
/// insertion point, which the forward's results must dominate; reports (on
/// `forward`) and fails when the forward has no LSE result, `gradOutput`
/// has the wrong type or the score_mod cannot be differentiated with
/// respect to the score (fa/Dialect/FA/IR/ScoreModDerivative.h).
FailureOr<AttentionBackwardOp> buildAttentionBackward(OpBuilder &builder,
                                                      AttentionOp forward,
                                                      Value gradOutput);

} // namespace mlir::fa

#endif // FA_DIALECT_FA_IR_FAOPS_H
