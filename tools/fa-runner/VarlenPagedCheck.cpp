//===- VarlenPagedCheck.cpp - Inputs and references of varlen-paged runs --===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The inputs of a varlen-paged run (VarlenPaged.h): the queries packed as
// a varlen run packs them (packQueries), the keys and values in the pool as
// a paged run puts them (fillPools); --reference-only and --dump-inputs.
// The checks of a launch are the varlen ones (checkVarlenOnCpu/OnGpu), on
// each sequence's keys gathered through the table.
//
//===----------------------------------------------------------------------===//

#include "CpuCheck.h"
#include "Support.h"
#include "VarlenPaged.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace fa_runner {

VarlenPagedProblem makeVarlenPagedProblem(const Problem &base,
                                          const std::vector<int32_t> &cuQ,
                                          int64_t tokensQ,
                                          const PageTable &pages,
                                          const Options &opt) {
  VarlenPagedProblem vpp;
  std::vector<int64_t> keys(pages.cacheSeqlens.begin(),
                            pages.cacheSeqlens.end());
  vpp.packed = packQueries(base, cuQ, tokensQ, keys, opt);
  vpp.pages = pages;
  std::vector<SequenceKeys> seqs;
  for (VarlenSequence &s : vpp.packed.seqs)
    seqs.push_back({&s.p, &s.in});
  fillPools(pages, seqs, base.Hkv, base.D, vpp.k, vpp.v);
  return vpp;
}

int varlenPagedReferenceOnly(const VarlenPagedProblem &vpp,
                             const KernelMetadata &meta, const Options &opt,
                             ModEvaluator *mods) {
  const VarlenProblem &vp = vpp.packed;
  const Problem &base = vp.base;
  int64_t B = static_cast<int64_t>(vp.seqs.size()), Hq = base.Hq;
  int64_t cols = printedCols(opt, base.D);
  auto row = [&](int64_t b, int64_t h, int64_t i) {
    // The regions see the sequence's index as the batch index.
    return evaluateRow(vp.seqs[b].p, vp.seqs[b].in, mods, 0, h, i, b);
  };
  for (const auto &r : opt.printRows)
    if (r[0] >= B || r[1] >= Hq || r[2] >= vp.seqs[r[0]].p.Nq)
      die(kUsage,
          "--print-rows " + std::to_string(r[0]) + ":" + std::to_string(r[1]) +
              ":" + std::to_string(r[2]) + " is outside B=" +
              std::to_string(B) + " Hq=" + std::to_string(Hq) +
              (r[0] < B ? " (sequence " + std::to_string(r[0]) + " has " +
                              std::to_string(vp.seqs[r[0]].p.Nq) + " queries)"
                        : std::string()));
  for (const auto &r : opt.printRows)
    printReferenceRow(r[0], r[1], r[2], row(r[0], r[1], r[2]), cols);
  for (int64_t b = 0; b < B && opt.printAllRows; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < vp.seqs[b].p.Nq; ++i)
        printReferenceRow(b, h, i, row(b, h, i), cols);

  bool small = isSmallVarlen(vp, meta, opt);
  std::vector<std::array<int64_t, 3>> rows = pickVarlenRows(vp, opt, small);
  ReferenceSums sums;
  for (const auto &[b, h, i] : rows)
    sums.add(row(b, h, i), base.D);
  std::printf(
      "REFERENCE %s B=%lld Hq=%lld Hkv=%lld Tq=%lld max_seqlen_q=%lld "
      "Nk=%lld D=%lld causal=%s layout=varlen-paged gap=%lld %s mods=%s "
      "captures=%zu: rows=%zu empty_rows=%lld kept_pairs=%lld "
      "baseline_err=%.3e ref=%s\n",
      meta.dtype.c_str(), (long long)B, (long long)Hq, (long long)base.Hkv,
      (long long)vp.tokensQ, (long long)vpp.maxSeqlenQ,
      (long long)vpp.pages.longest(), (long long)base.D, meta.causal.c_str(),
      (long long)vpp.gap, vpp.pages.sizesText().c_str(), modsName(meta).c_str(),
      meta.captures.size(), rows.size(), (long long)sums.emptyRows,
      (long long)sums.keptPairs, sums.maxBase, small ? "cpu" : "cpu-sampled");
  return kPass;
}

void dumpVarlenPagedInputs(const std::string &dir,
                           const VarlenPagedProblem &vpp,
                           const std::vector<HostCapture> &captures) {
  dumpPagedInputs(dir, vpp.packed.q, vpp.pages, vpp.k, vpp.v, captures);
  const std::vector<int32_t> &cu = vpp.packed.cuQ;
  dumpFile(dir, "cu_seqlens_q", cu.data(), cu.size() * 4);
}

} // namespace fa_runner
