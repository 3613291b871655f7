//===- TileUtils.cpp - Builders shared by the fa tile transforms ----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;

Value tileutils::emptyLike(OpBuilder &b, Location loc, Value like) {
  auto type = cast<RankedTensorType>(like.getType());
  SmallVector<OpFoldResult> sizes;
  for (int64_t dim = 0; dim < type.getRank(); ++dim)
    sizes.push_back(tensor::getMixedSize(b, loc, like, dim));
  return tensor::EmptyOp::create(b, loc, sizes, b.getF32Type());
}

Value tileutils::filledLike(OpBuilder &b, Location loc, Value like,
                            double value) {
  Value empty = emptyLike(b, loc, like);
  Value scalar = arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(static_cast<float>(value)));
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

void tileutils::setRole(Operation *op, StringRef role) {
  op->setAttr(TileRole::attrName, StringAttr::get(op->getContext(), role));
}

StringRef tileutils::getRole(Operation *op) {
  if (auto role = op->getAttrOfType<StringAttr>(TileRole::attrName))
    return role.getValue();
  return {};
}

static Value buildMap(OpBuilder &b, Location loc, ValueRange tileInputs,
                      ValueRange rowInputs, Value out, StringRef role,
                      tileutils::ScalarBody body, unsigned rank) {
  MLIRContext *ctx = b.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap row = AffineMap::get(rank, 0, {getAffineDimExpr(0, ctx)}, ctx);
  SmallVector<Value> inputs(tileInputs);
  llvm::append_range(inputs, rowInputs);
  SmallVector<AffineMap> maps(tileInputs.size(), identity);
  maps.append(rowInputs.size(), row);
  maps.push_back(identity);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, out.getType(), inputs, out, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc,
                                body(nested, nestedLoc, args));
      });
  tileutils::setRole(generic, role);
  return generic.getResult(0);
}

Value tileutils::mapTile(OpBuilder &b, Location loc, ValueRange tileInputs,
                         ValueRange rowInputs, Value out, StringRef role,
                         ScalarBody body) {
  return buildMap(b, loc, tileInputs, rowInputs, out, role, body, 2);
}

Value tileutils::mapRows(OpBuilder &b, Location loc, ValueRange rowInputs,
                         Value out, StringRef role, ScalarBody body) {
  return buildMap(b, loc, rowInputs, {}, out, role, body, 1);
}

Value tileutils::reduceRows(
    OpBuilder &b, Location loc, Value tile, Value init, StringRef role,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
  MLIRContext *ctx = b.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap row = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), tile, init, ArrayRef<AffineMap>{identity, row},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::reduction},
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc,
                                combine(nested, nestedLoc, args[1], args[0]));
      });
  setRole(generic, role);
  return generic.getResult(0);
}

Value tileutils::safeRowMax(OpBuilder &b, Location loc, Value max) {
  Value negInf = arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value isEmpty =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, max, negInf);
  return arith::SelectOp::create(b, loc, isEmpty, zero, max);
}
