//===- RegisterSoftmax.cpp - Online softmax on accumulator fragments ------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "RegisterSoftmax.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

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

Value mlir::fa::detail::emulatedExp2(ImplicitLocOpBuilder &b, Value x,
                                     Type probabilityType) {
  // Minimax coefficients of 2^f on [-1/2, 1/2] with p(0) = 1 exactly (so
  // the clamp's -127 gives +0: 1.0's exponent 127 minus 127).
  static constexpr float kDegree3[] = {0.693283021f, 0.242211387f,
                                       0.0550087579f};
  static constexpr float kDegree4[] = {0.693124175f, 0.240240991f,
                                       0.0559065007f, 0.00958287157f};
  ArrayRef<float> coefficients = probabilityType && probabilityType.isF16()
                                     ? ArrayRef<float>(kDegree4)
                                     : ArrayRef<float>(kDegree3);
  // maximumf propagates NaN (max.NaN), which the bits below keep a NaN.
  x = arith::MaximumFOp::create(b, x, f32(b, -127.0f));
  // x + 1.5 * 2^23 rounds x to the nearest integer j in its low mantissa
  // bits (|x| < 2^22); subtracting it again gives j exactly.
  Value magic = f32(b, 12582912.0f);
  Value shifted = arith::AddFOp::create(b, x, magic);
  Value whole = arith::SubFOp::create(b, shifted, magic);
  Value fraction = arith::SubFOp::create(b, x, whole);
  Value p = f32(b, coefficients.back());
  for (float c : llvm::reverse(coefficients.drop_back()))
    p = math::FmaOp::create(b, p, fraction, f32(b, c));
  p = math::FmaOp::create(b, p, fraction, f32(b, 1.0f));
  // The low 9 bits of `shifted` are j mod 512: shifted into the exponent
  // field, they add j to p's exponent (mod 2^32, which is what a negative
  // j needs).
  Type i32 = b.getI32Type();
  Value exponent = arith::ShLIOp::create(
      b, arith::BitcastOp::create(b, i32, shifted),
      arith::ConstantOp::create(b, b.getI32IntegerAttr(23)));
  return arith::BitcastOp::create(
      b, b.getF32Type(),
      arith::AddIOp::create(b, arith::BitcastOp::create(b, i32, p), exponent));
}

/// The exponential of element `i` of a row piece: emulated for the first
/// `options.emulatedExp2` of every kExp2EmulationPeriod.
static Value rowExp2(ImplicitLocOpBuilder &b, Value x, size_t i,
                     const SoftmaxOptions &options) {
  if (static_cast<int64_t>(i % kExp2EmulationPeriod) < options.emulatedExp2)
    return emulatedExp2(b, x, options.probabilityType);
  return exp2(b, x);
}

Value mlir::fa::detail::packPair(ImplicitLocOpBuilder &b, Value lo, Value hi,
                                 Type type) {
  Value pair = arith::TruncFOp::create(
      b, VectorType::get({2}, type),
      vector::FromElementsOp::create(b, VectorType::get({2}, b.getF32Type()),
                                     ValueRange{lo, hi}));
  Value word =
      vector::BitCastOp::create(b, VectorType::get({1}, b.getI32Type()), pair);
  return vector::ExtractOp::create(b, word, ArrayRef<int64_t>{0});
}

static Value isNegInf(ImplicitLocOpBuilder &b, Value x) {
  return arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, x,
                               f32(b, -std::numeric_limits<float>::infinity()));
}

void SoftmaxRowState::appendTo(SmallVectorImpl<Value> &values) const {
  values.append({max, sum});
  if (exactSum)
    values.push_back(exactSum);
}

SoftmaxRowState SoftmaxRowState::takeFrom(ValueRange values, size_t &at,
                                          bool withExactSum) {
  SoftmaxRowState state;
  state.max = values[at++];
  state.sum = values[at++];
  if (withExactSum)
    state.exactSum = values[at++];
  return state;
}

SoftmaxRowState
mlir::fa::detail::initialSoftmaxRow(ImplicitLocOpBuilder &b,
                                    std::optional<double> fixedMax,
                                    bool withExactSum) {
  float max = fixedMax ? static_cast<float>(*fixedMax)
                       : -std::numeric_limits<float>::infinity();
  SoftmaxRowState state{f32(b, max), f32(b, 0.0f), Value()};
  if (withExactSum)
    state.exactSum = f32(b, 0.0f);
  return state;
}

Value mlir::fa::detail::quadSum(ImplicitLocOpBuilder &b, Value x) {
  x = arith::AddFOp::create(b, x, xorShuffle(b, x, 1));
  return arith::AddFOp::create(b, x, xorShuffle(b, x, 2));
}

/// The fixed-maximum softmax of one row piece (updateSoftmaxRow).
static SoftmaxBlockRow updateFixedMaxRow(ImplicitLocOpBuilder &b,
                                         ArrayRef<Value> scores, float scale,
                                         SoftmaxRowState &state,
                                         const SoftmaxOptions &options) {
  double max = *options.fixedMax;
  Type probabilityType = options.probabilityType;
  // Every score is at most the fixed max: the exponentials wait for no row
  // maximum, and nothing is rescaled. The probabilities are rounded to
  // the type P V reads before they are summed: none is exactly 1 here (the
  // online max makes the row's largest one 1), and a normalizer of
  // unrounded values would leave each output off by P's rounding (2^-9 for
  // bf16: a row with one dominant key failed the fp64 check). The LSE
  // needs the unrounded sum (the exact sum, where the state keeps one).
  Value negMax = f32(b, static_cast<float>(-max * scale));
  SoftmaxBlockRow row;
  Value sum, exactSum;
  auto accumulate = [&](Value &total, Value x) {
    total = total ? arith::AddFOp::create(b, total, x) : x;
  };
  // All exponentials first, then the rounding and the sums: interleaving
  // them pair by pair made the softcap kernel 7% slower on the H200.
  SmallVector<Value> unrounded;
  Value scaleValue = f32(b, scale);
  for (auto [i, x] : llvm::enumerate(scores)) {
    unrounded.push_back(rowExp2(
        b, math::FmaOp::create(b, x, scaleValue, negMax), i, options));
    if (state.exactSum)
      accumulate(exactSum, unrounded.back());
  }
  if (unrounded.size() % 2)
    unrounded.push_back(f32(b, 0.0f));
  for (size_t i = 0; i < scores.size(); i += 2) {
    Value pair[2] = {unrounded[i], unrounded[i + 1]};
    Value word = packPair(b, pair[0], pair[1], probabilityType);
    Value rounded[2];
    if (probabilityType.isBF16()) {
      // A bf16 is the high half of the f32 it widens to: one shift or mask
      // per value (an extf became a conversion each).
      auto bits = [&](int64_t v) {
        return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
      };
      rounded[0] = arith::BitcastOp::create(
          b, b.getF32Type(), arith::ShLIOp::create(b, word, bits(16)));
      rounded[1] = arith::BitcastOp::create(
          b, b.getF32Type(),
          arith::AndIOp::create(b, word, bits(int32_t(0xffff0000u))));
    } else {
      Value halves = vector::BitCastOp::create(
          b, VectorType::get({2}, probabilityType),
          vector::FromElementsOp::create(
              b, VectorType::get({1}, b.getI32Type()), ValueRange{word}));
      Value wide = arith::ExtFOp::create(
          b, VectorType::get({2}, b.getF32Type()), halves);
      for (int64_t e = 0; e < 2; ++e)
        rounded[e] = vector::ExtractOp::create(b, wide, ArrayRef<int64_t>{e});
    }
    for (size_t e = 0; e < 2 && i + e < scores.size(); ++e) {
      accumulate(sum, rounded[e]);
      row.probabilities.push_back(rounded[e]);
    }
  }
  state.sum = arith::AddFOp::create(b, state.sum, sum);
  if (state.exactSum)
    state.exactSum = arith::AddFOp::create(b, state.exactSum, exactSum);
  return row;
}

SoftmaxBlockRow mlir::fa::detail::updateSoftmaxRow(
    ImplicitLocOpBuilder &b, ArrayRef<Value> scores, float scale,
    SoftmaxRowState &state, const SoftmaxOptions &options) {
  if (options.fixedMax)
    return updateFixedMaxRow(b, scores, scale, state, options);
  // Row max: in-thread, then across the quad. maxnum: a hidden (-inf) score
  // never wins.
  Value rowMax = state.max;
  for (Value x : scores)
    rowMax = arith::MaxNumFOp::create(b, rowMax, x);
  rowMax = arith::MaxNumFOp::create(b, rowMax, xorShuffle(b, rowMax, 1));
  rowMax = arith::MaxNumFOp::create(b, rowMax, xorShuffle(b, rowMax, 2));
  // A row that has seen only hidden keys keeps max = -inf; subtracting 0
  // instead keeps exp2 at 0 rather than NaN.
  // (One constant for the row's scale: a constant per score was a fifth
  // of the kernel's constants, for the conversions to LLVM to walk.)
  Value scaleValue = f32(b, scale);
  Value scaledMax = arith::MulFOp::create(b, rowMax, scaleValue);
  scaledMax = arith::SelectOp::create(b, isNegInf(b, rowMax), f32(b, 0.0f),
                                      scaledMax);
  Value oldScaled = arith::MulFOp::create(b, state.max, scaleValue);
  SoftmaxBlockRow row;
  row.alpha = exp2(b, arith::SubFOp::create(b, oldScaled, scaledMax));

  // p = exp2(s * c - m * c): one FMA and one MUFU.EX2 per score (or the
  // emulation's FMA-pipe instructions).
  Value negMax = arith::NegFOp::create(b, scaledMax);
  Value rowSum = f32(b, 0.0f);
  for (auto [i, x] : llvm::enumerate(scores)) {
    Value p = rowExp2(b, math::FmaOp::create(b, x, scaleValue, negMax), i,
                      options);
    rowSum = arith::AddFOp::create(b, rowSum, p);
    row.probabilities.push_back(p);
  }
  state.sum = arith::AddFOp::create(
      b, arith::MulFOp::create(b, state.sum, row.alpha), rowSum);
  state.max = rowMax;
  return row;
}

SoftmaxRowResult mlir::fa::detail::finishSoftmaxRow(ImplicitLocOpBuilder &b,
                                          const SoftmaxRowState &state,
                                          float scale) {
  Value zero = f32(b, 0.0f);
  Value sum = mlir::fa::detail::quadSum(b, state.sum);
  Value lseSum = state.exactSum ? quadSum(b, state.exactSum) : sum;
  Value empty = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, sum, zero);
  Value inverse = arith::SelectOp::create(
      b, empty, zero, arith::DivFOp::create(b, f32(b, 1.0f), sum));
  // LSE = max * scale * ln 2 + log(sum), natural log.
  Value maxScaled = arith::MulFOp::create(b, state.max, f32(b, scale));
  Value logSum = math::LogOp::create(b, lseSum, arith::FastMathFlags::afn);
  Value lse = arith::AddFOp::create(
      b, arith::MulFOp::create(b, maxScaled, f32(b, static_cast<float>(M_LN2))),
      logSum);
  lse = arith::SelectOp::create(
      b, empty, f32(b, -std::numeric_limits<float>::infinity()), lse);
  return {inverse, empty, lse};
}
