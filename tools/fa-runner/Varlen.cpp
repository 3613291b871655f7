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
  if (opt.batch >= 0 || opt.qLength >= 0 || opt.kvLength >= 0)
    die(kUsage, "--batch, --nq and --nk do not apply to a varlen kernel (" +
                    kernelFile +
                    "): --seqlens-q and --seqlens-k give its sequences");
  if (opt.layout != "bhsd")
    die(kUsage, "--layout " + opt.layout +
                    " does not apply to a varlen kernel (" + kernelFile +
                    "): its operands are packed [tokens, heads, head dim]");
  bool sized = !opt.seqlensQ.empty();
  if (!sized && opt.runsKernel())
    die(kUsage, kernelFile +
                    " is a varlen kernel: pass --seqlens-q and --seqlens-k "
                    "(one length each per sequence, e.g. --seqlens-q 5,0,1 "
                    "--seqlens-k 9,3,0)");
  if (!meta.uncheckable.empty() && opt.check && opt.runsKernel())
    die(kUsage, "cannot check this kernel: " + meta.uncheckable +
                    "; pass --no-check to run it unchecked");

  // A sequence's rows are [n, H, D]: B = 1, bshd strides.
  Problem base = sequenceBase(meta, /*bshd=*/true);
  base.Hq = resolveSize(opt.qHeads, meta.qShape[1], "query heads", "--hq",
                        opt.runsKernel());
  base.Hkv = resolveSize(opt.kvHeads, meta.kShape[1], "key/value heads",
                         "--hkv", opt.runsKernel());
  if (meta.qShape[2] >= 0 && meta.qShape[2] != base.D)
    die(kUsage, "metadata: q's head dim differs from \"head_dim\"");
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

  // Captures: B sequences, Nq / Nk their longest lengths, Tq / Tk rows.
  SizeOfSymbol sizeOf = [&](const std::string &symbol) -> int64_t {
    struct {
      const char *name;
      int64_t value;
    } sizes[] = {{"B", sized ? B : -1},
                 {"Hq", base.Hq},
                 {"Hkv", base.Hkv},
                 {"Nq", sized ? longestQ : -1},
                 {"Nk", sized ? longestK : -1},
                 {"Tq", tokensQ},
                 {"Tk", tokensK}};
    for (const auto &s : sizes)
      if (symbol == s.name) {
        if (s.value < 0)
          die(kUsage, "a --capture shape uses " + symbol +
                          ", which is unknown here; pass " +
                          (symbol[0] == 'H' ? "--hq / --hkv"
                                            : "--seqlens-q and --seqlens-k"));
        return s.value;
      }
    die(kUsage, "unknown size symbol " + symbol +
                    " (a varlen kernel knows B, Hq, Hkv, Nq, Nk, Tq, Tk)");
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
  if (!opt.evals.empty())
    return kPass;

  checkHeads(base);
  int64_t Hq = base.Hq, Hkv = base.Hkv, D = base.D;
  if (std::string error = checkOffsets(cuQ, cuK, tokensQ, tokensK, maxSeqlenQ);
      !error.empty())
    die(kUsage, "bad offsets: " + error);

  // The kernel's arguments (pointers come with the buffers), contiguous.
  std::vector<LaunchArg> args = {{0, {tokensQ, Hq, D}, {Hq * D, D, 1}},
                                 {0, {tokensK, Hkv, D}, {Hkv * D, D, 1}},
                                 {0, {tokensK, Hkv, D}, {Hkv * D, D, 1}},
                                 {0, {tokensQ, Hq, D}, {Hq * D, D, 1}}};
  if (base.lse)
    args.push_back({0, {Hq, tokensQ}, {tokensQ, 1}});
  args.push_back({0, {B + 1}, {1}});
  args.push_back({0, {B + 1}, {1}});
  for (const HostCapture &c : captures)
    args.push_back({0, c.shape, c.strides});
  unsigned grid[3];
  gridOf(meta.json["grid"], args, maxSeqlenQ, grid);
  checkTensorMaps(meta, args);

  // Whether the GPU reference can check this kernel (--reference gpu
  // insists before any GPU work).
  std::string gpuReferenceWhyNot = sequenceGpuReferenceWhyNot(meta, opt);

  // Inputs: each sequence from its own stream; NaN in the gaps.
  VarlenProblem vp = makeVarlenProblem(base, opt);
  // O and the LSE: NaN inside the sequences, the sentinel outside.
  std::vector<uint16_t> o0;
  std::vector<uint32_t> lse0;
  initialOutputs(vp, o0, lse0);

  // The driver.
  LoadedKernel kernel = loadKernel(meta, image);
  persistentGrid(kernel, meta, grid);

  size_t oBytes = o0.size() * 2, lseBytes = lse0.size() * 4;
  DeviceBuffer qBuf(vp.q.data(), vp.q.size() * 2),
      kBuf(vp.k.data(), vp.k.size() * 2), vBuf(vp.v.data(), vp.v.size() * 2),
      oBuf(o0.data(), oBytes), lseBuf(lse0.data(), lseBytes),
      cuQBuf(cuQ.data(), cuQ.size() * 4), cuKBuf(cuK.data(), cuK.size() * 4);
  DeviceCaptures deviceCaptures(captures);
  bindArguments(args,
                {&qBuf, &kBuf, &vBuf, &oBuf, base.lse ? &lseBuf : nullptr,
                 &cuQBuf, &cuKBuf},
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
    // Control: one wrong element in the middle of the longest sequence.
    auto longest = std::max_element(opt.seqlensQ.begin(), opt.seqlensQ.end());
    int64_t lb = longest - opt.seqlensQ.begin();
    int64_t row = cuQ[lb] + *longest / 2;
    if (opt.perturb && *longest > 0)
      perturbElement(base, oBuf.ptr + ((row * Hq + Hq / 2) * D + D / 2) * 2);
    std::vector<uint16_t> out(o0.size());
    std::vector<float> lse(lse0.size());
    check(cuda.cuMemcpyDtoH_v2(out.data(), oBuf.ptr, oBytes), "cuMemcpyDtoH");
    if (base.lse)
      check(cuda.cuMemcpyDtoH_v2(lse.data(), lseBuf.ptr, lseBytes),
            "cuMemcpyDtoH");
    outsideErrors = countOutsideErrors(vp, out, lse);
    bool small = isSmallVarlen(vp, meta, opt);
    bool gpuReference =
        opt.reference == "gpu" ||
        (haveGpuReference() && opt.reference == "auto" && !small);
    if (!gpuReferenceWhyNot.empty())
      gpuReference = false; // a sample of rows on the CPU instead
    if (gpuReference) {
      referenceKind = "gpu";
      checkVarlenOnGpu(vp, qBuf.ptr, kBuf.ptr, vBuf.ptr, oBuf.ptr, lseBuf.ptr,
                       meta, deviceCaptures.views, stats);
    } else {
      referenceKind = small ? "cpu" : "cpu-sampled";
      checkVarlenOnCpu(vp, opt, mods, small, out, lse, stats);
    }
    pass = sequencesPass(stats, outsideErrors, capturesWritten);
  }

  // --- bench ---------------------------------------------------------------
  double medianMs = 0, tflops = 0;
  if (opt.bench) {
    medianMs = medianLaunchMs(opt, [&] { launch(); });
    double flops = 0; // dense (or causal) work of every sequence
    for (const VarlenSequence &s : vp.seqs)
      flops += 4.0 * Hq * double(s.p.Nq) * double(s.p.Nk) * D;
    if (base.causal)
      flops /= 2;
    tflops = medianMs > 0 ? flops / (medianMs * 1e-3) / 1e12 : 0;
  }

  const char *verdict = !opt.check ? "UNCHECKED" : pass ? "PASS" : "FAIL";
  std::string modsText =
      meta.hasMods() || !meta.captures.empty()
          ? modsName(meta) + " captures=" + std::to_string(meta.captures.size())
          : "";
  char line[1536];
  if (opt.json)
    std::snprintf(
        line, sizeof(line),
        "{\"verdict\": \"%s\", \"kernel\": \"%s\", \"device\": \"%s\", "
        "\"dtype\": \"%s\", \"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, "
        "\"Tq\": %lld, \"Tk\": %lld, \"max_seqlen_q\": %lld, \"gap\": %lld, "
        "\"D\": %lld, \"causal\": \"%s\", \"layout\": \"varlen\", \"mode\": "
        "\"%s\", \"seed\": %llu, \"max_err\": %.3e, \"baseline_err\": %.3e, "
        "\"lse_err_over_tol\": %.3e, \"nan\": %lld, \"masked_row_errors\": "
        "%lld, \"outside_errors\": %lld, \"rows_checked\": %lld, "
        "\"reference\": \"%s\", \"median_ms\": %.4f, \"tflops\": %.1f%s%s%s}",
        verdict, kernel.name.c_str(), kernel.deviceName.c_str(),
        meta.dtype.c_str(), (long long)B, (long long)Hq, (long long)Hkv,
        (long long)tokensQ, (long long)tokensK, (long long)maxSeqlenQ,
        (long long)gap, (long long)D, meta.causal.c_str(), opt.mode.c_str(),
        (unsigned long long)opt.seed, stats.maxErr, stats.maxBase,
        stats.maxLseErr, (long long)stats.nanCount,
        (long long)stats.maskedRowErrors, (long long)outsideErrors,
        (long long)stats.checkedRows, referenceKind.c_str(), medianMs, tflops,
        modsText.empty() ? "" : ", \"mods\": \"", modsText.c_str(),
        modsText.empty() ? "" : "\"");
  else
    std::snprintf(
        line, sizeof(line),
        "%s %s B=%lld Hq=%lld Hkv=%lld Tq=%lld Tk=%lld max_seqlen_q=%lld "
        "D=%lld causal=%s layout=varlen gap=%lld mode=%s: max_err=%.3e "
        "(bound 2*%.3e) lse_err/tol=%.2f nan=%lld masked_row_errors=%lld "
        "outside_errors=%lld rows=%lld ref=%s%s%s",
        verdict, meta.dtype.c_str(), (long long)B, (long long)Hq,
        (long long)Hkv, (long long)tokensQ, (long long)tokensK,
        (long long)maxSeqlenQ, (long long)D, meta.causal.c_str(),
        (long long)gap, opt.mode.c_str(), stats.maxErr, stats.maxBase,
        stats.maxLseErr, (long long)stats.nanCount,
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

} // namespace fa_runner
