//===- AttentionBackwardOp.cpp - fa.attention_backward --------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The verifier of fa.attention_backward (the forward's signature and regions,
// plus dO and the gradients' inits) and buildAttentionBackward, which builds
// the backward op of a forward op for a compiler that differentiates a graph.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/AttentionSignature.h"
#include "fa/Dialect/FA/IR/FAOps.h"
#include "fa/Dialect/FA/IR/ModRegions.h"
#include "fa/Dialect/FA/IR/ScoreModDerivative.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::fa;

double AttentionBackwardOp::getEffectiveScale() {
  return fa::getEffectiveScale(getScale(), getQuery().getType());
}

LogicalResult AttentionBackwardOp::verify() {
  AttentionSignature sig;
  sig.query = getQuery().getType();
  sig.key = getKey().getType();
  sig.value = getValue().getType();
  sig.output = getOutput().getType();
  sig.lse = getLse().getType();
  if (std::optional<APFloat> scale = getScale())
    sig.scale = scale->convertToDouble();
  if (failed(verifyAttentionSignature(sig, [&]() { return emitOpError(); })))
    return failure();
  if (getGradOutput().getType() != getOutput().getType())
    return emitOpError("dO has type ")
           << getGradOutput().getType() << " but O has type "
           << getOutput().getType() << "; they must be the same";
  struct Gradient {
    const char *name;
    Value of, init, result;
  };
  for (const Gradient &g :
       {Gradient{"dQ", getQuery(), getGradQueryInit(), getGradQuery()},
        Gradient{"dK", getKey(), getGradKeyInit(), getGradKey()},
        Gradient{"dV", getValue(), getGradValueInit(), getGradValue()}}) {
    if (g.init.getType() != g.of.getType())
      return emitOpError("the ")
             << g.name << " init has type " << g.init.getType()
             << " but must have the type of its input, " << g.of.getType();
    if (g.result.getType() != g.init.getType())
      return emitOpError("the ")
             << g.name << " result has type " << g.result.getType()
             << " but its init has type " << g.init.getType();
  }
  return verifyCaptures(getOperation(), getCaptures(),
                        hasScoreMod() || hasMaskMod());
}

LogicalResult AttentionBackwardOp::verifyRegions() {
  return verifyModRegions(getOperation(), getScoreMod(), getMaskMod(),
                          getCaptures().getTypes());
}

/// An empty tensor of `like`'s type, its dynamic sizes taken from `like`.
static Value emptyLike(OpBuilder &builder, Location loc, Value like) {
  auto type = cast<RankedTensorType>(like.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(builder, loc, like);
  return tensor::EmptyOp::create(builder, loc, sizes, type.getElementType());
}

FailureOr<AttentionBackwardOp>
mlir::fa::buildAttentionBackward(OpBuilder &builder, AttentionOp forward,
                                 Value gradOutput) {
  if (forward.isVarlen())
    return forward.emitOpError(
        "is a variable-length attention; its backward op is not supported "
        "yet");
  if (forward.isPaged())
    return forward.emitOpError(
        "reads a paged KV cache; its backward op is not supported (a cache "
        "serves inference)");
  if (!forward.hasLse())
    return forward.emitOpError(
        "has no log-sum-exp result; its backward op recomputes the "
        "probabilities from it: request it with a second init");
  if (!gradOutput || gradOutput.getType() != forward.getResult().getType())
    return forward.emitOpError("expected dO of the output's type ")
           << forward.getResult().getType() << ", got "
           << (gradOutput ? gradOutput.getType() : Type());
  Location loc = forward.getLoc();
  if (failed(verifyScoreModDifferentiable(forward.getScoreMod(), loc)))
    return failure();
  SmallVector<Value, 3> inits;
  for (Value input : {forward.getQuery(), forward.getKey(), forward.getValue()})
    inits.push_back(emptyLike(builder, loc, input));
  auto backward = AttentionBackwardOp::create(
      builder, loc,
      TypeRange{inits[0].getType(), inits[1].getType(), inits[2].getType()},
      forward.getQuery(), forward.getKey(), forward.getValue(),
      forward.getResult(), gradOutput, forward.getLse(), inits[0], inits[1],
      inits[2], forward.getCaptures(), forward.getScaleAttr(),
      forward.getCausalAttr());
  IRMapping mapping;
  forward.getScoreMod().cloneInto(&backward.getScoreMod(), mapping);
  forward.getMaskMod().cloneInto(&backward.getMaskMod(), mapping);
  return backward;
}
