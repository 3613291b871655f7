//===- MmaSyncBackwardRows.cpp - Row-wise backward kernels, dQ updates ----===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The pieces of the mma.sync backward that work on rows rather than on a
// tile's fragments: the delta kernel (rowsum(dO * O), and with
// dq=accumulate the zeroed dQ accumulator), the dq_convert kernel (dQ =
// scale * the accumulator) and the fused kernel's dQ update (dS^T through
// shared memory, dS K on the tensor cores, f32 reductions into the
// accumulator).
//
//===----------------------------------------------------------------------===//

#include "MmaSyncBackwardEmitter.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

void BackwardEmitter::forEachThreadItem(int64_t count,
                                        function_ref<void(Value)> body) {
  int64_t threads = getBackwardThreads(stage);
  auto loop = scf::ForOp::create(b, tid, idx(count), idx(threads));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  body(loop.getInductionVar());
}

void BackwardEmitter::emitGradQueryUpdate(ArrayRef<SmallVector<Value, 4>> grads,
                                          Value start, Value streamHead) {
  int64_t pitch = getGradScoresPitch(stage);
  int64_t nTiles = streamRows / 8;
  // dS^T into shared memory as this thread holds it: rows (keys) 16 warp +
  // groupId (+ 8), columns (queries) 8n + 2 threadInGroup (+ 1). The
  // barrier at the top of the next block keeps the buffer until every warp
  // has read it.
  // Keys past Nk (the tile's padding) have zero K rows, but their dS need
  // not be small (the scores body sees a zero score there and P is not
  // masked): rounded, it could overflow, and inf * 0 is NaN. They store 0.
  auto pairType = VectorType::get({2}, elementType);
  auto widePair = VectorType::get({2}, b.getF32Type());
  Value keyRow = add(mul(warp, idx(16)), groupId);
  Value storeBase = add(mul(keyRow, idx(pitch)), mul(threadInGroup, idx(2)));
  Value zeroPair = arith::ConstantOp::create(
      b, DenseElementsAttr::get(pairType, b.getZeroAttr(elementType)));
  Value isKey[2];
  for (int64_t h = 0; h < 2; ++h)
    isKey[h] = lt(add(rowStart, add(keyRow, idx(8 * h))), kvLength);
  for (int64_t n = 0; n < nTiles; ++n)
    for (int64_t h = 0; h < 2; ++h) {
      Value pair = arith::TruncFOp::create(
          b, pairType,
          vector::FromElementsOp::create(
              b, widePair, ValueRange{grads[n][2 * h], grads[n][2 * h + 1]}));
      pair = arith::SelectOp::create(b, isKey[h], pair, zeroPair);
      vector::StoreOp::create(
          b, pair, gradScoresT,
          ValueRange{add(storeBase, idx(8 * h * pitch + 8 * n))});
    }
  gpu::BarrierOp::create(b);

  // dQ[block] += dS K in units of 16 query rows x 64 columns, unit u =
  // chunk * mTiles + m-tile, one per warp at a time. A = dS by
  // ldmatrix.trans of dS^T (lane l: key row 8 (matrix / 2) + l mod 8,
  // query chunk matrix mod 2); B = K of the tile, transposed as the query
  // kernel reads its K ring.
  int64_t warps = tileRows / 16;
  int64_t mTiles = streamRows / 16;
  int64_t chunkCols = getGradQueryChunk(headDim + streamRows + streamRows / 2);
  int64_t pairs = chunkCols / 16;
  int64_t units = mTiles * (headDim / chunkCols);
  Value matrix = div(lane, idx(8));
  Value aLane = add(
      mul(add(mul(div(matrix, idx(2)), idx(8)), rem(lane, idx(8))), idx(pitch)),
      mul(rem(matrix, idx(2)), idx(8)));
  Value kBase = ringFragmentBase(idx(0), tileRows, headDim,
                                 /*rowsFromHighBit=*/false);
  auto accType = VectorType::get({2, 2}, b.getF32Type());
  auto fragAType = VectorType::get({4, 2}, elementType);
  Value zeroAcc = arith::ConstantOp::create(
      b, DenseElementsAttr::get(accType, b.getF32FloatAttr(0.0f)));
  Value accumulator = arg(kGradQueryAccumulator);
  for (int64_t round = 0; round * warps < units; ++round) {
    OpBuilder::InsertionGuard guard(b);
    Value unit = add(warp, idx(round * warps));
    if ((round + 1) * warps > units) {
      auto inRange = scf::IfOp::create(b, lt(unit, idx(units)));
      b.setInsertionPointToStart(inRange.thenBlock());
    }
    Value mTile = rem(unit, idx(mTiles));
    Value chunk = div(unit, idx(mTiles));
    Value aBase = add(aLane, mul(mTile, idx(16)));
    // The chunk's first 16-column pair s0 = chunk * pairs: pair s0 + p of a
    // row is swizzledStep's step s0 + p, whose swizzle bits (s0 mod 4) + p
    // do not carry (pairs divides 4), so the chunk's base is kBase XOR
    // 16 (s0 mod 4), plus 64 (s0 / 4) for the whole swizzle periods.
    Value firstPair = mul(chunk, idx(pairs));
    Value bBase = add(b.createOrFold<arith::XOrIOp>(
                          kBase, mul(rem(firstPair, idx(4)), idx(2 * kChunk))),
                      mul(div(firstPair, idx(4)), idx(8 * kChunk)));
    SmallVector<Value> acc(chunkCols / 8, zeroAcc);
    for (int64_t k = 0; k < tileRows / 16; ++k) {
      Value a =
          nvgpu::LdMatrixOp::create(b, fragAType, gradScoresT,
                                    ValueRange{add(aBase, idx(16 * k * pitch))},
                                    /*transpose=*/true, /*numTiles=*/4);
      for (int64_t pair = 0; pair < pairs; ++pair) {
        std::array<Value, 2> frags =
            loadBFragments(tile1, swizzledStep(bBase, headDim, pair, 16 * k),
                           /*transpose=*/true);
        for (int64_t half = 0; half < 2; ++half)
          mmaAccumulate(a, frags[half], acc[2 * pair + half]);
      }
    }
    // Rows past Nq hold zeros (their P is 0) and exist in no tensor.
    Value firstRow = add(start, add(mul(mTile, idx(16)), groupId));
    Value chunkCol = mul(chunk, idx(chunkCols));
    if (vectorReductions) {
      addRowQuads(acc, accumulator, streamHead, firstRow, chunkCol);
      continue;
    }
    Value firstCol = add(chunkCol, mul(threadInGroup, idx(2)));
    for (int64_t h = 0; h < 2; ++h) {
      Value row = add(firstRow, idx(8 * h));
      auto inRange = scf::IfOp::create(b, lt(row, qLength));
      OpBuilder::InsertionGuard rowGuard(b);
      b.setInsertionPointToStart(inRange.thenBlock());
      for (int64_t n = 0; n < chunkCols / 8; ++n)
        for (int64_t e = 0; e < 2; ++e)
          memref::AtomicRMWOp::create(
              b, arith::AtomicRMWKind::addf, element(acc[n], h, e), accumulator,
              ValueRange{batch, streamHead, row,
                         add(firstCol, idx(8 * n + e))});
    }
  }
}

Value BackwardEmitter::accumulatorAddress(Value accumulator, Value head,
                                          Value row, Value col) {
  auto meta = memref::ExtractStridedMetadataOp::create(b, accumulator);
  ValueRange strides = meta.getStrides();
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, accumulator);
  Value offset = add(add(meta.getOffset(), mul(batch, strides[0])),
                     add(mul(head, strides[1]), mul(row, strides[2])));
  return arith::IndexCastUIOp::create(b, b.getI64Type(),
                                      add(base, mul(add(offset, col), idx(4))));
}

void BackwardEmitter::addRowQuads(ArrayRef<Value> acc, Value accumulator,
                                  Value accHead, Value firstRow,
                                  Value firstCol) {
  // Threads 2j and 2j + 1 of a quad hold columns 4j..4j+3 of rows r and
  // r + 8 in halves; one exchange gives the even thread row r and the odd
  // one row r + 8, four columns each. The shuffles run in every lane; only
  // the reductions are predicated.
  Value parity = rem(threadInGroup, idx(2));
  Value odd =
      arith::CmpIOp::create(b, arith::CmpIPredicate::ne, parity, idx(0));
  SmallVector<std::array<Value, 4>> quads;
  for (Value tile : acc) {
    Value mine[2][2];
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t e = 0; e < 2; ++e)
        mine[h][e] = element(tile, h, e);
    Value received[2];
    for (int64_t e = 0; e < 2; ++e) {
      Value sent = select(odd, mine[0][e], mine[1][e]);
      received[e] = gpu::ShuffleOp::create(b, sent, i32(1), i32(32),
                                           gpu::ShuffleMode::XOR)
                        .getShuffleResult();
    }
    quads.push_back({select(odd, received[0], mine[0][0]),
                     select(odd, received[1], mine[0][1]),
                     select(odd, mine[1][0], received[0]),
                     select(odd, mine[1][1], received[1])});
  }
  Value row = add(firstRow, mul(parity, idx(8)));
  Value col = add(firstCol, mul(div(threadInGroup, idx(2)), idx(4)));
  auto inRange = scf::IfOp::create(b, lt(row, qLength));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(inRange.thenBlock());
  Value address = accumulatorAddress(accumulator, accHead, row, col);
  for (auto [n, quad] : llvm::enumerate(quads)) {
    SmallVector<Value> operands{address};
    operands.append(quad.begin(), quad.end());
    // Columns 8n..: 32 bytes further per n-tile.
    std::string ptx = "{ .reg .u64 a; cvta.to.global.u64 a, $0; "
                      "red.global.add.v4.f32 [a+" +
                      std::to_string(32 * n) + "], {$1, $2, $3, $4}; }";
    LLVM::InlineAsmOp::create(b, b.getLoc(), TypeRange{}, operands, ptx,
                              "l,f,f,f,f", /*has_side_effects=*/true,
                              /*is_align_stack=*/false,
                              LLVM::tailcallkind::TailCallKind::None,
                              /*asm_dialect=*/nullptr,
                              /*operand_attrs=*/nullptr);
  }
}

void BackwardEmitter::emitDelta(gpu::GPUFuncOp func) {
  int64_t blockM = stage.blockM;
  bindTile(func, blockM);

  // A row of D / 8 chunks of 8 elements is summed by `lanes` lanes (a power
  // of two), `rowsPerWarp` rows per warp at a time.
  int64_t chunks = headDim / 8;
  int64_t lanes = 1;
  while (lanes < 32 && chunks % (2 * lanes) == 0)
    lanes *= 2;
  int64_t rowsPerWarp = 32 / lanes;
  int64_t warps = getBackwardThreads(stage) / 32;
  Value laneRow = div(lane, idx(lanes));
  Value laneChunk = rem(lane, idx(lanes));
  auto chunkType = VectorType::get({8}, elementType);
  auto wideType = VectorType::get({8}, b.getF32Type());
  // The loop is uniform across a warp: every lane takes part in the
  // shuffles; rows past the tile or the end read row 0 and store nothing.
  auto loop = scf::ForOp::create(b, mul(warp, idx(rowsPerWarp)), idx(blockM),
                                 idx(warps * rowsPerWarp));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value local = add(loop.getInductionVar(), laneRow);
  Value row = add(rowStart, local);
  Value inRange =
      arith::AndIOp::create(b, lt(local, idx(blockM)), lt(row, qLength));
  Value readRow = select(inRange, row, idx(0));
  Value sum = f32(0.0);
  for (int64_t c = 0; c < chunks / lanes; ++c) {
    Value col = mul(add(laneChunk, idx(c * lanes)), idx(8));
    SmallVector<Value> indices{batch, head, readRow, col};
    auto load = [&](Value memref) {
      Value chunk = vector::LoadOp::create(b, chunkType, memref, indices);
      return arith::ExtFOp::create(b, wideType, chunk);
    };
    Value product = fmul(load(arg(kGradOutput)), load(arg(kOutput)));
    sum = arith::AddFOp::create(
        b, sum,
        vector::ReductionOp::create(b, vector::CombiningKind::ADD, product));
  }
  for (int64_t offset = lanes / 2; offset >= 1; offset /= 2)
    sum = arith::AddFOp::create(b, sum,
                                gpu::ShuffleOp::create(b, sum, i32(offset),
                                                       i32(32),
                                                       gpu::ShuffleMode::XOR)
                                    .getShuffleResult());
  auto store = scf::IfOp::create(
      b,
      arith::AndIOp::create(b, inRange,
                            arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                  laneChunk, idx(0))));
  b.setInsertionPointToStart(store.thenBlock());
  memref::StoreOp::create(b, sum, arg(kDelta), ValueRange{batch, head, row});
  b.setInsertionPointAfter(loop);
  // dq=accumulate: the dQ accumulator's rows of this tile start from zero
  // (the fused stage's fill), before the fused kernel adds to them.
  if (spec.gradQueryAccumulator) {
    int64_t vectors = headDim / 4;
    auto zeros = arith::ConstantOp::create(
        b, DenseElementsAttr::get(VectorType::get({4}, b.getF32Type()),
                                  b.getF32FloatAttr(0.0f)));
    forEachThreadItem(blockM * vectors, [&](Value i) {
      Value accRow = add(rowStart, div(i, idx(vectors)));
      auto inRange = scf::IfOp::create(b, lt(accRow, qLength));
      b.setInsertionPointToStart(inRange.thenBlock());
      vector::StoreOp::create(
          b, zeros, arg(kGradQueryAccumulator),
          ValueRange{batch, head, accRow, mul(rem(i, idx(vectors)), idx(4))});
    });
  }
  gpu::ReturnOp::create(b);
}

void BackwardEmitter::emitConvert(gpu::GPUFuncOp func) {
  int64_t blockM = stage.blockM;
  bindTile(func, blockM);
  // dQ = scale * the accumulator, rounded: 4 elements per thread and step.
  int64_t vectors = headDim / 4;
  auto wide = VectorType::get({4}, b.getF32Type());
  Value scale = vector::BroadcastOp::create(b, wide, f32(stage.gradientScale));
  forEachThreadItem(blockM * vectors, [&](Value i) {
    Value row = add(rowStart, div(i, idx(vectors)));
    auto inRange = scf::IfOp::create(b, lt(row, qLength));
    b.setInsertionPointToStart(inRange.thenBlock());
    SmallVector<Value> indices{batch, head, row,
                               mul(rem(i, idx(vectors)), idx(4))};
    Value acc =
        vector::LoadOp::create(b, wide, arg(kGradQueryAccumulator), indices);
    Value grad = arith::TruncFOp::create(b, VectorType::get({4}, elementType),
                                         fmul(acc, scale));
    vector::StoreOp::create(b, grad, arg(kGradQuery), indices,
                            /*nontemporal=*/false, llvm::MaybeAlign(8));
  });
  gpu::ReturnOp::create(b);
}
