//===- CPUPipeline.h - fa.attention on the CPU ------------------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The named pipeline `fa-lower-to-cpu`: fa.attention (or the tensor IR of
// fa-tile-attention / fa-fuse-online-softmax) -> the LLVM dialect, for
// `mlir-runner` or any LLVM JIT. It is how the tests check the numerics of
// the tile passes, and how a reader runs an attention without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef FA_PIPELINES_CPUPIPELINE_H
#define FA_PIPELINES_CPUPIPELINE_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::fa {

/// The dq option of fa-tile-attention-backward.
enum class BackwardDq { Stage, Accumulate };

struct FALowerToCPUOptions : public PassPipelineOptions<FALowerToCPUOptions> {
  PassOptions::Option<bool> fuse{
      *this, "fuse",
      llvm::cl::desc("fuse the tiles' softmax into one online-softmax loop "
                     "(fa-fuse-online-softmax); false runs the exact "
                     "three-loop form as given"),
      llvm::cl::init(true)};
  PassOptions::Option<BackwardDq> backwardDq{
      *this, "backward-dq",
      llvm::cl::desc("where fa-tile-attention-backward computes dQ"),
      llvm::cl::init(BackwardDq::Stage),
      llvm::cl::values(clEnumValN(BackwardDq::Stage, "stage",
                                  "in its own, deterministic stage"),
                       clEnumValN(BackwardDq::Accumulate, "accumulate",
                                  "in f32 in the key/value loop (one pass)"))};
  PassOptions::Option<int64_t> blockM{
      *this, "block-m",
      llvm::cl::desc("query rows per tile of fa-tile-attention (0: 128)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> blockN{
      *this, "block-n",
      llvm::cl::desc("keys per key/value block of fa-tile-attention (0: by "
                     "head dimension)"),
      llvm::cl::init(0)};
  PassOptions::Option<std::string> splitKV{
      *this, "split-kv",
      llvm::cl::desc("split each tile's key range (fa-tile-attention "
                     "split-kv): none, auto or a count"),
      llvm::cl::init("none")};
  PassOptions::Option<bool> packGQA{
      *this, "pack-gqa",
      llvm::cl::desc("pack the query heads of each key/value group into one "
                     "tile (fa-tile-attention pack-gqa)"),
      llvm::cl::init(false)};
  PassOptions::Option<int64_t> slots{
      *this, "slots",
      llvm::cl::desc("the concurrent blocks fa.split_count is evaluated for "
                     "(fa-resolve-split-count)"),
      llvm::cl::init(132)};
};

/// fa.attention -> tiles (fa-tile-attention, which leaves IR without
/// fa.attention unchanged) -> online softmax (when `options.fuse`) ->
/// one-shot bufferization -> loops -> the LLVM dialect. Ends with
/// fa-check-lowered-to-llvm, so that IR it cannot lower (e.g. GPU kernels)
/// is an error naming the op, not LLVM-dialect IR that mlir-runner rejects.
void buildFALowerToCPUPipeline(OpPassManager &pm,
                               const FALowerToCPUOptions &options);

/// Registers `fa-lower-to-cpu` (registerFAPipelines calls it).
void registerFALowerToCPUPipeline();

} // namespace mlir::fa

#endif // FA_PIPELINES_CPUPIPELINE_H
