//===- TileUtils.h - Builders shared by the fa tile transforms --*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Small builders for the tile-level linalg ops that tiling and fusion both
// emit (elementwise maps and row reductions over 1-D/2-D f32 tiles).
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_DIALECT_FA_TRANSFORMS_TILEUTILS_H
#define FA_LIB_DIALECT_FA_TRANSFORMS_TILEUTILS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace mlir::fa::tileutils {

/// A row-indexed (1-D) or tile (2-D) f32 tensor of the shape of `like`,
/// uninitialized.
Value emptyLike(OpBuilder &b, Location loc, Value like);

/// A tensor of the shape of `like` filled with `value`.
Value filledLike(OpBuilder &b, Location loc, Value like, double value);

/// An elementwise linalg.generic over the 2-D tile `out`-shaped iteration
/// space. `rowInputs` are 1-D per-row tensors, broadcast along columns;
/// `tileInputs` are 2-D. The body receives the scalars in that order followed
/// by the output element.
using ScalarBody = function_ref<Value(OpBuilder &, Location, ValueRange)>;
Value mapTile(OpBuilder &b, Location loc, ValueRange tileInputs,
              ValueRange rowInputs, Value out, StringRef role, ScalarBody body);

/// An elementwise linalg.generic of `input` into `out`, of any rank.
Value mapElements(OpBuilder &b, Location loc, Value input, Value out,
                  StringRef role, ScalarBody body);

/// An elementwise linalg.generic over 1-D per-row tensors.
Value mapRows(OpBuilder &b, Location loc, ValueRange rowInputs, Value out,
              StringRef role, ScalarBody body);

/// Reduces the 2-D `tile` along columns into the 1-D `init` with
/// `combine(accumulator, element)`.
Value reduceRows(
    OpBuilder &b, Location loc, Value tile, Value init, StringRef role,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine);

/// `x == -inf ? 0 : x`: the row maximum to subtract, safe for rows that saw
/// no key yet (exp(-inf - -inf) would be NaN).
Value safeRowMax(OpBuilder &b, Location loc, Value max);

/// An index constant.
Value indexConst(OpBuilder &b, Location loc, int64_t value);

/// The [size, dim] tile at (batch, head, start) of a [B, H, N, dim] tensor;
/// with a null `batch`, at rows [start, start + size) of `head` in a
/// [T, H, dim] tensor (the packed tokens of variable-length batches).
Value extractRows(OpBuilder &b, Location loc, Value source, Value batch,
                  Value head, Value start, Value size, int64_t dim);

/// Element `index` of a 1-D i32 tensor (cumulative sequence offsets), as an
/// index.
Value extractOffset(OpBuilder &b, Location loc, Value offsets, Value index);

/// The Q tile of a packed GQA tile: rows [start, start + size) of the
/// `heads` heads from `firstHead` of a [B, H, N, dim] tensor, collapsed
/// head-major into [heads * size, dim].
Value extractPackedRows(OpBuilder &b, Location loc, Value source, Value batch,
                        Value firstHead, int64_t heads, Value start, Value size,
                        int64_t dim);

/// The Q tile of a packed GQA tile of a variable-length batch: tokens
/// [token, token + size) of the `heads` heads from `firstHead` of a packed
/// [T, H, dim] tensor, transposed to [heads, size, dim] and collapsed
/// head-major into [heads * size, dim] as extractPackedRows.
Value extractPackedTokenRows(OpBuilder &b, Location loc, Value source,
                             Value firstHead, int64_t heads, Value token,
                             Value size, int64_t dim);

/// [heads, size, dim] -> [size, heads, dim] (the inverse of the transpose
/// in extractPackedTokenRows: an output tile in token-major order).
Value transposeHeadsAndTokens(OpBuilder &b, Location loc, Value tile);

/// The inverse for an output tile: [heads * size, ...] expanded into
/// [heads, size, ...] (`tile` of rank 1 or 2).
Value expandPackedRows(OpBuilder &b, Location loc, Value tile, int64_t heads,
                       Value size);

/// The [size] rows at (batch, head, start) of a [B, H, N] tensor.
Value extractRowVector(OpBuilder &b, Location loc, Value source, Value batch,
                       Value head, Value start, Value size);

/// A [rows, cols] f32 tile of zeros.
Value zeroTile(OpBuilder &b, Location loc, OpFoldResult rows,
               OpFoldResult cols);

/// Runtime checks of what a verifier cannot see with dynamic head counts:
/// at least one key/value head, and query heads a multiple of them.
/// `opName` prefixes the messages.
void buildHeadChecks(OpBuilder &b, Location loc, bool dynamicHeads,
                     Value qHeads, Value kvHeads, StringRef opName);

/// The GPU block mapping of a tile forall's first `rank` dimensions, (z, y,
/// x) in that order. Besides the grid it states, it keeps canonicalization
/// from folding away a dimension of size 1.
ArrayAttr getBlockMapping(MLIRContext *ctx, unsigned rank);

/// The end of the keys a tile of `rows` rows from `rowStart` sees under a
/// causal mask (key j is visible from row i iff j <= i + shift):
/// min(Nk, max(0, rowStart + rows + shift)).
Value buildCausalKeyEnd(OpBuilder &b, Location loc, Value rowStart, Value rows,
                        Value shift, Value kvLength);

/// The tile-level attribute `fa.role`.
void setRole(Operation *op, StringRef role);
StringRef getRole(Operation *op);

} // namespace mlir::fa::tileutils

#endif // FA_LIB_DIALECT_FA_TRANSFORMS_TILEUTILS_H
