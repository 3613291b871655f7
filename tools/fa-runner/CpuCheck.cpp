//===- CpuCheck.cpp - The CPU reference over many rows --------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "CpuCheck.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

namespace fa_runner {

/// Rows to check: all when cheap, else the first and last rows plus a
/// seeded sample.
std::vector<int64_t> pickRows(const Problem &p, const Options &opt,
                              bool small) {
  int64_t totalRows = p.B * p.Hq * p.Nq;
  std::vector<int64_t> rows;
  if (small) {
    for (int64_t r = 0; r < totalRows; ++r)
      rows.push_back(r);
    return rows;
  }
  std::mt19937_64 pick(opt.seed ^ 0x9e3779b97f4a7c15ull);
  for (int64_t r = 0; r < std::min<int64_t>(64, p.Nq); ++r) {
    rows.push_back(r);
    rows.push_back(totalRows - 1 - r);
  }
  while (static_cast<int64_t>(rows.size()) < opt.checkRows)
    rows.push_back(static_cast<int64_t>(pick() % totalRows));
  return rows;
}

/// Whether the fp64 CPU reference can afford every row.
bool isSmall(const Problem &p, const KernelMetadata &meta, const Options &opt) {
  int64_t totalRows = p.B * p.Hq * p.Nq;
  double cost = double(totalRows) * double(p.Nk) * pairCost(meta, p.D);
  return cost <= 2e9 || totalRows <= opt.checkRows;
}

double pairCost(const KernelMetadata &meta, int64_t D) {
  // An interpreted instruction costs about as much as a few MACs.
  double perPair = double(D);
  for (const ModRegion *r : {meta.scoreMod.get(), meta.maskMod.get()})
    if (r)
      perPair += 8.0 * r->insts.size();
  return perPair;
}

std::string modsName(const KernelMetadata &meta) {
  std::string s;
  if (meta.scoreMod)
    s = "score_mod";
  if (meta.maskMod)
    s += s.empty() ? "mask_mod" : ",mask_mod";
  return s.empty() ? "none" : s;
}

std::string modsTag(const KernelMetadata &meta) {
  if (!meta.hasMods() && meta.captures.empty())
    return "";
  return modsName(meta) + " captures=" + std::to_string(meta.captures.size());
}

std::string splitsTag(int64_t splits, bool json) {
  if (splits < 0)
    return "";
  return (json ? ", \"kv_splits\": " : " kv_splits=") + std::to_string(splits);
}

static void printValues(const char *label, const std::vector<double> &values,
                        int64_t count) {
  std::printf(" %s=", label);
  for (int64_t d = 0; d < count; ++d)
    std::printf("%s%.17g", d ? "," : "", values[d]);
}

void printReferenceRow(int64_t b, int64_t h, int64_t i, const RowResult &r,
                       int64_t cols) {
  std::printf("row b=%lld h=%lld i=%lld kept=%lld lse=%.17g", (long long)b,
              (long long)h, (long long)i, (long long)r.kept, r.lse);
  printValues("out", r.out, cols);
  std::printf("\nbase b=%lld h=%lld i=%lld", (long long)b, (long long)h,
              (long long)i);
  printValues("out", r.base, cols);
  std::printf("\n");
}

/// --reference-only: the CPU reference and the baseline, no kernel.
int referenceOnly(const Problem &p, const KernelMetadata &meta,
                  const Options &opt, const Inputs &in, ModEvaluator *mods) {
  int64_t totalRows = p.B * p.Hq * p.Nq;
  int64_t cols = printedCols(opt, p.D);
  std::vector<int64_t> printed;
  for (const auto &row : opt.printRows) {
    if (row[0] >= p.B || row[1] >= p.Hq || row[2] >= p.Nq)
      die(kUsage, "--print-rows " + std::to_string(row[0]) + ":" +
                      std::to_string(row[1]) + ":" + std::to_string(row[2]) +
                      " is outside B=" + std::to_string(p.B) + " Hq=" +
                      std::to_string(p.Hq) + " Nq=" + std::to_string(p.Nq));
    printed.push_back((row[0] * p.Hq + row[1]) * p.Nq + row[2]);
  }
  if (opt.printAllRows)
    for (int64_t r = 0; r < totalRows; ++r)
      printed.push_back(r);
  for (int64_t r : printed) {
    int64_t i = r % p.Nq, h = (r / p.Nq) % p.Hq, b = r / (p.Nq * p.Hq);
    printReferenceRow(b, h, i, evaluateRow(p, in, mods, b, h, i), cols);
  }

  bool small = isSmall(p, meta, opt);
  ReferenceSums sums;
  std::vector<int64_t> rows = pickRows(p, opt, small);
  for (int64_t r : rows) {
    int64_t i = r % p.Nq, h = (r / p.Nq) % p.Hq, b = r / (p.Nq * p.Hq);
    sums.add(evaluateRow(p, in, mods, b, h, i), p.D);
  }
  std::printf("REFERENCE %s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld "
              "causal=%s mods=%s captures=%zu: rows=%zu empty_rows=%lld "
              "kept_pairs=%lld baseline_err=%.3e ref=%s\n",
              meta.dtype.c_str(), (long long)p.B, (long long)p.Hq,
              (long long)p.Hkv, (long long)p.Nq, (long long)p.Nk,
              (long long)p.D, meta.causal.c_str(), modsName(meta).c_str(),
              meta.captures.size(), rows.size(), (long long)sums.emptyRows,
              (long long)sums.keptPairs, sums.maxBase,
              small ? "cpu" : "cpu-sampled");
  return kPass;
}

/// The CPU check of a kernel's output (`out`, `lse` copied to the host).
void checkOnCpu(const Problem &p, const Inputs &in, ModEvaluator *mods,
                const std::vector<uint16_t> &out, const std::vector<float> &lse,
                const std::vector<int64_t> &rows, CheckStats &stats,
                int64_t modBatch) {
  // Every element written, none NaN (the poison is NaN).
  for (size_t i = 0; i < out.size(); ++i)
    stats.nanCount += std::isnan(p.load(out, i));
  for (float x : lse)
    stats.nanCount += std::isnan(x);
  auto os = p.strides(p.Hq, p.Nq);
  for (int64_t r : rows) {
    int64_t i = r % p.Nq, h = (r / p.Nq) % p.Hq, b = r / (p.Nq * p.Hq);
    checkRow(p, evaluateRow(p, in, mods, b, h, i, modBatch), out,
             p.index(os, b, h, i, 0),
             p.lse ? lse[(b * p.Hq + h) * p.Nq + i] : 0.0, stats);
  }
}

void checkRow(const Problem &p, const RowResult &ref,
              const std::vector<uint16_t> &out, int64_t first, double lse,
              CheckStats &stats) {
  for (int64_t d = 0; d < p.D; ++d) {
    double got = p.load(out, first + d);
    if (ref.empty && got != 0.0)
      ++stats.maskedRowErrors;
    stats.maxErr = std::max(stats.maxErr, std::fabs(got - ref.out[d]));
    stats.maxBase =
        std::max(stats.maxBase, std::fabs(ref.base[d] - ref.out[d]));
  }
  if (p.lse) {
    if (ref.empty) {
      if (!(std::isinf(lse) && lse < 0))
        stats.maxLseErr = std::numeric_limits<double>::infinity();
    } else {
      double tol = 1e-3 + 1e-4 * std::fabs(ref.lse);
      stats.maxLseErr =
          std::max(stats.maxLseErr, std::fabs(lse - ref.lse) / tol);
    }
  }
  ++stats.checkedRows;
}

int64_t printedCols(const Options &opt, int64_t D) {
  return opt.printCols < 0 ? D : std::min(opt.printCols, D);
}

void ReferenceSums::add(const RowResult &r, int64_t D) {
  emptyRows += r.empty;
  keptPairs += r.kept;
  for (int64_t d = 0; d < D; ++d)
    maxBase = std::max(maxBase, std::fabs(r.base[d] - r.out[d]));
}

void dumpFile(const std::string &dir, const std::string &name, const void *data,
              size_t bytes) {
  std::string path = dir + "/" + name + ".bin";
  if (!writeFile(path, data, bytes))
    die(kUsage, "cannot write " + path);
}

void dumpInputs(const std::string &dir, const Problem &p, const Inputs &in,
                const std::vector<HostCapture> &captures) {
  // Logical [B, H, N, D] order whatever --layout is.
  auto dump = [&](const char *name, const std::vector<uint16_t> &t, int64_t H,
                  int64_t N) {
    auto st = p.strides(H, N);
    std::vector<uint16_t> logical;
    logical.reserve(t.size());
    for (int64_t b = 0; b < p.B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t d = 0; d < p.D; ++d)
            logical.push_back(t[p.index(st, b, h, n, d)]);
    dumpFile(dir, name, logical.data(), logical.size() * 2);
  };
  dump("q", in.q, p.Hq, p.Nq);
  dump("k", in.k, p.Hkv, p.Nk);
  dump("v", in.v, p.Hkv, p.Nk);
  for (const HostCapture &c : captures)
    dumpFile(dir, c.name, c.bytes.data(), c.bytes.size());
}

} // namespace fa_runner
