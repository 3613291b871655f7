//===- NVPTXBackend.cpp - The LLVM NVPTX backend on one kernel ------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "NVPTXBackend.h"

#include "mlir/Dialect/GPU/IR/CompilationInterfaces.h"
#include "mlir/Target/LLVM/NVVM/Utils.h"

#include "llvm/IR/Module.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Target/TargetMachine.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

// The kernel pipeline: LLVM 22's default<O3> (`opt -O3
// -print-pipeline-passes`) without the passes that change none of our
// kernels' machine code. The emitters hand LLVM code without calls,
// vectorizable loops or libraries, already CSE'd, so the inliner and its
// CGSCC walk, the vectorizers, unrolling, DSE, jump threading, loop
// unswitching and the late clean-up find nothing to do, yet cost about 40%
// of the optimization time. What is left, in default<O3>'s order: the
// early scalar clean-up (SROA, early CSE, SCCP), instcombine between the
// simplifications, value propagation and reassociation, loop rotation
// between the two LICMs (the K/V loops; the first, which does not
// speculate, shapes the persistent kernels' loop over tiles), indvars,
// GVN.
//
// Found by taking passes out of default<O3> (one at a time, then each
// loop pass of the loop adaptors, then cheaper stand-ins) while the cubins
// of 23 kernels stayed byte-identical, then putting back what a kernel
// family of 114 cubins needed (GVN: windows, documents, D 192/256):
// forward with both strategies on sm_80 and sm_90a, D 64-256, no mask and
// both causal alignments, with and without LSE, the library's
// modifications, varlen, paged, split-KV with packed GQA, exp2 emulation,
// and the backward's kernels. test/Pipelines/fa-compile-llvm-passes.test
// compares the PTX of both pipelines on every CI run; `--llvm-passes=
// default` is LLVM's whole default<O3>, for a kernel this one would serve
// worse.
static constexpr const char *kSimplifyCFGEarly =
    "simplifycfg<bonus-inst-threshold=1;no-forward-switch-cond;"
    "no-switch-range-to-icmp;no-switch-to-arithmetic;no-switch-to-lookup;"
    "keep-loops;no-hoist-common-insts;no-hoist-loads-stores-with-cond-"
    "faulting;no-sink-common-insts;speculate-blocks;simplify-cond-branch;"
    "no-speculate-unpredictables>";
static constexpr const char *kSimplifyCFG =
    "simplifycfg<bonus-inst-threshold=1;no-forward-switch-cond;"
    "switch-range-to-icmp;no-switch-to-arithmetic;no-switch-to-lookup;"
    "keep-loops;no-hoist-common-insts;no-hoist-loads-stores-with-cond-"
    "faulting;no-sink-common-insts;speculate-blocks;simplify-cond-branch;"
    "no-speculate-unpredictables>";
static constexpr const char *kSimplifyCFGHoist =
    "simplifycfg<bonus-inst-threshold=1;no-forward-switch-cond;"
    "switch-range-to-icmp;switch-to-arithmetic;no-switch-to-lookup;"
    "keep-loops;hoist-common-insts;no-hoist-loads-stores-with-cond-"
    "faulting;sink-common-insts;speculate-blocks;simplify-cond-branch;"
    "no-speculate-unpredictables>";
static constexpr const char *kInstCombine =
    "instcombine<max-iterations=1;no-verify-fixpoint>";

StringRef mlir::fa::detail::getKernelLLVMPipeline() {
  static const std::string pipeline = [] {
    std::string function = llvm::join(
        ArrayRef<StringRef>{
            // default<O3>'s early function simplification.
            kSimplifyCFGEarly, "sroa<modify-cfg>", "early-cse<>",
            // Its (IP)SCCP, on the one function.
            "sccp",
            // The function simplification pipeline (of the inliner's
            // CGSCC walk in default<O3>).
            kInstCombine, kSimplifyCFG, "early-cse<memssa>",
            "speculative-execution<only-if-divergent-target>",
            "correlated-propagation", kInstCombine, "reassociate",
            "loop-mssa(licm<no-allowspeculation>,"
            "loop-rotate<header-duplication;no-prepare-for-lto>,"
            "licm<allowspeculation>)",
            kSimplifyCFG, kInstCombine, "loop(indvars)", "gvn<>", "sccp",
            kInstCombine, "correlated-propagation", kSimplifyCFGHoist,
            kInstCombine},
        ",");
    // Then its global clean-up and the optimization pipeline's two that
    // matter here.
    return "function(" + function +
           "),globalopt,function(infer-alignment,div-rem-pairs)";
  }();
  return pipeline;
}

namespace {
/// Upstream's NVVM serialization to PTX (translation, data layout, the
/// NVPTX code generator) with the optimization pipeline of the options,
/// and without libdevice: the kernels' math is lowered to NVVM intrinsics
/// and polynomials (fa-lower-math-to-nvvm), so nothing would be linked.
class KernelSerializer : public NVVM::SerializeGPUModuleBase {
public:
  KernelSerializer(gpu::GPUModuleOp module, NVVM::NVVMTargetAttr target,
                   const gpu::TargetOptions &targetOptions,
                   const FACompileOptions &options)
      : SerializeGPUModuleBase(*module, target, targetOptions),
        options(options) {}

protected:
  std::optional<SmallVector<std::unique_ptr<llvm::Module>>>
  loadBitcodeFiles(llvm::Module &) override {
    return SmallVector<std::unique_ptr<llvm::Module>>();
  }

  LogicalResult optimizeModule(llvm::Module &module, int optLevel) override {
    if (options.llvmPasses == LLVMPasses::Default || optLevel != 3)
      return ModuleToObject::optimizeModule(module, optLevel);
    FailureOr<llvm::TargetMachine *> machine = getOrCreateTargetMachine();
    if (failed(machine))
      return getOperation().emitError("no LLVM target machine for ")
             << triple << " to optimize the kernel for";
    // As upstream does: the code generator runs at the same level.
    (*machine)->setOptLevel(llvm::CodeGenOptLevel::Aggressive);
    llvm::LoopAnalysisManager loops;
    llvm::FunctionAnalysisManager functions;
    llvm::CGSCCAnalysisManager sccs;
    llvm::ModuleAnalysisManager modules;
    llvm::PassBuilder builder(*machine);
    builder.registerModuleAnalyses(modules);
    builder.registerCGSCCAnalyses(sccs);
    builder.registerFunctionAnalyses(functions);
    builder.registerLoopAnalyses(loops);
    builder.crossRegisterProxies(loops, functions, sccs, modules);
    llvm::ModulePassManager passes;
    if (llvm::Error error =
            builder.parsePassPipeline(passes, getKernelLLVMPipeline()))
      return getOperation().emitError("the kernel LLVM pipeline does not "
                                      "parse: ")
             << llvm::toString(std::move(error));
    passes.run(module, modules);
    return success();
  }

  FailureOr<SmallVector<char, 0>>
  moduleToObject(llvm::Module &module) override {
    FailureOr<llvm::TargetMachine *> machine = getOrCreateTargetMachine();
    if (failed(machine))
      return getOperation().emitError("no LLVM target machine for ") << triple;
    FailureOr<SmallString<0>> ptx = translateModuleToISA(
        module, **machine, [&] { return getOperation().emitError(); });
    if (failed(ptx))
      return failure();
    return SmallVector<char, 0>(ptx->begin(), ptx->end());
  }

private:
  const FACompileOptions &options;
};
} // namespace

FailureOr<std::string>
mlir::fa::detail::serializeToPTX(gpu::GPUModuleOp gpuModule,
                                 SymbolTable &symbols,
                                 const FACompileOptions &compile) {
  ArrayAttr targets = gpuModule.getTargetsAttr();
  auto target = targets && targets.size() == 1
                    ? dyn_cast<NVVM::NVVMTargetAttr>(targets[0])
                    : NVVM::NVVMTargetAttr();
  if (!target)
    return emitError(gpuModule.getLoc(),
                     "a kernel module needs exactly one NVVM target to be "
                     "serialized (nvvm-attach-target gives it #nvvm.target)");
  // The serializer looks for libdevice in the toolkit (and reports an
  // error, and goes on, when it is missing), though nothing links it. A
  // path that was asked for was checked by compileAttentionKernels, ptxas
  // is looked for by the assembler: that complaint is not an error of this
  // compile.
  ScopedDiagnosticHandler noToolkit(
      gpuModule.getContext(), [](Diagnostic &diag) {
        std::string text = diag.str();
        StringRef message(text);
        return success((message.starts_with("CUDA path: ") ||
                        message.starts_with("LibDevice path: ")) &&
                       message.contains("does not exist"));
      });
  // (TargetOptions keeps a function_ref: the callable must outlive it.)
  auto symbolTable = [&]() { return &symbols; };
  gpu::TargetOptions options(getCUDAToolkitRoot(compile), /*libraries=*/{},
                             /*cmdOptions=*/{}, /*elfSection=*/{},
                             gpu::CompilationTarget::Assembly, symbolTable);
  KernelSerializer serializer(gpuModule, target, options, compile);
  serializer.init();
  std::optional<SmallVector<char, 0>> ptx = serializer.run();
  if (!ptx)
    return emitError(gpuModule.getLoc(),
                     "the LLVM NVPTX backend failed on this kernel module");
  StringRef text(ptx->data(), ptx->size());
  // The code generator's buffer may end with the terminating null.
  return text.rtrim(StringRef("\0", 1)).str();
}
