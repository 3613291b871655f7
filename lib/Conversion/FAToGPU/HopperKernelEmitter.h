//===- HopperKernelEmitter.h - The wgmma kernel emitter ---------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The emitter of the `hopper-ws` strategy's kernel (see
// HopperAttentionKernel.cpp for the schedule), shared by the consumers' key
// loop (HopperAttentionKernel.cpp) and the producer's TMA loads into the
// mbarrier ring (HopperProducer.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_HOPPERKERNELEMITTER_H
#define FA_LIB_CONVERSION_FATOGPU_HOPPERKERNELEMITTER_H

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
  /// Blocks computed so far: the ring stage and barrier phase of the next.
  Value computed;
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

  /// mbarrier `index` (HopperConfig::barriers: 0 Q loaded, 1 + s K of
  /// stage s loaded, 1 + stages + s V loaded, 1 + 2 stages + s stage s
  /// released) as a shared-memory pointer.
  Value barrier(Value index);
  Value barrier(int64_t index) { return barrier(idx(index)); }
  Value qLoaded() { return barrier(0); }
  Value kLoaded(Value slot) { return barrier(add(slot, idx(1))); }
  Value vLoaded(Value slot) {
    return barrier(add(slot, idx(1 + config.stages)));
  }
  Value released(Value slot) {
    return barrier(add(slot, idx(1 + 2 * config.stages)));
  }
  /// Whether the consumer warpgroups take turns issuing their MMAs.
  bool pingPong() const { return config.warpgroups() > 1; }
  /// The named barrier (1 + w) on which consumer warpgroup w waits for its
  /// turn, as an i32.
  Value turnBarrier(Value consumer) {
    return arith::IndexCastOp::create(b, b.getI32Type(), add(consumer, idx(1)));
  }
  /// Waits until the phase of `bar` with parity `parity` (index) completed.
  void waitBarrier(Value bar, Value parity);
  /// One thread initializes the barriers; the block waits for it.
  void initBarriers();
  /// Expects the bytes of a `rows` x `cols` tile on `bar` and issues its
  /// TMA loads (one per 64-column slab) of rows [row, row + rows) of
  /// map[batch, head] into the slab tile at byte `dstOffset` of shared
  /// memory; rows past the tensor are zero-filled. One thread.
  void loadTile(Value map, Value bar, Value batch, Value head, Value row,
                int64_t dstOffset, Value dstSlotOffset, int64_t rows,
                int64_t cols);
  /// The producer warp: Q, then K and V of every block the consumers
  /// compute, into the ring, each stage once the consumers released it.
  void emitProducer();

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
  Value qMap, kMap, vMap; // TMA tensor maps (kernel parameters)
  Value tid, warpgroup, warpInGroup, groupId, threadInGroup;
  Value batch, head, kvHead, rowStart, qLength, kvLength;
  BlockRanges ranges;
  Value smemBase;            // i32 shared address of the aligned tiles
  Value qDesc, kDesc, vDesc; // descriptors of this warpgroup's Q rows
                             // and of slot 0 of the K and V rings
  int64_t qBytes = 0, kSlotBytes = 0, vSlotBytes = 0;
};

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_HOPPERKERNELEMITTER_H
