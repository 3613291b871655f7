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
#include <new>

namespace fa_runner {

namespace {

int run(const Options &opt, const KernelMetadata &meta,
        const std::string &image) {
  const char *kernel = "a varlen kernel against a paged cache";
  if (!opt.seqlensK.empty())
    die(kUsage, std::string("--seqlens-k does not apply to ") + kernel + " (" +
                    opt.prefix +
                    ".json): --cache-seqlens gives its sequences' key counts "
                    "(use --seqlens-q and --cache-seqlens)");
  bool sized = !opt.cacheSeqlens.empty() &&
               (!opt.seqlensQ.empty() || !opt.cuSeqlensQ.empty());
  bool sizesRequired = checkSequenceFlags(
      opt, meta,
      {kernel, opt.batch >= 0 || opt.qLength >= 0 || opt.kvLength >= 0,
       "--batch, --nq and --nk",
       "--seqlens-q and --cache-seqlens give its sequences",
       "Q and O are packed [tokens, Hq, D], K and V pages [num_pages, "
       "page_size, Hkv, D]",
       sized,
       "--seqlens-q and --cache-seqlens (one query length and one key count "
       "per sequence, e.g. --seqlens-q 3,1,0 --cache-seqlens 5,300,7)"});

  // A sequence's query rows are [n, Hq, D] and its gathered keys [nk, Hkv,
  // D] (the pool's rows): B = 1, bshd strides.
  Problem base = sequenceBase(meta, /*bshd=*/true);
  resolveHeads(base, opt, meta, 2, sizesRequired);
  // (q, o: [tokens, Hq, D]; k, v: [num_pages, page_size, Hkv, D].)
  checkHeadDims(meta, base.D, {{0, 2}, {1, 3}, {2, 3}, {3, 2}});

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
  int64_t staticCu = argumentSize(meta, meta.cuSeqlensQ, 0);
  for (int64_t staticB : {argumentSize(meta, meta.blockTable, 0),
                          argumentSize(meta, meta.cacheSeqlens, 0),
                          staticCu >= 0 ? staticCu - 1 : int64_t(-1)})
    if (sized)
      resolveSize(B, staticB, "batch", "--cache-seqlens (its count)", false);
  if (sized)
    resolveSize(tokensQ, meta.qShape[0], "query token rows",
                "--seqlens-q and --gap (their sum)", false);
  int64_t numPages = resolveSize(opt.numPages, meta.kShape[0], "num_pages",
                                 "--num-pages", false);
  int64_t maxPages =
      resolveSize(opt.maxPages, argumentSize(meta, meta.blockTable, 1),
                  "max_pages", "--max-pages", false);

  // Captures: Nk is the longest cache; no Tk (the keys are in pages).
  HostCaptures host(meta.captures, opt.captures,
                    sizesOfSymbols(sequenceSymbols(sized, B, base, longestQ,
                                                   longestK, tokensQ,
                                                   /*tokensK=*/-1,
                                                   "--seqlens-q and "
                                                   "--cache-seqlens"),
                                   kernel),
                    opt.seed, meta.scoreMod.get(), meta.maskMod.get());
  if (evaluateOnly(opt, host))
    return kPass;

  checkHeads(base);
  int64_t Hq = base.Hq, Hkv = base.Hkv, D = base.D;
  // The offsets and the table, checked as a serving runtime checks them
  // before a launch.
  if (std::string error = checkQueryOffsets(cuQ, B, tokensQ, maxSeqlenQ);
      !error.empty())
    die(kUsage, "bad offsets: " + error);
  PageTable pages =
      checkedPageTable(opt, meta.pageSize, Hkv, D, numPages, maxPages);
  int64_t S = pages.pageSize, M = pages.maxPages, P = pages.numPages;

  // The kernel's arguments (pointers come with the buffers), contiguous.
  SequenceRun run;
  run.args = {{0, {tokensQ, Hq, D}, {Hq * D, D, 1}},
              {0, {P, S, Hkv, D}, {S * Hkv * D, Hkv * D, D, 1}},
              {0, {P, S, Hkv, D}, {S * Hkv * D, Hkv * D, D, 1}},
              {0, {tokensQ, Hq, D}, {Hq * D, D, 1}}};
  if (base.lse)
    run.args.push_back({0, {Hq, tokensQ}, {tokensQ, 1}});
  run.args.push_back({0, {B + 1}, {1}});
  run.args.push_back({0, {B, M}, {M, 1}});
  run.args.push_back({0, {B}, {1}});
  prepareLaunch(run, opt, meta, host, maxSeqlenQ);

  VarlenPagedProblem vpp;
  const VarlenProblem &vp = vpp.packed;
  auto makeProblem = [&] {
    vpp = makeVarlenPagedProblem(base, cuQ, tokensQ, pages, opt);
    vpp.maxSeqlenQ = maxSeqlenQ;
    vpp.gap = gap;
    if (!opt.dumpInputs.empty())
      dumpVarlenPagedInputs(opt.dumpInputs, vpp, host.captures);
  };
  if (opt.referenceOnly) {
    makeProblem();
    return varlenPagedReferenceOnly(vpp, meta, opt, host.mods);
  }

  // Inputs (after the driver: without one, it says so before making large
  // inputs): each sequence from its own stream, its queries packed (NaN in
  // the gaps), its keys through the table; O and the LSE NaN inside the
  // sequences, the sentinel outside.
  run.inputs = [&] {
    makeProblem();
    return varlenInputs(vp, vpp.k, vpp.v,
                        {&cuQ, &pages.table, &pages.cacheSeqlens});
  };
  // The kernel's inputs: Q, the pool, the offsets, the table and the
  // lengths. (The GPU reference on each sequence's keys gathered through
  // the table.)
  run.unchanged = SequenceRun::kAll;
  checkAsVarlen(run, vp, meta, opt, host.mods, /*packedKeys=*/false);
  run.flops = [&] { return keptPairFlops(vp.seqs, Hq, D); };

  int64_t keys = 0;
  for (int64_t n : opt.cacheSeqlens)
    keys += n;
  run.sizesJson =
      strprintf(
          "\"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, \"Tq\": %lld, "
          "\"max_seqlen_q\": %lld, \"gap\": %lld, \"Nk\": %lld, \"keys\": "
          "%lld, \"D\": %lld, \"causal\": \"%s\", \"layout\": "
          "\"varlen-paged\", ",
          (long long)B, (long long)Hq, (long long)Hkv, (long long)tokensQ,
          (long long)maxSeqlenQ, (long long)gap, (long long)longestK,
          (long long)keys, (long long)D, meta.causal.c_str()) +
      pages.sizesJson();
  run.sizesText =
      strprintf("B=%lld Hq=%lld Hkv=%lld Tq=%lld max_seqlen_q=%lld Nk=%lld "
                "D=%lld causal=%s layout=varlen-paged gap=%lld ",
                (long long)B, (long long)Hq, (long long)Hkv, (long long)tokensQ,
                (long long)maxSeqlenQ, (long long)longestK, (long long)D,
                meta.causal.c_str(), (long long)gap) +
      pages.sizesText();
  run.lineBytes = 2048;
  return runSequences(opt, meta, image, base, host, run);
}

} // namespace

int runVarlenPaged(const Options &opt, const KernelMetadata &meta,
                   const std::string &image) {
  return run(opt, meta, image);
}

} // namespace fa_runner
