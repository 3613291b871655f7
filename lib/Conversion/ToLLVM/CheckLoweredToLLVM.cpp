//===- CheckLoweredToLLVM.cpp - fa-check-lowered-to-llvm ------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Fails on the first op that a lowering to the LLVM dialect left behind, so
// that fa-lower-to-cpu reports IR it cannot lower instead of printing IR that
// only mlir-runner would reject.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::fa {
#define GEN_PASS_DEF_FACHECKLOWEREDTOLLVM
#include "fa/Conversion/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;

namespace {

struct CheckLoweredToLLVM
    : fa::impl::FACheckLoweredToLLVMBase<CheckLoweredToLLVM> {
  using Base::Base;

  void runOnOperation() override {
    if (kernelsOnly)
      return checkNoKernels();
    // The casts a partial conversion leaves are symptoms: report the op they
    // stand around, and a cast only when nothing else is left.
    Operation *unlowered = nullptr;
    Operation *cast = nullptr;
    getOperation()->walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isa<ModuleOp>(op) ||
          isa_and_nonnull<LLVM::LLVMDialect>(op->getDialect()))
        return WalkResult::advance();
      if (!isa<UnrealizedConversionCastOp>(op)) {
        unlowered = op;
        return WalkResult::interrupt();
      }
      if (!cast)
        cast = op;
      return WalkResult::advance();
    });
    Operation *culprit = unlowered ? unlowered : cast;
    if (culprit)
      fail(culprit, "");
  }

  /// Fails on the first GPU-dialect op or fa.tensor_map.
  void checkNoKernels() {
    getOperation()->walk<WalkOrder::PreOrder>([&](Operation *op) {
      bool gpu = op->getDialect() && op->getDialect()->getNamespace() == "gpu";
      if (!gpu && op->getName().getStringRef() != "fa.tensor_map")
        return WalkResult::advance();
      fail(op, ", not GPU kernels");
      return WalkResult::interrupt();
    });
  }

  /// One error at `op`'s location alone: the op (a whole gpu.module, say)
  /// is not part of the message.
  void fail(Operation *op, StringRef suffix) {
    emitError(op->getLoc())
        << "'" << op->getName()
        << "' was not lowered to the LLVM dialect: the CPU lowering covers "
           "fa.attention and the func, scf, cf, linalg, tensor, "
           "bufferization, memref, affine, arith, math, index and vector "
           "ops of its tiles"
        << suffix;
    signalPassFailure();
  }
};

} // namespace
