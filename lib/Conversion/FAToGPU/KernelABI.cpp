//===- KernelABI.cpp - Arguments, names and launch metadata of kernels ----===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What every strategy's kernel shares with the host and the runtimes: the
// argument types (memref descriptors of Q, K, V, O, LSE and the captures),
// the kernel's name and the `fa.launch` attribute the metadata writer reads.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/OperationSupport.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/xxhash.h"

#include <limits>

using namespace mlir;
using namespace mlir::fa;

/// The tensor `value` is a view of (through the ops whose buffer is their
/// source's), or `value` itself.
static Value getViewBase(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (!isa<tensor::ExtractSliceOp, tensor::CastOp, tensor::ExpandShapeOp,
             tensor::CollapseShapeOp, tensor::ReshapeOp>(def))
      break;
    value = def->getOperand(0);
  }
  return value;
}

LogicalResult mlir::fa::verifyCapturesNotWritten(Location loc,
                                                 ValueRange captures,
                                                 ValueRange written) {
  SmallVector<Value> writtenBases =
      llvm::map_to_vector(written, [](Value v) { return getViewBase(v); });
  for (Value capture : captures) {
    Value base = getViewBase(capture);
    if (llvm::is_contained(writtenBases, base))
      return emitError(loc, "a capture (")
             << capture.getType()
             << ") shares its buffer with the init tensor of an output, "
                "which the kernel overwrites while other blocks read it; "
                "capture a copy of it";
  }
  return success();
}

MemRefType mlir::fa::getKernelArgumentType(RankedTensorType type,
                                           bool unitInnermostStride) {
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  if (unitInnermostStride && !strides.empty())
    strides.back() = 1;
  auto layout =
      StridedLayoutAttr::get(type.getContext(), ShapedType::kDynamic, strides);
  return MemRefType::get(type.getShape(), type.getElementType(), layout);
}

SmallVector<Type>
mlir::fa::getKernelArgumentTypes(const AttentionKernelSpec &spec) {
  SmallVector<Type> types{getKernelArgumentType(spec.queryType),
                          getKernelArgumentType(spec.keyType),
                          getKernelArgumentType(spec.valueType),
                          getKernelArgumentType(spec.outputType)};
  if (spec.lseType)
    types.push_back(getKernelArgumentType(spec.lseType));
  if (spec.isVarlen()) {
    types.push_back(getKernelArgumentType(spec.cuSeqlensQType,
                                          /*unitInnermostStride=*/false));
    if (spec.cuSeqlensKType)
      types.push_back(getKernelArgumentType(spec.cuSeqlensKType,
                                            /*unitInnermostStride=*/false));
  }
  if (spec.isPaged()) {
    types.push_back(getKernelArgumentType(spec.blockTableType,
                                          /*unitInnermostStride=*/false));
    types.push_back(getKernelArgumentType(spec.cacheSeqlensType,
                                          /*unitInnermostStride=*/false));
  }
  for (RankedTensorType capture : spec.captureTypes)
    types.push_back(
        getKernelArgumentType(capture, /*unitInnermostStride=*/false));
  return types;
}

AttentionKernelSpec
mlir::fa::getAttentionKernelSpec(const FusedAttentionTile &tile) {
  AttentionKernelSpec spec;
  spec.queryType = cast<RankedTensorType>(tile.query.getType());
  spec.keyType = cast<RankedTensorType>(tile.key.getType());
  spec.valueType = cast<RankedTensorType>(tile.value.getType());
  spec.outputType = cast<RankedTensorType>(tile.output.getType());
  if (tile.lseOutput)
    spec.lseType = cast<RankedTensorType>(tile.lseOutput.getType());
  if (tile.isVarlen()) {
    spec.cuSeqlensQType = cast<RankedTensorType>(tile.cuSeqlensQ.getType());
    if (tile.cuSeqlensK)
      spec.cuSeqlensKType = cast<RankedTensorType>(tile.cuSeqlensK.getType());
  }
  if (tile.isPaged()) {
    spec.blockTableType = cast<RankedTensorType>(tile.blockTable.getType());
    spec.cacheSeqlensType = cast<RankedTensorType>(tile.cacheSeqlens.getType());
  }
  for (Value capture : tile.captures)
    spec.captureTypes.push_back(cast<RankedTensorType>(capture.getType()));
  return spec;
}

gpu::GPUFuncOp mlir::fa::createAttentionKernel(OpBuilder &builder,
                                               gpu::GPUModuleOp module,
                                               const AttentionKernelSpec &spec,
                                               const KernelLaunchInfo &info,
                                               Location loc) {
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> arguments = getKernelArgumentTypes(spec);
  // The tensor maps, by value once fa-lower-tensor-map-arguments ran.
  arguments.append(info.tensorMaps.size(),
                   LLVM::LLVMPointerType::get(builder.getContext()));
  auto func = gpu::GPUFuncOp::create(builder, loc, "fa_attention",
                                     builder.getFunctionType(arguments, {}));
  if (!info.tensorMaps.empty())
    func->setAttr(kTensorMapsAttrName,
                  builder.getI64IntegerAttr(info.tensorMaps.size()));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  func.setKnownBlockSizeAttr(
      builder.getDenseI32ArrayAttr({static_cast<int32_t>(info.threads), 1, 1}));
  func->setAttr(KernelLaunchInfo::attrName, info.toAttr(builder.getContext()));
  return func;
}

namespace {
/// A hash of an operation's IR that is the same in every process: op
/// names, attributes and types by their printed text (each distinct one
/// printed once), values, blocks and regions by the order in which they
/// are defined. Two operations that print the same (generic form, local
/// scope) hash the same. Printing the whole kernel to hash its text took
/// about 5% of a compile in a profile (its 64-member accumulator struct
/// types print at every extractvalue).
class StableIRHasher {
public:
  explicit StableIRHasher(MLIRContext *context)
      : state(context, getPrintingFlags()) {}

  uint64_t hash(Operation *root) {
    add(root);
    return llvm::xxh3_64bits(
        ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(words.data()),
                          words.size() * sizeof(uint64_t)));
  }

private:
  /// Every element of every attribute, whatever the command line says
  /// (--mlir-elide-elementsattrs-if-larger would make two kernels that
  /// differ in a large constant hash the same).
  static OpPrintingFlags getPrintingFlags() {
    OpPrintingFlags flags;
    flags.elideLargeElementsAttrs(std::numeric_limits<int64_t>::max())
        .elideLargeResourceString(std::numeric_limits<int64_t>::max());
    return flags;
  }

  void add(Operation *op) {
    words.push_back(getTextHash(op->getName().getAsOpaquePointer(),
                                [&](raw_ostream &os) { os << op->getName(); }));
    // Inherent attributes (properties) and discardable ones.
    words.push_back(getPropertiesHash(op));
    words.push_back(getAttributeHash(op->getRawDictionaryAttrs()));
    words.push_back(op->getNumOperands());
    for (Value operand : op->getOperands())
      words.push_back(getId(operand));
    words.push_back(op->getNumResults());
    for (Value result : op->getResults()) {
      words.push_back(getTypeHash(result.getType()));
      words.push_back(getId(result));
    }
    words.push_back(op->getNumSuccessors());
    for (Block *successor : op->getSuccessors())
      words.push_back(getId(successor));
    words.push_back(op->getNumRegions());
    for (Region &region : op->getRegions()) {
      words.push_back(region.getBlocks().size());
      for (Block &block : region) {
        words.push_back(getId(&block));
        words.push_back(block.getNumArguments());
        for (BlockArgument argument : block.getArguments()) {
          words.push_back(getTypeHash(argument.getType()));
          words.push_back(getId(argument));
        }
        for (Operation &nested : block)
          add(&nested);
      }
    }
  }

  /// The number of `key` in the order of first appearance (a value is
  /// defined before it is used, except across the blocks of a CFG region,
  /// where the order of the walk still makes the numbering deterministic).
  uint64_t getId(const void *key) {
    return ids.try_emplace(key, ids.size()).first->second;
  }
  uint64_t getId(Value value) { return getId(value.getAsOpaquePointer()); }

  /// The properties as a parsed op has them: a flag that is false, its
  /// default (a store's `nontemporal`), is set by a builder but left unset
  /// by the parser of the custom form, which prints it not. (So a kernel
  /// printed and parsed again hashes as built.)
  uint64_t getPropertiesHash(Operation *op) {
    auto properties =
        dyn_cast_or_null<DictionaryAttr>(op->getPropertiesAsAttribute());
    if (!properties)
      return getAttributeHash(op->getPropertiesAsAttribute());
    auto isFalse = [](NamedAttribute entry) {
      auto flag = dyn_cast<BoolAttr>(entry.getValue());
      return flag && !flag.getValue();
    };
    if (llvm::any_of(properties, isFalse)) {
      SmallVector<NamedAttribute> kept(
          llvm::make_filter_range(properties, [&](NamedAttribute entry) {
            return !isFalse(entry);
          }));
      properties = DictionaryAttr::get(op->getContext(), kept);
    }
    return properties.empty() ? 0 : getAttributeHash(properties);
  }

  uint64_t getAttributeHash(Attribute attribute) {
    if (!attribute)
      return 0;
    return getTextHash(attribute.getAsOpaquePointer(),
                       [&](raw_ostream &os) { attribute.print(os, state); });
  }
  uint64_t getTypeHash(Type type) {
    return getTextHash(type.getAsOpaquePointer(),
                       [&](raw_ostream &os) { type.print(os, state); });
  }
  uint64_t getTextHash(const void *key,
                       function_ref<void(raw_ostream &)> print) {
    auto [it, inserted] = texts.try_emplace(key, 0);
    if (inserted) {
      std::string text;
      llvm::raw_string_ostream os(text);
      print(os);
      it->second = llvm::xxh3_64bits(text);
    }
    return it->second;
  }

  AsmState state;
  SmallVector<uint64_t> words;
  DenseMap<const void *, uint64_t> ids;
  DenseMap<const void *, uint64_t> texts;
};
} // namespace

/// 8 hex digits of a hash of the kernel's IR, its name aside.
static std::string getKernelHash(gpu::GPUFuncOp kernel) {
  // The name is the one thing left out: the kernel is hashed under a fixed
  // one (its own ends in the hash).
  StringAttr name = kernel.getNameAttr();
  kernel.setName("fa_kernel");
  uint64_t hash = StableIRHasher(kernel.getContext()).hash(kernel);
  kernel.setName(name);
  return llvm::formatv("{0:x-8}", static_cast<uint32_t>(hash));
}

void mlir::fa::appendKernelHash(gpu::GPUFuncOp kernel, StringRef suffix) {
  kernel.setName(
      (kernel.getName() + "_" + getKernelHash(kernel) + suffix).str());
}

bool mlir::fa::renameEditedKernel(gpu::GPUFuncOp kernel, Operation *top) {
  // The name's last part of 8 lowercase hex digits (the tile's kind, which
  // may follow, has none).
  StringRef name = kernel.getName();
  SmallVector<StringRef> parts;
  name.split(parts, '_');
  auto isHash = [](StringRef part) {
    return part.size() == 8 && llvm::all_of(part, [](char c) {
             return llvm::isDigit(c) || (c >= 'a' && c <= 'f');
           });
  };
  auto hashPart = llvm::find_if(llvm::reverse(parts), isHash);
  if (hashPart == parts.rend())
    return false;
  std::string hash = getKernelHash(kernel);
  if (hash == *hashPart)
    return false;
  size_t at = hashPart->data() - name.data();
  std::string renamed =
      (name.substr(0, at) + hash + name.substr(at + 8)).str();
  auto module = kernel->getParentOfType<gpu::GPUModuleOp>();
  MLIRContext *ctx = kernel.getContext();
  // The module first (references are rooted at it), then the kernel.
  if (module && module.getName().starts_with(name)) {
    std::string moduleName =
        renamed + module.getName().drop_front(name.size()).str();
    Operation *scope = SymbolTable::getNearestSymbolTable(module->getParentOp());
    for (int i = 0; scope && SymbolTable::lookupSymbolIn(scope, moduleName);
         ++i)
      moduleName = renamed + "_" + std::to_string(i);
    if (failed(SymbolTable::replaceAllSymbolUses(
            module, StringAttr::get(ctx, moduleName), top)))
      return false;
    module.setName(moduleName);
  }
  if (failed(SymbolTable::replaceAllSymbolUses(
          kernel, StringAttr::get(ctx, renamed), top)))
    return false;
  kernel.setName(renamed);
  return true;
}

std::string mlir::fa::getAttentionKernelName(const AttentionKernelSpec &spec,
                                             const MmaSyncConfig &config) {
  std::string name = llvm::formatv(
      "fa_attention_{0}_d{1}_bm{2}_bn{3}_w{4}_s{5}",
      spec.getElementType().isBF16() ? "bf16" : "f16", spec.getHeadDim(),
      config.blockM, config.blockN, config.warps, config.stages);
  if (config.keyWarps > 1)
    name += "_kw" + std::to_string(config.keyWarps);
  if (!config.queryInRegisters)
    name += "_qsmem";
  if (config.emulatedExp2 > 0)
    name += "_e" + std::to_string(config.emulatedExp2);
  if (spec.lseType)
    name += "_lse";
  return name;
}

std::string mlir::fa::getAttentionKernelName(const AttentionKernelSpec &spec,
                                             const HopperConfig &config) {
  std::string name = llvm::formatv(
      "fa_attention_{0}_d{1}_bm{2}_bn{3}_wg{4}_s{5}_wgmma",
      spec.getElementType().isBF16() ? "bf16" : "f16", spec.getHeadDim(),
      config.blockM, config.blockN, config.warpgroups(), config.stages);
  if (config.emulatedExp2 > 0)
    name += "_e" + std::to_string(config.emulatedExp2);
  if (config.gathersPages())
    name += "_cpasync";
  if (spec.lseType)
    name += "_lse";
  return name;
}

std::string mlir::fa::getBackwardKernelName(const BackwardStageTile &stage,
                                            const BackwardKernelSpec &spec,
                                            const BackwardConfig &config) {
  std::string name = llvm::formatv(
      "fa_attention_backward_{0}_{1}_d{2}_bm{3}_bn{4}", stage.stage,
      spec.query.getElementType().isBF16() ? "bf16" : "f16",
      spec.query.getShape()[3], stage.blockM, stage.blockN);
  if (stage.stage != BackwardTileAttr::delta &&
      stage.stage != kGradQueryConvertStage)
    name +=
        llvm::formatv("_s{0}{1}", config.stages, config.wgmma ? "_wgmma" : "")
            .str();
  return name;
}

DictionaryAttr KernelLaunchInfo::toAttr(MLIRContext *ctx) const {
  Builder b(ctx);
  SmallVector<NamedAttribute> entries{
      b.getNamedAttr("strategy", b.getStringAttr(strategy)),
      b.getNamedAttr("chip", b.getStringAttr(chip)),
      b.getNamedAttr("block_m", b.getI64IntegerAttr(blockM)),
      b.getNamedAttr("block_n", b.getI64IntegerAttr(blockN)),
      b.getNamedAttr("warps", b.getI64IntegerAttr(warps)),
      b.getNamedAttr("stages", b.getI64IntegerAttr(stages)),
      b.getNamedAttr("threads", b.getI64IntegerAttr(threads)),
      b.getNamedAttr("dynamic_shared_memory",
                     b.getI64IntegerAttr(dynamicSharedMemory)),
      b.getNamedAttr("lse", b.getBoolAttr(lse)),
  };
  if (persistent)
    entries.push_back(b.getNamedAttr("persistent", b.getBoolAttr(true)));
  if (!backwardStage.empty())
    entries.push_back(
        b.getNamedAttr("backward_stage", b.getStringAttr(backwardStage)));
  if (!splitStage.empty()) {
    entries.push_back(
        b.getNamedAttr("split_stage", b.getStringAttr(splitStage)));
    entries.push_back(b.getNamedAttr("splits", b.getI64IntegerAttr(splits)));
    entries.push_back(
        b.getNamedAttr("max_splits", b.getI64IntegerAttr(maxSplits)));
  }
  if (packedHeads > 1)
    entries.push_back(
        b.getNamedAttr("pack_gqa", b.getI64IntegerAttr(packedHeads)));
  if (varlen)
    entries.push_back(b.getNamedAttr("varlen", b.getBoolAttr(true)));
  if (pageSize > 0)
    entries.push_back(
        b.getNamedAttr("page_size", b.getI64IntegerAttr(pageSize)));
  if (!tensorMaps.empty())
    entries.push_back(b.getNamedAttr(
        "tensor_maps",
        b.getArrayAttr(llvm::map_to_vector(
            tensorMaps, [&](const TensorMapInfo &map) -> Attribute {
              return b.getDictionaryAttr({
                  b.getNamedAttr("argument", b.getI64IntegerAttr(map.argument)),
                  b.getNamedAttr("box", b.getI64ArrayAttr(map.box)),
              });
            }))));
  return b.getDictionaryAttr(entries);
}

FailureOr<KernelLaunchInfo> KernelLaunchInfo::fromAttr(DictionaryAttr attr) {
  if (!attr)
    return failure();
  KernelLaunchInfo info;
  auto str = [&](StringRef name, std::string &out) {
    auto a = attr.getAs<StringAttr>(name);
    if (a)
      out = a.str();
    return static_cast<bool>(a);
  };
  auto num = [&](StringRef name, int64_t &out) {
    auto a = attr.getAs<IntegerAttr>(name);
    if (a)
      out = a.getInt();
    return static_cast<bool>(a);
  };
  if (!str("strategy", info.strategy) || !str("chip", info.chip) ||
      !num("block_m", info.blockM) || !num("block_n", info.blockN) ||
      !num("warps", info.warps) || !num("stages", info.stages) ||
      !num("threads", info.threads) ||
      !num("dynamic_shared_memory", info.dynamicSharedMemory))
    return failure();
  auto lse = attr.getAs<BoolAttr>("lse");
  if (!lse)
    return failure();
  info.lse = lse.getValue();
  // Optional: only persistent kernels say so.
  Attribute persistentAttr = attr.get("persistent");
  auto persistent = dyn_cast_or_null<BoolAttr>(persistentAttr);
  if (persistentAttr && !persistent)
    return failure();
  info.persistent = persistent && persistent.getValue();
  // Optional: only backward kernels have a stage.
  Attribute stageAttr = attr.get("backward_stage");
  auto stage = dyn_cast_or_null<StringAttr>(stageAttr);
  if (stageAttr && !stage)
    return failure();
  if (stage)
    info.backwardStage = stage.str();
  // Optional: only split-KV kernels have a split stage, and then counts.
  if (Attribute splitAttr = attr.get("split_stage")) {
    auto split = dyn_cast<StringAttr>(splitAttr);
    if (!split || !num("splits", info.splits) ||
        !num("max_splits", info.maxSplits))
      return failure();
    info.splitStage = split.str();
  }
  // Optional: only packed GQA kernels pack heads.
  if (attr.get("pack_gqa") &&
      (!num("pack_gqa", info.packedHeads) || info.packedHeads < 2 ||
       info.packedHeads > info.blockM))
    return failure();
  // Optional: only variable-length kernels say so.
  if (Attribute varlenAttr = attr.get("varlen")) {
    auto varlen = dyn_cast<BoolAttr>(varlenAttr);
    if (!varlen)
      return failure();
    info.varlen = varlen.getValue();
  }
  // Optional: only paged kernels have pages.
  if (attr.get("page_size") &&
      (!num("page_size", info.pageSize) || info.pageSize < 1))
    return failure();
  // Optional: kernels without TMA have none.
  Attribute mapsAttr = attr.get("tensor_maps");
  auto maps = dyn_cast_or_null<ArrayAttr>(mapsAttr);
  if (mapsAttr && !maps)
    return failure();
  for (Attribute entry : maps ? maps.getValue() : ArrayRef<Attribute>()) {
    auto dict = dyn_cast<DictionaryAttr>(entry);
    auto argument = dict ? dict.getAs<IntegerAttr>("argument") : nullptr;
    auto box = dict ? dict.getAs<ArrayAttr>("box") : nullptr;
    if (!argument || !box)
      return failure();
    TensorMapInfo map;
    map.argument = argument.getInt();
    for (Attribute d : box) {
      auto dim = dyn_cast<IntegerAttr>(d);
      if (!dim)
        return failure();
      map.box.push_back(dim.getInt());
    }
    info.tensorMaps.push_back(std::move(map));
  }
  return info;
}
