//===- Assembler.h - PTX to cubin or fatbin with the toolkit ----*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The toolkit's ptxas (and fatbinary for a fatbin) on the PTX of one kernel,
// as a child process that runs while the compile goes on: the LLVM backend
// of the next kernel of a backward or split-KV compile overlaps the ptxas
// of the one before, and several ptxas run side by side.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_PIPELINES_ASSEMBLER_H
#define FA_LIB_PIPELINES_ASSEMBLER_H

#include "fa/Pipelines/Pipelines.h"

#include "mlir/IR/Location.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Program.h"

#include <memory>
#include <string>

namespace mlir::fa::detail {

/// One kernel's ptxas, started by start() and collected by finish(). A
/// PendingAssembly destroyed before finish() still waits for its child and
/// removes its temporary files, so a failed compile leaves neither behind.
class PendingAssembly {
public:
  /// Writes `ptx` to a temporary file and starts ptxas on it for the
  /// options' chip; an error (no toolkit, no temporary file, ptxas that
  /// cannot be started) is reported at `loc`.
  static FailureOr<std::unique_ptr<PendingAssembly>>
  start(Location loc, StringRef ptx, const FACompileOptions &options);

  /// Waits for ptxas, packs the fatbin if one was asked for, and returns the
  /// binary; a tool that fails is an error at the location, with its log.
  FailureOr<std::string> finish();

  ~PendingAssembly();
  PendingAssembly(const PendingAssembly &) = delete;
  PendingAssembly &operator=(const PendingAssembly &) = delete;

private:
  PendingAssembly(Location loc, const FACompileOptions &options)
      : loc(loc), options(options) {}

  Location loc;
  const FACompileOptions &options;
  std::string ptxas, fatbinary;
  llvm::SmallString<128> input, cubin, packed, log;
  llvm::sys::ProcessInfo process;
  bool running = false;
};

} // namespace mlir::fa::detail

#endif // FA_LIB_PIPELINES_ASSEMBLER_H
