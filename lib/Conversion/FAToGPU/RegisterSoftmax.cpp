//===- RegisterSoftmax.cpp - Online softmax on accumulator fragments ------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "RegisterSoftmax.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

static Value f32(ImplicitLocOpBuilder &b, float v) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
}

static Value xorShuffle(ImplicitLocOpBuilder &b, Value x, int32_t mask) {
  Value offset = arith::ConstantOp::create(b, b.getI32IntegerAttr(mask));
  Value width = arith::ConstantOp::create(b, b.getI32IntegerAttr(32));
  return gpu::ShuffleOp::create(b, x, offset, width, gpu::ShuffleMode::XOR)
      .getShuffleResult();
}

/// exp2 with `afn`: the online softmax only takes exp2 of values <= 0,
/// where the MUFU approximation (fa-lower-math-to-nvvm) is what
/// FlashAttention uses too.
static Value exp2(ImplicitLocOpBuilder &b, Value x) {
  return math::Exp2Op::create(b, x, arith::FastMathFlags::afn);
}

static Value isNegInf(ImplicitLocOpBuilder &b, Value x) {
  return arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, x,
                               f32(b, -std::numeric_limits<float>::infinity()));
}

SoftmaxRowState mlir::fa::detail::initialSoftmaxRow(ImplicitLocOpBuilder &b) {
  return {f32(b, -std::numeric_limits<float>::infinity()), f32(b, 0.0f)};
}

Value mlir::fa::detail::quadSum(ImplicitLocOpBuilder &b, Value x) {
  x = arith::AddFOp::create(b, x, xorShuffle(b, x, 1));
  return arith::AddFOp::create(b, x, xorShuffle(b, x, 2));
}

std::pair<SmallVector<Value>, Value>
mlir::fa::detail::updateSoftmaxRow(ImplicitLocOpBuilder &b, ArrayRef<Value> scores,
                         float scale, SoftmaxRowState &state) {
  // Row max: in-thread, then across the quad. maxnum: a hidden (-inf) score
  // never wins.
  Value rowMax = state.max;
  for (Value x : scores)
    rowMax = arith::MaxNumFOp::create(b, rowMax, x);
  rowMax = arith::MaxNumFOp::create(b, rowMax, xorShuffle(b, rowMax, 1));
  rowMax = arith::MaxNumFOp::create(b, rowMax, xorShuffle(b, rowMax, 2));
  // A row that has seen only hidden keys keeps max = -inf; subtracting 0
  // instead keeps exp2 at 0 rather than NaN.
  Value scaledMax = arith::MulFOp::create(b, rowMax, f32(b, scale));
  scaledMax = arith::SelectOp::create(b, isNegInf(b, rowMax), f32(b, 0.0f),
                                      scaledMax);
  Value oldScaled = arith::MulFOp::create(b, state.max, f32(b, scale));
  Value alpha = exp2(b, arith::SubFOp::create(b, oldScaled, scaledMax));

  // p = exp2(s * c - m * c): one FMA and one MUFU.EX2 per score.
  Value negMax = arith::NegFOp::create(b, scaledMax);
  SmallVector<Value> probabilities;
  Value rowSum = f32(b, 0.0f);
  for (Value x : scores) {
    Value p = exp2(b, math::FmaOp::create(b, x, f32(b, scale), negMax));
    rowSum = arith::AddFOp::create(b, rowSum, p);
    probabilities.push_back(p);
  }
  state.sum = arith::AddFOp::create(
      b, arith::MulFOp::create(b, state.sum, alpha), rowSum);
  state.max = rowMax;
  return {probabilities, alpha};
}

SoftmaxRowResult mlir::fa::detail::finishSoftmaxRow(ImplicitLocOpBuilder &b,
                                          const SoftmaxRowState &state,
                                          float scale) {
  Value zero = f32(b, 0.0f);
  Value sum = mlir::fa::detail::quadSum(b, state.sum);
  Value empty = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, sum, zero);
  Value inverse = arith::SelectOp::create(
      b, empty, zero, arith::DivFOp::create(b, f32(b, 1.0f), sum));
  // LSE = max * scale * ln 2 + log(sum), natural log.
  Value maxScaled = arith::MulFOp::create(b, state.max, f32(b, scale));
  Value logSum = math::LogOp::create(b, sum, arith::FastMathFlags::afn);
  Value lse = arith::AddFOp::create(
      b, arith::MulFOp::create(b, maxScaled, f32(b, static_cast<float>(M_LN2))),
      logSum);
  lse = arith::SelectOp::create(
      b, empty, f32(b, -std::numeric_limits<float>::infinity()), lse);
  return {inverse, empty, lse};
}
