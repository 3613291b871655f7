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

#include "fa/Conversion/FAToGPU/FAToGPU.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <optional>

namespace mlir::fa::detail {

/// The running state of one row piece: the maximum of the row's (inner)
/// scores so far (-inf before any visible one) and this thread's partial
/// sum of exp2.
struct SoftmaxRowState {
  Value max, sum;
  /// With a fixed maximum and an LSE output: the partial sum of the
  /// unrounded probabilities, which the LSE is taken from (`sum` then sums
  /// the rounded ones that normalize O). Null otherwise.
  Value exactSum;

  /// The state's values, for loop-carried and branch results.
  void appendTo(SmallVectorImpl<Value> &values) const;
  unsigned size() const { return exactSum ? 3 : 2; }
  /// The inverse of appendTo from values[at...] (`at` advances).
  static SoftmaxRowState takeFrom(ValueRange values, size_t &at,
                                  bool withExactSum);
};

/// The state before the first block: max = -inf (or the fixed maximum of
/// a softmax that has one, ScoreFunction::getFixedMax), sums 0; the exact
/// sum only where `withExactSum`.
SoftmaxRowState initialSoftmaxRow(ImplicitLocOpBuilder &b,
                                  std::optional<double> fixedMax,
                                  bool withExactSum);

/// The sum of `x` over the 4 threads of the row's quad.
Value quadSum(ImplicitLocOpBuilder &b, Value x);

/// How a strategy's softmax is built.
struct SoftmaxOptions {
  /// The fixed maximum of bounded scores (ScoreFunction::getFixedMax).
  std::optional<double> fixedMax;
  /// The element type of P in P V (f16, bf16): with a fixed maximum the
  /// probabilities are rounded to it before they are summed.
  Type probabilityType;
  /// How many of every kExp2EmulationPeriod exponentials of a row piece
  /// are computed on the FMA pipe (emulatedExp2) instead of by MUFU.EX2
  /// (16 a cycle per SM, against 128 FMA lanes): for a block whose MUFU
  /// work would outlast its MMAs. 0: all by MUFU.
  int64_t emulatedExp2 = 0;
};

/// 2^x (f32) without the MUFU unit, for the softmax's x <= 0 (a few ulp
/// above 0 from rounding is fine): x clamped to [-127, ...) (-inf and
/// anything below 2^-127 give exactly 0; NaN stays NaN), split into the
/// nearest integer j (the 1.5 * 2^23 rounding trick) and f in [-1/2, 1/2],
/// 2^f by a minimax polynomial with p(0) = 1 (degree 3 for bf16
/// probabilities: relative error 1.0e-4, below bf16's 2^-9 rounding;
/// degree 4 for f16: 2.9e-6), and j added to the exponent bits. Ten
/// instructions, all on the FMA and integer pipes.
Value emulatedExp2(ImplicitLocOpBuilder &b, Value x, Type probabilityType);

/// `lo` and `hi` (f32) rounded to `type` (f16 or bf16) and packed into an
/// i32, `lo` in the low half: a register of an MMA's 16-bit A fragment.
Value packPair(ImplicitLocOpBuilder &b, Value lo, Value hi, Type type);

/// One block of one row piece: the probabilities and the factor that
/// rescales the row's accumulators (null: nothing to rescale).
struct SoftmaxBlockRow {
  SmallVector<Value> probabilities;
  Value alpha;
};

/// One block of the online softmax for one row piece: `scores` are the
/// row's inner scores of the block (-inf where hidden), `scale` the
/// positive factor that turns them into log2-domain scores. Updates `state`
/// and returns the probabilities exp2((s - max) * scale) (0 where hidden;
/// never NaN while the row has seen nothing) and the factor alpha that
/// rescales the row's previous accumulators. With a fixed maximum (the
/// state's max, an upper bound of every score) there is no row maximum to
/// find: the probabilities are exp2((s - fixedMax) * scale), rounded to
/// the probability type (in pairs of neighbours, as P is packed) and
/// summed so (the unrounded ones into the exact sum, if the state has one),
/// and alpha is null (nothing to rescale).
SoftmaxBlockRow updateSoftmaxRow(ImplicitLocOpBuilder &b,
                                 ArrayRef<Value> scores, float scale,
                                 SoftmaxRowState &state,
                                 const SoftmaxOptions &options);

/// The end of a row: 1 / sum over the quad (0 for a row that saw nothing,
/// whose output is then 0), whether the row saw nothing, and its natural-log
/// LSE (max * scale * ln 2 + log sum, of the exact sum where the state has
/// one; -inf for an empty row).
struct SoftmaxRowResult {
  Value inverseSum, empty, lse;
};
SoftmaxRowResult finishSoftmaxRow(ImplicitLocOpBuilder &b,
                                  const SoftmaxRowState &state, float scale);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_REGISTERSOFTMAX_H
