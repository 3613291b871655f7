//===- FAOps.cpp - Operations of the fa dialect ---------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/FAOps.h"
#include "fa/Dialect/FA/IR/AttentionSignature.h"
#include "fa/Dialect/FA/IR/ModRegions.h"

#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

#include "llvm/ADT/BitVector.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fa;

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

void AttentionOp::build(OpBuilder &builder, OperationState &state, Value query,
                        Value key, Value value, Value output, Value lseOutput,
                        std::optional<double> scale,
                        std::optional<CausalAlignment> causal,
                        ValueRange captures, ValueRange varlen,
                        ValueRange paged) {
  assert((varlen.empty() || varlen.size() == 3) &&
         "varlen is (cu_seqlens_q, cu_seqlens_k, max_seqlen_q) or empty");
  assert((paged.empty() || paged.size() == 2) &&
         "paged is (block_table, cache_seqlens) or empty");
  SmallVector<Type, 2> resultTypes{output.getType()};
  if (lseOutput)
    resultTypes.push_back(lseOutput.getType());
  FloatAttr scaleAttr =
      scale ? builder.getF32FloatAttr(static_cast<float>(*scale)) : FloatAttr();
  CausalAlignmentAttr causalAttr =
      causal ? CausalAlignmentAttr::get(builder.getContext(), *causal)
             : CausalAlignmentAttr();
  Value none;
  build(builder, state, resultTypes, query, key, value, output, lseOutput,
        captures, varlen.empty() ? none : varlen[0],
        varlen.empty() ? none : varlen[1], varlen.empty() ? none : varlen[2],
        paged.empty() ? none : paged[0], paged.empty() ? none : paged[1],
        scaleAttr, causalAttr);
}

MutableOperandRange AttentionOp::getInitsMutable() {
  // The output, then the optional log-sum-exp output: the operands after Q,
  // K and V, before the captures.
  return MutableOperandRange(getOperation(), /*start=*/3,
                             /*length=*/hasLse() ? 2 : 1);
}

SmallVector<Type> AttentionOp::getModArgumentTypes(MLIRContext *ctx,
                                                   bool forMask,
                                                   TypeRange captures) {
  SmallVector<Type> types;
  if (!forMask)
    types.push_back(Float32Type::get(ctx));
  types.append(4, IndexType::get(ctx));
  llvm::append_range(types, captures);
  return types;
}

static void buildModRegion(AttentionOp op, Region &region, bool forMask,
                           OpBuilder &builder,
                           function_ref<Value(OpBuilder &, Location, ValueRange)>
                               body) {
  assert(region.empty() && "the region is already built");
  SmallVector<Type> types = AttentionOp::getModArgumentTypes(
      op.getContext(), forMask, op.getCaptures().getTypes());
  SmallVector<Location> locations(types.size(), op.getLoc());
  OpBuilder::InsertionGuard guard(builder);
  Block *block = builder.createBlock(&region, {}, types, locations);
  Value result = body(builder, op.getLoc(), block->getArguments());
  YieldOp::create(builder, op.getLoc(), result);
}

void AttentionOp::buildScoreMod(
    OpBuilder &builder,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  buildModRegion(*this, getScoreMod(), /*forMask=*/false, builder, body);
}

void AttentionOp::buildMaskMod(
    OpBuilder &builder,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  buildModRegion(*this, getMaskMod(), /*forMask=*/true, builder, body);
}

int64_t AttentionOp::getHeadDim() {
  return getQueryType().getDimSize(getQueryType().getRank() - 1);
}

int64_t AttentionOp::getValueHeadDim() {
  return getValueType().getDimSize(getValueType().getRank() - 1);
}

double AttentionOp::getEffectiveScale() {
  return fa::getEffectiveScale(getScale(), getQueryType());
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
  if (Value cuQ = op.getCuSeqlensQ())
    sig.cuSeqlensQ = cuQ.getType();
  if (Value cuK = op.getCuSeqlensK())
    sig.cuSeqlensK = cuK.getType();
  if (Value table = op.getBlockTable())
    sig.blockTable = table.getType();
  if (Value lengths = op.getCacheSeqlens())
    sig.cacheSeqlens = lengths.getType();
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
  if (static_cast<bool>(getBlockTable()) !=
      static_cast<bool>(getCacheSeqlens()))
    return emitOpError("a paged attention needs block_table and "
                       "cache_seqlens together");
  // Against a paged cache the key counts are cache_seqlens: no cu_seqlens_k.
  bool varlenOperands[] = {static_cast<bool>(getCuSeqlensQ()),
                           static_cast<bool>(getMaxSeqlenQ())};
  if (llvm::is_contained(varlenOperands, true) &&
      llvm::is_contained(varlenOperands, false))
    return emitOpError("a variable-length attention needs cu_seqlens_q and "
                       "max_seqlen_q together");
  if (getCuSeqlensK() && !isVarlen())
    return emitOpError("cu_seqlens_k needs cu_seqlens_q and max_seqlen_q");
  if (isVarlen() && !isPaged() && !getCuSeqlensK())
    return emitOpError("a variable-length attention needs cu_seqlens_k "
                       "(the key offsets), unless its keys are in a paged "
                       "cache");
  if (isVarlen() && isPaged() && getCuSeqlensK())
    return emitOpError("variable-length queries against a paged cache take "
                       "their key counts from cache_seqlens: give "
                       "varlen(%cu_seqlens_q : ...) without cu_seqlens_k");
  if (failed(verifyAttentionSignature(signatureOf(*this),
                                      [&]() { return emitOpError(); })))
    return failure();
  return verifyCaptures(getOperation(), getCaptures(),
                        hasScoreMod() || hasMaskMod());
}

LogicalResult AttentionOp::verifyRegions() {
  return verifyModRegions(getOperation(), getScoreMod(), getMaskMod(),
                          getCaptures().getTypes());
}

namespace {

void moveModRegions(RewriterBase &rewriter, AttentionOp from, AttentionOp to) {
  rewriter.inlineRegionBefore(from.getScoreMod(), to.getScoreMod(),
                              to.getScoreMod().end());
  rewriter.inlineRegionBefore(from.getMaskMod(), to.getMaskMod(),
                              to.getMaskMod().end());
}

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
        /*lse_output=*/Value(), op.getCaptures(), op.getCuSeqlensQ(),
        op.getCuSeqlensK(), op.getMaxSeqlenQ(), op.getBlockTable(),
        op.getCacheSeqlens(), op.getScaleAttr(), op.getCausalAttr());
    moveModRegions(rewriter, op, newOp);
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

/// A mask_mod that keeps every pair and a score_mod that returns the score
/// unchanged are no modification at all: dropping them lets the kernels run
/// every block unmasked.
struct DropTrivialMods : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  static bool returnsScore(Region &region) {
    if (region.empty())
      return false;
    Block &body = region.front();
    return cast<YieldOp>(body.getTerminator()).getValue() ==
           body.getArgument(0);
  }

  static bool keepsEverything(Region &region) {
    if (region.empty())
      return false;
    Value yielded = cast<YieldOp>(region.front().getTerminator()).getValue();
    return matchPattern(yielded, m_One());
  }

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    bool scoreTrivial = returnsScore(op.getScoreMod());
    bool maskTrivial = keepsEverything(op.getMaskMod());
    if (!scoreTrivial && !maskTrivial)
      return rewriter.notifyMatchFailure(op, "no trivial region");
    rewriter.modifyOpInPlace(op, [&]() {
      // Through the rewriter, so that the greedy driver forgets the erased
      // ops (a region cleared behind its back left them on its worklist).
      if (scoreTrivial)
        rewriter.eraseBlock(&op.getScoreMod().front());
      if (maskTrivial)
        rewriter.eraseBlock(&op.getMaskMod().front());
      // With no region left nothing reads the captures.
      if (!op.hasScoreMod() && !op.hasMaskMod())
        op.getCapturesMutable().clear();
    });
    return success();
  }
};

/// Captures that no region reads are dropped, with their block arguments.
struct DropUnusedCaptures : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    SmallVector<Region *, 2> regions;
    for (Region *region : {&op.getScoreMod(), &op.getMaskMod()})
      if (!region->empty())
        regions.push_back(region);
    auto argumentOf = [&](Region *region, unsigned capture) {
      bool isMask = region == &op.getMaskMod();
      return region->front().getArgument(
          getNumModIndexArguments(isMask ? ModKind::Mask : ModKind::Score) +
          capture);
    };
    SmallVector<Value> kept;
    llvm::BitVector dropped(op.getCaptures().size());
    for (auto [i, capture] : llvm::enumerate(op.getCaptures())) {
      bool used = llvm::any_of(regions, [&](Region *region) {
        return !argumentOf(region, i).use_empty();
      });
      if (used)
        kept.push_back(capture);
      else
        dropped.set(i);
    }
    // With no region left, every capture is unused; the verifier demands
    // that they go too.
    if (dropped.none())
      return rewriter.notifyMatchFailure(op, "every capture is read");
    auto newOp = AttentionOp::create(
        rewriter, op.getLoc(), op.getResultTypes(), op.getQuery(), op.getKey(),
        op.getValue(), op.getOutput(), op.getLseOutput(), kept,
        op.getCuSeqlensQ(), op.getCuSeqlensK(), op.getMaxSeqlenQ(),
        op.getBlockTable(), op.getCacheSeqlens(), op.getScaleAttr(),
        op.getCausalAttr());
    moveModRegions(rewriter, op, newOp);
    for (Region *region : {&newOp.getScoreMod(), &newOp.getMaskMod()}) {
      if (region->empty())
        continue;
      bool isMask = region == &newOp.getMaskMod();
      unsigned first =
          getNumModIndexArguments(isMask ? ModKind::Mask : ModKind::Score);
      llvm::BitVector erase(region->front().getNumArguments());
      for (unsigned i : dropped.set_bits())
        erase.set(first + i);
      region->front().eraseArguments(erase);
    }
    rewriter.replaceOp(op, newOp.getResults());
    return success();
  }
};

} // namespace

void AttentionOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<DropUnusedLse, FoldInputTensorCasts, DropTrivialMods,
              DropUnusedCaptures>(context);
}

#define GET_OP_CLASSES
#include "fa/Dialect/FA/IR/FAOps.cpp.inc"

//===----------------------------------------------------------------------===//
// TensorMapOp
//===----------------------------------------------------------------------===//

LogicalResult TensorMapOp::verify() {
  auto type = cast<MemRefType>(getSource().getType());
  if (!isa<LLVM::LLVMPointerType>(getMap().getType()))
    return emitOpError("result must be an !llvm.ptr (the map's host "
                       "address), got ")
           << getMap().getType();
  Type element = type.getElementType();
  if (!element.isF16() && !element.isBF16() && !element.isF32())
    return emitOpError("maps f16, bf16 or f32 buffers, got ") << element;
  int64_t elementBytes = element.isF32() ? 4 : 2;
  ArrayRef<int64_t> box = getBox();
  if (static_cast<int64_t>(box.size()) != type.getRank() || box.empty() ||
      box.size() > 5)
    return emitOpError("box must have one size per dimension of the "
                       "buffer (rank 1 to 5), got ")
           << box.size() << " for rank " << type.getRank();
  for (int64_t d : box)
    if (d < 1 || d > 256)
      return emitOpError("box sizes must be in [1, 256], got ") << d;
  if (box[0] * elementBytes % 16 != 0 || box[0] * elementBytes > 128)
    return emitOpError("the innermost box size must span a multiple of 16 "
                       "bytes, at most 128 (the 128-byte swizzle), got ")
           << box[0] << " elements";
  if (!type.isLastDimUnitStride())
    return emitOpError("the buffer's innermost stride must be 1");
  return success();
}

//===----------------------------------------------------------------------===//
// PagedRowsOp
//===----------------------------------------------------------------------===//

LogicalResult PagedRowsOp::verify() {
  auto cache = cast<RankedTensorType>(getCache().getType());
  auto table = cast<RankedTensorType>(getBlockTable().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (cache.getRank() != 4)
    return emitOpError("expected a paged cache [num_pages, page_size, H, D], "
                       "got rank ")
           << cache.getRank();
  if (cache.isDynamicDim(1) || cache.getDimSize(1) < 1)
    return emitOpError("the page size (dimension 1 of the cache) must be "
                       "static and positive");
  if (table.getRank() != 2 || !table.getElementType().isSignlessInteger(32))
    return emitOpError("expected an i32 block table [B, max_pages], got ")
           << table;
  if (result.getRank() != 2 ||
      result.getElementType() != cache.getElementType() ||
      result.getDimSize(1) != cache.getDimSize(3))
    return emitOpError("expected rows [count, D] of the cache's element "
                       "type and D, got ")
           << result;
  // The result holds `count` rows: a static size only where count is that
  // constant.
  if (!result.isDynamicDim(0)) {
    std::optional<int64_t> count = getConstantIntValue(getCount());
    if (!count || *count != result.getDimSize(0))
      return emitOpError("a result of ")
             << result.getDimSize(0)
             << " rows needs a constant count of as many, got "
             << (count ? std::to_string(*count) : std::string("a dynamic one"));
  }
  return success();
}
