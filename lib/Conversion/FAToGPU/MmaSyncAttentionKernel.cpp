//===- MmaSyncAttentionKernel.cpp - The mma.sync attention kernel ---------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The schedule of the `mma-sync` strategy: a FlashAttention-2 style kernel
// from upstream gpu / nvgpu / nvvm / vector / scf ops. One block computes
// one (batch, query head, block_m query rows) tile; each warp owns
// 16 * rowTilesPerWarp rows. Per key/value block:
//
//   cp.async K,V block j+stages-1 -> ring slot (swizzled shared memory)
//   S    = Q K^T          ldmatrix + mma.sync m16n8k16, f32 accumulators
//   s    = the tile's scores body, cloned per accumulator element
//          (ScoreCloner); masked blocks also apply its visibility and the
//          key padding
//   online softmax on the fragment rows (RegisterSoftmax)
//   O    = O * alpha + P V  P repacked in registers as the A operand; V by
//                           ldmatrix.trans
//
// then O / l (0 for rows that saw no key) and LSE. The key blocks a tile
// visits come from the mask (BlockClassifier): the loop runs over [lo, hi),
// blocks in [fullLo, fullHi) take the unmasked path (a uniform branch), the
// others the masked one, and a block invisible to the whole tile is neither
// loaded nor computed.
//
// Shared memory rows are 16-byte chunks XOR-swizzled with (row mod 8), so
// the eight row addresses of every ldmatrix phase hit distinct banks.
//
//===----------------------------------------------------------------------===//

#include "BlockClassifier.h"
#include "RegisterSoftmax.h"
#include "ScoreCloner.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <array>
#include <limits>
#include <map>
#include <memory>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

/// Elements of 16 bits per 16-byte chunk: the unit of cp.async and of one
/// ldmatrix row.
static constexpr int64_t kChunk = 8;

namespace {

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
        scoreScale(static_cast<float>(function.getKeptScale())) {}

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
  void emitGuarded(SmallVectorImpl<OnlineSoftmaxState> &states,
                   Value condition,
                   function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)>
                       thenEmit,
                   function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)>
                       elseEmit);

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

} // namespace

void MmaSyncKernelEmitter::copyTileAsync(Value src, Value batch, Value head,
                                         Value rowStart, Value rowLimit,
                                         Value dst, Value dstOffset,
                                         int64_t rows, int64_t cols) {
  int64_t chunksPerRow = cols / kChunk;
  int64_t total = rows * chunksPerRow;
  int64_t threads = config.threads();
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  // src[batch, head, rowStart:rowLimit, :] as a flat view: `tile`, with
  // `rowStride` elements between rows and `validRows` rows in bounds.
  Value tile, rowStride, validRows;
  auto buildTileView = [&]() {
    auto meta = memref::ExtractStridedMetadataOp::create(b, src);
    rowStride = meta.getStrides()[2];
    Value tileOffset =
        add(add(meta.getOffset(), mul(batch, meta.getStrides()[0])),
            add(mul(head, meta.getStrides()[1]), mul(rowStart, rowStride)));
    validRows = sub(rowLimit, rowStart);
    Value extent = add(mul(sub(validRows, idx(1)), rowStride), idx(cols));
    auto srcType = cast<MemRefType>(src.getType());
    auto tileType = MemRefType::get(
        {ShapedType::kDynamic}, srcType.getElementType(),
        StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, {1}),
        srcType.getMemorySpace());
    tile = memref::ReinterpretCastOp::create(
        b, tileType, meta.getBaseBuffer(), OpFoldResult(tileOffset),
        ArrayRef<OpFoldResult>{extent},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  };
  // One 16-byte chunk from element `srcIndex` of the view to element
  // `dstIndex` of `dst`. Out-of-bounds rows copy 0 bytes (zero-fill) from a
  // valid address, the view's first element.
  auto emitCopy = [&](Value inBounds, Value srcIndex, Value dstIndex) {
    Value srcElements = select(inBounds, idx(kChunk), idx(0));
    Value clampedIndex = select(inBounds, srcIndex, idx(0));
    nvgpu::DeviceAsyncCopyOp::create(
        b, tokenType, dst, ValueRange{dstIndex}, tile, ValueRange{clampedIndex},
        b.getIndexAttr(kChunk), srcElements, b.getUnitAttr());
  };
  auto guarded = [&](Value condition, function_ref<void()> body) {
    auto guard = scf::IfOp::create(b, condition);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(guard.thenBlock());
    body();
  };

  // Whole rows per pass of the block, a multiple of the swizzle period:
  // every copy of a thread is the same chunk of rows row0 + pass * stride
  // with the same swizzle phase. Both of its addresses are then one
  // per-thread value plus terms that are the same for the whole block:
  // shared memory dstBase + constant; global memory the tile's first row
  // (block-uniform) + threadOffset + pass * stride * rowStride. ptxas can
  // keep block-uniform values in uniform registers, outside the 255.
  int64_t stride = threads / chunksPerRow;
  if (threads % chunksPerRow == 0 && stride % 8 == 0) {
    Value row0 = div(tid, idx(chunksPerRow));
    Value chunk = rem(tid, idx(chunksPerRow));
    Value dstBase = add(dstOffset, swizzledBase(row0, chunk, cols));
    buildTileView();
    Value threadOffset = add(mul(row0, rowStride), mul(chunk, idx(kChunk)));
    for (int64_t pass = 0; pass * stride < rows; ++pass) {
      auto copy = [&]() {
        // row0 against a per-block bound: the per-pass rows
        // row0 + pass * stride would each be hoisted into a register.
        Value inBounds = lt(row0, sub(validRows, idx(pass * stride)));
        Value srcIndex = add(threadOffset, mul(idx(pass * stride), rowStride));
        emitCopy(inBounds, srcIndex, add(dstBase, idx(pass * stride * cols)));
      };
      if ((pass + 1) * stride <= rows)
        copy();
      else
        guarded(lt(row0, idx(rows - pass * stride)), copy);
    }
    return;
  }
  buildTileView();
  for (int64_t first = 0; first < total; first += threads) {
    Value linear = add(tid, idx(first));
    auto copy = [&]() {
      Value row = div(linear, idx(chunksPerRow));
      Value chunk = rem(linear, idx(chunksPerRow));
      Value inBounds = lt(row, validRows);
      Value srcIndex = add(mul(row, rowStride), mul(chunk, idx(kChunk)));
      emitCopy(inBounds, srcIndex,
               add(dstOffset, swizzledBase(row, chunk, cols)));
    };
    if (first + threads <= total)
      copy();
    else
      guarded(lt(linear, idx(total)), copy);
  }
}

SmallVector<Value>
MmaSyncKernelEmitter::packState(ArrayRef<OnlineSoftmaxState> states) {
  SmallVector<Value> values;
  for (const OnlineSoftmaxState &s : states) {
    llvm::append_range(values, s.acc);
    for (const SoftmaxRowState &row : s.rows)
      values.append({row.max, row.sum});
  }
  return values;
}

SmallVector<OnlineSoftmaxState>
MmaSyncKernelEmitter::unpackState(ValueRange values) {
  SmallVector<OnlineSoftmaxState> states(rowTiles);
  int64_t accs = spec.getValueHeadDim() / 8;
  size_t pos = 0;
  for (OnlineSoftmaxState &s : states) {
    s.acc.assign(values.begin() + pos, values.begin() + pos + accs);
    pos += accs;
    for (SoftmaxRowState &row : s.rows) {
      row.max = values[pos++];
      row.sum = values[pos++];
    }
  }
  return states;
}

void MmaSyncKernelEmitter::prefetch(Value block) {
  int64_t blockN = config.blockN, stages = config.stages;
  int64_t valueDim = spec.getValueHeadDim();
  auto inRange = scf::IfOp::create(b, lt(block, ranges.hi));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(inRange.thenBlock());
  if (classifier->hasPredicate()) {
    // A block invisible to the whole tile is never loaded.
    auto visible = scf::IfOp::create(b, classifier->mayBeVisible(block));
    b.setInsertionPointToStart(visible.thenBlock());
  }
  Value slot = rem(block, idx(stages));
  Value kvStart = mul(block, idx(blockN));
  copyTileAsync(key, batch, kvHead, kvStart, kvLength, kRing,
                mul(slot, idx(blockN * headDim)), blockN, headDim);
  copyTileAsync(value, batch, kvHead, kvStart, kvLength, vRing,
                mul(slot, idx(blockN * valueDim)), blockN, valueDim);
}

void MmaSyncKernelEmitter::emitGuarded(
    SmallVectorImpl<OnlineSoftmaxState> &states, Value condition,
    function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)> thenEmit,
    function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)> elseEmit) {
  SmallVector<Value> before = packState(states);
  auto ifOp = scf::IfOp::create(b, TypeRange(ValueRange(before)), condition,
                                /*addThenBlock=*/true, /*addElseBlock=*/true);
  for (auto [block, emitBranch] :
       {std::make_pair(ifOp.thenBlock(), thenEmit),
        std::make_pair(ifOp.elseBlock(), elseEmit)}) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(block);
    SmallVector<OnlineSoftmaxState> branch = unpackState(before);
    if (emitBranch)
      emitBranch(branch);
    scf::YieldOp::create(b, packState(branch));
  }
  SmallVector<OnlineSoftmaxState> after = unpackState(ifOp.getResults());
  states.assign(after.begin(), after.end());
}

void MmaSyncKernelEmitter::emitBlock(
    SmallVectorImpl<OnlineSoftmaxState> &states, Value block) {
  int64_t stages = config.stages;
  // Wait for this block's group (all but the newest stages - 2 are done),
  // then one barrier: it publishes the block to every warp and also tells
  // that every warp has finished block - 1, whose slot the prefetch of
  // block + stages - 1 overwrites next.
  NVVM::CpAsyncWaitGroupOp::create(b, stages - 2);
  gpu::BarrierOp::create(b);
  prefetch(add(block, idx(stages - 1)));
  // Always commit (possibly an empty group) so that the wait above always
  // counts one group per block.
  NVVM::CpAsyncCommitGroupOp::create(b);

  // Fully visible blocks run without masking; the others (the mask's
  // edges, the padding past the last key) masked, unless invisible.
  Value unmasked = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::sge, block,
                               ranges.fullLo),
      lt(block, ranges.fullHi));
  emitGuarded(
      states, unmasked,
      [&](SmallVectorImpl<OnlineSoftmaxState> &s) {
        emitBlockCompute(s, block, /*masked=*/false);
      },
      [&](SmallVectorImpl<OnlineSoftmaxState> &s) {
        if (!classifier->hasPredicate()) {
          emitBlockCompute(s, block, /*masked=*/true);
          return;
        }
        emitGuarded(
            s, classifier->mayBeVisible(block),
            [&](SmallVectorImpl<OnlineSoftmaxState> &v) {
              emitBlockCompute(v, block, /*masked=*/true);
            },
            nullptr);
      });
}

void MmaSyncKernelEmitter::emitBlockCompute(
    SmallVectorImpl<OnlineSoftmaxState> &states, Value block, bool masked) {
  int64_t blockN = config.blockN;
  int64_t valueDim = spec.getValueHeadDim();
  Type f32Type = b.getF32Type();
  auto accType = VectorType::get({2, 2}, f32Type);
  auto fragAType = VectorType::get({4, 2}, elementType);

  Value kvStart = mul(block, idx(blockN));
  Value slot = rem(block, idx(config.stages));
  // Values of the scores body that vary with the block (or a key column)
  // are cloned here, before the tensor-core work.
  auto anchor = ub::PoisonOp::create(b, b.getIndexType());
  cloner->beginBlock(kvStart, anchor);
  Value zeroAcc = arith::ConstantOp::create(
      b, DenseElementsAttr::get(accType, b.getF32FloatAttr(0.0f)));

  // S = Q K^T. ldmatrix.x4 on K rows gives the B fragments of two n-tiles:
  // (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15).
  int64_t nTiles = blockN / 8;
  SmallVector<SmallVector<Value>> scores(rowTiles,
                                         SmallVector<Value>(nTiles, zeroAcc));
  {
    Value base = ringFragmentBase(slot, headDim, /*rowsFromHighBit=*/true);
    for (int64_t k = 0; k < headDim / 16; ++k) {
      for (int64_t pair = 0; pair < nTiles / 2; ++pair) {
        std::array<Value, 2> bFrags =
            loadBFragments(kRing, swizzledStep(base, headDim, k, 16 * pair),
                           /*transpose=*/false);
        for (int64_t half = 0; half < 2; ++half)
          for (int64_t m = 0; m < rowTiles; ++m)
            mmaAccumulate(queryFragment(m, k), bFrags[half],
                          scores[m][2 * pair + half]);
      }
    }
  }

  // The scores body of the tile, per accumulator element: element (h, e)
  // of n-tile n in row tile m is fragment row 2m + h, column 2n + e.
  Value negInf = arith::ConstantOp::create(
      b, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
  Value padding = masked ? paddingLimit(kvStart) : Value();
  Value visible = function.getVisible();
  for (int64_t m = 0; m < rowTiles; ++m) {
    OnlineSoftmaxState &state = states[m];
    SmallVector<SmallVector<Value, 4>> probabilities(nTiles);
    Value alpha[2];
    for (int64_t h = 0; h < 2; ++h) {
      unsigned row = 2 * m + h;
      SmallVector<Value> rowScores;
      for (int64_t n = 0; n < nTiles; ++n) {
        for (int64_t e = 0; e < 2; ++e) {
          unsigned col = 2 * n + e;
          Value qk = element(scores[m][n], h, e);
          Value x = cloner->element(function.getInner(), row, col, qk);
          if (masked) {
            if (visible)
              x = arith::SelectOp::create(
                  b, cloner->element(visible, row, col, qk), x, negInf);
            Value isPadding = arith::CmpIOp::create(
                b, arith::CmpIPredicate::sge, i32(8 * n + e), padding);
            x = arith::SelectOp::create(b, isPadding, negInf, x);
          }
          rowScores.push_back(x);
        }
      }
      auto [p, a] = updateSoftmaxRow(b, rowScores, scoreScale, state.rows[h]);
      alpha[h] = a;
      for (int64_t n = 0; n < nTiles; ++n)
        probabilities[n].append({p[2 * n], p[2 * n + 1]});
    }
    // P as A fragments (f16/bf16): (row g, row g + 8) x (2 columns).
    SmallVector<Value> tiles(nTiles);
    for (int64_t n = 0; n < nTiles; ++n) {
      Value tile = vector::FromElementsOp::create(
          b, accType,
          ValueRange{probabilities[n][0], probabilities[n][1],
                     probabilities[n][2], probabilities[n][3]});
      tiles[n] = arith::TruncFOp::create(
          b, VectorType::get({2, 2}, elementType), tile);
    }
    Value alphaTile = vector::FromElementsOp::create(
        b, accType, ValueRange{alpha[0], alpha[0], alpha[1], alpha[1]});
    for (Value &acc : state.acc)
      acc = fmul(acc, alphaTile);

    // The S accumulator layout of n-tiles 2k and 2k+1 is exactly the A
    // layout of the k-th 16-key step: (a0, a1) = tile 2k, (a2, a3) = 2k+1.
    SmallVector<Value> pFragments;
    for (int64_t k = 0; k < nTiles / 2; ++k)
      pFragments.push_back(stack(fragAType, {tiles[2 * k], tiles[2 * k + 1]}));
    // Stash the fragments; P V happens below for all row tiles at once so
    // each V fragment is loaded once.
    pFragmentsPerTile.push_back(std::move(pFragments));
  }

  // O += P V. ldmatrix.x4.trans on V rows gives the B fragments of two
  // d-tiles: (keys 0-7, d 0-7), (keys 8-15, d 0-7), (keys 0-7, d 8-15),
  // (keys 8-15, d 8-15).
  Value base = ringFragmentBase(slot, valueDim, /*rowsFromHighBit=*/false);
  for (int64_t k = 0; k < blockN / 16; ++k) {
    for (int64_t pair = 0; pair < valueDim / 16; ++pair) {
      std::array<Value, 2> bFrags =
          loadBFragments(vRing, swizzledStep(base, valueDim, pair, 16 * k),
                         /*transpose=*/true);
      for (int64_t half = 0; half < 2; ++half)
        for (int64_t m = 0; m < rowTiles; ++m)
          mmaAccumulate(pFragmentsPerTile[m][k], bFrags[half],
                        states[m].acc[2 * pair + half]);
    }
  }
  pFragmentsPerTile.clear();
  reloadedQuery.clear();
  reloadedQueryBase = nullptr;
  if (anchor->use_empty())
    anchor->erase();
}

void MmaSyncKernelEmitter::emitBlockLoop(
    SmallVectorImpl<OnlineSoftmaxState> &states) {
  SmallVector<Value> init = packState(states);
  auto loop = scf::ForOp::create(b, ranges.lo, ranges.hi, idx(1), init);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<OnlineSoftmaxState> body =
        unpackState(loop.getRegionIterArgs());
    // The kernel entry's indices stay valid after the loop.
    Value saved[] = {tid, lane, warp, groupId, threadInGroup};
    if (rematerializeThreadIndices())
      bindThreadIndices(readThreadIdInLoop());
    emitBlock(body, loop.getInductionVar());
    tid = saved[0], lane = saved[1], warp = saved[2], groupId = saved[3];
    threadInGroup = saved[4];
    scf::YieldOp::create(b, packState(body));
  }
  SmallVector<OnlineSoftmaxState> after = unpackState(loop.getResults());
  states.assign(after.begin(), after.end());
}

void MmaSyncKernelEmitter::emitEpilogue(ArrayRef<OnlineSoftmaxState> states) {
  int64_t valueDim = spec.getValueHeadDim();
  auto pairType = VectorType::get({2}, elementType);
  for (int64_t m = 0; m < rowTiles; ++m) {
    const OnlineSoftmaxState &state = states[m];
    Value rowBase = threadRow(m);
    for (int64_t h = 0; h < 2; ++h) {
      SoftmaxRowResult result =
          finishSoftmaxRow(b, state.rows[h], scoreScale);
      Value row = add(rowBase, idx(8 * h));
      auto inRange = scf::IfOp::create(b, lt(row, qLength));
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(inRange.thenBlock());
      for (int64_t d = 0; d < valueDim / 8; ++d) {
        Value lo = fmul(element(state.acc[d], h, 0), result.inverseSum);
        Value hi = fmul(element(state.acc[d], h, 1), result.inverseSum);
        Value pair = arith::TruncFOp::create(
            b, pairType,
            vector::FromElementsOp::create(
                b, VectorType::get({2}, b.getF32Type()), ValueRange{lo, hi}));
        Value col = add(idx(8 * d), mul(threadInGroup, idx(2)));
        vector::StoreOp::create(b, pair, output,
                                ValueRange{batch, head, row, col},
                                /*nontemporal=*/false, llvm::MaybeAlign(4));
      }
      if (!lse)
        continue;
      auto firstOfQuad = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, threadInGroup,
                                   idx(0)));
      b.setInsertionPointToStart(firstOfQuad.thenBlock());
      memref::StoreOp::create(b, result.lse, lse,
                              ValueRange{batch, head, row});
    }
  }
}

void MmaSyncKernelEmitter::emit(gpu::GPUFuncOp func) {
  b.setInsertionPointToStart(&func.getBody().front());
  query = func.getArgument(0);
  key = func.getArgument(1);
  value = func.getArgument(2);
  output = func.getArgument(3);
  unsigned firstCapture = 4;
  if (spec.lseType)
    lse = func.getArgument(firstCapture++);

  bindThreadIndices(gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  entry.warp = warp;
  entry.groupId = groupId;
  Value tileIndex = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  // With a mask, later query tiles usually see more keys (causal): hand
  // them out first so that the short tiles fill the last wave.
  if (function.getVisible())
    tileIndex = sub(sub(gpu::GridDimOp::create(b, gpu::Dimension::x), idx(1)),
                    tileIndex);
  head = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);

  auto dim = [&](Value memref, int64_t i) -> Value {
    return b.createOrFold<memref::DimOp>(memref, i);
  };
  qLength = dim(query, 2);
  kvLength = dim(key, 2);
  rowStart = mul(tileIndex, idx(config.blockM));

  // Everything else per tile comes from the IR: the K/V head, the end of
  // the key loop, and the scores body.
  TileCloner::Roots roots;
  roots.batch = batch;
  roots.head = head;
  roots.tileIndex = tileIndex;
  roots.tensors[tile.query] = query;
  roots.tensors[tile.key] = key;
  roots.tensors[tile.value] = value;
  roots.tensors[tile.output] = output;
  if (tile.lseOutput)
    roots.tensors[tile.lseOutput] = lse;
  for (auto [i, capture] : llvm::enumerate(tile.captures))
    roots.tensors[capture] = func.getArgument(firstCapture + i);
  roots.rowBase = [this](bool inLoop) { return localRowBase(inLoop); };
  roots.colBase = [this]() { return localColBase(); };
  for (int64_t m = 0; m < rowTiles; ++m)
    roots.rowOffsets.append({16 * m, 16 * m + 8});
  for (int64_t n = 0; n < config.blockN / 8; ++n)
    roots.colOffsets.append({8 * n, 8 * n + 1});
  roots.hoistRowValues = !rematerializeThreadIndices();
  cloner = std::make_unique<TileCloner>(b, function, std::move(roots));
  auto prologue = ub::PoisonOp::create(b, b.getIndexType());
  cloner->setPrologue(prologue);

  kvHead = cloner->uniform(tile.kvHead);
  Value blockN = idx(config.blockN);
  Value keysEnd = maxS(cloner->uniform(tile.kvLoop.getUpperBound()), idx(0));
  Value numBlocks =
      minS(ceilDiv(keysEnd, blockN), ceilDiv(kvLength, blockN));
  classifier = std::make_unique<BlockClassifier>(
      b, function, *cloner, cloner->uniform(tile.rows), kvLength,
      config.blockN);
  ranges = classifier->computeRanges(numBlocks);

  // Shared memory: Q tile, then the K ring, then the V ring.
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto smemBytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                   MemRefLayoutAttrInterface{}, workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(b, smemBytes);
  int64_t valueDim = spec.getValueHeadDim();
  // Flat views (swizzled rows of 16-byte chunks; see swizzledBase): the Q
  // tile [block-m][D], then the K and V rings [stages][block-n][D].
  int64_t qElements = config.blockM * headDim;
  int64_t kElements = config.stages * config.blockN * headDim;
  int64_t vElements = config.stages * config.blockN * valueDim;
  auto flat = [&](int64_t elements, int64_t byteOffset) -> Value {
    auto type = MemRefType::get({elements}, elementType,
                                MemRefLayoutAttrInterface{}, workgroup);
    return memref::ViewOp::create(b, type, smem, idx(byteOffset), ValueRange{});
  };
  qFlat = flat(qElements, 0);
  kRing = flat(kElements, 2 * qElements);
  vRing = flat(vElements, 2 * (qElements + kElements));

  // Prologue: Q, then the K/V of the first stages - 1 blocks, one group
  // each.
  copyTileAsync(query, batch, head, rowStart, qLength, qFlat, idx(0),
                config.blockM, headDim);
  NVVM::CpAsyncCommitGroupOp::create(b);
  for (int64_t s = 0; s + 1 < config.stages; ++s) {
    prefetch(add(ranges.lo, idx(s)));
    NVVM::CpAsyncCommitGroupOp::create(b);
  }
  NVVM::CpAsyncWaitGroupOp::create(b, config.stages - 1);
  gpu::BarrierOp::create(b);
  if (config.queryInRegisters)
    for (int64_t m = 0; m < rowTiles; ++m)
      queryFragments.push_back(loadRowFragments(warpRowBase(m)));

  Type f32Type = b.getF32Type();
  auto accType = VectorType::get({2, 2}, f32Type);
  Value zeroAcc = arith::ConstantOp::create(
      b, DenseElementsAttr::get(accType, b.getF32FloatAttr(0.0f)));
  SmallVector<OnlineSoftmaxState> states(rowTiles);
  for (OnlineSoftmaxState &s : states) {
    s.acc.assign(valueDim / 8, zeroAcc);
    s.rows[0] = s.rows[1] = initialSoftmaxRow(b);
  }
  emitBlockLoop(states);
  // Drain the (empty) groups still in flight before the block exits.
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  emitEpilogue(states);
  gpu::ReturnOp::create(b);
  if (prologue->use_empty())
    prologue->erase();
}

FailureOr<gpu::GPUFuncOp> mlir::fa::buildMmaSyncAttentionKernel(
    OpBuilder &builder, gpu::GPUModuleOp module,
    const FusedAttentionTile &tile, const AttentionKernelSpec &spec,
    const MmaSyncConfig &config, const GPUTarget &target, Location loc) {
  if (failed(verifyMmaSyncConfig(spec, config, target,
                                 [&]() { return emitError(loc); })))
    return failure();
  // Refuse what cannot be evaluated before building anything.
  FailureOr<ScoreFunction> function = ScoreFunction::analyze(tile);
  if (failed(function))
    return failure();

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(
      builder, loc, "fa_attention",
      builder.getFunctionType(getKernelArgumentTypes(spec), {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  func.setKnownBlockSizeAttr(builder.getDenseI32ArrayAttr(
      {static_cast<int32_t>(config.threads()), 1, 1}));

  KernelLaunchInfo info;
  info.strategy = "mma-sync";
  info.chip = target.chip;
  info.blockM = config.blockM;
  info.blockN = config.blockN;
  info.warps = config.warps;
  info.stages = config.stages;
  info.threads = config.threads();
  info.dynamicSharedMemory = getMmaSyncSharedMemoryBytes(spec, config);
  info.lse = static_cast<bool>(spec.lseType);
  func->setAttr(KernelLaunchInfo::attrName, info.toAttr(builder.getContext()));

  ImplicitLocOpBuilder b(loc, builder);
  MmaSyncKernelEmitter(b, spec, config, *function).emit(func);
  func.setName(getAttentionKernelName(spec, config, func));
  return func;
}
