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

#include "fa/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::fa::registerAllFAPasses();
  mlir::DialectRegistry registry;
  mlir::fa::registerAllFADialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "fa-mlir optimizer driver\n", registry));
}
