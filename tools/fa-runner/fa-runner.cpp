//===- fa-runner.cpp - Run and check fa-mlir kernels on a GPU -------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Loads a kernel written by fa-compile (<prefix>.cubin or .ptx, plus
// <prefix>.json), fills Q/K/V (and the captures of programmable attention,
// --capture) from a seeded generator, poisons the outputs, launches through
// the CUDA driver API (dlopen'ed: no CUDA needed to build) checking every
// call, and compares with a reference that shares no code with the kernel
// or the compiler: fp64 on the CPU for every row of small problems, and for
// large ones the plain one-warp-per-row fp64 GPU kernel of reference.cu
// (embedded when nvcc was found at build time; otherwise a seeded sample of
// rows on the CPU). The rule is docs/Measurement.md's:
//
//   max|out - ref| <= 2 * max|baseline - ref| + 1e-5
//
// where the baseline is the same attention computed the way a plain
// low-precision implementation would (scores and probabilities rounded to
// the input type). --bench times the kernel with CUDA events.
//
// Kernels of programmable attention (docs/ProgrammableAttention.md) carry
// their score_mod and mask_mod regions in the .json; both references apply
// them through one interpreter (ModProgram.h), read from the metadata the
// compiler takes from the fa.attention op, not from its lowering. Kernels
// whose metadata does not describe them ("from_op": false) run only with
// --no-check. --reference-only and --eval run the CPU side alone, without a
// kernel image or a driver (the lit tests of this machine use them).
//
// Without <prefix>.json, <prefix>.0, .1, ... are the kernels of a backward
// (Backward.h) or of a split-KV forward (SplitKV.h: partial and combine,
// checked as the forward is).
//
// A varlen kernel (fa.attention ... varlen(...)) runs with --seqlens-q and
// --seqlens-k instead of --batch, --nq and --nk (Varlen.h); a paged kernel
// (fa.attention ... paged(...)) with --cache-seqlens and --nq (Paged.h); a
// varlen-paged kernel (fa.attention ... varlen(%cu_q) ... paged(...):
// packed queries against a paged cache) with --seqlens-q and
// --cache-seqlens (VarlenPaged.h).
//
// Files: Options (command line), Metadata (the .json), ModParser,
// ModInterpreter and ModProgram (regions), Captures, Reference (inputs, one
// row of the CPU reference), CpuCheck (rows, --reference-only), TensorMaps
// (the CUtensorMap parameters of TMA kernels), Driver and GpuReference
// (CUDA), Json, Support, Launch (what varlen and paged runs share), Varlen
// and VarlenCheck (varlen kernels), Paged and PagedCheck (paged kernels),
// VarlenPaged and VarlenPagedCheck (varlen-paged kernels).
//
// Exit codes: 0 pass, 1 wrong result, 2 bad usage or input, 3 no GPU or
// driver, 4 CUDA error.
//
//===----------------------------------------------------------------------===//

#include "Backward.h"
#include "Captures.h"
#include "CpuCheck.h"
#include "Driver.h"
#include "GpuReference.h"
#include "Launch.h"
#include "Metadata.h"
#include "Options.h"
#include "Paged.h"
#include "Reference.h"
#include "SplitKV.h"
#include "Support.h"
#include "TensorMaps.h"
#include "Varlen.h"
#include "VarlenPaged.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

using namespace fa_runner;

namespace {

/// The varlen flags with a kernel that is not a varlen one.
[[noreturn]] void notVarlen(const std::string &what) {
  die(kUsage, "--seqlens-q, --seqlens-k, --max-seqlen-q and --gap go with a "
              "varlen kernel (fa.attention ... varlen(...)); " +
                  what + " (use --batch, --nq and --nk)");
}

/// Dies unless the host copies of Q, K, V and O (2 bytes an element) fit.
void checkProblemBytes(const Problem &p) {
  double q = double(p.B) * double(p.Hq) * double(p.Nq) * double(p.D);
  double kv = 2 * double(p.B) * double(p.Hkv) * double(p.Nk) * double(p.D);
  checkHostBytes(q * (2 + 2) + kv * 2, "this problem's inputs and output",
                 "of host memory");
}

} // namespace

static int runMain(int argc, char **argv) {
  Options opt = parseOptions(argc, argv);

  // Without <prefix>.json: the two kernels of a split-KV forward
  // (<prefix>.0 and .1), or the three of a backward pass (.0, .1 and .2).
  std::string metadataText, image;
  std::unique_ptr<SplitKVPair> split;
  if (!readFile(opt.prefix + ".json", metadataText)) {
    if (isSplitKVPrefix(opt.prefix))
      split = std::make_unique<SplitKVPair>(opt.prefix, opt.runsKernel(),
                                            opt.kvSplits);
    else if (isBackwardPrefix(opt.prefix)) {
      if (opt.varlen())
        notVarlen("the kernels at " + opt.prefix + " are a backward pass");
      if (opt.paged())
        notPaged("the kernels at " + opt.prefix + " are a backward pass",
                 "use --batch, --nq and --nk");
      if (opt.kvSplits)
        die(kUsage, "--kv-splits goes with the kernels of a split-KV forward "
                    "(fa-compile --split-kv), not a backward");
      return runBackward(opt);
    } else
      die(kUsage, "cannot read " + opt.prefix + ".json");
  }
  if (!split && opt.runsKernel()) {
    // A cubin, else a fatbin, else the PTX (which the driver compiles).
    bool haveBinary = readFile(opt.prefix + ".cubin", image) ||
                      readFile(opt.prefix + ".fatbin", image);
    if (!haveBinary && !readFile(opt.prefix + ".ptx", image))
      die(kUsage, "cannot read " + opt.prefix + ".cubin, " + opt.prefix +
                      ".fatbin or " + opt.prefix + ".ptx");
    if (!haveBinary)
      image.push_back('\0'); // PTX must be NUL-terminated
  }
  KernelMetadata plainMeta;
  if (!split)
    plainMeta = readMetadata(metadataText);
  KernelMetadata &meta = split ? split->meta() : plainMeta;
  if (!split && meta.splitKV) {
    std::string base = opt.prefix;
    if (size_t dot = base.rfind('.'); dot != std::string::npos)
      base.resize(dot);
    die(kUsage, opt.prefix + ".json is the " + meta.stage +
                    " kernel of a split-KV forward, which runs with its pair: "
                    "fa-runner " +
                    base);
  }
  if (!split && opt.kvSplits)
    die(kUsage, "--kv-splits goes with the kernels of a split-KV forward "
                "(fa-compile --split-kv); " +
                    opt.prefix + ".json is one kernel");
  // What a launch reads, checked before the driver is opened.
  if (!split && opt.runsKernel()) {
    meta.checkLaunchFields();
    if (image.empty() || image == std::string(1, '\0'))
      die(kUsage,
          "the kernel image " + opt.prefix + ".{cubin,fatbin,ptx} is empty");
  }
  if (meta.varlen) {
    if (split)
      die(kUsage, "metadata: the kernels at " + opt.prefix +
                      " are a split-KV pair of variable-length batches, "
                      "which fa-runner does not run");
    if (meta.paged)
      return runVarlenPaged(opt, meta, image);
    return runVarlen(opt, meta, image);
  }
  if (meta.paged)
    return runPaged(opt, meta, image, split.get());
  std::string kind =
      split ? "the kernels at " + opt.prefix + " are a split-KV pair"
            : opt.prefix + ".json is a fixed-length kernel";
  if (opt.varlen())
    notVarlen(kind);
  if (opt.paged())
    notPaged(kind, "use --batch, --nq and --nk");

  Problem p;
  p.bf16 = meta.dtype == "bf16";
  p.D = meta.headDim;
  checkHeadDims(meta, p.D, {{0, 3}, {1, 3}});
  p.scale = meta.scale;
  p.causal = meta.causal == "top_left"       ? 1
             : meta.causal == "bottom_right" ? 2
                                             : 0;
  p.lse = meta.lse;
  p.bshd = opt.layout == "bshd";
  // --eval alone needs sizes only where a capture's SHAPE names them.
  bool sizesRequired = opt.runsKernel() || opt.referenceOnly;
  p.B =
      resolveSize(opt.batch, meta.qShape[0], "batch", "--batch", sizesRequired);
  p.Hq = resolveSize(opt.qHeads, meta.qShape[1], "query heads", "--hq",
                     sizesRequired);
  p.Hkv = resolveSize(opt.kvHeads, meta.kShape[1], "key/value heads", "--hkv",
                      sizesRequired);
  p.Nq = resolveSize(opt.qLength, meta.qShape[2], "query length", "--nq",
                     sizesRequired);
  p.Nk = resolveSize(opt.kvLength, meta.kShape[2], "key length", "--nk",
                     sizesRequired);
  if (sizesRequired) {
    if (meta.kShape[0] >= 0 && meta.kShape[0] != p.B)
      die(kUsage, "metadata: K batch differs from Q batch");
    if (p.Hkv == 0 || p.Hq % p.Hkv != 0)
      die(kUsage, "query heads (" + std::to_string(p.Hq) +
                      ") must be a multiple of key/value heads (" +
                      std::to_string(p.Hkv) + ")");
    if (p.B == 0 || p.Hq == 0 || p.Nq == 0)
      die(kUsage, "empty problem: batch, heads and query length must be > 0");
    if (p.B > 65535 || p.Hq > 65535)
      die(kUsage, "batch and heads must be at most 65535 (grid limits)");
    checkProblemBytes(p);
    if (split)
      split->checkProblem(p);
  }
  // The launch shape, before the driver: the grid from q's and k's sizes
  // (a SplitKVPair launches its own).
  unsigned grid[3] = {0, 0, 0}, threads = 0;
  if (!split && opt.runsKernel()) {
    gridOf(meta.json["grid"],
           {LaunchArg{0, {p.B, p.Hq, p.Nq, p.D}, {}},
            LaunchArg{0, {p.B, p.Hkv, p.Nk, p.D}, {}}},
           /*maxSeqlenQ=*/-1, grid);
    threads = meta.threads();
  }

  bool checks = (opt.runsKernel() && opt.check) || !opt.runsKernel();
  if (!meta.uncheckable.empty() && checks)
    die(kUsage,
        "cannot check this kernel: " + meta.uncheckable +
            (opt.runsKernel() ? "; pass --no-check to run it unchecked" : ""));

  // Captures, on the host first (the CPU reference reads them there).
  SizeOfSymbol sizeOf = [&](const std::string &symbol) {
    struct {
      const char *name, *flag;
      int64_t value;
    } sizes[] = {{"B", "--batch", p.B},
                 {"Hq", "--hq", p.Hq},
                 {"Hkv", "--hkv", p.Hkv},
                 {"Nq", "--nq", p.Nq},
                 {"Nk", "--nk", p.Nk}};
    for (const auto &s : sizes)
      if (symbol == s.name) {
        if (s.value < 0)
          die(kUsage, "a --capture shape uses " + symbol +
                          ", which is dynamic in this kernel; pass " + s.flag);
        return s.value;
      }
    die(kUsage, "unknown size symbol " + symbol);
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
  if (!opt.evals.empty() && !opt.referenceOnly)
    return kPass;

  if (opt.referenceOnly) {
    Inputs in = makeInputs(p, opt.seed, opt.mode);
    if (!opt.dumpInputs.empty())
      dumpInputs(opt.dumpInputs, p, in, captures);
    return referenceOnly(p, meta, opt, in, mods);
  }

  // The [B, H, N, D] operands q, k, v, o (arguments 0..3) as the kernel
  // sees them: sizes and element strides.
  struct Layout {
    std::vector<int64_t> sizes, strides;
  };
  auto layoutOf = [&](int64_t argument) {
    bool kv = argument == 1 || argument == 2;
    int64_t h = kv ? p.Hkv : p.Hq, n = kv ? p.Nk : p.Nq;
    return Layout{{p.B, h, n, p.D}, p.strides(h, n)};
  };
  // Tensor maps, checked against the problem before any GPU work (the
  // buffers' addresses, 256-byte aligned by cuMemAlloc, come later).
  for (const TensorMapSpec &spec : meta.tensorMaps) {
    Layout l = layoutOf(spec.argument);
    TensorMapEncoding unused;
    if (std::string error =
            tensorMapEncoding(spec, l.sizes, l.strides, 256, unused);
        !error.empty())
      die(kUsage, error);
  }

  // The driver first: without one, say so before making large inputs.
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
  int smemOptin = 0, l2 = 0;
  check(cuda.cuDeviceGetAttribute(&smemOptin, kAttrMaxSharedOptin, device),
        "cuDeviceGetAttribute");
  check(cuda.cuDeviceGetAttribute(&l2, kAttrL2Size, device),
        "cuDeviceGetAttribute");

  CUfunction kernel = nullptr;
  std::string kernelName;
  int64_t smem = 0;
  if (split) {
    split->load(device, smemOptin);
    kernelName = split->kernelNames();
  } else {
    CUmodule module;
    check(cuda.cuModuleLoadData(&module, image.data()), "cuModuleLoadData");
    kernelName = meta.json["kernel"].asString();
    check(cuda.cuModuleGetFunction(&kernel, module, kernelName.c_str()),
          "cuModuleGetFunction");
    smem = meta.json["dynamic_shared_memory"].asInt();
    if (smem > smemOptin)
      die(kUsage, "the kernel needs " + std::to_string(smem) +
                      " bytes of shared memory; this GPU allows " +
                      std::to_string(smemOptin));
    check(cuda.cuFuncSetAttribute(kernel, kFuncAttrMaxDynamicShared,
                                  static_cast<int>(smem)),
          "cuFuncSetAttribute");
  }

  Inputs in = makeInputs(p, opt.seed, opt.mode);
  if (!opt.dumpInputs.empty())
    dumpInputs(opt.dumpInputs, p, in, captures);

  // Buffers; for --bench, enough copies that the rotation defeats L2.
  int64_t qElems = p.B * p.Hq * p.Nq * p.D;
  size_t qBytes = qElems * 2, kBytes = in.k.size() * 2,
         lseBytes = p.B * p.Hq * p.Nq * 4;
  size_t setBytes = 2 * qBytes + 2 * kBytes + (p.lse ? lseBytes : 0);
  int sets = 1;
  if (opt.bench) {
    size_t freeBytes = 0, totalBytes = 0;
    check(cuda.cuMemGetInfo_v2(&freeBytes, &totalBytes), "cuMemGetInfo");
    size_t want = 3 * static_cast<size_t>(std::max(l2, 1));
    sets = static_cast<int>(std::clamp<size_t>(
        (want + setBytes - 1) / setBytes, 1,
        std::max<size_t>(1, freeBytes / 2 / std::max<size_t>(setBytes, 1))));
    sets = std::min(sets, 16);
  }
  struct Set {
    std::unique_ptr<DeviceBuffer> q, k, v, o, lse;
    /// One per "tensor_maps" entry, encoded once: timing loops reuse them.
    std::vector<CUtensorMap> maps;

    CUdeviceptr operand(int64_t argument) const {
      const DeviceBuffer *operands[] = {q.get(), k.get(), v.get(), o.get()};
      return operands[argument]->ptr;
    }
  };
  std::vector<Set> buffers(sets);
  for (Set &s : buffers) {
    s.q = std::make_unique<DeviceBuffer>(in.q.data(), qBytes);
    s.k = std::make_unique<DeviceBuffer>(in.k.data(), kBytes);
    s.v = std::make_unique<DeviceBuffer>(in.v.data(), kBytes);
    s.o = std::make_unique<DeviceBuffer>(qBytes);
    s.lse = std::make_unique<DeviceBuffer>(p.lse ? lseBytes : 16);
    // Poison: 0xff bytes are NaN in bf16, f16 and f32.
    check(cuda.cuMemsetD8_v2(s.o->ptr, 0xff, qBytes), "cuMemsetD8");
    if (p.lse)
      check(cuda.cuMemsetD8_v2(s.lse->ptr, 0xff, lseBytes), "cuMemsetD8");
    for (const TensorMapSpec &spec : meta.tensorMaps) {
      Layout l = layoutOf(spec.argument);
      s.maps.push_back(
          encodeTensorMap(spec, l.sizes, l.strides, s.operand(spec.argument)));
    }
  }
  // Captures are read-only: one copy serves every set.
  std::vector<std::unique_ptr<DeviceBuffer>> captureBuffers;
  std::vector<ModCapture> deviceViews;
  std::vector<MemrefArg> captureArgs;
  for (const HostCapture &c : captures) {
    captureBuffers.push_back(
        std::make_unique<DeviceBuffer>(c.bytes.data(), c.bytes.size()));
    deviceViews.push_back(
        c.view(reinterpret_cast<const void *>(captureBuffers.back()->ptr)));
    captureArgs.push_back({captureBuffers.back()->ptr, c.shape, c.strides});
  }

  // Kernel parameters: one expanded memref descriptor per argument, then
  // the set's tensor maps (by value: cuLaunchKernel copies their 128 bytes).
  auto makeParams = [&](Set &s, std::vector<int64_t> &storage) {
    storage.clear();
    auto memref = [&](CUdeviceptr ptr, const std::vector<int64_t> &sizes,
                      const std::vector<int64_t> &strides) {
      storage.push_back(static_cast<int64_t>(ptr));
      storage.push_back(static_cast<int64_t>(ptr));
      storage.push_back(0);
      storage.insert(storage.end(), sizes.begin(), sizes.end());
      storage.insert(storage.end(), strides.begin(), strides.end());
    };
    for (int64_t argument = 0; argument < 4; ++argument) {
      Layout l = layoutOf(argument);
      memref(s.operand(argument), l.sizes, l.strides);
    }
    if (p.lse)
      memref(s.lse->ptr, {p.B, p.Hq, p.Nq}, {p.Hq * p.Nq, p.Nq, 1});
    for (size_t c = 0; c < captures.size(); ++c)
      memref(captureBuffers[c]->ptr, captures[c].shape, captures[c].strides);
  };

  unsigned gx = grid[0], gy = grid[1], gz = grid[2];
  // A persistent kernel: as many blocks as stay resident, at most one per
  // tile (metadata "persistent"); each loops over the tiles.
  if (!split && meta.json.has("persistent")) {
    int multiprocessors = 0, resident = 0;
    check(cuda.cuDeviceGetAttribute(&multiprocessors, kAttrMultiprocessors,
                                    device),
          "cuDeviceGetAttribute");
    check(cuda.cuOccupancyMaxActiveBlocksPerMultiprocessor(
              &resident, kernel, static_cast<int>(threads),
              static_cast<size_t>(smem)),
          "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    uint64_t tiles = uint64_t(gx) * gy * gz;
    uint64_t blocks = uint64_t(std::max(1, multiprocessors * resident));
    gx = static_cast<unsigned>(std::min(tiles, blocks));
    gy = gz = 1;
  }

  auto launch = [&](Set &s) {
    if (split) {
      MemrefArg operands[4];
      for (int64_t argument = 0; argument < 4; ++argument) {
        Layout l = layoutOf(argument);
        operands[argument] = {s.operand(argument), l.sizes, l.strides};
      }
      MemrefArg lse{s.lse->ptr, {p.B, p.Hq, p.Nq}, {p.Hq * p.Nq, p.Nq, 1}};
      split->launch(operands[0], operands[1], operands[2], operands[3],
                    p.lse ? &lse : nullptr, captureArgs, s.maps);
      return;
    }
    std::vector<int64_t> storage;
    makeParams(s, storage);
    std::vector<void *> params;
    for (int64_t &x : storage)
      params.push_back(&x);
    for (CUtensorMap &map : s.maps)
      params.push_back(&map);
    check(cuda.cuLaunchKernel(kernel, gx, gy, gz, threads, 1, 1,
                              static_cast<unsigned>(smem), nullptr,
                              params.data(), nullptr),
          "cuLaunchKernel");
  };

  launch(buffers[0]);
  check(cuda.cuCtxSynchronize(), "kernel execution");

  // --- check ---------------------------------------------------------------
  bool pass = true;
  CheckStats stats;
  std::string referenceKind = "none";
  int64_t capturesWritten = 0;
  if (opt.check) {
    // Captures are read-only kernel arguments: a kernel that writes one is
    // wrong (and the GPU reference would read what it wrote).
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
        check(cuda.cuMemcpyHtoD_v2(captureBuffers[c]->ptr,
                                   captures[c].bytes.data(), now.size()),
              "cuMemcpyHtoD");
      }
    }
    if (opt.perturb) {
      // Control: corrupt one output element on the device; the check must
      // fail whichever reference runs.
      uint16_t x;
      CUdeviceptr at = buffers[0].o->ptr + (qElems / 2) * 2;
      check(cuda.cuMemcpyDtoH_v2(&x, at, 2), "cuMemcpyDtoH");
      x = p.round((p.bf16 ? fromBF16(x) : fromF16(x)) + 0.25f);
      check(cuda.cuMemcpyHtoD_v2(at, &x, 2), "cuMemcpyHtoD");
    }
    bool small = isSmall(p, meta, opt);
    bool gpuReference =
        opt.reference == "gpu" ||
        (haveGpuReference() && opt.reference == "auto" && !small);
    std::string why;
    if (gpuReference &&
        !gpuReferenceFits(meta.scoreMod.get(), meta.maskMod.get(), why)) {
      if (opt.reference == "gpu")
        die(kUsage, "--reference gpu: " + why + "; use --reference cpu");
      gpuReference = false; // a sample of rows on the CPU instead
    }
    if (gpuReference) {
      referenceKind = "gpu";
      checkOnGpu(p, buffers[0].q->ptr, buffers[0].k->ptr, buffers[0].v->ptr,
                 buffers[0].o->ptr, p.lse ? buffers[0].lse->ptr : 0,
                 meta.scoreMod.get(), meta.maskMod.get(), deviceViews, stats);
    } else {
      referenceKind = small ? "cpu" : "cpu-sampled";
      std::vector<uint16_t> out(qElems);
      std::vector<float> lse(p.lse ? p.B * p.Hq * p.Nq : 0);
      check(cuda.cuMemcpyDtoH_v2(out.data(), buffers[0].o->ptr, qBytes),
            "cuMemcpyDtoH");
      if (p.lse)
        check(cuda.cuMemcpyDtoH_v2(lse.data(), buffers[0].lse->ptr, lseBytes),
              "cuMemcpyDtoH");
      checkOnCpu(p, in, mods, out, lse, pickRows(p, opt, small), stats);
    }
    double bound = 2 * stats.maxBase + 1e-5;
    pass = stats.nanCount == 0 && stats.maskedRowErrors == 0 &&
           stats.maxErr <= bound && stats.maxLseErr <= 1.0 &&
           capturesWritten == 0;
  }

  // --- bench ---------------------------------------------------------------
  double medianMs = 0, tflops = 0;
  if (opt.bench) {
    for (int i = 0; i < opt.warmup; ++i)
      launch(buffers[i % sets]);
    check(cuda.cuCtxSynchronize(), "warm-up");
    CUevent start, stop;
    check(cuda.cuEventCreate(&start, 0), "cuEventCreate");
    check(cuda.cuEventCreate(&stop, 0), "cuEventCreate");
    std::vector<float> times;
    for (int i = 0; i < opt.iterations; ++i) {
      check(cuda.cuEventRecord(start, nullptr), "cuEventRecord");
      launch(buffers[i % sets]);
      check(cuda.cuEventRecord(stop, nullptr), "cuEventRecord");
      check(cuda.cuEventSynchronize(stop), "cuEventSynchronize");
      float ms = 0;
      check(cuda.cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
      times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    medianMs = times[times.size() / 2];
    // Dense (or causal) work: a mask_mod's skipped blocks are not counted.
    double flops = 4.0 * p.B * p.Hq * double(p.Nq) * double(p.Nk) * p.D;
    if (p.causal)
      flops /= 2;
    tflops = flops / (medianMs * 1e-3) / 1e12;
  }

  const char *verdict = !opt.check ? "UNCHECKED" : pass ? "PASS" : "FAIL";
  std::string modsText = modsTag(meta);
  std::string splitsText = splitsTag(split ? split->splits() : -1, opt.json);
  char line[1536];
  if (opt.json) {
    std::snprintf(
        line, sizeof(line),
        "{\"verdict\": \"%s\", \"kernel\": \"%s\", \"device\": \"%s\", "
        "\"dtype\": \"%s\", \"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, "
        "\"Nq\": %lld, \"Nk\": %lld, \"D\": %lld, \"causal\": \"%s\", "
        "\"layout\": \"%s\", \"mode\": \"%s\", \"seed\": %llu, "
        "\"max_err\": %.3e, \"baseline_err\": %.3e, \"lse_err_over_tol\": "
        "%.3e, \"nan\": %lld, \"rows_checked\": %lld, \"reference\": "
        "\"%s\", \"median_ms\": %.4f, \"tflops\": %.1f%s%s%s%s}",
        verdict, kernelName.c_str(), deviceName, meta.dtype.c_str(),
        (long long)p.B, (long long)p.Hq, (long long)p.Hkv, (long long)p.Nq,
        (long long)p.Nk, (long long)p.D, meta.causal.c_str(),
        opt.layout.c_str(), opt.mode.c_str(), (unsigned long long)opt.seed,
        stats.maxErr, stats.maxBase, stats.maxLseErr, (long long)stats.nanCount,
        (long long)stats.checkedRows, referenceKind.c_str(), medianMs, tflops,
        modsText.empty() ? "" : ", \"mods\": \"", modsText.c_str(),
        modsText.empty() ? "" : "\"", splitsText.c_str());
  } else {
    std::snprintf(
        line, sizeof(line),
        "%s %s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld causal=%s "
        "layout=%s mode=%s%s: max_err=%.3e (bound 2*%.3e) lse_err/tol=%.2f "
        "nan=%lld masked_row_errors=%lld rows=%lld ref=%s%s%s",
        verdict, meta.dtype.c_str(), (long long)p.B, (long long)p.Hq,
        (long long)p.Hkv, (long long)p.Nq, (long long)p.Nk, (long long)p.D,
        meta.causal.c_str(), opt.layout.c_str(), opt.mode.c_str(),
        splitsText.c_str(), stats.maxErr, stats.maxBase, stats.maxLseErr,
        (long long)stats.nanCount, (long long)stats.maskedRowErrors,
        (long long)stats.checkedRows, referenceKind.c_str(),
        modsText.empty() ? "" : " mods=", modsText.c_str());
  }
  std::printf("%s", line);
  if (opt.bench && !opt.json)
    std::printf(" | %.4f ms, %.1f TFLOP/s (median of %d, %d rotating sets)",
                medianMs, tflops, opt.iterations, sets);
  std::printf("\n");
  return pass ? kPass : kWrong;
}

int main(int argc, char **argv) {
  // Every path sizes its host buffers from flags and metadata: an
  // allocation that fails is bad input, not a crash.
  try {
    return runMain(argc, argv);
  } catch (const std::bad_alloc &) {
    die(kUsage, "out of host memory for this problem; pass smaller sizes");
  } catch (const std::length_error &) {
    die(kUsage, "this problem is too large for the host's buffers; pass "
                "smaller sizes");
  }
}
