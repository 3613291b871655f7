//===- Backward.cpp - Run and check the kernels of a backward pass --------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Backward.h"
#include "Captures.h"
#include "Driver.h"
#include "Launch.h"
#include "Metadata.h"
#include "Reference.h"
#include "Support.h"
#include "TensorMaps.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>
#include <memory>
#include <thread>

namespace fa_runner {

namespace {

/// The kernels of a backward in launch order: backward-dq=stage or
/// backward-dq=accumulate.
constexpr const char *kStages[2][3] = {{"delta", "key_value", "query"},
                                       {"delta", "fused", "dq_convert"}};

struct StageKernel {
  KernelMetadata meta;
  std::string image;
  CUfunction function = nullptr;
  int64_t smem = 0;
  unsigned threads = 0;
};

/// A size from the metadata (static) or the flag (dynamic).
int64_t resolveSize(int64_t flag, int64_t fromMetadata, const char *name,
                    const char *option) {
  if (fromMetadata >= 0) {
    if (flag >= 0 && flag != fromMetadata)
      die(kUsage, std::string("the kernels were compiled for ") + name + " = " +
                      std::to_string(fromMetadata) + ", but " + option +
                      " gave " + std::to_string(flag));
    return fromMetadata;
  }
  if (flag < 0)
    die(kUsage,
        std::string(name) + " is dynamic in these kernels; pass " + option);
  return flag;
}

/// The gradients of one problem, [B, H, N, D] each.
struct Gradients {
  std::vector<double> dq, dk, dv;
};

/// The fp64 reference (`exact`) and the low-precision baseline of the
/// backward, for every element, from the rounded inputs the kernels read.
struct ReferenceResult {
  Gradients exact, base;
  std::vector<char> emptyRow; // [B, Hq, Nq]: the row keeps no key
};

ReferenceResult computeReference(const Problem &p, const Inputs &in,
                                 const std::vector<uint16_t> &gradOutput,
                                 const std::vector<uint16_t> &output,
                                 const std::vector<double> &exactOutput,
                                 const std::vector<double> &lse,
                                 const std::vector<float> &lseStored,
                                 ModEvaluator *mods, bool modsThreadSafe) {
  int64_t qElems = p.B * p.Hq * p.Nq * p.D, kElems = p.B * p.Hkv * p.Nk * p.D;
  ReferenceResult r;
  for (Gradients *g : {&r.exact, &r.base}) {
    g->dq.assign(qElems, 0.0);
    g->dk.assign(kElems, 0.0);
    g->dv.assign(kElems, 0.0);
  }
  r.emptyRow.assign(p.B * p.Hq * p.Nq, 0);
  auto qs = p.strides(p.Hq, p.Nq), ks = p.strides(p.Hkv, p.Nk);
  int64_t group = p.Hq / p.Hkv;
  constexpr double inf = std::numeric_limits<double>::infinity();

  // One (batch, key/value head) per task: dK and dV sum over its group.
  auto task = [&](int64_t b, int64_t kvh) {
    std::vector<double> s(p.Nk), sB(p.Nk), deriv(p.Nk);
    std::vector<char> kept(p.Nk);
    std::vector<float> dkB(p.Nk * p.D, 0.0f), dvB(p.Nk * p.D, 0.0f);
    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h)
      for (int64_t i = 0; i < p.Nq; ++i) {
        int64_t row = (b * p.Hq + h) * p.Nq + i;
        int64_t end = p.visibleEnd(i);
        bool any = false;
        for (int64_t j = 0; j < p.Nk; ++j) {
          kept[j] = j < end && (!mods || mods->keep(b, h, i, j));
          if (!kept[j])
            continue;
          double dot = 0;
          float dotF = 0;
          for (int64_t d = 0; d < p.D; ++d) {
            float qd = p.load(in.q, p.index(qs, b, h, i, d)),
                  kd = p.load(in.k, p.index(ks, b, kvh, j, d));
            dot += double(qd) * double(kd);
            dotF += qd * kd;
          }
          double x = dot * p.scale;
          float xB = p.roundTrip(p.roundTrip(dotF) * float(p.scale));
          deriv[j] = 1.0;
          if (mods && mods->hasScoreMod()) {
            // d score_mod / d s by a central difference in fp64.
            double step = 1e-5 * std::max(1.0, std::fabs(x));
            deriv[j] = (mods->modify(x + step, b, h, i, j) -
                        mods->modify(x - step, b, h, i, j)) /
                       (2 * step);
            x = mods->modify(x, b, h, i, j);
            xB = p.roundTrip(float(mods->modify(xB, b, h, i, j)));
          }
          s[j] = x;
          sB[j] = xB;
          any |= x != -inf;
        }
        r.emptyRow[row] = !any;
        if (!any)
          continue;
        // delta from the exact O, and as a plain implementation would
        // (from the stored O, in fp32).
        double delta = 0;
        float deltaB = 0;
        for (int64_t d = 0; d < p.D; ++d) {
          int64_t at = p.index(qs, b, h, i, d);
          double g = p.load(gradOutput, at);
          delta += g * exactOutput[at];
          deltaB += float(g) * p.load(output, at);
        }
        for (int64_t j = 0; j < p.Nk; ++j) {
          if (!kept[j] || s[j] == -inf)
            continue;
          double prob = std::exp(s[j] - lse[row]);
          float probB = p.roundTrip(std::exp(float(sB[j]) - lseStored[row]));
          double dp = 0;
          float dpB = 0;
          for (int64_t d = 0; d < p.D; ++d) {
            double g = p.load(gradOutput, p.index(qs, b, h, i, d));
            double v = p.load(in.v, p.index(ks, b, kvh, j, d));
            dp += g * v;
            dpB += float(g) * float(v);
          }
          dpB = p.roundTrip(dpB);
          double ds = prob * (dp - delta) * deriv[j];
          float dsB = p.roundTrip(probB * (dpB - deltaB) * float(deriv[j]));
          for (int64_t d = 0; d < p.D; ++d) {
            int64_t qa = p.index(qs, b, h, i, d),
                    ka = p.index(ks, b, kvh, j, d);
            double qd = p.load(in.q, qa), kd = p.load(in.k, ka);
            double g = p.load(gradOutput, qa);
            r.exact.dq[qa] += p.scale * ds * kd;
            r.base.dq[qa] += double(dsB * float(kd));
            r.exact.dk[ka] += p.scale * ds * qd;
            dkB[j * p.D + d] += dsB * float(qd);
            r.exact.dv[ka] += prob * g;
            dvB[j * p.D + d] += probB * float(g);
          }
        }
        for (int64_t d = 0; d < p.D; ++d) {
          int64_t qa = p.index(qs, b, h, i, d);
          r.base.dq[qa] = p.roundTrip(float(r.base.dq[qa] * p.scale));
        }
      }
    for (int64_t j = 0; j < p.Nk; ++j)
      for (int64_t d = 0; d < p.D; ++d) {
        int64_t ka = p.index(ks, b, kvh, j, d);
        r.base.dk[ka] = p.roundTrip(float(dkB[j * p.D + d] * p.scale));
        r.base.dv[ka] = p.roundTrip(dvB[j * p.D + d]);
      }
  };
  std::vector<std::pair<int64_t, int64_t>> tasks;
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t kvh = 0; kvh < p.Hkv; ++kvh)
      tasks.push_back({b, kvh});
  // The region interpreter keeps state: threads only without regions.
  unsigned workers =
      modsThreadSafe ? std::max(1u, std::thread::hardware_concurrency()) : 1;
  workers = std::min<unsigned>(workers, tasks.size());
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < workers; ++w)
    threads.emplace_back([&, w]() {
      for (size_t t = w; t < tasks.size(); t += workers)
        task(tasks[t].first, tasks[t].second);
    });
  for (std::thread &t : threads)
    t.join();
  return r;
}

struct Comparison {
  double maxErr = 0, maxBase = 0;
  int64_t nan = 0;
};

Comparison compare(const Problem &p, const std::vector<uint16_t> &kernel,
                   const std::vector<double> &exact,
                   const std::vector<double> &base) {
  Comparison c;
  for (size_t i = 0; i < kernel.size(); ++i) {
    double k = p.load(kernel, i);
    if (!std::isfinite(k)) {
      ++c.nan;
      continue;
    }
    c.maxErr = std::max(c.maxErr, std::fabs(k - exact[i]));
    c.maxBase = std::max(c.maxBase, std::fabs(base[i] - exact[i]));
  }
  return c;
}

} // namespace

bool isBackwardPrefix(const std::string &prefix) {
  std::string text;
  return readFile(prefix + ".0.json", text) &&
         text.find("\"backward\"") != std::string::npos;
}

int runBackward(const Options &opt) {
  if (!opt.runsKernel())
    die(kUsage, "--reference-only and --eval take a forward kernel; a "
                "backward runs its three kernels");
  StageKernel stages[3];
  for (int i = 0; i < 3; ++i) {
    std::string prefix = opt.prefix + "." + std::to_string(i), text;
    if (!readFile(prefix + ".json", text))
      die(kUsage, "cannot read " + prefix +
                      ".json (a backward has three "
                      "kernels, .0 to .2)");
    KernelMetadata meta = readMetadata(text);
    if (!meta.backward)
      die(kUsage, prefix + ".json is not a backward kernel");
    int slot = -1;
    const auto &names = kStages[meta.gradQueryAccumulator ? 1 : 0];
    for (int s = 0; s < 3; ++s)
      if (meta.stage == names[s])
        slot = s;
    if (slot < 0)
      die(kUsage, prefix + ".json: stage '" + meta.stage + "' is not one of " +
                      names[0] + ", " + names[1] + " and " + names[2]);
    if (stages[slot].function || !stages[slot].image.empty())
      die(kUsage, prefix + ".json: stage '" + meta.stage +
                      "' again: the three kernels of a backward are one "
                      "stage each");
    std::string image;
    bool binary = readFile(prefix + ".cubin", image) ||
                  readFile(prefix + ".fatbin", image);
    if (!binary) {
      if (!readFile(prefix + ".ptx", image))
        die(kUsage, "cannot read " + prefix + ".cubin, .fatbin or .ptx");
      image.push_back('\0');
    }
    stages[slot].meta = std::move(meta);
    stages[slot].image = std::move(image);
  }
  const KernelMetadata &meta = stages[2].meta;
  for (const StageKernel &s : stages)
    if (s.meta.json["backward"]["scale"].number != meta.scale ||
        s.meta.causal != meta.causal || s.meta.dtype != meta.dtype ||
        s.meta.headDim != meta.headDim ||
        s.meta.gradQueryAccumulator != meta.gradQueryAccumulator)
      die(kUsage, "the three kernels describe different backward passes");
  if (!meta.uncheckable.empty() && opt.check)
    die(kUsage, "cannot check these kernels: " + meta.uncheckable +
                    "; pass --no-check to run them unchecked");

  Problem p;
  p.bf16 = meta.dtype == "bf16";
  p.D = meta.headDim;
  p.scale = meta.scale;
  p.causal = meta.causal == "top_left"       ? 1
             : meta.causal == "bottom_right" ? 2
                                             : 0;
  p.lse = false;
  p.bshd = opt.layout == "bshd";
  p.B = resolveSize(opt.batch, meta.qShape[0], "batch", "--batch");
  p.Hq = resolveSize(opt.qHeads, meta.qShape[1], "query heads", "--hq");
  p.Hkv = resolveSize(opt.kvHeads, meta.kShape[1], "key/value heads", "--hkv");
  p.Nq = resolveSize(opt.qLength, meta.qShape[2], "query length", "--nq");
  p.Nk = resolveSize(opt.kvLength, meta.kShape[2], "key length", "--nk");
  if (p.Hkv == 0 || p.Hq % p.Hkv != 0)
    die(kUsage, "query heads must be a multiple of key/value heads");
  if (p.B <= 0 || p.Hq <= 0 || p.Nq <= 0 || p.Nk <= 0)
    die(kUsage, "empty problem: batch, heads and lengths must be > 0");
  if (p.B > 65535 || p.Hq > 65535)
    die(kUsage, "batch and heads must be at most 65535 (grid limits)");

  SizeOfSymbol sizeOf = [&](const std::string &symbol) -> int64_t {
    if (symbol == "B")
      return p.B;
    if (symbol == "Hq")
      return p.Hq;
    if (symbol == "Hkv")
      return p.Hkv;
    if (symbol == "Nq")
      return p.Nq;
    if (symbol == "Nk")
      return p.Nk;
    die(kUsage, "unknown size symbol " + symbol);
  };
  std::vector<HostCapture> captures =
      makeCaptures(meta.captures, opt.captures, sizeOf, opt.seed);
  std::vector<ModCapture> hostViews;
  for (const HostCapture &c : captures)
    hostViews.push_back(c.view(c.bytes.data()));
  ModEvaluator evaluator(meta.scoreMod.get(), meta.maskMod.get(), hostViews);
  ModEvaluator *mods = meta.hasMods() ? &evaluator : nullptr;

  // Inputs: Q, K, V, dO; O and the LSE of the forward in fp64.
  Inputs in = makeInputs(p, opt.seed, opt.mode);
  std::vector<uint16_t> gradOutput =
      makeInputs(p, opt.seed * 7919 + 17, "normal").q;
  int64_t qElems = p.B * p.Hq * p.Nq * p.D, kElems = p.B * p.Hkv * p.Nk * p.D;
  int64_t rows = p.B * p.Hq * p.Nq;
  std::vector<uint16_t> output(qElems);
  std::vector<double> exactOutput(qElems), lse(rows);
  std::vector<float> lseStored(rows);
  // Rows are independent: spread over the cores, each worker with its own
  // region interpreter (it keeps state). The forward costs B Hq Nq Nk D in
  // fp64; with --no-check it is still needed (the kernel reads O and LSE).
  auto qs = p.strides(p.Hq, p.Nq);
  unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  workers = static_cast<unsigned>(std::min<int64_t>(workers, rows));
  std::vector<std::thread> forwardThreads;
  for (unsigned w = 0; w < workers; ++w)
    forwardThreads.emplace_back([&, w]() {
      ModEvaluator local(meta.scoreMod.get(), meta.maskMod.get(), hostViews);
      ModEvaluator *rowMods = meta.hasMods() ? &local : nullptr;
      for (int64_t row = w; row < rows; row += workers) {
        int64_t i = row % p.Nq, h = row / p.Nq % p.Hq, b = row / p.Nq / p.Hq;
        RowResult r = evaluateRow(p, in, rowMods, b, h, i);
        lse[row] = r.lse;
        lseStored[row] = float(r.lse);
        for (int64_t d = 0; d < p.D; ++d) {
          int64_t at = p.index(qs, b, h, i, d);
          exactOutput[at] = r.out[d];
          output[at] = p.round(float(r.out[d]));
        }
      }
    });
  for (std::thread &t : forwardThreads)
    t.join();

  for (const StageKernel &s : stages) {
    s.meta.checkLaunchFields();
    if (s.image.empty())
      die(kUsage, "the image of " + s.meta.json["kernel"].asString() +
                      " (.cubin or .ptx) is empty");
  }
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
  int smemOptin = 0;
  check(cuda.cuDeviceGetAttribute(&smemOptin, kAttrMaxSharedOptin, device),
        "cuDeviceGetAttribute");
  for (StageKernel &s : stages) {
    CUmodule module;
    check(cuda.cuModuleLoadData(&module, s.image.data()), "cuModuleLoadData");
    std::string name = s.meta.json["kernel"].asString();
    check(cuda.cuModuleGetFunction(&s.function, module, name.c_str()),
          "cuModuleGetFunction");
    s.smem = s.meta.json["dynamic_shared_memory"].asInt();
    if (s.smem > smemOptin)
      die(kUsage, name + " needs " + std::to_string(s.smem) +
                      " bytes of shared memory; this GPU allows " +
                      std::to_string(smemOptin));
    check(cuda.cuFuncSetAttribute(s.function, kFuncAttrMaxDynamicShared,
                                  static_cast<int>(s.smem)),
          "cuFuncSetAttribute");
    s.threads = s.meta.threads();
  }

  size_t qBytes = qElems * 2, kBytes = kElems * 2, rowBytes = rows * 4;
  DeviceBuffer q(in.q.data(), qBytes), k(in.k.data(), kBytes),
      v(in.v.data(), kBytes), o(output.data(), qBytes),
      dO(gradOutput.data(), qBytes), lseBuf(lseStored.data(), rowBytes),
      delta(rowBytes), dq(qBytes), dk(kBytes), dv(kBytes),
      dqAccum(meta.gradQueryAccumulator ? qElems * 4 : 4);
  // Poison: 0xff bytes are NaN in bf16, f16 and f32.
  for (DeviceBuffer *buffer : {&delta, &dq, &dk, &dv, &dqAccum})
    check(cuda.cuMemsetD8_v2(buffer->ptr, 0xff, buffer->bytes), "cuMemsetD8");
  std::vector<std::unique_ptr<DeviceBuffer>> captureBuffers;
  for (const HostCapture &c : captures)
    captureBuffers.push_back(
        std::make_unique<DeviceBuffer>(c.bytes.data(), c.bytes.size()));

  std::vector<int64_t> storage;
  std::vector<LaunchArg> launchArgs; // what tensor maps are encoded over
  auto memref = [&](CUdeviceptr ptr, const std::vector<int64_t> &sizes,
                    const std::vector<int64_t> &strides) {
    launchArgs.push_back({ptr, sizes, strides});
    storage.push_back(static_cast<int64_t>(ptr));
    storage.push_back(static_cast<int64_t>(ptr));
    storage.push_back(0);
    storage.insert(storage.end(), sizes.begin(), sizes.end());
    storage.insert(storage.end(), strides.begin(), strides.end());
  };
  std::vector<int64_t> qSizes{p.B, p.Hq, p.Nq, p.D},
      kSizes{p.B, p.Hkv, p.Nk, p.D}, rowSizes{p.B, p.Hq, p.Nq},
      rowStrides{p.Hq * p.Nq, p.Nq, 1};
  std::vector<int64_t> qStrides = p.strides(p.Hq, p.Nq),
                       kStrides = p.strides(p.Hkv, p.Nk);
  memref(q.ptr, qSizes, qStrides);
  memref(k.ptr, kSizes, kStrides);
  memref(v.ptr, kSizes, kStrides);
  memref(o.ptr, qSizes, qStrides);
  memref(dO.ptr, qSizes, qStrides);
  memref(lseBuf.ptr, rowSizes, rowStrides);
  memref(delta.ptr, rowSizes, rowStrides);
  if (meta.gradQueryAccumulator) // contiguous
    memref(dqAccum.ptr, qSizes, {p.Hq * p.Nq * p.D, p.Nq * p.D, p.D, 1});
  memref(dq.ptr, qSizes, qStrides);
  memref(dk.ptr, kSizes, kStrides);
  memref(dv.ptr, kSizes, kStrides);
  for (size_t c = 0; c < captures.size(); ++c)
    memref(captureBuffers[c]->ptr, captures[c].shape, captures[c].strides);
  std::vector<void *> params;
  for (int64_t &x : storage)
    params.push_back(&x);
  // Per stage: the shared arguments, then its tensor maps by value.
  std::vector<std::vector<CUtensorMap>> stageMaps(std::size(stages));
  std::vector<std::vector<void *>> stageParams(std::size(stages), params);
  for (size_t i = 0; i < std::size(stages); ++i) {
    for (const TensorMapSpec &spec : stages[i].meta.tensorMaps) {
      const LaunchArg &arg = launchArgs.at(spec.argument);
      stageMaps[i].push_back(
          encodeTensorMap(spec, arg.sizes, arg.strides, arg.ptr));
    }
    for (CUtensorMap &map : stageMaps[i])
      stageParams[i].push_back(&map);
  }

  auto launch = [&](StageKernel &s) {
    // A backward grid is derived from q's or k's batch, heads or length.
    unsigned dims[3];
    gridOf(s.meta.json["grid"],
           {LaunchArg{0, {p.B, p.Hq, p.Nq}, {}},
            LaunchArg{0, {p.B, p.Hkv, p.Nk}, {}}},
           /*maxSeqlenQ=*/-1, dims);
    check(cuda.cuLaunchKernel(s.function, dims[0], dims[1], dims[2], s.threads,
                              1, 1, static_cast<unsigned>(s.smem), nullptr,
                              stageParams[&s - stages].data(), nullptr),
          "cuLaunchKernel");
  };
  auto runAll = [&]() {
    for (StageKernel &s : stages)
      launch(s);
  };
  runAll();
  check(cuda.cuCtxSynchronize(), "kernel execution");

  bool pass = true;
  Comparison cmp[3];
  int64_t emptyRowErrors = 0;
  if (opt.check) {
    std::vector<uint16_t> got[3] = {std::vector<uint16_t>(qElems),
                                    std::vector<uint16_t>(kElems),
                                    std::vector<uint16_t>(kElems)};
    check(cuda.cuMemcpyDtoH_v2(got[0].data(), dq.ptr, qBytes), "cuMemcpyDtoH");
    check(cuda.cuMemcpyDtoH_v2(got[1].data(), dk.ptr, kBytes), "cuMemcpyDtoH");
    check(cuda.cuMemcpyDtoH_v2(got[2].data(), dv.ptr, kBytes), "cuMemcpyDtoH");
    if (opt.perturb) // control: one wrong element must fail the check
      got[1][kElems / 2] = p.round(p.load(got[1], kElems / 2) + 0.25f);
    ReferenceResult ref =
        computeReference(p, in, gradOutput, output, exactOutput, lse, lseStored,
                         mods, /*modsThreadSafe=*/!mods);
    cmp[0] = compare(p, got[0], ref.exact.dq, ref.base.dq);
    cmp[1] = compare(p, got[1], ref.exact.dk, ref.base.dk);
    cmp[2] = compare(p, got[2], ref.exact.dv, ref.base.dv);
    // A row that keeps no key has a zero dQ row.
    for (int64_t b = 0; b < p.B; ++b)
      for (int64_t h = 0; h < p.Hq; ++h)
        for (int64_t i = 0; i < p.Nq; ++i)
          if (ref.emptyRow[(b * p.Hq + h) * p.Nq + i])
            for (int64_t d = 0; d < p.D; ++d)
              emptyRowErrors += p.load(got[0], p.index(qs, b, h, i, d)) != 0.0f;
    for (const Comparison &c : cmp)
      pass &= c.nan == 0 && c.maxErr <= 2 * c.maxBase + 1e-5;
    pass &= emptyRowErrors == 0;
  }

  double medianMs = 0, tflops = 0;
  if (opt.bench) {
    medianMs = medianLaunchMs(opt, runAll);
    // ANCHORS.md: the backward counts 2.5 times the forward's FLOPs.
    double flops = 2.5 * 4.0 * p.B * p.Hq * double(p.Nq) * double(p.Nk) * p.D;
    if (p.causal)
      flops /= 2;
    tflops = flops / (medianMs * 1e-3) / 1e12;
  }

  const char *verdict = !opt.check ? "UNCHECKED" : pass ? "PASS" : "FAIL";
  std::printf("%s backward %s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld "
              "causal=%s layout=%s mode=%s",
              verdict, meta.dtype.c_str(), (long long)p.B, (long long)p.Hq,
              (long long)p.Hkv, (long long)p.Nq, (long long)p.Nk,
              (long long)p.D, meta.causal.c_str(), opt.layout.c_str(),
              opt.mode.c_str());
  if (meta.hasMods())
    std::printf(" mods=yes captures=%zu", captures.size());
  if (opt.check) {
    const char *names[] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; ++i)
      std::printf(" %s: err=%.3e (bound 2*%.3e) nan=%lld", names[i],
                  cmp[i].maxErr, cmp[i].maxBase, (long long)cmp[i].nan);
    std::printf(" empty_row_errors=%lld", (long long)emptyRowErrors);
  }
  if (opt.bench)
    std::printf(" | %.4f ms, %.1f TFLOP/s (median of %d)", medianMs, tflops,
                opt.iterations);
  std::printf("\n");
  return pass ? kPass : kWrong;
}

} // namespace fa_runner
