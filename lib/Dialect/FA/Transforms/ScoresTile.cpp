//===- ScoresTile.cpp - The element-wise scores op of a tile --------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "ScoresTile.h"
#include "TileUtils.h"
#include "fa/Dialect/FA/IR/ModRegions.h"
#include "fa/Dialect/FA/IR/ScoreModDerivative.h"
#include "fa/Dialect/FA/IR/TileAttributes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::tileutils;

/// One element: the masked, modified score (and its derivative with respect
/// to the scaled score when `derivative` is given).
static Value buildScoreElement(OpBuilder &b, Location loc,
                               const ScoreContext &context, Value rowStart,
                               Value colStart, Value qk, Value *derivative) {
  // The scale is a constant of the body so that the fusion pass can fold
  // log2(e) into it.
  Value scaleValue = arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(static_cast<float>(context.scale)));
  // Before a score_mod the product may be contracted into the mod's first
  // operation, where that operation allows it (fastmath contract on both,
  // as the op's description says).
  bool hasScoreMod = !context.scoreMod->empty();
  auto fastmath =
      hasScoreMod ? arith::FastMathFlags::contract : arith::FastMathFlags::none;
  Value modified = arith::MulFOp::create(b, loc, qk, scaleValue, fastmath);
  bool masked = context.causalShift || !context.maskMod->empty();
  if (derivative && !hasScoreMod)
    *derivative = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f));
  if (!hasScoreMod && !masked)
    return modified;
  Value local = linalg::IndexOp::create(b, loc, 0);
  Value head = context.head;
  if (Value positions = context.packedPositions) {
    // Head-major rows: r / n heads on, at position r % n.
    if (hasScoreMod || !context.maskMod->empty())
      head = arith::AddIOp::create(
          b, loc, head, arith::DivUIOp::create(b, loc, local, positions));
    local = arith::RemUIOp::create(b, loc, local, positions);
  }
  Value row = arith::AddIOp::create(b, loc, rowStart, local);
  Value col = arith::AddIOp::create(b, loc, colStart,
                                    linalg::IndexOp::create(b, loc, 1));
  auto modArguments = [&](Value score) {
    SmallVector<Value> values;
    if (score)
      values.push_back(score);
    values.append({context.batch, head, row, col});
    llvm::append_range(values, context.captures);
    return values;
  };
  if (hasScoreMod) {
    if (derivative)
      std::tie(modified, *derivative) = cloneScoreModWithDerivative(
          b, *context.scoreMod, modArguments(modified));
    else
      modified = cloneModRegion(b, *context.scoreMod, modArguments(modified));
  }
  if (!masked)
    return modified;
  Value visible;
  if (context.causalShift) {
    Value lastVisible = arith::AddIOp::create(b, loc, row, context.causalShift);
    visible = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, col,
                                    lastVisible);
  }
  if (!context.maskMod->empty()) {
    Value keep = cloneModRegion(b, *context.maskMod, modArguments(Value()));
    visible = visible ? arith::AndIOp::create(b, loc, visible, keep).getResult()
                      : keep;
  }
  Value negInf = arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
  return arith::SelectOp::create(b, loc, visible, modified, negInf);
}

Value tileutils::buildScoresTile(OpBuilder &b, Location loc,
                                 const ScoreContext &context, Value rowStart,
                                 Value colStart, Value qk, Value *derivative) {
  if (!derivative)
    return mapTile(b, loc, {}, {}, qk, TileRole::scores,
                   [&](OpBuilder &nb, Location nl, ValueRange args) {
                     return buildScoreElement(nb, nl, context, rowStart,
                                              colStart, args[0], nullptr);
                   });
  MLIRContext *ctx = b.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
  Value derivativeInit = emptyLike(b, loc, qk);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{qk.getType(), qk.getType()}, ValueRange{},
      ValueRange{qk, derivativeInit}, ArrayRef<AffineMap>{identity, identity},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::parallel},
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value d;
        Value score =
            buildScoreElement(nb, nl, context, rowStart, colStart, args[0], &d);
        linalg::YieldOp::create(nb, nl, ValueRange{score, d});
      });
  setRole(generic, TileRole::scores);
  *derivative = generic.getResult(1);
  return generic.getResult(0);
}
