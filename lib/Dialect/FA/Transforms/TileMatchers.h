//===- TileMatchers.h - Shapes the tile contracts are made of ---*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Predicates on the index values and initial tensors the tile passes build
// (constants, induction variables, sizes of operands, the extent of a block
// at a tail, zero fills): what the matchers of a fused forward tile and of
// the backward stages check before a GPU strategy reads them.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_DIALECT_FA_TRANSFORMS_TILEMATCHERS_H
#define FA_LIB_DIALECT_FA_TRANSFORMS_TILEMATCHERS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::fa::tileutils {

/// `value` is the index constant `expected`.
bool isConstantIndex(Value value, int64_t expected);
bool isConstantIndex(OpFoldResult value, int64_t expected);

/// `ofr` is the value `expected`.
bool isValue(OpFoldResult ofr, Value expected);

/// `ofr` is the forall's induction variable `dim`, or 0 where that
/// dimension has a single iteration (canonicalization folds the variable).
bool isInductionVar(OpFoldResult ofr, scf::ForallOp forall, unsigned dim);

/// `value` is tensor.dim(tensor, dim).
bool isDimOf(Value value, Value tensor, int64_t dim);

/// `ofr` is size `dim` of `tensor`: tensor.dim, or the static size.
bool isSizeOf(OpFoldResult ofr, Value tensor, int64_t dim);

/// `value` is minsi(c, x - start) with c the constant `block` and x the
/// size `dim` of `tensor`: the rows of a block, shorter at the tail.
bool isBlockExtent(Value value, int64_t block, Value tensor, int64_t dim,
                   Value start);

/// Every stride is the constant 1.
bool hasUnitStrides(ArrayRef<OpFoldResult> strides);

/// `value` is a linalg.fill of the f32 constant `expected`.
bool isFillOf(Value value, double expected);

/// `value` is `iv * block` (either operand order) for the forall's
/// induction variable `dim`.
bool isTileStart(Value value, scf::ForallOp forall, unsigned dim,
                 int64_t block);

/// `value` is `index_cast(tensor.extract %cu[b])` (with `next`, of
/// `%cu[b + 1]`) for the forall's induction variable `dim` and a tensor
/// `%cu` defined outside the forall: a sequence offset of a variable-length
/// batch. Returns `%cu`, or null.
Value matchSequenceOffset(Value value, scf::ForallOp forall, unsigned dim,
                          bool next);

/// `value` is `x + y` (either operand order) with `x` = `operand`; returns
/// `y`, or null.
Value matchAddOf(Value value, Value operand);

/// `value` is minsi(c, length - start) with c the constant `block`, the
/// extent of a block of a sequence of `length`; with `clamped`,
/// maxsi(that, 0) (a tile past the end of its sequence has no rows).
bool isBlockExtentOf(Value value, int64_t block, Value length, Value start,
                     bool clamped = false);

/// Checks that the body of `scores` (the element-wise map over a Q K^T
/// tile) holds only the ops of a score_mod or mask_mod region and
/// linalg.index, and that the tensors it reads are defined outside
/// `forall` (which diagnostics call `unit`: "tile", "stage"); adds those
/// tensors, the captures, to `captures`. Each failure is one diagnostic
/// through `fail`.
LogicalResult collectScoresCaptures(
    linalg::GenericOp scores, scf::ForallOp forall, StringRef unit,
    function_ref<LogicalResult(Operation *, const Twine &)> fail,
    llvm::SetVector<Value> &captures);

} // namespace mlir::fa::tileutils

#endif // FA_LIB_DIALECT_FA_TRANSFORMS_TILEMATCHERS_H
