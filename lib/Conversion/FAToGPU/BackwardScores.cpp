//===- BackwardScores.cpp - P and dS per fragment element -----------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The element-wise part of the backward kernels, shared by mma.sync and
// wgmma: the LSE and delta of the fragment's rows or columns, P from S
// through the scores body cloned from the IR (masks, padding, LSE), and dS
// from P, dP and delta times the score_mod's derivative. P and dS are two
// steps so that a kernel may run an MMA between them (the wgmma kernel
// computes P^T while dP^T is in flight, dS^T while dV is).
//
//===----------------------------------------------------------------------===//

#include "MmaSyncBackwardEmitter.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

static constexpr double kLog2e = 1.4426950408889634;

std::pair<Value, Value> BackwardEmitter::loadRowStatistics(Value rowHead,
                                                           Value row) {
  Value last = sub(qLength, idx(1));
  Value clamped = minS(maxS(row, idx(0)), last);
  SmallVector<Value> indices{batch, rowHead, clamped};
  Value lse = memref::LoadOp::create(b, arg(kLse), indices);
  Value delta = memref::LoadOp::create(b, arg(kDelta), indices);
  Value isEmpty =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, lse,
                            f32(-std::numeric_limits<double>::infinity()));
  Value shift = arith::SelectOp::create(b, isEmpty, f32(0.0), lse);
  return {arith::MulFOp::create(b, shift, f32(kLog2e)), delta};
}

void BackwardEmitter::loadColumnStatistics(Value start, Value streamHead,
                                           Value slot, bool lse, bool delta,
                                           SmallVectorImpl<Value> &colLse,
                                           SmallVectorImpl<Value> &colDelta) {
  int64_t nTiles = streamRows / 8;
  if (config.wgmma) {
    // From the ring (in registers across the block, they would push the
    // accumulators past 255).
    auto pairType = VectorType::get({2}, b.getF32Type());
    Value base =
        add(mul(slot, idx(2 * streamRows)), mul(threadInGroup, idx(2)));
    Value negInf = f32(-std::numeric_limits<double>::infinity());
    for (int64_t n = 0; n < nTiles; ++n) {
      if (lse) {
        Value pair = vector::LoadOp::create(b, pairType, statistics,
                                            ValueRange{add(base, idx(8 * n))});
        for (int64_t e = 0; e < 2; ++e) {
          Value l = vector::ExtractOp::create(b, pair, e);
          Value isEmpty =
              arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, l, negInf);
          l = arith::SelectOp::create(b, isEmpty, f32(0.0), l);
          colLse.push_back(fmul(l, f32(kLog2e)));
        }
      }
      if (delta) {
        Value pair = vector::LoadOp::create(
            b, pairType, statistics,
            ValueRange{add(base, idx(streamRows + 8 * n))});
        for (int64_t e = 0; e < 2; ++e)
          colDelta.push_back(vector::ExtractOp::create(b, pair, e));
      }
    }
    return;
  }
  if (!transposed)
    return;
  Value first = add(start, mul(threadInGroup, idx(2)));
  for (int64_t n = 0; n < nTiles; ++n)
    for (int64_t e = 0; e < 2; ++e) {
      auto [l, d] = loadRowStatistics(streamHead, add(first, idx(8 * n + e)));
      colLse.push_back(l);
      colDelta.push_back(d);
    }
}

void BackwardEmitter::emitProbabilities(
    Value start, ArrayRef<Value> colLse, ArrayRef<Value> scores,
    SmallVectorImpl<SmallVector<Value, 4>> &probs) {
  int64_t nTiles = streamRows / 8;
  Value streamLength = transposed ? qLength : kvLength;
  Value limit = arith::IndexCastOp::create(
      b, b.getI32Type(),
      minS(maxS(sub(streamLength, add(start, mul(threadInGroup, idx(2)))),
                idx(0)),
           idx(streamRows)));
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  Value scoreScale = f32(function->getKeptScale() * kLog2e);
  probs.assign(nTiles, {});
  for (int64_t n = 0; n < nTiles; ++n)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t e = 0; e < 2; ++e) {
        unsigned col = 2 * n + e;
        Value qk = element(scores[n], h, e);
        Value x = cloner->element(function->getInner(), h, col, qk);
        x = cloner->maskScore(x, h, col, qk, /*interval=*/std::nullopt, limit,
                              negInf);
        Value lse = transposed ? colLse[col] : rowLse[h];
        Value negLse = arith::NegFOp::create(b, lse);
        probs[n].push_back(math::Exp2Op::create(
            b, math::FmaOp::create(b, x, scoreScale, negLse),
            arith::FastMathFlags::afn));
      }
}

void BackwardEmitter::emitScoreGradients(
    ArrayRef<Value> colDelta, ArrayRef<Value> scores,
    ArrayRef<SmallVector<Value, 4>> probs, ArrayRef<Value> gradProbs,
    SmallVectorImpl<SmallVector<Value, 4>> &grads) {
  int64_t nTiles = streamRows / 8;
  Value zero = f32(0.0);
  Value derivative = function->getDerivative();
  grads.assign(nTiles, {});
  for (int64_t n = 0; n < nTiles; ++n)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t e = 0; e < 2; ++e) {
        unsigned col = 2 * n + e;
        Value p = probs[n][2 * h + e];
        Value delta = transposed ? colDelta[col] : rowDelta[h];
        Value dp = element(gradProbs[n], h, e);
        Value ds = fmul(p, arith::SubFOp::create(b, dp, delta));
        if (derivative) {
          // 0 wherever P is 0, whatever the derivative is there.
          Value d =
              cloner->element(derivative, h, col, element(scores[n], h, e));
          Value none =
              arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, p, zero);
          ds = arith::SelectOp::create(b, none, zero, fmul(ds, d));
        }
        grads[n].push_back(ds);
      }
}
