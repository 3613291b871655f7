//===- HopperKernelEmitter.h - The wgmma kernel emitter ---------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The emitter of the `hopper-ws` strategy's kernel (see
// HopperAttentionKernel.cpp for the schedule), shared by the key loop
// (HopperAttentionKernel.cpp) and the cp.async copies into the swizzled
// slabs (HopperCopies.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_HOPPERKERNELEMITTER_H
#define FA_LIB_CONVERSION_FATOGPU_HOPPERKERNELEMITTER_H

#include "AsyncCopy.h"
#include "BlockClassifier.h"
#include "RegisterSoftmax.h"
#include "ScoreCloner.h"
#include "Wgmma.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <memory>

namespace mlir::fa::detail {

/// Per-thread state of one consumer warpgroup's rows: rows g and g + 8 of
/// the thread's warp, and the O accumulator (Dv / 2 f32).
struct HopperState {
  SmallVector<Value> acc;
  SoftmaxRowState rows[2];
};

class HopperKernelEmitter {
public:
  HopperKernelEmitter(ImplicitLocOpBuilder &b, const AttentionKernelSpec &spec,
                      const HopperConfig &config, const ScoreFunction &function)
      : b(b), spec(spec), config(config), function(function),
        tile(function.getTile()), elementType(spec.getElementType()),
        headDim(spec.getHeadDim()), valueDim(spec.getValueHeadDim()),
        scoreScale(static_cast<float>(function.getKeptScale())) {}

  void emit(gpu::GPUFuncOp func);

private:
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value i32(int32_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  }
  Value add(Value x, Value y) { return b.createOrFold<arith::AddIOp>(x, y); }
  Value sub(Value x, Value y) { return b.createOrFold<arith::SubIOp>(x, y); }
  Value mul(Value x, Value y) { return b.createOrFold<arith::MulIOp>(x, y); }
  Value div(Value x, Value y) { return b.createOrFold<arith::DivUIOp>(x, y); }
  Value rem(Value x, Value y) { return b.createOrFold<arith::RemUIOp>(x, y); }
  Value minS(Value x, Value y) { return b.createOrFold<arith::MinSIOp>(x, y); }
  Value maxS(Value x, Value y) { return b.createOrFold<arith::MaxSIOp>(x, y); }
  Value lt(Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt, x, y);
  }
  Value ceilDiv(Value x, Value y) {
    return b.createOrFold<arith::CeilDivUIOp>(x, y);
  }

  /// Element offset of 16-byte chunk `chunk` of `row` in a slab tile of
  /// `rows` rows (see Wgmma.h).
  Value slabOffset(Value row, Value chunk, int64_t rows) {
    Value slab = div(chunk, idx(8));
    Value swizzled =
        b.createOrFold<arith::XOrIOp>(rem(chunk, idx(8)), rem(row, idx(8)));
    return add(mul(slab, idx(rows * 64)),
               add(mul(row, idx(64)), mul(swizzled, idx(kChunk))));
  }
  /// cp.async of rows [rowStart, rowStart + rows) of src[batch, head] into
  /// the slab tile at element `dstOffset` of `dst`; rows at or past
  /// `rowLimit` are zero-filled.
  void copyTile(Value src, Value batch, Value head, Value rowStart,
                Value rowLimit, Value dst, Value dstOffset, int64_t rows,
                int64_t cols);
  /// The K and V copies of block `block` into its ring slot, unless it is
  /// past the tile's blocks or invisible to the tile.
  void prefetch(Value block);

  SmallVector<Value> packState(const HopperState &state);
  HopperState unpackState(ValueRange values);
  void emitGuarded(HopperState &state, Value condition,
                   function_ref<void(HopperState &)> thenEmit,
                   function_ref<void(HopperState &)> elseEmit);
  void emitBlock(HopperState &state, Value block);
  void emitBlockCompute(HopperState &state, Value block, bool masked);
  void emitEpilogue(const HopperState &state);

  ImplicitLocOpBuilder &b;
  const AttentionKernelSpec &spec;
  const HopperConfig &config;
  const ScoreFunction &function;
  FusedAttentionTile tile;
  Type elementType;
  int64_t headDim, valueDim;
  float scoreScale;
  std::unique_ptr<TileCloner> cloner;
  std::unique_ptr<BlockClassifier> classifier;

  Value query, key, value, output, lse;
  Value tid, warpgroup, warpInGroup, groupId, threadInGroup;
  Value batch, head, kvHead, rowStart, qLength, kvLength;
  BlockRanges ranges;
  Value qTile, kRing, vRing; // flat element views of shared memory
  Value qDesc, kDesc, vDesc; // descriptors of this warpgroup's Q rows
                             // and of slot 0 of the K and V rings
};

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_HOPPERKERNELEMITTER_H
