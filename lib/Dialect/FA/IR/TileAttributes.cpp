//===- TileAttributes.cpp - The fa.* attributes of tiled attention --------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/TileAttributes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::fa;

bool TileRole::isKnown(StringRef role) {
  static const llvm::StringSet<> roles = {
      "qk", "scores", "probabilities", "weighted_values", "row_max", "row_sum",
      "exp", "running_max", "rescale", "rescale_sum", "rescale_acc",
      "max_natural_log", "normalize", "store", "lse",
      // The backward pass.
      "delta", "recomputed_probabilities", "grad_probabilities", "grad_scores",
      "grad_value", "grad_key", "grad_query", "scaled_store",
      // Split key ranges.
      "combine_max", "combine_weights", "combine_sum", "combine_acc"};
  return roles.contains(role);
}

DictionaryAttr AttentionTileAttr::get(MLIRContext *ctx, int64_t blockM,
                                      int64_t blockN, bool splitKV,
                                      int64_t packedHeads) {
  Builder b(ctx);
  SmallVector<NamedAttribute> entries{
      b.getNamedAttr("block_m", b.getI64IntegerAttr(blockM)),
      b.getNamedAttr("block_n", b.getI64IntegerAttr(blockN))};
  if (splitKV)
    entries.push_back(b.getNamedAttr("split_kv", b.getUnitAttr()));
  if (packedHeads > 1)
    entries.push_back(
        b.getNamedAttr("pack_gqa", b.getI64IntegerAttr(packedHeads)));
  return b.getDictionaryAttr(entries);
}

bool AttentionTileAttr::isSplit(Attribute attr) {
  auto dict = dyn_cast_or_null<DictionaryAttr>(attr);
  return dict && isa_and_present<UnitAttr>(dict.get("split_kv"));
}

/// The pack_gqa entry (null when absent).
static IntegerAttr getPackEntry(Attribute attr) {
  auto dict = dyn_cast_or_null<DictionaryAttr>(attr);
  return dict ? dict.getAs<IntegerAttr>("pack_gqa") : IntegerAttr();
}

int64_t AttentionTileAttr::getPackedHeads(Attribute attr) {
  IntegerAttr pack = getPackEntry(attr);
  return pack ? pack.getInt() : 1;
}

int64_t AttentionTileAttr::getTilePositions(Attribute attr) {
  std::optional<std::pair<int64_t, int64_t>> sizes = getBlockSizes(attr);
  return sizes ? sizes->first / getPackedHeads(attr) : 0;
}

std::optional<std::pair<int64_t, int64_t>>
AttentionTileAttr::getBlockSizes(Attribute attr) {
  auto dict = dyn_cast_or_null<DictionaryAttr>(attr);
  unsigned entries = 2 + isSplit(attr) + (getPackEntry(attr) ? 1 : 0);
  if (!dict || dict.size() != entries)
    return std::nullopt;
  auto blockM = dict.getAs<IntegerAttr>("block_m");
  auto blockN = dict.getAs<IntegerAttr>("block_n");
  if (!blockM || !blockN || blockM.getInt() <= 0 || blockN.getInt() <= 0)
    return std::nullopt;
  // A packed tile holds at least one position of each of its G > 1 heads.
  if (IntegerAttr pack = getPackEntry(attr);
      pack && (pack.getInt() < 2 || pack.getInt() > blockM.getInt()))
    return std::nullopt;
  return std::make_pair(blockM.getInt(), blockN.getInt());
}

DictionaryAttr SplitCombineAttr::get(MLIRContext *ctx, int64_t blockM) {
  Builder b(ctx);
  return b.getDictionaryAttr(
      {b.getNamedAttr("block_m", b.getI64IntegerAttr(blockM))});
}

std::optional<int64_t> SplitCombineAttr::getBlockM(Attribute attr) {
  auto dict = dyn_cast_or_null<DictionaryAttr>(attr);
  auto blockM = dict ? dict.getAs<IntegerAttr>("block_m") : IntegerAttr();
  if (!blockM || dict.size() != 1 || blockM.getInt() <= 0)
    return std::nullopt;
  return blockM.getInt();
}

static bool isConstantIndex(Value value, int64_t expected) {
  APInt constant;
  return matchPattern(value, m_ConstantInt(&constant)) &&
         constant.getSExtValue() == expected;
}

/// Whether `mul` multiplies by a constant other than `expected`.
static bool isMulByOtherConstant(arith::MulIOp mul, int64_t expected) {
  APInt constant;
  for (Value operand : {mul.getLhs(), mul.getRhs()})
    if (matchPattern(operand, m_ConstantInt(&constant)))
      return constant.getSExtValue() != expected;
  return false;
}

static LogicalResult verifyAttentionTile(Operation *op, Attribute attr) {
  std::optional<std::pair<int64_t, int64_t>> sizes =
      AttentionTileAttr::getBlockSizes(attr);
  if (!sizes)
    return op->emitError() << "'" << AttentionTileAttr::attrName
                           << "' must be {block_m = M : i64, block_n = N : "
                              "i64} with positive M and N (and optionally "
                              "split_kv and pack_gqa = G with 1 < G <= M), "
                              "got "
                           << attr;
  bool split = AttentionTileAttr::isSplit(attr);
  auto forall = dyn_cast<scf::ForallOp>(op);
  if (!forall || forall.getRank() != (split ? 4 : 3))
    return op->emitError() << "'" << AttentionTileAttr::attrName
                           << "' belongs on an scf.forall over "
                           << (split ? "(split, batch, head, query tile)"
                                     : "(batch, head, query tile)");
  int64_t blockN = sizes->second;
  // The query positions of a tile: block_m, or block_m / G when packed.
  int64_t positions = AttentionTileAttr::getTilePositions(attr);
  std::string what =
      AttentionTileAttr::getPackedHeads(attr) > 1
          ? "a packed tile with " + std::to_string(positions) + " positions"
          : "a tile with block_m = " + std::to_string(positions);

  // The tile's first row is the last induction variable times the
  // positions, and the grid is ceildiv(Nq, positions) tiles.
  // (With one position canonicalization folds the product away.)
  unsigned tileDim = forall.getRank() - 1;
  Value tileIndex = forall.getInductionVar(tileDim);
  for (Operation *user : tileIndex.getUsers()) {
    auto mul = dyn_cast<arith::MulIOp>(user);
    if (positions == 1 && !(mul && isMulByOtherConstant(mul, 1)))
      continue;
    if (!mul || !(isConstantIndex(mul.getLhs(), positions) ||
                  isConstantIndex(mul.getRhs(), positions)))
      return user->emitError()
             << "uses the query tile index of " << what << "; expected only "
             << "'tile * " << positions << "'";
  }
  // (A static count, e.g. after constant folding, is checked against Nq
  // where the tile's Q slice is matched.)
  OpFoldResult tiles = forall.getMixedUpperBound()[tileDim];
  auto ceilDiv = dyn_cast_if_present<Value>(tiles)
                     ? cast<Value>(tiles).getDefiningOp<arith::CeilDivUIOp>()
                     : arith::CeilDivUIOp();
  if (ceilDiv && !isConstantIndex(ceilDiv.getRhs(), positions))
    return op->emitError() << "the query tile count of " << what
                           << " must be 'ceildiv(Nq, " << positions << ")'";

  // Every key/value loop steps by block_n from 0 (or, split, from a
  // multiple of block_n).
  for (auto loop : forall.getBody()->getOps<scf::ForOp>()) {
    if (!loop->hasAttr(SoftmaxStage::attrName))
      continue;
    // (Canonicalization may fold a constant chunk of blocks into the
    // factor: any positive multiple of block_n.)
    auto start = loop.getLowerBound().getDefiningOp<arith::MulIOp>();
    auto multiple = [&](Value v) {
      APInt c;
      return matchPattern(v, m_ConstantInt(&c)) && c.getSExtValue() > 0 &&
             c.getSExtValue() % blockN == 0;
    };
    bool aligned = split && start &&
                   (multiple(start.getLhs()) || multiple(start.getRhs()));
    if (!isConstantIndex(loop.getStep(), blockN) ||
        !(isConstantIndex(loop.getLowerBound(), 0) || aligned))
      return loop.emitError()
             << "key/value loop of a tile with block_n = " << blockN
             << " must run from 0" << (split ? " (or 'x * k * " : "")
             << (split ? std::to_string(blockN) + "')" : "") << " in steps of "
             << blockN;
  }
  return success();
}

static LogicalResult verifySplitCombine(Operation *op, Attribute attr) {
  std::optional<int64_t> blockM = SplitCombineAttr::getBlockM(attr);
  if (!blockM)
    return op->emitError() << "'" << SplitCombineAttr::attrName
                           << "' must be {block_m = M : i64} with positive "
                              "M, got "
                           << attr;
  auto forall = dyn_cast<scf::ForallOp>(op);
  if (!forall || forall.getRank() != 3)
    return op->emitError() << "'" << SplitCombineAttr::attrName
                           << "' belongs on an scf.forall over (batch, head, "
                              "query tile)";
  return success();
}

DictionaryAttr BackwardTileAttr::get(MLIRContext *ctx, StringRef stage,
                                     int64_t blockM, int64_t blockN) {
  Builder b(ctx);
  return b.getDictionaryAttr(
      {b.getNamedAttr("block_m", b.getI64IntegerAttr(blockM)),
       b.getNamedAttr("block_n", b.getI64IntegerAttr(blockN)),
       b.getNamedAttr("stage", b.getStringAttr(stage))});
}

static LogicalResult verifyBackwardTile(Operation *op, Attribute attr) {
  auto forall = dyn_cast<scf::ForallOp>(op);
  if (!forall || forall.getRank() < 2 || forall.getRank() > 3)
    return op->emitError() << "'" << BackwardTileAttr::attrName
                           << "' belongs on an scf.forall over (batch, head, "
                              "tile) or, fused, (batch, key/value head)";
  auto dict = dyn_cast<DictionaryAttr>(attr);
  auto stage = dict ? dict.getAs<StringAttr>("stage") : StringAttr();
  auto blockM = dict ? dict.getAs<IntegerAttr>("block_m") : IntegerAttr();
  auto blockN = dict ? dict.getAs<IntegerAttr>("block_n") : IntegerAttr();
  if (!dict || dict.size() != 3 || !stage || !blockM || !blockN ||
      blockM.getInt() <= 0 || blockN.getInt() <= 0 ||
      !llvm::is_contained({BackwardTileAttr::delta, BackwardTileAttr::keyValue,
                           BackwardTileAttr::query, BackwardTileAttr::fused},
                          stage.getValue()))
    return op->emitError()
           << "'" << BackwardTileAttr::attrName
           << "' must be {block_m = M : i64, block_n = N : i64, stage = S} "
              "with positive M and N and S one of \"delta\", \"key_value\", "
              "\"query\", \"fused\", got "
           << attr;
  bool fused = stage.getValue() == BackwardTileAttr::fused;
  if (forall.getRank() != (fused ? 2 : 3))
    return op->emitError() << "a backward tile of stage " << stage
                           << " belongs on an scf.forall of rank "
                           << (fused ? 2 : 3);
  bool keys = stage.getValue() == BackwardTileAttr::keyValue;
  int64_t block = keys ? blockN.getInt() : blockM.getInt();
  // The first row (or key) of a tile is its index times the block size;
  // the fused stage has no tile index.
  // (A block of 1 folds the product away: the index may be used directly,
  // but not scaled.)
  SmallVector<Operation *> tileIndexUsers;
  if (!fused)
    llvm::append_range(tileIndexUsers, forall.getInductionVar(2).getUsers());
  for (Operation *user : tileIndexUsers) {
    auto mul = dyn_cast<arith::MulIOp>(user);
    if (block == 1 && !(mul && isMulByOtherConstant(mul, 1)))
      continue;
    if (!mul || !(isConstantIndex(mul.getLhs(), block) ||
                  isConstantIndex(mul.getRhs(), block)))
      return user->emitError() << "uses the " << (keys ? "key" : "query")
                               << " tile index of a backward tile with "
                               << (keys ? "block_n = " : "block_m = ") << block
                               << "; expected only 'tile * " << block << "'";
  }
  // Query loops step by block_m, key loops by block_n.
  WalkResult result = forall.getBody()->walk([&](scf::ForOp loop) {
    auto kind = loop->getAttrOfType<StringAttr>(BackwardLoop::attrName);
    if (!kind || kind.getValue() == BackwardLoop::queryHeads)
      return WalkResult::advance();
    bool keyLoop = kind.getValue() == BackwardLoop::keyBlocks ||
                   kind.getValue() == BackwardLoop::keyTiles;
    int64_t step = keyLoop ? blockN.getInt() : blockM.getInt();
    if (!isConstantIndex(loop.getStep(), step)) {
      loop.emitError() << (keyLoop ? "key" : "query")
                       << " loop of a backward tile with "
                       << (keyLoop ? "block_n = " : "block_m = ") << step
                       << " must step by " << step;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

Operation *mlir::fa::findUnmarkedTileOp(Operation *root) {
  Operation *found = nullptr;
  root->walk([&](Operation *op) {
    if (!op->hasAttr(TileRole::attrName))
      return WalkResult::advance();
    for (Operation *parent = op->getParentOp(); parent;
         parent = parent->getParentOp())
      if (parent->hasAttr(AttentionTileAttr::attrName) ||
          parent->hasAttr(BackwardTileAttr::attrName) ||
          parent->hasAttr(SplitCombineAttr::attrName))
        return WalkResult::advance();
    found = op;
    return WalkResult::interrupt();
  });
  return found;
}

LogicalResult mlir::fa::verifyTileAttribute(Operation *op,
                                            NamedAttribute attribute) {
  StringRef name = attribute.getName().strref();
  Attribute value = attribute.getValue();
  auto stringIn = [&](std::initializer_list<StringRef> allowed) {
    auto string = dyn_cast<StringAttr>(value);
    return string && llvm::is_contained(allowed, string.getValue());
  };
  if (name == AttentionTileAttr::attrName)
    return verifyAttentionTile(op, value);
  if (name == BackwardTileAttr::attrName)
    return verifyBackwardTile(op, value);
  if (name == SplitCombineAttr::attrName)
    return verifySplitCombine(op, value);
  if (name == BackwardLoop::attrName) {
    if (!isa<scf::ForOp>(op) ||
        !stringIn({BackwardLoop::queryHeads, BackwardLoop::queryBlocks,
                   BackwardLoop::keyBlocks, BackwardLoop::keyTiles}))
      return op->emitError()
             << "'" << name
             << "' must be one of \"query_heads\", \"query_blocks\", "
                "\"key_blocks\", \"key_tiles\" on an scf.for, got "
             << value;
    return success();
  }
  if (name == SoftmaxStage::attrName) {
    if (!isa<scf::ForOp>(op) ||
        !stringIn({SoftmaxStage::rowMax, SoftmaxStage::rowSum,
                   SoftmaxStage::weightedValues, SoftmaxStage::online}))
      return op->emitError()
             << "'" << name
             << "' must be one of \"row_max\", \"row_sum\", "
                "\"weighted_values\", \"online\" on an scf.for, got "
             << value;
    return success();
  }
  if (name == TileRole::attrName) {
    auto role = dyn_cast<StringAttr>(value);
    if (op->getName().getStringRef() != "linalg.generic" || !role ||
        !TileRole::isKnown(role.getValue()))
      return op->emitError() << "'" << name
                             << "' must name a tile role on a "
                                "linalg.generic, got "
                             << value;
    return success();
  }
  if (name == "fa.launch") {
    if (!isa<DictionaryAttr>(value))
      return op->emitError() << "'fa.launch' must be a dictionary";
    return success();
  }
  if (name == "fa.tensor_maps") {
    // Counts the kernel's trailing tensor-map arguments (FAToGPU.h).
    auto count = dyn_cast<IntegerAttr>(value);
    auto func = dyn_cast<FunctionOpInterface>(op);
    if (!count || !func || count.getInt() < 0 ||
        count.getInt() > static_cast<int64_t>(func.getNumArguments()))
      return op->emitError()
             << "'fa.tensor_maps' must count trailing arguments of a "
                "function, got "
             << value;
    return success();
  }
  return op->emitError() << "unknown fa attribute '" << name << "'";
}
