//===- Varlen.cpp - Run and check a kernel of variable-length batches -----===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Varlen.h"
#include "Captures.h"
#include "CpuCheck.h"
#include "Support.h"
#include "TensorMaps.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>

namespace fa_runner {

namespace {

/// 0xffff is NaN in bf16 and f16, 0xffffffff in f32 (the poison of rows
/// the kernel must write).
constexpr uint16_t kNaN16 = 0xffff;

/// A kernel argument as the launch passes it.
struct Arg {
  CUdeviceptr ptr = 0;
  std::vector<int64_t> sizes, strides;
};

/// A size from the metadata (static) or the flag (dynamic); -1 when both
/// are unknown and not `required`.
int64_t resolveHeads(int64_t flag, int64_t fromMetadata, const char *name,
                     const char *option, bool required) {
  if (fromMetadata >= 0) {
    if (flag >= 0 && flag != fromMetadata)
      die(kUsage, std::string("the kernel was compiled for ") + name + " = " +
                      std::to_string(fromMetadata) + ", but " + option +
                      " gave " + std::to_string(flag));
    return fromMetadata;
  }
  if (flag < 0 && required)
    die(kUsage,
        std::string(name) + " is dynamic in this kernel; pass " + option);
  return flag;
}

/// Whether a region reads its batch index (the GPU reference, which runs
/// one sequence as a batch of one, would pass 0).
bool readsBatch(const ModRegion *region) {
  if (!region)
    return false;
  int32_t batchArg = region->isScore ? 1 : 0;
  return std::find(region->operands.begin(), region->operands.end(),
                   batchArg) != region->operands.end();
}

/// The grid from the metadata: "scalar" (max_seqlen_q) or an argument's
/// size, less "minus", divided by "ceildiv" rounding up.
void gridOf(const Json &grid, const std::vector<Arg> &args, int64_t maxSeqlenQ,
            unsigned dims[3]) {
  if (grid.kind != Json::Array || grid.array.size() != 3)
    die(kUsage, "metadata: \"grid\" must have three entries");
  const int64_t limits[3] = {std::numeric_limits<int32_t>::max(), 65535, 65535};
  for (int i = 0; i < 3; ++i) {
    const Json &g = grid.array[i];
    std::string where = "metadata: grid entry " + std::to_string(i) + " (" +
                        (g.has("expr") ? g["expr"].asString() : "") + ")";
    int64_t value;
    if (g.has("scalar")) {
      if (g["scalar"].asString() != "max_seqlen_q")
        die(kUsage, where + " names the launch scalar '" + g["scalar"].string +
                        "'; a varlen kernel has max_seqlen_q only");
      value = maxSeqlenQ;
    } else {
      int64_t arg = g["arg"].asInt(), dim = g["dim"].asInt();
      if (arg < 0 || arg >= static_cast<int64_t>(args.size()) || dim < 0 ||
          dim >= static_cast<int64_t>(args[arg].sizes.size()))
        die(kUsage, where + " reads dimension " + std::to_string(dim) +
                        " of argument " + std::to_string(arg) +
                        ", which the kernel does not have");
      value = args[arg].sizes[dim];
    }
    if (g.has("minus"))
      value -= g["minus"].asInt();
    if (g.has("ceildiv")) {
      int64_t by = g["ceildiv"].asInt();
      if (by <= 0)
        die(kUsage, where + ": \"ceildiv\" must be positive");
      value = (value + by - 1) / by;
    }
    if (value < 0 || value > limits[i])
      die(kUsage, where + " is " + std::to_string(value) + ", outside [0, " +
                      std::to_string(limits[i]) + "]");
    dims[i] = static_cast<unsigned>(value);
  }
}

} // namespace

int runVarlen(const Options &opt, const KernelMetadata &meta,
              const std::string &image) {
  const std::string kernelFile = opt.prefix + ".json";
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

  Problem base{};
  base.bf16 = meta.dtype == "bf16";
  base.D = meta.headDim;
  base.scale = meta.scale;
  base.causal = meta.causal == "top_left"       ? 1
                : meta.causal == "bottom_right" ? 2
                                                : 0;
  base.lse = meta.lse;
  base.bshd = true; // a sequence's rows are [n, H, D]: B = 1, bshd strides
  base.B = 1;
  base.Hq = resolveHeads(opt.qHeads, meta.qShape[1], "query heads", "--hq",
                         opt.runsKernel());
  base.Hkv = resolveHeads(opt.kvHeads, meta.kShape[1], "key/value heads",
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

  if (base.Hkv == 0 || base.Hq % base.Hkv != 0)
    die(kUsage, "query heads (" + std::to_string(base.Hq) +
                    ") must be a multiple of key/value heads (" +
                    std::to_string(base.Hkv) + ")");
  if (base.Hq == 0 || base.Hq > 65535)
    die(kUsage, "query heads must be in [1, 65535] (grid limits)");
  int64_t Hq = base.Hq, Hkv = base.Hkv, D = base.D;
  if (std::string error = checkOffsets(cuQ, cuK, tokensQ, tokensK, maxSeqlenQ);
      !error.empty())
    die(kUsage, "bad offsets: " + error);

  // The kernel's arguments (pointers come with the buffers), contiguous.
  std::vector<Arg> args = {{0, {tokensQ, Hq, D}, {Hq * D, D, 1}},
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
  for (const TensorMapSpec &spec : meta.tensorMaps) {
    TensorMapEncoding unused;
    const Arg &a = args[spec.argument];
    if (std::string error =
            tensorMapEncoding(spec, a.sizes, a.strides, 256, unused);
        !error.empty())
      die(kUsage, error);
  }

  // Whether the GPU reference can check this kernel (--reference gpu
  // insists before any GPU work).
  std::string gpuReferenceWhyNot;
  if (gpuReferenceFits(meta.scoreMod.get(), meta.maskMod.get(),
                       gpuReferenceWhyNot) &&
      (readsBatch(meta.scoreMod.get()) || readsBatch(meta.maskMod.get())))
    gpuReferenceWhyNot = "the regions read the sequence index, which the "
                         "GPU reference (one sequence at a time) cannot give "
                         "them";
  if (opt.check && opt.reference == "gpu" && !gpuReferenceWhyNot.empty())
    die(kUsage,
        "--reference gpu: " + gpuReferenceWhyNot + "; use --reference cpu");

  // Inputs: each sequence from its own stream; NaN in the gaps.
  VarlenProblem vp = makeVarlenProblem(base, opt);
  // O and the LSE: NaN inside the sequences, the sentinel outside.
  std::vector<uint16_t> o0(tokensQ * Hq * D, kNaN16);
  std::vector<uint32_t> lse0(base.lse ? Hq * tokensQ : 0, 0xffffffffu);
  for (int64_t t = 0; t < tokensQ; ++t) {
    if (vp.inside(t))
      continue;
    std::fill_n(o0.begin() + t * Hq * D, Hq * D, kVarlenSentinel16);
    for (int64_t h = 0; h < Hq && base.lse; ++h)
      lse0[h * tokensQ + t] = kVarlenSentinel32;
  }

  // The driver.
  cuda.load();
  if (CUresult r = cuda.cuInit(0))
    die(kNoGpu, "cuInit failed (" + std::to_string(r) +
                    "): no usable GPU on this machine");
  int devices = 0;
  if (cuda.cuDeviceGetCount(&devices) || devices == 0)
    die(kNoGpu, "no CUDA device found");
  CUdevice device;
  check(cuda.cuDeviceGet(&device, 0), "cuDeviceGet");
  CUcontext context;
  check(cuda.cuDevicePrimaryCtxRetain(&context, device),
        "cuDevicePrimaryCtxRetain");
  check(cuda.cuCtxSetCurrent(context), "cuCtxSetCurrent");
  char deviceName[256] = {0};
  check(cuda.cuDeviceGetName(deviceName, sizeof(deviceName), device),
        "cuDeviceGetName");
  int smemOptin = 0;
  check(cuda.cuDeviceGetAttribute(&smemOptin, kAttrMaxSharedOptin, device),
        "cuDeviceGetAttribute");
  CUmodule module;
  check(cuda.cuModuleLoadData(&module, image.data()), "cuModuleLoadData");
  std::string kernelName = meta.json["kernel"].asString();
  CUfunction kernel;
  check(cuda.cuModuleGetFunction(&kernel, module, kernelName.c_str()),
        "cuModuleGetFunction");
  int64_t smem = meta.json["dynamic_shared_memory"].asInt();
  if (smem > smemOptin)
    die(kUsage, "the kernel needs " + std::to_string(smem) +
                    " bytes of shared memory; this GPU allows " +
                    std::to_string(smemOptin));
  check(cuda.cuFuncSetAttribute(kernel, kFuncAttrMaxDynamicShared,
                                static_cast<int>(smem)),
        "cuFuncSetAttribute");
  unsigned threads = static_cast<unsigned>(meta.json["block"].array[0].asInt());
  if (meta.json.has("persistent")) {
    int multiprocessors = 0, resident = 0;
    check(cuda.cuDeviceGetAttribute(&multiprocessors, kAttrMultiprocessors,
                                    device),
          "cuDeviceGetAttribute");
    check(cuda.cuOccupancyMaxActiveBlocksPerMultiprocessor(
              &resident, kernel, static_cast<int>(threads),
              static_cast<size_t>(smem)),
          "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    uint64_t tiles = uint64_t(grid[0]) * grid[1] * grid[2];
    uint64_t blocks = uint64_t(std::max(1, multiprocessors * resident));
    grid[0] = static_cast<unsigned>(std::min(tiles, blocks));
    grid[1] = grid[2] = 1;
  }

  size_t oBytes = o0.size() * 2, lseBytes = lse0.size() * 4;
  DeviceBuffer qBuf(vp.q.data(), vp.q.size() * 2),
      kBuf(vp.k.data(), vp.k.size() * 2), vBuf(vp.v.data(), vp.v.size() * 2),
      oBuf(o0.data(), oBytes), lseBuf(lse0.data(), lseBytes),
      cuQBuf(cuQ.data(), cuQ.size() * 4), cuKBuf(cuK.data(), cuK.size() * 4);
  std::vector<std::unique_ptr<DeviceBuffer>> captureBuffers;
  std::vector<ModCapture> deviceViews;
  for (const HostCapture &c : captures) {
    captureBuffers.push_back(
        std::make_unique<DeviceBuffer>(c.bytes.data(), c.bytes.size()));
    deviceViews.push_back(
        c.view(reinterpret_cast<const void *>(captureBuffers.back()->ptr)));
  }
  size_t a = 0;
  for (const DeviceBuffer *buffer : {&qBuf, &kBuf, &vBuf, &oBuf})
    args[a++].ptr = buffer->ptr;
  if (base.lse)
    args[a++].ptr = lseBuf.ptr;
  args[a++].ptr = cuQBuf.ptr;
  args[a++].ptr = cuKBuf.ptr;
  for (const auto &buffer : captureBuffers)
    args[a++].ptr = buffer->ptr;
  std::vector<CUtensorMap> maps;
  for (const TensorMapSpec &spec : meta.tensorMaps) {
    const Arg &arg = args[spec.argument];
    maps.push_back(encodeTensorMap(spec, arg.sizes, arg.strides, arg.ptr));
  }

  // One expanded memref descriptor per argument, then the tensor maps.
  std::vector<int64_t> storage;
  for (const Arg &arg : args) {
    storage.push_back(static_cast<int64_t>(arg.ptr));
    storage.push_back(static_cast<int64_t>(arg.ptr));
    storage.push_back(0);
    storage.insert(storage.end(), arg.sizes.begin(), arg.sizes.end());
    storage.insert(storage.end(), arg.strides.begin(), arg.strides.end());
  }
  std::vector<void *> params;
  for (int64_t &x : storage)
    params.push_back(&x);
  for (CUtensorMap &map : maps)
    params.push_back(&map);
  // An empty grid (max_seqlen_q = 0) has nothing to compute.
  bool empty = grid[0] == 0 || grid[1] == 0 || grid[2] == 0;
  auto launch = [&]() {
    if (!empty)
      check(cuda.cuLaunchKernel(kernel, grid[0], grid[1], grid[2], threads, 1,
                                1, static_cast<unsigned>(smem), nullptr,
                                params.data(), nullptr),
            "cuLaunchKernel");
  };
  launch();
  check(cuda.cuCtxSynchronize(), "kernel execution");

  // --- check ---------------------------------------------------------------
  bool pass = true;
  CheckStats stats;
  int64_t outsideErrors = 0, capturesWritten = 0;
  std::string referenceKind = "none";
  if (opt.check) {
    for (size_t c = 0; c < captures.size(); ++c) {
      std::vector<unsigned char> now(captures[c].bytes.size());
      if (!now.empty())
        check(cuda.cuMemcpyDtoH_v2(now.data(), captureBuffers[c]->ptr,
                                   now.size()),
              "cuMemcpyDtoH");
      if (now != captures[c].bytes) {
        std::fprintf(stderr, "fa-runner: the kernel wrote %s (read-only)\n",
                     captures[c].name.c_str());
        ++capturesWritten;
      }
    }
    // Control: one wrong element in the middle of the longest sequence.
    auto longest = std::max_element(opt.seqlensQ.begin(), opt.seqlensQ.end());
    int64_t lb = longest - opt.seqlensQ.begin();
    if (opt.perturb && *longest > 0) {
      uint16_t x;
      CUdeviceptr at =
          oBuf.ptr + (((cuQ[lb] + *longest / 2) * Hq + Hq / 2) * D + D / 2) * 2;
      check(cuda.cuMemcpyDtoH_v2(&x, at, 2), "cuMemcpyDtoH");
      x = base.round((base.bf16 ? fromBF16(x) : fromF16(x)) + 0.25f);
      check(cuda.cuMemcpyHtoD_v2(at, &x, 2), "cuMemcpyHtoD");
    }
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
                       meta, deviceViews, stats);
    } else {
      referenceKind = small ? "cpu" : "cpu-sampled";
      checkVarlenOnCpu(vp, opt, mods, small, out, lse, stats);
    }
    double bound = 2 * stats.maxBase + 1e-5;
    pass = stats.nanCount == 0 && stats.maskedRowErrors == 0 &&
           stats.maxErr <= bound && stats.maxLseErr <= 1.0 &&
           outsideErrors == 0 && capturesWritten == 0;
  }

  // --- bench ---------------------------------------------------------------
  double medianMs = 0, tflops = 0;
  if (opt.bench) {
    for (int i = 0; i < opt.warmup; ++i)
      launch();
    check(cuda.cuCtxSynchronize(), "warm-up");
    CUevent start, stop;
    check(cuda.cuEventCreate(&start, 0), "cuEventCreate");
    check(cuda.cuEventCreate(&stop, 0), "cuEventCreate");
    std::vector<float> times;
    for (int i = 0; i < opt.iterations; ++i) {
      check(cuda.cuEventRecord(start, nullptr), "cuEventRecord");
      launch();
      check(cuda.cuEventRecord(stop, nullptr), "cuEventRecord");
      check(cuda.cuEventSynchronize(stop), "cuEventSynchronize");
      float ms = 0;
      check(cuda.cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
      times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    medianMs = times[times.size() / 2];
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
        verdict, kernelName.c_str(), deviceName, meta.dtype.c_str(),
        (long long)B, (long long)Hq, (long long)Hkv, (long long)tokensQ,
        (long long)tokensK, (long long)maxSeqlenQ, (long long)gap, (long long)D,
        meta.causal.c_str(), opt.mode.c_str(), (unsigned long long)opt.seed,
        stats.maxErr, stats.maxBase, stats.maxLseErr, (long long)stats.nanCount,
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
