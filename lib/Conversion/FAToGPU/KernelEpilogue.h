//===- KernelEpilogue.h - Output rows, shared by the strategies -*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The epilogue every strategy shares: one accumulator row of a thread,
// normalized by the softmax sum, converted to the element type and stored
// as pairs of columns, and the row's LSE stored by the first thread of its
// quad. Both tensor-core layouts (mma.sync m16n8, wgmma m64nN) give a
// thread the columns 8d + 2c and 8d + 2c + 1 of its rows (c: the lane
// within the quad); the strategies differ in where those two accumulators
// are.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_KERNELEPILOGUE_H
#define FA_LIB_CONVERSION_FATOGPU_KERNELEPILOGUE_H

#include "RegisterSoftmax.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::fa::detail {

/// Where a kernel's output rows go.
struct OutputRows {
  Value output, lse; // lse: null without an LSE output
  Value batch, head, qLength;
  /// A split-KV tile's split (null otherwise): O and LSE are then the f32
  /// partial tensors, indexed by the split first.
  Value split;
  Value threadInGroup; // c, the lane within the quad
  Type elementType;
  /// A packed GQA tile (packedHeads > 1): `head` is its first query head,
  /// and tile row r = row - rowStart is head head + r / positions at
  /// rowStart + r % positions, stored when r < packedHeads * positions.
  int64_t packedHeads = 1;
  Value rowStart, positions;
};

/// Stores row `row` of the output (nothing when row >= qLength; packed:
/// see OutputRows): column
/// 8d + 2c + e is accumulator(d, e) * result.inverseSum, for d below
/// valueDim / 8; and the row's LSE from the quad's first thread.
void emitOutputRow(ImplicitLocOpBuilder &b, const OutputRows &rows, Value row,
                   const SoftmaxRowResult &result, int64_t valueDim,
                   function_ref<Value(int64_t d, int64_t e)> accumulator);

/// Stores `lse` as the LSE of row `row` of query head `head` (the row
/// valid), from the first thread of the quad; nothing without an LSE
/// output.
void emitRowLse(ImplicitLocOpBuilder &b, const OutputRows &rows, Value head,
                Value row, Value lse);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_KERNELEPILOGUE_H
