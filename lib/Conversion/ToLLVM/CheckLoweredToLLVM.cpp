//===- CheckLoweredToLLVM.cpp - fa-check-lowered-to-llvm ------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Fails on the first op that a lowering to the LLVM dialect left behind, so
// that fa-lower-to-cpu reports IR it cannot lower instead of printing IR that
// only mlir-runner would reject; with gpu-modules, on the first op of a
// kernel that the GPU lowering left outside the LLVM and NVVM dialects.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

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
    if (kernelsOnly && gpuModules) {
      emitError(getOperation()->getLoc())
          << "fa-check-lowered-to-llvm: kernels-only and gpu-modules are two "
             "different checks; give one";
      return signalPassFailure();
    }
    if (kernelsOnly)
      return checkNoKernels();
    if (!gpuModules) {
      if (Operation *culprit = findUnlowered(getOperation(), /*nvvm=*/false))
        fail(culprit, kCPUCoverage, "");
      return;
    }
    for (auto module : getOperation().getOps<gpu::GPUModuleOp>()) {
      if (Operation *culprit = findUnlowered(module, /*nvvm=*/true)) {
        fail(culprit, kGPUCoverage, "");
        return;
      }
    }
  }

  static constexpr StringLiteral kCPUCoverage =
      "the LLVM dialect: the CPU lowering covers fa.attention and the func, "
      "scf, cf, linalg, tensor, bufferization, memref, affine, arith, math, "
      "index and vector ops of its tiles";
  static constexpr StringLiteral kGPUCoverage =
      "the LLVM and NVVM dialects: the GPU lowering covers the gpu, nvgpu, "
      "nvvm, scf, cf, arith, math, index, ub, memref, affine and vector ops "
      "of the kernels fa-lower-to-gpu builds";

  /// The first op under `root` (not `root` itself) outside the LLVM (and,
  /// with `nvvm`, NVVM) dialect, or null. The casts a partial conversion
  /// leaves are symptoms: the op they stand around is reported, and a cast
  /// only when nothing else is left.
  static Operation *findUnlowered(Operation *root, bool nvvm) {
    Operation *unlowered = nullptr;
    Operation *cast = nullptr;
    root->walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (op == root || isa<ModuleOp>(op) ||
          isa_and_nonnull<LLVM::LLVMDialect>(op->getDialect()) ||
          (nvvm && isa_and_nonnull<NVVM::NVVMDialect>(op->getDialect())))
        return WalkResult::advance();
      if (!isa<UnrealizedConversionCastOp>(op)) {
        unlowered = op;
        return WalkResult::interrupt();
      }
      if (!cast)
        cast = op;
      return WalkResult::advance();
    });
    return unlowered ? unlowered : cast;
  }

  /// Fails on the first GPU-dialect op or fa.tensor_map.
  void checkNoKernels() {
    getOperation()->walk<WalkOrder::PreOrder>([&](Operation *op) {
      bool gpu = op->getDialect() && op->getDialect()->getNamespace() == "gpu";
      if (!gpu && op->getName().getStringRef() != "fa.tensor_map")
        return WalkResult::advance();
      fail(op, kCPUCoverage, ", not GPU kernels");
      return WalkResult::interrupt();
    });
  }

  /// One error at `op`'s location alone: the op (a whole gpu.module, say)
  /// is not part of the message.
  void fail(Operation *op, StringRef coverage, StringRef suffix) {
    emitError(op->getLoc()) << "'" << op->getName() << "' was not lowered to "
                            << coverage << suffix;
    signalPassFailure();
  }
};

} // namespace
