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
// With key-split warps (MmaSyncConfig::keyWarps; tiles of few rows, as
// decoding's), groups of warps take the same rows and each a slice of every
// key block, and merge their states after the loop (MmaSyncKeyGroups.cpp);
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

#include "KernelEpilogue.h"
#include "KernelGrid.h"
#include "MmaSyncKernelEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

SmallVector<Value>
MmaSyncKernelEmitter::packState(ArrayRef<OnlineSoftmaxState> states) {
  SmallVector<Value> values;
  for (const OnlineSoftmaxState &s : states) {
    llvm::append_range(values, s.acc);
    for (const SoftmaxRowState &row : s.rows)
      row.appendTo(values);
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
    for (SoftmaxRowState &row : s.rows)
      row = SoftmaxRowState::takeFrom(values, pos, keepsExactSum());
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
  // A paged block's K and V rows share their pages: one lookup.
  std::optional<PagedBlockLookup> lookup;
  if (pages.blockTable)
    lookup.emplace(b, pages, kvStart, kvLength, /*rowAlignment=*/blockN,
                   /*rows=*/blockN);
  PagedBlockLookup *paged = lookup ? &*lookup : nullptr;
  copyKeyBlockAsync(key, kvStart, kRing, mul(slot, idx(blockN * headDim)),
                    headDim, paged);
  copyKeyBlockAsync(value, kvStart, vRing, mul(slot, idx(blockN * valueDim)),
                    valueDim, paged);
}

void MmaSyncKernelEmitter::emitGuarded(
    SmallVectorImpl<OnlineSoftmaxState> &states, Value condition,
    function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)> thenEmit,
    function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)> elseEmit) {
  auto branch =
      [&](function_ref<void(SmallVectorImpl<OnlineSoftmaxState> &)> emit) {
        return [this, emit](ValueRange values) {
          SmallVector<OnlineSoftmaxState> copy = unpackState(values);
          if (emit)
            emit(copy);
          return packState(copy);
        };
      };
  auto thenBranch = branch(thenEmit), elseBranch = branch(elseEmit);
  SmallVector<OnlineSoftmaxState> after = unpackState(emitGuardedValues(
      b, packState(states), condition, thenBranch, elseBranch));
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
  Value unmasked = ranges.isUnmasked(b, block);
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
  // With key-split warps, a warp computes its group's slice of the block.
  int64_t nTiles = keySlice / 8;
  SmallVector<SmallVector<Value>> scores(rowTiles,
                                         SmallVector<Value>(nTiles, zeroAcc));
  {
    Value base = add(ringFragmentBase(slot, config.blockN, headDim,
                                      /*rowsFromHighBit=*/true),
                     keySliceOffset(headDim));
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
  // Under columnIntervals, a mask of affine bounds (causal, windows) and
  // the padding are one interval of columns per row
  // (TileCloner::visibleColumns), computed where the row's scores are (the
  // kernels have few registers to keep intervals in). Other masks are
  // cloned per score, beside a padding test.
  Value keysLeft = masked ? keysInSlice(kvStart) : Value();
  Value padding;
  for (int64_t m = 0; m < rowTiles; ++m) {
    OnlineSoftmaxState &state = states[m];
    SmallVector<SmallVector<Value, 4>> probabilities(nTiles);
    Value alpha[2];
    for (int64_t h = 0; h < 2; ++h) {
      unsigned row = 2 * m + h;
      std::optional<TileCloner::ColumnInterval> interval;
      if (masked && config.columnIntervals)
        interval = cloner->visibleColumns(row, keysLeft);
      if (masked && !interval && !padding)
        padding = arith::IndexCastOp::create(b, b.getI32Type(), keysLeft);
      SmallVector<Value> rowScores;
      for (int64_t n = 0; n < nTiles; ++n) {
        for (int64_t e = 0; e < 2; ++e) {
          unsigned col = 2 * n + e;
          Value qk = element(scores[m][n], h, e);
          Value x = cloner->element(function.getInner(), row, col, qk);
          if (masked)
            x = cloner->maskScore(x, row, col, qk, interval, padding, negInf);
          rowScores.push_back(x);
        }
      }
      auto [p, a] =
          updateSoftmaxRow(b, rowScores, scoreScale, state.rows[h],
                           {fixedMax, elementType, config.emulatedExp2});
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
    if (!fixedMax) {
      Value alphaTile = vector::FromElementsOp::create(
          b, accType, ValueRange{alpha[0], alpha[0], alpha[1], alpha[1]});
      for (Value &acc : state.acc)
        acc = fmul(acc, alphaTile);
    }

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
  Value base = add(ringFragmentBase(slot, config.blockN, valueDim,
                                    /*rowsFromHighBit=*/false),
                   keySliceOffset(valueDim));
  for (int64_t k = 0; k < keySlice / 16; ++k) {
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
  // A split tile writes its part in f32.
  OutputRows rows{
      output,  lse,   batch,         head,
      qLength, split, threadInGroup, split ? b.getF32Type() : elementType};
  if (tile.packedHeads > 1) {
    // Recomputed here from values the epilogue keeps anyway, so that
    // nothing more lives across the key loop.
    rows.head = b.createOrFold<arith::MulIOp>(head, idx(tile.packedHeads));
    rows.packedHeads = tile.packedHeads;
    rows.rowStart = rowStart;
    rows.positions = b.createOrFold<arith::MinSIOp>(
        idx(tile.positions()),
        b.createOrFold<arith::SubIOp>(qLength, rowStart));
  }
  for (int64_t m = 0; m < rowTiles; ++m) {
    const OnlineSoftmaxState &state = states[m];
    Value rowBase = threadRow(m);
    for (int64_t h = 0; h < 2; ++h) {
      SoftmaxRowResult result = finishSoftmaxRow(b, state.rows[h], scoreScale);
      // Element (h, e) of d-tile d: row g + 8h, column 8d + 2c + e.
      emitOutputRow(
          b, rows, add(rowBase, idx(8 * h)), result, spec.getValueHeadDim(),
          [&](int64_t d, int64_t e) { return element(state.acc[d], h, e); });
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
  TileCoordinates coordinates =
      emitTileCoordinates(b, function, query, key, tile.positions());
  head = coordinates.head;
  batch = coordinates.batch;
  qLength = coordinates.qLength;
  kvLength = coordinates.kvLength;
  rowStart = coordinates.rowStart;
  split = coordinates.split;

  // Everything else per tile comes from the IR: the K/V head, the end of
  // the key loop, and the scores body.
  TileCloner::Roots roots =
      getTileRoots(coordinates, tile, func.getArguments());
  roots.rowBase = [this](bool inLoop) { return localRowBase(inLoop); };
  roots.colBase = [this]() { return localColBase(); };
  for (int64_t m = 0; m < rowTiles; ++m)
    roots.rowOffsets.append({16 * m, 16 * m + 8});
  for (int64_t n = 0; n < keySlice / 8; ++n)
    roots.colOffsets.append({8 * n, 8 * n + 1});
  roots.hoistRowValues = !rematerializeThreadIndices();
  cloner = std::make_unique<TileCloner>(b, function, std::move(roots));
  auto prologue = ub::PoisonOp::create(b, b.getIndexType());
  cloner->setPrologue(prologue);
  if (tile.isVarlen()) {
    // From here on the tile is a fixed-length attention of its sequence.
    SequenceViews views =
        emitSequenceViews(b, *cloner, tile, query, key, value, output, lse);
    query = views.query, key = views.key, value = views.value;
    output = views.output, lse = views.lse;
    qLength = views.qLength, kvLength = views.kvLength;
  }
  if (tile.isPaged()) {
    // The sequence's key count, as the IR reads it; its K and V rows come
    // through the block table (the argument after the LSE, or after the
    // query offsets when the queries are packed).
    kvLength = cloner->uniform(tile.keyLength);
    pages.blockTable =
        func.getArgument(firstCapture + (tile.isVarlen() ? 1 : 0));
    pages.sequence = batch;
    pages.pageSize = tile.pageSize();
  }

  KeyBlockPlan plan =
      planKeyBlocks(b, function, *cloner, kvLength, config.blockN);
  kvHead = plan.kvHead;
  classifier = std::move(plan.classifier);
  ranges = plan.ranges;

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
  PackedRows packed;
  Value qHead = head;
  if (tile.packedHeads > 1) {
    // G query heads from head * G, at the tile's positions each (the IR's
    // min(P, Nq - first row)).
    firstHead = b.createOrFold<arith::MulIOp>(head, idx(tile.packedHeads));
    positions = cloner->uniform(tile.rows);
    packed = {tile.packedHeads, positions};
    qHead = firstHead;
  }
  copyTileAsync(query, batch, qHead, rowStart, qLength, qFlat, idx(0),
                config.blockM, headDim, packed);
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
    s.rows[0] = s.rows[1] = initialSoftmaxRow(b, fixedMax, keepsExactSum());
  }
  emitBlockLoop(states);
  // Drain the (empty) groups still in flight before the block exits.
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  if (config.keyWarps > 1) {
    mergeKeyGroups(states);
    // The first key group holds the merged rows and writes them.
    auto first =
        scf::IfOp::create(b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                   keyGroupOf(warp), idx(0)));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(first.thenBlock());
    emitEpilogue(states);
  } else {
    emitEpilogue(states);
  }
  gpu::ReturnOp::create(b);
  if (prologue->use_empty())
    prologue->erase();
}

FailureOr<gpu::GPUFuncOp> mlir::fa::buildMmaSyncAttentionKernel(
    OpBuilder &builder, gpu::GPUModuleOp module, const FusedAttentionTile &tile,
    const AttentionKernelSpec &spec, const MmaSyncConfig &config,
    const GPUTarget &target, Location loc) {
  if (failed(verifyMmaSyncConfig(spec, config, target,
                                 [&]() { return emitError(loc); })))
    return failure();
  // Refuse what cannot be evaluated before building anything.
  FailureOr<ScoreFunction> function = ScoreFunction::analyze(tile);
  if (failed(function))
    return failure();

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
  gpu::GPUFuncOp func = createAttentionKernel(builder, module, spec, info, loc);
  if (config.keyWarps > 1) {
    // The key groups' merge loads every group's state; left to itself
    // ptxas hoists all those loads and holds them at once (230 registers
    // where the key loop needs 128, bf16 D = 128, 16 x 64, 4 groups).
    // Bound it to the blocks an SM can hold by shared memory (at most the
    // registers of 128 a thread).
    int64_t smem = info.dynamicSharedMemory + 1024;
    int64_t bySharedMemory = (target.maxSharedMemoryPerBlock + 1024) / smem;
    int64_t byRegisters = 65536 / (info.threads * 128);
    int64_t blocks =
        std::max<int64_t>(1, std::min<int64_t>(bySharedMemory, byRegisters));
    func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                  builder.getI32IntegerAttr(blocks));
  }

  ImplicitLocOpBuilder b(loc, builder);
  MmaSyncKernelEmitter(b, spec, config, *function).emit(func);
  func.setName(getAttentionKernelName(spec, config));
  return func;
}
