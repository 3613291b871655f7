//===- VarlenPaged.cpp - Run and check packed queries against a paged cache
//===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "VarlenPaged.h"
#include "Captures.h"
#include "CpuCheck.h"
#include "Launch.h"
#include "Support.h"

#include <algorithm>
#include <cstdio>
#include <new>

namespace fa_runner {

namespace {

int run(const Options &opt, const KernelMetadata &meta,
        const std::string &image) {
  const std::string kernelFile = opt.prefix + ".json";
  const std::string kind =
      "a varlen kernel against a paged cache (" + kernelFile + ")";
  if (!opt.seqlensK.empty())
    die(kUsage, "--seqlens-k does not apply to " + kind +
                    ": --cache-seqlens gives its sequences' key counts (use "
                    "--seqlens-q and --cache-seqlens)");
  if (opt.batch >= 0 || opt.qLength >= 0 || opt.kvLength >= 0)
    die(kUsage, "--batch, --nq and --nk do not apply to " + kind +
                    ": --seqlens-q and --cache-seqlens give its sequences");
  if (opt.layout != "bhsd")
    die(kUsage, "--layout " + opt.layout + " does not apply to " + kind +
                    ": Q and O are packed [tokens, Hq, D], K and V pages "
                    "[num_pages, page_size, Hkv, D]");
  // --eval alone needs sizes only where a capture's SHAPE names them.
  bool sizesRequired = opt.runsKernel() || opt.referenceOnly;
  bool sized = !opt.cacheSeqlens.empty() &&
               (!opt.seqlensQ.empty() || !opt.cuSeqlensQ.empty());
  if (!sized && sizesRequired)
    die(kUsage, kernelFile +
                    " is a varlen kernel against a paged cache: pass "
                    "--seqlens-q and --cache-seqlens (one query length and "
                    "one key count per sequence, e.g. --seqlens-q 3,1,0 "
                    "--cache-seqlens 5,300,7)");
  if (!meta.uncheckable.empty() &&
      ((opt.check && opt.runsKernel()) || opt.referenceOnly))
    die(kUsage,
        "cannot check this kernel: " + meta.uncheckable +
            (opt.runsKernel() ? "; pass --no-check to run it unchecked" : ""));

  const Json &args0 = meta.json["arguments"];
  auto shape = [&](int64_t argument, size_t dim) {
    return args0.array[argument]["shape"].array[dim].asInt();
  };
  // A sequence's query rows are [n, Hq, D] and its gathered keys [nk, Hkv,
  // D] (the pool's rows): B = 1, bshd strides.
  Problem base = sequenceBase(meta, /*bshd=*/true);
  base.Hq = resolveSize(opt.qHeads, meta.qShape[1], "query heads", "--hq",
                        sizesRequired);
  base.Hkv = resolveSize(opt.kvHeads, meta.kShape[2], "key/value heads",
                         "--hkv", sizesRequired);
  // (q, o: [tokens, Hq, D]; k, v: [num_pages, page_size, Hkv, D].)
  const int64_t headDims[4][2] = {{0, 2}, {1, 3}, {2, 3}, {3, 2}};
  for (const auto &[a, dim] : headDims)
    if (shape(a, dim) >= 0 && shape(a, dim) != base.D)
      die(kUsage, "metadata: " + args0.array[a]["name"].string +
                      "'s head dim differs from \"head_dim\"");

  // The query offsets: --seqlens-q packed after --gap rows, or given; Q has
  // --gap rows after the last offset.
  int64_t B = static_cast<int64_t>(opt.cacheSeqlens.size());
  int64_t gap = std::max<int64_t>(opt.gap, 0);
  std::vector<int32_t> cuQ;
  int64_t tokensQ = -1, longestQ = 0, longestK = 0;
  if (sized) {
    cuQ = opt.cuSeqlensQ.empty() ? packOffsets(opt.seqlensQ, gap)
                                 : std::vector<int32_t>(opt.cuSeqlensQ.begin(),
                                                        opt.cuSeqlensQ.end());
    tokensQ =
        std::max<int64_t>(0, *std::max_element(cuQ.begin(), cuQ.end())) + gap;
    for (size_t b = 0; b + 1 < cuQ.size(); ++b)
      longestQ = std::max<int64_t>(longestQ, cuQ[b + 1] - cuQ[b]);
    for (int64_t n : opt.cacheSeqlens)
      longestK = std::max(longestK, n);
  }
  int64_t maxSeqlenQ = opt.maxSeqlenQ >= 0 ? opt.maxSeqlenQ : longestQ;
  // Static sizes: B (the offsets, the table, the lengths), Tq, the pool and
  // the table's width.
  int64_t staticCu = shape(meta.cuSeqlensQ, 0);
  for (int64_t staticB :
       {shape(meta.blockTable, 0), shape(meta.cacheSeqlens, 0),
        staticCu >= 0 ? staticCu - 1 : int64_t(-1)})
    if (sized)
      resolveSize(B, staticB, "batch", "--cache-seqlens (its count)", false);
  if (sized)
    resolveSize(tokensQ, meta.qShape[0], "query token rows",
                "--seqlens-q and --gap (their sum)", false);
  int64_t numPages = resolveSize(opt.numPages, meta.kShape[0], "num_pages",
                                 "--num-pages", false);
  int64_t maxPages = resolveSize(opt.maxPages, shape(meta.blockTable, 1),
                                 "max_pages", "--max-pages", false);

  // Captures: B sequences, Nq the longest query length, Nk the longest
  // cache, Tq the query token rows.
  SizeOfSymbol sizeOf = [&](const std::string &symbol) -> int64_t {
    struct {
      const char *name;
      int64_t value;
    } sizes[] = {{"B", sized ? B : -1},
                 {"Hq", base.Hq},
                 {"Hkv", base.Hkv},
                 {"Nq", sized ? longestQ : -1},
                 {"Nk", sized ? longestK : -1},
                 {"Tq", tokensQ}};
    for (const auto &s : sizes)
      if (symbol == s.name) {
        if (s.value < 0)
          die(kUsage, "a --capture shape uses " + symbol +
                          ", which is unknown here; pass " +
                          (symbol[0] == 'H' ? "--hq / --hkv"
                                            : "--seqlens-q and "
                                              "--cache-seqlens"));
        return s.value;
      }
    die(kUsage, "unknown size symbol " + symbol +
                    " (a varlen kernel against a paged cache knows B, Hq, "
                    "Hkv, Nq, Nk, Tq)");
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
  int64_t Hq = base.Hq, Hkv = base.Hkv, D = base.D;
  // The offsets and the table, checked as a serving runtime checks them
  // before a launch.
  if (std::string error = checkQueryOffsets(cuQ, B, tokensQ, maxSeqlenQ);
      !error.empty())
    die(kUsage, "bad offsets: " + error);
  PageTable pages =
      makePageTable(opt, meta.pageSize, 2 * Hkv * D * 2, numPages, maxPages);
  if (std::string error =
          checkPagedInputs(pages.table, pages.maxPages, pages.cacheSeqlens,
                           pages.numPages, pages.pageSize);
      !error.empty())
    die(kUsage, "bad paged input: " + error);
  int64_t S = pages.pageSize, M = pages.maxPages, P = pages.numPages;

  // The kernel's arguments (pointers come with the buffers), contiguous.
  std::vector<LaunchArg> args = {
      {0, {tokensQ, Hq, D}, {Hq * D, D, 1}},
      {0, {P, S, Hkv, D}, {S * Hkv * D, Hkv * D, D, 1}},
      {0, {P, S, Hkv, D}, {S * Hkv * D, Hkv * D, D, 1}},
      {0, {tokensQ, Hq, D}, {Hq * D, D, 1}}};
  if (base.lse)
    args.push_back({0, {Hq, tokensQ}, {tokensQ, 1}});
  args.push_back({0, {B + 1}, {1}});
  args.push_back({0, {B, M}, {M, 1}});
  args.push_back({0, {B}, {1}});
  for (const HostCapture &c : captures)
    args.push_back({0, c.shape, c.strides});
  unsigned grid[3];
  gridOf(meta.json["grid"], args, maxSeqlenQ, grid);
  checkTensorMaps(meta, args);
  std::string gpuReferenceWhyNot = sequenceGpuReferenceWhyNot(meta, opt);

  auto makeProblem = [&] {
    VarlenPagedProblem vpp =
        makeVarlenPagedProblem(base, cuQ, tokensQ, pages, opt);
    vpp.maxSeqlenQ = maxSeqlenQ;
    vpp.gap = gap;
    if (!opt.dumpInputs.empty())
      dumpVarlenPagedInputs(opt.dumpInputs, vpp, captures);
    return vpp;
  };
  if (opt.referenceOnly)
    return varlenPagedReferenceOnly(makeProblem(), meta, opt, mods);

  // The driver first: without one, say so before making large inputs.
  LoadedKernel kernel = loadKernel(meta, image);
  persistentGrid(kernel, meta, grid);

  // Inputs: each sequence from its own stream, its queries packed (NaN in
  // the gaps), its keys through the table; O and the LSE NaN inside the
  // sequences, the sentinel outside.
  VarlenPagedProblem vpp = makeProblem();
  const VarlenProblem &vp = vpp.packed;
  std::vector<uint16_t> o0;
  std::vector<uint32_t> lse0;
  initialOutputs(vp, o0, lse0);
  size_t oBytes = o0.size() * 2, lseBytes = lse0.size() * 4;
  DeviceBuffer qBuf(vp.q.data(), vp.q.size() * 2),
      kBuf(vpp.k.data(), vpp.k.size() * 2),
      vBuf(vpp.v.data(), vpp.v.size() * 2), oBuf(o0.data(), oBytes),
      lseBuf(lse0.data(), lseBytes), cuQBuf(cuQ.data(), cuQ.size() * 4),
      tableBuf(pages.table.data(), pages.table.size() * 4),
      seqlensBuf(pages.cacheSeqlens.data(), pages.cacheSeqlens.size() * 4);
  DeviceCaptures deviceCaptures(captures);
  bindArguments(args,
                {&qBuf, &kBuf, &vBuf, &oBuf, base.lse ? &lseBuf : nullptr,
                 &cuQBuf, &tableBuf, &seqlensBuf},
                deviceCaptures);
  Launch launch(kernel, meta, args, grid);
  launch();
  check(cuda.cuCtxSynchronize(), "kernel execution");

  // --- check ---------------------------------------------------------------
  bool pass = true;
  CheckStats stats;
  int64_t outsideErrors = 0, capturesWritten = 0;
  std::string referenceKind = "none";
  if (opt.check) {
    capturesWritten = countWrittenCaptures(captures, deviceCaptures);
    // The kernel's inputs: Q, the pool, the offsets, the table and the
    // lengths.
    outsideErrors = countChanged(vp.q, qBuf) + countChanged(vpp.k, kBuf) +
                    countChanged(vpp.v, vBuf) + countChanged(cuQ, cuQBuf) +
                    countChanged(pages.table, tableBuf) +
                    countChanged(pages.cacheSeqlens, seqlensBuf);
    // Control: one wrong element in the middle of the longest sequence.
    int64_t lb = 0;
    for (int64_t b = 0; b < B; ++b)
      if (vp.seqs[b].p.Nq > vp.seqs[lb].p.Nq)
        lb = b;
    int64_t row = cuQ[lb] + vp.seqs[lb].p.Nq / 2;
    if (opt.perturb && vp.seqs[lb].p.Nq > 0)
      perturbElement(base, oBuf.ptr + ((row * Hq + Hq / 2) * D + D / 2) * 2);
    std::vector<uint16_t> out(o0.size());
    std::vector<float> lse(lse0.size());
    check(cuda.cuMemcpyDtoH_v2(out.data(), oBuf.ptr, oBytes), "cuMemcpyDtoH");
    if (base.lse)
      check(cuda.cuMemcpyDtoH_v2(lse.data(), lseBuf.ptr, lseBytes),
            "cuMemcpyDtoH");
    // Rows outside every sequence keep their sentinel.
    outsideErrors += countOutsideErrors(vp, out, lse);
    bool small = isSmallVarlen(vp, meta, opt);
    bool gpuReference =
        opt.reference == "gpu" ||
        (haveGpuReference() && opt.reference == "auto" && !small);
    if (!gpuReferenceWhyNot.empty())
      gpuReference = false; // a sample of rows on the CPU instead
    if (gpuReference) {
      referenceKind = "gpu";
      // (k, v 0: each sequence's keys gathered through the table.)
      checkVarlenOnGpu(vp, qBuf.ptr, 0, 0, oBuf.ptr, lseBuf.ptr, meta,
                       deviceCaptures.views, stats);
    } else {
      referenceKind = small ? "cpu" : "cpu-sampled";
      checkVarlenOnCpu(vp, opt, mods, small, out, lse, stats);
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
    for (const VarlenSequence &s : vp.seqs)
      for (int64_t i = 0; i < s.p.Nq; ++i)
        pairs += double(s.p.visibleEnd(i));
    double flops = 4.0 * Hq * pairs * D;
    tflops = medianMs > 0 ? flops / (medianMs * 1e-3) / 1e12 : 0;
  }

  const char *verdict = !opt.check ? "UNCHECKED" : pass ? "PASS" : "FAIL";
  std::string modsText =
      meta.hasMods() || !meta.captures.empty()
          ? modsName(meta) + " captures=" + std::to_string(meta.captures.size())
          : "";
  char line[2048];
  if (opt.json)
    std::snprintf(
        line, sizeof(line),
        "{\"verdict\": \"%s\", \"kernel\": \"%s\", \"device\": \"%s\", "
        "\"dtype\": \"%s\", \"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, "
        "\"Tq\": %lld, \"max_seqlen_q\": %lld, \"gap\": %lld, \"Nk\": %lld, "
        "\"keys\": %lld, \"D\": %lld, \"causal\": \"%s\", \"layout\": "
        "\"varlen-paged\", \"page_size\": %lld, \"num_pages\": %lld, "
        "\"max_pages\": %lld, \"page_order\": \"%s\", \"shared_pages\": %s, "
        "\"mode\": \"%s\", \"seed\": %llu, \"max_err\": %.3e, "
        "\"baseline_err\": %.3e, \"lse_err_over_tol\": %.3e, \"nan\": %lld, "
        "\"masked_row_errors\": %lld, \"outside_errors\": %lld, "
        "\"rows_checked\": %lld, \"reference\": \"%s\", \"median_ms\": %.4f, "
        "\"tflops\": %.1f%s%s%s}",
        verdict, kernel.name.c_str(), kernel.deviceName.c_str(),
        meta.dtype.c_str(), (long long)B, (long long)Hq, (long long)Hkv,
        (long long)tokensQ, (long long)maxSeqlenQ, (long long)gap,
        (long long)longestK, (long long)keys, (long long)D, meta.causal.c_str(),
        (long long)S, (long long)P, (long long)M, pages.order.c_str(),
        pages.shared ? "true" : "false", opt.mode.c_str(),
        (unsigned long long)opt.seed, stats.maxErr, stats.maxBase,
        stats.maxLseErr, (long long)stats.nanCount,
        (long long)stats.maskedRowErrors, (long long)outsideErrors,
        (long long)stats.checkedRows, referenceKind.c_str(), medianMs, tflops,
        modsText.empty() ? "" : ", \"mods\": \"", modsText.c_str(),
        modsText.empty() ? "" : "\"");
  else
    std::snprintf(
        line, sizeof(line),
        "%s %s B=%lld Hq=%lld Hkv=%lld Tq=%lld max_seqlen_q=%lld Nk=%lld "
        "D=%lld causal=%s layout=varlen-paged gap=%lld page_size=%lld "
        "num_pages=%lld max_pages=%lld order=%s%s mode=%s: max_err=%.3e "
        "(bound 2*%.3e) lse_err/tol=%.2f nan=%lld masked_row_errors=%lld "
        "outside_errors=%lld rows=%lld ref=%s%s%s",
        verdict, meta.dtype.c_str(), (long long)B, (long long)Hq,
        (long long)Hkv, (long long)tokensQ, (long long)maxSeqlenQ,
        (long long)longestK, (long long)D, meta.causal.c_str(), (long long)gap,
        (long long)S, (long long)P, (long long)M, pages.order.c_str(),
        pages.shared ? " shared" : "", opt.mode.c_str(), stats.maxErr,
        stats.maxBase, stats.maxLseErr, (long long)stats.nanCount,
        (long long)stats.maskedRowErrors, (long long)outsideErrors,
        (long long)stats.checkedRows, referenceKind.c_str(),
        modsText.empty() ? "" : " mods=", modsText.c_str());
  std::printf("%s", line);
  if (opt.bench && !opt.json)
    std::printf(" | %.4f ms, %.1f TFLOP/s (median of %d)", medianMs, tflops,
                opt.iterations);
  std::printf("\n");
  return pass ? kPass : kWrong;
}

} // namespace

int runVarlenPaged(const Options &opt, const KernelMetadata &meta,
                   const std::string &image) {
  try {
    return run(opt, meta, image);
  } catch (const std::bad_alloc &) {
    die(kUsage, "out of host memory for this problem; pass smaller sizes");
  }
}

} // namespace fa_runner
