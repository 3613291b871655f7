//===- KernelArtifacts.h - PTX, cubin and launch metadata -------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Runs the fa-compile pipeline on a module and returns, per kernel, the
// triple a runtime loads: PTX text, cubin bytes, and launch metadata (JSON).
//
//===----------------------------------------------------------------------===//

#ifndef FA_PIPELINES_KERNELARTIFACTS_H
#define FA_PIPELINES_KERNELARTIFACTS_H

#include "fa/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::fa {

struct KernelArtifacts {
  std::string kernelName;
  std::string ptx;
  std::string cubin; // empty when options.format is Ptx
  /// Launch metadata: kernel name, argument order and ABI, grid as a
  /// function of runtime sizes, block size, dynamic shared memory, tile
  /// config, what the kernel computes, compiler version.
  std::string metadataJson;
};

/// The compiler identification written into the metadata.
std::string getFACompilerVersion();

/// Wall-clock seconds of the phases of one compile.
struct CompilePhaseTimes {
  /// fa.attention to the gpu dialect (tiling, fusion, the strategy).
  double lowerToGPU = 0;
  /// gpu/nvgpu/vector to the NVVM and LLVM dialects.
  double gpuToNVVM = 0;
  /// The LLVM NVPTX backend (translation, O3, PTX), all kernels.
  double llvmBackend = 0;
  /// Waiting for ptxas (and fatbinary for a fatbin): what the assembly adds
  /// to the compile. A kernel's ptxas runs while the backend works on the
  /// next kernel, so with several kernels this is less than assemblerSpan.
  double assemble = 0;
  /// From the first ptxas started to the last one done (0 for PTX only).
  double assemblerSpan = 0;
};

/// Compiles every fa.attention of `module` (which is consumed: it ends at
/// the NVVM level) and returns one KernelArtifacts per kernel, in order.
/// Errors are reported as diagnostics on the module's context. `times`,
/// when given, receives the time each phase took.
FailureOr<std::vector<KernelArtifacts>>
compileAttentionKernels(ModuleOp module, const FACompileOptions &options,
                        CompilePhaseTimes *times = nullptr);

} // namespace mlir::fa

#endif // FA_PIPELINES_KERNELARTIFACTS_H
