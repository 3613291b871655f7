//===- Backward.h - Run and check the kernels of a backward pass ----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// fa-compile writes the three kernels of an fa.attention_backward as
// <prefix>.0, .1 and .2 (delta, key_value, query; each .json says its
// stage). fa-runner <prefix> finds them when <prefix>.json does not exist.
// It draws Q, K, V and dO from the seeded generator, computes O and the LSE
// of the forward in fp64 (O rounded to the input type, as a forward kernel
// stores it), runs the three kernels on the same arguments and checks dQ,
// dK and dV against gradients computed in fp64 on the CPU, with code that
// shares nothing with the compiler: the derivative of a score_mod is a
// central difference of the region the interpreter evaluates. The rule is
// the forward's: max|grad - ref| <= 2 * max|baseline - ref| + 1e-5 for each
// gradient, the baseline being the same backward with every intermediate
// (scores, P, dP, dS) rounded to the input type.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_BACKWARD_H
#define FA_RUNNER_BACKWARD_H

#include "Options.h"

namespace fa_runner {

/// Whether <prefix>.0.json exists and describes a backward kernel.
bool isBackwardPrefix(const std::string &prefix);

/// Runs and checks (and with --bench times) the backward kernels at
/// `opt.prefix`; returns the exit code.
int runBackward(const Options &opt);

} // namespace fa_runner

#endif // FA_RUNNER_BACKWARD_H
