//===- FAOps.cpp - Operations of the fa dialect ---------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/FAOps.h"
#include "fa/Dialect/FA/IR/AttentionSignature.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fa;

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

void AttentionOp::build(OpBuilder &builder, OperationState &state, Value query,
                        Value key, Value value, Value output, Value lseOutput,
                        std::optional<double> scale,
                        std::optional<CausalAlignment> causal) {
  SmallVector<Type, 2> resultTypes{output.getType()};
  if (lseOutput)
    resultTypes.push_back(lseOutput.getType());
  FloatAttr scaleAttr =
      scale ? builder.getF32FloatAttr(static_cast<float>(*scale)) : FloatAttr();
  CausalAlignmentAttr causalAttr =
      causal ? CausalAlignmentAttr::get(builder.getContext(), *causal)
             : CausalAlignmentAttr();
  build(builder, state, resultTypes, query, key, value, output, lseOutput,
        scaleAttr, causalAttr);
}

MutableOperandRange AttentionOp::getInitsMutable() {
  // The output, then the optional log-sum-exp output: always the trailing
  // operands after Q, K and V.
  return MutableOperandRange(getOperation(), /*start=*/3,
                             /*length=*/getNumOperands() - 3);
}

int64_t AttentionOp::getHeadDim() { return getQueryType().getDimSize(3); }

int64_t AttentionOp::getValueHeadDim() { return getValueType().getDimSize(3); }

double AttentionOp::getEffectiveScale() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToDouble();
  return 1.0 / std::sqrt(static_cast<double>(getHeadDim()));
}

static AttentionSignature signatureOf(AttentionOp op) {
  AttentionSignature sig;
  sig.query = op.getQuery().getType();
  sig.key = op.getKey().getType();
  sig.value = op.getValue().getType();
  sig.output = op.getOutput().getType();
  if (Value lse = op.getLseOutput())
    sig.lse = lse.getType();
  if (std::optional<APFloat> scale = op.getScale())
    sig.scale = scale->convertToDouble();
  return sig;
}

LogicalResult AttentionOp::verify() {
  // Destination style: one result per init, of the init's type.
  if (hasLse() != static_cast<bool>(getLse()))
    return emitOpError("expected ")
           << (hasLse() ? "2 results" : "1 result") << " (one per init), got "
           << getNumResults();
  for (auto [index, init, result] :
       llvm::enumerate(getInitsMutable(), getResults())) {
    if (init.get().getType() != result.getType())
      return emitOpError("result #")
             << index << " has type " << result.getType()
             << " but its init has type " << init.get().getType();
  }
  return verifyAttentionSignature(signatureOf(*this),
                                  [&]() { return emitOpError(); });
}

namespace {

/// A log-sum-exp nobody reads is work the kernel need not do.
struct DropUnusedLse : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasLse() || !op.getLse().use_empty())
      return rewriter.notifyMatchFailure(op, "log-sum-exp is used or absent");
    auto newOp = AttentionOp::create(
        rewriter, op.getLoc(), TypeRange{op.getResult().getType()},
        op.getQuery(), op.getKey(), op.getValue(), op.getOutput(),
        /*lse_output=*/Value(), op.getScaleAttr(), op.getCausalAttr());
    rewriter.replaceOp(op, {newOp.getResult(), Value()});
    return success();
  }
};

/// Folds `tensor.cast` ops that erase static sizes into Q, K and V, so that
/// shapes known at the producer reach the kernel. Applied only when the
/// refined op still verifies (a cast that contradicts another operand is
/// left for runtime checks to report).
struct FoldInputTensorCasts : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    SmallVector<Value, 3> inputs{op.getQuery(), op.getKey(), op.getValue()};
    bool changed = false;
    for (Value &input : inputs) {
      auto cast = input.getDefiningOp<tensor::CastOp>();
      if (!cast || !tensor::canFoldIntoConsumerOp(cast))
        continue;
      input = cast.getSource();
      changed = true;
    }
    if (!changed)
      return rewriter.notifyMatchFailure(op, "no foldable tensor.cast input");

    AttentionSignature sig = signatureOf(op);
    sig.query = inputs[0].getType();
    sig.key = inputs[1].getType();
    sig.value = inputs[2].getType();
    if (failed(verifyAttentionSignature(sig, /*emitError=*/nullptr)))
      return rewriter.notifyMatchFailure(op, "refined types would not verify");

    rewriter.modifyOpInPlace(op, [&]() {
      op.getQueryMutable().assign(inputs[0]);
      op.getKeyMutable().assign(inputs[1]);
      op.getValueMutable().assign(inputs[2]);
    });
    return success();
  }
};

} // namespace

void AttentionOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<DropUnusedLse, FoldInputTensorCasts>(context);
}

#define GET_OP_CLASSES
#include "fa/Dialect/FA/IR/FAOps.cpp.inc"
