//===- LowerBF16MmaSync.cpp - fa-lower-bf16-mma-sync ----------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// MLIR 22's convert-nvgpu-to-nvvm handles f16 nvgpu.mma.sync but fails to
// deduce PTX types for bf16. This fills that gap for the one shape the
// attention kernels use (m16n8k16, bf16 x bf16 -> f32), at the vector level,
// so the upstream conversions lower everything around it.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::fa {
#define GEN_PASS_DEF_FALOWERBF16MMASYNC
#include "fa/Conversion/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;

/// The 32-bit registers an A or B fragment was unpacked into, by fragment.
using FragmentRegisters = llvm::DenseMap<Value, SmallVector<Value, 4>>;

/// Why `op` is not the mma.sync this file lowers; null when it is.
static const char *unsupportedReason(nvgpu::MmaSyncOp op) {
  auto aType = cast<VectorType>(op.getMatrixA().getType());
  auto bType = cast<VectorType>(op.getMatrixB().getType());
  auto cType = cast<VectorType>(op.getMatrixC().getType());
  if (!aType.getElementType().isBF16() || !bType.getElementType().isBF16())
    return "not a bf16 mma.sync";
  SmallVector<int64_t> shape;
  for (Attribute dim : op.getMmaShape())
    shape.push_back(cast<IntegerAttr>(dim).getInt());
  if (shape != ArrayRef<int64_t>{16, 8, 16} ||
      aType.getShape() != ArrayRef<int64_t>{4, 2} ||
      bType.getShape() != ArrayRef<int64_t>{2, 2} ||
      cType.getShape() != ArrayRef<int64_t>{2, 2} ||
      !cType.getElementType().isF32())
    return "only m16n8k16 bf16 x bf16 -> f32 is handled";
  return nullptr;
}

/// Each row of an A/B fragment is one 32-bit register of two bf16. With
/// `unpacked`, a fragment is unpacked once, right after its definition
/// (which dominates every mma that reads it), and the registers are shared;
/// without, at the rewriter's insertion point.
static SmallVector<Value, 4> fragmentRegisters(RewriterBase &rewriter,
                                               Value fragment,
                                               FragmentRegisters *unpacked) {
  if (unpacked) {
    auto it = unpacked->find(fragment);
    if (it != unpacked->end())
      return it->second;
  }
  OpBuilder::InsertionGuard guard(rewriter);
  if (unpacked)
    rewriter.setInsertionPointAfterValue(fragment);
  Location loc = fragment.getLoc();
  auto packedType = VectorType::get({1}, rewriter.getI32Type());
  int64_t rows = cast<VectorType>(fragment.getType()).getDimSize(0);
  SmallVector<Value, 4> registers;
  for (int64_t r = 0; r < rows; ++r) {
    Value row = vector::ExtractOp::create(rewriter, loc, fragment, r);
    Value packed = vector::BitCastOp::create(rewriter, loc, packedType, row);
    registers.push_back(vector::ExtractOp::create(rewriter, loc, packed, 0));
  }
  if (unpacked)
    (*unpacked)[fragment] = registers;
  return registers;
}

/// Replaces `op` (checked by unsupportedReason) with nvvm.mma.sync.
static void lowerBF16MmaSync(RewriterBase &rewriter, nvgpu::MmaSyncOp op,
                             FragmentRegisters *unpacked) {
  Location loc = op.getLoc();
  SmallVector<int64_t> shape;
  for (Attribute dim : op.getMmaShape())
    shape.push_back(cast<IntegerAttr>(dim).getInt());
  SmallVector<Value, 4> a =
      fragmentRegisters(rewriter, op.getMatrixA(), unpacked);
  SmallVector<Value, 4> b =
      fragmentRegisters(rewriter, op.getMatrixB(), unpacked);
  SmallVector<Value> c;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j)
      c.push_back(vector::ExtractOp::create(rewriter, loc, op.getMatrixC(),
                                            ArrayRef<int64_t>{i, j}));

  Type f32 = rewriter.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(rewriter.getContext(),
                                                     {f32, f32, f32, f32});
  auto mma = NVVM::MmaOp::create(
      rewriter, loc, resultType, a, b, c, shape,
      /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value> d;
  for (int64_t i = 0; i < 4; ++i)
    d.push_back(LLVM::ExtractValueOp::create(rewriter, loc, mma, i));
  rewriter.replaceOpWithNewOp<vector::FromElementsOp>(
      op, op.getMatrixC().getType(), d);
}

namespace {

struct LowerBF16MmaSync : OpRewritePattern<nvgpu::MmaSyncOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(nvgpu::MmaSyncOp op,
                                PatternRewriter &rewriter) const override {
    if (const char *reason = unsupportedReason(op))
      return rewriter.notifyMatchFailure(op, reason);
    lowerBF16MmaSync(rewriter, op, /*unpacked=*/nullptr);
    return success();
  }
};

/// One walk, no greedy driver: the rewrite makes nothing it would match
/// again, and the greedy driver's folding of the whole kernel is left to the
/// cse after the conversion (the PTX is the same). Mma.syncs share
/// fragments (the kernel of examples/attention.mlir: 384 mma.syncs, 44 A
/// and 186 B fragments), so each is unpacked once: 560 bitcasts, not 2304,
/// for the conversions that follow.
struct FALowerBF16MmaSyncPass
    : public fa::impl::FALowerBF16MmaSyncBase<FALowerBF16MmaSyncPass> {
  void runOnOperation() override {
    SmallVector<nvgpu::MmaSyncOp> mmas;
    // A bf16 mma.sync of another shape would reach convert-nvgpu-to-nvvm,
    // which reports it and goes on (the op stays, the pipeline succeeds):
    // an error here.
    WalkResult result = getOperation()->walk([&](nvgpu::MmaSyncOp op) {
      const char *reason = unsupportedReason(op);
      if (!reason) {
        mmas.push_back(op);
        return WalkResult::advance();
      }
      auto aType = cast<VectorType>(op.getMatrixA().getType());
      auto bType = cast<VectorType>(op.getMatrixB().getType());
      if (!aType.getElementType().isBF16() && !bType.getElementType().isBF16())
        return WalkResult::advance();
      op.emitOpError("has bf16 operands: ") << reason;
      return WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      return signalPassFailure();
    IRRewriter rewriter(&getContext());
    FragmentRegisters unpacked;
    for (nvgpu::MmaSyncOp op : mmas) {
      rewriter.setInsertionPoint(op);
      lowerBF16MmaSync(rewriter, op, &unpacked);
    }
  }
};

} // namespace

void mlir::fa::populateLowerBF16MmaSyncPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerBF16MmaSync>(patterns.getContext());
}
