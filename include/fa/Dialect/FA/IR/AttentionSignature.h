//===- AttentionSignature.h - Shape rules of fa.attention -------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The type rules of `fa.attention`, usable without an op: the verifier, the
// canonicalizer (to check that refining a type keeps the op valid) and IR
// builders in embedding compilers all go through `verifyAttentionSignature`.
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_IR_ATTENTIONSIGNATURE_H
#define FA_DIALECT_FA_IR_ATTENTIONSIGNATURE_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/APFloat.h"

#include <optional>

namespace mlir::fa {

/// The types and scalar attributes that decide whether an attention is valid.
struct AttentionSignature {
  Type query, key, value, output;
  /// Null when no log-sum-exp output is requested.
  Type lse;
  std::optional<double> scale;
  /// Variable-length batches: the types of the cumulative sequence offsets
  /// of the queries and of the keys (both null for fixed-length batches).
  /// Q, K, V and O are then packed `[T, H, D]` and the LSE `[Hq, Tq]`.
  Type cuSeqlensQ, cuSeqlensK;
  bool isVarlen() const { return cuSeqlensQ || cuSeqlensK; }
  /// A paged KV cache: the types of the block table and of the per-sequence
  /// key lengths (both null otherwise). K and V are then pools
  /// `[num_pages, page_size, Hkv, D]`.
  Type blockTable, cacheSeqlens;
  bool isPaged() const { return blockTable || cacheSeqlens; }
};

/// Checks `sig` against the rules documented on `fa.attention`. On failure,
/// reports one diagnostic through `emitError` when it is non-null.
LogicalResult
verifyAttentionSignature(const AttentionSignature &sig,
                         function_ref<InFlightDiagnostic()> emitError);

/// Element types fa.attention accepts for Q, K, V and O.
bool isSupportedAttentionElementType(Type type);

/// log2(e): fa-fuse-online-softmax folds it into the scale (one f32), so
/// that the softmax runs on exp2; the verifier bounds the scale by it.
inline constexpr double kLog2E = 1.4426950408889634;

/// The softmax scale in effect: `scale` (an op's attribute), or
/// 1 / sqrt(`query`'s head dimension) when absent.
double getEffectiveScale(std::optional<APFloat> scale, Type query);

} // namespace mlir::fa

#endif // FA_DIALECT_FA_IR_ATTENTIONSIGNATURE_H
