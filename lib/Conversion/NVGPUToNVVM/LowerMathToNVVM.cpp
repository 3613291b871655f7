//===- LowerMathToNVVM.cpp - fa-lower-math-to-nvvm ------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Upstream convert-gpu-to-nvvm lowers most math ops to libdevice calls
// (__nv_expf, __nv_tanhf, __nv_sqrtf, ...). That ties every kernel to the
// CUDA toolkit's libdevice (the PTX has unresolved externs without it), and
// a score_mod may use any math op of its allow-list. This pass lowers them
// all without libdevice:
//
//   with `afn` (approximate functions allowed), f32:
//     math.exp2  -> llvm.nvvm.ex2.approx.ftz.f32       (one MUFU.EX2)
//     math.exp   -> ex2.approx.ftz(x * log2 e)
//     math.log   -> llvm.nvvm.lg2.approx.ftz.f * ln 2  (one MUFU.LG2)
//     math.log2  -> llvm.nvvm.lg2.approx.ftz.f
//     math.log10 -> log2 * log10(2), its log2 as above (either way)
//     math.tanh  -> tanh.approx.f32 (inline PTX)       (one MUFU.TANH)
//     math.sin, math.cos -> llvm.nvvm.{sin,cos}.approx.ftz.f
//   otherwise (accurate):
//     tanh: upstream's rational approximation, its division by a
//       reciprocal and a Newton step (no div.rn range check);
//     exp, log, log2, log1p, expm1, erf, atan, atan2, sin, cos:
//       upstream polynomial approximations (f16/bf16 computed in f32);
//     sinh, cosh, tan, powf: upstream expansions into the above;
//     exp2, sqrt, rsqrt, absf, absi, floor, ceil, trunc, round, roundeven,
//     copysign, fma, arith.maxnumf: LLVM intrinsics NVPTX implements.
//
// A math op left after that (e.g. f64 transcendentals) is an error that
// names it, not a kernel that needs libdevice.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/DenseSet.h"

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

/// `name` is an NVVM intrinsic, or "asm:<ptx>" for an instruction LLVM has
/// no intrinsic for (tanh.approx.f32, sm_75 and newer).
Value callIntrinsic(OpBuilder &rewriter, Location loc, StringRef name,
                    Value operand) {
  if (name.consume_front("asm:"))
    return LLVM::InlineAsmOp::create(
               rewriter, loc, operand.getType(), ValueRange{operand},
               (name + " $0, $1;").str(), "=f,f", /*has_side_effects=*/false,
               /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
               /*asm_dialect=*/nullptr, /*operand_attrs=*/nullptr)
        .getRes();
  return LLVM::CallIntrinsicOp::create(rewriter, loc, operand.getType(),
                                       rewriter.getStringAttr(name),
                                       ValueRange{operand})
      .getResult(0);
}

Value f32Constant(PatternRewriter &rewriter, Location loc, double value) {
  return LLVM::ConstantOp::create(
      rewriter, loc, rewriter.getF32Type(),
      rewriter.getF32FloatAttr(static_cast<float>(value)));
}

/// An `afn` f32 math op -> one MUFU intrinsic, with its argument scaled by
/// `before` and its result by `after` (1 for none).
template <typename MathOp>
struct LowerToApproxIntrinsic : OpRewritePattern<MathOp> {
  LowerToApproxIntrinsic(MLIRContext *ctx, StringRef intrinsic,
                         double before = 1.0, double after = 1.0)
      : OpRewritePattern<MathOp>(ctx, /*benefit=*/10), intrinsic(intrinsic),
        before(before), after(after) {}

  LogicalResult matchAndRewrite(MathOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "the MUFU approximations are f32");
    if (!allowsApproximation(op.getFastmath()))
      return rewriter.notifyMatchFailure(op, "accurate result requested");
    Location loc = op.getLoc();
    Value x = op.getOperand();
    if (before != 1.0)
      x = LLVM::FMulOp::create(rewriter, loc, x,
                               f32Constant(rewriter, loc, before));
    Value result = callIntrinsic(rewriter, loc, intrinsic, x);
    if (after != 1.0)
      result = LLVM::FMulOp::create(rewriter, loc, result,
                                    f32Constant(rewriter, loc, after));
    rewriter.replaceOp(op, result);
    return success();
  }

  std::string intrinsic;
  double before, after;
};

/// The LLVM type suffix of an intrinsic on `type` (f32, bf16, i64, ...).
std::string typeSuffix(Type type) {
  std::string suffix;
  llvm::raw_string_ostream os(suffix);
  if (auto integer = dyn_cast<IntegerType>(type))
    os << "i" << integer.getWidth();
  else
    os << type;
  return suffix;
}

/// A math op -> the LLVM intrinsic `name`.<type> of the same operands, which
/// NVPTX implements. (Through llvm.call_intrinsic: convert-gpu-to-nvvm marks
/// the LLVM dialect's own intrinsic ops illegal and would turn them into
/// libdevice calls.)
template <typename MathOp>
struct LowerToLLVMIntrinsic : OpRewritePattern<MathOp> {
  LowerToLLVMIntrinsic(MLIRContext *ctx, StringRef name)
      : OpRewritePattern<MathOp>(ctx), name(name) {}
  LogicalResult matchAndRewrite(MathOp op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    // Floats LLVM has (not f8, f4 or tf32, which are left for the pass to
    // name); integers of any width (llvm.abs.iN).
    bool llvmFloat =
        type.isF16() || type.isBF16() || type.isF32() || type.isF64();
    if (!llvmFloat && !isa<IntegerType>(type))
      return rewriter.notifyMatchFailure(op, "no LLVM intrinsic on this type");
    SmallVector<Value> operands(op->getOperands());
    // llvm.abs takes an "is INT_MIN poison" flag: it is not.
    if (isa<IntegerType>(type))
      operands.push_back(LLVM::ConstantOp::create(
          rewriter, op.getLoc(), rewriter.getI1Type(),
          rewriter.getBoolAttr(false)));
    rewriter.replaceOp(
        op, LLVM::CallIntrinsicOp::create(
                rewriter, op.getLoc(), type,
                rewriter.getStringAttr(name + "." + typeSuffix(type)),
                operands)
                .getResult(0));
    return success();
  }
  std::string name;
};

/// math.absi on index -> on i64 (LLVM has no index type; the kernels'
/// index is 64 bits wide, and a narrower one still holds the value).
struct LowerIndexAbsI : OpRewritePattern<math::AbsIOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::AbsIOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isIndex())
      return rewriter.notifyMatchFailure(op, "not on index");
    Location loc = op.getLoc();
    Value wide = arith::IndexCastOp::create(
        rewriter, loc, rewriter.getI64Type(), op.getOperand());
    Value abs = math::AbsIOp::create(rewriter, loc, wide);
    rewriter.replaceOpWithNewOp<arith::IndexCastOp>(op, op.getType(), abs);
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

/// math.rsqrt -> 1 / sqrt (accurate).
struct LowerRsqrt : OpRewritePattern<math::RsqrtOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::RsqrtOp op,
                                PatternRewriter &rewriter) const override {
    if (!isa<FloatType>(op.getType()))
      return rewriter.notifyMatchFailure(op, "scalars only");
    Location loc = op.getLoc();
    Value one = arith::ConstantOp::create(
        rewriter, loc, rewriter.getFloatAttr(op.getType(), 1.0));
    Value root = math::SqrtOp::create(rewriter, loc, op.getOperand());
    rewriter.replaceOpWithNewOp<arith::DivFOp>(op, one, root);
    return success();
  }
};

/// math.log10 -> log2(x) * log10(2), with the op's fastmath flags: its log2
/// becomes MUFU.LG2 with `afn`, else the accurate polynomial (f16/bf16 in
/// f32). (f64 is left, and refused with the other f64 transcendentals.)
struct LowerLog10 : OpRewritePattern<math::Log10Op> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::Log10Op op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!type.isF32() && !type.isF16() && !type.isBF16())
      return rewriter.notifyMatchFailure(op, "f32, f16 and bf16 only");
    Location loc = op.getLoc();
    Value log2 =
        math::Log2Op::create(rewriter, loc, op.getOperand(), op.getFastmath());
    Value factor = arith::ConstantOp::create(
        rewriter, loc, rewriter.getFloatAttr(type, M_LN2 / M_LN10));
    rewriter.replaceOpWithNewOp<arith::MulFOp>(op, log2, factor,
                                               op.getFastmath());
    return success();
  }
};

/// The ops this pass lowers: math's, and arith.maxnumf.
bool isMathOp(Operation *op) {
  return isa<arith::MaxNumFOp>(op) ||
         (op->getDialect() && op->getDialect()->getNamespace() == "math");
}

/// `numerator / denominator` (f32) as a reciprocal and one Newton step:
///   r = rcp.approx(d), y = n * r, y += r * fma(-d, y, n).
/// The residual fma(-d, y, n) is exact, so y is within about half an ulp of
/// the quotient, without div.rn's range check and its branch to a slow path.
/// Only for denominators known to be normal and far from overflow.
Value reciprocalDivide(OpBuilder &b, Location loc, Value numerator,
                       Value denominator) {
  // (The math.fma ops become llvm.fma.f32 in the pass's main run.)
  Value r = callIntrinsic(b, loc, "llvm.nvvm.rcp.approx.ftz.f", denominator);
  Value y = LLVM::FMulOp::create(b, loc, numerator, r);
  Value negated = LLVM::FNegOp::create(b, loc, denominator);
  Value residual = math::FmaOp::create(b, loc, negated, y, numerator);
  return math::FmaOp::create(b, loc, residual, r, y);
}

/// The accurate tanh: upstream's rational approximation (f16/bf16 computed
/// in f32), with its one division done by reciprocalDivide. Upstream clamps
/// x to [-7.99, 7.99] and divides x p(x^2) by q(x^2), a polynomial with
/// positive coefficients: q lies in [q(0), q(64)] = [4.9e-3, 0.95], so the
/// reciprocal needs no range check (fa-lower-math-to-nvvm.mlir pins those
/// coefficients). Per element that saves div.rn's check and branch, which
/// made the accurate softcap run at a third of the hardware tanh's speed.
LogicalResult lowerAccurateTanh(Operation *root) {
  SmallVector<Operation *> tanhs;
  llvm::DenseSet<Operation *> divisionsBefore;
  root->walk([&](Operation *op) {
    if (auto tanh = dyn_cast<math::TanhOp>(op)) {
      if (!allowsApproximation(tanh.getFastmath()) &&
          isa<Float32Type, Float16Type, BFloat16Type>(tanh.getType()))
        tanhs.push_back(op);
    } else if (isa<arith::DivFOp>(op)) {
      divisionsBefore.insert(op);
    }
  });
  if (tanhs.empty())
    return success();
  RewritePatternSet patterns(root->getContext());
  auto isTanh = [](StringRef name) {
    name.consume_front("math.");
    return name == "tanh";
  };
  populateMathF32ExpansionPatterns(patterns, isTanh);
  populateMathPolynomialApproximationPatterns(patterns, isTanh);
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
  if (failed(applyOpPatternsGreedily(tanhs, std::move(patterns), config)))
    return failure();
  SmallVector<arith::DivFOp> created;
  root->walk([&](arith::DivFOp op) {
    if (!divisionsBefore.contains(op) && op.getType().isF32())
      created.push_back(op);
  });
  for (arith::DivFOp division : created) {
    OpBuilder b(division);
    division.replaceAllUsesWith(reciprocalDivide(
        b, division.getLoc(), division.getLhs(), division.getRhs()));
    division.erase();
  }
  return success();
}

struct FALowerMathToNVVMPass
    : public fa::impl::FALowerMathToNVVMBase<FALowerMathToNVVMPass> {
  void runOnOperation() override {
    // The kernels' math is scalar (the score regions' verifier allows only
    // scalar ops); upstream's approximations of vector math would need the
    // vector dialect and a lowering of its ops that this pipeline has not.
    WalkResult shaped = getOperation()->walk([](Operation *op) {
      if (isMathOp(op) && llvm::any_of(op->getResultTypes(), [](Type type) {
            return isa<ShapedType>(type);
          })) {
        op->emitError("fa-lower-math-to-nvvm: '")
            << op->getName() << "' on " << op->getResultTypes()
            << ": only scalar math is lowered";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (shaped.wasInterrupted() || failed(lowerAccurateTanh(getOperation())))
      return signalPassFailure();
    // Only the math ops (and maxnumf) and what their rewrites create are
    // visited: a greedy run over the whole (fully unrolled, large) kernel
    // would fold and revisit every op.
    SmallVector<Operation *> targets;
    getOperation()->walk([&](Operation *op) {
      if (isMathOp(op))
        targets.push_back(op);
    });
    if (targets.empty())
      return;
    RewritePatternSet patterns(&getContext());
    fa::populateLowerMathToNVVMPatterns(patterns);
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    if (failed(applyOpPatternsGreedily(targets, std::move(patterns), config)))
      return signalPassFailure();
    // Whatever is left would need libdevice.
    WalkResult leftover = getOperation()->walk([](Operation *op) {
      if (op->getDialect() && op->getDialect()->getNamespace() == "math") {
        op->emitError("fa-lower-math-to-nvvm: cannot lower '")
            << op->getName() << "' on " << op->getResultTypes()
            << " without libdevice; use f32 (or f16/bf16) arithmetic in the "
               "score_mod";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (leftover.wasInterrupted())
      return signalPassFailure();
  }
};

} // namespace

void mlir::fa::populateLowerMathToNVVMPatterns(RewritePatternSet &patterns) {
  MLIRContext *ctx = patterns.getContext();
  // afn: one MUFU instruction each.
  patterns.add<LowerToApproxIntrinsic<math::Exp2Op>>(
      ctx, "llvm.nvvm.ex2.approx.ftz.f32");
  patterns.add<LowerToApproxIntrinsic<math::ExpOp>>(
      ctx, "llvm.nvvm.ex2.approx.ftz.f32", M_LOG2E);
  patterns.add<LowerToApproxIntrinsic<math::LogOp>>(
      ctx, "llvm.nvvm.lg2.approx.ftz.f", 1.0, M_LN2);
  patterns.add<LowerToApproxIntrinsic<math::Log2Op>>(
      ctx, "llvm.nvvm.lg2.approx.ftz.f");
  patterns.add<LowerToApproxIntrinsic<math::TanhOp>>(ctx,
                                                     "asm:tanh.approx.f32");
  patterns.add<LowerToApproxIntrinsic<math::SinOp>>(ctx,
                                                    "llvm.nvvm.sin.approx.ftz.f");
  patterns.add<LowerToApproxIntrinsic<math::CosOp>>(ctx,
                                                    "llvm.nvvm.cos.approx.ftz.f");
  // Accurate: expansions and polynomial approximations (f16/bf16 in f32).
  math::populateExpansionPatterns(patterns,
                                  {"sinh", "cosh", "tan", "powf", "fpowi"});
  patterns.add<LowerRsqrt, LowerLog10>(ctx);
  // (The predicate sees op names with or without the dialect prefix,
  // depending on the pattern.)
  auto approximated = [](StringRef name) {
    name.consume_front("math.");
    return llvm::is_contained({"tanh", "log", "log2", "log1p", "exp", "expm1",
                               "erf", "atan", "atan2", "sin", "cos"},
                              name);
  };
  populateMathF32ExpansionPatterns(patterns, approximated);
  populateMathPolynomialApproximationPatterns(patterns, approximated);
  // LLVM intrinsics.
  patterns.add<LowerToLLVMIntrinsic<math::Exp2Op>>(ctx, "llvm.exp2");
  patterns.add<LowerToLLVMIntrinsic<math::SqrtOp>>(ctx, "llvm.sqrt");
  patterns.add<LowerToLLVMIntrinsic<math::AbsFOp>>(ctx, "llvm.fabs");
  patterns.add<LowerToLLVMIntrinsic<math::AbsIOp>>(ctx, "llvm.abs");
  patterns.add<LowerToLLVMIntrinsic<math::FloorOp>>(ctx, "llvm.floor");
  patterns.add<LowerToLLVMIntrinsic<math::CeilOp>>(ctx, "llvm.ceil");
  patterns.add<LowerToLLVMIntrinsic<math::TruncOp>>(ctx, "llvm.trunc");
  patterns.add<LowerToLLVMIntrinsic<math::RoundOp>>(ctx, "llvm.round");
  patterns.add<LowerToLLVMIntrinsic<math::RoundEvenOp>>(ctx,
                                                        "llvm.roundeven");
  patterns.add<LowerToLLVMIntrinsic<math::CopySignOp>>(ctx, "llvm.copysign");
  patterns.add<LowerToLLVMIntrinsic<math::FmaOp>>(ctx, "llvm.fma");
  patterns.add<LowerIndexAbsI, LowerMaxNum>(ctx);
}
