//===- Reference.h - The problem, its inputs and the CPU reference --------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What fa-runner checks a kernel against on the host: attention of one query
// row in fp64, with the kernel's score_mod and mask_mod applied by the
// region interpreter (docs/ProgrammableAttention.md, "Semantics"), and the
// same row computed the way a plain low-precision implementation would (the
// baseline whose error sets the tolerance).
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_REFERENCE_H
#define FA_RUNNER_REFERENCE_H

#include "ModInterpreter.h"
#include "Support.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace fa_runner {

struct Problem {
  int64_t B, Hq, Hkv, Nq, Nk, D;
  bool bf16;
  double scale;
  int causal; // 0 none, 1 top_left, 2 bottom_right
  bool lse;
  bool bshd;

  // Element strides (in elements) of Q/O ([B, Hq, N, D]) and K/V.
  std::vector<int64_t> strides(int64_t H, int64_t N) const {
    if (bshd) // memory is [B, N, H, D]
      return {N * H * D, D, H * D, 1};
    return {H * N * D, N * D, D, 1};
  }
  int64_t index(const std::vector<int64_t> &st, int64_t b, int64_t h, int64_t n,
                int64_t d) const {
    return b * st[0] + h * st[1] + n * st[2] + d * st[3];
  }
  float load(const std::vector<uint16_t> &t, int64_t i) const {
    return bf16 ? fromBF16(t[i]) : fromF16(t[i]);
  }
  uint16_t round(float f) const { return bf16 ? toBF16(f) : toF16(f); }
  float roundTrip(float f) const {
    return bf16 ? fromBF16(toBF16(f)) : fromF16(toF16(f));
  }
  /// Last key row i may see under the causal mask, exclusive (Nk when not
  /// causal).
  int64_t visibleEnd(int64_t i) const {
    if (!causal)
      return Nk;
    int64_t shift = causal == 1 ? 0 : Nk - Nq;
    return std::clamp<int64_t>(i + shift + 1, 0, Nk);
  }
};

struct Inputs {
  std::vector<uint16_t> q, k, v; // in the problem's layout
};

/// Q, K, V from the seeded generator; `mode` is normal, large or dominant.
Inputs makeInputs(const Problem &p, uint64_t seed, const std::string &mode);

struct RowResult {
  std::vector<double> out;  // exact, fp64
  double lse;               // natural log; -inf for an empty row
  std::vector<double> base; // the low-precision baseline
  bool empty;               // no kept pair with a finite modified score
  int64_t kept;             // pairs kept by the causal mask and mask_mod
};

/// Query row (b, h, i): s = scale q.k in fp64, s' = score_mod(s, ...), kept
/// = causal && mask_mod; O and LSE over the kept pairs. The baseline rounds
/// q.k and the scaled score to the input type, applies score_mod to that
/// and rounds the modified score again, then computes the softmax in fp32
/// with probabilities rounded, P V accumulated in fp32 and rounded.
/// `mods` may be null (plain attention). The regions see batch index
/// `modBatch` when it is not negative, else `b` (a varlen sequence, held
/// as a problem of its own, keeps its index in the batch).
RowResult evaluateRow(const Problem &p, const Inputs &in, ModEvaluator *mods,
                      int64_t b, int64_t h, int64_t i, int64_t modBatch = -1);

} // namespace fa_runner

#endif // FA_RUNNER_REFERENCE_H
