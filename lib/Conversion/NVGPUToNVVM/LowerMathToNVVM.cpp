//===- LowerMathToNVVM.cpp - fa-lower-math-to-nvvm ------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Upstream convert-gpu-to-nvvm lowers f32 math.exp2, math.log, math.fma and
// arith.maxnumf to libdevice calls (__nv_exp2f, __nv_logf, __nv_fmaf,
// __nv_fmaxf). That ties every kernel to the CUDA toolkit's libdevice (the
// PTX has unresolved externs without it), and __nv_exp2f keeps denormal
// results at the cost of a fix-up around each MUFU.EX2. This pass lowers the
// f32 math of the attention kernels straight to LLVM/NVVM intrinsics:
//
//   math.exp2 {afn}  -> llvm.nvvm.ex2.approx.ftz.f32       (one MUFU.EX2)
//   math.log {afn}   -> llvm.nvvm.lg2.approx.ftz.f * ln 2  (one MUFU.LG2)
//   math.fma         -> llvm.intr.fma                      (fma.rn.f32)
//   arith.maxnumf    -> llvm.intr.maxnum                   (max.f32)
//
// exp2 and log without `afn` (approximate functions allowed) and other types
// are left to the upstream lowering.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::fa {
#define GEN_PASS_DEF_FALOWERMATHTONVVM
#include "fa/Conversion/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;

namespace {

bool allowsApproximation(arith::FastMathFlags flags) {
  return bitEnumContainsAll(flags, arith::FastMathFlags::afn);
}

Value callIntrinsic(PatternRewriter &rewriter, Location loc, StringRef name,
                    Value operand) {
  return LLVM::CallIntrinsicOp::create(rewriter, loc, operand.getType(),
                                       rewriter.getStringAttr(name),
                                       ValueRange{operand})
      .getResult(0);
}

struct LowerApproxExp2 : OpRewritePattern<math::Exp2Op> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::Exp2Op op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 has ex2.approx.ftz");
    if (!allowsApproximation(op.getFastmath()))
      return rewriter.notifyMatchFailure(op, "exact exp2 requested (no afn)");
    rewriter.replaceOp(op, callIntrinsic(rewriter, op.getLoc(),
                                         "llvm.nvvm.ex2.approx.ftz.f32",
                                         op.getOperand()));
    return success();
  }
};

struct LowerApproxLog : OpRewritePattern<math::LogOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::LogOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 has lg2.approx.ftz");
    if (!allowsApproximation(op.getFastmath()))
      return rewriter.notifyMatchFailure(op, "exact log requested (no afn)");
    Location loc = op.getLoc();
    Value log2 = callIntrinsic(rewriter, loc, "llvm.nvvm.lg2.approx.ftz.f",
                               op.getOperand());
    Value ln2 = LLVM::ConstantOp::create(
        rewriter, loc, rewriter.getF32Type(),
        rewriter.getF32FloatAttr(static_cast<float>(M_LN2)));
    rewriter.replaceOpWithNewOp<LLVM::FMulOp>(op, log2, ln2);
    return success();
  }
};

struct LowerFma : OpRewritePattern<math::FmaOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::FmaOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "not a scalar f32 fma");
    rewriter.replaceOpWithNewOp<LLVM::FMAOp>(op, op.getA(), op.getB(),
                                             op.getC());
    return success();
  }
};

struct LowerMaxNum : OpRewritePattern<arith::MaxNumFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(arith::MaxNumFOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "not a scalar f32 max");
    rewriter.replaceOpWithNewOp<LLVM::MaxNumOp>(op, op.getLhs(), op.getRhs());
    return success();
  }
};

struct FALowerMathToNVVMPass
    : public fa::impl::FALowerMathToNVVMBase<FALowerMathToNVVMPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    fa::populateLowerMathToNVVMPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::fa::populateLowerMathToNVVMPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerApproxExp2, LowerApproxLog, LowerFma, LowerMaxNum>(
      patterns.getContext());
}
