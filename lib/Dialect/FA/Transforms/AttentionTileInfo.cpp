//===- AttentionTileInfo.cpp - What a tiled attention computes ------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The contract between the tile-level passes and the GPU mapping: the tiling
// pass records the tile configuration on its scf.forall, and later stages
// recover it (plus the tiled operands) with matchAttentionTile.
//
//===----------------------------------------------------------------------===//

#include "TileUtils.h"
#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::fa;

bool AttentionTileInfo::isFused() const {
  auto stage = kvLoop->getAttrOfType<StringAttr>(SoftmaxStage::attrName);
  return stage && stage.getValue() == SoftmaxStage::online;
}

DictionaryAttr mlir::fa::buildAttentionTileInfo(MLIRContext *ctx,
                                                AttentionOp op,
                                                const AttentionTileSizes &sizes) {
  Builder b(ctx);
  SmallVector<NamedAttribute> entries{
      b.getNamedAttr("block_m", b.getI64IntegerAttr(sizes.blockM)),
      b.getNamedAttr("block_n", b.getI64IntegerAttr(sizes.blockN)),
      b.getNamedAttr("scale", b.getF64FloatAttr(op.getEffectiveScale()))};
  if (std::optional<CausalAlignment> causal = op.getCausal())
    // A plain string, so that tiled IR stays readable by upstream tools
    // (mlir-opt, mlir-runner) that do not load the fa dialect.
    entries.push_back(
        b.getNamedAttr("causal", b.getStringAttr(stringifyEnum(*causal))));
  return b.getDictionaryAttr(entries);
}

/// The tensor a tile operand was sliced from.
static Value sliceSource(Value tile) {
  if (auto slice = tile.getDefiningOp<tensor::ExtractSliceOp>())
    return slice.getSource();
  return {};
}

static linalg::GenericOp findRole(Operation *root, StringRef role) {
  linalg::GenericOp found;
  root->walk([&](linalg::GenericOp generic) {
    if (!found && tileutils::getRole(generic) == role)
      found = generic;
  });
  return found;
}

FailureOr<AttentionTileInfo> mlir::fa::matchAttentionTile(scf::ForallOp forall) {
  auto dict = forall->getAttrOfType<DictionaryAttr>(AttentionTileInfo::attrName);
  if (!dict)
    return forall.emitError("not a tiled fa.attention: no '")
           << AttentionTileInfo::attrName << "' attribute";
  auto blockM = dict.getAs<IntegerAttr>("block_m");
  auto blockN = dict.getAs<IntegerAttr>("block_n");
  auto scale = dict.getAs<FloatAttr>("scale");
  if (!blockM || !blockN || !scale)
    return forall.emitError("malformed '")
           << AttentionTileInfo::attrName
           << "': expected integer block_m, block_n and float scale";

  AttentionTileInfo info;
  info.blockM = blockM.getInt();
  info.blockN = blockN.getInt();
  info.scale = scale.getValueAsDouble();
  if (Attribute causal = dict.get("causal")) {
    auto name = dyn_cast<StringAttr>(causal);
    std::optional<CausalAlignment> alignment;
    if (name)
      alignment = symbolizeCausalAlignment(name.getValue());
    if (!alignment)
      return forall.emitError("malformed '")
             << AttentionTileInfo::attrName
             << "': causal must be \"top_left\" or \"bottom_right\"";
    info.causal = *alignment;
  }

  for (auto loop : forall.getBody()->getOps<scf::ForOp>()) {
    if (loop->hasAttr(SoftmaxStage::attrName)) {
      info.kvLoop = loop;
      break;
    }
  }
  if (!info.kvLoop)
    return forall.emitError("tiled fa.attention has no key/value loop "
                            "marked '")
           << SoftmaxStage::attrName << "'";

  linalg::GenericOp qk = findRole(info.kvLoop, TileRole::qk);
  linalg::GenericOp pv = findRole(forall, TileRole::weightedValues);
  if (!qk || !pv || qk.getNumDpsInputs() != 2 || pv.getNumDpsInputs() != 2)
    return forall.emitError(
        "tiled fa.attention lacks its 'qk' or 'weighted_values' contraction");
  info.query = sliceSource(qk.getDpsInputs()[0]);
  info.key = sliceSource(qk.getDpsInputs()[1]);
  info.value = sliceSource(pv.getDpsInputs()[1]);
  if (!info.query || !info.key || !info.value)
    return forall.emitError(
        "tiled fa.attention: Q, K or V tile is not a slice of an operand");
  // Operands must come from outside the forall: they are kernel arguments.
  for (Value operand : {info.query, info.key, info.value})
    if (forall->isAncestor(operand.getParentBlock()->getParentOp()))
      return forall.emitError(
          "tiled fa.attention: Q, K and V must be defined outside the tile");
  ValueRange outputs = forall.getOutputs();
  if (outputs.empty() || outputs.size() > 2)
    return forall.emitError("tiled fa.attention must have 1 or 2 outputs");
  info.output = outputs[0];
  if (outputs.size() == 2)
    info.lseOutput = outputs[1];
  return info;
}
