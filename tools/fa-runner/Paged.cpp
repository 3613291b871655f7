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
#include <array>
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
  if (opt.varlen())
    die(kUsage, "--seqlens-q, --seqlens-k, --max-seqlen-q and --gap go with "
                "a varlen kernel; " +
                    opt.prefix +
                    ".json is a paged kernel (use --cache-seqlens and "
                    "--nq)");
  bool sized = !opt.cacheSeqlens.empty();
  bool sizesRequired = checkSequenceFlags(
      opt, meta,
      {"a paged kernel", opt.batch >= 0 || opt.kvLength >= 0,
       "--batch and --nk", "--cache-seqlens gives its sequences' key counts",
       "Q and O are [B, Hq, Nq, D], K and V pages [num_pages, page_size, "
       "Hkv, D]",
       sized,
       "--cache-seqlens (one key count per sequence, e.g. --cache-seqlens "
       "5,0,300) and --nq"});

  Problem base = sequenceBase(meta, /*bshd=*/false);
  resolveHeads(base, opt, meta, 2, sizesRequired);
  base.Nq = resolveSize(opt.qLength, meta.qShape[2], "query length", "--nq",
                        sizesRequired);
  // (A split pair's argument 3 is partial_o, [S, B, Hq, Nq, Dv], which
  // SplitKVPair checks against o.)
  std::vector<std::array<int64_t, 2>> headDims = {{0, 3}, {1, 3}, {2, 3}};
  if (!split)
    headDims.push_back({3, 3});
  checkHeadDims(meta, base.D, headDims);
  int64_t B = static_cast<int64_t>(opt.cacheSeqlens.size()), longestK = 0;
  for (int64_t n : opt.cacheSeqlens)
    longestK = std::max(longestK, n);
  // Static sizes: B (q, the table, the lengths), the pool and the table's
  // width.
  for (int64_t staticB :
       {meta.qShape[0], argumentSize(meta, meta.blockTable, 0),
        argumentSize(meta, meta.cacheSeqlens, 0)})
    if (sized)
      resolveSize(B, staticB, "batch", "--cache-seqlens (its count)", false);
  int64_t numPages = resolveSize(opt.numPages, meta.kShape[0], "num_pages",
                                 "--num-pages", false);
  int64_t maxPages =
      resolveSize(opt.maxPages, argumentSize(meta, meta.blockTable, 1),
                  "max_pages", "--max-pages", false);

  // Captures: B sequences, Nq queries each, Nk the longest cache.
  const char *heads = "--hq / --hkv", *lengths = "--cache-seqlens";
  HostCaptures host(meta.captures, opt.captures,
                    sizesOfSymbols({{"B", sized ? B : -1, lengths},
                                    {"Hq", base.Hq, heads},
                                    {"Hkv", base.Hkv, heads},
                                    {"Nq", base.Nq, "--nq"},
                                    {"Nk", sized ? longestK : -1, lengths}},
                                   "a paged kernel"),
                    opt.seed, meta.scoreMod.get(), meta.maskMod.get());
  if (evaluateOnly(opt, host))
    return kPass;

  checkHeads(base);
  if (base.Nq == 0)
    die(kUsage, "empty problem: the query length (--nq) must be > 0");
  int64_t Hq = base.Hq, Hkv = base.Hkv, Nq = base.Nq, D = base.D;

  // The table, checked as a serving runtime checks it before a launch.
  PageTable pages =
      checkedPageTable(opt, meta.pageSize, Hkv, D, numPages, maxPages);
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
  SequenceRun run;
  run.split = split;
  run.args = {{0, {B, Hq, Nq, D}, {Hq * Nq * D, Nq * D, D, 1}},
              {0, {P, S, Hkv, D}, {S * Hkv * D, Hkv * D, D, 1}},
              {0, {P, S, Hkv, D}, {S * Hkv * D, Hkv * D, D, 1}},
              {0, {B, Hq, Nq, D}, {Hq * Nq * D, Nq * D, D, 1}}};
  if (base.lse)
    run.args.push_back({0, {B, Hq, Nq}, {Hq * Nq, Nq, 1}});
  run.args.push_back({0, {B, M}, {M, 1}});
  run.args.push_back({0, {B}, {1}});
  prepareLaunch(run, opt, meta, host, -1);

  // Inputs: each sequence from its own stream, through the table.
  PagedProblem pp;
  auto makeProblem = [&] {
    pp = makePagedProblem(base, pages, opt);
    if (!opt.dumpInputs.empty())
      dumpPagedInputs(opt.dumpInputs, pp.q, pp.pages, pp.k, pp.v,
                      host.captures);
  };
  if (opt.referenceOnly) {
    makeProblem();
    return pagedReferenceOnly(pp, meta, opt, host.mods);
  }

  // (After the driver: without one, it says so before making large
  // inputs.) O and the LSE NaN: every row must be written.
  run.inputs = [&] {
    makeProblem();
    SequenceInputs in(pp.q, pp.k, pp.v);
    in.o.assign(pp.q.size(), kNaN16);
    in.lse.assign(base.lse ? B * Hq * Nq : 0, 0xffffffffu);
    in.indices = {&pages.table, &pages.cacheSeqlens};
    // Control: one wrong element in the last row (which every check reads).
    in.perturbAt = static_cast<int64_t>(in.o.size()) - D / 2;
    return in;
  };
  // The kernel's inputs: the pool, the table and the lengths.
  run.unchanged = SequenceRun::kKeysAndIndices;
  run.small = [&] { return isSmallPaged(pp, meta, opt); };
  run.gpuCheck = [&](const DeviceOperands &d,
                     const std::vector<ModCapture> &captures,
                     CheckStats &stats) {
    checkPagedOnGpu(pp, d[0], d[3], d[4], meta, captures, stats);
  };
  run.cpuCheck = [&](bool small, const std::vector<uint16_t> &out,
                     const std::vector<float> &lse, CheckStats &stats) {
    checkPagedOnCpu(pp, opt, host.mods, small, out, lse, stats);
  };
  run.flops = [&] { return keptPairFlops(pp.seqs, Hq, D); };

  int64_t keys = 0;
  for (int64_t n : opt.cacheSeqlens)
    keys += n;
  run.sizesJson = strprintf("\"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, \"Nq\": "
                            "%lld, \"Nk\": %lld, \"keys\": %lld, \"D\": %lld, "
                            "\"causal\": \"%s\", \"layout\": \"paged\", ",
                            (long long)B, (long long)Hq, (long long)Hkv,
                            (long long)Nq, (long long)longestK, (long long)keys,
                            (long long)D, meta.causal.c_str()) +
                  pages.sizesJson();
  run.sizesText =
      strprintf("B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld "
                "causal=%s layout=paged ",
                (long long)B, (long long)Hq, (long long)Hkv, (long long)Nq,
                (long long)longestK, (long long)D, meta.causal.c_str()) +
      pages.sizesText();
  run.lineBytes = 2048;
  return runSequences(opt, meta, image, base, host, run);
}

} // namespace

int runPaged(const Options &opt, const KernelMetadata &meta,
             const std::string &image, SplitKVPair *split) {
  return run(opt, meta, image, split);
}

} // namespace fa_runner
