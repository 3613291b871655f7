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
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>

#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

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
                          "<prefix>.json and <prefix>.cubin (or .fatbin)"),
                 cl::value_desc("prefix"), cl::cat(faCompileCategory));
// The compile options, as flags: the table FACompileOptions is made of.
using fa::BinaryFormat;
using fa::LLVMPasses;
#define FA_COMPILE_OPTION(TYPE, MEMBER, FLAG, HELP, DEFAULT)                   \
  static cl::opt<TYPE> MEMBER##Flag(FLAG, cl::desc(HELP), cl::init(DEFAULT),   \
                                    cl::cat(faCompileCategory));
#define FA_COMPILE_ENUM_OPTION(TYPE, MEMBER, FLAG, HELP, DEFAULT, VALUES)      \
  static cl::opt<TYPE> MEMBER##Flag(FLAG, cl::desc(HELP), cl::init(DEFAULT),   \
                                    VALUES, cl::cat(faCompileCategory));
#include "fa/Pipelines/FACompileOptions.def"
static cl::opt<unsigned>
    benchmark("benchmark",
              cl::desc("time N whole compilations (1 to 1000), print the "
                       "median and its split (our passes, LLVM backend, "
                       "ptxas), write nothing"),
              cl::init(0), cl::cat(faCompileCategory));

/// Writes `contents` to `path`; on a failed open or write (a full disk)
/// one message, and no file left behind.
static LogicalResult writeFile(StringRef path, StringRef contents) {
  std::string error;
  auto file = openOutputFile(path, &error);
  if (!file) {
    llvm::errs() << "fa-compile: " << error << "\n";
    return failure();
  }
  file->os() << contents;
  file->os().close();
  if (std::error_code ec = file->os().error()) {
    llvm::errs() << "fa-compile: cannot write " << path << ": " << ec.message()
                 << "\n";
    file->os().clear_error();
    return failure();
  }
  file->keep();
  return success();
}

/// Makes the heap one region of transparent huge pages, grown in one step
/// and kept to the end. A compile allocates and touches about 50 MB: with
/// 4 KiB pages that was some 4,250 page faults a process, a fifth of a
/// `--format=ptx` compile's time on this project's 2-core CI machine
/// (docs/Toolchain.md, "Compile latency of a process"). glibc's
/// `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` does the same from the
/// environment; a tool cannot ask its users to set it. Elsewhere (another
/// C library, or THP turned off) nothing changes: every call here is
/// advice that may fail.
static void reserveHeapInHugePages() {
#if defined(__linux__) && defined(__GLIBC__)
  constexpr uintptr_t kHugePage = uintptr_t(2) << 20;
  constexpr int kReserve = 96 << 20;
  // Blocks up to 32 MiB (glibc's largest threshold) from the heap rather
  // than from fresh mappings, the heap never trimmed mid-compile, and
  // grown by kReserve beyond what a growth needs.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, kReserve);
  auto before = reinterpret_cast<uintptr_t>(sbrk(0));
  // More than the heap has free after the static constructors: it grows.
  // (Through a volatile pointer: a compiler may drop an unused malloc.)
  void *volatile block = malloc(kHugePage);
  free(block);
  auto after = reinterpret_cast<uintptr_t>(sbrk(0));
  uintptr_t lo = (before + kHugePage - 1) & ~(kHugePage - 1);
  uintptr_t hi = after & ~(kHugePage - 1);
  if (hi > lo)
    madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_HUGEPAGE);
#endif
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
  reserveHeapInHugePages();
  llvm::InitLLVM init(argc, argv);
  // --version: fa-mlir's version and the MLIR/LLVM it was built with.
  cl::SetVersionPrinter(
      [](raw_ostream &os) { os << fa::getFACompilerVersion() << "\n"; });
  cl::HideUnrelatedOptions(faCompileCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "fa-compile: fa.attention to PTX, cubin and launch metadata\n");
  // (About 0.4 s a compile here: 1000 is minutes; more is a typo.)
  if (benchmark > 1000) {
    llvm::errs() << "fa-compile: --benchmark must be 1 to 1000 compilations, "
                    "got "
                 << benchmark << "\n";
    return 1;
  }
  if (outputPrefix == "-") {
    llvm::errs() << "fa-compile: -o takes a path prefix (it writes "
                    "<prefix>.ptx, <prefix>.json, ...); '-' (standard "
                    "output) cannot hold several files\n";
    return 1;
  }
  if (outputPrefix.empty() && benchmark == 0) {
    llvm::errs() << "fa-compile: no output prefix; pass -o <prefix> (or "
                    "--benchmark=N)\n";
    return 1;
  }
  if (!outputPrefix.empty() &&
      (llvm::sys::path::is_separator(outputPrefix.back()) ||
       llvm::sys::fs::is_directory(outputPrefix.getValue()))) {
    llvm::errs() << "fa-compile: -o takes a path prefix (it writes "
                    "<prefix>.ptx, <prefix>.json, ...), and '"
                 << outputPrefix << "' is a directory; pass e.g. -o "
                 << outputPrefix
                 << (llvm::sys::path::is_separator(outputPrefix.back()) ? ""
                                                                        : "/")
                 << "attention\n";
    return 1;
  }

  fa::registerAllFAPasses();
  DialectRegistry registry;
  fa::registerAllFADialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // One thread: the passes nest on each gpu.module, and a forward compile
  // has one, where the thread pool's start and hand-offs cost about 2 ms
  // of a 90 ms compile (a backward's three modules compiled no faster
  // with it, on two cores); ptxas runs beside the backend as processes.
  context.disableMultithreading();
  // An error names its location; the op it is about is not printed after
  // it (a module or a kernel is thousands of lines).
  context.printOpOnDiagnostic(false);

  std::string error;
  auto input = openInputFile(inputFile, &error);
  if (!input) {
    llvm::errs() << "fa-compile: " << error << "\n";
    return 1;
  }
  if (std::string nesting = fa::checkSourceNesting(input->getBuffer());
      !nesting.empty()) {
    llvm::errs() << inputFile << ":" << nesting << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  fa::FACompileOptions options;
#define FA_COMPILE_OPTION(TYPE, MEMBER, FLAG, HELP, DEFAULT)                   \
  options.MEMBER = MEMBER##Flag;
#include "fa/Pipelines/FACompileOptions.def"

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
    // backend takes, and what ptxas takes (separate processes, from the
    // first started to the last done), of which the compile waited for
    // what the backend did not overlap: a kernel's ptxas runs while the
    // backend works on the next kernel. Everything but ptxas is the whole
    // compile less that wait.
    llvm::outs() << llvm::formatv(
        "fa-compile: split (medians): our passes {0:F3} s (parse and lower "
        "to GPU {1:F3} s, GPU to NVVM {2:F3} s), LLVM backend {3:F3} s, "
        "ptxas {4}\n",
        ours, phase(&fa::CompilePhaseTimes::lowerToGPU),
        phase(&fa::CompilePhaseTimes::gpuToNVVM),
        phase(&fa::CompilePhaseTimes::llvmBackend),
        assembles ? llvm::formatv("{0:F3} s (waited for: {1:F3} s)",
                                  phase(&fa::CompilePhaseTimes::assemblerSpan),
                                  phase(&fa::CompilePhaseTimes::assemble))
                        .str()
                  : std::string("not run (--format=ptx)"));
    // The first compile of a process pays for what later ones find ready
    // (pages, caches, the context's lazily built parts): what a process
    // of its own, one compile, spends.
    llvm::outs() << llvm::formatv(
        "fa-compile: everything but ptxas: median {0:F3} s (the first "
        "compile {1:F3} s)\n",
        allButAssembly, seconds.front() - phases.front().assemble);
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
    // The binary beside the PTX: <prefix>.cubin, or <prefix>.fatbin.
    StringRef binary;
    if (options.format == fa::BinaryFormat::Cubin)
      binary = "cubin";
    else if (options.format == fa::BinaryFormat::Fatbin)
      binary = "fatbin";
    // All of a kernel's files or none: a runner must not find a PTX
    // without its JSON.
    SmallVector<std::pair<std::string, StringRef>> files{
        {prefix + ".ptx", kernel.ptx}};
    if (!binary.empty())
      files.push_back({prefix + "." + binary.str(), kernel.cubin});
    files.push_back({prefix + ".json", kernel.metadataJson});
    for (auto [i, file] : llvm::enumerate(files)) {
      if (succeeded(writeFile(file.first, file.second)))
        continue;
      for (const auto &written : ArrayRef(files).take_front(i))
        llvm::sys::fs::remove(written.first);
      return 1;
    }
    // A runner prefers a binary to the PTX: never leave a stale one.
    for (StringRef stale : {"cubin", "fatbin"})
      if (stale != binary)
        llvm::sys::fs::remove(prefix + "." + stale.str());
    llvm::outs() << "fa-compile: " << kernel.kernelName << " -> " << prefix
                 << ".{ptx," << (binary.empty() ? "" : binary.str() + ",")
                 << "json}\n";
  }
  return 0;
}
