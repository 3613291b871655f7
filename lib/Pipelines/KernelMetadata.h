//===- KernelMetadata.h - The launch JSON of a kernel -----------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What the launch JSON of a compiled kernel says (README "GPU kernels"):
// its arguments, grid, block, shared memory and what it computes, for the
// one-kernel forward, the three kernels of a backward and the two of a
// split-KV forward. KernelArtifacts.cpp records the kernels; this writes
// their JSON.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_PIPELINES_KERNELMETADATA_H
#define FA_LIB_PIPELINES_KERNELMETADATA_H

#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/IR/BuiltinTypes.h"

#include "llvm/Support/JSON.h"

#include <optional>
#include <string>

namespace mlir::fa::detail {

/// What the metadata needs from the nvgpu-level kernel, which the NVVM
/// lowering erases.
struct KernelRecord {
  std::string module, kernel;
  KernelLaunchInfo launch;
  SmallVector<MemRefType> arguments;
  /// What the kernel computes, from the fa.attention it was compiled from
  /// (null when the input had no op to describe it).
  std::optional<llvm::json::Object> attention;
};

/// The launch JSON of `record`, pretty-printed.
std::string buildKernelMetadata(const KernelRecord &record);

/// Which of the kernel's memref arguments its launch metadata says it
/// writes (the outputs of its kind and stage; "writes" in the JSON). A
/// runtime may pass read-only or shared buffers for the others.
SmallVector<bool> getArgumentWrites(const KernelRecord &record);

} // namespace mlir::fa::detail

#endif // FA_LIB_PIPELINES_KERNELMETADATA_H
