//===- RegisterSoftmax.h - Online softmax on accumulator fragments -*- C++ -*-//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The register-level online softmax shared by the GPU strategies. Both the
// mma.sync m16n8k16 and the wgmma m64nNk16 accumulator layouts give each
// thread whole pieces of a few rows, with a row spread over the 4 threads of
// a quad (lanes 4g .. 4g+3): a row's reductions are in-thread, then two xor
// shuffles. The functions here work on one such row piece.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_REGISTERSOFTMAX_H
#define FA_LIB_CONVERSION_FATOGPU_REGISTERSOFTMAX_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::fa::detail {

/// The running state of one row piece: the maximum of the row's (inner)
/// scores so far (-inf before any visible one) and this thread's partial
/// sum of exp2.
struct SoftmaxRowState {
  Value max, sum;
};

/// The state before the first block: max = -inf, sum = 0.
SoftmaxRowState initialSoftmaxRow(ImplicitLocOpBuilder &b);

/// The sum of `x` over the 4 threads of the row's quad.
Value quadSum(ImplicitLocOpBuilder &b, Value x);

/// One block of the online softmax for one row piece: `scores` are the
/// row's inner scores of the block (-inf where hidden), `scale` the
/// positive factor that turns them into log2-domain scores. Updates `state`
/// and returns the probabilities exp2((s - max) * scale) (0 where hidden;
/// never NaN while the row has seen nothing) and the factor alpha that
/// rescales the row's previous accumulators.
std::pair<SmallVector<Value>, Value>
updateSoftmaxRow(ImplicitLocOpBuilder &b, ArrayRef<Value> scores, float scale,
                 SoftmaxRowState &state);

/// The end of a row: 1 / sum over the quad (0 for a row that saw nothing,
/// whose output is then 0), whether the row saw nothing, and its natural-log
/// LSE (max * scale * ln 2 + log sum; -inf for an empty row).
struct SoftmaxRowResult {
  Value inverseSum, empty, lse;
};
SoftmaxRowResult finishSoftmaxRow(ImplicitLocOpBuilder &b,
                                  const SoftmaxRowState &state, float scale);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_REGISTERSOFTMAX_H
