//===- TileMatchers.cpp - Shapes the tile contracts are made of -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "TileMatchers.h"

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

} // namespace mlir::fa::tileutils
