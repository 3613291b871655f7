//===- Registration.h - Register everything fa-mlir provides ----*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// One place that every tool (fa-opt, fa-runner, the C API behind Python) and
// every embedding compiler calls, so that they all see the same dialects,
// passes and pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef FA_REGISTRATION_H
#define FA_REGISTRATION_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace mlir::fa {

/// Adds the fa dialect and every upstream dialect (with its interface
/// extensions) that the fa pipeline produces or consumes.
void registerAllFADialects(DialectRegistry &registry);

/// Registers every fa pass and named pipeline, plus the upstream passes the
/// pipeline is built from, with the global pass registry (so that they are
/// reachable from `fa-opt` command lines). Safe to call more than once.
void registerAllFAPasses();

} // namespace mlir::fa

#endif // FA_REGISTRATION_H
