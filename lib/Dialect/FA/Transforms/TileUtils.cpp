//===- TileUtils.cpp - Builders shared by the fa tile transforms ----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
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

Value tileutils::indexConst(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value tileutils::extractRows(OpBuilder &b, Location loc, Value source,
                             Value batch, Value head, Value start, Value size,
                             int64_t dim) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  auto tileType = RankedTensorType::get({ShapedType::kDynamic, dim},
                                        sourceType.getElementType());
  if (!batch) {
    SmallVector<OpFoldResult> offsets{start, head, b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{size, b.getIndexAttr(1),
                                    b.getIndexAttr(dim)};
    SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(b, loc, tileType, source, offsets,
                                          sizes, strides);
  }
  SmallVector<OpFoldResult> offsets{batch, head, start, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(1), size,
                                  b.getIndexAttr(dim)};
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, loc, tileType, source, offsets,
                                        sizes, strides);
}

Value tileutils::extractOffset(OpBuilder &b, Location loc, Value offsets,
                               Value index) {
  Value element = tensor::ExtractOp::create(b, loc, offsets, index);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), element);
}

Value tileutils::extractPackedRows(OpBuilder &b, Location loc, Value source,
                                   Value batch, Value firstHead, int64_t heads,
                                   Value start, Value size, int64_t dim) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  auto sliceType = RankedTensorType::get({heads, ShapedType::kDynamic, dim},
                                         sourceType.getElementType());
  SmallVector<OpFoldResult> offsets{batch, firstHead, start, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(heads),
                                  size, b.getIndexAttr(dim)};
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  Value slice = tensor::ExtractSliceOp::create(b, loc, sliceType, source,
                                               offsets, sizes, strides);
  SmallVector<ReassociationIndices> groups{{0, 1}, {2}};
  return tensor::CollapseShapeOp::create(b, loc, slice, groups);
}

Value tileutils::transposeHeadsAndTokens(OpBuilder &b, Location loc,
                                         Value tile) {
  auto type = cast<RankedTensorType>(tile.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, tile);
  std::swap(sizes[0], sizes[1]);
  Value init = tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
  return linalg::TransposeOp::create(b, loc, tile, init,
                                     ArrayRef<int64_t>{1, 0, 2})
      .getResult()
      .front();
}

Value tileutils::extractPackedTokenRows(OpBuilder &b, Location loc,
                                        Value source, Value firstHead,
                                        int64_t heads, Value token, Value size,
                                        int64_t dim) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  auto sliceType = RankedTensorType::get({ShapedType::kDynamic, heads, dim},
                                         sourceType.getElementType());
  SmallVector<OpFoldResult> offsets{token, firstHead, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{size, b.getIndexAttr(heads),
                                  b.getIndexAttr(dim)};
  SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
  Value slice = tensor::ExtractSliceOp::create(b, loc, sliceType, source,
                                               offsets, sizes, strides);
  SmallVector<ReassociationIndices> groups{{0, 1}, {2}};
  return tensor::CollapseShapeOp::create(
      b, loc, transposeHeadsAndTokens(b, loc, slice), groups);
}

Value tileutils::expandPackedRows(OpBuilder &b, Location loc, Value tile,
                                  int64_t heads, Value size) {
  auto type = cast<RankedTensorType>(tile.getType());
  SmallVector<int64_t> shape{heads, ShapedType::kDynamic};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(heads), size};
  SmallVector<ReassociationIndices> groups{{0, 1}};
  if (type.getRank() == 2) {
    shape.push_back(type.getDimSize(1));
    sizes.push_back(b.getIndexAttr(type.getDimSize(1)));
    groups.push_back({2});
  }
  auto expanded = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExpandShapeOp::create(b, loc, expanded, tile, groups, sizes);
}

Value tileutils::extractRowVector(OpBuilder &b, Location loc, Value source,
                                  Value batch, Value head, Value start,
                                  Value size) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  auto tileType = RankedTensorType::get({ShapedType::kDynamic},
                                        sourceType.getElementType());
  SmallVector<OpFoldResult> offsets{batch, head, start};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(1), size};
  SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, loc, tileType, source, offsets,
                                        sizes, strides);
}

Value tileutils::zeroTile(OpBuilder &b, Location loc, OpFoldResult rows,
                          OpFoldResult cols) {
  Value init = tensor::EmptyOp::create(
      b, loc, ArrayRef<OpFoldResult>{rows, cols}, b.getF32Type());
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  return linalg::FillOp::create(b, loc, zero, init).getResult(0);
}

void tileutils::buildHeadChecks(OpBuilder &b, Location loc, bool dynamicHeads,
                                Value qHeads, Value kvHeads, StringRef opName) {
  if (!dynamicHeads)
    return;
  Value zero = indexConst(b, loc, 0);
  Value positive =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, kvHeads, zero);
  cf::AssertOp::create(b, loc, positive,
                       (opName + ": number of key/value heads must be "
                                 "positive")
                           .str());
  Value rem = arith::RemUIOp::create(b, loc, qHeads, kvHeads);
  Value divisible =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rem, zero);
  cf::AssertOp::create(b, loc, divisible,
                       (opName + ": number of query heads must be a multiple "
                                 "of the number of key/value heads")
                           .str());
}

ArrayAttr tileutils::getBlockMapping(MLIRContext *ctx, unsigned rank) {
  SmallVector<Attribute> dims;
  // A fourth (leading) dimension, the split of a split-KV tile, is a
  // linear one: the kernel folds it into x.
  if (rank > 3)
    dims.push_back(
        gpu::GPUBlockMappingAttr::get(ctx, gpu::MappingId::LinearDim3));
  for (gpu::MappingId id :
       {gpu::MappingId::DimZ, gpu::MappingId::DimY, gpu::MappingId::DimX})
    if (dims.size() < rank)
      dims.push_back(gpu::GPUBlockMappingAttr::get(ctx, id));
  return ArrayAttr::get(ctx, dims);
}

Value tileutils::buildCausalKeyEnd(OpBuilder &b, Location loc, Value rowStart,
                                   Value rows, Value shift, Value kvLength) {
  Value lastRowEnd = arith::AddIOp::create(
      b, loc, arith::AddIOp::create(b, loc, rowStart, rows), shift);
  Value clamped =
      arith::MaxSIOp::create(b, loc, lastRowEnd, indexConst(b, loc, 0));
  return arith::MinSIOp::create(b, loc, kvLength, clamped);
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

Value tileutils::mapElements(OpBuilder &b, Location loc, Value input, Value out,
                             StringRef role, ScalarBody body) {
  return buildMap(b, loc, input, {}, out, role, body,
                  cast<ShapedType>(out.getType()).getRank());
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
