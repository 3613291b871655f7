//===- Options.cpp - fa-runner's command line -----------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Options.h"
#include "GpuReference.h"
#include "Support.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace fa_runner {

static void usage() {
  std::puts(
      "usage: fa-runner <prefix> [options]\n"
      "  loads <prefix>.cubin (or <prefix>.ptx) and <prefix>.json from "
      "fa-compile,\n"
      "  runs the kernel on random inputs and checks it against fp64; "
      "without\n"
      "  <prefix>.json, the kernels <prefix>.0, <prefix>.1, ... of a "
      "backward\n"
      "  (three) or of a split-KV forward (fa-compile --split-kv: partial "
      "and\n"
      "  combine, launched in that order)\n"
      "\n"
      "  --batch N --hq N --hkv N --nq N --nk N   sizes of dynamic dims\n"
      "                                           (static ones are checked)\n"
      "  --seed N                                 input generator seed (1)\n"
      "  --mode normal|large|dominant             input distribution\n"
      "  --layout bhsd|bshd                       memory layout of Q/K/V/O\n"
      "  --check-rows N                           rows checked against fp64\n"
      "                                           (all when small; 4096)\n"
      "  --reference auto|cpu|gpu                 auto: fp64 CPU when small,\n"
      "                                           else the GPU reference\n"
      "  --no-check                               skip the reference\n"
      "  --bench [--iters N] [--warmup N]         time with CUDA events\n"
      "  --json                                   one JSON line out\n"
      "  --perturb                                control: corrupt the output\n"
      "  --kv-splits N                            split-KV: split count S in\n"
      "                                           [1, max_splits] when the\n"
      "                                           kernels let the runtime "
      "pick\n"
      "                                           (0, the default: their "
      "rule)\n"
      "\n"
      "varlen kernels (fa.attention ... varlen(...): packed [T, H, D] "
      "sequences):\n"
      "  --seqlens-q L0,L1,...  --seqlens-k L0,L1,...\n"
      "                            each sequence's query and key length (as "
      "many\n"
      "                            of each; they replace --batch, --nq, --nk)\n"
      "  --max-seqlen-q N          the launch's max_seqlen_q (default: the "
      "longest\n"
      "                            query length; not below it)\n"
      "  --gap N                   N unused token rows (NaN) before the first "
      "and\n"
      "                            after the last sequence in Q, K and V; O "
      "and\n"
      "                            the LSE must keep their sentinel there\n"
      "\n"
      "varlen-paged kernels (fa.attention ... varlen(%cu_q) ... paged(...):\n"
      "packed queries against a paged cache):\n"
      "  --seqlens-q L0,L1,...  --cache-seqlens N0,N1,...\n"
      "                            each sequence's query length and key count "
      "(as\n"
      "                            many of each); its queries are the last "
      "L of\n"
      "                            its N positions; --max-seqlen-q, --gap and "
      "the\n"
      "                            paged flags below apply\n"
      "  --cu-seqlens-q O0,...,OB  explicit query offsets instead of "
      "--seqlens-q\n"
      "                            (any i32 values; Q has max(O) + --gap "
      "rows):\n"
      "                            bad ones exit 2 before any GPU work\n"
      "\n"
      "paged kernels (fa.attention ... paged(...): K/V in pages of a pool):\n"
      "  --cache-seqlens L0,L1,...\n"
      "                            each sequence's key count (B of them; they\n"
      "                            replace --batch and --nk; --nq gives Nq)\n"
      "  --num-pages N             the pool's pages (default: those the "
      "sequences\n"
      "                            need, plus 3 spare)\n"
      "  --page-order random|sequential\n"
      "                            the pool pages given to the sequences' "
      "pages:\n"
      "                            a seeded permutation (default) or in "
      "order\n"
      "  --share-pages             every sequence after the first maps its "
      "first\n"
      "                            page onto sequence 0's first page (a "
      "shared\n"
      "                            prefix)\n"
      "  --max-pages M             the block table's width (default: the "
      "longest\n"
      "                            sequence's pages + 1)\n"
      "  --block-table R0;R1;...   an explicit table, each row M "
      "comma-separated\n"
      "                            page ids (e.g. '3,0;1,-1'); entries past "
      "a\n"
      "                            sequence's pages are never read\n"
      "  pool rows no sequence reaches are NaN; unused table entries are "
      "page\n"
      "  ids outside the pool (N + 2^20, -1, N + 7); lengths beyond the "
      "table or\n"
      "  ids outside the pool exit 2 before any GPU work\n"
      "\n"
      "programmable attention (score_mod, mask_mod, captures):\n"
      "  --capture I:SHAPE:FILL    fills capture I (0-based, in argument "
      "order);\n"
      "                            needed for every capture of the kernel\n"
      "      SHAPE  comma-separated sizes: integers or B, Hq, Hkv, Nq, Nk "
      "(empty\n"
      "             for rank 0); must match the capture's rank and static "
      "sizes\n"
      "             (varlen: B sequences, Nq and Nk their longest lengths, "
      "Tq\n"
      "             and Tk the token rows; paged: Nk the longest cache;\n"
      "             varlen-paged: Nq the longest query length, Nk the "
      "longest\n"
      "             cache, Tq the query token rows)\n"
      "      FILL   uniform:LO:HI    floats in [LO, HI), integers in [LO, "
      "HI]\n"
      "             alibi            1-D float: 2^(-8 (i + 1) / n)\n"
      "             segments:MAXLEN  integers: along the last dimension, "
      "document\n"
      "                              ids 0, 0, 1, ... with lengths in [1, "
      "MAXLEN]\n"
      "             arange           the element's linear index\n"
      "             const:V          every element V\n"
      "      values are rounded to the element type; seeded by --seed\n"
      "\n"
      "CPU-only modes (no kernel image, no CUDA driver needed):\n"
      "  --eval score_mod:S,B,H,I,J               prints score_mod at these\n"
      "  --eval mask_mod:B,H,I,J                  arguments (repeatable; "
      "exits\n"
      "                                           after unless "
      "--reference-only)\n"
      "  --reference-only                         the fp64 CPU reference and\n"
      "                                           the baseline, with the "
      "mods,\n"
      "                                           on the inputs a run would "
      "use;\n"
      "                                           prints a REFERENCE summary\n"
      "  --print-rows all|B:H:I[,B:H:I...]        with --reference-only: each\n"
      "                                           row's 'row' line (kept "
      "pairs,\n"
      "                                           LSE, O) and 'base' line\n"
      "  --print-cols N                           first N elements of O (all)\n"
      "  --dump-inputs DIR                        writes DIR/{q,k,v}.bin "
      "(raw,\n"
      "                                           [B, H, N, D]) and\n"
      "                                           DIR/capture<I>.bin (raw);\n"
      "                                           paged: k and v the pools,\n"
      "                                           block_table.bin and\n"
      "                                           cache_seqlens.bin (i32);\n"
      "                                           varlen-paged: also q\n"
      "                                           packed [Tq, Hq, D] and\n"
      "                                           cu_seqlens_q.bin (i32)\n"
      "\n"
      "a kernel whose metadata has \"from_op\": false (or no description of "
      "its\n"
      "regions) is not checked: it runs only with --no-check\n"
      "exit: 0 pass, 1 wrong result, 2 usage or bad input, 3 no GPU/driver, "
      "4 CUDA error");
}

/// "5,0,1,300": one non-negative length per sequence.
static std::vector<int64_t> parseLengths(const std::string &flag,
                                         const std::string &text) {
  std::vector<int64_t> lengths;
  for (size_t pos = 0;;) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma - pos);
    char *end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end)
      die(kUsage, flag +
                      " takes comma-separated lengths, one per sequence "
                      "(e.g. 5,0,1,300); got '" +
                      text + "'");
    if (v < 0)
      die(kUsage, flag + ": the length of sequence " +
                      std::to_string(lengths.size()) + " is negative (" + item +
                      ")");
    if (v > std::numeric_limits<int32_t>::max())
      die(kUsage,
          flag + ": the length of sequence " + std::to_string(lengths.size()) +
              " (" + item +
              (flag == "--cache-seqlens" ? ") does not fit the i32 lengths"
                                         : ") does not fit the i32 offsets"));
    lengths.push_back(v);
    if (comma == std::string::npos)
      return lengths;
    pos = comma + 1;
  }
}

/// "0,3,3,-1": --cu-seqlens-q's offsets (any i32 values: bad offsets are
/// for the checks of a run).
static std::vector<int64_t> parseOffsets(const std::string &flag,
                                         const std::string &text) {
  std::vector<int64_t> offsets;
  for (size_t pos = 0;;) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma - pos);
    char *end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || v < std::numeric_limits<int32_t>::min() ||
        v > std::numeric_limits<int32_t>::max())
      die(kUsage, flag +
                      " takes comma-separated i32 offsets, B + 1 for B "
                      "sequences (e.g. 0,3,3,7); got '" +
                      text + "'");
    offsets.push_back(v);
    if (comma == std::string::npos)
      return offsets;
    pos = comma + 1;
  }
}

/// "3,0;1,-1": one row of page ids per sequence (any i32 values: bad tables
/// are for the checks of a run).
static std::vector<std::vector<int64_t>>
parseBlockTable(const std::string &text) {
  std::vector<std::vector<int64_t>> rows(1);
  for (size_t pos = 0; pos <= text.size();) {
    size_t end = text.find_first_of(",;", pos);
    if (end == std::string::npos)
      end = text.size();
    std::string item = text.substr(pos, end - pos);
    char *tail = nullptr;
    long long v = std::strtoll(item.c_str(), &tail, 10);
    bool emptyRow = item.empty() && rows.back().empty() &&
                    (end == text.size() || text[end] == ';');
    if (!emptyRow &&
        (item.empty() || *tail || v < std::numeric_limits<int32_t>::min() ||
         v > std::numeric_limits<int32_t>::max()))
      die(kUsage, "--block-table takes rows of comma-separated i32 page ids "
                  "separated by ';', one row per sequence (e.g. "
                  "'3,0;1,-1'); got '" +
                      text + "'");
    if (!emptyRow)
      rows.back().push_back(v);
    if (end < text.size() && text[end] == ';')
      rows.emplace_back();
    pos = end + 1;
  }
  return rows;
}

/// The paged flags among themselves (the kernel and its page size are
/// checked later, Paged.cpp).
static void checkPagedOptions(const Options &o) {
  if (o.cacheSeqlens.empty()) {
    if (o.paged())
      die(kUsage, "--num-pages, --page-order, --share-pages, --max-pages and "
                  "--block-table go with --cache-seqlens (a paged kernel)");
    return;
  }
  if (!o.seqlensK.empty())
    die(kUsage, "--cache-seqlens does not go with --seqlens-k: a paged kernel "
                "takes --cache-seqlens and --nq, a varlen kernel --seqlens-q "
                "and --seqlens-k, and a varlen kernel against a paged cache "
                "--seqlens-q and --cache-seqlens");
  size_t B = o.cacheSeqlens.size();
  // A varlen-paged kernel: as many query lengths (B + 1 offsets).
  if (!o.seqlensQ.empty() && o.seqlensQ.size() != B)
    die(kUsage, "--seqlens-q gives " + std::to_string(o.seqlensQ.size()) +
                    " query lengths but --cache-seqlens gives " +
                    std::to_string(B) +
                    " key counts: one of each per sequence");
  if (!o.cuSeqlensQ.empty() && o.cuSeqlensQ.size() != B + 1)
    die(kUsage, "--cu-seqlens-q gives " + std::to_string(o.cuSeqlensQ.size()) +
                    " offsets but --cache-seqlens gives " + std::to_string(B) +
                    " key counts: B + 1 offsets for B sequences");
  if (B > 65535)
    die(kUsage,
        "at most 65535 sequences (grid limit), got " + std::to_string(B));
  if (!o.pageOrder.empty() && o.pageOrder != "random" &&
      o.pageOrder != "sequential")
    die(kUsage, "--page-order must be random or sequential");
  constexpr int64_t kMaxId = std::numeric_limits<int32_t>::max();
  if (o.numPages > kMaxId)
    die(kUsage, "--num-pages " + std::to_string(o.numPages) +
                    ": page ids are i32 (at most " + std::to_string(kMaxId) +
                    " pages)");
  if (o.maxPages > kMaxId)
    die(kUsage, "--max-pages " + std::to_string(o.maxPages) +
                    " does not fit the i32 block table");
  if (o.sharePages && o.cacheSeqlens[0] == 0)
    die(kUsage, "--share-pages maps every sequence's first page onto "
                "sequence 0's, but sequence 0 has no key");
  if (o.blockTable.empty())
    return;
  if (!o.pageOrder.empty() || o.sharePages)
    die(kUsage, "--page-order and --share-pages shape the generated block "
                "table; they do not go with --block-table");
  if (o.blockTable.size() != B)
    die(kUsage, "--block-table has " + std::to_string(o.blockTable.size()) +
                    " rows but --cache-seqlens gives " + std::to_string(B) +
                    " sequences: one row per sequence");
  size_t width = o.blockTable[0].size();
  for (size_t b = 1; b < B; ++b)
    if (o.blockTable[b].size() != width)
      die(kUsage, "--block-table: row " + std::to_string(b) + " has " +
                      std::to_string(o.blockTable[b].size()) +
                      " page ids but row 0 has " + std::to_string(width) +
                      ": every row has max_pages of them");
  if (o.maxPages >= 0 && o.maxPages != static_cast<int64_t>(width))
    die(kUsage, "--max-pages " + std::to_string(o.maxPages) +
                    " disagrees with --block-table's " + std::to_string(width) +
                    " columns");
}

/// The varlen flags among themselves (the kernel is checked later): a
/// varlen kernel takes --seqlens-q and --seqlens-k, a varlen-paged one
/// --seqlens-q (or --cu-seqlens-q) and --cache-seqlens.
static void checkVarlenOptions(const Options &o) {
  if (!o.cuSeqlensQ.empty()) {
    if (!o.seqlensQ.empty())
      die(kUsage, "--cu-seqlens-q and --seqlens-q both give the query "
                  "sequences; pass one");
    if (o.cacheSeqlens.empty())
      die(kUsage, "--cu-seqlens-q (explicit query offsets) goes with "
                  "--cache-seqlens (a varlen kernel against a paged cache)");
    if (o.cuSeqlensQ.size() < 2)
      die(kUsage, "--cu-seqlens-q takes B + 1 offsets for B >= 1 sequences; "
                  "got 1");
  }
  if (o.seqlensQ.empty() && !o.seqlensK.empty())
    die(kUsage, "--seqlens-k needs --seqlens-q (one length each per "
                "sequence)");
  if (!o.seqlensQ.empty() && o.seqlensK.empty() && o.cacheSeqlens.empty())
    die(kUsage, "--seqlens-q needs --seqlens-k (one length each per "
                "sequence), or --cache-seqlens (a varlen kernel against a "
                "paged cache)");
  if (o.seqlensQ.empty() && o.cuSeqlensQ.empty()) {
    if (o.maxSeqlenQ >= 0 || o.gap >= 0)
      die(kUsage, "--max-seqlen-q and --gap go with --seqlens-q and "
                  "--seqlens-k (a varlen kernel), or --seqlens-q and "
                  "--cache-seqlens (a varlen kernel against a paged cache)");
    return;
  }
  if (!o.seqlensK.empty() && o.seqlensQ.size() != o.seqlensK.size())
    die(kUsage, "--seqlens-q gives " + std::to_string(o.seqlensQ.size()) +
                    " lengths but --seqlens-k gives " +
                    std::to_string(o.seqlensK.size()) +
                    ": one of each per sequence");
  size_t sequences =
      o.cuSeqlensQ.empty() ? o.seqlensQ.size() : o.cuSeqlensQ.size() - 1;
  if (sequences > 65535)
    die(kUsage, "at most 65535 sequences (grid limit), got " +
                    std::to_string(sequences));
  // The offsets are i32: every token row, the gaps included, must fit.
  if (o.gap > std::numeric_limits<int32_t>::max())
    die(kUsage,
        "--gap " + std::to_string(o.gap) + " does not fit the i32 offsets");
  if (!o.cuSeqlensQ.empty()) {
    // (Explicit offsets: max_seqlen_q and the offsets are checked as a
    // launcher checks them, VarlenPaged.cpp.)
    int64_t rows = std::max<int64_t>(
        0, *std::max_element(o.cuSeqlensQ.begin(), o.cuSeqlensQ.end()));
    if (rows + std::max<int64_t>(o.gap, 0) >
        std::numeric_limits<int32_t>::max())
      die(kUsage, "query token rows (" +
                      std::to_string(rows + std::max<int64_t>(o.gap, 0)) +
                      ", the gap included) do not fit the i32 offsets");
    return;
  }
  auto longest = std::max_element(o.seqlensQ.begin(), o.seqlensQ.end());
  if (o.maxSeqlenQ >= 0 && o.maxSeqlenQ < *longest)
    die(kUsage, "--max-seqlen-q " + std::to_string(o.maxSeqlenQ) +
                    " is below the longest query sequence (" +
                    std::to_string(*longest) + ", sequence " +
                    std::to_string(longest - o.seqlensQ.begin()) + ")");
  // (Against a paged cache, no key rows: --seqlens-k is empty.)
  for (const auto *lengths : {&o.seqlensQ, &o.seqlensK}) {
    if (lengths->empty())
      continue;
    int64_t tokens = 2 * std::max<int64_t>(o.gap, 0);
    for (int64_t n : *lengths)
      tokens += n;
    if (tokens > std::numeric_limits<int32_t>::max())
      die(kUsage, std::string(lengths == &o.seqlensQ ? "query" : "key") +
                      " token rows (" + std::to_string(tokens) +
                      ", gaps included) do not fit the i32 offsets");
  }
}

Options parseOptions(int argc, char **argv) {
  Options o;
  auto number = [&](int &i, const char *flag) -> int64_t {
    if (i + 1 >= argc)
      die(kUsage, std::string(flag) + " needs a value");
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(argv[++i], &end, 10);
    if (!*argv[i] || *end || v < 0)
      die(kUsage, std::string(flag) + " needs a non-negative integer, got '" +
                      argv[i] + "'");
    if (errno == ERANGE)
      die(kUsage, std::string(flag) + " is out of range: '" + argv[i] + "'");
    return v;
  };
  // Counts that the driver takes as int.
  auto count = [&](int &i, const char *flag) -> int {
    int64_t v = number(i, flag);
    if (v > std::numeric_limits<int>::max())
      die(kUsage, std::string(flag) + " is out of range: '" + argv[i] + "'");
    return static_cast<int>(v);
  };
  // A flag that only shapes a --bench run, if one was given.
  const char *timingFlag = nullptr;
  auto text = [&](int &i, const char *flag) -> std::string {
    if (i + 1 >= argc)
      die(kUsage, std::string(flag) + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else if (a == "--batch")
      o.batch = number(i, "--batch");
    else if (a == "--hq")
      o.qHeads = number(i, "--hq");
    else if (a == "--hkv")
      o.kvHeads = number(i, "--hkv");
    else if (a == "--nq")
      o.qLength = number(i, "--nq");
    else if (a == "--nk")
      o.kvLength = number(i, "--nk");
    else if (a == "--seed")
      o.seed = number(i, "--seed");
    else if (a == "--mode")
      o.mode = text(i, "--mode");
    else if (a == "--layout")
      o.layout = text(i, "--layout");
    else if (a == "--check-rows")
      o.checkRows = number(i, "--check-rows");
    else if (a == "--reference")
      o.reference = text(i, "--reference");
    else if (a == "--no-check")
      o.check = false;
    else if (a == "--bench")
      o.bench = true;
    else if (a == "--iters") {
      o.iterations = count(i, "--iters");
      timingFlag = "--iters";
    } else if (a == "--warmup") {
      o.warmup = count(i, "--warmup");
      timingFlag = "--warmup";
    } else if (a == "--json")
      o.json = true;
    else if (a == "--perturb")
      o.perturb = true;
    else if (a == "--kv-splits")
      o.kvSplits = number(i, "--kv-splits");
    else if (a == "--seqlens-q")
      o.seqlensQ = parseLengths(a, text(i, "--seqlens-q"));
    else if (a == "--seqlens-k")
      o.seqlensK = parseLengths(a, text(i, "--seqlens-k"));
    else if (a == "--max-seqlen-q")
      o.maxSeqlenQ = number(i, "--max-seqlen-q");
    else if (a == "--gap")
      o.gap = number(i, "--gap");
    else if (a == "--cu-seqlens-q")
      o.cuSeqlensQ = parseOffsets(a, text(i, "--cu-seqlens-q"));
    else if (a == "--cache-seqlens")
      o.cacheSeqlens = parseLengths(a, text(i, "--cache-seqlens"));
    else if (a == "--num-pages")
      o.numPages = number(i, "--num-pages");
    else if (a == "--page-order")
      o.pageOrder = text(i, "--page-order");
    else if (a == "--share-pages")
      o.sharePages = true;
    else if (a == "--max-pages")
      o.maxPages = number(i, "--max-pages");
    else if (a == "--block-table")
      o.blockTable = parseBlockTable(text(i, "--block-table"));
    else if (a == "--capture")
      o.captures.push_back(parseCaptureFlag(text(i, "--capture")));
    else if (a == "--reference-only")
      o.referenceOnly = true;
    else if (a == "--print-rows") {
      std::string spec = text(i, "--print-rows");
      if (spec == "all") {
        o.printAllRows = true;
        continue;
      }
      for (size_t pos = 0;;) {
        size_t comma = spec.find(',', pos);
        std::string row = spec.substr(pos, comma - pos);
        long long b, h, q;
        char tail;
        if (std::sscanf(row.c_str(), "%lld:%lld:%lld%c", &b, &h, &q, &tail) !=
                3 ||
            b < 0 || h < 0 || q < 0)
          die(kUsage, "--print-rows takes 'all' or B:H:I[,B:H:I...], got '" +
                          row + "'");
        o.printRows.push_back({b, h, q});
        if (comma == std::string::npos)
          break;
        pos = comma + 1;
      }
    } else if (a == "--print-cols")
      o.printCols = number(i, "--print-cols");
    else if (a == "--dump-inputs") {
      o.dumpInputs = text(i, "--dump-inputs");
      if (o.dumpInputs.empty())
        die(kUsage, "--dump-inputs needs a directory, got ''");
    } else if (a == "--eval")
      o.evals.push_back(text(i, "--eval"));
    else if (!a.empty() && a[0] == '-')
      die(kUsage, "unknown option '" + a + "' (see --help)");
    else if (o.prefix.empty())
      o.prefix = a;
    else
      die(kUsage, "more than one kernel prefix given ('" + o.prefix +
                      "' and '" + a +
                      "'); list options (--seqlens-q, --block-table, ...) "
                      "take one comma-separated argument");
  }
  if (o.prefix.empty())
    die(kUsage, "no kernel given; usage: fa-runner <prefix> [options]");
  if (o.mode != "normal" && o.mode != "large" && o.mode != "dominant")
    die(kUsage, "--mode must be normal, large or dominant");
  if (o.layout != "bhsd" && o.layout != "bshd")
    die(kUsage, "--layout must be bhsd or bshd");
  if (o.iterations < 1)
    die(kUsage, "--iters must be at least 1");
  if (o.reference != "auto" && o.reference != "cpu" && o.reference != "gpu")
    die(kUsage, "--reference must be auto, cpu or gpu");
  if ((o.printAllRows || !o.printRows.empty() || o.printCols >= 0) &&
      !o.referenceOnly)
    die(kUsage, "--print-rows and --print-cols go with --reference-only");
  if (o.printCols >= 0 && !o.printAllRows && o.printRows.empty())
    die(kUsage, "--print-cols limits the rows --print-rows prints; give "
                "--print-rows too");
  if (timingFlag && !o.bench)
    die(kUsage, std::string(timingFlag) + " shapes a --bench run; give "
                                          "--bench too");
  // What only a kernel run does.
  if (o.referenceOnly) {
    const char *kernelFlag = o.bench                ? "--bench"
                             : o.json               ? "--json"
                             : !o.check             ? "--no-check"
                             : o.perturb            ? "--perturb"
                             : o.reference == "gpu" ? "--reference gpu"
                                                    : nullptr;
    if (kernelFlag)
      die(kUsage, std::string(kernelFlag) +
                      " goes with a kernel run; --reference-only runs the "
                      "CPU reference alone");
  }
  checkVarlenOptions(o);
  checkPagedOptions(o);
  if (o.reference == "gpu" && !haveGpuReference())
    die(kUsage, "--reference=gpu: this fa-runner was built without nvcc, so "
                "it has no GPU reference");
  return o;
}

} // namespace fa_runner
