//===- Varlen.cpp - Run and check a kernel of variable-length batches -----===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Varlen.h"
#include "Captures.h"
#include "CpuCheck.h"
#include "Launch.h"
#include "Paged.h"
#include "Support.h"

#include <algorithm>
#include <cstdio>

namespace fa_runner {

int runVarlen(const Options &opt, const KernelMetadata &meta,
              const std::string &image) {
  const std::string kernelFile = opt.prefix + ".json";
  if (opt.paged())
    notPaged(kernelFile + " is a varlen kernel",
             "use --seqlens-q and --seqlens-k");
  if (opt.referenceOnly || !opt.dumpInputs.empty())
    die(kUsage, "--reference-only and --dump-inputs take a fixed-length "
                "kernel; " +
                    kernelFile + " is a varlen kernel");
  bool sized = !opt.seqlensQ.empty();
  bool sizesRequired = checkSequenceFlags(
      opt, meta,
      {"a varlen kernel",
       opt.batch >= 0 || opt.qLength >= 0 || opt.kvLength >= 0,
       "--batch, --nq and --nk",
       "--seqlens-q and --seqlens-k give its sequences",
       "its operands are packed [tokens, heads, head dim]", sized,
       "--seqlens-q and --seqlens-k (one length each per sequence, e.g. "
       "--seqlens-q 5,0,1 --seqlens-k 9,3,0)"});

  // A sequence's rows are [n, H, D]: B = 1, bshd strides.
  Problem base = sequenceBase(meta, /*bshd=*/true);
  resolveHeads(base, opt, meta, 1, sizesRequired);
  checkHeadDims(meta, base.D, {{0, 2}});
  int64_t B = static_cast<int64_t>(opt.seqlensQ.size());
  int64_t gap = std::max<int64_t>(opt.gap, 0);
  int64_t longestQ = 0, longestK = 0;
  for (int64_t b = 0; b < B; ++b) {
    longestQ = std::max(longestQ, opt.seqlensQ[b]);
    longestK = std::max(longestK, opt.seqlensK[b]);
  }
  int64_t maxSeqlenQ = opt.maxSeqlenQ >= 0 ? opt.maxSeqlenQ : longestQ;
  std::vector<int32_t> cuQ, cuK;
  int64_t tokensQ = -1, tokensK = -1;
  if (sized) {
    cuQ = packOffsets(opt.seqlensQ, gap);
    cuK = packOffsets(opt.seqlensK, gap);
    tokensQ = cuQ.back() + gap;
    tokensK = cuK.back() + gap;
  }

  HostCaptures host(meta.captures, opt.captures,
                    sizesOfSymbols(sequenceSymbols(sized, B, base, longestQ,
                                                   longestK, tokensQ, tokensK,
                                                   "--seqlens-q and "
                                                   "--seqlens-k"),
                                   "a varlen kernel"),
                    opt.seed, meta.scoreMod.get(), meta.maskMod.get());
  if (evaluateOnly(opt, host))
    return kPass;

  checkHeads(base);
  int64_t Hq = base.Hq, Hkv = base.Hkv, D = base.D;
  if (std::string error = checkOffsets(cuQ, cuK, tokensQ, tokensK, maxSeqlenQ);
      !error.empty())
    die(kUsage, "bad offsets: " + error);

  // The kernel's arguments (pointers come with the buffers), contiguous.
  SequenceRun run;
  run.args = {{0, {tokensQ, Hq, D}, {Hq * D, D, 1}},
              {0, {tokensK, Hkv, D}, {Hkv * D, D, 1}},
              {0, {tokensK, Hkv, D}, {Hkv * D, D, 1}},
              {0, {tokensQ, Hq, D}, {Hq * D, D, 1}}};
  if (base.lse)
    run.args.push_back({0, {Hq, tokensQ}, {tokensQ, 1}});
  run.args.push_back({0, {B + 1}, {1}});
  run.args.push_back({0, {B + 1}, {1}});
  prepareLaunch(run, opt, meta, host, maxSeqlenQ);

  // Inputs: each sequence from its own stream; NaN in the gaps. O and the
  // LSE: NaN inside the sequences, the sentinel outside.
  VarlenProblem vp = makeVarlenProblem(base, opt);
  SequenceInputs in = varlenInputs(vp, vp.k, vp.v, {&cuQ, &cuK});
  run.inputs = [&] { return std::move(in); };
  checkAsVarlen(run, vp, meta, opt, host.mods, /*packedKeys=*/true);
  run.flops = [&] {
    double flops = 0; // dense (or causal) work of every sequence
    for (const VarlenSequence &s : vp.seqs)
      flops += 4.0 * Hq * double(s.p.Nq) * double(s.p.Nk) * D;
    return base.causal ? flops / 2 : flops;
  };

  run.sizesJson = strprintf(
      "\"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, \"Tq\": %lld, \"Tk\": %lld, "
      "\"max_seqlen_q\": %lld, \"gap\": %lld, \"D\": %lld, \"causal\": "
      "\"%s\", \"layout\": \"varlen\"",
      (long long)B, (long long)Hq, (long long)Hkv, (long long)tokensQ,
      (long long)tokensK, (long long)maxSeqlenQ, (long long)gap, (long long)D,
      meta.causal.c_str());
  run.sizesText = strprintf(
      "B=%lld Hq=%lld Hkv=%lld Tq=%lld Tk=%lld max_seqlen_q=%lld D=%lld "
      "causal=%s layout=varlen gap=%lld",
      (long long)B, (long long)Hq, (long long)Hkv, (long long)tokensQ,
      (long long)tokensK, (long long)maxSeqlenQ, (long long)D,
      meta.causal.c_str(), (long long)gap);
  run.lineBytes = 1536;
  return runSequences(opt, meta, image, base, host, run);
}

std::vector<SizeSymbol> sequenceSymbols(bool sized, int64_t B,
                                        const Problem &base, int64_t longestQ,
                                        int64_t longestK, int64_t tokensQ,
                                        int64_t tokensK, const char *lengths) {
  const char *heads = "--hq / --hkv";
  std::vector<SizeSymbol> symbols{{"B", sized ? B : -1, lengths},
                                  {"Hq", base.Hq, heads},
                                  {"Hkv", base.Hkv, heads},
                                  {"Nq", sized ? longestQ : -1, lengths},
                                  {"Nk", sized ? longestK : -1, lengths},
                                  {"Tq", tokensQ, lengths}};
  if (tokensK >= 0)
    symbols.push_back({"Tk", tokensK, lengths});
  return symbols;
}

} // namespace fa_runner
