//===- Paged.cpp - Run and check a kernel of a paged KV cache -------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Paged.h"
#include "Captures.h"
#include "CpuCheck.h"
#include "Launch.h"
#include "SplitKV.h"
#include "Support.h"

#include <algorithm>
#include <cstdio>
#include <new>

namespace fa_runner {

void notPaged(const std::string &what, const char *use) {
  die(kUsage, "--cache-seqlens, --num-pages, --page-order, --share-pages, "
              "--max-pages and --block-table go with a paged kernel "
              "(fa.attention ... paged(...)); " +
                  what + " (" + use + ")");
}

namespace {

/// 0xffff is NaN in bf16 and f16, 0xffffffff in f32 (the poison of rows
/// the kernel must write).
constexpr uint16_t kNaN16 = 0xffff;

int run(const Options &opt, const KernelMetadata &meta,
        const std::string &image, SplitKVPair *split) {
  const std::string kernelFile = opt.prefix + ".json";
  if (opt.varlen())
    die(kUsage, "--seqlens-q, --seqlens-k, --max-seqlen-q and --gap go with "
                "a varlen kernel; " +
                    kernelFile +
                    " is a paged kernel (use --cache-seqlens and "
                    "--nq)");
  if (opt.batch >= 0 || opt.kvLength >= 0)
    die(kUsage, "--batch and --nk do not apply to a paged kernel (" +
                    kernelFile +
                    "): --cache-seqlens gives its sequences' key counts");
  if (opt.layout != "bhsd")
    die(kUsage, "--layout " + opt.layout +
                    " does not apply to a paged kernel (" + kernelFile +
                    "): Q and O are [B, Hq, Nq, D], K and V pages [num_pages, "
                    "page_size, Hkv, D]");
  // --eval alone needs sizes only where a capture's SHAPE names them.
  bool sizesRequired = opt.runsKernel() || opt.referenceOnly;
  bool sized = !opt.cacheSeqlens.empty();
  if (!sized && sizesRequired)
    die(kUsage, kernelFile +
                    " is a paged kernel: pass --cache-seqlens (one key count "
                    "per sequence, e.g. --cache-seqlens 5,0,300) and --nq");
  if (!meta.uncheckable.empty() &&
      ((opt.check && opt.runsKernel()) || opt.referenceOnly))
    die(kUsage,
        "cannot check this kernel: " + meta.uncheckable +
            (opt.runsKernel() ? "; pass --no-check to run it unchecked" : ""));

  const Json &args0 = meta.json["arguments"];
  auto shape = [&](int64_t argument, size_t dim) {
    return args0.array[argument]["shape"].array[dim].asInt();
  };
  Problem base = sequenceBase(meta, /*bshd=*/false);
  base.Hq = resolveSize(opt.qHeads, meta.qShape[1], "query heads", "--hq",
                        sizesRequired);
  base.Hkv = resolveSize(opt.kvHeads, meta.kShape[2], "key/value heads",
                         "--hkv", sizesRequired);
  base.Nq = resolveSize(opt.qLength, meta.qShape[2], "query length", "--nq",
                        sizesRequired);
  // (A split pair's argument 3 is partial_o, [S, B, Hq, Nq, Dv], which
  // SplitKVPair checks against o.)
  for (int64_t a = 0; a < (split ? 3 : 4); ++a)
    if (shape(a, 3) >= 0 && shape(a, 3) != base.D)
      die(kUsage, "metadata: " + args0.array[a]["name"].string +
                      "'s head dim differs from \"head_dim\"");
  int64_t B = static_cast<int64_t>(opt.cacheSeqlens.size()), longestK = 0;
  for (int64_t n : opt.cacheSeqlens)
    longestK = std::max(longestK, n);
  // Static sizes: B (q, the table, the lengths), the pool and the table's
  // width.
  for (int64_t staticB :
       {meta.qShape[0], shape(meta.blockTable, 0), shape(meta.cacheSeqlens, 0)})
    if (sized)
      resolveSize(B, staticB, "batch", "--cache-seqlens (its count)", false);
  int64_t numPages = resolveSize(opt.numPages, meta.kShape[0], "num_pages",
                                 "--num-pages", false);
  int64_t maxPages = resolveSize(opt.maxPages, shape(meta.blockTable, 1),
                                 "max_pages", "--max-pages", false);

  // Captures: B sequences, Nq queries each, Nk the longest cache.
  SizeOfSymbol sizeOf = [&](const std::string &symbol) -> int64_t {
    struct {
      const char *name;
      int64_t value;
    } sizes[] = {{"B", sized ? B : -1},
                 {"Hq", base.Hq},
                 {"Hkv", base.Hkv},
                 {"Nq", base.Nq},
                 {"Nk", sized ? longestK : -1}};
    for (const auto &s : sizes)
      if (symbol == s.name) {
        if (s.value < 0)
          die(kUsage, "a --capture shape uses " + symbol +
                          ", which is unknown here; pass " +
                          (symbol[0] == 'H' ? "--hq / --hkv"
                           : symbol == "Nq" ? "--nq"
                                            : "--cache-seqlens"));
        return s.value;
      }
    die(kUsage, "unknown size symbol " + symbol +
                    " (a paged kernel knows B, Hq, Hkv, Nq, Nk)");
  };
  std::vector<HostCapture> captures =
      makeCaptures(meta.captures, opt.captures, sizeOf, opt.seed);
  std::vector<ModCapture> hostViews;
  for (const HostCapture &c : captures)
    hostViews.push_back(c.view(c.bytes.data()));
  ModEvaluator evaluator(meta.scoreMod.get(), meta.maskMod.get(), hostViews);
  ModEvaluator *mods = meta.hasMods() ? &evaluator : nullptr;
  for (const std::string &spec : opt.evals)
    evalCommand(spec, evaluator);
  if (!opt.evals.empty() && !opt.referenceOnly)
    return kPass;

  checkHeads(base);
  if (base.Nq == 0)
    die(kUsage, "empty problem: the query length (--nq) must be > 0");
  int64_t Hq = base.Hq, Hkv = base.Hkv, Nq = base.Nq, D = base.D;

  // The table, checked as a serving runtime checks it before a launch.
  PageTable pages =
      makePageTable(opt, meta.pageSize, 2 * Hkv * D * 2, numPages, maxPages);
  if (std::string error =
          checkPagedInputs(pages.table, pages.maxPages, pages.cacheSeqlens,
                           pages.numPages, pages.pageSize);
      !error.empty())
    die(kUsage, "bad paged input: " + error);
  int64_t S = pages.pageSize, M = pages.maxPages, P = pages.numPages;

  // Split-KV: the partial and combine kernels' sizes, from the same
  // sequences.
  if (split) {
    split->setPages(P, S, M);
    Problem sizes = base;
    sizes.B = B;
    sizes.Nk = longestK;
    split->checkProblem(sizes);
  }

  // The kernel's arguments (pointers come with the buffers), contiguous.
  std::vector<LaunchArg> args = {
      {0, {B, Hq, Nq, D}, {Hq * Nq * D, Nq * D, D, 1}},
      {0, {P, S, Hkv, D}, {S * Hkv * D, Hkv * D, D, 1}},
      {0, {P, S, Hkv, D}, {S * Hkv * D, Hkv * D, D, 1}},
      {0, {B, Hq, Nq, D}, {Hq * Nq * D, Nq * D, D, 1}}};
  if (base.lse)
    args.push_back({0, {B, Hq, Nq}, {Hq * Nq, Nq, 1}});
  args.push_back({0, {B, M}, {M, 1}});
  args.push_back({0, {B}, {1}});
  for (const HostCapture &c : captures)
    args.push_back({0, c.shape, c.strides});
  unsigned grid[3] = {0, 0, 0};
  if (!split) { // (a split pair sizes its own grids)
    gridOf(meta.json["grid"], args, -1, grid);
    checkTensorMaps(meta, args);
  } else if (!meta.tensorMaps.empty()) {
    die(kUsage, "metadata: the paged split-KV partial kernel of " + opt.prefix +
                    " takes tensor maps, which fa-runner does not build for "
                    "paged caches (mma-sync kernels take none)");
  }

  // Whether the GPU reference can check this kernel (--reference gpu
  // insists before any GPU work).
  std::string gpuReferenceWhyNot = sequenceGpuReferenceWhyNot(meta, opt);

  if (opt.referenceOnly) {
    PagedProblem pp = makePagedProblem(base, pages, opt);
    if (!opt.dumpInputs.empty())
      dumpPagedInputs(opt.dumpInputs, pp.q, pp.pages, pp.k, pp.v, captures);
    return pagedReferenceOnly(pp, meta, opt, mods);
  }

  // The driver first: without one, say so before making large inputs.
  LoadedKernel kernel;
  if (split) {
    int smemOptin = 0;
    kernel = openDevice(smemOptin);
    split->load(kernel.device, smemOptin);
    kernel.name = split->kernelNames();
  } else {
    kernel = loadKernel(meta, image);
    persistentGrid(kernel, meta, grid);
  }

  // Inputs: each sequence from its own stream, through the table; O and
  // the LSE NaN (every row must be written).
  PagedProblem pp = makePagedProblem(base, pages, opt);
  if (!opt.dumpInputs.empty())
    dumpPagedInputs(opt.dumpInputs, pp.q, pp.pages, pp.k, pp.v, captures);
  std::vector<uint16_t> o0(pp.q.size(), kNaN16);
  std::vector<uint32_t> lse0(base.lse ? B * Hq * Nq : 0, 0xffffffffu);
  size_t oBytes = o0.size() * 2, lseBytes = lse0.size() * 4;
  DeviceBuffer qBuf(pp.q.data(), pp.q.size() * 2),
      kBuf(pp.k.data(), pp.k.size() * 2), vBuf(pp.v.data(), pp.v.size() * 2),
      oBuf(o0.data(), oBytes), lseBuf(lse0.data(), lseBytes),
      tableBuf(pages.table.data(), pages.table.size() * 4),
      seqlensBuf(pages.cacheSeqlens.data(), pages.cacheSeqlens.size() * 4);
  DeviceCaptures deviceCaptures(captures);
  bindArguments(args,
                {&qBuf, &kBuf, &vBuf, &oBuf, base.lse ? &lseBuf : nullptr,
                 &tableBuf, &seqlensBuf},
                deviceCaptures);
  std::unique_ptr<Launch> single;
  std::vector<CUtensorMap> noMaps;
  if (!split)
    single = std::make_unique<Launch>(kernel, meta, args, grid);
  // (A split pair: q, k, v, o, the LSE, then what follows the partial
  // LSE: the table, the lengths and the captures.)
  size_t firstTrailing = base.lse ? 5 : 4;
  std::vector<LaunchArg> trailing(args.begin() + firstTrailing, args.end());
  auto launch = [&] {
    if (!split)
      return (*single)();
    split->launch(args[0], args[1], args[2], args[3],
                  base.lse ? &args[4] : nullptr, trailing, noMaps);
  };
  launch();
  check(cuda.cuCtxSynchronize(), "kernel execution");

  // --- check ---------------------------------------------------------------
  bool pass = true;
  CheckStats stats;
  int64_t outsideErrors = 0, capturesWritten = 0;
  std::string referenceKind = "none";
  if (opt.check) {
    capturesWritten = countWrittenCaptures(captures, deviceCaptures);
    // The kernel's inputs: the pool, the table and the lengths.
    outsideErrors = countChanged(pp.k, kBuf) + countChanged(pp.v, vBuf) +
                    countChanged(pages.table, tableBuf) +
                    countChanged(pages.cacheSeqlens, seqlensBuf);
    // Control: one wrong element in the last row (which every check reads).
    if (opt.perturb)
      perturbElement(base, oBuf.ptr + (o0.size() - D / 2) * 2);
    bool small = isSmallPaged(pp, meta, opt);
    bool gpuReference =
        opt.reference == "gpu" ||
        (haveGpuReference() && opt.reference == "auto" && !small);
    if (!gpuReferenceWhyNot.empty())
      gpuReference = false; // a sample of rows on the CPU instead
    if (gpuReference) {
      referenceKind = "gpu";
      checkPagedOnGpu(pp, qBuf.ptr, oBuf.ptr, lseBuf.ptr, meta,
                      deviceCaptures.views, stats);
    } else {
      referenceKind = small ? "cpu" : "cpu-sampled";
      std::vector<uint16_t> out(o0.size());
      std::vector<float> lse(lse0.size());
      check(cuda.cuMemcpyDtoH_v2(out.data(), oBuf.ptr, oBytes), "cuMemcpyDtoH");
      if (base.lse)
        check(cuda.cuMemcpyDtoH_v2(lse.data(), lseBuf.ptr, lseBytes),
              "cuMemcpyDtoH");
      checkPagedOnCpu(pp, opt, mods, small, out, lse, stats);
    }
    pass = sequencesPass(stats, outsideErrors, capturesWritten);
  }

  // --- bench ---------------------------------------------------------------
  double medianMs = 0, tflops = 0;
  int64_t keys = 0;
  for (int64_t n : opt.cacheSeqlens)
    keys += n;
  if (opt.bench) {
    medianMs = medianLaunchMs(opt, [&] { launch(); });
    // The (query, key) pairs the causal mask keeps, of every sequence (a
    // mask_mod's skipped pairs are counted).
    double pairs = 0;
    for (const PagedSequence &s : pp.seqs)
      for (int64_t i = 0; i < Nq; ++i)
        pairs += double(s.p.visibleEnd(i));
    double flops = 4.0 * Hq * pairs * D;
    tflops = medianMs > 0 ? flops / (medianMs * 1e-3) / 1e12 : 0;
  }

  const char *verdict = !opt.check ? "UNCHECKED" : pass ? "PASS" : "FAIL";
  std::string modsText =
      meta.hasMods() || !meta.captures.empty()
          ? modsName(meta) + " captures=" + std::to_string(meta.captures.size())
          : "";
  std::string splitsText;
  if (split)
    splitsText = (opt.json ? ", \"kv_splits\": " : " kv_splits=") +
                 std::to_string(split->splits());
  char line[2048];
  if (opt.json)
    std::snprintf(
        line, sizeof(line),
        "{\"verdict\": \"%s\", \"kernel\": \"%s\", \"device\": \"%s\", "
        "\"dtype\": \"%s\", \"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, "
        "\"Nq\": %lld, \"Nk\": %lld, \"keys\": %lld, \"D\": %lld, \"causal\": "
        "\"%s\", \"layout\": \"paged\", \"page_size\": %lld, \"num_pages\": "
        "%lld, \"max_pages\": %lld, \"page_order\": \"%s\", \"shared_pages\": "
        "%s, \"mode\": \"%s\", \"seed\": %llu, \"max_err\": %.3e, "
        "\"baseline_err\": %.3e, \"lse_err_over_tol\": %.3e, \"nan\": %lld, "
        "\"masked_row_errors\": %lld, \"outside_errors\": %lld, "
        "\"rows_checked\": %lld, \"reference\": \"%s\", \"median_ms\": %.4f, "
        "\"tflops\": %.1f%s%s%s%s}",
        verdict, kernel.name.c_str(), kernel.deviceName.c_str(),
        meta.dtype.c_str(), (long long)B, (long long)Hq, (long long)Hkv,
        (long long)Nq, (long long)longestK, (long long)keys, (long long)D,
        meta.causal.c_str(), (long long)S, (long long)P, (long long)M,
        pages.order.c_str(), pages.shared ? "true" : "false", opt.mode.c_str(),
        (unsigned long long)opt.seed, stats.maxErr, stats.maxBase,
        stats.maxLseErr, (long long)stats.nanCount,
        (long long)stats.maskedRowErrors, (long long)outsideErrors,
        (long long)stats.checkedRows, referenceKind.c_str(), medianMs, tflops,
        modsText.empty() ? "" : ", \"mods\": \"", modsText.c_str(),
        modsText.empty() ? "" : "\"", splitsText.c_str());
  else
    std::snprintf(
        line, sizeof(line),
        "%s %s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld causal=%s "
        "layout=paged page_size=%lld num_pages=%lld max_pages=%lld "
        "order=%s%s mode=%s: max_err=%.3e (bound 2*%.3e) lse_err/tol=%.2f "
        "nan=%lld masked_row_errors=%lld outside_errors=%lld rows=%lld "
        "ref=%s%s%s%s",
        verdict, meta.dtype.c_str(), (long long)B, (long long)Hq,
        (long long)Hkv, (long long)Nq, (long long)longestK, (long long)D,
        meta.causal.c_str(), (long long)S, (long long)P, (long long)M,
        pages.order.c_str(), pages.shared ? " shared" : "", opt.mode.c_str(),
        stats.maxErr, stats.maxBase, stats.maxLseErr, (long long)stats.nanCount,
        (long long)stats.maskedRowErrors, (long long)outsideErrors,
        (long long)stats.checkedRows, referenceKind.c_str(),
        modsText.empty() ? "" : " mods=", modsText.c_str(), splitsText.c_str());
  std::printf("%s", line);
  if (opt.bench && !opt.json)
    std::printf(" | %.4f ms, %.1f TFLOP/s (median of %d)", medianMs, tflops,
                opt.iterations);
  std::printf("\n");
  return pass ? kPass : kWrong;
}

} // namespace

int runPaged(const Options &opt, const KernelMetadata &meta,
             const std::string &image, SplitKVPair *split) {
  try {
    return run(opt, meta, image, split);
  } catch (const std::bad_alloc &) {
    die(kUsage, "out of host memory for this problem; pass smaller sizes");
  }
}

} // namespace fa_runner
