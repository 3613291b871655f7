//===- fa-opt.cpp - The fa-mlir optimizer driver --------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// mlir-opt for fa-mlir: parses IR, runs any fa or upstream pass or named
// pipeline given on the command line, and prints the result.
//
//===----------------------------------------------------------------------===//

#include "fa/Pipelines/KernelArtifacts.h"
#include "fa/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  // --version: fa-mlir's version and the MLIR/LLVM it was built with.
  llvm::cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << mlir::fa::getFACompilerVersion() << "\n";
  });
  // A diagnostic is the message and its location, not the op printed in
  // generic form after it (as fa-compile and the C API print them);
  // --mlir-print-op-on-diagnostic brings the op back.
  mlir::registerMLIRContextCLOptions();
  auto &options = llvm::cl::getRegisteredOptions();
  if (auto *printOp = static_cast<llvm::cl::opt<bool> *>(
          options.lookup("mlir-print-op-on-diagnostic")))
    printOp->setInitialValue(false);
  mlir::fa::registerAllFAPasses();
  mlir::DialectRegistry registry;
  mlir::fa::registerAllFADialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "fa-mlir optimizer driver\n", registry));
}
