//===- TileOps.h - The tile-level ops of tiled attention --------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// One builder per tile-level op (`fa.role`) that tiling and fusion emit, and
// the check that an op is exactly what its builder makes. The passes build
// their IR with these, and every later consumer (the fusion pattern, the GPU
// mapping) checks the bodies it rewrites by rebuilding them from the same
// operands and comparing: an edited body is reported, never reinterpreted.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_DIALECT_FA_TRANSFORMS_TILEOPS_H
#define FA_LIB_DIALECT_FA_TRANSFORMS_TILEOPS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace mlir::fa::tileops {

/// acc[m, n] += lhs[m, k] * rhs[n, k] (role qk: Q K^T).
Value buildQK(OpBuilder &b, Location loc, Value query, Value key, Value acc);
/// acc[m, n] += lhs[m, k] * rhs[k, n] (role weighted_values: P V).
Value buildWeightedValues(OpBuilder &b, Location loc, Value probabilities,
                          Value value, Value acc);
/// Row maximum of `tile` into `init` (roles row_max and running_max).
Value buildRowMax(OpBuilder &b, Location loc, Value tile, Value init,
                  StringRef role);
/// Row sum of `tile` into `init` (role row_sum).
Value buildRowSum(OpBuilder &b, Location loc, Value tile, Value init);
/// exp(s - max) of the exact softmax (role exp).
Value buildExp(OpBuilder &b, Location loc, Value scores, Value max, Value out);
/// exp(s - max) / sum, 0 for rows that see no key (role probabilities of the
/// exact softmax).
Value buildExactProbabilities(OpBuilder &b, Location loc, Value scores,
                              Value max, Value sum, Value out);
/// exp2(s2 - max2) (role probabilities of the online softmax).
Value buildOnlineProbabilities(OpBuilder &b, Location loc, Value scores,
                               Value max, Value out);
/// exp2(old max - new max), per row (role rescale).
Value buildRescale(OpBuilder &b, Location loc, Value max, Value newMax,
                   Value out);
/// sum * alpha (role rescale_sum).
Value buildRescaleSum(OpBuilder &b, Location loc, Value sum, Value alpha,
                      Value out);
/// acc * alpha, per row (role rescale_acc).
Value buildRescaleAcc(OpBuilder &b, Location loc, Value acc, Value alpha,
                      Value out);
/// max2 * ln 2: the natural-log max from the log2-domain one (role
/// max_natural_log).
Value buildMaxNaturalLog(OpBuilder &b, Location loc, Value max2, Value out);
/// acc / sum, 0 for rows that see no key (role normalize).
Value buildNormalize(OpBuilder &b, Location loc, Value acc, Value sum,
                     Value out);
/// The output tile in the element type of `out` (role store).
Value buildStore(OpBuilder &b, Location loc, Value acc, Value out);
/// max + log(sum) (role lse).
Value buildLse(OpBuilder &b, Location loc, Value max, Value sum, Value out);

// The combine step of a split key range: per row, the largest partial LSE
// ([splits, rows] -> [rows]), the weight exp(lse_s - max) of each split, their
// sum, and sum_s weight_s * O_s ([splits, rows, Dv] -> [rows, Dv]).
Value buildCombineMax(OpBuilder &b, Location loc, Value lse, Value init);
Value buildCombineWeights(OpBuilder &b, Location loc, Value lse, Value max,
                          Value out);
Value buildCombineSum(OpBuilder &b, Location loc, Value weights, Value init);
Value buildCombineAcc(OpBuilder &b, Location loc, Value weights, Value partial,
                      Value acc);

//===----------------------------------------------------------------------===//
// The backward pass (fa-tile-attention-backward)
//===----------------------------------------------------------------------===//

/// Row sums of dO * O in f32 into `init` (role delta).
Value buildDelta(OpBuilder &b, Location loc, Value gradOutput, Value output,
                 Value init);
/// exp(s - lse) per row, 0 for rows whose LSE is -inf (role
/// recomputed_probabilities).
Value buildRecomputedProbabilities(OpBuilder &b, Location loc, Value scores,
                                   Value lse, Value out);
/// acc[m, n] += dO[m, e] * V[n, e] (role grad_probabilities: dP = dO V^T).
Value buildGradProbabilities(OpBuilder &b, Location loc, Value gradOutput,
                             Value value, Value acc);
/// P * (dP - delta) per element, times d score_mod / d score when
/// `derivative` is given (then 0 wherever P is 0) (role grad_scores).
Value buildGradScores(OpBuilder &b, Location loc, Value probabilities,
                      Value gradProbabilities, Value derivative, Value delta,
                      Value out);
/// acc[n, e] += P[m, n] * dO[m, e] (role grad_value: dV += P^T dO).
Value buildGradValue(OpBuilder &b, Location loc, Value probabilities,
                     Value gradOutput, Value acc);
/// acc[n, d] += dS[m, n] * Q[m, d] (role grad_key: dK += dS^T Q).
Value buildGradKey(OpBuilder &b, Location loc, Value gradScores, Value query,
                   Value acc);
/// acc[m, d] += dS[m, n] * K[n, d] (role grad_query: dQ += dS K).
Value buildGradQuery(OpBuilder &b, Location loc, Value gradScores, Value key,
                     Value acc);
/// scale * acc in the element type of `out` (role scaled_store).
Value buildScaledStore(OpBuilder &b, Location loc, Value acc, double scale,
                       Value out);
/// The scale of a scaled_store body: the constant its multiplication takes
/// (wherever canonicalization moved it), 1 without a multiplication; none
/// when the body is not of that form.
std::optional<double> getStoredScale(linalg::GenericOp op);

} // namespace mlir::fa::tileops

#endif // FA_LIB_DIALECT_FA_TRANSFORMS_TILEOPS_H
