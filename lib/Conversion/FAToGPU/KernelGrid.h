//===- KernelGrid.h - Which tile a block computes ---------------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The grid every strategy is launched with (lowerAttentionTileToGPU:
// (ceildiv(Nq, block_m), Hq, B)), read back inside the kernel.
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_KERNELGRID_H
#define FA_LIB_CONVERSION_FATOGPU_KERNELGRID_H

#include "ScoreCloner.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::fa::detail {

/// This block's tile and the sequence lengths.
struct TileCoordinates {
  Value tileIndex, head, batch, qLength, kvLength, rowStart;
};

/// Reads the tile of this block: query tile x, head y, batch z. With a
/// mask, later query tiles usually see more keys (causal), so the tiles are
/// handed out in reverse: the short ones fill the last wave.
TileCoordinates emitTileCoordinates(ImplicitLocOpBuilder &b,
                                    const ScoreFunction &function, Value query,
                                    Value key, int64_t blockM);

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_KERNELGRID_H
