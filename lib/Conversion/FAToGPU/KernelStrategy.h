//===- KernelStrategy.h - Which strategy builds a tile's kernel -*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// fa-lower-to-gpu's one entry into the strategies: the kernel of a fused
// attention tile, built by the strategy the options name (or auto's
// choice), with the block size and shared memory its launch needs.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_KERNELSTRATEGY_H
#define FA_LIB_CONVERSION_FATOGPU_KERNELSTRATEGY_H

#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::fa::detail {

/// A kernel a strategy built, and what its launch needs.
struct StrategyKernel {
  gpu::GPUFuncOp kernel;
  int64_t threads = 0;
  int64_t sharedMemory = 0;
};

/// Builds the kernel of `tile` at the end of `module` with the strategy
/// `options` name; strategy=auto takes hopper-ws where the chip, the tile
/// and the options allow it, else mma-sync. An option the strategy does not
/// take is an error that names it (and, for auto, why mma-sync was chosen).
/// On failure, after a diagnostic, `module` may hold a partial kernel: the
/// caller erases it.
FailureOr<StrategyKernel> buildStrategyKernel(RewriterBase &rewriter,
                                              gpu::GPUModuleOp module,
                                              const FusedAttentionTile &tile,
                                              const AttentionKernelSpec &spec,
                                              const FAToGPUOptions &options,
                                              Location loc);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_KERNELSTRATEGY_H
