//===- fa-compile.cpp - fa.attention to .ptx, .cubin and .json -----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Runs the fa-compile pipeline on an input file and writes, per kernel, the
// files a runtime loads: <prefix>.ptx, <prefix>.cubin and <prefix>.json
// (launch metadata). With several kernels: <prefix>.<i>.{ptx,cubin,json}.
// --benchmark=N instead times N whole compilations (parse to cubin) and
// prints the median and its split: our passes, the LLVM backend, ptxas.
//
//===----------------------------------------------------------------------===//

#include "fa/Pipelines/KernelArtifacts.h"
#include "fa/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>

using namespace mlir;
namespace cl = llvm::cl;

/// The tool's own options; --help lists only these (LLVM's backend options
/// still parse, and --help-hidden lists them).
static cl::OptionCategory faCompileCategory("fa-compile options");

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input .mlir>"),
                                      cl::init("-"),
                                      cl::cat(faCompileCategory));
static cl::opt<std::string>
    outputPrefix("o",
                 cl::desc("output prefix: writes <prefix>.ptx, "
                          "<prefix>.cubin, <prefix>.json"),
                 cl::value_desc("prefix"), cl::cat(faCompileCategory));
static cl::opt<std::string>
    chip("chip",
         cl::desc("target chip: sm_80, sm_86, sm_87, sm_89, sm_90 or "
                  "sm_90a (default)"),
         cl::init("sm_90a"), cl::cat(faCompileCategory));
static cl::opt<int64_t> blockM("block-m",
                               cl::desc("query rows per block (0: 128)"),
                               cl::init(0), cl::cat(faCompileCategory));
static cl::opt<int64_t>
    blockN("block-n",
           cl::desc("keys per K/V block (0: the strategy's default; "
                    "mma-sync 64 up to D = 64, 48 up to D = 128, else 32; "
                    "hopper-ws 128 up to D = 128, else 64)"),
           cl::init(0), cl::cat(faCompileCategory));
static cl::opt<int64_t>
    warps("warps",
          cl::desc("warps per block (0: the strategy's; mma-sync 32 rows "
                   "per warp when the score and output fragments fit in "
                   "registers, else 16; hopper-ws 4 per 64 rows plus 4)"),
          cl::init(0), cl::cat(faCompileCategory));
static cl::opt<int64_t> stages("stages",
                               cl::desc("depth of the K/V ring in shared "
                                        "memory, 2 to 4 (default 2)"),
                               cl::init(2), cl::cat(faCompileCategory));
static cl::opt<std::string>
    strategy("strategy",
             cl::desc("kernel strategy: mma-sync (sm_80 and newer; the "
                      "default) or hopper-ws (wgmma, TMA, warp "
                      "specialization; sm_90a)"),
             cl::init("mma-sync"), cl::cat(faCompileCategory));
static cl::opt<unsigned>
    optLevel("opt-level",
             cl::desc("LLVM optimization level of the NVPTX backend, 0 "
                      "to 3 (default 3)"),
             cl::init(3), cl::cat(faCompileCategory));
static cl::opt<std::string>
    cudaPath("cuda-path",
             cl::desc("CUDA toolkit root (default: $CUDA_HOME, $CUDA_PATH or "
                      "/usr/local/cuda)"),
             cl::init(""), cl::cat(faCompileCategory));
static cl::opt<fa::BinaryFormat> format(
    "format", cl::desc("what to write besides the JSON"),
    cl::init(fa::BinaryFormat::Cubin),
    cl::values(clEnumValN(fa::BinaryFormat::Ptx, "ptx",
                          "PTX only (no ptxas needed; the driver JIT-compiles "
                          "it)"),
               clEnumValN(fa::BinaryFormat::Cubin, "cubin",
                          "PTX and an sm_XX cubin (runs ptxas)")),
    cl::cat(faCompileCategory));
static cl::opt<unsigned>
    benchmark("benchmark",
              cl::desc("time N whole compilations, print the median and "
                       "its split (our passes, LLVM backend, ptxas), write "
                       "nothing"),
              cl::init(0), cl::cat(faCompileCategory));

static LogicalResult writeFile(StringRef path, StringRef contents) {
  std::string error;
  auto file = openOutputFile(path, &error);
  if (!file) {
    llvm::errs() << "fa-compile: " << error << "\n";
    return failure();
  }
  file->os() << contents;
  file->keep();
  return success();
}

/// One compile from the source text; `times` (optional) gets the parse
/// (as part of lowerToGPU) and each phase.
static FailureOr<std::vector<fa::KernelArtifacts>>
compileOnce(MLIRContext &context, llvm::SourceMgr &sourceMgr,
            const fa::FACompileOptions &options,
            fa::CompilePhaseTimes *times = nullptr) {
  auto start = std::chrono::steady_clock::now();
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return failure();
  if (times)
    times->lowerToGPU += std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  return fa::compileAttentionKernels(*module, options, times);
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // --version: fa-mlir's version and the MLIR/LLVM it was built with.
  cl::SetVersionPrinter(
      [](raw_ostream &os) { os << fa::getFACompilerVersion() << "\n"; });
  cl::HideUnrelatedOptions(faCompileCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "fa-compile: fa.attention to PTX, cubin and launch metadata\n");
  if (outputPrefix.empty() && benchmark == 0) {
    llvm::errs() << "fa-compile: no output prefix; pass -o <prefix> (or "
                    "--benchmark=N)\n";
    return 1;
  }

  fa::registerAllFAPasses();
  DialectRegistry registry;
  fa::registerAllFADialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // An error names its location; the op it is about is not printed after
  // it (a module or a kernel is thousands of lines).
  context.printOpOnDiagnostic(false);

  std::string error;
  auto input = openInputFile(inputFile, &error);
  if (!input) {
    llvm::errs() << "fa-compile: " << error << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  fa::FACompileOptions options;
  options.chip = chip;
  options.blockM = blockM;
  options.blockN = blockN;
  options.warps = warps;
  options.stages = stages;
  options.cudaPath = cudaPath;
  options.format = format;
  options.optLevel = optLevel;
  options.strategy = strategy;

  if (benchmark > 0) {
    std::vector<double> seconds;
    std::vector<fa::CompilePhaseTimes> phases(benchmark);
    for (unsigned i = 0; i < benchmark; ++i) {
      auto start = std::chrono::steady_clock::now();
      if (failed(compileOnce(context, sourceMgr, options, &phases[i])))
        return 1;
      std::chrono::duration<double> elapsed =
          std::chrono::steady_clock::now() - start;
      seconds.push_back(elapsed.count());
    }
    auto median = [](std::vector<double> values) {
      std::sort(values.begin(), values.end());
      return values[values.size() / 2];
    };
    // The median of `value` over the runs.
    auto runMedian = [&](auto value) {
      std::vector<double> values;
      for (unsigned i = 0; i < benchmark; ++i)
        values.push_back(value(phases[i], seconds[i]));
      return median(values);
    };
    auto phase = [&](double fa::CompilePhaseTimes::*member) {
      return runMedian([&](const fa::CompilePhaseTimes &times, double) {
        return times.*member;
      });
    };
    double ours = runMedian([](const fa::CompilePhaseTimes &times, double) {
      return times.lowerToGPU + times.gpuToNVVM;
    });
    double allButAssembly =
        runMedian([](const fa::CompilePhaseTimes &times, double total) {
          return total - times.assemble;
        });
    bool assembles = options.format != fa::BinaryFormat::Ptx;
    auto [fastest, slowest] =
        std::minmax_element(seconds.begin(), seconds.end());
    llvm::outs() << llvm::formatv(
        "fa-compile: {0} runs, median {1:F3} s, min {2:F3} s, max {3:F3} s "
        "(parse to PTX{4} + metadata, {5})\n",
        seconds.size(), median(seconds), *fastest, *slowest,
        assembles ? " + cubin" : "", options.strategy.getValue());
    // The split: what this project's passes take, what LLVM's NVPTX
    // backend takes, and what ptxas takes (a separate process).
    llvm::outs() << llvm::formatv(
        "fa-compile: split (medians): our passes {0:F3} s (parse and lower "
        "to GPU {1:F3} s, GPU to NVVM {2:F3} s), LLVM backend {3:F3} s, "
        "ptxas {4}\n",
        ours, phase(&fa::CompilePhaseTimes::lowerToGPU),
        phase(&fa::CompilePhaseTimes::gpuToNVVM),
        phase(&fa::CompilePhaseTimes::llvmBackend),
        assembles
            ? llvm::formatv("{0:F3} s", phase(&fa::CompilePhaseTimes::assemble))
                  .str()
            : std::string("not run (--format=ptx)"));
    llvm::outs() << llvm::formatv(
        "fa-compile: everything but ptxas: median {0:F3} s\n", allButAssembly);
    return 0;
  }

  FailureOr<std::vector<fa::KernelArtifacts>> kernels =
      compileOnce(context, sourceMgr, options);
  if (failed(kernels))
    return 1;
  for (auto [i, kernel] : llvm::enumerate(*kernels)) {
    std::string prefix = outputPrefix;
    if (kernels->size() > 1)
      prefix += "." + std::to_string(i);
    bool withCubin = format == fa::BinaryFormat::Cubin;
    if (failed(writeFile(prefix + ".ptx", kernel.ptx)) ||
        (withCubin && failed(writeFile(prefix + ".cubin", kernel.cubin))) ||
        failed(writeFile(prefix + ".json", kernel.metadataJson)))
      return 1;
    // A runner prefers <prefix>.cubin: never leave a stale one beside new
    // PTX.
    if (!withCubin)
      llvm::sys::fs::remove(prefix + ".cubin");
    llvm::outs() << "fa-compile: " << kernel.kernelName << " -> " << prefix
                 << (withCubin ? ".{ptx,cubin,json}\n" : ".{ptx,json}\n");
  }
  return 0;
}
