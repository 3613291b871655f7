//===- KernelGrid.cpp - Which tile a block computes -----------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "KernelGrid.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::fa::detail;

/// Bytes of K and V that the tiles a masked persistent grid runs at once
/// should share: a third of the H100/H200's 50 MB L2, leaving room for
/// the tiles' Q, O and the next section.
static constexpr int64_t kL2SectionBytes = 16 << 20;

TileCoordinates
mlir::fa::detail::emitTileCoordinates(ImplicitLocOpBuilder &b,
                                      const ScoreFunction &function,
                                      Value query, Value key, int64_t blockM) {
  auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  auto sub = [&](Value x, Value y) {
    return b.createOrFold<arith::SubIOp>(x, y);
  };
  TileCoordinates tile;
  tile.qLength = b.createOrFold<memref::DimOp>(query, 2);
  Value x = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value tiles;
  if (function.getTile().split) {
    // x = split * tiles + tile: the splits of a tile are tiles apart.
    tiles = b.createOrFold<arith::CeilDivUIOp>(tile.qLength, idx(blockM));
    tile.split = b.createOrFold<arith::DivUIOp>(x, tiles);
    x = b.createOrFold<arith::RemUIOp>(x, tiles);
  }
  tile.tileIndex = x;
  if (function.getVisible()) {
    if (!tiles)
      tiles = gpu::GridDimOp::create(b, gpu::Dimension::x);
    tile.tileIndex = sub(sub(tiles, idx(1)), tile.tileIndex);
  }
  tile.head = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  tile.batch = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  tile.kvLength = b.createOrFold<memref::DimOp>(key, 2);
  tile.rowStart = b.createOrFold<arith::MulIOp>(tile.tileIndex, idx(blockM));
  return tile;
}

TileSpace mlir::fa::detail::getTileSpace(ImplicitLocOpBuilder &b, Value query,
                                         Value key, int64_t blockM) {
  auto i32 = [&](Value v) {
    return b.createOrFold<arith::IndexCastUIOp>(b.getI32Type(), v);
  };
  TileSpace space;
  space.qLength = b.createOrFold<memref::DimOp>(query, 2);
  space.kvLength = b.createOrFold<memref::DimOp>(key, 2);
  space.queryTiles = i32(b.createOrFold<arith::CeilDivUIOp>(
      space.qLength, arith::ConstantIndexOp::create(b, blockM)));
  space.heads = i32(b.createOrFold<memref::DimOp>(query, 1));
  space.batches = i32(b.createOrFold<memref::DimOp>(query, 0));
  space.keyType = cast<MemRefType>(key.getType());
  return space;
}

SmallVector<Value> mlir::fa::detail::emitPersistentTileLoop(
    ImplicitLocOpBuilder &b, const ScoreFunction &function,
    const TileSpace &space, int64_t blockM, MaskedTileOrder order,
    ValueRange init,
    function_ref<SmallVector<Value>(const TileCoordinates &, ValueRange)>
        body) {
  // The loop and the tile's coordinates are 32-bit (registers are short
  // in the producer; a 64-bit division is a call): the tile count is below
  // 2^31 for any tensor that fits in memory.
  auto i32 = [&](Value v) {
    return b.createOrFold<arith::IndexCastUIOp>(b.getI32Type(), v);
  };
  auto index = [&](Value v) {
    return b.createOrFold<arith::IndexCastUIOp>(b.getIndexType(), v);
  };
  auto c32 = [&](int32_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  };
  auto add = [&](Value x, Value y) {
    return b.createOrFold<arith::AddIOp>(x, y);
  };
  auto sub = [&](Value x, Value y) {
    return b.createOrFold<arith::SubIOp>(x, y);
  };
  auto mul = [&](Value x, Value y) {
    return b.createOrFold<arith::MulIOp>(x, y);
  };
  auto div = [&](Value x, Value y) {
    return b.createOrFold<arith::DivUIOp>(x, y);
  };
  auto rem = [&](Value x, Value y) {
    return b.createOrFold<arith::RemUIOp>(x, y);
  };
  auto blockId = [&](gpu::Dimension d) {
    return i32(gpu::BlockIdOp::create(b, d));
  };
  auto gridDim = [&](gpu::Dimension d) {
    return i32(gpu::GridDimOp::create(b, d));
  };
  using gpu::Dimension;
  Value gridX = gridDim(Dimension::x), gridY = gridDim(Dimension::y);
  Value first = add(blockId(Dimension::x),
                    mul(gridX, add(blockId(Dimension::y),
                                   mul(gridY, blockId(Dimension::z)))));
  Value stride = mul(mul(gridX, gridY), gridDim(Dimension::z));

  TileCoordinates tile;
  tile.qLength = space.qLength;
  tile.kvLength = space.kvLength;
  Value queryTiles = space.queryTiles, heads = space.heads,
        batches = space.batches;
  Value units = mul(mul(queryTiles, heads), batches);

  auto setTile = [&](Value rank) {
    tile.tileIndex = index(rank);
    tile.rowStart = b.createOrFold<arith::MulIOp>(
        tile.tileIndex, arith::ConstantIndexOp::create(b, blockM));
  };
  if (!function.getVisible()) {
    auto loop = scf::ForOp::create(b, first, units, stride, init);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value unit = loop.getInductionVar();
    Value rank = rem(unit, queryTiles);
    Value rest = div(unit, queryTiles);
    tile.head = index(rem(rest, heads));
    tile.batch = index(div(rest, heads));
    setTile(rank);
    scf::YieldOp::create(b, body(tile, loop.getRegionIterArgs()));
    b.setInsertionPointAfter(loop);
    return loop.getResults();
  }

  // Under a mask: sections of `section` heads (batch x head, head fastest)
  // whose K and V fit kL2SectionBytes (one head in HeadPairs); in a
  // section, the units (query tiles, or pairs of them) last to first, each
  // across the section's heads. Blocks take the units in waves of
  // `stride`, snaking (odd waves right to left); a pair's tiles are two
  // steps of the loop.
  auto minU = [&](Value x, Value y) {
    return b.createOrFold<arith::MinUIOp>(x, y);
  };
  auto maxU = [&](Value x, Value y) {
    return b.createOrFold<arith::MaxUIOp>(x, y);
  };
  bool pairs = order != MaskedTileOrder::Sections;
  Value headsTotal = mul(heads, batches);
  auto getSection = [&]() -> Value {
    if (order == MaskedTileOrder::HeadPairs)
      return c32(1);
    MemRefType keyType = space.keyType;
    // Kernels have a static head dimension; 128 is only a guess for the
    // section size otherwise.
    int64_t headDim = keyType.isDynamicDim(3) ? 128 : keyType.getDimSize(3);
    int64_t bytesPerKey = std::max<int64_t>(
        1, 2 * headDim * keyType.getElementTypeBitWidth() / 8);
    Value keysThatFit =
        c32(static_cast<int32_t>(kL2SectionBytes / bytesPerKey));
    return minU(
        maxU(div(keysThatFit, maxU(i32(tile.kvLength), c32(1))), c32(1)),
        headsTotal);
  };
  Value section = getSection();
  Value headUnits = pairs
                        ? b.createOrFold<arith::CeilDivUIOp>(queryTiles, c32(2))
                        : queryTiles;
  if (pairs)
    units = mul(headUnits, headsTotal);
  Value sectionUnits = mul(section, headUnits);
  Value waves = b.createOrFold<arith::CeilDivUIOp>(units, stride);
  Value steps = pairs ? mul(waves, c32(2)) : waves;
  auto loop = scf::ForOp::create(b, c32(0), steps, c32(1), init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value step = loop.getInductionVar();
  Value wave = pairs ? div(step, c32(2)) : step;
  Value odd = b.createOrFold<arith::TruncIOp>(b.getI1Type(), wave);
  Value unit =
      add(mul(wave, stride), b.createOrFold<arith::SelectOp>(
                                 odd, sub(sub(stride, c32(1)), first), first));
  // The unit's section: its first head, its place in the section and the
  // section's width (the last section may have fewer heads); and the
  // unit's head, batch and rank (its tile, or pair, from the end).
  struct SectionPlace {
    Value firstHead, inSection, width;
  };
  auto placeInSection = [&](Value unit) {
    Value sectionIndex = div(unit, sectionUnits);
    Value inSection = rem(unit, sectionUnits);
    Value firstHead = mul(sectionIndex, section);
    if (order == MaskedTileOrder::HeadPairs)
      return SectionPlace{firstHead, inSection, section};
    return SectionPlace{firstHead, inSection,
                        minU(section, sub(headsTotal, firstHead))};
  };
  auto setHead = [&](const SectionPlace &place) {
    Value flatHead = add(place.firstHead, rem(place.inSection, place.width));
    tile.head = index(rem(flatHead, heads));
    tile.batch = index(div(flatHead, heads));
  };
  Value live =
      b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::ult, unit, units);
  if (!pairs) {
    auto inRange = scf::IfOp::create(b, init.getTypes(), live,
                                     /*addThenBlock=*/true,
                                     /*addElseBlock=*/true);
    b.setInsertionPointToStart(inRange.elseBlock());
    scf::YieldOp::create(b, loop.getRegionIterArgs());
    b.setInsertionPointToStart(inRange.thenBlock());
    SectionPlace place = placeInSection(unit);
    setHead(place);
    setTile(sub(sub(queryTiles, c32(1)), div(place.inSection, place.width)));
    scf::YieldOp::create(b, body(tile, loop.getRegionIterArgs()));
    b.setInsertionPointAfter(inRange);
    scf::YieldOp::create(b, inRange.getResults());
    b.setInsertionPointAfter(loop);
    return loop.getResults();
  }
  // In pairs: the unit's rank n in its head; the first step runs the n-th
  // tile from the end, the second the n-th from the start unless that is
  // the same tile (the middle one of an odd count).
  // (Decoded before the test whether the unit is live: a unit past the
  // last, in a section that starts at the end of the heads, has width 0,
  // and a division by zero is undefined.)
  SectionPlace place = placeInSection(unit);
  Value rank = div(place.inSection, maxU(place.width, c32(1)));
  Value fromEnd = sub(sub(queryTiles, c32(1)), rank);
  Value second =
      b.createOrFold<arith::TruncIOp>(b.getI1Type(), rem(step, c32(2)));
  Value firstOfPair = b.createOrFold<arith::XOrIOp>(
      second, arith::ConstantOp::create(b, b.getBoolAttr(true)));
  Value distinct =
      b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::ult, rank, fromEnd);
  live = b.createOrFold<arith::AndIOp>(
      live, b.createOrFold<arith::OrIOp>(firstOfPair, distinct));
  auto inRange =
      scf::IfOp::create(b, init.getTypes(), live,
                        /*addThenBlock=*/true, /*addElseBlock=*/true);
  b.setInsertionPointToStart(inRange.elseBlock());
  scf::YieldOp::create(b, loop.getRegionIterArgs());
  b.setInsertionPointToStart(inRange.thenBlock());
  setHead(place);
  setTile(b.createOrFold<arith::SelectOp>(second, rank, fromEnd));
  scf::YieldOp::create(b, body(tile, loop.getRegionIterArgs()));
  b.setInsertionPointAfter(inRange);
  scf::YieldOp::create(b, inRange.getResults());
  b.setInsertionPointAfter(loop);
  return loop.getResults();
}

/// The rows [base, base + length) of a packed [T, H, D] memref as
/// [1, H, length, D], or of a packed [H, T] LSE as [1, H, length].
static Value emitSequenceView(ImplicitLocOpBuilder &b, Value packed, Value base,
                              Value length) {
  auto type = cast<MemRefType>(packed.getType());
  bool lse = type.getRank() == 2;
  unsigned token = lse ? 1 : 0;
  auto meta = memref::ExtractStridedMetadataOp::create(b, packed);
  Value offset = b.createOrFold<arith::AddIOp>(
      meta.getOffset(),
      b.createOrFold<arith::MulIOp>(base, meta.getStrides()[token]));
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> sizes{one}, strides{zero};
  SmallVector<int64_t> shape{1}, layout{0};
  unsigned head = lse ? 0 : 1;
  OpFoldResult heads =
      type.isDynamicDim(head)
          ? getAsOpFoldResult(meta.getSizes()[head])
          : OpFoldResult(b.getIndexAttr(type.getDimSize(head)));
  sizes.append({heads, length});
  strides.append({getAsOpFoldResult(meta.getStrides()[head]),
                  getAsOpFoldResult(meta.getStrides()[token])});
  shape.append({type.getDimSize(head), ShapedType::kDynamic});
  layout.append({ShapedType::kDynamic, ShapedType::kDynamic});
  if (!lse) {
    sizes.push_back(b.getIndexAttr(type.getDimSize(2)));
    strides.push_back(one);
    shape.push_back(type.getDimSize(2));
    layout.push_back(1);
  }
  auto viewType = MemRefType::get(
      shape, type.getElementType(),
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, layout),
      type.getMemorySpace());
  return memref::ReinterpretCastOp::create(
      b, viewType, meta.getBaseBuffer(), OpFoldResult(offset), sizes, strides);
}

SequenceViews mlir::fa::detail::emitSequenceViews(
    ImplicitLocOpBuilder &b, TileCloner &cloner, const FusedAttentionTile &tile,
    Value query, Value key, Value value, Value output, Value lse) {
  SequenceViews views;
  Value queryBase = cloner.uniform(tile.queryBase);
  Value keyBase = tile.keyBase ? cloner.uniform(tile.keyBase) : Value();
  views.qLength = cloner.uniform(tile.queryLength);
  views.kvLength = cloner.uniform(tile.keyLength);
  views.query = emitSequenceView(b, query, queryBase, views.qLength);
  // (A paged cache's K and V stay the pool, read through the block table.)
  views.key = key, views.value = value;
  if (!tile.isPaged()) {
    views.key = emitSequenceView(b, key, keyBase, views.kvLength);
    views.value = emitSequenceView(b, value, keyBase, views.kvLength);
  }
  views.output = emitSequenceView(b, output, queryBase, views.qLength);
  if (lse)
    views.lse = emitSequenceView(b, lse, queryBase, views.qLength);
  return views;
}

TileCloner::Roots
mlir::fa::detail::getTileRoots(const TileCoordinates &coordinates,
                               const FusedAttentionTile &tile,
                               ValueRange arguments) {
  TileCloner::Roots roots;
  roots.batch = coordinates.batch;
  roots.head = coordinates.head;
  roots.tileIndex = coordinates.tileIndex;
  roots.split = coordinates.split;
  roots.bindKernelArguments(tile, arguments);
  return roots;
}

LogicalResult mlir::fa::detail::verifyStaticGrid(Location loc,
                                                 const gpu::KernelDim3 &grid,
                                                 ArrayRef<StringRef> what) {
  const int64_t limits[3] = {(int64_t(1) << 31) - 1, 65535, 65535};
  // A constant, or the tensor.dim of a static dimension.
  auto staticSize = [](Value value) -> std::optional<int64_t> {
    if (std::optional<int64_t> constant = getConstantIntValue(value))
      return constant;
    auto dim = value.getDefiningOp<tensor::DimOp>();
    std::optional<int64_t> index = dim ? dim.getConstantIndex() : std::nullopt;
    auto type = dim ? dyn_cast<RankedTensorType>(dim.getSource().getType())
                    : RankedTensorType();
    if (!index || !type || *index >= type.getRank() ||
        type.isDynamicDim(*index))
      return std::nullopt;
    return type.getDimSize(*index);
  };
  Value dims[3] = {grid.x, grid.y, grid.z};
  for (int i = 0; i < 3; ++i) {
    std::optional<int64_t> size = staticSize(dims[i]);
    if (size && *size > limits[i])
      return emitError(loc, "the kernel's grid has ")
             << *size << " " << what[i] << " in "
             << "xyz"[i] << ", and a launch takes at most " << limits[i]
             << " there";
  }
  return success();
}
