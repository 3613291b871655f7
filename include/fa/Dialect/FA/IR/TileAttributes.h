//===- TileAttributes.h - The fa.* attributes of tiled attention -*- C++ -*-=//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The discardable attributes that tie the tile passes and the GPU mapping
// together. They are part of the IR contract, so the fa dialect verifies
// them (FADialect::verifyOperationAttribute) wherever they appear: a name
// or value it does not know, or an `fa.attention_tile` whose block sizes
// disagree with the loops it annotates, is a verifier error.
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_IR_TILEATTRIBUTES_H
#define FA_DIALECT_FA_IR_TILEATTRIBUTES_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Operation.h"

#include <optional>

namespace mlir::fa {

/// `fa.softmax_stage` on the key/value loops (scf.for) of a tile.
struct SoftmaxStage {
  static constexpr StringLiteral attrName = "fa.softmax_stage";
  static constexpr StringLiteral rowMax = "row_max";
  static constexpr StringLiteral rowSum = "row_sum";
  static constexpr StringLiteral weightedValues = "weighted_values";
  static constexpr StringLiteral online = "online";
};

/// `fa.role` on the tile-level linalg.generic ops.
struct TileRole {
  static constexpr StringLiteral attrName = "fa.role";
  static constexpr StringLiteral qk = "qk";
  static constexpr StringLiteral scores = "scores";
  static constexpr StringLiteral probabilities = "probabilities";
  static constexpr StringLiteral weightedValues = "weighted_values";
  /// Every role the tile passes emit.
  static bool isKnown(StringRef role);
};

/// `fa.attention_tile = {block_m = M, block_n = N}` on the scf.forall that
/// tiling makes: M query rows per tile (the third induction variable times
/// M is the tile's first row, and the third upper bound is
/// ceildiv(Nq, M)), N keys per step of every key/value loop.
struct AttentionTileAttr {
  static constexpr StringLiteral attrName = "fa.attention_tile";
  static DictionaryAttr get(MLIRContext *ctx, int64_t blockM, int64_t blockN);
  /// (block_m, block_n) of a well-formed attribute.
  static std::optional<std::pair<int64_t, int64_t>>
  getBlockSizes(Attribute attr);
};

/// Verifies one `fa.*` attribute on `op` (FADialect's hook).
LogicalResult verifyTileAttribute(Operation *op, NamedAttribute attribute);

} // namespace mlir::fa

#endif // FA_DIALECT_FA_IR_TILEATTRIBUTES_H
