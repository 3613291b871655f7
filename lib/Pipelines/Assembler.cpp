//===- Assembler.cpp - PTX to cubin or fatbin with the toolkit ------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Assembler.h"

#include "mlir/IR/Diagnostics.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

/// The toolkit's bin/`tool`, or an error at `loc` that says how to do
/// without it.
static FailureOr<std::string> findToolkitTool(Location loc, StringRef tool,
                                              StringRef purpose,
                                              const FACompileOptions &options) {
  SmallString<256> path(getCUDAToolkitRoot(options));
  llvm::sys::path::append(path, "bin", tool);
  if (!llvm::sys::fs::can_execute(path))
    return emitError(loc, "no ")
           << tool << " at " << path << " to make " << purpose
           << ": install the CUDA toolkit there, pass --cuda-path (or set "
              "CUDA_HOME), or compile with --format=ptx (the driver compiles "
              "PTX at load time)";
  return std::string(path);
}

/// The error for a tool that exited with `status` (-1: it could not be
/// run, -2: it crashed), with what it wrote to `log`.
static InFlightDiagnostic toolFailed(Location loc, StringRef tool, int status,
                                     StringRef message, StringRef log) {
  auto output = llvm::MemoryBuffer::getFile(log);
  InFlightDiagnostic diag = emitError(loc, llvm::sys::path::filename(tool));
  diag << " failed";
  if (!message.empty())
    diag << ": " << message;
  else if (status > 0)
    diag << " with exit status " << status;
  diag << "\n" << (output ? (*output)->getBuffer() : "");
  return diag;
}

FailureOr<std::unique_ptr<PendingAssembly>>
PendingAssembly::start(Location loc, StringRef ptx,
                       const FACompileOptions &options) {
  bool fatbin = options.format == BinaryFormat::Fatbin;
  std::unique_ptr<PendingAssembly> pending(new PendingAssembly(loc, options));
  FailureOr<std::string> ptxas =
      findToolkitTool(loc, "ptxas", fatbin ? "a fatbin" : "a cubin", options);
  if (failed(ptxas))
    return failure();
  pending->ptxas = std::move(*ptxas);
  if (fatbin) {
    FailureOr<std::string> fatbinary =
        findToolkitTool(loc, "fatbinary", "a fatbin", options);
    if (failed(fatbinary))
      return failure();
    pending->fatbinary = std::move(*fatbinary);
  }
  if (llvm::sys::fs::createTemporaryFile("fa-kernel", "ptx", pending->input) ||
      llvm::sys::fs::createTemporaryFile("fa-kernel", "cubin",
                                         pending->cubin) ||
      llvm::sys::fs::createTemporaryFile("fa-kernel", "log", pending->log) ||
      (fatbin && llvm::sys::fs::createTemporaryFile("fa-kernel", "fatbin",
                                                    pending->packed)))
    return emitError(loc, "cannot create temporary files for ptxas");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(pending->input, ec);
    if (ec)
      return emitError(loc, "cannot write ")
             << pending->input << ": " << ec.message();
    os << ptx;
  }
  // The flags of upstream's serializer: --opt-level only for a fatbin.
  std::string chip = options.chip;
  std::string optLevel = std::to_string(options.optLevel);
  SmallVector<StringRef> args{pending->ptxas, "-arch", chip,
                              pending->input, "-o",    pending->cubin};
  if (fatbin)
    args.append({"--opt-level", optLevel});
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(pending->log),
                                          StringRef(pending->log)};
  std::string message;
  bool executionFailed = false;
  pending->process =
      llvm::sys::ExecuteNoWait(pending->ptxas, args, std::nullopt, redirects,
                               /*MemoryLimit=*/0, &message, &executionFailed);
  if (executionFailed)
    return toolFailed(loc, pending->ptxas, -1, message, pending->log);
  pending->running = true;
  return pending;
}

FailureOr<std::string> PendingAssembly::finish() {
  std::string message;
  llvm::sys::ProcessInfo done =
      llvm::sys::Wait(process, /*SecondsToWait=*/std::nullopt, &message);
  running = false;
  if (done.ReturnCode != 0)
    return toolFailed(loc, ptxas, done.ReturnCode, message, log);
  bool fatbin = !fatbinary.empty();
  if (fatbin) {
    StringRef sm = options.chip.getValue();
    sm.consume_front("sm_");
    std::string elf =
        llvm::formatv("--image3=kind=elf,sm={0},file={1}", sm, cubin).str();
    std::string text =
        llvm::formatv("--image3=kind=ptx,sm={0},file={1}", sm, input).str();
    std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                            StringRef(log)};
    int status = llvm::sys::ExecuteAndWait(
        fatbinary, {fatbinary, "-64", elf, text, "--create", packed},
        std::nullopt, redirects, /*SecondsToWait=*/0, /*MemoryLimit=*/0,
        &message);
    if (status != 0)
      return toolFailed(loc, fatbinary, status, message, log);
  }
  StringRef output = fatbin ? packed : cubin;
  // (The file exists from the start: an empty one means nothing written.)
  auto binary = llvm::MemoryBuffer::getFile(output, /*IsText=*/false);
  if (!binary || (*binary)->getBufferSize() == 0)
    return emitError(loc, llvm::sys::path::filename(fatbin ? fatbinary : ptxas))
           << " wrote nothing at " << output;
  return (*binary)->getBuffer().str();
}

PendingAssembly::~PendingAssembly() {
  if (running)
    llvm::sys::Wait(process, /*SecondsToWait=*/std::nullopt);
  for (StringRef path : {input, cubin, packed, log})
    if (!path.empty())
      llvm::sys::fs::remove(path);
}
