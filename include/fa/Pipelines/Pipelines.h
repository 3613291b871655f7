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

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <string>

namespace mlir::fa {

/// What the gpu.binary of the pipeline holds.
enum class BinaryFormat { Ptx, Cubin, Fatbin };

struct FACompileOptions : public PassPipelineOptions<FACompileOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("target chip (sm_80 ... sm_90a)"),
      llvm::cl::init("sm_90a")};
  PassOptions::Option<int64_t> blockM{
      *this, "block-m", llvm::cl::desc("query rows per block (0: 128)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> blockN{
      *this, "block-n",
      llvm::cl::desc("keys per key/value block (0: by head dimension)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> warps{
      *this, "warps", llvm::cl::desc("warps per block (0: 32 rows per warp when the "
                     "score and output fragments fit in registers, else 16)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> stages{
      *this, "stages", llvm::cl::desc("cp.async K/V ring depth"),
      llvm::cl::init(2)};
  PassOptions::Option<std::string> strategy{
      *this, "strategy",
      llvm::cl::desc("kernel strategy: mma-sync or hopper-ws"),
      llvm::cl::init("mma-sync")};
  PassOptions::Option<BinaryFormat> format{
      *this, "format", llvm::cl::desc("what gpu.binary holds"),
      llvm::cl::init(BinaryFormat::Cubin),
      llvm::cl::values(
          clEnumValN(BinaryFormat::Ptx, "ptx", "PTX assembly"),
          clEnumValN(BinaryFormat::Cubin, "cubin", "an sm_XX cubin"),
          clEnumValN(BinaryFormat::Fatbin, "fatbin", "a fatbin (PTX + cubin)"))};
  PassOptions::Option<unsigned> optLevel{
      *this, "opt-level",
      llvm::cl::desc("LLVM optimization level of the NVPTX backend (0-3)"),
      llvm::cl::init(3)};
  PassOptions::Option<std::string> cudaPath{
      *this, "cuda-path",
      llvm::cl::desc("CUDA toolkit root with bin/ptxas and "
                     "nvvm/libdevice (default: $CUDA_HOME, $CUDA_PATH or "
                     "/usr/local/cuda)"),
      llvm::cl::init("")};
};

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

/// gpu.module (nvgpu level) -> NVVM/LLVM dialect with an #nvvm.target.
void buildFAGPUToNVVMPipeline(OpPassManager &pm,
                              const FACompileOptions &options);

/// The whole pipeline, ending in gpu.binary.
void buildFACompilePipeline(OpPassManager &pm, const FACompileOptions &options);

/// Registers `fa-compile`, `fa-lower-to-nvgpu-pipeline`,
/// `fa-gpu-to-nvvm-pipeline` and `fa-lower-to-cpu` (CPUPipeline.h) for
/// fa-opt style drivers.
void registerFAPipelines();

} // namespace mlir::fa

#endif // FA_PIPELINES_PIPELINES_H
