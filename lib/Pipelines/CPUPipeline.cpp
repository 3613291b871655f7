//===- CPUPipeline.cpp - fa.attention on the CPU --------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Pipelines/CPUPipeline.h"
#include "fa/Conversion/Passes.h"
#include "fa/Dialect/FA/Transforms/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace mlir::fa;

void mlir::fa::buildFALowerToCPUPipeline(OpPassManager &pm,
                                         const FALowerToCPUOptions &options) {
  // GPU kernels (fa-lower-to-gpu's output) are reported before anything is
  // lowered: bufferizing their launches ends in a verifier error.
  FACheckLoweredToLLVMOptions kernels;
  kernels.kernelsOnly = true;
  pm.addPass(createFACheckLoweredToLLVM(kernels));
  OpPassManager &func = pm.nest<func::FuncOp>();
  FATileAttentionOptions tile;
  tile.blockM = options.blockM;
  tile.blockN = options.blockN;
  tile.splitKV = options.splitKV;
  tile.packGQA = options.packGQA;
  func.addPass(createFATileAttention(tile));
  // The backward op has its own default tile sizes.
  FATileAttentionBackwardOptions backward;
  backward.dq =
      options.backwardDq == BackwardDq::Accumulate ? "accumulate" : "stage";
  func.addPass(createFATileAttentionBackward(backward));
  if (options.fuse)
    func.addPass(createFAFuseOnlineSoftmax());
  func.addPass(createFAExpandPagedRows());
  FAResolveSplitCountOptions resolve;
  resolve.slots = options.slots;
  func.addPass(createFAResolveSplitCount(resolve));

  // Tensors -> buffers across calls, so that @main passes its buffers to the
  // attention function. The key loops carry tiles they allocate.
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));

  // The forall over (batch, head, query tile) runs serially: scf.parallel
  // lowers to nested loops in convert-scf-to-cf.
  pm.addPass(createForallToParallelLoopPass());
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  // bf16 <-> f32 conversions as integer arithmetic: on x86-64 the f32 -> bf16
  // truncation is otherwise a call to __truncsfbf2, a runtime-library
  // function the JIT need not find.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));

  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createFACheckLoweredToLLVM());
}

void mlir::fa::registerFALowerToCPUPipeline() {
  PassPipelineRegistration<FALowerToCPUOptions>(
      "fa-lower-to-cpu",
      "fa.attention (or its tiled/fused tensor IR) to the LLVM dialect for "
      "mlir-runner: tile, fuse the online softmax, bufferize, lower to loops "
      "and to LLVM",
      buildFALowerToCPUPipeline);
}
