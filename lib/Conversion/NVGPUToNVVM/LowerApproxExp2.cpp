//===- LowerApproxExp2.cpp - fa-lower-approx-exp2 -------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Upstream convert-gpu-to-nvvm lowers every f32 math.exp2 to libdevice's
// __nv_exp2f, which keeps denormal results (ex2.approx.f32 plus a fix-up in
// SASS). The attention kernels only need exp2 of non-positive arguments with
// the accuracy of the MUFU unit, so an exp2 that carries the `afn`
// (approximate functions) fast-math flag becomes the bare hardware
// instruction, ex2.approx.ftz.f32: one MUFU.EX2 per probability. Exp2 without
// `afn` keeps the upstream (libdevice) lowering.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::fa {
#define GEN_PASS_DEF_FALOWERAPPROXEXP2
#include "fa/Conversion/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;

namespace {

struct LowerApproxExp2 : OpRewritePattern<math::Exp2Op> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(math::Exp2Op op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 has ex2.approx.ftz");
    if (!bitEnumContainsAll(op.getFastmath(), arith::FastMathFlags::afn))
      return rewriter.notifyMatchFailure(op, "exact exp2 requested (no afn)");
    auto call = LLVM::CallIntrinsicOp::create(
        rewriter, op.getLoc(), op.getType(),
        rewriter.getStringAttr("llvm.nvvm.ex2.approx.ftz.f32"),
        ValueRange{op.getOperand()});
    rewriter.replaceOp(op, call.getResults());
    return success();
  }
};

struct FALowerApproxExp2Pass
    : public fa::impl::FALowerApproxExp2Base<FALowerApproxExp2Pass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    fa::populateLowerApproxExp2Patterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::fa::populateLowerApproxExp2Patterns(RewritePatternSet &patterns) {
  patterns.add<LowerApproxExp2>(patterns.getContext());
}
