//===- PagedCheck.cpp - Tables, inputs and references of a paged cache ----===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The block table of a paged run and its checks (Paged.h): the table,
// generated or given, checked as a serving runtime checks it; the pool
// filled through it; each sequence checked as a [1, H, Nq, D] problem of
// its own, on its keys gathered through the table, by the fp64 references
// of fixed-length kernels.
//
//===----------------------------------------------------------------------===//

#include "CpuCheck.h"
#include "Paged.h"
#include "Support.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>

namespace fa_runner {

/// Dies unless the pool of `t` (K and V, `rowBytes` a row) fits the limit.
static void checkPoolSize(const PageTable &t, int64_t rowBytes) {
  checkHostBytes(double(t.numPages) * double(t.pageSize) * double(rowBytes),
                 "the pool of " + std::to_string(t.numPages) + " pages of " +
                     std::to_string(t.pageSize) + " rows",
                 "(K and V)");
}

std::string PageTable::sizesJson() const {
  return strprintf("\"page_size\": %lld, \"num_pages\": %lld, \"max_pages\": "
                   "%lld, \"page_order\": \"%s\", \"shared_pages\": %s",
                   (long long)pageSize, (long long)numPages,
                   (long long)maxPages, order.c_str(),
                   shared ? "true" : "false");
}

std::string PageTable::sizesText() const {
  return strprintf("page_size=%lld num_pages=%lld max_pages=%lld order=%s%s",
                   (long long)pageSize, (long long)numPages,
                   (long long)maxPages, order.c_str(), shared ? " shared" : "");
}

PageTable makePageTable(const Options &opt, int64_t pageSize, int64_t rowBytes,
                        int64_t numPages, int64_t maxPages) {
  PageTable t;
  t.pageSize = pageSize;
  t.cacheSeqlens.assign(opt.cacheSeqlens.begin(), opt.cacheSeqlens.end());
  int64_t B = t.batch(), longest = 0, needed = 0;
  for (int64_t b = 0; b < B; ++b) {
    longest = std::max(longest, t.pagesOf(b));
    needed += t.pagesOf(b);
  }
  if (!opt.blockTable.empty()) {
    t.order = "explicit";
    t.maxPages = static_cast<int64_t>(opt.blockTable[0].size());
    if (maxPages >= 0 && maxPages != t.maxPages)
      die(kUsage, "the kernel was compiled for max_pages = " +
                      std::to_string(maxPages) + ", but --block-table has " +
                      std::to_string(t.maxPages) + " columns");
    for (const std::vector<int64_t> &row : opt.blockTable)
      t.table.insert(t.table.end(), row.begin(), row.end());
    t.numPages = numPages >= 0 ? numPages : needed + 3;
    checkPoolSize(t, rowBytes);
    return t;
  }

  t.order = opt.pageOrder.empty() ? "random" : opt.pageOrder;
  t.shared = opt.sharePages;
  t.maxPages = maxPages >= 0 ? maxPages : longest + 1;
  if (double(B) * double(t.maxPages) > double(1 << 30))
    die(kUsage, "the block table (" + std::to_string(B) + " x " +
                    std::to_string(t.maxPages) +
                    " page ids) is too large; pass a smaller --max-pages");
  // Sequences after the first reuse sequence 0's first page.
  int64_t distinct = needed;
  for (int64_t b = 1; b < B && t.shared; ++b)
    distinct -= t.pagesOf(b) > 0;
  t.numPages = numPages >= 0 ? numPages : distinct + 3;
  if (t.numPages < distinct)
    die(kUsage, "--num-pages " + std::to_string(t.numPages) + " is below the " +
                    std::to_string(distinct) + " pages the sequences need");
  checkPoolSize(t, rowBytes);

  // The pool's pages in order, or a seeded permutation (Fisher-Yates by
  // hand: std::shuffle differs between standard libraries).
  std::vector<int32_t> ids(t.numPages);
  std::iota(ids.begin(), ids.end(), 0);
  if (t.order == "random") {
    std::mt19937_64 pick(opt.seed * 0x9e3779b97f4a7c15ull + 0x70616765);
    for (int64_t i = t.numPages - 1; i > 0; --i)
      std::swap(ids[i], ids[static_cast<int64_t>(pick() % uint64_t(i + 1))]);
  }
  // Entries no sequence reads: page ids outside the pool. The first past a
  // sequence's pages (the likeliest to be misread) is far past the pool, so
  // that reading it faults whatever lies next to the pool; then -1 (a
  // serving system's padding) and one just past the pool.
  auto outside = [&](int64_t k) -> int32_t {
    int64_t id = k % 3 == 0   ? t.numPages + (1 << 20)
                 : k % 3 == 1 ? -1
                              : t.numPages + 7;
    return static_cast<int32_t>(
        std::min<int64_t>(id, std::numeric_limits<int32_t>::max()));
  };
  t.table.assign(B * t.maxPages, 0);
  int64_t next = 0;
  for (int64_t b = 0; b < B; ++b) {
    int64_t used = std::min(t.pagesOf(b), t.maxPages);
    for (int64_t p = 0; p < t.maxPages; ++p) {
      int32_t &entry = t.table[b * t.maxPages + p];
      if (p >= used)
        entry = outside(p - used);
      else if (t.shared && b > 0 && p == 0)
        entry = t.table[0];
      else
        entry = ids[next++];
    }
  }
  return t;
}

PageTable checkedPageTable(const Options &opt, int64_t pageSize, int64_t Hkv,
                           int64_t D, int64_t numPages, int64_t maxPages) {
  PageTable pages =
      makePageTable(opt, pageSize, 2 * Hkv * D * 2, numPages, maxPages);
  if (std::string error =
          checkPagedInputs(pages.table, pages.maxPages, pages.cacheSeqlens,
                           pages.numPages, pages.pageSize);
      !error.empty())
    die(kUsage, "bad paged input: " + error);
  return pages;
}

std::string checkPagedInputs(const std::vector<int32_t> &blockTable,
                             int64_t maxPages,
                             const std::vector<int32_t> &cacheSeqlens,
                             int64_t numPages, int64_t pageSize) {
  int64_t B = static_cast<int64_t>(cacheSeqlens.size());
  if (pageSize <= 0)
    return "the page size is " + std::to_string(pageSize) +
           "; it must be positive";
  if (maxPages < 0 || static_cast<int64_t>(blockTable.size()) != B * maxPages)
    return "block_table has " + std::to_string(blockTable.size()) +
           " entries; expected B x max_pages = " + std::to_string(B) + " x " +
           std::to_string(maxPages);
  for (int64_t b = 0; b < B; ++b) {
    int64_t nk = cacheSeqlens[b];
    if (nk < 0)
      return "cache_seqlens[" + std::to_string(b) + "] is negative (" +
             std::to_string(nk) + ")";
    if (nk > maxPages * pageSize)
      return "cache_seqlens[" + std::to_string(b) + "] is " +
             std::to_string(nk) + ", beyond the block table's " +
             std::to_string(maxPages) + " pages of " +
             std::to_string(pageSize) + " rows (" +
             std::to_string(maxPages * pageSize) + " keys)";
    int64_t pages = (nk + pageSize - 1) / pageSize;
    for (int64_t p = 0; p < pages; ++p) {
      int64_t id = blockTable[b * maxPages + p];
      if (id < 0 || id >= numPages)
        return "block_table[" + std::to_string(b) + ", " + std::to_string(p) +
               "] is " + std::to_string(id) + ", outside the pool's " +
               std::to_string(numPages) + " pages [0, " +
               std::to_string(numPages) + ") (sequence " + std::to_string(b) +
               " has " + std::to_string(nk) + " keys: it reads entries [0, " +
               std::to_string(pages) + ") of its row)";
    }
  }
  return "";
}

void fillPools(const PageTable &pages, const std::vector<SequenceKeys> &seqs,
               int64_t Hkv, int64_t D, std::vector<uint16_t> &k,
               std::vector<uint16_t> &v) {
  int64_t poolRows = pages.numPages * pages.pageSize;
  // 0xffff is NaN in bf16 and f16: a kernel that reads a row no sequence
  // reaches fails.
  k.assign(poolRows * Hkv * D, 0xffff);
  v.assign(poolRows * Hkv * D, 0xffff);
  // Element (h, 0) of key j of sequence b: in its own inputs (of its
  // problem's layout), and in the pool.
  auto own = [&](const Problem &p, int64_t h, int64_t j) {
    return p.index(p.strides(Hkv, p.Nk), 0, h, j, 0);
  };
  auto pooled = [&](int64_t b, int64_t h, int64_t j) {
    return (pages.rowOf(b, j) * Hkv + h) * D;
  };
  // Last to first: sequence 0 writes a shared page last, so its keys win.
  for (int64_t b = pages.batch() - 1; b >= 0; --b) {
    const Problem &p = *seqs[b].p;
    const Inputs &in = *seqs[b].in;
    for (int64_t h = 0; h < Hkv; ++h)
      for (int64_t j = 0; j < p.Nk; ++j) {
        std::copy_n(in.k.begin() + own(p, h, j), D,
                    k.begin() + pooled(b, h, j));
        std::copy_n(in.v.begin() + own(p, h, j), D,
                    v.begin() + pooled(b, h, j));
      }
  }
  // What each sequence reads through the table (a shared page holds
  // sequence 0's keys where it has them).
  for (int64_t b = 0; b < pages.batch(); ++b) {
    const Problem &p = *seqs[b].p;
    Inputs &in = *seqs[b].in;
    for (int64_t h = 0; h < Hkv; ++h)
      for (int64_t j = 0; j < p.Nk; ++j) {
        std::copy_n(k.begin() + pooled(b, h, j), D,
                    in.k.begin() + own(p, h, j));
        std::copy_n(v.begin() + pooled(b, h, j), D,
                    in.v.begin() + own(p, h, j));
      }
  }
}

PagedProblem makePagedProblem(const Problem &base, const PageTable &pages,
                              const Options &opt) {
  PagedProblem pp;
  pp.base = base;
  pp.pages = pages;
  int64_t B = pages.batch(), Hq = base.Hq, Nq = base.Nq, D = base.D;
  pp.q.resize(B * Hq * Nq * D);
  pp.seqs.resize(B);
  std::vector<SequenceKeys> keys;
  for (int64_t b = 0; b < B; ++b) {
    PagedSequence &s = pp.seqs[b];
    s.p = base;
    s.p.B = 1;
    s.p.Nk = pages.cacheSeqlens[b];
    s.p.bshd = false;
    s.in = makeInputs(s.p, opt.seed * 1000003 + b, opt.mode);
    std::copy(s.in.q.begin(), s.in.q.end(), pp.q.begin() + b * Hq * Nq * D);
    keys.push_back({&s.p, &s.in});
  }
  fillPools(pages, keys, base.Hkv, D, pp.k, pp.v);
  return pp;
}

bool isSmallPaged(const PagedProblem &pp, const KernelMetadata &meta,
                  const Options &opt) {
  double perPair = pairCost(meta, pp.base.D), cost = 0;
  for (const PagedSequence &s : pp.seqs)
    cost += double(s.p.Hq) * s.p.Nq * double(s.p.Nk) * perPair;
  int64_t totalRows = pp.pages.batch() * pp.base.Hq * pp.base.Nq;
  return cost <= 2e9 || totalRows <= opt.checkRows;
}

void checkPagedOnCpu(const PagedProblem &pp, const Options &opt,
                     ModEvaluator *mods, bool small,
                     const std::vector<uint16_t> &out,
                     const std::vector<float> &lse, CheckStats &stats) {
  int64_t B = pp.pages.batch(), rowsPerSeq = pp.base.Hq * pp.base.Nq,
          D = pp.base.D;
  // The [B, Hq, Nq] rows to check, by sequence.
  Problem all = pp.base;
  all.B = B;
  std::vector<std::vector<int64_t>> rows(B);
  for (int64_t r : pickRows(all, opt, small))
    rows[r / rowsPerSeq].push_back(r % rowsPerSeq);
  for (int64_t b = 0; b < B; ++b) {
    const PagedSequence &s = pp.seqs[b];
    auto o = out.begin() + b * rowsPerSeq * D;
    std::vector<uint16_t> seqOut(o, o + rowsPerSeq * D);
    std::vector<float> seqLse;
    if (pp.base.lse)
      seqLse.assign(lse.begin() + b * rowsPerSeq,
                    lse.begin() + (b + 1) * rowsPerSeq);
    // The regions see the sequence's index as the batch index.
    checkOnCpu(s.p, s.in, mods, seqOut, seqLse, rows[b], stats, b);
  }
}

void checkPagedOnGpu(const PagedProblem &pp, CUdeviceptr q, CUdeviceptr o,
                     CUdeviceptr lse, const KernelMetadata &meta,
                     const std::vector<ModCapture> &captures,
                     CheckStats &stats) {
  int64_t rowsPerSeq = pp.base.Hq * pp.base.Nq, D = pp.base.D;
  for (size_t b = 0; b < pp.seqs.size(); ++b) {
    const PagedSequence &s = pp.seqs[b];
    DeviceBuffer k(s.in.k.data(), s.in.k.size() * 2),
        v(s.in.v.data(), s.in.v.size() * 2);
    int64_t first = static_cast<int64_t>(b) * rowsPerSeq;
    checkOnGpu(s.p, q + first * D * 2, k.ptr, v.ptr, o + first * D * 2,
               pp.base.lse ? lse + first * 4 : 0, meta.scoreMod.get(),
               meta.maskMod.get(), captures, stats);
  }
}

int pagedReferenceOnly(const PagedProblem &pp, const KernelMetadata &meta,
                       const Options &opt, ModEvaluator *mods) {
  const Problem &base = pp.base;
  int64_t B = pp.pages.batch(), Hq = base.Hq, Nq = base.Nq;
  int64_t cols = printedCols(opt, base.D);
  auto row = [&](int64_t b, int64_t h, int64_t i) {
    // The regions see the sequence's index as the batch index.
    return evaluateRow(pp.seqs[b].p, pp.seqs[b].in, mods, 0, h, i, b);
  };
  for (const auto &r : opt.printRows)
    if (r[0] >= B || r[1] >= Hq || r[2] >= Nq)
      die(kUsage, "--print-rows " + std::to_string(r[0]) + ":" +
                      std::to_string(r[1]) + ":" + std::to_string(r[2]) +
                      " is outside B=" + std::to_string(B) + " Hq=" +
                      std::to_string(Hq) + " Nq=" + std::to_string(Nq));
  for (const auto &r : opt.printRows)
    printReferenceRow(r[0], r[1], r[2], row(r[0], r[1], r[2]), cols);
  for (int64_t b = 0; b < B && opt.printAllRows; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Nq; ++i)
        printReferenceRow(b, h, i, row(b, h, i), cols);

  bool small = isSmallPaged(pp, meta, opt);
  Problem all = base;
  all.B = B;
  std::vector<int64_t> rows = pickRows(all, opt, small);
  ReferenceSums sums;
  for (int64_t r : rows)
    sums.add(row(r / (Hq * Nq), (r / Nq) % Hq, r % Nq), base.D);
  std::printf(
      "REFERENCE %s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld causal=%s "
      "layout=paged %s mods=%s captures=%zu: rows=%zu empty_rows=%lld "
      "kept_pairs=%lld baseline_err=%.3e ref=%s\n",
      meta.dtype.c_str(), (long long)B, (long long)Hq, (long long)base.Hkv,
      (long long)Nq, (long long)pp.pages.longest(), (long long)base.D,
      meta.causal.c_str(), pp.pages.sizesText().c_str(), modsName(meta).c_str(),
      meta.captures.size(), rows.size(), (long long)sums.emptyRows,
      (long long)sums.keptPairs, sums.maxBase, small ? "cpu" : "cpu-sampled");
  return kPass;
}

void dumpPagedInputs(const std::string &dir, const std::vector<uint16_t> &q,
                     const PageTable &pages, const std::vector<uint16_t> &k,
                     const std::vector<uint16_t> &v,
                     const std::vector<HostCapture> &captures) {
  dumpFile(dir, "q", q.data(), q.size() * 2);
  dumpFile(dir, "k", k.data(), k.size() * 2);
  dumpFile(dir, "v", v.data(), v.size() * 2);
  dumpFile(dir, "block_table", pages.table.data(), pages.table.size() * 4);
  dumpFile(dir, "cache_seqlens", pages.cacheSeqlens.data(),
           pages.cacheSeqlens.size() * 4);
  for (const HostCapture &c : captures)
    dumpFile(dir, c.name, c.bytes.data(), c.bytes.size());
}

} // namespace fa_runner
