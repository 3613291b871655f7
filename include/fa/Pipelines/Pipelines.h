//===- Pipelines.h - fa-mlir pass pipelines ---------------------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The named pipeline `fa-compile`: fa.attention -> tiles -> online softmax ->
// GPU kernel -> NVVM -> gpu.binary (PTX or cubin). An embedding compiler
// calls buildFACompilePipeline on its own pass manager.
//
//===----------------------------------------------------------------------===//

#ifndef FA_PIPELINES_PIPELINES_H
#define FA_PIPELINES_PIPELINES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <string>

namespace mlir::fa {

/// What the gpu.binary of the pipeline holds.
enum class BinaryFormat { Ptx, Cubin, Fatbin };

/// The LLVM optimization pipeline of the kernels (FACompileOptions'
/// llvm-passes).
enum class LLVMPasses { Kernel, Default };

/// The options of a compile, from FACompileOptions.def (shared with the
/// fa-compile tool's flags).
struct FACompileOptions : public PassPipelineOptions<FACompileOptions> {
#define FA_COMPILE_OPTION(TYPE, MEMBER, FLAG, HELP, DEFAULT)                   \
  PassOptions::Option<TYPE> MEMBER{*this, FLAG, llvm::cl::desc(HELP),          \
                                   llvm::cl::init(DEFAULT)};
#define FA_COMPILE_ENUM_OPTION(TYPE, MEMBER, FLAG, HELP, DEFAULT, VALUES)      \
  PassOptions::Option<TYPE> MEMBER{*this, FLAG, llvm::cl::desc(HELP),          \
                                   llvm::cl::init(DEFAULT), VALUES};
#include "fa/Pipelines/FACompileOptions.def"
};

/// The deepest nesting of brackets ((, [, {, <) MLIR text may have: the
/// parser recurses once per level, and text nested much deeper (a few
/// thousand levels) overflows the stack; real IR nests a few dozen.
constexpr unsigned kMaxSourceNesting = 256;

/// An error message ("<line>:<column>: ...") when `source` nests brackets
/// deeper than kMaxSourceNesting outside string literals and comments, or
/// an affine_map/affine_set holds more operators (the affine parser
/// recurses per operator); empty when it does not. Run before parsing
/// text from elsewhere (modules and pass pipelines).
std::string checkSourceNesting(StringRef source);

/// What no pass checks before it is too late: the chip and opt level that
/// nvvm-attach-target writes (LLVM aborts serializing for a chip without
/// the kernel's instructions); the named values (strategy, split-kv,
/// backward-dq, persistent, epilogue), which compileAttentionKernels
/// would otherwise report as options the module has no use for; and, when
/// the compile `serializes`, a CUDA toolkit path that was asked for
/// (upstream's serializer reports a missing one and goes on with
/// another). The error message, empty when none. The named pipelines and
/// compileAttentionKernels run it first.
std::string checkCompileOptions(const FACompileOptions &options,
                                bool serializes);

/// Where the CUDA toolkit is, and who said so.
struct CUDAToolkitRoot {
  std::string path;
  /// "--cuda-path", "CUDA_HOME" or "CUDA_PATH"; empty for the default.
  std::string source;
};

/// The CUDA toolkit the serializer uses: `options.cudaPath`, else
/// $CUDA_HOME, $CUDA_PATH, else /usr/local/cuda.
CUDAToolkitRoot findCUDAToolkit(const FACompileOptions &options);
inline std::string getCUDAToolkitRoot(const FACompileOptions &options) {
  return findCUDAToolkit(options).path;
}

/// fa.attention -> gpu.launch_func + gpu.module at the nvgpu level.
/// The strategy the pipeline lowers with: `options.strategy`, except that
/// auto is mma-sync throughout where hopper-ws builds nothing (a chip
/// without wgmma, split tiles, packed GQA, options only mma-sync takes).
std::string getPipelineStrategy(const FACompileOptions &options);

void buildFALowerToGPUPipeline(OpPassManager &pm,
                               const FACompileOptions &options);

/// Makes the NVPTX backend address shared memory with 32-bit pointers (the
/// data layout `p3:32:32`), as clang's -fcuda-short-ptr and Triton do. The
/// kernels keep many shared-memory addresses live across the key loop; as
/// 64-bit values each took two registers, and at 32 rows per warp that
/// spilled. This sets the process-wide LLVM option `-nvptx-short-ptr`, so an
/// embedding compiler's other NVPTX target machines created afterwards see
/// it too. buildFAGPUToNVVMPipeline calls it.
void enableNVPTXShortSharedPointers();

/// Whether a kernel module needs the upstream passes of
/// buildFAGPUToNVVMPipeline that rewrite only some ops. A compile that
/// knows its kernels passes what kernelLoweringNeeds says; a pipeline
/// built without the IR runs them all.
struct KernelLoweringNeeds {
  /// expand-strided-metadata: views, casts and strided metadata of memrefs
  /// (the mma-sync kernels' shared memory).
  bool stridedMetadata = true;
  /// lower-affine: affine ops.
  bool affine = true;
};

/// What the gpu.modules of `module` need (an op of each kind present).
KernelLoweringNeeds kernelLoweringNeeds(ModuleOp module);

/// gpu.module (nvgpu level) -> NVVM/LLVM dialect with an #nvvm.target.
void buildFAGPUToNVVMPipeline(OpPassManager &pm,
                              const FACompileOptions &options,
                              KernelLoweringNeeds needs = {});

/// The whole pipeline, ending in gpu.binary.
void buildFACompilePipeline(OpPassManager &pm, const FACompileOptions &options);

/// Registers `fa-compile`, `fa-lower-to-nvgpu-pipeline`,
/// `fa-gpu-to-nvvm-pipeline` and `fa-lower-to-cpu` (CPUPipeline.h) for
/// fa-opt style drivers.
void registerFAPipelines();

} // namespace mlir::fa

#endif // FA_PIPELINES_PIPELINES_H
