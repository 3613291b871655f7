//===- Metadata.cpp - What a kernel's .json says it computes --------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Metadata.h"
#include "Support.h"

#include <algorithm>
#include <limits>

namespace fa_runner {

/// Head dims beyond any kernel fa-compile writes (it takes up to 256).
static constexpr int64_t kMaxHeadDim = 1024;

static std::vector<int64_t> shapeOf(const Json &argument) {
  const Json &shape = argument["shape"];
  if (shape.kind != Json::Array)
    die(kUsage, "metadata: an argument's \"shape\" must be an array");
  std::vector<int64_t> dims;
  for (const Json &d : shape.array)
    dims.push_back(d.asInt());
  return dims;
}

/// Reads "tensor_maps" (absent: none): each entry well formed and naming
/// one of the arguments `mappable` allows (what `which` says) with its rank
/// and type.
static std::vector<TensorMapSpec>
readTensorMaps(const Json &json, const std::vector<int64_t> &mappable,
               const std::string &which) {
  std::vector<TensorMapSpec> maps;
  if (!json.has("tensor_maps"))
    return maps;
  const Json &entries = json["tensor_maps"];
  if (entries.kind != Json::Array)
    die(kUsage, "metadata: \"tensor_maps\" must be an array");
  const Json &args = json["arguments"];
  for (size_t i = 0; i < entries.array.size(); ++i) {
    std::string where = "metadata: \"tensor_maps\"[" + std::to_string(i) + "]";
    TensorMapSpec spec;
    if (std::string error = parseTensorMapSpec(entries.array[i], spec);
        !error.empty())
      die(kUsage, where + ": " + error);
    where += " ('" + spec.operand + "')";
    if (std::find(mappable.begin(), mappable.end(), spec.argument) ==
            mappable.end() ||
        spec.argument >= static_cast<int64_t>(args.array.size()))
      die(kUsage, where + ": \"argument\" is " + std::to_string(spec.argument) +
                      "; " + which);
    const Json &arg = args.array[spec.argument];
    const std::string &name = arg["name"].asString();
    if (spec.operand != name)
      die(kUsage, where + ": argument " + std::to_string(spec.argument) +
                      " is '" + name + "', not '" + spec.operand + "'");
    if (spec.rank != arg["rank"].asInt())
      die(kUsage, where + ": \"rank\" is " + std::to_string(spec.rank) +
                      ", but " + name + " has rank " +
                      std::to_string(arg["rank"].asInt()));
    if (spec.elementType != arg["element_type"].asString())
      die(kUsage, where + ": \"element_type\" is " + spec.elementType +
                      ", but " + name + " is " + arg["element_type"].string);
    maps.push_back(std::move(spec));
  }
  return maps;
}

/// Checks that the arguments of a split-KV kernel start with `names`, of
/// ranks `ranks`.
static void checkSplitArguments(const Json &args,
                                const std::vector<std::string> &names,
                                const std::vector<int64_t> &ranks,
                                const std::string &stage) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (i >= args.array.size())
      die(kUsage, "metadata: the split-KV " + stage +
                      " kernel lacks argument " + std::to_string(i) + " ('" +
                      names[i] + "')");
    const Json &arg = args.array[i];
    if (arg["name"].asString() != names[i] || arg["rank"].asInt() != ranks[i] ||
        shapeOf(arg).size() != static_cast<size_t>(ranks[i]))
      die(kUsage, "metadata: argument " + std::to_string(i) +
                      " of the split-KV " + stage + " kernel is '" +
                      arg["name"].string + "' of rank " +
                      std::to_string(arg["rank"].asInt()) + ", expected '" +
                      names[i] + "' of rank " + std::to_string(ranks[i]));
  }
}

/// Reads the "split_kv" object of a split-KV kernel into `m`.
static void readSplit(KernelMetadata &m, const Json &attention) {
  const Json &split = m.json["split_kv"];
  if (split.kind != Json::Object)
    die(kUsage, "metadata: \"split_kv\" must be an object");
  if (m.backward)
    die(kUsage, "metadata: a kernel is not both a backward and a split-KV "
                "kernel");
  m.splitKV = true;
  m.stage = split["stage"].asString();
  if (m.stage != "partial" && m.stage != "combine")
    die(kUsage, "metadata: \"split_kv\".\"stage\" is '" + m.stage +
                    "', expected partial or combine");
  if (attention.has("stage") && attention["stage"].asString() != m.stage)
    die(kUsage, "metadata: \"split_kv\" says stage '" + m.stage +
                    "' but \"attention\" says '" + attention["stage"].string +
                    "'");
  m.splits = split["splits"].asInt();
  m.maxSplits = split["max_splits"].asInt();
  m.splitRule = split.has("rule") ? split["rule"].asString() : "";
  if (m.maxSplits < 1 || m.splits < 0 || m.splits > m.maxSplits)
    die(kUsage, "metadata: \"split_kv\" has splits " +
                    std::to_string(m.splits) + " and max_splits " +
                    std::to_string(m.maxSplits) +
                    "; expected 1 <= max_splits and 0 <= splits <= max_splits");
}

/// Checks that the arguments of a `kind` (varlen, paged, varlen-paged)
/// kernel start with `names`, of ranks `ranks`, those from `firstI32` on of
/// element type i32.
static void checkArguments(const Json &args,
                           const std::vector<std::string> &names,
                           const std::vector<int64_t> &ranks, const char *kind,
                           size_t firstI32) {
  for (size_t i = 0; i < names.size(); ++i) {
    const Json &arg = args.array[i];
    if (arg["name"].asString() != names[i] || arg["rank"].asInt() != ranks[i] ||
        shapeOf(arg).size() != static_cast<size_t>(ranks[i]))
      die(kUsage, "metadata: argument " + std::to_string(i) + " of the " +
                      kind + " kernel is '" + arg["name"].string +
                      "' of rank " + std::to_string(arg["rank"].asInt()) +
                      ", expected '" + names[i] + "' of rank " +
                      std::to_string(ranks[i]));
    if (i >= firstI32 && arg["element_type"].asString() != "i32")
      die(kUsage, "metadata: " + names[i] + " has element type '" +
                      arg["element_type"].string + "', expected i32");
  }
}

/// "a", "a and b", "a, b and c".
static std::string joinWords(const std::vector<std::string> &words) {
  std::string s;
  for (size_t i = 0; i < words.size(); ++i)
    s += (i == 0 ? "" : i + 1 == words.size() ? " and " : ", ") + words[i];
  return s;
}

/// The i32 tensors a varlen, paged or varlen-paged kernel takes after O
/// and the LSE: their names, ranks, and where its metadata objects
/// (`objects`: "\"varlen\" puts", ...) put them.
struct ExtraArguments {
  const char *kind, *objects;
  std::vector<std::string> names;
  std::vector<int64_t> ranks, at;
};

/// Checks the arguments of a varlen, paged or varlen-paged kernel: q and o
/// of rank `qRank`, k and v of rank `kRank`, the LSE of rank qRank - 1 (a
/// split-KV partial kernel: q, k, v, partial_o and partial_lse), then the
/// i32 tensors `extra`.
static void checkExtraArguments(const KernelMetadata &m, int64_t qRank,
                                int64_t kRank, const ExtraArguments &extra) {
  std::vector<std::string> names{"q", "k", "v", "o"};
  std::vector<int64_t> ranks{qRank, kRank, kRank, qRank};
  if (m.splitKV) {
    names = {"q", "k", "v", "partial_o", "partial_lse"};
    ranks = {qRank, kRank, kRank, qRank + 1, qRank};
  } else if (m.lse) {
    names.push_back("lse");
    ranks.push_back(qRank - 1);
  }
  int64_t first = static_cast<int64_t>(names.size());
  std::vector<int64_t> expected;
  for (size_t i = 0; i < extra.names.size(); ++i)
    expected.push_back(first + static_cast<int64_t>(i));
  if (extra.at != expected) {
    std::vector<std::string> at, want;
    for (size_t i = 0; i < expected.size(); ++i) {
      at.push_back(std::to_string(extra.at[i]));
      want.push_back(std::to_string(expected[i]));
    }
    die(kUsage, std::string("metadata: ") + extra.objects + " " +
                    joinWords(extra.names) + " at arguments " + joinWords(at) +
                    ", expected " + joinWords(want) + " (after " +
                    (m.splitKV ? "partial_lse"
                     : m.lse   ? "the LSE"
                               : "o") +
                    ")");
  }
  names.insert(names.end(), extra.names.begin(), extra.names.end());
  ranks.insert(ranks.end(), extra.ranks.begin(), extra.ranks.end());
  checkArguments(m.json["arguments"], names, ranks, extra.kind, first);
}

/// Reads the "varlen" object of a varlen or varlen-paged kernel into `m`:
/// where cu_seqlens_q (and, against no paged cache, cu_seqlens_k) are.
static void readVarlen(KernelMetadata &m, const Json &attention) {
  const Json &varlen = m.json["varlen"];
  if (varlen.kind != Json::Object)
    die(kUsage, "metadata: \"varlen\" must be an object");
  if (!attention.has("varlen") || attention["varlen"].kind != Json::Bool ||
      !attention["varlen"].boolean)
    die(kUsage, "metadata: a kernel with a \"varlen\" object must say "
                "\"varlen\": true in \"attention\"");
  if (m.backward || m.splitKV)
    die(kUsage, "metadata: fa-runner runs varlen forward kernels only (not "
                "a backward or split-KV one)");
  m.cuSeqlensQ = varlen["cu_seqlens_q"].asInt();
  if (!m.paged) {
    m.cuSeqlensK = varlen["cu_seqlens_k"].asInt();
    return;
  }
  if (varlen.has("cu_seqlens_k"))
    die(kUsage, "metadata: a varlen kernel against a paged cache takes its "
                "key counts from cache_seqlens, but its \"varlen\" object "
                "names cu_seqlens_k (argument " +
                    std::to_string(varlen["cu_seqlens_k"].asInt()) + ")");
}

/// Reads the "paged" object of a paged or varlen-paged kernel into `m`:
/// the page size and where block_table and cache_seqlens are.
static void readPaged(KernelMetadata &m, const Json &attention) {
  const Json &paged = m.json["paged"];
  if (paged.kind != Json::Object)
    die(kUsage, "metadata: \"paged\" must be an object");
  if (!attention.has("paged") || attention["paged"].kind != Json::Bool ||
      !attention["paged"].boolean)
    die(kUsage, "metadata: a kernel with a \"paged\" object must say "
                "\"paged\": true in \"attention\"");
  if (m.backward)
    die(kUsage, "metadata: fa-runner runs paged forward kernels only (not "
                "a backward one)");
  m.pageSize = paged["page_size"].asInt();
  if (m.pageSize <= 0 || m.pageSize > std::numeric_limits<int32_t>::max())
    die(kUsage, "metadata: \"paged\".\"page_size\" is " +
                    std::to_string(m.pageSize) + "; expected a positive size");
  if (attention.has("page_size") &&
      attention["page_size"].asInt() != m.pageSize)
    die(kUsage, "metadata: \"paged\" says page_size " +
                    std::to_string(m.pageSize) + " but \"attention\" says " +
                    std::to_string(attention["page_size"].asInt()));
  m.blockTable = paged["block_table"].asInt();
  m.cacheSeqlens = paged["cache_seqlens"].asInt();
}

/// Checks the arguments of a varlen kernel (q, k, v, o of rank 3, the LSE
/// of rank 2, then cu_seqlens_q and cu_seqlens_k, i32 of rank 1), a paged
/// one (q, k, v, o of rank 4, the LSE of rank 3, then block_table, i32 of
/// rank 2, and cache_seqlens, i32 of rank 1) or a varlen-paged one (q and o
/// of rank 3, k and v of rank 4, the LSE of rank 2, then cu_seqlens_q,
/// block_table and cache_seqlens), where the objects say; the pages of k
/// and v have the static page size; the LSE of packed queries has q's
/// heads.
static void checkVarlenOrPagedArguments(const KernelMetadata &m) {
  if (m.varlen && m.paged)
    checkExtraArguments(m, 3, 4,
                        {"varlen-paged",
                         "\"varlen\" and \"paged\" put",
                         {"cu_seqlens_q", "block_table", "cache_seqlens"},
                         {1, 2, 1},
                         {m.cuSeqlensQ, m.blockTable, m.cacheSeqlens}});
  else if (m.varlen)
    checkExtraArguments(m, 3, 3,
                        {"varlen",
                         "\"varlen\" puts",
                         {"cu_seqlens_q", "cu_seqlens_k"},
                         {1, 1},
                         {m.cuSeqlensQ, m.cuSeqlensK}});
  else
    checkExtraArguments(m, 4, 4,
                        {"paged",
                         "\"paged\" puts",
                         {"block_table", "cache_seqlens"},
                         {2, 1},
                         {m.blockTable, m.cacheSeqlens}});
  const Json &args = m.json["arguments"];
  if (m.paged)
    for (int64_t a : {1, 2}) {
      int64_t rows = shapeOf(args.array[a])[1];
      if (rows != m.pageSize)
        die(kUsage,
            "metadata: " + args.array[a]["name"].string + " has " +
                (rows < 0 ? std::string("a dynamic page size")
                          : "pages of " + std::to_string(rows) + " rows") +
                " (dimension 1), but \"paged\" says page_size " +
                std::to_string(m.pageSize));
    }
  if (m.varlen && m.lse) {
    int64_t lseHeads = shapeOf(args.array[4])[0];
    if (lseHeads >= 0 && m.qShape[1] >= 0 && lseHeads != m.qShape[1])
      die(kUsage, "metadata: the LSE has " + std::to_string(lseHeads) +
                      " heads but q " + std::to_string(m.qShape[1]));
  }
}

/// Why q or k of `m` have the wrong rank for its kind.
static std::string rankError(const KernelMetadata &m) {
  if (m.varlen && m.paged)
    return "metadata: a varlen kernel against a paged cache takes q of rank "
           "3 ([tokens, heads, head dim]) and k of rank 4 ([num_pages, "
           "page_size, heads, head dim])";
  if (m.varlen)
    return "metadata: a varlen kernel's q and k must have rank 3 ([tokens, "
           "heads, head dim])";
  if (m.paged && m.qShape.size() == 3)
    return "metadata: a paged kernel's q has rank 3 (packed tokens) but its "
           "metadata has no \"varlen\" object: packed queries against a "
           "paged cache need both \"varlen\" and \"paged\"";
  return "metadata: q and k must have rank 4";
}

void KernelMetadata::checkLaunchFields() const {
  const Json &kernel = json["kernel"];
  if (kernel.kind != Json::String || kernel.string.empty())
    die(kUsage, "metadata: \"kernel\" must be the kernel's name, a "
                "non-empty string");
  const Json &smem = json["dynamic_shared_memory"];
  if (smem.kind != Json::Number || !smem.isInteger || smem.integer < 0 ||
      smem.integer > std::numeric_limits<int32_t>::max())
    die(kUsage, "metadata: \"dynamic_shared_memory\" must be a "
                "non-negative integer (bytes)");
  threads();
}

unsigned KernelMetadata::threads() const {
  const Json &block = json["block"];
  if (block.kind != Json::Array || block.array.empty() ||
      block.array[0].kind != Json::Number || !block.array[0].isInteger ||
      block.array[0].integer < 1 || block.array[0].integer > 1024)
    die(kUsage, "metadata: \"block\" must be an array whose first entry "
                "(threads) is in [1, 1024]");
  return static_cast<unsigned>(block.array[0].integer);
}

KernelMetadata readMetadata(const std::string &text) {
  KernelMetadata m;
  m.json = parseJson(text);

  const Json &args = m.json["arguments"];
  // A split-KV combine kernel takes 3 (4 with the LSE).
  bool combine = m.json.has("split_kv") &&
                 m.json["split_kv"].kind == Json::Object &&
                 m.json["split_kv"].has("stage") &&
                 m.json["split_kv"]["stage"].kind == Json::String &&
                 m.json["split_kv"]["stage"].string == "combine";
  if (args.kind != Json::Array || args.array.size() < (combine ? 3u : 4u))
    die(kUsage, std::string("metadata: expected at least ") +
                    (combine ? "3" : "4") + " kernel arguments");
  // A backward kernel describes its attention under "backward" and takes
  // q, k, v, o, do, lse, delta, dq, dk, dv before the captures.
  m.backward = m.json.has("backward");
  const Json &attention = m.json[m.backward ? "backward" : "attention"];
  if (m.backward)
    m.stage = attention["stage"].asString();
  m.dtype = attention["dtype"].asString();
  if (m.dtype != "bf16" && m.dtype != "f16")
    die(kUsage, "metadata: unsupported dtype " + m.dtype);
  m.headDim = attention["head_dim"].asInt();
  if (m.headDim < 1 || m.headDim > kMaxHeadDim)
    die(kUsage, "metadata: \"head_dim\" is " + std::to_string(m.headDim) +
                    ", outside [1, " + std::to_string(kMaxHeadDim) + "]");
  if (attention["scale"].kind != Json::Number)
    die(kUsage, "metadata: \"scale\" must be a number");
  m.scale = attention["scale"].number;
  m.causal = attention.has("causal") ? attention["causal"].asString() : "none";
  if (m.causal != "none" && m.causal != "top_left" &&
      m.causal != "bottom_right")
    die(kUsage, "metadata: \"causal\" is '" + m.causal +
                    "', not none, top_left or bottom_right");
  m.lse = !m.backward && attention["lse"].asBool();
  m.varlen = m.json.has("varlen") ||
             (attention.has("varlen") && attention["varlen"].asBool());
  m.paged = m.json.has("paged") ||
            (attention.has("paged") && attention["paged"].asBool());
  auto needObject = [&](const char *kind, bool is) {
    if (is && !m.json.has(kind))
      die(kUsage, std::string("metadata: \"attention\" says \"") + kind +
                      "\": true but the kernel has no \"" + kind + "\" object" +
                      (m.varlen && m.paged
                           ? " (a varlen kernel against a paged cache has a "
                             "\"varlen\" and a \"paged\" object)"
                           : ""));
  };
  if (m.json.has("split_kv")) {
    if (m.varlen)
      die(kUsage, std::string("metadata: a kernel is not both a split-KV and "
                              "a varlen kernel") +
                      (m.paged ? " (variable-length queries against a paged "
                                 "cache run as one kernel, without "
                                 "\"split_kv\")"
                               : ""));
    readSplit(m, attention);
    if (m.stage == "combine") {
      // partial_o, partial_lse, o and the LSE: no Q, K or captures (its
      // "attention" is the op's, read from the partial kernel; the pages
      // are the partial kernel's).
      m.paged = false;
      std::vector<std::string> names{"partial_o", "partial_lse", "o"};
      std::vector<int64_t> ranks{5, 4, 4};
      if (m.lse) {
        names.push_back("lse");
        ranks.push_back(3);
      }
      checkSplitArguments(args, names, ranks, m.stage);
      m.fixedArguments = m.lse ? 4 : 3;
      if (args.array.size() != static_cast<size_t>(m.fixedArguments))
        die(kUsage, "metadata: the split-KV combine kernel takes " +
                        std::to_string(m.fixedArguments) + " arguments, not " +
                        std::to_string(args.array.size()));
      if (m.json.has("tensor_maps") &&
          m.json["tensor_maps"].kind == Json::Array &&
          !m.json["tensor_maps"].array.empty())
        die(kUsage, "metadata: a split-KV combine kernel has no tensor maps");
      m.qShape = shapeOf(args.array[2]);
      m.kShape = {-1, -1, -1, -1};
      return m;
    }
    checkSplitArguments(args, {"q", "k", "v", "partial_o", "partial_lse"},
                        {4, 4, 4, 5, 4}, m.stage);
  }
  // (A combine kernel's "attention" is the op's; its pages are the partial
  // kernel's.)
  needObject("varlen", m.varlen);
  needObject("paged", m.paged);
  // A backward with dq=accumulate passes the f32 dQ accumulator after delta.
  m.gradQueryAccumulator = m.backward && args.array.size() > 7 &&
                           args.array[7]["name"].asString() == "dq_accum";
  m.fixedArguments = m.backward           ? (m.gradQueryAccumulator ? 11 : 10)
                     : m.lse || m.splitKV ? 5
                                          : 4;
  // cu_seqlens_q/k, block_table and cache_seqlens, or all but cu_seqlens_k.
  m.fixedArguments += m.varlen && m.paged ? 3 : m.varlen || m.paged ? 2 : 0;
  m.qShape = shapeOf(args.array[0]);
  m.kShape = shapeOf(args.array[1]);
  if (m.qShape.size() != (m.varlen ? 3u : 4u) ||
      m.kShape.size() != (m.varlen && !m.paged ? 3u : 4u))
    die(kUsage, rankError(m));
  if (args.array.size() < static_cast<size_t>(m.fixedArguments))
    die(kUsage, std::string("metadata: argument count does not match the "
                            "LSE") +
                    (m.varlen && m.paged ? ", varlen and paged flags"
                     : m.varlen          ? " and varlen flags"
                     : m.paged           ? " and paged flags"
                                         : " flag"));
  if (m.varlen)
    readVarlen(m, attention);
  if (m.paged)
    readPaged(m, attention);
  if (m.varlen || m.paged)
    checkVarlenOrPagedArguments(m);
  if (m.backward)
    m.tensorMaps = readTensorMaps(
        m.json,
        m.gradQueryAccumulator ? std::vector<int64_t>{0, 1, 2, 4, 7}
                               : std::vector<int64_t>{0, 1, 2, 4},
        "tensor maps of a backward kernel describe q, k, v, do (arguments "
        "0..2 and 4) or dq_accum (argument 7, with dq=accumulate)");
  else if (m.splitKV)
    m.tensorMaps = readTensorMaps(
        m.json, {0, 1, 2},
        "tensor maps of a split-KV partial kernel describe q, k or v "
        "(arguments 0..2)");
  else
    m.tensorMaps = readTensorMaps(m.json, {0, 1, 2, 3},
                                  "tensor maps describe q, k, v or o "
                                  "(arguments 0..3)");

  // Captures: every argument after O and the LSE (a split-KV partial
  // kernel: after partial_lse), capture0, capture1, ...
  for (size_t a = m.fixedArguments; a < args.array.size(); ++a) {
    const Json &arg = args.array[a];
    std::string name = "capture" + std::to_string(a - m.fixedArguments);
    if (arg["name"].asString() != name)
      die(kUsage, "metadata: argument " + std::to_string(a) + " is '" +
                      arg["name"].string + "', expected " + name);
    TensorType t;
    if (!parseScalarType(arg["element_type"].asString(), t.element) ||
        t.element == kTyIndex)
      die(kUsage, "metadata: " + name + " has element type '" +
                      arg["element_type"].string +
                      "' (i1, i8, i16, i32, i64, f16, bf16, f32 or f64)");
    t.shape = shapeOf(arg);
    if (arg["rank"].asInt() != static_cast<int64_t>(t.shape.size()))
      die(kUsage, "metadata: " + name + "'s rank and shape disagree");
    m.captures.push_back(t);
  }

  if (!attention.has("from_op")) {
    if (!m.captures.empty())
      m.uncheckable = "its metadata has capture arguments but no "
                      "\"from_op\" description of what it computes";
    return m; // a plain kernel
  }
  if (attention["from_op"].kind != Json::Bool)
    die(kUsage, "metadata: \"from_op\" must be true or false");
  if (!attention["from_op"].boolean) {
    m.uncheckable = "it was compiled from IR that was already tiled "
                    "(\"from_op\": false), so its metadata does not say what "
                    "it computes";
    return m;
  }
  for (const char *key : {"captures", "score_mod", "mask_mod"})
    if (!attention.has(key)) {
      m.uncheckable =
          std::string("its \"attention\" metadata lacks \"") + key + "\"";
      return m;
    }
  const Json &captures = attention["captures"];
  if (captures.kind != Json::Array ||
      captures.array.size() != m.captures.size())
    die(kUsage, "metadata: \"attention\".\"captures\" must list the " +
                    std::to_string(m.captures.size()) + " capture argument(s)");
  for (size_t k = 0; k < m.captures.size(); ++k) {
    const Json &c = captures.array[k];
    uint8_t element;
    if (c["argument"].asInt() != m.fixedArguments + static_cast<int64_t>(k) ||
        !parseScalarType(c["element_type"].asString(), element) ||
        element != m.captures[k].element ||
        c["rank"].asInt() != static_cast<int64_t>(m.captures[k].shape.size()))
      die(kUsage, "metadata: \"attention\".\"captures\"[" + std::to_string(k) +
                      "] does not match kernel argument capture" +
                      std::to_string(k));
  }
  for (const char *name : {"score_mod", "mask_mod"}) {
    const Json &region = attention[name];
    if (region.kind == Json::Null)
      continue;
    auto parsed =
        std::make_unique<ModRegion>(parseModRegion(region, name, m.captures));
    // A region may know sizes the argument leaves dynamic.
    for (size_t k = 0; k < m.captures.size(); ++k)
      for (size_t d = 0; d < m.captures[k].shape.size(); ++d)
        if (m.captures[k].shape[d] < 0)
          m.captures[k].shape[d] = parsed->captureTypes[k].shape[d];
    (std::string(name) == "score_mod" ? m.scoreMod : m.maskMod) =
        std::move(parsed);
  }
  return m;
}

} // namespace fa_runner
