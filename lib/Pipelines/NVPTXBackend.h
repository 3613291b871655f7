//===- NVPTXBackend.h - The LLVM NVPTX backend on one kernel ----*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// A kernel module (gpu.module with an #nvvm.target, in the LLVM dialect)
// through LLVM: translation, an optimization pipeline and the NVPTX code
// generator, to PTX. Upstream's NVVM serializer does the translation and
// the code generation; the optimization pipeline is chosen by
// FACompileOptions (llvm-passes, opt-level).
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_PIPELINES_NVPTXBACKEND_H
#define FA_LIB_PIPELINES_NVPTXBACKEND_H

#include "fa/Pipelines/Pipelines.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"

#include <string>

namespace mlir::fa::detail {

/// The LLVM optimization pipeline of llvm-passes=kernel at opt-level 3, in
/// the textual form of `opt -passes=`.
StringRef getKernelLLVMPipeline();

/// Runs the LLVM NVPTX backend on `gpuModule` (which stays as it is) and
/// returns its PTX, or reports an error at the module.
FailureOr<std::string> serializeToPTX(gpu::GPUModuleOp gpuModule,
                                      SymbolTable &symbols,
                                      const FACompileOptions &options);

} // namespace mlir::fa::detail

#endif // FA_LIB_PIPELINES_NVPTXBACKEND_H
