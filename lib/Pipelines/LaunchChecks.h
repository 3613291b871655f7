//===- LaunchChecks.h - fa.launch against the kernel and its launch -*- C++
//-*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_PIPELINES_LAUNCHCHECKS_H
#define FA_LIB_PIPELINES_LAUNCHCHECKS_H

#include "KernelMetadata.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::fa {
struct FACompileOptions;
} // namespace mlir::fa

namespace mlir::fa::detail {

/// Refuses host launches the launch JSON cannot describe: one tensor as two
/// kernel arguments, or a launch unlike the kernel's fa.launch (see the
/// definition).
LogicalResult checkHostLaunches(ModuleOp module);

/// The fa.launch of `func` against the kernel and the compile: a known
/// strategy, the compile's chip, the kernel's block size, shared memory the
/// chip has, positive tiles.
LogicalResult checkLaunchAgainstKernel(gpu::GPUFuncOp func,
                                       const KernelLaunchInfo &launch,
                                       const FACompileOptions &options);

/// Fills `record.arguments` with the kernel's memref arguments (those before
/// its tensor maps) and checks what the metadata writer relies on: their
/// types and ranks, the LSE, the tensor maps' arguments, and that the
/// kernel writes no argument the metadata gives as read-only.
LogicalResult collectKernelArguments(gpu::GPUFuncOp func, KernelRecord &record);

} // namespace mlir::fa::detail

#endif // FA_LIB_PIPELINES_LAUNCHCHECKS_H
