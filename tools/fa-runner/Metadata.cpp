//===- Metadata.cpp - What a kernel's .json says it computes --------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Metadata.h"
#include "Support.h"

namespace fa_runner {

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
/// one of the [B, H, N, D] operands q, k, v, o with its rank and type.
static std::vector<TensorMapSpec> readTensorMaps(const Json &json) {
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
    if (spec.argument < 0 || spec.argument > 3)
      die(kUsage, where + ": \"argument\" is " + std::to_string(spec.argument) +
                      "; tensor maps describe q, k, v or o (arguments 0..3)");
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

KernelMetadata readMetadata(const std::string &text) {
  KernelMetadata m;
  m.json = parseJson(text);
  const Json &args = m.json["arguments"];
  if (args.kind != Json::Array || args.array.size() < 4)
    die(kUsage, "metadata: expected at least 4 kernel arguments");
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
  if (attention["scale"].kind != Json::Number)
    die(kUsage, "metadata: \"scale\" must be a number");
  m.scale = attention["scale"].number;
  m.causal = attention.has("causal") ? attention["causal"].asString() : "none";
  m.lse = !m.backward && attention["lse"].boolean;
  // A backward with dq=accumulate passes the f32 dQ accumulator after delta.
  m.gradQueryAccumulator = m.backward && args.array.size() > 7 &&
                           args.array[7]["name"].asString() == "dq_accum";
  m.fixedArguments = m.backward ? (m.gradQueryAccumulator ? 11 : 10)
                     : m.lse    ? 5
                                : 4;
  m.qShape = shapeOf(args.array[0]);
  m.kShape = shapeOf(args.array[1]);
  if (m.qShape.size() != 4 || m.kShape.size() != 4)
    die(kUsage, "metadata: q and k must have rank 4");
  if (args.array.size() < static_cast<size_t>(m.fixedArguments))
    die(kUsage, "metadata: argument count does not match the LSE flag");
  m.tensorMaps = readTensorMaps(m.json);

  // Captures: every argument after O and the LSE, capture0, capture1, ...
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
