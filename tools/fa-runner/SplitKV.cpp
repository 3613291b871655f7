//===- SplitKV.cpp - Run the two kernels of a split-KV forward ------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "SplitKV.h"
#include "Support.h"

#include "fa/Runtime/KVSplits.h"

#include <limits>

namespace fa_runner {

namespace {

std::vector<int64_t> staticShape(const Json &argument) {
  std::vector<int64_t> dims;
  for (const Json &d : argument["shape"].array)
    dims.push_back(d.asInt());
  return dims;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

} // namespace

bool isSplitKVPrefix(const std::string &prefix) {
  for (const char *suffix : {".0.json", ".1.json"}) {
    std::string text;
    if (readFile(prefix + suffix, text) &&
        text.find("\"split_kv\"") != std::string::npos)
      return true;
  }
  return false;
}

SplitKVPair::SplitKVPair(const std::string &prefix, bool images,
                         int64_t requestedSplits)
    : requested(requestedSplits) {
  const std::string pair = "a split-KV forward has two kernels, partial and "
                           "combine, " +
                           prefix + ".0 and " + prefix +
                           ".1 (fa-compile --split-kv writes both)";
  for (int i = 0; i < 2; ++i) {
    std::string path = prefix + "." + std::to_string(i), text;
    if (!readFile(path + ".json", text))
      die(kUsage, "cannot read " + path + ".json: " + pair);
    KernelMetadata meta = readMetadata(text);
    if (!meta.splitKV)
      die(kUsage,
          path + ".json is not a split-KV kernel (no \"split_kv\"): " + pair);
    int slot = meta.stage == "partial" ? 0 : 1;
    if (!kernels[slot].path.empty())
      die(kUsage, kernels[slot].path + ".json and " + path +
                      ".json are both the " + meta.stage + " kernel: " + pair);
    kernels[slot].path = path;
    kernels[slot].meta = std::move(meta);
  }
  const KernelMetadata &p = kernels[0].meta, &c = kernels[1].meta;

  // Both halves of one compilation of one attention.
  auto differ = [&](const std::string &what) {
    die(kUsage, kernels[0].path + ".json and " + kernels[1].path +
                    ".json are not the two kernels of one split-KV forward "
                    "(their " +
                    what +
                    " differ); compile them together with fa-compile "
                    "--split-kv");
  };
  if (p.dtype != c.dtype)
    differ("dtypes");
  if (p.headDim != c.headDim)
    differ("head dims");
  if (p.causal != c.causal)
    differ("causal masks");
  if (p.lse != c.lse)
    differ("LSE outputs");
  if (p.scale != c.scale)
    differ("scales");
  if (p.splits != c.splits || p.maxSplits != c.maxSplits ||
      p.splitRule != c.splitRule)
    differ("\"split_kv\" counts or rules");
  for (const KernelMetadata *m : {&p, &c})
    for (const char *key :
         {"grid", "block", "tile", "kernel", "dynamic_shared_memory"})
      if (!m->json.has(key))
        die(kUsage,
            std::string("metadata: a split-KV kernel lacks \"") + key + "\"");
  blockM = p.json["tile"]["block_m"].asInt();
  blockN = p.json["tile"]["block_n"].asInt();
  if (blockM < 1 || blockN < 1)
    die(kUsage, "metadata: the partial kernel's \"tile\" needs positive "
                "block_m and block_n");
  if (c.json["tile"]["block_m"].asInt() != blockM)
    differ("query tiles (block_m)");
  if (p.json["tile"].has("pack_gqa")) {
    packedHeads = p.json["tile"]["pack_gqa"].asInt();
    if (packedHeads < 2 || packedHeads > blockM)
      die(kUsage, "metadata: the partial kernel's \"pack_gqa\" must be in "
                  "[2, block_m]");
  }
  if (p.json.has("chip") && c.json.has("chip") &&
      p.json["chip"].asString() != c.json["chip"].asString())
    differ("chips");
  const Json &pa = p.json["arguments"], &ca = c.json["arguments"];
  for (int a = 0; a < 2; ++a) // partial_o and partial_lse
    if (staticShape(pa.array[3 + a]) != staticShape(ca.array[a]) ||
        pa.array[3 + a]["element_type"].asString() !=
            ca.array[a]["element_type"].asString())
      differ("'" + ca.array[a]["name"].string + "' arguments");
  std::vector<int64_t> q = staticShape(pa.array[0]),
                       o = staticShape(ca.array[2]);
  for (size_t d = 0; d < 4; ++d)
    if (q[d] >= 0 && o[d] >= 0 && q[d] != o[d])
      differ("static sizes of q and o");
  for (int a = 3; a < 5; ++a)
    if (pa.array[a]["element_type"].asString() != "f32")
      die(kUsage, "metadata: " + kernels[0].path + ".json: '" +
                      pa.array[a]["name"].string + "' must be f32");
  if (ca.array[2]["element_type"].asString() != p.dtype ||
      (c.lse && ca.array[3]["element_type"].asString() != "f32"))
    die(kUsage, "metadata: " + kernels[1].path + ".json: o must be " + p.dtype +
                    " and the LSE f32");
  for (int s = 0; s < 2; ++s) {
    const Json &json = kernels[s].meta.json;
    if (json.has("persistent"))
      die(kUsage, "metadata: a persistent split-KV kernel (" + kernels[s].path +
                      ") is not supported");
    if (json["grid"].kind != Json::Array || json["grid"].array.size() != 3 ||
        json["block"].kind != Json::Array || json["block"].array.empty() ||
        json["block"].array[0].asInt() < 1 ||
        json["block"].array[0].asInt() > 1024)
      die(kUsage, "metadata: " + kernels[s].path +
                      ".json needs a \"grid\" of 3 entries and a \"block\" of "
                      "1 to 1024 threads");
  }

  if (requested) {
    if (p.splits && requested != p.splits)
      die(kUsage,
          "--kv-splits " + std::to_string(requested) +
              ": these kernels were compiled for " + std::to_string(p.splits) +
              " splits (fa-compile --split-kv=" + std::to_string(p.splits) +
              "); compile with --split-kv=auto to choose at run time");
    if (requested > p.maxSplits)
      die(kUsage, "--kv-splits " + std::to_string(requested) +
                      " is outside [1, " + std::to_string(p.maxSplits) +
                      "], the kernels' max_splits");
  }

  if (!images)
    return;
  for (Kernel &k : kernels) {
    bool binary = readFile(k.path + ".cubin", k.image) ||
                  readFile(k.path + ".fatbin", k.image);
    if (!binary) {
      if (!readFile(k.path + ".ptx", k.image))
        die(kUsage, "cannot read " + k.path + ".cubin, .fatbin or .ptx");
      k.image.push_back('\0'); // PTX must be NUL-terminated
    }
  }
}

SplitKVPair::~SplitKVPair() = default;

std::string SplitKVPair::kernelNames() const {
  return kernels[0].meta.json["kernel"].asString() + "+" +
         kernels[1].meta.json["kernel"].asString();
}

void SplitKVPair::setPages(int64_t pages, int64_t rows, int64_t columns) {
  const KernelMetadata &p = kernels[0].meta;
  if (!p.paged || p.pageSize != rows)
    die(kUsage, "internal: the split-KV pair's pages do not match its "
                "partial kernel");
  numPages = pages, pageSize = rows, maxPages = columns;
}

std::vector<int64_t> SplitKVPair::argumentSizes(int stage, int64_t arg,
                                                int64_t splits) const {
  const Problem &p = problem;
  std::vector<int64_t> q{p.B, p.Hq, p.Nq, p.D}, kv{p.B, p.Hkv, p.Nk, p.D},
      partialO{splits, p.B, p.Hq, p.Nq, p.D},
      partialLse{splits, p.B, p.Hq, p.Nq}, lse{p.B, p.Hq, p.Nq},
      table{p.B, maxPages}, lengths{p.B};
  if (pageSize)
    kv = {numPages, pageSize, p.Hkv, p.D};
  if (stage == 0) {
    const std::vector<int64_t> *sizes[] = {
        &q, &kv, &kv, &partialO, &partialLse, &table, &lengths};
    return arg < (pageSize ? 7 : 5) ? *sizes[arg] : std::vector<int64_t>{};
  }
  const std::vector<int64_t> *sizes[] = {&partialO, &partialLse, &q, &lse};
  return arg < 4 ? *sizes[arg] : std::vector<int64_t>{};
}

void SplitKVPair::checkShapes(int64_t splits) const {
  for (int s = 0; s < 2; ++s) {
    const KernelMetadata &m = kernels[s].meta;
    for (int64_t a = 0; a < m.fixedArguments; ++a) {
      const Json &arg = m.json["arguments"].array[a];
      std::vector<int64_t> want = argumentSizes(s, a, splits),
                           have = staticShape(arg);
      for (size_t d = 0; d < have.size() && d < want.size(); ++d)
        if (have[d] >= 0 && want[d] >= 0 && have[d] != want[d])
          die(kUsage, kernels[s].path + ".json: argument '" +
                          arg["name"].string + "' was compiled with size " +
                          std::to_string(have[d]) + " in dimension " +
                          std::to_string(d) + ", but this run needs " +
                          std::to_string(want[d]));
    }
  }
}

void SplitKVPair::checkProblem(const Problem &p) {
  problem = p;
  haveProblem = true;
  checkShapes(kernels[0].meta.splits ? kernels[0].meta.splits
              : requested            ? requested
                                     : -1);
}

unsigned SplitKVPair::gridDim(int stage, int i) const {
  const Kernel &k = kernels[stage];
  const Json &g = k.meta.json["grid"].array[i];
  auto size = [&](const Json &ref) {
    int64_t arg = ref["arg"].asInt(), dim = ref["dim"].asInt();
    std::vector<int64_t> sizes = arg >= 0 && arg < k.meta.fixedArguments
                                     ? argumentSizes(stage, arg, chosen)
                                     : std::vector<int64_t>{};
    if (dim < 0 || dim >= static_cast<int64_t>(sizes.size()))
      die(kUsage, "metadata: " + k.path + ".json: grid entry " +
                      std::to_string(i) + " reads dimension " +
                      std::to_string(dim) + " of argument " +
                      std::to_string(arg) +
                      ", which is not a tensor of the "
                      "split-KV kernel's");
    return sizes[dim];
  };
  int64_t value = size(g);
  if (g.has("ceildiv")) {
    int64_t by = g["ceildiv"].asInt();
    if (by < 1)
      die(kUsage, "metadata: " + k.path + ".json: \"ceildiv\" must be >= 1");
    value = ceilDiv(value, by);
  }
  if (g.has("times"))
    value *= size(g["times"]);
  int64_t limit = i == 0 ? std::numeric_limits<int32_t>::max() : 65535;
  if (value < 1 || value > limit)
    die(kUsage, k.path + ": grid dimension " + std::to_string(i) + " is " +
                    std::to_string(value) + " blocks (1 to " +
                    std::to_string(limit) + " allowed)");
  return static_cast<unsigned>(value);
}

void SplitKVPair::load(CUdevice device, int smemOptin) {
  if (!haveProblem)
    die(kUsage, "internal: the split-KV pair was loaded before its problem");
  for (Kernel &k : kernels) {
    CUmodule module;
    check(cuda.cuModuleLoadData(&module, k.image.data()), "cuModuleLoadData");
    std::string name = k.meta.json["kernel"].asString();
    check(cuda.cuModuleGetFunction(&k.function, module, name.c_str()),
          "cuModuleGetFunction");
    k.smem = k.meta.json["dynamic_shared_memory"].asInt();
    if (k.smem < 0 || k.smem > smemOptin)
      die(kUsage, name + " needs " + std::to_string(k.smem) +
                      " bytes of shared memory; this GPU allows " +
                      std::to_string(smemOptin));
    check(cuda.cuFuncSetAttribute(k.function, kFuncAttrMaxDynamicShared,
                                  static_cast<int>(k.smem)),
          "cuFuncSetAttribute");
    k.threads = k.meta.threads();
  }

  // S: fixed by the compiler, else --kv-splits, else the rule.
  const KernelMetadata &meta = kernels[0].meta;
  const Problem &p = problem;
  if (meta.splits)
    chosen = meta.splits;
  else if (requested)
    chosen = requested;
  else {
    if (meta.splitRule != fa::kKVSplitRule)
      die(kUsage, "the kernels choose the split count by rule '" +
                      meta.splitRule +
                      "', which this fa-runner does not "
                      "know (it knows " +
                      fa::kKVSplitRule + "); pass --kv-splits N");
    int multiprocessors = 0, resident = 0;
    check(cuda.cuDeviceGetAttribute(&multiprocessors, kAttrMultiprocessors,
                                    device),
          "cuDeviceGetAttribute");
    check(cuda.cuOccupancyMaxActiveBlocksPerMultiprocessor(
              &resident, kernels[0].function,
              static_cast<int>(kernels[0].threads),
              static_cast<size_t>(kernels[0].smem)),
          "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    // A packed tile holds the query heads of one key/value head.
    int64_t tiles = packedHeads > 1
                        ? p.B * p.Hkv * ceilDiv(p.Nq, blockM / packedHeads)
                        : p.B * p.Hq * ceilDiv(p.Nq, blockM);
    // (A paged cache: its sequences have at most max_pages * page_size
    // keys.)
    int64_t blocks = ceilDiv(pageSize ? maxPages * pageSize : p.Nk, blockN);
    int64_t slots = int64_t(multiprocessors) * resident;
    chosen = fa::chooseKVSplits(tiles, blocks, slots, meta.maxSplits);
  }
  if (chosen < 1 || chosen > meta.maxSplits)
    die(kUsage, "split count " + std::to_string(chosen) + " is outside [1, " +
                    std::to_string(meta.maxSplits) + "]");
  checkShapes(chosen);
  for (int s = 0; s < 2; ++s)
    for (int i = 0; i < 3; ++i)
      kernels[s].grid[i] = gridDim(s, i);

  // The scratch, uninitialized by contract: poisoned (0xff bytes are NaN in
  // f32) so that a read of an element the partial kernel did not write
  // shows in O.
  size_t rows = size_t(chosen) * p.B * p.Hq * p.Nq;
  partialO = std::make_unique<DeviceBuffer>(rows * p.D * 4);
  partialLse = std::make_unique<DeviceBuffer>(rows * 4);
  for (DeviceBuffer *b : {partialO.get(), partialLse.get()})
    check(cuda.cuMemsetD8_v2(b->ptr, 0xff, b->bytes), "cuMemsetD8");
}

void SplitKVPair::launch(const MemrefArg &q, const MemrefArg &k,
                         const MemrefArg &v, const MemrefArg &o,
                         const MemrefArg *lse,
                         const std::vector<MemrefArg> &trailing,
                         std::vector<CUtensorMap> &maps) {
  const Problem &p = problem;
  int64_t S = chosen;
  MemrefArg partials[2] = {
      {partialO->ptr,
       {S, p.B, p.Hq, p.Nq, p.D},
       {p.B * p.Hq * p.Nq * p.D, p.Hq * p.Nq * p.D, p.Nq * p.D, p.D, 1}},
      {partialLse->ptr,
       {S, p.B, p.Hq, p.Nq},
       {p.B * p.Hq * p.Nq, p.Hq * p.Nq, p.Nq, 1}}};
  std::vector<const MemrefArg *> args[2] = {
      {&q, &k, &v, &partials[0], &partials[1]},
      {&partials[0], &partials[1], &o}};
  for (const MemrefArg &a : trailing)
    args[0].push_back(&a);
  if (kernels[1].meta.lse) {
    if (!lse)
      die(kUsage, "internal: the combine kernel writes the LSE but no LSE "
                  "buffer was given");
    args[1].push_back(lse);
  }
  for (int s = 0; s < 2; ++s) {
    // One expanded memref descriptor per argument, then (partial) the
    // tensor maps by value.
    std::vector<int64_t> storage;
    for (const MemrefArg *a : args[s]) {
      storage.push_back(static_cast<int64_t>(a->ptr));
      storage.push_back(static_cast<int64_t>(a->ptr));
      storage.push_back(0);
      storage.insert(storage.end(), a->sizes.begin(), a->sizes.end());
      storage.insert(storage.end(), a->strides.begin(), a->strides.end());
    }
    std::vector<void *> params;
    for (int64_t &x : storage)
      params.push_back(&x);
    if (s == 0)
      for (CUtensorMap &map : maps)
        params.push_back(&map);
    const Kernel &kn = kernels[s];
    check(cuda.cuLaunchKernel(kn.function, kn.grid[0], kn.grid[1], kn.grid[2],
                              kn.threads, 1, 1, static_cast<unsigned>(kn.smem),
                              nullptr, params.data(), nullptr),
          s == 0 ? "cuLaunchKernel (split-KV partial)"
                 : "cuLaunchKernel (split-KV combine)");
  }
}

} // namespace fa_runner
