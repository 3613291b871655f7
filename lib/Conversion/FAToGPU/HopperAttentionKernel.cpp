//===- HopperAttentionKernel.cpp - The wgmma attention kernel -------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The schedule of the `hopper-ws` strategy, first increment
// (docs/HopperStrategy.md): warpgroup MMAs on Hopper. One block computes
// one (batch, query head, block_m query rows) tile with block_m / 64
// consumer warpgroups of 64 rows each. Per key/value block:
//
//   cp.async K,V block j+stages-1 -> ring slot (128-byte-swizzled slabs)
//   S    = Q K^T          wgmma m64nBNk16, Q and K from shared memory
//   s    = the tile's scores body, cloned per accumulator element
//          (ScoreCloner); masked blocks also apply its visibility and the
//          key padding
//   online softmax on the fragment rows (RegisterSoftmax)
//   O    = O * alpha + P V  wgmma m64nDk16, P from registers (the S
//                           accumulator layout is the A fragment layout),
//                           V from shared memory, N-major
//
// then O / l and LSE, as the mma.sync kernel. The key blocks come from the
// mask (BlockClassifier): fully visible blocks run unmasked, invisible ones
// are neither loaded nor computed. Loads are cp.async by all threads, made
// visible to wgmma (the async proxy) by fence.proxy.async; TMA, a producer
// warpgroup and the overlap of softmax and MMAs are the next increments.
//
//===----------------------------------------------------------------------===//

#include "HopperKernelEmitter.h"
#include "KernelEpilogue.h"
#include "KernelGrid.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

SmallVector<Value> HopperKernelEmitter::packState(const HopperState &state) {
  SmallVector<Value> values(state.acc);
  for (const SoftmaxRowState &row : state.rows)
    values.append({row.max, row.sum});
  return values;
}

HopperState HopperKernelEmitter::unpackState(ValueRange values) {
  HopperState state;
  int64_t accs = valueDim / 2;
  state.acc.assign(values.begin(), values.begin() + accs);
  for (int64_t h = 0; h < 2; ++h)
    state.rows[h] = {values[accs + 2 * h], values[accs + 2 * h + 1]};
  return state;
}

void HopperKernelEmitter::emitGuarded(
    HopperState &state, Value condition,
    function_ref<void(HopperState &)> thenEmit,
    function_ref<void(HopperState &)> elseEmit) {
  SmallVector<Value> before = packState(state);
  auto ifOp = scf::IfOp::create(b, TypeRange(ValueRange(before)), condition,
                                /*addThenBlock=*/true, /*addElseBlock=*/true);
  for (auto [block, emitBranch] :
       {std::make_pair(ifOp.thenBlock(), thenEmit),
        std::make_pair(ifOp.elseBlock(), elseEmit)}) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(block);
    HopperState branch = unpackState(before);
    if (emitBranch)
      emitBranch(branch);
    scf::YieldOp::create(b, packState(branch));
  }
  state = unpackState(ifOp.getResults());
}

void HopperKernelEmitter::emitBlock(HopperState &state, Value block) {
  int64_t stages = config.stages;
  // This block's copies are done (all but the newest stages - 2 groups);
  // fence.proxy.async makes them visible to wgmma, and the barrier to
  // every warpgroup. It also says that every warpgroup has finished block
  // - 1 (its wgmmas were waited for), whose slot the prefetch overwrites.
  NVVM::CpAsyncWaitGroupOp::create(b, stages - 2);
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  gpu::BarrierOp::create(b);
  prefetch(add(block, idx(stages - 1)));
  NVVM::CpAsyncCommitGroupOp::create(b);

  Value unmasked = arith::AndIOp::create(
      b,
      arith::CmpIOp::create(b, arith::CmpIPredicate::sge, block, ranges.fullLo),
      lt(block, ranges.fullHi));
  emitGuarded(
      state, unmasked,
      [&](HopperState &s) { emitBlockCompute(s, block, /*masked=*/false); },
      [&](HopperState &s) {
        if (!classifier->hasPredicate()) {
          emitBlockCompute(s, block, /*masked=*/true);
          return;
        }
        emitGuarded(
            s, classifier->mayBeVisible(block),
            [&](HopperState &v) { emitBlockCompute(v, block, true); }, nullptr);
      });
}

void HopperKernelEmitter::emitBlockCompute(HopperState &state, Value block,
                                           bool masked) {
  int64_t blockN = config.blockN;
  Value kvStart = mul(block, idx(blockN));
  auto anchor = ub::PoisonOp::create(b, b.getIndexType());
  cloner->beginBlock(kvStart, anchor);

  // The descriptors of this block's ring slot (slot * slot bytes >> 4).
  Value slot = arith::IndexCastOp::create(b, b.getI64Type(),
                                          rem(block, idx(config.stages)));
  auto slotDesc = [&](Value base, int64_t slotBytes) {
    return arith::AddIOp::create(
        b, base,
        arith::MulIOp::create(
            b, slot,
            arith::ConstantOp::create(b, b.getI64IntegerAttr(slotBytes >> 4))));
  };
  Value kSlot = slotDesc(kDesc, 2 * blockN * headDim);
  Value vSlot = slotDesc(vDesc, 2 * blockN * valueDim);

  // S = Q K^T: D / 16 MMAs of 64 x block-n x 16, both K-major.
  emitWgmmaFence(b);
  SmallVector<Value> scores;
  for (int64_t k = 0; k < headDim / 16; ++k) {
    int64_t inSlab = (k % 4) * 32;
    Value descA = offsetWgmmaDescriptor(
        b, qDesc, (k / 4) * config.blockM * kSlabRowBytes + inSlab);
    Value descB = offsetWgmmaDescriptor(
        b, kSlot, (k / 4) * blockN * kSlabRowBytes + inSlab);
    scores = emitWgmmaSS(b, scores, descA, descB, blockN, elementType,
                         /*accumulate=*/k > 0);
  }
  emitWgmmaCommit(b);
  emitWgmmaWait(b, 0);
  scores = fenceRegisters(b, scores);

  // The scores body per accumulator element: element 4n + 2h + e is
  // fragment row h (rows g, g + 8), column 2n + e (key 8n + 2c + e).
  Value negInf = arith::ConstantOp::create(
      b, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
  Value padding;
  if (masked) {
    Value first = add(kvStart, mul(threadInGroup, idx(2)));
    Value limit = minS(maxS(sub(kvLength, first), idx(0)), idx(blockN));
    padding = arith::IndexCastOp::create(b, b.getI32Type(), limit);
  }
  Value visible = function.getVisible();
  int64_t nTiles = blockN / 8;
  SmallVector<Value> probabilities(blockN / 2);
  Value alpha[2];
  for (int64_t h = 0; h < 2; ++h) {
    SmallVector<Value> rowScores;
    for (int64_t n = 0; n < nTiles; ++n) {
      for (int64_t e = 0; e < 2; ++e) {
        unsigned col = 2 * n + e;
        Value qk = scores[4 * n + 2 * h + e];
        Value x = cloner->element(function.getInner(), h, col, qk);
        if (masked) {
          if (visible)
            x = arith::SelectOp::create(b, cloner->element(visible, h, col, qk),
                                        x, negInf);
          Value isPadding = arith::CmpIOp::create(b, arith::CmpIPredicate::sge,
                                                  i32(8 * n + e), padding);
          x = arith::SelectOp::create(b, isPadding, negInf, x);
        }
        rowScores.push_back(x);
      }
    }
    auto [p, a] = updateSoftmaxRow(b, rowScores, scoreScale, state.rows[h]);
    alpha[h] = a;
    for (int64_t n = 0; n < nTiles; ++n)
      for (int64_t e = 0; e < 2; ++e)
        probabilities[4 * n + 2 * h + e] = p[2 * n + e];
  }
  for (auto [i, acc] : llvm::enumerate(state.acc))
    acc = arith::MulFOp::create(b, acc, alpha[(i / 2) % 2]);

  // P as A fragments: for 16 keys 16k..16k+15, registers (row g, keys
  // 2c, 2c+1), (g + 8, same), (g, keys 8 + 2c, +1), (g + 8, same): the
  // accumulator pairs of n-tiles 2k and 2k + 1.
  auto pairType = VectorType::get({2}, elementType);
  auto pack = [&](Value lo, Value hi) -> Value {
    Value pair = arith::TruncFOp::create(
        b, pairType,
        vector::FromElementsOp::create(b, VectorType::get({2}, b.getF32Type()),
                                       ValueRange{lo, hi}));
    Value word = vector::BitCastOp::create(
        b, VectorType::get({1}, b.getI32Type()), pair);
    return vector::ExtractOp::create(b, word, ArrayRef<int64_t>{0});
  };
  SmallVector<Value> aRegisters;
  for (int64_t n = 0; n < nTiles; ++n)
    for (int64_t h = 0; h < 2; ++h)
      aRegisters.push_back(
          pack(probabilities[4 * n + 2 * h], probabilities[4 * n + 2 * h + 1]));
  aRegisters = fenceRegisters(b, aRegisters);
  state.acc = fenceRegisters(b, state.acc);

  // O += P V: block-n / 16 MMAs of 64 x Dv x 16, V N-major (16 keys are
  // 2048 bytes of every slab).
  emitWgmmaFence(b);
  for (int64_t k = 0; k < blockN / 16; ++k) {
    Value descB = offsetWgmmaDescriptor(b, vSlot, k * 16 * kSlabRowBytes);
    state.acc =
        emitWgmmaRS(b, state.acc, ArrayRef<Value>(aRegisters).slice(4 * k, 4),
                    descB, valueDim, elementType, /*transposeB=*/true);
  }
  emitWgmmaCommit(b);
  emitWgmmaWait(b, 0);
  state.acc = fenceRegisters(b, state.acc);
  if (anchor->use_empty())
    anchor->erase();
}

void HopperKernelEmitter::emitEpilogue(const HopperState &state) {
  OutputRows rows{output,  lse,           batch,      head,
                  qLength, threadInGroup, elementType};
  Value rowBase =
      add(rowStart, add(add(mul(warpgroup, idx(64)), mul(warpInGroup, idx(16))),
                        groupId));
  for (int64_t h = 0; h < 2; ++h) {
    SoftmaxRowResult result = finishSoftmaxRow(b, state.rows[h], scoreScale);
    // Accumulator 4d + 2h + e: row g + 8h, column 8d + 2c + e.
    emitOutputRow(
        b, rows, add(rowBase, idx(8 * h)), result, valueDim,
        [&](int64_t d, int64_t e) { return state.acc[4 * d + 2 * h + e]; });
  }
}

void HopperKernelEmitter::emit(gpu::GPUFuncOp func) {
  b.setInsertionPointToStart(&func.getBody().front());
  query = func.getArgument(0);
  key = func.getArgument(1);
  value = func.getArgument(2);
  output = func.getArgument(3);
  unsigned firstCapture = 4;
  if (spec.lseType)
    lse = func.getArgument(firstCapture++);

  tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  warpgroup = div(tid, idx(128));
  warpInGroup = rem(div(tid, idx(32)), idx(4));
  Value lane = rem(tid, idx(32));
  groupId = div(lane, idx(4));
  threadInGroup = rem(lane, idx(4));
  TileCoordinates coordinates =
      emitTileCoordinates(b, function, query, key, config.blockM);
  Value tileIndex = coordinates.tileIndex;
  head = coordinates.head;
  batch = coordinates.batch;
  qLength = coordinates.qLength;
  kvLength = coordinates.kvLength;
  rowStart = coordinates.rowStart;

  TileCloner::Roots roots;
  roots.batch = batch;
  roots.head = head;
  roots.tileIndex = tileIndex;
  roots.bindKernelArguments(tile, func.getArguments());
  Value localRow =
      add(add(mul(warpgroup, idx(64)), mul(warpInGroup, idx(16))), groupId);
  Value localCol = mul(threadInGroup, idx(2));
  roots.rowBase = [localRow](bool) { return localRow; };
  roots.colBase = [localCol]() { return localCol; };
  roots.rowOffsets = {0, 8};
  for (int64_t n = 0; n < config.blockN / 8; ++n)
    roots.colOffsets.append({8 * n, 8 * n + 1});
  roots.hoistRowValues = true;
  cloner = std::make_unique<TileCloner>(b, function, std::move(roots));
  auto prologue = ub::PoisonOp::create(b, b.getIndexType());
  cloner->setPrologue(prologue);

  KeyBlockPlan plan =
      planKeyBlocks(b, function, *cloner, kvLength, config.blockN);
  kvHead = plan.kvHead;
  classifier = std::move(plan.classifier);
  ranges = plan.ranges;

  // Shared memory, aligned up to the swizzle period: the Q tile, then the
  // K ring, then the V ring, each [stages][slabs][rows][64].
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                   MemRefLayoutAttrInterface{}, workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(b, bytesType);
  Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, smem);
  Value pad =
      rem(sub(idx(kSwizzlePeriodBytes), rem(address, idx(kSwizzlePeriodBytes))),
          idx(kSwizzlePeriodBytes));
  int64_t qElements = config.blockM * headDim;
  int64_t kElements = config.stages * config.blockN * headDim;
  int64_t vElements = config.stages * config.blockN * valueDim;
  auto flat = [&](int64_t elements, int64_t byteOffset) -> Value {
    auto type = MemRefType::get({elements}, elementType,
                                MemRefLayoutAttrInterface{}, workgroup);
    return memref::ViewOp::create(b, type, smem, add(pad, idx(byteOffset)),
                                  ValueRange{});
  };
  qTile = flat(qElements, 0);
  kRing = flat(kElements, 2 * qElements);
  vRing = flat(vElements, 2 * (qElements + kElements));
  Value base = arith::IndexCastOp::create(b, b.getI32Type(), add(address, pad));
  auto descriptor = [&](int64_t byteOffset, int64_t leading) {
    return makeWgmmaDescriptor(
        b, arith::AddIOp::create(b, base, i32(byteOffset)),
        getWgmmaDescriptorBits(leading, kSwizzlePeriodBytes));
  };
  // K-major Q and K: the leading offset is unused with the swizzle (16).
  // N-major V: slabs of 64 columns are block-n rows apart.
  qDesc = descriptor(0, 16);
  {
    // This warpgroup's 64 rows, 64 * 128 bytes into every Q slab.
    Value rows = arith::IndexCastOp::create(b, b.getI64Type(), warpgroup);
    qDesc = arith::AddIOp::create(
        b, qDesc,
        arith::MulIOp::create(
            b, rows,
            arith::ConstantOp::create(
                b, b.getI64IntegerAttr((64 * kSlabRowBytes) >> 4))));
  }
  kDesc = descriptor(2 * qElements, 16);
  vDesc =
      descriptor(2 * (qElements + kElements), config.blockN * kSlabRowBytes);

  // Prologue: Q, then the K/V of the first stages - 1 blocks, one group
  // each; the loop's first wait covers Q and block lo.
  copyTile(query, batch, head, rowStart, qLength, qTile, idx(0), config.blockM,
           headDim);
  NVVM::CpAsyncCommitGroupOp::create(b);
  for (int64_t s = 0; s + 1 < config.stages; ++s) {
    prefetch(add(ranges.lo, idx(s)));
    NVVM::CpAsyncCommitGroupOp::create(b);
  }

  HopperState state;
  Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
  state.acc.assign(valueDim / 2, zero);
  state.rows[0] = state.rows[1] = initialSoftmaxRow(b);
  SmallVector<Value> init = packState(state);
  auto loop = scf::ForOp::create(b, ranges.lo, ranges.hi, idx(1), init);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    HopperState body = unpackState(loop.getRegionIterArgs());
    emitBlock(body, loop.getInductionVar());
    scf::YieldOp::create(b, packState(body));
  }
  state = unpackState(loop.getResults());
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  emitEpilogue(state);
  gpu::ReturnOp::create(b);
  if (prologue->use_empty())
    prologue->erase();
}

FailureOr<gpu::GPUFuncOp> mlir::fa::buildHopperAttentionKernel(
    OpBuilder &builder, gpu::GPUModuleOp module, const FusedAttentionTile &tile,
    const AttentionKernelSpec &spec, const HopperConfig &config,
    const GPUTarget &target, Location loc) {
  if (failed(verifyHopperConfig(spec, config, target,
                                [&]() { return emitError(loc); })))
    return failure();
  FailureOr<ScoreFunction> function = ScoreFunction::analyze(tile);
  if (failed(function))
    return failure();

  KernelLaunchInfo info;
  info.strategy = "hopper-ws";
  info.chip = target.chip;
  info.blockM = config.blockM;
  info.blockN = config.blockN;
  info.warps = config.threads() / 32;
  info.stages = config.stages;
  info.threads = config.threads();
  info.dynamicSharedMemory = getHopperSharedMemoryBytes(spec, config);
  info.lse = static_cast<bool>(spec.lseType);
  gpu::GPUFuncOp func = createAttentionKernel(builder, module, spec, info, loc);

  ImplicitLocOpBuilder b(loc, builder);
  HopperKernelEmitter(b, spec, config, *function).emit(func);
  func.setName(getAttentionKernelName(spec, config, func));
  return func;
}
