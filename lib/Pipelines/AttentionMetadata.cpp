//===- AttentionMetadata.cpp - What an fa.attention computes, as JSON -----===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa/Pipelines/AttentionMetadata.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fa;

static std::string typeString(Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  type.print(os);
  return s;
}

namespace {

/// Numbers values in pre-order and writes ops as JSON.
class RegionSerializer {
public:
  llvm::json::Array serializeBlock(Block &block) {
    llvm::json::Array ops;
    for (Operation &op : block)
      ops.push_back(serializeOp(op));
    return ops;
  }

  void number(Value value) { ids[value] = next++; }

private:
  llvm::json::Object serializeOp(Operation &op) {
    llvm::json::Array results, operands;
    for (Value result : op.getResults()) {
      results.push_back(typeString(result.getType()));
      number(result);
    }
    for (Value operand : op.getOperands())
      operands.push_back(ids.lookup(operand));
    llvm::json::Object json{{"name", op.getName().getStringRef()},
                            {"results", std::move(results)},
                            {"operands", std::move(operands)}};
    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      Attribute value = constant.getValue();
      if (auto f = dyn_cast<FloatAttr>(value)) {
        double v = f.getValueAsDouble();
        if (std::isnan(v))
          json["value"] = "nan";
        else if (std::isinf(v))
          json["value"] = v > 0 ? "inf" : "-inf";
        else
          json["value"] = v;
      } else if (auto i = dyn_cast<IntegerAttr>(value)) {
        json["value"] = i.getType().isInteger(1)
                            ? static_cast<int64_t>(i.getValue().getBoolValue())
                            : i.getValue().getSExtValue();
      }
    }
    if (auto cmp = dyn_cast<arith::CmpIOp>(op))
      json["predicate"] = arith::stringifyCmpIPredicate(cmp.getPredicate());
    if (auto cmp = dyn_cast<arith::CmpFOp>(op))
      json["predicate"] = arith::stringifyCmpFPredicate(cmp.getPredicate());
    if (auto fastmath = op.getAttrOfType<arith::FastMathFlagsAttr>("fastmath");
        fastmath && fastmath.getValue() != arith::FastMathFlags::none)
      json["fastmath"] = arith::stringifyFastMathFlags(fastmath.getValue());
    if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
      json["then"] = serializeBlock(ifOp.getThenRegion().front());
      json["else"] = ifOp.getElseRegion().empty()
                         ? llvm::json::Array()
                         : serializeBlock(ifOp.getElseRegion().front());
    }
    return json;
  }

  DenseMap<Value, int64_t> ids;
  int64_t next = 0;
};

} // namespace

llvm::json::Value mlir::fa::serializeModRegion(Region &region) {
  if (region.empty())
    return nullptr;
  Block &block = region.front();
  RegionSerializer serializer;
  llvm::json::Array arguments;
  for (BlockArgument arg : block.getArguments()) {
    arguments.push_back(typeString(arg.getType()));
    serializer.number(arg);
  }
  llvm::json::Array body = serializer.serializeBlock(block);
  return llvm::json::Object{{"arguments", std::move(arguments)},
                            {"body", std::move(body)}};
}

/// What the forward and the backward op share: element type, head
/// dimension, scale, causal mask, captures (kernel arguments from
/// `firstCaptureArgument`) and regions.
template <typename OpTy>
static llvm::json::Object describeRegions(OpTy op,
                                          int64_t firstCaptureArgument) {
  llvm::json::Array captures;
  for (auto [i, capture] : llvm::enumerate(op.getCaptures())) {
    auto type = cast<RankedTensorType>(capture.getType());
    captures.push_back(llvm::json::Object{
        {"argument", firstCaptureArgument + static_cast<int64_t>(i)},
        {"element_type", typeString(type.getElementType())},
        {"rank", type.getRank()}});
  }
  std::string causal = "none";
  if (std::optional<CausalAlignment> alignment = op.getCausal())
    causal = stringifyCausalAlignment(*alignment).str();
  auto query = cast<RankedTensorType>(op.getQuery().getType());
  return llvm::json::Object{
      {"dtype", typeString(query.getElementType())},
      {"head_dim", query.getShape().back()},
      {"scale", op.getEffectiveScale()},
      {"causal", causal},
      {"from_op", true},
      {"captures", std::move(captures)},
      {"score_mod", serializeModRegion(op.getScoreMod())},
      {"mask_mod", serializeModRegion(op.getMaskMod())},
  };
}

llvm::json::Object mlir::fa::describeAttention(AttentionOp op,
                                               int64_t firstCaptureArgument) {
  llvm::json::Object description = describeRegions(op, firstCaptureArgument);
  description["lse"] = op.hasLse();
  description["varlen"] = op.isVarlen();
  description["paged"] = op.isPaged();
  if (op.isPaged())
    description["page_size"] = op.getPageSize();
  return description;
}

llvm::json::Object
mlir::fa::describeAttentionBackward(AttentionBackwardOp op,
                                    int64_t firstCaptureArgument) {
  return describeRegions(op, firstCaptureArgument);
}
