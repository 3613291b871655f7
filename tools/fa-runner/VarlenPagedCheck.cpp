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
  int64_t cols = opt.printCols < 0 ? base.D : std::min(opt.printCols, base.D);
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
  int64_t emptyRows = 0, keptPairs = 0, longest = 0;
  double maxBase = 0;
  for (const auto &[b, h, i] : rows) {
    RowResult res = row(b, h, i);
    emptyRows += res.empty;
    keptPairs += res.kept;
    for (int64_t d = 0; d < base.D; ++d)
      maxBase = std::max(maxBase, std::fabs(res.base[d] - res.out[d]));
  }
  for (int32_t n : vpp.pages.cacheSeqlens)
    longest = std::max<int64_t>(longest, n);
  std::printf(
      "REFERENCE %s B=%lld Hq=%lld Hkv=%lld Tq=%lld max_seqlen_q=%lld "
      "Nk=%lld D=%lld causal=%s layout=varlen-paged gap=%lld page_size=%lld "
      "num_pages=%lld max_pages=%lld order=%s%s mods=%s captures=%zu: "
      "rows=%zu empty_rows=%lld kept_pairs=%lld baseline_err=%.3e ref=%s\n",
      meta.dtype.c_str(), (long long)B, (long long)Hq, (long long)base.Hkv,
      (long long)vp.tokensQ, (long long)vpp.maxSeqlenQ, (long long)longest,
      (long long)base.D, meta.causal.c_str(), (long long)vpp.gap,
      (long long)vpp.pages.pageSize, (long long)vpp.pages.numPages,
      (long long)vpp.pages.maxPages, vpp.pages.order.c_str(),
      vpp.pages.shared ? " shared" : "", modsName(meta).c_str(),
      meta.captures.size(), rows.size(), (long long)emptyRows,
      (long long)keptPairs, maxBase, small ? "cpu" : "cpu-sampled");
  return kPass;
}

void dumpVarlenPagedInputs(const std::string &dir,
                           const VarlenPagedProblem &vpp,
                           const std::vector<HostCapture> &captures) {
  dumpPagedInputs(dir, vpp.packed.q, vpp.pages, vpp.k, vpp.v, captures);
  const std::vector<int32_t> &cu = vpp.packed.cuQ;
  std::string path = dir + "/cu_seqlens_q.bin";
  if (!writeFile(path, cu.data(), cu.size() * 4))
    die(kUsage, "cannot write " + path);
}

} // namespace fa_runner
