//===- LowerTensorMapArguments.cpp - fa-lower-tensor-map-arguments --------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Turns the trailing `!llvm.ptr` arguments that a kernel's `fa.tensor_maps`
// attribute counts into 128-byte by-value grid constants (CUtensorMap), once
// the kernel is an llvm.func.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/FAToGPU/FAToGPU.h"
#include "fa/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::fa {
#define GEN_PASS_DEF_FALOWERTENSORMAPARGUMENTS
#include "fa/Conversion/Passes.h.inc"
} // namespace mlir::fa

using namespace mlir;

namespace {

struct LowerTensorMapArguments
    : fa::impl::FALowerTensorMapArgumentsBase<LowerTensorMapArguments> {
  void runOnOperation() override {
    WalkResult result = getOperation()->walk([](LLVM::LLVMFuncOp func) {
      auto count = func->getAttrOfType<IntegerAttr>(fa::kTensorMapsAttrName);
      if (!count)
        return WalkResult::advance();
      int64_t maps = count.getInt();
      int64_t arguments = func.getFunctionType().getNumParams();
      if (maps < 0 || maps > arguments) {
        func.emitError() << "'" << fa::kTensorMapsAttrName << "' counts "
                         << maps << " tensor-map arguments, but the kernel has "
                         << arguments;
        return WalkResult::interrupt();
      }
      MLIRContext *ctx = func.getContext();
      Builder b(ctx);
      auto mapType = LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8),
                                              fa::kTensorMapBytes);
      // (From the function type: a declaration has no block arguments.)
      ArrayRef<Type> types = func.getFunctionType().getParams();
      for (int64_t i = arguments - maps; i < arguments; ++i) {
        auto pointer = dyn_cast<LLVM::LLVMPointerType>(types[i]);
        if (!pointer || pointer.getAddressSpace() != 0) {
          func.emitError() << "tensor-map argument " << i << " must be a "
                           << "generic !llvm.ptr, not " << types[i];
          return WalkResult::interrupt();
        }
        func.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                        TypeAttr::get(mapType));
        func.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                        b.getI64IntegerAttr(fa::kTensorMapAlignment));
        func.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(),
                        b.getUnitAttr());
      }
      func->removeAttr(fa::kTensorMapsAttrName);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
