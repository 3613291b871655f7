//===- KernelMetadata.cpp - The launch JSON of a kernel -------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "KernelMetadata.h"
#include "fa/Pipelines/KernelArtifacts.h"
#include "fa/Runtime/KVSplits.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

static std::string typeString(Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  type.print(os);
  return s;
}

/// The grid of a kernel that tiles `operand` (argument `arg`): (ceildiv(its
/// dim 2, block), dim 1, dim 0).
static llvm::json::Array gridJson(const std::string &operand, int64_t arg,
                                  int64_t block) {
  return llvm::json::Array{
      llvm::json::Object{{"expr", "ceildiv(" + operand + ".size[2], " +
                                      std::to_string(block) + ")"},
                         {"arg", arg},
                         {"dim", 2},
                         {"ceildiv", block}},
      llvm::json::Object{
          {"expr", operand + ".size[1]"}, {"arg", arg}, {"dim", 1}},
      llvm::json::Object{
          {"expr", operand + ".size[0]"}, {"arg", arg}, {"dim", 0}}};
}

/// The head entry of a grid: Hq (q.size[1]), or for a packed GQA kernel
/// Hkv: k.size[1], or dimension 2 of a paged cache [pages, page_size, Hkv,
/// D].
static llvm::json::Object headsJson(const KernelLaunchInfo &l) {
  if (l.packedHeads <= 1)
    return llvm::json::Object{{"expr", "q.size[1]"}, {"arg", 0}, {"dim", 1}};
  int64_t heads = l.pageSize > 0 ? 2 : 1;
  return llvm::json::Object{{"expr", "k.size[" + std::to_string(heads) + "]"},
                            {"arg", 1},
                            {"dim", heads}};
}

/// The grid of a kernel over query tiles (q is argument 0, k argument 1):
/// (ceildiv(Nq, block_m), Hq, B), or for a packed GQA kernel
/// (ceildiv(Nq, block_m / G), Hkv, B).
static llvm::json::Array queryGridJson(const KernelLaunchInfo &l) {
  llvm::json::Array grid = gridJson("q", 0, l.blockM / l.packedHeads);
  grid[1] = headsJson(l);
  return grid;
}

/// The grid of a variable-length kernel: (ceildiv(max_seqlen_q, block_m),
/// Hq, B) with B + 1 the size of cu_seqlens_q (argument `offsets`); packed
/// GQA (ceildiv(max_seqlen_q, block_m / G), Hkv, B).
static llvm::json::Array varlenGridJson(const KernelLaunchInfo &l,
                                        int64_t offsets) {
  int64_t positions = l.blockM / l.packedHeads;
  return llvm::json::Array{
      llvm::json::Object{
          {"expr", "ceildiv(max_seqlen_q, " + std::to_string(positions) + ")"},
          {"scalar", "max_seqlen_q"},
          {"ceildiv", positions}},
      headsJson(l),
      llvm::json::Object{{"expr", "cu_seqlens_q.size[0] - 1"},
                         {"arg", offsets},
                         {"dim", 0},
                         {"minus", 1}}};
}

/// The "paged" section of a kernel that reads K and V through a block
/// table (argument `table`) with the key counts after it.
static llvm::json::Object pagedJson(const KernelLaunchInfo &l, int64_t table) {
  return llvm::json::Object{
      {"block_table", table},
      {"cache_seqlens", table + 1},
      {"page_size", l.pageSize},
      {"note", "k and v are caches [num_pages, page_size, Hkv, D]; sequence b "
               "has cache_seqlens[b] keys, key j at page block_table[b, j / "
               "page_size], row j % page_size. The runtime checks before a "
               "launch that 0 <= cache_seqlens[b] <= max_pages * page_size and "
               "that the table entries of every page in use are in [0, "
               "num_pages); the kernel reads no other entry"}};
}

/// The "tile" entry of a kernel's metadata.
static llvm::json::Object tileJson(const KernelLaunchInfo &l) {
  llvm::json::Object tile{{"block_m", l.blockM},
                          {"block_n", l.blockN},
                          {"warps", l.warps},
                          {"stages", l.stages}};
  // (A combine kernel runs over query heads; its split section states the
  // partial kernel's packed tiles.)
  if (l.packedHeads > 1 && l.splitStage != kSplitCombineStage) {
    tile["pack_gqa"] = l.packedHeads;
    tile["note"] = "a tile packs the pack_gqa query heads of one key/value "
                   "head, block_m / pack_gqa positions each";
  }
  return tile;
}

/// The JSON of one kernel argument.
static llvm::json::Object argumentJson(MemRefType type, std::string name,
                                       bool writes) {
  llvm::json::Array shape;
  for (int64_t d : type.getShape())
    shape.push_back(ShapedType::isDynamic(d) ? int64_t(-1) : d);
  return llvm::json::Object{
      {"name", std::move(name)},
      {"type", typeString(type)},
      {"element_type", typeString(type.getElementType())},
      {"rank", type.getRank()},
      {"shape", std::move(shape)},
      {"writes", writes},
  };
}

/// The "tensor_maps" entries of a kernel: one per TMA operand, named as its
/// argument (`name`).
static llvm::json::Array
tensorMapsJson(const KernelRecord &record,
               function_ref<std::string(int64_t)> name) {
  llvm::json::Array maps;
  for (const TensorMapInfo &map : record.launch.tensorMaps) {
    MemRefType type = record.arguments[map.argument];
    maps.push_back(llvm::json::Object{
        {"operand", name(map.argument)},
        {"argument", map.argument},
        {"element_type", typeString(type.getElementType())},
        {"rank", type.getRank()},
        {"box", llvm::json::Array(map.box)},
        {"swizzle", "128B"},
        {"interleave", "none"},
        {"l2_promotion", "256B"},
        {"oob_fill", "zeros"},
    });
  }
  return maps;
}

/// The names of a backward kernel's fixed arguments: BackwardKernelSpec's
/// for every stage, with dq=accumulate the f32 dQ accumulator after delta.
static SmallVector<StringRef>
getBackwardArgumentNames(const KernelRecord &record) {
  // Argument 7 is dQ, or the accumulator (rank 4, f32) before it.
  bool accumulates = record.arguments.size() > 7 &&
                     record.arguments[7].getRank() == 4 &&
                     record.arguments[7].getElementType().isF32() &&
                     !record.arguments[0].getElementType().isF32();
  SmallVector<StringRef> fixed{"q", "k", "v", "o", "do", "lse", "delta"};
  if (accumulates)
    fixed.push_back("dq_accum");
  fixed.append({"dq", "dk", "dv"});
  return fixed;
}

SmallVector<bool>
mlir::fa::detail::getArgumentWrites(const KernelRecord &record) {
  const KernelLaunchInfo &l = record.launch;
  SmallVector<bool> writes(record.arguments.size(), false);
  auto set = [&](size_t i) {
    if (i < writes.size())
      writes[i] = true;
  };
  if (!l.backwardStage.empty()) {
    StringRef stage = l.backwardStage;
    for (auto [i, name] : llvm::enumerate(getBackwardArgumentNames(record))) {
      if (i >= writes.size())
        break;
      if (stage == "delta")
        writes[i] = name == "delta" || name == "dq_accum";
      else if (stage == "key_value")
        writes[i] = name == "dk" || name == "dv";
      else if (stage == "fused")
        writes[i] = name == "dk" || name == "dv" || name == "dq_accum";
      else
        writes[i] = name == "dq";
    }
    return writes;
  }
  // A split's partial kernel writes partial_o and partial_lse (3, 4); its
  // combine o and its LSE (2, 3); a one-kernel forward o and its LSE (3,
  // 4).
  size_t o = l.splitStage == kSplitCombineStage ? 2 : 3;
  set(o);
  if (l.lse || l.splitStage == kSplitPartialStage)
    set(o + 1);
  return writes;
}

/// The metadata of a backward kernel: its arguments are BackwardKernelSpec's
/// for every stage (with dq=accumulate the f32 dQ accumulator after delta),
/// the grid tiles Q (delta, query, dq_convert) or K (key_value, fused).
static llvm::json::Object
buildBackwardMetadata(const KernelRecord &record,
                      const llvm::json::Object &description) {
  SmallVector<StringRef> fixed = getBackwardArgumentNames(record);
  const KernelLaunchInfo &l = record.launch;
  StringRef stage = l.backwardStage;
  SmallVector<bool> writes = getArgumentWrites(record);
  llvm::json::Array arguments;
  int64_t captures = 0;
  for (auto [i, type] : llvm::enumerate(record.arguments)) {
    std::string name = i < fixed.size()
                           ? fixed[i].str()
                           : "capture" + std::to_string(captures++);
    arguments.push_back(argumentJson(type, name, writes[i]));
  }
  bool keys = stage == "key_value" || stage == "fused";
  int64_t arg = keys ? 1 : 0;
  int64_t block = keys ? l.blockN : l.blockM;
  std::string operand = keys ? "k" : "q";
  llvm::json::Object attention = description;
  attention["stage"] = stage.str();
  llvm::json::Array tensorMaps =
      tensorMapsJson(record, [&](int64_t i) { return fixed[i].str(); });
  llvm::json::Object root{
      {"kernel", record.kernel},
      {"module", record.module},
      {"compiler", getFACompilerVersion()},
      {"chip", l.chip},
      {"strategy", l.strategy},
      {"abi",
       "each argument is an expanded memref descriptor: allocated pointer, "
       "aligned pointer, i64 offset, i64 sizes[rank], i64 strides[rank] (in "
       "elements; all but the captures: innermost stride 1 and 16-byte "
       "aligned rows). The three kernels of a backward take the same "
       "arguments and run in the order delta, key_value, query "
       "(backward-dq=stage) or delta, fused, dq_convert "
       "(backward-dq=accumulate); delta (f32 [B, Hq, Nq]) and dq_accum "
       "(f32 [B, Hq, Nq, D], contiguous) are scratch the runtime "
       "allocates, uninitialized: the delta kernel writes delta and zeroes "
       "dq_accum, the others read them. Then one 128-byte CUtensorMap by "
       "value (64-byte aligned) per \"tensor_maps\" entry, encoded by "
       "cuTensorMapEncodeTiled over that argument's sizes and strides, "
       "innermost first, with the entry's box, swizzle, interleave, L2 "
       "promotion and out-of-bounds fill (the hopper-ws fused kernel loads "
       "q, k, v and do and adds dQ to dq_accum with TMA)"},
      {"arguments", std::move(arguments)},
      {"block", llvm::json::Array{l.threads, 1, 1}},
      {"grid", gridJson(operand, arg, block)},
      {"dynamic_shared_memory", l.dynamicSharedMemory},
      {"tile", tileJson(l)},
      {"backward", std::move(attention)},
  };
  if (!tensorMaps.empty())
    root["tensor_maps"] = std::move(tensorMaps);
  return root;
}

/// The metadata of the two kernels of a split-KV attention: the partial
/// kernel takes (q, k, v, partial_o, partial_lse, captures...), the combine
/// kernel (partial_o, partial_lse, o[, lse]); the runtime allocates the
/// partials for the split count it picks by the stated rule.
static llvm::json::Object buildSplitMetadata(const KernelRecord &record,
                                             llvm::json::Object attention) {
  const KernelLaunchInfo &l = record.launch;
  bool partial = l.splitStage == kSplitPartialStage;
  SmallVector<std::string> names;
  bool paged = partial && l.pageSize > 0;
  if (partial) {
    names = {"q", "k", "v", "partial_o", "partial_lse"};
    if (paged)
      names.append({"block_table", "cache_seqlens"});
    for (size_t i = names.size(), first = i; i < record.arguments.size(); ++i)
      names.push_back("capture" + std::to_string(i - first));
  } else {
    names = {"partial_o", "partial_lse", "o"};
    if (l.lse)
      names.push_back("lse");
  }
  llvm::json::Array arguments;
  SmallVector<bool> writes = getArgumentWrites(record);
  for (auto [i, type] : llvm::enumerate(record.arguments)) {
    StringRef name = i < names.size() ? StringRef(names[i]) : "unknown";
    arguments.push_back(argumentJson(type, name.str(), writes[i]));
  }
  std::string bm = std::to_string(l.blockM), bn = std::to_string(l.blockN);
  // The partial kernel's grid is over query (or packed) tiles, the
  // combine's over o's rows.
  llvm::json::Array grid =
      partial ? queryGridJson(l) : gridJson("o", 2, l.blockM);
  std::string positions = std::to_string(l.blockM / l.packedHeads);
  std::string tiles = "q.size[0] * q.size[1] * ceildiv(q.size[2], " + bm + ")";
  // (Hkv: dimension 2 of a paged cache [pages, page_size, Hkv, D].)
  if (l.packedHeads > 1)
    tiles = "q.size[0] * k.size[" + std::string(paged ? "2" : "1") +
            "] * ceildiv(q.size[2], " + positions + ")";
  // A paged cache: its sequences have at most max_pages * page_size keys,
  // and each tile shares out its own sequence's blocks among the S parts.
  std::string blocks = paged ? "ceildiv(block_table.size[1] * " +
                                   std::to_string(l.pageSize) + ", " + bn + ")"
                             : "ceildiv(k.size[2], " + bn + ")";
  if (partial) {
    // The splits of a tile are in x too.
    llvm::json::Object &x = *grid[0].getAsObject();
    x["expr"] = "ceildiv(q.size[2], " + positions + ") * partial_lse.size[0]";
    x["times"] = llvm::json::Object{{"arg", 4}, {"dim", 0}};
  }
  attention["stage"] = l.splitStage;
  llvm::json::Object split{
      {"stage", l.splitStage},
      {"order", "partial, then combine"},
      {"rule", ::fa::kKVSplitRule},
      {"splits", l.splits},
      {"max_splits", l.maxSplits},
      {"tiles", tiles},
      {"blocks", blocks},
      {"slots", "multiprocessors * "
                "cuOccupancyMaxActiveBlocksPerMultiprocessor(partial kernel, "
                "its block[0], its dynamic_shared_memory)"},
      {"note",
       "S = splits when it is not 0, else chooseKVSplits(tiles, blocks, "
       "slots, max_splits) of include/fa/Runtime/KVSplits.h (a caller may "
       "pick any S in [1, max_splits]); partial_o (f32 [S, B, Hq, Nq, Dv]) "
       "and partial_lse (f32 [S, B, Hq, Nq]) are contiguous scratch the "
       "runtime allocates, uninitialized: the partial kernel writes every "
       "element the combine kernel reads"}};
  llvm::json::Object root{
      {"kernel", record.kernel},
      {"module", record.module},
      {"compiler", getFACompilerVersion()},
      {"chip", l.chip},
      {"strategy", l.strategy},
      {"abi", "each argument is an expanded memref descriptor: allocated "
              "pointer, aligned pointer, i64 offset, i64 sizes[rank], i64 "
              "strides[rank] (in elements; all but the captures: innermost "
              "stride 1 and 16-byte aligned rows)"},
      {"arguments", std::move(arguments)},
      {"block", llvm::json::Array{l.threads, 1, 1}},
      {"grid", std::move(grid)},
      {"dynamic_shared_memory", l.dynamicSharedMemory},
      {"tile", tileJson(l)},
      {"split_kv", std::move(split)},
      {"attention", std::move(attention)},
  };
  if (paged)
    root["paged"] = pagedJson(l, 5);
  return root;
}

std::string mlir::fa::detail::buildKernelMetadata(const KernelRecord &record) {
  static const char *const fixed[] = {"q", "k", "v", "o"};
  llvm::json::Array arguments;
  int64_t captures = 0;
  // After O: the LSE, then the offsets (variable-length: of the queries and
  // the keys, only the queries' against a paged cache), then the block
  // table and the key counts (paged).
  const KernelLaunchInfo &l = record.launch;
  bool paged = l.pageSize > 0;
  size_t firstOffsets = l.lse ? 5 : 4;
  size_t firstTable = firstOffsets + (l.varlen ? (paged ? 1 : 2) : 0);
  SmallVector<std::string> names;
  SmallVector<bool> writes = getArgumentWrites(record);
  for (auto [i, type] : llvm::enumerate(record.arguments)) {
    std::string name;
    if (i < 4)
      name = fixed[i];
    else if (i == 4 && l.lse)
      name = "lse";
    else if (l.varlen && i == firstOffsets)
      name = "cu_seqlens_q";
    else if (l.varlen && !paged && i == firstOffsets + 1)
      name = "cu_seqlens_k";
    else if (paged && i == firstTable)
      name = "block_table";
    else if (paged && i == firstTable + 1)
      name = "cache_seqlens";
    else
      name = "capture" + std::to_string(captures++);
    arguments.push_back(argumentJson(type, name, writes[i]));
    names.push_back(std::move(name));
  }
  Type element = record.arguments[0].getElementType();
  int64_t headDim = record.arguments[0].getShape().back();
  if (!l.splitStage.empty()) {
    // The combine kernel's first argument is the partial O: D from Dv.
    int64_t dim = record.arguments[0].getShape().back();
    llvm::json::Object description =
        record.attention ? *record.attention
                         : llvm::json::Object{{"dtype", typeString(element)},
                                              {"head_dim", dim},
                                              {"from_op", false}};
    std::string out;
    llvm::raw_string_ostream os(out);
    os << llvm::formatv("{0:2}", llvm::json::Value(buildSplitMetadata(
                                     record, std::move(description))))
       << "\n";
    return out;
  }
  if (!l.backwardStage.empty()) {
    llvm::json::Object description =
        record.attention ? *record.attention
                         : llvm::json::Object{{"dtype", typeString(element)},
                                              {"head_dim", headDim},
                                              {"from_op", false}};
    std::string out;
    llvm::raw_string_ostream os(out);
    os << llvm::formatv("{0:2}", llvm::json::Value(buildBackwardMetadata(
                                     record, description)))
       << "\n";
    return out;
  }
  llvm::json::Object attention =
      record.attention ? *record.attention
                       : llvm::json::Object{{"dtype", typeString(element)},
                                            {"head_dim", headDim},
                                            {"lse", record.launch.lse},
                                            {"from_op", false}};
  // (Here, after the split and backward kernels, whose arguments are
  // named otherwise: the maps of a forward kernel describe Q, K, V or O.)
  llvm::json::Array tensorMaps =
      tensorMapsJson(record, [&](int64_t i) { return names[i]; });
  llvm::json::Object root{
      {"kernel", record.kernel},
      {"module", record.module},
      {"compiler", getFACompilerVersion()},
      {"chip", l.chip},
      {"strategy", l.strategy},
      {"abi",
       "each argument is an expanded memref descriptor: allocated pointer, "
       "aligned pointer, i64 offset, i64 sizes[rank], i64 strides[rank] "
       "(in elements; q, k, v, o and lse: innermost stride 1 and 16-byte "
       "aligned rows; captures: any strides); then one 128-byte "
       "CUtensorMap by value (64-byte aligned) per \"tensor_maps\" entry, "
       "encoded by cuTensorMapEncodeTiled over that argument's sizes and "
       "strides, innermost first, with the entry's box, swizzle, "
       "interleave, L2 promotion and out-of-bounds fill"},
      {"arguments", std::move(arguments)},
      {"block", llvm::json::Array{l.threads, 1, 1}},
      {"grid", l.varlen ? varlenGridJson(l, firstOffsets) : queryGridJson(l)},
      {"dynamic_shared_memory", l.dynamicSharedMemory},
      {"tile", tileJson(l)},
      {"attention", std::move(attention)},
  };
  if (l.varlen) {
    llvm::json::Object varlen{
        {"cu_seqlens_q", static_cast<int64_t>(firstOffsets)},
        {"max_seqlen_q", "a launch scalar: at least the longest query "
                         "sequence, cu_seqlens_q[b + 1] - cu_seqlens_q[b]"}};
    if (paged) {
      varlen["note"] =
          "q and o are packed [total query tokens, heads, head dim], lse "
          "[Hq, total query tokens]; sequence b is query rows [cu_seqlens_q"
          "[b], cu_seqlens_q[b + 1]), the last of its cache_seqlens[b] "
          "positions (k and v are paged: see \"paged\"). Offsets must be "
          "non-decreasing and within q and o, and max_seqlen_q at least "
          "every query length: the runtime checks this before a launch";
    } else {
      varlen["cu_seqlens_k"] = static_cast<int64_t>(firstOffsets + 1);
      varlen["note"] =
          "q, k, v and o are packed [total tokens, heads, head dim], lse "
          "[Hq, total query tokens]; sequence b is rows [cu[b], cu[b + 1]) "
          "of its operands. Offsets must be non-decreasing and within the "
          "operands and max_seqlen_q at least every query length: the "
          "runtime checks this before a launch (the kernel reads what the "
          "offsets say)";
    }
    root["varlen"] = std::move(varlen);
  }
  if (paged)
    root["paged"] = pagedJson(l, firstTable);
  if (!tensorMaps.empty())
    root["tensor_maps"] = std::move(tensorMaps);
  if (l.persistent)
    root["persistent"] = llvm::json::Object{
        {"grid",
         "(min(T, S * A), 1, 1): T = the product of \"grid\", S = the "
         "device's multiprocessor count, A = "
         "cuOccupancyMaxActiveBlocksPerMultiprocessor(kernel, block[0], "
         "dynamic_shared_memory)"},
        {"note", "each block loops over the tiles: any grid computes every "
                 "tile once, \"grid\" too; this one is the fast one"}};
  std::string out;
  llvm::raw_string_ostream os(out);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
  return out;
}

