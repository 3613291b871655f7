//===- Launch.cpp - Loading, launching and timing one forward kernel ------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Launch.h"
#include "CpuCheck.h"
#include "SplitKV.h"
#include "Support.h"
#include "TensorMaps.h"

#include <algorithm>
#include <cstdio>
#include <limits>

namespace fa_runner {

int64_t resolveSize(int64_t flag, int64_t fromMetadata, const char *name,
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

int64_t argumentSize(const KernelMetadata &meta, int64_t argument, size_t dim) {
  return meta.json["arguments"].array[argument]["shape"].array[dim].asInt();
}

bool checkSequenceFlags(const Options &opt, const KernelMetadata &meta,
                        const SequenceFlags &flags) {
  const std::string file = opt.prefix + ".json";
  const std::string kind = std::string(flags.kernel) + " (" + file + ")";
  if (flags.fixedGiven)
    die(kUsage, std::string(flags.fixed) + " do not apply to " + kind + ": " +
                    flags.sequences);
  if (opt.layout != "bhsd")
    die(kUsage, "--layout " + opt.layout + " does not apply to " + kind + ": " +
                    flags.operands);
  // --eval alone needs sizes only where a capture's SHAPE names them.
  bool sizesRequired = opt.runsKernel() || opt.referenceOnly;
  if (!flags.sized && sizesRequired)
    die(kUsage, file + " is " + flags.kernel + ": pass " + flags.pass);
  if (!meta.uncheckable.empty() &&
      ((opt.check && opt.runsKernel()) || opt.referenceOnly))
    die(kUsage,
        "cannot check this kernel: " + meta.uncheckable +
            (opt.runsKernel() ? "; pass --no-check to run it unchecked" : ""));
  return sizesRequired;
}

void resolveHeads(Problem &base, const Options &opt, const KernelMetadata &meta,
                  size_t kvHeadsDim, bool required) {
  base.Hq =
      resolveSize(opt.qHeads, meta.qShape[1], "query heads", "--hq", required);
  base.Hkv = resolveSize(opt.kvHeads, meta.kShape[kvHeadsDim],
                         "key/value heads", "--hkv", required);
}

void checkHeadDims(const KernelMetadata &meta, int64_t D,
                   const std::vector<std::array<int64_t, 2>> &headDims) {
  for (const auto &[a, dim] : headDims)
    if (argumentSize(meta, a, dim) >= 0 && argumentSize(meta, a, dim) != D)
      die(kUsage,
          "metadata: " + meta.json["arguments"].array[a]["name"].string +
              "'s head dim differs from \"head_dim\"");
}

bool evaluateOnly(const Options &opt, HostCaptures &host) {
  for (const std::string &spec : opt.evals)
    evalCommand(spec, host.evaluator);
  return !opt.evals.empty() && !opt.referenceOnly;
}

Problem sequenceBase(const KernelMetadata &meta, bool bshd) {
  Problem base{};
  base.bf16 = meta.dtype == "bf16";
  base.D = meta.headDim;
  base.scale = meta.scale;
  base.causal = meta.causal == "top_left"       ? 1
                : meta.causal == "bottom_right" ? 2
                                                : 0;
  base.lse = meta.lse;
  base.bshd = bshd;
  base.B = 1; // each sequence is a problem of its own
  return base;
}

void checkHeads(const Problem &base) {
  if (base.Hkv == 0 || base.Hq % base.Hkv != 0)
    die(kUsage, "query heads (" + std::to_string(base.Hq) +
                    ") must be a multiple of key/value heads (" +
                    std::to_string(base.Hkv) + ")");
  if (base.Hq == 0 || base.Hq > 65535)
    die(kUsage, "query heads must be in [1, 65535] (grid limits)");
}

std::string sequenceGpuReferenceWhyNot(const KernelMetadata &meta,
                                       const Options &opt) {
  std::string why;
  if (gpuReferenceFits(meta.scoreMod.get(), meta.maskMod.get(), why) &&
      (readsBatch(meta.scoreMod.get()) || readsBatch(meta.maskMod.get())))
    why = "the regions read the sequence index, which the GPU reference (one "
          "sequence at a time) cannot give them";
  if (opt.check && opt.reference == "gpu" && !why.empty())
    die(kUsage, "--reference gpu: " + why + "; use --reference cpu");
  return why;
}

void perturbElement(const Problem &p, CUdeviceptr at) {
  uint16_t x;
  check(cuda.cuMemcpyDtoH_v2(&x, at, 2), "cuMemcpyDtoH");
  x = p.round((p.bf16 ? fromBF16(x) : fromF16(x)) + 0.25f);
  check(cuda.cuMemcpyHtoD_v2(at, &x, 2), "cuMemcpyHtoD");
}

bool sequencesPass(const CheckStats &stats, int64_t outsideErrors,
                   int64_t capturesWritten) {
  double bound = 2 * stats.maxBase + 1e-5;
  return stats.nanCount == 0 && stats.maskedRowErrors == 0 &&
         stats.maxErr <= bound && stats.maxLseErr <= 1.0 &&
         outsideErrors == 0 && capturesWritten == 0;
}

bool readsBatch(const ModRegion *region) {
  if (!region)
    return false;
  int32_t batchArg = region->isScore ? 1 : 0;
  return std::find(region->operands.begin(), region->operands.end(),
                   batchArg) != region->operands.end();
}

void gridOf(const Json &grid, const std::vector<LaunchArg> &args,
            int64_t maxSeqlenQ, unsigned dims[3]) {
  if (grid.kind != Json::Array || grid.array.size() != 3)
    die(kUsage, "metadata: \"grid\" must have three entries");
  const int64_t limits[3] = {std::numeric_limits<int32_t>::max(), 65535, 65535};
  for (int i = 0; i < 3; ++i) {
    const Json &g = grid.array[i];
    std::string where = "metadata: grid entry " + std::to_string(i) + " (" +
                        (g.has("expr") ? g["expr"].asString() : "") + ")";
    int64_t value;
    if (g.has("scalar")) {
      if (maxSeqlenQ < 0)
        die(kUsage, where + " names the launch scalar '" +
                        g["scalar"].asString() +
                        "'; this kernel has no launch scalar");
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

void checkTensorMaps(const KernelMetadata &meta,
                     const std::vector<LaunchArg> &args) {
  for (const TensorMapSpec &spec : meta.tensorMaps) {
    TensorMapEncoding unused;
    const LaunchArg &a = args[spec.argument];
    if (std::string error =
            tensorMapEncoding(spec, a.sizes, a.strides, 256, unused);
        !error.empty())
      die(kUsage, error);
  }
}

LoadedKernel openDevice(int &smemOptin) {
  LoadedKernel k;
  cuda.load();
  if (CUresult r = cuda.cuInit(0))
    die(kNoGpu, "cuInit failed (" + std::to_string(r) +
                    "): no usable GPU on this machine");
  int devices = 0;
  if (cuda.cuDeviceGetCount(&devices) || devices == 0)
    die(kNoGpu, "no CUDA device found");
  check(cuda.cuDeviceGet(&k.device, 0), "cuDeviceGet");
  CUcontext context;
  check(cuda.cuDevicePrimaryCtxRetain(&context, k.device),
        "cuDevicePrimaryCtxRetain");
  check(cuda.cuCtxSetCurrent(context), "cuCtxSetCurrent");
  char deviceName[256] = {0};
  check(cuda.cuDeviceGetName(deviceName, sizeof(deviceName), k.device),
        "cuDeviceGetName");
  k.deviceName = deviceName;
  check(cuda.cuDeviceGetAttribute(&smemOptin, kAttrMaxSharedOptin, k.device),
        "cuDeviceGetAttribute");
  return k;
}

LoadedKernel loadKernel(const KernelMetadata &meta, const std::string &image) {
  meta.checkLaunchFields();
  int smemOptin = 0;
  LoadedKernel k = openDevice(smemOptin);
  CUmodule module;
  check(cuda.cuModuleLoadData(&module, image.data()), "cuModuleLoadData");
  k.name = meta.json["kernel"].asString();
  check(cuda.cuModuleGetFunction(&k.function, module, k.name.c_str()),
        "cuModuleGetFunction");
  k.smem = meta.json["dynamic_shared_memory"].asInt();
  if (k.smem > smemOptin)
    die(kUsage, "the kernel needs " + std::to_string(k.smem) +
                    " bytes of shared memory; this GPU allows " +
                    std::to_string(smemOptin));
  check(cuda.cuFuncSetAttribute(k.function, kFuncAttrMaxDynamicShared,
                                static_cast<int>(k.smem)),
        "cuFuncSetAttribute");
  k.threads = meta.threads();
  return k;
}

void persistentGrid(const LoadedKernel &kernel, const KernelMetadata &meta,
                    unsigned grid[3]) {
  if (!meta.json.has("persistent"))
    return;
  int multiprocessors = 0, resident = 0;
  check(cuda.cuDeviceGetAttribute(&multiprocessors, kAttrMultiprocessors,
                                  kernel.device),
        "cuDeviceGetAttribute");
  check(cuda.cuOccupancyMaxActiveBlocksPerMultiprocessor(
            &resident, kernel.function, static_cast<int>(kernel.threads),
            static_cast<size_t>(kernel.smem)),
        "cuOccupancyMaxActiveBlocksPerMultiprocessor");
  uint64_t tiles = uint64_t(grid[0]) * grid[1] * grid[2];
  uint64_t blocks = uint64_t(std::max(1, multiprocessors * resident));
  grid[0] = static_cast<unsigned>(std::min(tiles, blocks));
  grid[1] = grid[2] = 1;
}

Launch::Launch(const LoadedKernel &loaded, const KernelMetadata &meta,
               const std::vector<LaunchArg> &args, const unsigned dims[3])
    : kernel(loaded), grid{dims[0], dims[1], dims[2]} {
  for (const TensorMapSpec &spec : meta.tensorMaps) {
    const LaunchArg &arg = args[spec.argument];
    maps.push_back(encodeTensorMap(spec, arg.sizes, arg.strides, arg.ptr));
  }
  // One expanded memref descriptor per argument, then the tensor maps (by
  // value: cuLaunchKernel copies their 128 bytes).
  for (const LaunchArg &arg : args) {
    storage.push_back(static_cast<int64_t>(arg.ptr));
    storage.push_back(static_cast<int64_t>(arg.ptr));
    storage.push_back(0);
    storage.insert(storage.end(), arg.sizes.begin(), arg.sizes.end());
    storage.insert(storage.end(), arg.strides.begin(), arg.strides.end());
  }
  for (int64_t &x : storage)
    params.push_back(&x);
  for (CUtensorMap &map : maps)
    params.push_back(&map);
}

void Launch::operator()() {
  // An empty grid (no query row) has nothing to compute.
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0)
    return;
  check(cuda.cuLaunchKernel(kernel.function, grid[0], grid[1], grid[2],
                            kernel.threads, 1, 1,
                            static_cast<unsigned>(kernel.smem), nullptr,
                            params.data(), nullptr),
        "cuLaunchKernel");
}

DeviceCaptures::DeviceCaptures(const std::vector<HostCapture> &captures) {
  for (const HostCapture &c : captures) {
    buffers.push_back(
        std::make_unique<DeviceBuffer>(c.bytes.data(), c.bytes.size()));
    views.push_back(
        c.view(reinterpret_cast<const void *>(buffers.back()->ptr)));
  }
}

int64_t countWrittenCaptures(const std::vector<HostCapture> &captures,
                             const DeviceCaptures &device) {
  int64_t written = 0;
  for (size_t c = 0; c < captures.size(); ++c) {
    std::vector<unsigned char> now(captures[c].bytes.size());
    if (!now.empty())
      check(
          cuda.cuMemcpyDtoH_v2(now.data(), device.buffers[c]->ptr, now.size()),
          "cuMemcpyDtoH");
    if (now != captures[c].bytes) {
      std::fprintf(stderr, "fa-runner: the kernel wrote %s (read-only)\n",
                   captures[c].name.c_str());
      ++written;
    }
  }
  return written;
}

double medianLaunchMs(const Options &opt, const std::function<void()> &launch) {
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
  return times[times.size() / 2];
}

namespace {

/// The operands on the device, freed last to first.
struct OperandBuffers {
  std::vector<std::unique_ptr<DeviceBuffer>> buffers;

  const DeviceBuffer &add(const void *data, size_t bytes) {
    buffers.push_back(std::make_unique<DeviceBuffer>(data, bytes));
    return *buffers.back();
  }
  ~OperandBuffers() {
    while (!buffers.empty())
      buffers.pop_back();
  }
};

} // namespace

void prepareLaunch(SequenceRun &run, const Options &opt,
                   const KernelMetadata &meta, const HostCaptures &host,
                   int64_t maxSeqlenQ) {
  for (const HostCapture &c : host.captures)
    run.args.push_back({0, c.shape, c.strides});
  if (!run.split) {
    gridOf(meta.json["grid"], run.args, maxSeqlenQ, run.grid);
    checkTensorMaps(meta, run.args);
  } else if (!meta.tensorMaps.empty()) {
    die(kUsage, "metadata: the paged split-KV partial kernel of " + opt.prefix +
                    " takes tensor maps, which fa-runner does not build for "
                    "paged caches (mma-sync kernels take none)");
  }
  run.gpuReferenceWhyNot = sequenceGpuReferenceWhyNot(meta, opt);
}

int runSequences(const Options &opt, const KernelMetadata &meta,
                 const std::string &image, const Problem &base,
                 const HostCaptures &host, SequenceRun &run) {
  // The driver first: without one, say so before making large inputs.
  SplitKVPair *split = run.split;
  LoadedKernel kernel;
  if (split) {
    int smemOptin = 0;
    kernel = openDevice(smemOptin);
    split->load(kernel.device, smemOptin);
    kernel.name = split->kernelNames();
  } else {
    kernel = loadKernel(meta, image);
    persistentGrid(kernel, meta, run.grid);
  }

  SequenceInputs in = run.inputs();
  size_t oBytes = in.o.size() * 2, lseBytes = in.lse.size() * 4;
  OperandBuffers device;
  std::vector<const std::vector<uint16_t> *> halves = {in.q, in.k, in.v};
  for (const std::vector<uint16_t> *t : halves)
    device.add(t->data(), t->size() * 2);
  const DeviceBuffer &oBuf = device.add(in.o.data(), oBytes);
  const DeviceBuffer &lseBuf = device.add(in.lse.data(), lseBytes);
  for (const std::vector<int32_t> *t : in.indices)
    device.add(t->data(), t->size() * 4);
  DeviceCaptures deviceCaptures(host.captures);
  std::vector<const DeviceBuffer *> bound;
  DeviceOperands operands;
  for (const auto &buffer : device.buffers) {
    bound.push_back(buffer.get() != &lseBuf || base.lse ? buffer.get()
                                                        : nullptr);
    operands.push_back(buffer->ptr);
  }
  std::vector<LaunchArg> &args = run.args;
  bindArguments(args, bound, deviceCaptures);
  std::unique_ptr<Launch> single;
  std::vector<CUtensorMap> noMaps;
  if (!split)
    single = std::make_unique<Launch>(kernel, meta, args, run.grid);
  // (A split pair: q, k, v, o, the LSE, then what follows the partial
  // LSE: the table, the lengths and the captures.)
  size_t firstTrailing = base.lse ? 5 : 4;
  std::vector<LaunchArg> trailing(args.begin() + firstTrailing, args.end());
  auto launch = [&] {
    if (!split)
      return (*single)();
    split->launch(args[0], args[1], args[2], args[3],
                  base.lse ? &args[4] : nullptr, trailing, noMaps);
  };
  launch();
  check(cuda.cuCtxSynchronize(), "kernel execution");

  // --- check ---------------------------------------------------------------
  bool pass = true;
  CheckStats stats;
  int64_t outsideErrors = 0, capturesWritten = 0;
  std::string referenceKind = "none";
  if (opt.check) {
    capturesWritten = countWrittenCaptures(host.captures, deviceCaptures);
    // The kernel's inputs (Q, the pool, the offsets, the table, the
    // lengths) are read-only.
    if (run.unchanged != SequenceRun::kNone) {
      for (size_t t = run.unchanged == SequenceRun::kAll ? 0 : 1; t < 3; ++t)
        outsideErrors += countChanged(*halves[t], *device.buffers[t]);
      for (size_t t = 0; t < in.indices.size(); ++t)
        outsideErrors += countChanged(*in.indices[t], *device.buffers[5 + t]);
    }
    // Control: one wrong element of O (in a row every check reads).
    if (opt.perturb && in.perturbAt >= 0)
      perturbElement(base, oBuf.ptr + in.perturbAt * 2);
    std::vector<uint16_t> out;
    std::vector<float> lse;
    auto copyOutputs = [&] {
      out.resize(in.o.size());
      lse.resize(in.lse.size());
      check(cuda.cuMemcpyDtoH_v2(out.data(), oBuf.ptr, oBytes), "cuMemcpyDtoH");
      if (base.lse)
        check(cuda.cuMemcpyDtoH_v2(lse.data(), lseBuf.ptr, lseBytes),
              "cuMemcpyDtoH");
    };
    // Rows outside every sequence keep their sentinel.
    if (run.outside) {
      copyOutputs();
      outsideErrors += run.outside(out, lse);
    }
    bool small = run.small();
    bool gpuReference =
        opt.reference == "gpu" ||
        (haveGpuReference() && opt.reference == "auto" && !small);
    if (!run.gpuReferenceWhyNot.empty())
      gpuReference = false; // a sample of rows on the CPU instead
    if (gpuReference) {
      referenceKind = "gpu";
      run.gpuCheck(operands, deviceCaptures.views, stats);
    } else {
      referenceKind = small ? "cpu" : "cpu-sampled";
      if (!run.outside)
        copyOutputs();
      run.cpuCheck(small, out, lse, stats);
    }
    pass = sequencesPass(stats, outsideErrors, capturesWritten);
  }

  // --- bench ---------------------------------------------------------------
  double medianMs = 0, tflops = 0;
  if (opt.bench) {
    medianMs = medianLaunchMs(opt, [&] { launch(); });
    double flops = run.flops();
    tflops = medianMs > 0 ? flops / (medianMs * 1e-3) / 1e12 : 0;
  }

  const char *verdict = !opt.check ? "UNCHECKED" : pass ? "PASS" : "FAIL";
  std::string modsText = modsTag(meta);
  std::string splitsText = splitsTag(split ? split->splits() : -1, opt.json);
  std::string line;
  if (opt.json)
    line =
        strprintf("{\"verdict\": \"%s\", \"kernel\": \"%s\", \"device\": "
                  "\"%s\", \"dtype\": \"%s\", ",
                  verdict, kernel.name.c_str(), kernel.deviceName.c_str(),
                  meta.dtype.c_str()) +
        run.sizesJson +
        strprintf(
            ", \"mode\": \"%s\", \"seed\": %llu, \"max_err\": %.3e, "
            "\"baseline_err\": %.3e, \"lse_err_over_tol\": %.3e, \"nan\": "
            "%lld, \"masked_row_errors\": %lld, \"outside_errors\": %lld, "
            "\"rows_checked\": %lld, \"reference\": \"%s\", \"median_ms\": "
            "%.4f, \"tflops\": %.1f%s%s%s%s}",
            opt.mode.c_str(), (unsigned long long)opt.seed, stats.maxErr,
            stats.maxBase, stats.maxLseErr, (long long)stats.nanCount,
            (long long)stats.maskedRowErrors, (long long)outsideErrors,
            (long long)stats.checkedRows, referenceKind.c_str(), medianMs,
            tflops, modsText.empty() ? "" : ", \"mods\": \"", modsText.c_str(),
            modsText.empty() ? "" : "\"", splitsText.c_str());
  else
    line = strprintf("%s %s ", verdict, meta.dtype.c_str()) + run.sizesText +
           strprintf(" mode=%s: max_err=%.3e (bound 2*%.3e) lse_err/tol=%.2f "
                     "nan=%lld masked_row_errors=%lld outside_errors=%lld "
                     "rows=%lld ref=%s%s%s%s",
                     opt.mode.c_str(), stats.maxErr, stats.maxBase,
                     stats.maxLseErr, (long long)stats.nanCount,
                     (long long)stats.maskedRowErrors, (long long)outsideErrors,
                     (long long)stats.checkedRows, referenceKind.c_str(),
                     modsText.empty() ? "" : " mods=", modsText.c_str(),
                     splitsText.c_str());
  // (As much of the line as a buffer of run.lineBytes holds.)
  std::printf("%s", line.substr(0, run.lineBytes - 1).c_str());
  if (opt.bench && !opt.json)
    std::printf(" | %.4f ms, %.1f TFLOP/s (median of %d)", medianMs, tflops,
                opt.iterations);
  std::printf("\n");
  return pass ? kPass : kWrong;
}

} // namespace fa_runner

void fa_runner::bindArguments(std::vector<LaunchArg> &args,
                              const std::vector<const DeviceBuffer *> &operands,
                              const DeviceCaptures &captures) {
  size_t a = 0;
  for (const DeviceBuffer *buffer : operands)
    if (buffer)
      args[a++].ptr = buffer->ptr;
  for (const auto &buffer : captures.buffers)
    args[a++].ptr = buffer->ptr;
}
