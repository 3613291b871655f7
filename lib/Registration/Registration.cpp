//===- Registration.cpp - Register everything fa-mlir provides ------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Registration.h"
#include "fa/Dialect/FA/IR/FADialect.h"
#include "fa/Dialect/FA/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::fa::registerAllFADialects(DialectRegistry &registry) {
  registry
      .insert<fa::FADialect, arith::ArithDialect, cf::ControlFlowDialect,
              func::FuncDialect, linalg::LinalgDialect, math::MathDialect,
              scf::SCFDialect, tensor::TensorDialect, vector::VectorDialect>();
}

void mlir::fa::registerAllFAPasses() {
  // Upstream: canonicalize, cse, symbol-dce, ...
  registerTransformsPasses();
  fa::registerFAPasses();
}
