//===- TileMatchers.cpp - Shapes the tile contracts are made of -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "TileMatchers.h"

#include "fa/Dialect/FA/IR/FAOps.h"
#include "fa/Dialect/FA/IR/ModRegions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;

namespace mlir::fa::tileutils {

bool isConstantIndex(Value value, int64_t expected) {
  APInt constant;
  return value && matchPattern(value, m_ConstantInt(&constant)) &&
         constant.getSExtValue() == expected;
}

bool isConstantIndex(OpFoldResult value, int64_t expected) {
  if (auto attr = dyn_cast<Attribute>(value))
    return cast<IntegerAttr>(attr).getInt() == expected;
  return isConstantIndex(cast<Value>(value), expected);
}

bool isValue(OpFoldResult ofr, Value expected) {
  return isa<Value>(ofr) && cast<Value>(ofr) == expected;
}

bool isInductionVar(OpFoldResult ofr, scf::ForallOp forall, unsigned dim) {
  if (isValue(ofr, forall.getInductionVar(dim)))
    return true;
  return isConstantIndex(ofr, 0) &&
         isConstantIndex(forall.getMixedUpperBound()[dim], 1);
}

bool isDimOf(Value value, Value tensor, int64_t dim) {
  auto op = value ? value.getDefiningOp<tensor::DimOp>() : tensor::DimOp();
  return op && op.getSource() == tensor && isConstantIndex(op.getIndex(), dim);
}

bool isSizeOf(OpFoldResult ofr, Value tensor, int64_t dim) {
  if (auto attr = dyn_cast<Attribute>(ofr)) {
    int64_t size = cast<RankedTensorType>(tensor.getType()).getDimSize(dim);
    return !ShapedType::isDynamic(size) && isConstantIndex(ofr, size);
  }
  Value value = cast<Value>(ofr);
  APInt constant;
  if (matchPattern(value, m_ConstantInt(&constant))) {
    int64_t size = cast<RankedTensorType>(tensor.getType()).getDimSize(dim);
    return !ShapedType::isDynamic(size) && constant.getSExtValue() == size;
  }
  return isDimOf(value, tensor, dim);
}

bool isBlockExtent(Value value, int64_t block, Value tensor, int64_t dim,
                   Value start) {
  auto min = value ? value.getDefiningOp<arith::MinSIOp>() : arith::MinSIOp();
  if (!min)
    return false;
  // Either operand order (canonicalization puts the constant last).
  Value other = isConstantIndex(min.getLhs(), block)   ? min.getRhs()
                : isConstantIndex(min.getRhs(), block) ? min.getLhs()
                                                       : Value();
  auto remaining =
      other ? other.getDefiningOp<arith::SubIOp>() : arith::SubIOp();
  return remaining && remaining.getRhs() == start &&
         isSizeOf(remaining.getLhs(), tensor, dim);
}

bool isFillOf(Value value, double expected) {
  auto fill = value ? value.getDefiningOp<linalg::FillOp>() : linalg::FillOp();
  FloatAttr constant;
  return fill && matchPattern(fill.value(), m_Constant(&constant)) &&
         constant.getValueAsDouble() == expected;
}

bool hasUnitStrides(ArrayRef<OpFoldResult> strides) {
  return llvm::all_of(strides,
                      [](OpFoldResult s) { return isConstantIndex(s, 1); });
}

bool isTileStart(Value value, scf::ForallOp forall, unsigned dim,
                 int64_t block) {
  auto mul = value ? value.getDefiningOp<arith::MulIOp>() : arith::MulIOp();
  if (!mul)
    return false;
  Value iv = forall.getInductionVar(dim);
  return (mul.getLhs() == iv && isConstantIndex(mul.getRhs(), block)) ||
         (mul.getRhs() == iv && isConstantIndex(mul.getLhs(), block));
}

Value matchSequenceOffset(Value value, scf::ForallOp forall, unsigned dim,
                          bool next) {
  auto cast =
      value ? value.getDefiningOp<arith::IndexCastOp>() : arith::IndexCastOp();
  auto extract = cast ? cast.getIn().getDefiningOp<tensor::ExtractOp>()
                      : tensor::ExtractOp();
  if (!extract || extract.getIndices().size() != 1 ||
      !extract.getType().isSignlessInteger(32))
    return Value();
  Value cu = extract.getTensor();
  Operation *owner = cu.getParentBlock()->getParentOp();
  if (owner == forall || forall->isProperAncestor(owner))
    return Value();
  Value index = extract.getIndices()[0];
  Value iv = forall.getInductionVar(dim);
  if (!next)
    return index == iv ? cu : Value();
  Value other = matchAddOf(index, iv);
  return other && isConstantIndex(other, 1) ? cu : Value();
}

Value matchAddOf(Value value, Value operand) {
  auto add = value ? value.getDefiningOp<arith::AddIOp>() : arith::AddIOp();
  if (!add)
    return Value();
  if (add.getLhs() == operand)
    return add.getRhs();
  if (add.getRhs() == operand)
    return add.getLhs();
  return Value();
}

bool isBlockExtentOf(Value value, int64_t block, Value length, Value start,
                     bool clamped) {
  if (clamped) {
    auto max = value ? value.getDefiningOp<arith::MaxSIOp>() : arith::MaxSIOp();
    if (!max)
      return false;
    value = isConstantIndex(max.getRhs(), 0)   ? max.getLhs()
            : isConstantIndex(max.getLhs(), 0) ? max.getRhs()
                                               : Value();
  }
  auto min = value ? value.getDefiningOp<arith::MinSIOp>() : arith::MinSIOp();
  if (!min)
    return false;
  Value other = isConstantIndex(min.getLhs(), block)   ? min.getRhs()
                : isConstantIndex(min.getRhs(), block) ? min.getLhs()
                                                       : Value();
  auto remaining =
      other ? other.getDefiningOp<arith::SubIOp>() : arith::SubIOp();
  return remaining && remaining.getRhs() == start &&
         remaining.getLhs() == length;
}

} // namespace mlir::fa::tileutils

LogicalResult mlir::fa::tileutils::collectScoresCaptures(
    linalg::GenericOp scores, scf::ForallOp forall, StringRef unit,
    function_ref<LogicalResult(Operation *, const Twine &)> fail,
    llvm::SetVector<Value> &captures) {
  WalkResult walk = scores.getRegion().walk([&](Operation *op) {
    if (isa<linalg::IndexOp, linalg::YieldOp>(op))
      return WalkResult::advance();
    if (!isAllowedInModRegion(op) || isa<YieldOp>(op)) {
      (void)fail(op, "the 'scores' body may hold only the ops of a "
                     "score_mod or mask_mod region (and linalg.index)");
      return WalkResult::interrupt();
    }
    if (isa<tensor::ExtractOp, tensor::DimOp>(op)) {
      Value source = op->getOperand(0);
      Operation *owner = source.getParentBlock()->getParentOp();
      if (owner == forall || forall->isProperAncestor(owner)) {
        (void)fail(op, Twine("the 'scores' body may read only tensors "
                             "defined outside the ") +
                           unit + " (captures)");
        return WalkResult::interrupt();
      }
      captures.insert(source);
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}
