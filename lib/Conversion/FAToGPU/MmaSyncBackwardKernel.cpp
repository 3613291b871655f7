//===- MmaSyncBackwardKernel.cpp - The mma.sync backward kernels ----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The `mma-sync` kernels of the backward pass, one per stage of
// fa-tile-attention-backward (dq=stage), FlashAttention-2's algorithm with
// no transposes through shared memory:
//
//   delta      one (batch, query head, block_m rows) tile per block:
//              delta = rowsum(dO * O) in f32, a few lanes per row.
//   query      one (batch, query head, block_m rows) tile per block; warp w
//              owns rows 16w..16w+15. Q and dO tiles in shared memory, K and
//              V blocks streamed through a cp.async ring:
//                S = Q K^T, dP = dO V^T             (ldmatrix + mma.sync)
//                s = the scores body, cloned per element
//                P = exp2(s * c - LSE * log2 e)     (LSE per fragment row)
//                dS = P (dP - delta) [* d s / d score]
//                dQ += dS K                          (dS repacked as the A
//                                                     operand, K by
//                                                     ldmatrix.trans)
//   key_value  one (batch, key/value head, block_n keys) tile per block,
//              computed transposed: fragment rows are keys, columns
//              queries. K and V tiles in shared memory; for each query head
//              of the group and each block_m query rows (the IR's loops,
//              flattened), Q and dO streamed:
//                S^T = K Q^T, dP^T = V dO^T, P^T and dS^T as above with
//                LSE and delta per fragment column;
//                dV += P^T dO, dK += dS^T Q          (the accumulators of
//                                                     S^T reused as A)
//
// The scores body (scale, score_mod, masks, and the derivative of the
// score_mod) is cloned from the stage's IR onto the fragments (ScoreCloner;
// for key_value with the index dimensions swapped). The loops' bounds (the
// causal start of the query blocks, the end of the key blocks) are cloned
// from the IR too, so the blocks a tile visits are the ones the IR visits;
// within them every element is masked by the body's predicate and the
// padding past the last row.
//
//===----------------------------------------------------------------------===//

#include "MmaSyncBackwardEmitter.h"
#include "Wgmma.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

//===----------------------------------------------------------------------===//
// The emitter (MmaSyncBackwardEmitter.h); the row-wise kernels and the
// fused kernel's dQ are in MmaSyncBackwardRows.cpp
//===----------------------------------------------------------------------===//

void BackwardEmitter::copyRows(Value src, Value rowHead, Value start,
                               Value limit, Value dst, Value dstOffset,
                               int64_t rows) {
  copyRowTileAsync(b, tid, tileRows / 16 * 32, src, batch, rowHead, start,
                   limit, dst, dstOffset, rows, headDim,
                   /*rowPitch=*/headDim, [&](Value row, Value chunk) {
                     return swizzledBase(row, chunk, headDim);
                   });
}

std::pair<Value, Value> BackwardEmitter::blockOf(Value it) {
  // blocks may be 0 (then there are no iterations): divide by at least 1.
  Value divisor = maxS(blocks, idx(1));
  Value start = add(loopLo, mul(rem(it, divisor), idx(streamRows)));
  Value outer = transposed ? add(outerLo, div(it, divisor)) : Value();
  return {start, outer};
}

void BackwardEmitter::prefetch(Value it) {
  OpBuilder::InsertionGuard guard(b);
  auto inRange = scf::IfOp::create(b, lt(it, iterations));
  b.setInsertionPointToStart(inRange.thenBlock());
  auto [start, outer] = blockOf(it);
  Value streamHead = head;
  Value limit = kvLength;
  if (transposed) {
    // The query head of this block's iteration of the outer loop.
    auto anchor = ub::PoisonOp::create(b, b.getIndexType());
    cloner->beginBlock(start, anchor, outer);
    streamHead = cloner->blockValue(stage.queryHead);
    limit = qLength;
    if (anchor->use_empty())
      anchor->erase();
  } else {
    streamHead = cloner->uniform(stage.scores.kvHead);
  }
  Value slot = rem(it, idx(config.stages));
  if (config.wgmma) {
    loadTilesTma(slot, {{queryMap, qRingBytes}, {gradOutputMap, doRingBytes}},
                 streamHead, start, streamRows);
    prefetchStatistics(streamHead, start, slot);
    return;
  }
  Value offset = mul(slot, idx(streamRows * headDim));
  copyRows(streamSrc1, streamHead, start, limit, ring1, offset, streamRows);
  copyRows(streamSrc2, streamHead, start, limit, ring2, offset, streamRows);
}

void BackwardEmitter::emitBlock(Value it, SmallVectorImpl<Value> &accs) {
  int64_t stages = config.stages;
  // As the forward's ring: wait for this block's group, one barrier (it
  // also says every warp is done with the slot the next prefetch fills),
  // prefetch, always commit. wgmma waits for phase (it / stages) mod 2 of
  // its slot's load barrier instead; with one barrier a block it
  // prefetches after the block's dS^T barrier (emitWgmmaGradients).
  if (config.wgmma) {
    blockIteration = it;
    if (!config.singleBarrier) {
      gpu::BarrierOp::create(b);
      prefetch(add(it, idx(stages - 1)));
    }
    emitMbarrierWait(b, loadBarrier(rem(it, idx(stages))),
                     rem(div(it, idx(stages)), idx(2)));
  } else {
    NVVM::CpAsyncWaitGroupOp::create(b, stages - 2);
    gpu::BarrierOp::create(b);
    prefetch(add(it, idx(stages - 1)));
    NVVM::CpAsyncCommitGroupOp::create(b);
  }

  auto [start, outer] = blockOf(it);
  auto anchor = ub::PoisonOp::create(b, b.getIndexType());
  cloner->beginBlock(start, anchor, outer);
  Value streamHead = transposed ? cloner->blockValue(stage.queryHead) : head;
  Value slot = rem(it, idx(stages));
  Type f32Type = b.getF32Type();
  auto accType = VectorType::get({2, 2}, f32Type);
  auto fragAType = VectorType::get({4, 2}, elementType);
  Value zeroAcc = arith::ConstantOp::create(
      b, DenseElementsAttr::get(accType, b.getF32FloatAttr(0.0f)));
  int64_t nTiles = streamRows / 8;
  SmallVector<SmallVector<Value, 4>> probs, grads;
  if (config.wgmma) {
    emitWgmmaBlock(start, streamHead, slot, accs);
    if (anchor->use_empty())
      anchor->erase();
    return;
  }

  // X = A1 B1^T and Y = A2 B2^T: S and dP (or their transposes).
  auto product = [&](Value tileFlat, Value ring) {
    SmallVector<Value> acc(nTiles, zeroAcc);
    Value aBase = rowFragmentBase(mul(warp, idx(16)), headDim);
    Value bBase = ringFragmentBase(slot, streamRows, headDim,
                                   /*rowsFromHighBit=*/true);
    for (int64_t k = 0; k < headDim / 16; ++k) {
      Value a = loadRowFragment(tileFlat, aBase, headDim, k, 0);
      for (int64_t pair = 0; pair < nTiles / 2; ++pair) {
        std::array<Value, 2> frags =
            loadBFragments(ring, swizzledStep(bBase, headDim, k, 16 * pair),
                           /*transpose=*/false);
        for (int64_t half = 0; half < 2; ++half)
          mmaAccumulate(a, frags[half], acc[2 * pair + half]);
      }
    }
    return acc;
  };
  SmallVector<Value> scores = product(tile1, ring1);
  SmallVector<Value> gradProbs = product(tile2, ring2);
  SmallVector<Value> colLse, colDelta;
  loadColumnStatistics(start, streamHead, slot, /*lse=*/true, /*delta=*/true,
                       colLse, colDelta);
  emitProbabilities(start, colLse, scores, probs);
  emitScoreGradients(colDelta, scores, probs, gradProbs, grads);

  // P and dS as A fragments: the accumulator layout of n-tiles 2k and
  // 2k + 1 is the A layout of the k-th 16-column step.
  auto fragments = [&](ArrayRef<SmallVector<Value, 4>> values) {
    SmallVector<Value> tiles(nTiles), result;
    for (int64_t n = 0; n < nTiles; ++n)
      tiles[n] = arith::TruncFOp::create(
          b, VectorType::get({2, 2}, elementType),
          vector::FromElementsOp::create(b, accType, ValueRange(values[n])));
    for (int64_t k = 0; k < nTiles / 2; ++k)
      result.push_back(stack(fragAType, {tiles[2 * k], tiles[2 * k + 1]}));
    return result;
  };
  SmallVector<Value> dsFrags = fragments(grads);

  // acc += A (streamed ring)^T-product: B fragments of two d-tiles per
  // ldmatrix.x4.trans of 16 streamed rows.
  auto accumulate = [&](ArrayRef<Value> aFrags, Value ring,
                        MutableArrayRef<Value> acc) {
    Value base = ringFragmentBase(slot, streamRows, headDim,
                                  /*rowsFromHighBit=*/false);
    for (int64_t k = 0; k < streamRows / 16; ++k)
      for (int64_t pair = 0; pair < headDim / 16; ++pair) {
        std::array<Value, 2> frags =
            loadBFragments(ring, swizzledStep(base, headDim, pair, 16 * k),
                           /*transpose=*/true);
        for (int64_t half = 0; half < 2; ++half)
          mmaAccumulate(aFrags[k], frags[half], acc[2 * pair + half]);
      }
  };
  int64_t dTiles = headDim / 8;
  MutableArrayRef<Value> all(accs);
  // dQ += dS K; or dK += dS^T Q.
  accumulate(dsFrags, ring1, all.take_front(dTiles));
  // dV += P^T dO.
  if (transposed)
    accumulate(fragments(probs), ring2, all.drop_front(dTiles));
  if (fused)
    emitGradQueryUpdate(grads, start, streamHead);
  if (anchor->use_empty())
    anchor->erase();
}

void BackwardEmitter::emitStores(ArrayRef<Value> accs) {
  int64_t dTiles = headDim / 8;
  auto pairType = VectorType::get({2}, elementType);
  Value limit = transposed ? kvLength : qLength;
  struct Output {
    Value memref;
    double scale;
  };
  SmallVector<Output> outputs;
  if (transposed)
    outputs = {{arg(kGradKey), stage.gradientScale}, {arg(kGradValue), 1.0}};
  else
    outputs = {{arg(kGradQuery), stage.gradientScale}};
  Value localRow = add(mul(warp, idx(16)), groupId);
  for (int64_t h = 0; h < 2; ++h) {
    Value row = add(rowStart, add(localRow, idx(8 * h)));
    auto inRange = scf::IfOp::create(b, lt(row, limit));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    for (auto [index, out] : llvm::enumerate(outputs)) {
      for (int64_t d = 0; d < dTiles; ++d) {
        Value acc = accs[index * dTiles + d];
        Value lo = element(acc, h, 0), hi = element(acc, h, 1);
        if (out.scale != 1.0) {
          lo = fmul(lo, f32(out.scale));
          hi = fmul(hi, f32(out.scale));
        }
        Value pair = arith::TruncFOp::create(
            b, pairType,
            vector::FromElementsOp::create(
                b, VectorType::get({2}, b.getF32Type()), ValueRange{lo, hi}));
        Value col = add(idx(8 * d), mul(threadInGroup, idx(2)));
        vector::StoreOp::create(b, pair, out.memref,
                                ValueRange{batch, head, row, col},
                                /*nontemporal=*/false, llvm::MaybeAlign(4));
      }
    }
  }
}

void BackwardEmitter::bindTile(gpu::GPUFuncOp func, int64_t rows) {
  b.setInsertionPointToStart(&func.getBody().front());
  llvm::append_range(arguments, func.getArguments());
  // The tensor maps follow the memrefs (wgmma fused: Q, K, V, dO and the
  // dQ accumulator's, buildBackwardKernel's order).
  if (func->hasAttr(kTensorMapsAttrName)) {
    ArrayRef<Value> maps = ArrayRef<Value>(arguments).take_back(5);
    queryMap = maps[0], keyMap = maps[1], valueMap = maps[2];
    gradOutputMap = maps[3], gradQueryMap = maps[4];
    arguments.pop_back_n(5);
  }
  bindThreadIndices(gpu::ThreadIdOp::create(b, gpu::Dimension::x));
  tileIndex = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  head = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  qLength = b.createOrFold<memref::DimOp>(arg(kQuery), 2);
  rowStart = mul(tileIndex, idx(rows));
}

void BackwardEmitter::emitGradients(gpu::GPUFuncOp func) {
  bindTile(func, tileRows);
  kvLength = b.createOrFold<memref::DimOp>(arg(kKey), 2);

  TileCloner::Roots roots;
  roots.batch = batch;
  roots.head = head;
  roots.tileIndex = tileIndex;
  const FusedAttentionTile &view = stage.scores;
  for (auto [tensor, index] : {std::pair<Value, unsigned>{stage.query, kQuery},
                               {stage.key, kKey},
                               {stage.value, kValue},
                               {stage.gradOutput, kGradOutput},
                               {stage.lse, kLse},
                               {stage.delta, kDelta}})
    if (tensor)
      roots.tensors[tensor] = arg(index);
  for (Value capture : view.captures)
    roots.tensors[capture] =
        arg(kFirstCapture + (llvm::find(captures, capture) - captures.begin()));
  roots.tileStart = rowStart;
  // The kernel entry's indices: the cloner may place what it builds from
  // them in the prologue (fused re-reads the thread index per block).
  roots.rowBase = [this, warp = warp, groupId = groupId](bool) {
    return add(mul(warp, idx(16)), groupId);
  };
  roots.colBase = [this, threadInGroup = threadInGroup]() {
    return mul(threadInGroup, idx(2));
  };
  roots.rowOffsets = {0, 8};
  for (int64_t n = 0; n < streamRows / 8; ++n)
    roots.colOffsets.append({8 * n, 8 * n + 1});
  cloner = std::make_unique<TileCloner>(b, *function, std::move(roots));
  auto prologue = ub::PoisonOp::create(b, b.getIndexType());
  cloner->setPrologue(prologue);

  // The streamed loop of the IR, flattened with the outer one.
  scf::ForOp loop = view.kvLoop;
  loopLo = cloner->uniform(loop.getLowerBound());
  Value loopHi = cloner->uniform(loop.getUpperBound());
  blocks = ceilDiv(maxS(sub(loopHi, loopLo), idx(0)), idx(streamRows));
  iterations = blocks;
  if (transposed) {
    scf::ForOp headLoop = stage.headLoop;
    outerLo = cloner->uniform(headLoop.getLowerBound());
    Value outerHi = cloner->uniform(headLoop.getUpperBound());
    iterations = mul(maxS(sub(outerHi, outerLo), idx(0)), blocks);
  }

  // Shared memory: the tile's two operands, then the two rings.
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                         MemRefLayoutAttrInterface{}, workgroup));
  int64_t tileElements = tileRows * headDim;
  int64_t ringElements = config.stages * streamRows * headDim;
  // wgmma: the slabs start at a multiple of the swizzle period (the
  // swizzle is a function of the address bits).
  Value pad = idx(0);
  if (config.wgmma) {
    Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, smem);
    pad = rem(
        sub(idx(kSwizzlePeriodBytes), rem(address, idx(kSwizzlePeriodBytes))),
        idx(kSwizzlePeriodBytes));
    smemAddress =
        arith::IndexCastOp::create(b, b.getI32Type(), add(address, pad));
    kTileBytes = 0;
    vTileBytes = 2 * tileElements;
    qRingBytes = 4 * tileElements;
    doRingBytes = 4 * tileElements + 2 * ringElements;
    layout = getWgmmaBackwardLayout(stage, headDim, config);
  }
  auto sharedView = [&](int64_t elements, int64_t byteOffset) {
    auto type = MemRefType::get({elements}, elementType,
                                MemRefLayoutAttrInterface{}, workgroup);
    return memref::ViewOp::create(b, type, smem, add(pad, idx(byteOffset)),
                                  ValueRange{});
  };
  tile1 = sharedView(tileElements, 0);
  tile2 = sharedView(tileElements, 2 * tileElements);
  ring1 = sharedView(ringElements, 4 * tileElements);
  ring2 = sharedView(ringElements, 4 * tileElements + 2 * ringElements);
  if (fused)
    gradScoresT = sharedView(
        config.wgmma ? layout.gradScoresBuffers * tileRows * streamRows
                     : tileRows * getGradScoresPitch(stage),
        4 * tileElements + 4 * ringElements);
  if (config.wgmma)
    statistics = memref::ViewOp::create(
        b,
        MemRefType::get({2 * config.stages * streamRows}, b.getF32Type(),
                        MemRefLayoutAttrInterface{}, workgroup),
        smem, add(pad, idx(layout.statistics)), ValueRange{});
  Value tileHead = head, tileLimit = qLength;
  if (transposed) {
    tileSrc1 = arg(kKey), tileSrc2 = arg(kValue);
    streamSrc1 = arg(kQuery), streamSrc2 = arg(kGradOutput);
    tileLimit = kvLength;
  } else {
    tileSrc1 = arg(kQuery), tileSrc2 = arg(kGradOutput);
    streamSrc1 = arg(kKey), streamSrc2 = arg(kValue);
  }
  if (config.wgmma) {
    initLoadBarriers();
    loadTilesTma(Value(), {{keyMap, kTileBytes}, {valueMap, vTileBytes}},
                 tileHead, rowStart, tileRows);
  } else {
    copyRows(tileSrc1, tileHead, rowStart, tileLimit, tile1, idx(0), tileRows);
    copyRows(tileSrc2, tileHead, rowStart, tileLimit, tile2, idx(0), tileRows);
  }
  NVVM::CpAsyncCommitGroupOp::create(b);
  for (int64_t s = 0; s + 1 < config.stages; ++s) {
    prefetch(idx(s));
    NVVM::CpAsyncCommitGroupOp::create(b);
  }
  if (!transposed) {
    Value localRow = add(mul(warp, idx(16)), groupId);
    for (int64_t h = 0; h < 2; ++h)
      std::tie(rowLse[h], rowDelta[h]) =
          loadRowStatistics(head, add(rowStart, add(localRow, idx(8 * h))));
  }
  if (config.wgmma) {
    emitMbarrierWait(b, loadBarrier(Value()), idx(0));
  } else {
    NVVM::CpAsyncWaitGroupOp::create(b, config.stages - 1);
    gpu::BarrierOp::create(b);
  }

  auto accType = VectorType::get({2, 2}, b.getF32Type());
  Value zeroAcc = arith::ConstantOp::create(
      b, DenseElementsAttr::get(accType, b.getF32FloatAttr(0.0f)));
  SmallVector<Value> accs((transposed ? 2 : 1) * headDim / 8, zeroAcc);
  // wgmma: dK then dV as the MMA's registers, flat: element 4n + 2h + e
  // is (h, e) of the 8-column tile n.
  if (config.wgmma)
    accs.assign(headDim, f32(0.0));
  auto forOp = scf::ForOp::create(b, idx(0), iterations, idx(1), accs);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forOp.getBody());
    SmallVector<Value> body(forOp.getRegionIterArgs());
    // fused holds dK, dV and a dQ unit at once: thread indices re-read per
    // block rather than kept live across the loop (the forward's remedy).
    Value saved[] = {tid, lane, warp, groupId, threadInGroup};
    if (fused)
      bindThreadIndices(readThreadIdInLoop());
    emitBlock(forOp.getInductionVar(), body);
    tid = saved[0], lane = saved[1], warp = saved[2], groupId = saved[3];
    threadInGroup = saved[4];
    scf::YieldOp::create(b, body);
  }
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  // wgmma: the last dQ reductions are complete before the kernel ends
  // (they read their rows from shared memory).
  if (config.wgmma)
    NVVM::CpAsyncBulkWaitGroupOp::create(b, 0, UnitAttr());
  SmallVector<Value> results(forOp.getResults());
  if (config.wgmma) {
    SmallVector<Value> tiles;
    for (int64_t t = 0; t < headDim / 4; ++t)
      tiles.push_back(vector::FromElementsOp::create(
          b, accType, ArrayRef<Value>(results).slice(4 * t, 4)));
    results = std::move(tiles);
  }
  emitStores(results);
  gpu::ReturnOp::create(b);
  if (prologue->use_empty())
    prologue->erase();
}

//===----------------------------------------------------------------------===//
// Entry point
//===----------------------------------------------------------------------===//

FailureOr<gpu::GPUFuncOp> mlir::fa::buildBackwardKernel(
    OpBuilder &builder, gpu::GPUModuleOp module, const BackwardStageTile &stage,
    const BackwardKernelSpec &spec, ArrayRef<Value> captures,
    const BackwardConfig &config, const GPUTarget &target, Location loc) {
  if (failed(verifyBackwardConfig(stage, spec, config, target,
                                  [&]() { return emitError(loc); })))
    return failure();
  std::optional<ScoreFunction> function;
  if (!isRowWise(stage)) {
    ScoreFunctionOptions options;
    options.transposed = isKeyTiled(stage);
    options.outerLoop = stage.headLoop;
    options.tileLoop = stage.keyTiles;
    if (stage.queryHead)
      options.blockValues.push_back(stage.queryHead);
    FailureOr<ScoreFunction> analyzed =
        ScoreFunction::analyze(stage.scores, options);
    if (failed(analyzed))
      return failure();
    function = *analyzed;
  }

  KernelLaunchInfo info;
  info.strategy = config.wgmma ? "hopper-ws" : "mma-sync";
  info.chip = target.chip;
  info.blockM = stage.blockM;
  info.blockN = stage.blockN;
  info.threads = getBackwardThreads(stage);
  info.warps = info.threads / 32;
  info.stages = isRowWise(stage) ? 0 : config.stages;
  info.dynamicSharedMemory = getBackwardSharedMemoryBytes(stage, spec, config);
  info.backwardStage = stage.stage.str();
  // wgmma: TMA loads Q, K, V and dO (a box is one 64-column slab of a
  // tile's or a streamed block's rows) and adds dQ to its accumulator
  // through a tensor map of [B, Hq, Nq, D] f32 whose box is a warp's staged
  // box. BackwardEmitter::bindTile takes the maps in this order.
  SmallVector<Type> arguments = spec.getArgumentTypes();
  if (config.wgmma && stage.stage == BackwardTileAttr::fused) {
    auto [tileRows, streamRows] = detail::getTileShape(stage);
    info.tensorMaps = {
        {detail::kQuery, {64, streamRows, 1, 1}},
        {detail::kKey, {64, tileRows, 1, 1}},
        {detail::kValue, {64, tileRows, 1, 1}},
        {detail::kGradOutput, {64, streamRows, 1, 1}},
        {detail::kGradQueryAccumulator,
         {detail::kGradQueryBoxColumns, detail::kGradQueryBoxRows, 1, 1}}};
    arguments.append(info.tensorMaps.size(),
                     LLVM::LLVMPointerType::get(builder.getContext()));
  }

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(builder, loc, "fa_attention_backward",
                                     builder.getFunctionType(arguments, {}));
  if (!info.tensorMaps.empty())
    func->setAttr(kTensorMapsAttrName,
                  builder.getI64IntegerAttr(info.tensorMaps.size()));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  func.setKnownBlockSizeAttr(
      builder.getDenseI32ArrayAttr({static_cast<int32_t>(info.threads), 1, 1}));
  func->setAttr(KernelLaunchInfo::attrName, info.toAttr(builder.getContext()));

  ImplicitLocOpBuilder b(loc, builder);
  BackwardEmitter emitter(b, stage, spec, captures, config,
                          function ? &*function : nullptr);
  emitter.setVectorReductions(target.smVersion >= 90);
  if (stage.stage == BackwardTileAttr::delta)
    emitter.emitDelta(func);
  else if (stage.stage == kGradQueryConvertStage)
    emitter.emitConvert(func);
  else
    emitter.emitGradients(func);
  func.setName(getBackwardKernelName(stage, spec, config));
  appendKernelHash(func);
  return func;
}
