//===- Pipelines.cpp - fa-mlir pass pipelines -----------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Pipelines/Pipelines.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"
#include "fa/Conversion/Passes.h"
#include "fa/Dialect/FA/Transforms/Passes.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"
#include "fa/Pipelines/CPUPipeline.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::fa;

std::string mlir::fa::checkSourceNesting(StringRef source) {
  unsigned depth = 0, line = 1;
  size_t lineStart = 0;
  // The affine parser also recurses per operator of an expression (a
  // unary minus, each + or - term): inside affine_map<...> and
  // affine_set<...> (from `affineDepth`), operators count as levels.
  // (-1: outside one; a plain integer, as GCC cannot follow an optional
  // through the switch below.)
  int64_t affineDepth = -1;
  unsigned affineOperators = 0;
  auto tooDeep = [&](size_t i, StringRef what) {
    return llvm::formatv("{0}:{1}: error: {2} more than {3} deep; the "
                         "parser would overflow its stack",
                         line, i - lineStart + 1, what, kMaxSourceNesting)
        .str();
  };
  for (size_t i = 0, e = source.size(); i < e; ++i) {
    char c = source[i];
    if (affineDepth < 0 && (c == 'a') &&
        (source.substr(i).starts_with("affine_map<") ||
         source.substr(i).starts_with("affine_set<"))) {
      affineDepth = depth;
      affineOperators = 0;
    }
    if (affineDepth >= 0 &&
        (c == '+' || c == '*' ||
         (c == '-' && (i + 1 >= e || source[i + 1] != '>'))) &&
        ++affineOperators > kMaxSourceNesting)
      return tooDeep(i, "an affine expression's operators nested");
    switch (c) {
    case '\n':
      ++line;
      lineStart = i + 1;
      break;
    case '"': // a string literal: skip it, escapes included
      for (++i; i < e && source[i] != '"'; ++i)
        if (source[i] == '\\')
          ++i;
      break;
    case '/': // a comment runs to the end of its line
      if (i + 1 < e && source[i + 1] == '/')
        while (i + 1 < e && source[i + 1] != '\n')
          ++i;
      break;
    case '(':
    case '[':
    case '{':
    case '<':
      if (++depth > kMaxSourceNesting)
        return tooDeep(i, "brackets nested");
      break;
    case '>':
      // Not the arrow of a function type or map, nor >= of an integer set.
      if ((i > 0 && source[i - 1] == '-') ||
          (i + 1 < e && source[i + 1] == '='))
        break;
      [[fallthrough]];
    case ')':
    case ']':
    case '}':
      depth = depth ? depth - 1 : 0;
      if (affineDepth >= 0 && depth <= affineDepth)
        affineDepth = -1; // the affine_map<...> closed
      break;
    default:
      break;
    }
  }
  return {};
}

CUDAToolkitRoot mlir::fa::findCUDAToolkit(const FACompileOptions &options) {
  if (!options.cudaPath.empty())
    return {options.cudaPath, "--cuda-path"};
  for (const char *name : {"CUDA_HOME", "CUDA_PATH"})
    if (const char *value = std::getenv(name); value && *value)
      return {value, name};
  return {"/usr/local/cuda", ""};
}

/// Upstream passes are added by their registered names: the names are the
/// stable, documented interface, and this keeps the list readable. The
/// strings are constants of this file, so a parse failure is a bug here.
static void addUpstream(OpPassManager &pm, StringRef pipeline) {
  if (failed(parsePassPipeline(pipeline, pm)))
    llvm::report_fatal_error(
        llvm::Twine("fa-mlir: bad built-in pipeline: ") + pipeline);
}

std::string mlir::fa::getPipelineStrategy(const FACompileOptions &options) {
  std::string strategy = options.strategy;
  // Split tiles are mma-sync's (hopper-ws refuses them).
  if (strategy == "auto" &&
      (options.splitKV != "none" || options.packGQA ||
       !(hasWgmma(options.chip) &&
         wgmmaTakesOptions(options.blockM, options.warps, options.stages,
                           options.keyWarps))))
    strategy = "mma-sync";
  return strategy;
}

void mlir::fa::buildFALowerToGPUPipeline(OpPassManager &pm,
                                         const FACompileOptions &options) {
  FATileAttentionOptions tile;
  tile.blockM = options.blockM;
  tile.blockN = options.blockN;
  // The strategy's default tiles (an unknown strategy is
  // fa-lower-to-gpu's error to report). auto takes hopper-ws's for the
  // kernels it builds with wgmma; on a chip without it, or with options
  // only mma-sync takes, auto is mma-sync throughout.
  std::string strategy = getPipelineStrategy(options);
  tile.splitKV = options.splitKV;
  tile.packGQA = options.packGQA;
  if (strategy == "hopper-ws" || strategy == "auto")
    tile.defaultsFor = strategy;
  OpPassManager &func = pm.nest<func::FuncOp>();
  func.addPass(createFATileAttention(tile));
  FAFuseOnlineSoftmaxOptions fuse;
  fuse.requireFused = true;
  func.addPass(createFAFuseOnlineSoftmax(fuse));
  // The backward: three stages with the tiles of the strategy's kernels.
  // block-m/block-n are the forward's (its registers differ); the
  // backward's are backward-block-m/backward-block-n.
  FATileAttentionBackwardOptions backward;
  backward.dq = options.backwardDq;
  backward.blockM = options.backwardBlockM;
  backward.blockN = options.backwardBlockN;
  if (strategy == "hopper-ws" || strategy == "auto")
    backward.defaultsFor = strategy;
  func.addPass(createFATileAttentionBackward(backward));
  FALowerToGPUOptions gpu;
  gpu.chip = options.chip;
  gpu.strategy = strategy;
  gpu.warps = options.warps;
  gpu.stages = options.stages;
  gpu.keyWarps = options.keyWarps;
  gpu.exp2Emulation = options.exp2Emulation;
  gpu.columnIntervals = options.columnIntervals;
  gpu.persistent = options.persistent;
  gpu.epilogue = options.epilogue;
  gpu.pagedLoads = options.pagedLoads;
  pm.addPass(createFALowerToGPU(gpu));
}

void mlir::fa::enableNVPTXShortSharedPointers() {
  auto &registered =
      llvm::cl::getRegisteredOptions();
  auto it = registered.find("nvptx-short-ptr");
  // Without the NVPTX backend linked in nothing is serialized to PTX.
  if (it == registered.end())
    return;
  static_cast<llvm::cl::opt<bool> *>(it->second)->setValue(true);
}

KernelLoweringNeeds mlir::fa::kernelLoweringNeeds(ModuleOp module) {
  KernelLoweringNeeds needs{false, false};
  for (auto gpuModule : module.getOps<gpu::GPUModuleOp>())
    gpuModule.walk([&](Operation *op) {
      Dialect *dialect = op->getDialect();
      if (isa_and_nonnull<affine::AffineDialect>(dialect))
        needs.affine = true;
      if (!isa_and_nonnull<memref::MemRefDialect>(dialect))
        return;
      // The ops expand-strided-metadata leaves as they are (it rewrites
      // the pointer of a view only, not of an argument or of the dynamic
      // shared memory); any other memref op may be one it rewrites.
      if (isa<memref::DimOp, memref::LoadOp, memref::StoreOp>(op))
        return;
      if (auto pointer = dyn_cast<memref::ExtractAlignedPointerAsIndexOp>(op);
          pointer && !pointer.getSource().getDefiningOp<ViewLikeOpInterface>())
        return;
      needs.stridedMetadata = true;
    });
  // (expand-strided-metadata computes offsets and sizes with affine.apply.)
  needs.affine |= needs.stridedMetadata;
  return needs;
}

void mlir::fa::buildFAGPUToNVVMPipeline(OpPassManager &pm,
                                        const FACompileOptions &options,
                                        KernelLoweringNeeds needs) {
  enableNVPTXShortSharedPointers();
  OpPassManager &gpu = pm.nest<gpu::GPUModuleOp>();
  gpu.addPass(createFALowerBF16MmaSync());
  gpu.addPass(createFALowerMathToNVVM());
  // One cse, after the conversion to LLVM: the kernel emitters produce
  // canonical IR, and a canonicalize/cse before the conversion, or a
  // canonicalize after it, changed no PTX while costing a tenth of the
  // compile. fa-convert-gpu-to-nvvm (upstream's convert-gpu-to-nvvm without
  // the region simplification of its greedy pre-pass) also converts the
  // arith, index, ub and vector ops (through their ConvertToLLVM
  // interfaces): their own passes after it changed no PTX either.
  // convert-nvvm-to-llvm stays for the PTX-builder NVVM ops. The big
  // conversions keep no undo log
  // (allow-pattern-rollback=false, upstream's "experimental" mode): a
  // failed conversion fails the compile either way, and a successful one
  // gives the same PTX, faster.
  // expand-strided-metadata and lower-affine only where there is
  // something to rewrite: with nothing (the hopper-ws kernels) they walked
  // and folded the kernel for a twentieth of the compile and changed no PTX.
  if (needs.stridedMetadata)
    addUpstream(gpu, "expand-strided-metadata");
  if (needs.affine)
    addUpstream(gpu, "lower-affine");
  addUpstream(gpu, "convert-scf-to-cf{allow-pattern-rollback=false},"
                   "convert-nvgpu-to-nvvm");
  gpu.addPass(createFAConvertGPUToNVVM());
  addUpstream(gpu, "convert-nvvm-to-llvm,cse,reconcile-unrealized-casts");
  gpu.addPass(createFALowerTensorMapArguments());
  // An op no conversion took (hand-edited kernels) is named at its
  // location, not left to the translation as an unrealized cast.
  FACheckLoweredToLLVMOptions kernels;
  kernels.gpuModules = true;
  pm.addPass(createFACheckLoweredToLLVM(kernels));
  // PTX ISA 8.0 is what sm_90a (wgmma, setmaxnreg) needs; 8.1 adds the
  // vector reductions (red.global.add.v4.f32) the sm_90 backward adds dQ
  // with. CUDA 12.1+ reads it; older chips keep 8.0.
  StringRef chip = options.chip.getValue();
  addUpstream(pm, llvm::formatv("nvvm-attach-target{{chip={0} "
                                "features=+ptx{2} O={1}}",
                                chip, options.optLevel.getValue(),
                                chip.starts_with("sm_9") ? 81 : 80)
                      .str());
}

void mlir::fa::buildFACompilePipeline(OpPassManager &pm,
                                      const FACompileOptions &options) {
  buildFALowerToGPUPipeline(pm, options);
  buildFAGPUToNVVMPipeline(pm, options);
  GpuModuleToBinaryPassOptions binary;
  // Explicit, so that ptxas and libdevice are found without relying on the
  // environment of whoever runs the compiler.
  binary.toolkitPath = getCUDAToolkitRoot(options);
  switch (options.format) {
  case BinaryFormat::Ptx:
    binary.compilationTarget = "isa";
    break;
  case BinaryFormat::Cubin:
    binary.compilationTarget = "bin";
    break;
  case BinaryFormat::Fatbin:
    binary.compilationTarget = "fatbin";
    break;
  }
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

std::string mlir::fa::checkCompileOptions(const FACompileOptions &options,
                                          bool serializes) {
  if (!lookupGPUTarget(options.chip))
    return getUnsupportedChipMessage(options.chip);
  // The named values first, so that a misspelt one is reported as such
  // rather than as an option the module has no use for.
  if (!parseGPUStrategy(options.strategy))
    return getOptionValueError("strategy", kStrategyValues, options.strategy);
  if (!parseKVSplits(options.splitKV))
    return getOptionValueError("split-kv", getKVSplitsValues(),
                               options.splitKV);
  if (!parseBackwardDq(options.backwardDq))
    return getOptionValueError("backward-dq", kBackwardDqValues,
                               options.backwardDq);
  if (!parsePersistence(options.persistent))
    return getOptionValueError("persistent", kPersistenceValues,
                               options.persistent);
  if (!parseEpilogue(options.epilogue))
    return getOptionValueError("epilogue", kEpilogueValues, options.epilogue);
  if (!parsePagedLoads(options.pagedLoads))
    return getOptionValueError("paged-loads", kPagedLoadsValues,
                               options.pagedLoads);
  // An option only hopper-ws takes, where the options alone make auto build
  // mma-sync kernels: say why (fa-lower-to-gpu says it where the tile
  // decides).
  if (options.strategy == "auto" &&
      getPipelineStrategy(options) == "mma-sync") {
    std::string hopperOption;
    if (options.persistent == "on")
      hopperOption = "persistent=on";
    else if (options.epilogue == "staged" || options.epilogue == "tma")
      hopperOption = "epilogue=" + options.epilogue.getValue();
    else if (options.pagedLoads != "auto")
      hopperOption = "paged-loads=" + options.pagedLoads.getValue();
    std::string reason =
        !hasWgmma(options.chip)     ? options.chip + " has no wgmma"
        : options.splitKV != "none" ? "split-kv asks for split-KV tiles"
        : options.packGQA           ? "pack-gqa asks for packed GQA tiles"
                          : "warps, key-warps, a stage count other than 2 "
                            "and a block-m not a multiple of 64 are options "
                            "of mma-sync";
    if (!hopperOption.empty())
      return hopperOption +
             " is an option of the hopper-ws strategy; strategy=auto builds "
             "mma-sync kernels here: " +
             reason;
  }
  if (options.optLevel > 3)
    return "opt-level must be 0, 1, 2 or 3, not " +
           std::to_string(options.optLevel);
  if (CUDAToolkitRoot toolkit = findCUDAToolkit(options);
      serializes && !toolkit.source.empty() &&
      !llvm::sys::fs::is_directory(toolkit.path))
    return "the CUDA toolkit path '" + toolkit.path + "' (from " +
           toolkit.source +
           ") is not a directory; point it at a CUDA toolkit, or unset it to "
           "compile PTX without one";
  return {};
}

/// The first option of `options` that `pipeline` does not read (its flags
/// `used`) and that is not at its default, as an error; empty when none.
static std::string getUnusedOptionError(StringRef pipeline,
                                        const FACompileOptions &options,
                                        ArrayRef<StringRef> used) {
  FACompileOptions defaults;
#define FA_COMPILE_OPTION(TYPE, MEMBER, FLAG, HELP, DEFAULT)                   \
  if (!llvm::is_contained(used, StringRef(FLAG)) &&                            \
      options.MEMBER.getValue() != defaults.MEMBER.getValue())                 \
    return (pipeline + " does not use the option " + FLAG +                    \
            ", which would change nothing; it reads " +                        \
            llvm::join(used, ", "))                                            \
        .str();
#include "fa/Pipelines/FACompileOptions.def"
  return {};
}

/// PassPipelineRegistration<FACompileOptions>, with checkCompileOptions
/// before the builder runs; a pipeline that reads only some options
/// (`used`, their flags; empty: all) refuses the others.
static void registerCheckedPipeline(StringRef arg, StringRef description,
                                    void (*builder)(OpPassManager &,
                                                    const FACompileOptions &),
                                    bool serializes,
                                    ArrayRef<StringRef> used = {}) {
  registerPassPipeline(
      arg, description,
      [arg, builder, serializes, used = SmallVector<StringRef>(used)](
          OpPassManager &pm, StringRef text,
          function_ref<LogicalResult(const Twine &)> errorHandler) {
        FACompileOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        if (std::string error = checkCompileOptions(options, serializes);
            !error.empty())
          return errorHandler(error);
        if (!used.empty())
          if (std::string error = getUnusedOptionError(arg, options, used);
              !error.empty())
            return errorHandler(error);
        builder(pm, options);
        return success();
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> optHandler) {
        optHandler(FACompileOptions());
      });
}

void mlir::fa::registerFAPipelines() {
  registerCheckedPipeline(
      "fa-compile",
      "fa.attention to gpu.binary: tile, fuse the online softmax, map to "
      "tensor-core kernels, lower to NVVM and serialize (ptx/cubin/fatbin)",
      buildFACompilePipeline, /*serializes=*/true);
  // (The lowering to the GPU reads the tile and schedule options and the
  // chip; the LLVM backend and the serializer, which it does not run, the
  // others.)
  registerCheckedPipeline(
      "fa-lower-to-nvgpu-pipeline",
      "fa.attention to gpu.launch_func + an nvgpu-level gpu.module",
      buildFALowerToGPUPipeline, /*serializes=*/false,
      {"chip", "strategy", "block-m", "block-n", "warps", "key-warps", "stages",
       "exp2-emulation", "column-intervals", "persistent", "epilogue",
       "paged-loads", "backward-dq", "backward-block-m", "backward-block-n",
       "split-kv", "pack-gqa"});
  registerCheckedPipeline(
      "fa-gpu-to-nvvm-pipeline",
      "nvgpu-level gpu.module to the NVVM/LLVM dialects with an nvvm target",
      [](OpPassManager &pm, const FACompileOptions &options) {
        buildFAGPUToNVVMPipeline(pm, options);
      },
      /*serializes=*/false, {"chip", "opt-level"});
  registerFALowerToCPUPipeline();
}
