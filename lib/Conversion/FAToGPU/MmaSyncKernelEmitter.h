//===- MmaSyncKernelEmitter.h - The mma.sync kernel emitter -----*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The emitter of the `mma-sync` strategy's kernel (see
// MmaSyncAttentionKernel.cpp for the schedule): its fragment and address
// helpers, shared by the key loop (MmaSyncAttentionKernel.cpp) and the
// cp.async copies into swizzled shared memory (MmaSyncCopies.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef FA_LIB_CONVERSION_FATOGPU_MMASYNCKERNELEMITTER_H
#define FA_LIB_CONVERSION_FATOGPU_MMASYNCKERNELEMITTER_H

#include "AsyncCopy.h"
#include "BlockClassifier.h"
#include "RegisterSoftmax.h"
#include "ScoreCloner.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <array>
#include <map>
#include <memory>

namespace mlir::fa::detail {

/// Per-thread state of the online softmax for one 16-row MMA tile: rows
/// `g` and `g + 8` of the tile, where g = lane / 4.
struct OnlineSoftmaxState {
  SmallVector<Value> acc; // Dv / 8 accumulators, vector<2x2xf32>
  SoftmaxRowState rows[2];
};

class MmaSyncKernelEmitter {
public:
  MmaSyncKernelEmitter(ImplicitLocOpBuilder &b, const AttentionKernelSpec &spec,
                       const MmaSyncConfig &config,
                       const ScoreFunction &function)
      : b(b), spec(spec), config(config), function(function),
        tile(function.getTile()), elementType(spec.getElementType()),
        headDim(spec.getHeadDim()), rowTiles(config.rowTilesPerWarp()),
        scoreScale(static_cast<float>(function.getKeptScale())),
        fixedMax(function.getFixedMax(spec.getElementType())) {}

  void emit(gpu::GPUFuncOp func);

private:
  // --- small builders -----------------------------------------------------
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value i32(int32_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  }
  Value f32(float v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return b.createOrFold<arith::AddIOp>(x, y); }
  Value sub(Value x, Value y) { return b.createOrFold<arith::SubIOp>(x, y); }
  Value mul(Value x, Value y) { return b.createOrFold<arith::MulIOp>(x, y); }
  Value div(Value x, Value y) { return b.createOrFold<arith::DivUIOp>(x, y); }
  Value rem(Value x, Value y) { return b.createOrFold<arith::RemUIOp>(x, y); }
  Value ceilDiv(Value x, Value y) {
    return b.createOrFold<arith::CeilDivUIOp>(x, y);
  }
  Value minS(Value x, Value y) { return b.createOrFold<arith::MinSIOp>(x, y); }
  Value maxS(Value x, Value y) { return b.createOrFold<arith::MaxSIOp>(x, y); }
  Value lt(Value x, Value y) {
    return b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::slt, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return b.createOrFold<arith::SelectOp>(c, x, y);
  }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value element(Value vec, int64_t i, int64_t j) {
    return vector::ExtractOp::create(b, vec, ArrayRef<int64_t>{i, j});
  }

  /// Rows [first, first + count) of a 2-D register fragment. (Built from
  /// row extracts/inserts: the LLVM lowering of n-D vectors handles those
  /// directly, unlike strided slices.)
  Value rows(Value frag, int64_t first, int64_t count) {
    auto type = cast<VectorType>(frag.getType());
    auto resultType =
        VectorType::get({count, type.getShape()[1]}, type.getElementType());
    Value result = ub::PoisonOp::create(b, resultType);
    for (int64_t r = 0; r < count; ++r)
      result = vector::InsertOp::create(
          b, vector::ExtractOp::create(b, frag, first + r), result, r);
    return result;
  }
  /// Stacks 2-D fragments along rows into a value of `type`.
  Value stack(VectorType type, ArrayRef<Value> parts) {
    Value result = ub::PoisonOp::create(b, type);
    int64_t row = 0;
    for (Value part : parts) {
      int64_t n = cast<VectorType>(part.getType()).getShape()[0];
      for (int64_t r = 0; r < n; ++r)
        result = vector::InsertOp::create(
            b, vector::ExtractOp::create(b, part, r), result, row++);
    }
    return result;
  }

  /// One ldmatrix.x4 at element `offset` of a flat ring, split into the
  /// m16n8k16 B fragments of two adjacent 8-wide n-tiles.
  std::array<Value, 2> loadBFragments(Value ring, Value offset,
                                      bool transpose) {
    Value frag = nvgpu::LdMatrixOp::create(
        b, VectorType::get({4, 2}, elementType), ring, ValueRange{offset},
        transpose, /*numTiles=*/4);
    return {rows(frag, 0, 2), rows(frag, 2, 2)};
  }
  /// The element offset, in a flat ring of rows of `rowLength` elements, of
  /// 16-byte chunk `firstChunk + 2 * step` of row `row + rowStep`, where
  /// `firstChunk` is 0 or 1, `row mod 8` is the swizzle phase and rowStep is
  /// a multiple of 8; `base` is swizzledBase(row, firstChunk) plus the slot.
  ///
  /// The swizzle XORs the low three bits of the chunk index. Chunks
  /// firstChunk and 2 * (step mod 4) share no bits, so the swizzled chunk is
  /// ((firstChunk ^ phase) ^ 2 * (step mod 4)) + 8 * (step / 4). Rows are a
  /// multiple of 64 elements, so the row and slot parts of `base` have no
  /// bits where that XOR acts: every step's address is `base` XOR a
  /// constant plus a constant, from one live register.
  Value swizzledStep(Value base, int64_t rowLength, int64_t step,
                     int64_t rowStep) {
    Value offset = base;
    if (int64_t xorBits = 2 * (step % 4) * kChunk)
      offset = b.createOrFold<arith::XOrIOp>(base, idx(xorBits));
    return add(offset, idx(8 * (step / 4) * kChunk + rowStep * rowLength));
  }
  /// Element offset of chunk `firstChunk` (0 or 1) of `row` in a swizzled
  /// flat tile of rows of `rowLength` elements.
  Value swizzledBase(Value row, Value firstChunk, int64_t rowLength) {
    assert(rowLength % (8 * kChunk) == 0 && "rows of whole swizzle periods");
    return add(mul(row, idx(rowLength)), swizzledColumn(row, firstChunk));
  }
  /// This lane's element offset, in ring slot `slot` of block-n rows of
  /// `rowLength` elements, for an ldmatrix.x4 of a 16-row, 2-chunk square:
  /// lane l addresses row l mod 8 of matrix l / 8, whose high bit selects
  /// rows 8-15 and low bit the second chunk (`rowsFromHighBit`, for K),
  /// or the other way round (for V, read transposed).
  Value ringFragmentBase(Value slot, int64_t rowLength, bool rowsFromHighBit) {
    Value matrix = div(lane, idx(8));
    Value high = div(matrix, idx(2)), low = rem(matrix, idx(2));
    Value rowHalf = rowsFromHighBit ? high : low;
    Value chunk = rowsFromHighBit ? low : high;
    Value row = add(mul(rowHalf, idx(8)), rem(lane, idx(8)));
    return add(mul(slot, idx(config.blockN * rowLength)),
               swizzledBase(row, chunk, rowLength));
  }
  /// acc += a * bFrag on the tensor cores (m16n8k16, f32 accumulators).
  void mmaAccumulate(Value a, Value bFrag, Value &acc) {
    acc = nvgpu::MmaSyncOp::create(b, a, bFrag, acc,
                                   ArrayRef<int64_t>{16, 8, 16});
  }

  /// Column (in elements) of 16-byte chunk `chunk` of row `row` in a
  /// swizzled shared-memory tile.
  Value swizzledColumn(Value row, Value chunk) {
    Value phase = b.createOrFold<arith::AndIOp>(row, idx(7));
    return mul(b.createOrFold<arith::XOrIOp>(chunk, phase), idx(kChunk));
  }

  /// Issues cp.async copies of rows [rowStart, rowStart + rows) of
  /// src[batch, head, :, :] into the swizzled tile of `rows` x `cols`
  /// elements at element `dstOffset` of the flat shared buffer `dst`.
  /// Rows at or past `rowLimit` are zero-filled and read nothing; rowStart
  /// must be below it.
  void copyTileAsync(Value src, Value batch, Value head, Value rowStart,
                     Value rowLimit, Value dst, Value dstOffset, int64_t rows,
                     int64_t cols);

  /// Whether each key block re-reads %tid.x (readThreadIdInLoop) and
  /// derives every per-thread index and address from it: in the kernels
  /// that re-read Q from shared memory, the tightest for registers (32 rows
  /// per warp at D = 128). Otherwise LLVM hoists each per-thread address
  /// variant out of the key loop (one per k-step and row tile for the Q
  /// fragments, one per copy for cp.async, one per row for the causal
  /// bound), and each then holds a register across the whole loop; derived
  /// from an opaque per-block thread index they are recomputed in the loop,
  /// where the constant parts fold into immediate offsets. With Q in
  /// registers LLVM's hoisting is left alone: there ptxas allocated better
  /// without (CUDA 13 ptxas, `check_ptxas.py` over the default kernels,
  /// 2026-11-21).
  bool rematerializeThreadIndices() const { return !config.queryInRegisters; }

  /// %tid.x through inline PTX with side effects, which LLVM can neither
  /// hoist nor merge with the kernel entry's. (llvm.inline_asm: the asm
  /// string of nvvm.inline_ptx cannot name a special register.)
  Value readThreadIdInLoop() {
    Value id =
        LLVM::InlineAsmOp::create(
            b, b.getLoc(), b.getI32Type(), ValueRange{}, "mov.u32 $0, %tid.x;",
            "=r", /*has_side_effects=*/true,
            /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
            /*asm_dialect=*/nullptr, /*operand_attrs=*/nullptr)
            .getRes();
    return arith::IndexCastUIOp::create(b, b.getIndexType(), id);
  }
  /// Sets tid and the lane, warp and quad indices derived from it.
  void bindThreadIndices(Value threadId) {
    tid = threadId;
    lane = rem(tid, idx(32));
    warp = div(tid, idx(32));
    groupId = div(lane, idx(4));
    threadInGroup = rem(lane, idx(4));
  }

  /// This lane's element offset in qFlat for the A fragments of the 16 Q
  /// rows from `rowBase`. ldmatrix.x4 matrices: (rows 0-7, k 0-7), (rows
  /// 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) = registers
  /// a0..a3 of m16n8k16: lane l addresses row l mod 16, chunk l / 16.
  Value queryFragmentBase(Value rowBase) {
    Value row = add(rowBase, rem(lane, idx(16)));
    return swizzledBase(row, div(lane, idx(16)), headDim);
  }
  /// The A fragment of k-step `k` of the 16 rows `rowStep` (a multiple of
  /// 8) below those of `base`: one XOR and one constant.
  Value loadQueryFragment(Value base, int64_t k, int64_t rowStep) {
    return nvgpu::LdMatrixOp::create(
        b, VectorType::get({4, 2}, elementType), qFlat,
        ValueRange{swizzledStep(base, headDim, k, rowStep)},
        /*transpose=*/false, /*numTiles=*/4);
  }
  /// Loads the A fragments of the 16 Q rows from `rowBase` (all k-steps).
  SmallVector<Value> loadRowFragments(Value rowBase) {
    Value base = queryFragmentBase(rowBase);
    SmallVector<Value> fragments;
    for (int64_t k = 0; k < headDim / 16; ++k)
      fragments.push_back(loadQueryFragment(base, k, 0));
    return fragments;
  }
  /// The Q fragment of row tile `m`, k-step `k`: from registers, or
  /// re-read from shared memory (once per block and k-step).
  Value queryFragment(int64_t m, int64_t k) {
    if (config.queryInRegisters)
      return queryFragments[m][k];
    Value &cached = reloadedQuery[{m, k}];
    if (!cached) {
      // One base per block for all row tiles and k-steps: the row tiles
      // are 16 rows apart (the same swizzle phase).
      if (!reloadedQueryBase)
        reloadedQueryBase = queryFragmentBase(warpRowBase(0));
      cached = loadQueryFragment(reloadedQueryBase, k, 16 * m);
    }
    return cached;
  }
  /// First row of row tile `m` of this warp, within the block's tile.
  Value warpRowBase(int64_t m) {
    return add(mul(warp, idx(16 * rowTiles)), idx(16 * m));
  }
  /// Global query row of this thread's accumulator rows g (and g + 8) in
  /// row tile `m`.
  Value threadRow(int64_t m) {
    return add(rowStart, add(warpRowBase(m), groupId));
  }

  /// The number of key columns from kvStart + 2 * threadInGroup that hold
  /// keys (the rest of the block is padding past the last key), clamped to
  /// [0, blockN] and as i32: element (n, e) of this thread's scores is
  /// padding when 8 * n + e >= the limit, one compare with a constant per
  /// score.
  Value paddingLimit(Value kvStart) {
    Value first = add(kvStart, mul(threadInGroup, idx(2)));
    Value limit = sub(kvLength, first);
    limit = minS(maxS(limit, idx(0)), idx(config.blockN));
    return arith::IndexCastOp::create(b, b.getI32Type(), limit);
  }

  /// Issues the cp.async copies of the K and V block `block` into its ring
  /// slot, unless it is past the tile's blocks or invisible to the tile.
  void prefetch(Value block);

  /// The local row (within the tile) of this thread's first fragment row:
  /// fragment row 2m + h (row tile m; row g, or g + 8 when h = 1) is
  /// 16m + 8h below it. From the entry's thread indices or the current
  /// ones.
  Value localRowBase(bool inLoop) {
    Value warpIndex = inLoop ? warp : entry.warp;
    Value group = inLoop ? groupId : entry.groupId;
    return add(mul(warpIndex, idx(16 * rowTiles)), group);
  }
  /// The key column (within the block) of this thread's first fragment
  /// column: column 2n + e (n-tile n, element e) is 8n + e after it.
  Value localColBase() { return mul(threadInGroup, idx(2)); }

  /// One key/value block: the pipeline bookkeeping, then the unmasked
  /// computation for blocks in [fullLo, fullHi), else the masked one (for
  /// a block that may be visible).
  void emitBlock(SmallVectorImpl<OnlineSoftmaxState> &states, Value block);
  /// The computation of one block: scores, (mask), online softmax, P V.
  void emitBlockCompute(SmallVectorImpl<OnlineSoftmaxState> &states,
                        Value block, bool masked);
  /// `emit(states)` under `condition`, with the states as the results.
  void emitGuarded(
      SmallVectorImpl<OnlineSoftmaxState> &states, Value condition,
      function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)> thenEmit,
      function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)> elseEmit);

  SmallVector<Value> packState(ArrayRef<OnlineSoftmaxState> states);
  SmallVector<OnlineSoftmaxState> unpackState(ValueRange values);

  /// Emits the scf.for over the tile's key blocks [lo, hi).
  void emitBlockLoop(SmallVectorImpl<OnlineSoftmaxState> &states);

  void emitEpilogue(ArrayRef<OnlineSoftmaxState> states);

  ImplicitLocOpBuilder &b;
  const AttentionKernelSpec &spec;
  const MmaSyncConfig &config;
  const ScoreFunction &function;
  FusedAttentionTile tile;
  Type elementType;
  int64_t headDim, rowTiles;
  /// The positive factor of the kept score the softmax folds into its FMA.
  float scoreScale;
  /// The softmax's fixed maximum, if the scores are bounded
  /// (ScoreFunction::getFixedMax): no row maximum, no rescaling.
  std::optional<double> fixedMax;
  /// Whether the rows carry the exact sum beside the rounded one
  /// (SoftmaxRowState::exactSum): a fixed maximum and an LSE output.
  bool keepsExactSum() const { return fixedMax && spec.lseType; }
  std::unique_ptr<TileCloner> cloner;
  std::unique_ptr<BlockClassifier> classifier;

  // Values of the kernel body.
  Value query, key, value, output, lse;
  Value lane, warp, groupId, threadInGroup, tid;
  struct {
    Value warp, groupId;
  } entry; // the thread indices at the kernel entry
  Value batch, head, kvHead, rowStart, qLength, kvLength;
  BlockRanges ranges;
  Value qFlat, kRing, vRing; // shared memory: Q tile, K and V rings
  SmallVector<SmallVector<Value>> queryFragments;    // [rowTile][kStep]
  SmallVector<SmallVector<Value>> pFragmentsPerTile; // [rowTile][keyStep]
  std::map<std::pair<int64_t, int64_t>, Value> reloadedQuery;
  Value reloadedQueryBase; // this block's, when Q is re-read
};

} // namespace mlir::fa::detail

#endif // FA_LIB_CONVERSION_FATOGPU_MMASYNCKERNELEMITTER_H
