//===- fa-runner.cpp - Run and check fa-mlir kernels on a GPU -------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Loads a kernel written by fa-compile (<prefix>.cubin or .ptx, plus
// <prefix>.json), fills Q/K/V from a seeded generator, poisons the outputs,
// launches through the CUDA driver API (dlopen'ed: no CUDA needed to build)
// checking every call, and compares with a reference that shares no code
// with the kernel: fp64 on the CPU for every row of small problems, and for
// large ones the plain one-warp-per-row fp64 GPU kernel of reference.cu
// (embedded when nvcc was found at build time; otherwise a seeded sample of
// rows on the CPU). The rule is ANCHORS.md's:
//
//   max|out - ref| <= 2 * max|baseline - ref| + 1e-5
//
// where the baseline is the same attention computed the way a plain
// low-precision implementation would (scores and probabilities rounded to
// the input type). --bench times the kernel with CUDA events.
//
// Exit codes: 0 pass, 1 wrong result, 2 bad usage or input, 3 no GPU or
// driver, 4 CUDA error.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#ifdef FA_RUNNER_GPU_REFERENCE
#include "reference_fatbin.h" // fa_reference_fatbin: reference.cu, by nvcc
#endif

namespace {

enum ExitCode { kPass = 0, kWrong = 1, kUsage = 2, kNoGpu = 3, kCudaError = 4 };

[[noreturn]] void die(int code, const std::string &message) {
  std::fprintf(stderr, "fa-runner: %s\n", message.c_str());
  std::exit(code);
}

//===----------------------------------------------------------------------===//
// A small JSON reader for the metadata file.
//===----------------------------------------------------------------------===//

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  const Json &operator[](const std::string &key) const {
    auto it = object.find(key);
    if (kind != Object || it == object.end())
      die(kUsage, "metadata: missing key '" + key + "'");
    return it->second;
  }
  bool has(const std::string &key) const {
    return kind == Object && object.count(key);
  }
  int64_t asInt() const {
    if (kind != Number)
      die(kUsage, "metadata: expected a number");
    return static_cast<int64_t>(number);
  }
  const std::string &asString() const {
    if (kind != String)
      die(kUsage, "metadata: expected a string");
    return string;
  }
};

class JsonParser {
public:
  explicit JsonParser(const std::string &text) : s(text) {}
  Json parse() {
    Json v = value();
    skip();
    if (pos != s.size())
      fail("trailing characters");
    return v;
  }

private:
  [[noreturn]] void fail(const char *what) {
    die(kUsage, std::string("metadata: malformed JSON (") + what +
                    ") at offset " + std::to_string(pos));
  }
  void skip() {
    while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos])))
      ++pos;
  }
  bool eat(char c) {
    skip();
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  std::string str() {
    if (!eat('"'))
      fail("expected string");
    std::string out;
    while (pos < s.size() && s[pos] != '"') {
      if (s[pos] == '\\') {
        if (++pos >= s.size())
          fail("bad escape");
        char c = s[pos];
        out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else {
        out += s[pos];
      }
      ++pos;
    }
    if (pos >= s.size())
      fail("unterminated string");
    ++pos;
    return out;
  }
  Json value() {
    skip();
    if (pos >= s.size())
      fail("unexpected end");
    Json v;
    char c = s[pos];
    if (c == '{') {
      ++pos;
      v.kind = Json::Object;
      if (eat('}'))
        return v;
      do {
        std::string key = str();
        if (!eat(':'))
          fail("expected ':'");
        v.object[key] = value();
      } while (eat(','));
      if (!eat('}'))
        fail("expected '}'");
    } else if (c == '[') {
      ++pos;
      v.kind = Json::Array;
      if (eat(']'))
        return v;
      do
        v.array.push_back(value());
      while (eat(','));
      if (!eat(']'))
        fail("expected ']'");
    } else if (c == '"') {
      v.kind = Json::String;
      v.string = str();
    } else if (s.compare(pos, 4, "true") == 0) {
      v.kind = Json::Bool;
      v.boolean = true;
      pos += 4;
    } else if (s.compare(pos, 5, "false") == 0) {
      v.kind = Json::Bool;
      pos += 5;
    } else if (s.compare(pos, 4, "null") == 0) {
      pos += 4;
    } else {
      char *end = nullptr;
      v.kind = Json::Number;
      v.number = std::strtod(s.c_str() + pos, &end);
      if (end == s.c_str() + pos)
        fail("expected a value");
      pos = end - s.c_str();
    }
    return v;
  }
  const std::string &s;
  size_t pos = 0;
};

//===----------------------------------------------------------------------===//
// The CUDA driver API, loaded at run time.
//===----------------------------------------------------------------------===//

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;

constexpr int kAttrMultiprocessors = 16;
constexpr int kAttrComputeMajor = 75;
constexpr int kAttrComputeMinor = 76;
constexpr int kAttrL2Size = 38;
constexpr int kAttrMaxSharedOptin = 97;
constexpr int kFuncAttrMaxDynamicShared = 8;

struct Driver {
  void *handle = nullptr;
#define FA_CUDA_FUNCTIONS(X)                                                   \
  X(cuInit, CUresult(unsigned))                                            \
  X(cuDeviceGetCount, CUresult(int *))                                     \
  X(cuDeviceGet, CUresult(CUdevice *, int))                                \
  X(cuDeviceGetName, CUresult(char *, int, CUdevice))                      \
  X(cuDeviceGetAttribute, CUresult(int *, int, CUdevice))                  \
  X(cuDevicePrimaryCtxRetain, CUresult(CUcontext *, CUdevice))             \
  X(cuCtxSetCurrent, CUresult(CUcontext))                                  \
  X(cuCtxSynchronize, CUresult())                                          \
  X(cuModuleLoadData, CUresult(CUmodule *, const void *))                  \
  X(cuModuleGetFunction, CUresult(CUfunction *, CUmodule, const char *))   \
  X(cuFuncSetAttribute, CUresult(CUfunction, int, int))                    \
  X(cuMemAlloc_v2, CUresult(CUdeviceptr *, size_t))                        \
  X(cuMemFree_v2, CUresult(CUdeviceptr))                                   \
  X(cuMemGetInfo_v2, CUresult(size_t *, size_t *))                         \
  X(cuMemcpyHtoD_v2, CUresult(CUdeviceptr, const void *, size_t))          \
  X(cuMemcpyDtoH_v2, CUresult(void *, CUdeviceptr, size_t))                \
  X(cuMemcpyDtoD_v2, CUresult(CUdeviceptr, CUdeviceptr, size_t))           \
  X(cuMemsetD8_v2, CUresult(CUdeviceptr, unsigned char, size_t))           \
  X(cuLaunchKernel,                                                            \
    CUresult(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, \
                 unsigned, unsigned, CUstream, void **, void **))              \
  X(cuEventCreate, CUresult(CUevent *, unsigned))                          \
  X(cuEventRecord, CUresult(CUevent, CUstream))                            \
  X(cuEventSynchronize, CUresult(CUevent))                                 \
  X(cuEventElapsedTime, CUresult(float *, CUevent, CUevent))               \
  X(cuGetErrorString, CUresult(CUresult, const char **))
#define FA_DECLARE(name, type) std::add_pointer_t<type> name = nullptr;
  FA_CUDA_FUNCTIONS(FA_DECLARE)
#undef FA_DECLARE

  void load() {
    handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      die(kNoGpu, "no CUDA driver (libcuda.so.1 not loadable): this machine "
                  "cannot run GPU kernels");
#define FA_LOAD(name, type)                                                    \
  name = reinterpret_cast<std::add_pointer_t<type>>(dlsym(handle, #name));                         \
  if (!name)                                                                   \
    die(kNoGpu, "the CUDA driver lacks " #name);
    FA_CUDA_FUNCTIONS(FA_LOAD)
#undef FA_LOAD
  }
};

Driver cuda;

void check(CUresult result, const char *what) {
  if (result == 0)
    return;
  const char *message = "unknown error";
  if (cuda.cuGetErrorString)
    cuda.cuGetErrorString(result, &message);
  die(kCudaError, std::string(what) + " failed: " + message + " (" +
                      std::to_string(result) + ")");
}

//===----------------------------------------------------------------------===//
// 16-bit floats.
//===----------------------------------------------------------------------===//

float bitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint32_t floatToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

uint16_t toBF16(float f) {
  uint32_t bits = floatToBits(f);
  if (std::isnan(f))
    return 0x7fc0;
  bits += 0x7fff + ((bits >> 16) & 1); // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}
float fromBF16(uint16_t h) { return bitsToFloat(static_cast<uint32_t>(h) << 16); }

float fromF16(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1f,
           mantissa = h & 0x3ff;
  if (exponent == 0) {
    if (mantissa == 0)
      return bitsToFloat(sign);
    float value = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -value : value;
  }
  if (exponent == 31)
    return bitsToFloat(sign | 0x7f800000u | (mantissa << 13));
  return bitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}
uint16_t toF16(float f) {
  if (std::isnan(f))
    return 0x7e00;
  uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  float a = std::fabs(f);
  if (a >= 65520.0f)
    return sign | 0x7c00;
  if (a < std::ldexp(1.0f, -24) * 0.5f)
    return sign;
  int exponent;
  std::frexp(a, &exponent); // a = m * 2^exponent, m in [0.5, 1)
  int e = std::max(exponent - 1, -14);
  // Round to a multiple of 2^(e - 10), nearest even (std::nearbyint).
  float quantum = std::ldexp(1.0f, e - 10);
  float q = std::nearbyint(a / quantum) * quantum;
  // Re-encode q exactly.
  if (q >= 65520.0f)
    return sign | 0x7c00;
  if (q < std::ldexp(1.0f, -14))
    return sign | static_cast<uint16_t>(q / std::ldexp(1.0f, -24));
  std::frexp(q, &exponent);
  uint16_t biased = static_cast<uint16_t>(exponent - 1 + 15);
  uint16_t mantissa = static_cast<uint16_t>(
      (q / std::ldexp(1.0f, exponent - 1) - 1.0f) * 1024.0f + 0.5f);
  return sign | static_cast<uint16_t>(biased << 10) | mantissa;
}

//===----------------------------------------------------------------------===//
// Options.
//===----------------------------------------------------------------------===//

struct Options {
  std::string prefix;
  int64_t batch = -1, qHeads = -1, kvHeads = -1, qLength = -1, kvLength = -1;
  uint64_t seed = 1;
  std::string mode = "normal";  // normal | large | dominant
  std::string layout = "bhsd";  // bhsd (contiguous) | bshd (strided)
  bool bench = false, json = false, check = true;
  int iterations = 50, warmup = 10;
  int64_t checkRows = 4096;
  std::string reference = "auto"; // auto | cpu | gpu
  bool perturb = false; // control: corrupt one output; the check must fail
};

void usage() {
  std::puts(
      "usage: fa-runner <prefix> [options]\n"
      "  loads <prefix>.cubin (or <prefix>.ptx) and <prefix>.json from "
      "fa-compile\n"
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
      "exit: 0 pass, 1 wrong result, 2 usage, 3 no GPU/driver, 4 CUDA error");
}

Options parseOptions(int argc, char **argv) {
  Options o;
  auto number = [&](int &i, const char *flag) -> int64_t {
    if (i + 1 >= argc)
      die(kUsage, std::string(flag) + " needs a value");
    char *end = nullptr;
    long long v = std::strtoll(argv[++i], &end, 10);
    if (*end || v < 0)
      die(kUsage, std::string(flag) + " needs a non-negative integer, got '" +
                      argv[i] + "'");
    return v;
  };
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
    else if (a == "--iters")
      o.iterations = static_cast<int>(number(i, "--iters"));
    else if (a == "--warmup")
      o.warmup = static_cast<int>(number(i, "--warmup"));
    else if (a == "--json")
      o.json = true;
    else if (a == "--perturb")
      o.perturb = true;
    else if (!a.empty() && a[0] == '-')
      die(kUsage, "unknown option '" + a + "' (see --help)");
    else if (o.prefix.empty())
      o.prefix = a;
    else
      die(kUsage, "more than one kernel prefix given");
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
#ifndef FA_RUNNER_GPU_REFERENCE
  if (o.reference == "gpu")
    die(kUsage, "--reference=gpu: this fa-runner was built without nvcc, so "
                "it has no GPU reference");
#endif
  return o;
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

//===----------------------------------------------------------------------===//
// The problem: sizes, host tensors, reference.
//===----------------------------------------------------------------------===//

struct Problem {
  int64_t B, Hq, Hkv, Nq, Nk, D;
  bool bf16;
  double scale;
  int causal; // 0 none, 1 top_left, 2 bottom_right
  bool lse;
  bool bshd;

  // Element strides (in elements) of Q/O ([B, Hq, N, D]) and K/V.
  std::vector<int64_t> strides(int64_t H, int64_t N) const {
    if (bshd) // memory is [B, N, H, D]
      return {N * H * D, D, H * D, 1};
    return {H * N * D, N * D, D, 1};
  }
  int64_t index(const std::vector<int64_t> &st, int64_t b, int64_t h,
                int64_t n, int64_t d) const {
    return b * st[0] + h * st[1] + n * st[2] + d * st[3];
  }
  float load(const std::vector<uint16_t> &t, int64_t i) const {
    return bf16 ? fromBF16(t[i]) : fromF16(t[i]);
  }
  uint16_t round(float f) const { return bf16 ? toBF16(f) : toF16(f); }
  float roundTrip(float f) const {
    return bf16 ? fromBF16(toBF16(f)) : fromF16(toF16(f));
  }
  /// Last key row i may see, exclusive (Nk when not causal).
  int64_t visibleEnd(int64_t i) const {
    if (!causal)
      return Nk;
    int64_t shift = causal == 1 ? 0 : Nk - Nq;
    return std::clamp<int64_t>(i + shift + 1, 0, Nk);
  }
};

struct RowResult {
  std::vector<double> out;
  double lse;
};

/// Exact attention of one query row in fp64.
RowResult referenceRow(const Problem &p, const std::vector<uint16_t> &q,
                       const std::vector<uint16_t> &k,
                       const std::vector<uint16_t> &v, int64_t b, int64_t h,
                       int64_t i) {
  auto qs = p.strides(p.Hq, p.Nq), ks = p.strides(p.Hkv, p.Nk);
  int64_t kvh = h / (p.Hq / p.Hkv);
  int64_t end = p.visibleEnd(i);
  RowResult r{std::vector<double>(p.D, 0.0),
              -std::numeric_limits<double>::infinity()};
  if (end == 0)
    return r;
  std::vector<double> s(end);
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < end; ++j) {
    double dot = 0;
    for (int64_t d = 0; d < p.D; ++d)
      dot += double(p.load(q, p.index(qs, b, h, i, d))) *
             double(p.load(k, p.index(ks, b, kvh, j, d)));
    s[j] = dot * p.scale;
    m = std::max(m, s[j]);
  }
  double l = 0;
  for (int64_t j = 0; j < end; ++j) {
    double e = std::exp(s[j] - m);
    l += e;
    for (int64_t d = 0; d < p.D; ++d)
      r.out[d] += e * double(p.load(v, p.index(ks, b, kvh, j, d)));
  }
  for (double &x : r.out)
    x /= l;
  r.lse = m + std::log(l);
  return r;
}

/// The same row the way a plain low-precision implementation computes it:
/// scores rounded to the input type, softmax in fp32, probabilities rounded,
/// P V accumulated in fp32 and rounded.
std::vector<double> baselineRow(const Problem &p,
                                const std::vector<uint16_t> &q,
                                const std::vector<uint16_t> &k,
                                const std::vector<uint16_t> &v, int64_t b,
                                int64_t h, int64_t i) {
  auto qs = p.strides(p.Hq, p.Nq), ks = p.strides(p.Hkv, p.Nk);
  int64_t kvh = h / (p.Hq / p.Hkv);
  int64_t end = p.visibleEnd(i);
  std::vector<double> out(p.D, 0.0);
  if (end == 0)
    return out;
  std::vector<float> s(end);
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < end; ++j) {
    float dot = 0;
    for (int64_t d = 0; d < p.D; ++d)
      dot += p.load(q, p.index(qs, b, h, i, d)) *
             p.load(k, p.index(ks, b, kvh, j, d));
    s[j] = p.roundTrip(p.roundTrip(dot) * static_cast<float>(p.scale));
    m = std::max(m, s[j]);
  }
  float l = 0;
  for (int64_t j = 0; j < end; ++j) {
    s[j] = std::exp(s[j] - m);
    l += s[j];
  }
  std::vector<float> acc(p.D, 0.0f);
  for (int64_t j = 0; j < end; ++j) {
    float pj = p.roundTrip(s[j] / l);
    for (int64_t d = 0; d < p.D; ++d)
      acc[d] += pj * p.load(v, p.index(ks, b, kvh, j, d));
  }
  for (int64_t d = 0; d < p.D; ++d)
    out[d] = p.roundTrip(acc[d]);
  return out;
}

struct DeviceBuffer {
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : bytes(n) {
    check(cuda.cuMemAlloc_v2(&ptr, std::max<size_t>(n, 16)), "cuMemAlloc");
  }
  ~DeviceBuffer() {
    if (ptr)
      cuda.cuMemFree_v2(ptr);
  }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
};

int64_t resolve(int64_t flag, int64_t fromMetadata, const char *name,
                const char *option) {
  if (fromMetadata >= 0) {
    if (flag >= 0 && flag != fromMetadata)
      die(kUsage, std::string("the kernel was compiled for ") + name + " = " +
                      std::to_string(fromMetadata) + ", but " + option +
                      " gave " + std::to_string(flag));
    return fromMetadata;
  }
  if (flag < 0)
    die(kUsage, std::string(name) + " is dynamic in this kernel; pass " +
                    option);
  return flag;
}

/// Runs reference.cu over every row of the output in `o` and folds its
/// per-row results into the same statistics as the CPU check.
void checkOnGpu(const Problem &p, const DeviceBuffer &q, const DeviceBuffer &k,
                const DeviceBuffer &v, const DeviceBuffer &o,
                const DeviceBuffer *lse, double &maxErr, double &maxBase,
                double &maxLseErr, int64_t &nanCount,
                int64_t &maskedRowErrors) {
#ifdef FA_RUNNER_GPU_REFERENCE
  // The driver wants the fatbin 8-byte aligned; bin2c's array is bytes.
  std::vector<uint64_t> image((sizeof(fa_reference_fatbin) + 7) / 8);
  std::memcpy(image.data(), fa_reference_fatbin, sizeof(fa_reference_fatbin));
  CUmodule module;
  check(cuda.cuModuleLoadData(&module, image.data()),
        "cuModuleLoadData (GPU reference)");
  CUfunction function;
  check(cuda.cuModuleGetFunction(&function, module,
                                 p.bf16 ? "fa_reference_bf16"
                                        : "fa_reference_f16"),
        "cuModuleGetFunction (GPU reference)");
  int64_t rows = p.B * p.Hq * p.Nq;
  DeviceBuffer err(rows * 8), base(rows * 8), lseErr(rows * 8), bad(rows * 4);
  struct Strides {
    long long b, h, s;
  };
  auto strides = [&](int64_t H, int64_t N) {
    std::vector<int64_t> st = p.strides(H, N);
    return Strides{st[0], st[1], st[2]};
  };
  Strides qs = strides(p.Hq, p.Nq), ks = strides(p.Hkv, p.Nk), os = qs;
  CUdeviceptr lsePtr = lse ? lse->ptr : 0;
  long long B = p.B, Hq = p.Hq, Hkv = p.Hkv, Nq = p.Nq, Nk = p.Nk;
  int D = static_cast<int>(p.D), causal = p.causal;
  double scale = p.scale;
  void *params[] = {const_cast<CUdeviceptr *>(&q.ptr),
                    const_cast<CUdeviceptr *>(&k.ptr),
                    const_cast<CUdeviceptr *>(&v.ptr),
                    const_cast<CUdeviceptr *>(&o.ptr),
                    &lsePtr, &qs, &ks, &os, &B, &Hq, &Hkv, &Nq, &Nk, &D,
                    &scale, &causal, &err.ptr, &base.ptr, &lseErr.ptr,
                    &bad.ptr};
  constexpr unsigned kThreads = 256;
  unsigned blocks =
      static_cast<unsigned>((rows * 32 + kThreads - 1) / kThreads);
  check(cuda.cuLaunchKernel(function, blocks, 1, 1, kThreads, 1, 1, 0,
                            nullptr, params, nullptr),
        "cuLaunchKernel (GPU reference)");
  check(cuda.cuCtxSynchronize(), "GPU reference execution");
  std::vector<double> e(rows), b(rows), l(rows);
  std::vector<int32_t> flags(rows);
  check(cuda.cuMemcpyDtoH_v2(e.data(), err.ptr, rows * 8), "cuMemcpyDtoH");
  check(cuda.cuMemcpyDtoH_v2(b.data(), base.ptr, rows * 8), "cuMemcpyDtoH");
  check(cuda.cuMemcpyDtoH_v2(l.data(), lseErr.ptr, rows * 8), "cuMemcpyDtoH");
  check(cuda.cuMemcpyDtoH_v2(flags.data(), bad.ptr, rows * 4),
        "cuMemcpyDtoH");
  for (int64_t r = 0; r < rows; ++r) {
    // NaN compares false: count it instead of letting max() drop it.
    if (std::isnan(e[r]))
      ++nanCount;
    else
      maxErr = std::max(maxErr, e[r]);
    maxBase = std::max(maxBase, b[r]);
    maxLseErr = std::max(maxLseErr, std::isnan(l[r])
                                        ? std::numeric_limits<double>::infinity()
                                        : l[r]);
    nanCount += flags[r] & 1;
    maskedRowErrors += (flags[r] >> 1) & 1;
  }
#else
  (void)p, (void)q, (void)k, (void)v, (void)o, (void)lse, (void)maxErr,
      (void)maxBase, (void)maxLseErr, (void)nanCount, (void)maskedRowErrors;
  die(kUsage, "this fa-runner has no GPU reference (built without nvcc)");
#endif
}

} // namespace

int main(int argc, char **argv) {
  Options opt = parseOptions(argc, argv);

  std::string metadataText, image;
  if (!readFile(opt.prefix + ".json", metadataText))
    die(kUsage, "cannot read " + opt.prefix + ".json");
  bool haveCubin = readFile(opt.prefix + ".cubin", image);
  if (!haveCubin && !readFile(opt.prefix + ".ptx", image))
    die(kUsage, "cannot read " + opt.prefix + ".cubin or " + opt.prefix +
                    ".ptx");
  if (!haveCubin)
    image.push_back('\0'); // PTX must be NUL-terminated
  Json meta = JsonParser(metadataText).parse();

  const Json &args = meta["arguments"];
  if (args.kind != Json::Array || args.array.size() < 4)
    die(kUsage, "metadata: expected at least 4 kernel arguments");
  const Json &attention = meta["attention"];
  Problem p;
  std::string dtype = attention["dtype"].asString();
  if (dtype != "bf16" && dtype != "f16")
    die(kUsage, "metadata: unsupported dtype " + dtype);
  p.bf16 = dtype == "bf16";
  p.D = attention["head_dim"].asInt();
  p.scale = attention["scale"].number;
  std::string causal = attention["causal"].asString();
  p.causal = causal == "top_left" ? 1 : causal == "bottom_right" ? 2 : 0;
  p.lse = attention["lse"].boolean;
  p.bshd = opt.layout == "bshd";
  auto shape = [&](int arg, int dim) {
    return args.array[arg]["shape"].array[dim].asInt();
  };
  p.B = resolve(opt.batch, shape(0, 0), "batch", "--batch");
  p.Hq = resolve(opt.qHeads, shape(0, 1), "query heads", "--hq");
  p.Hkv = resolve(opt.kvHeads, shape(1, 1), "key/value heads", "--hkv");
  p.Nq = resolve(opt.qLength, shape(0, 2), "query length", "--nq");
  p.Nk = resolve(opt.kvLength, shape(1, 2), "key length", "--nk");
  if (shape(1, 0) >= 0 && shape(1, 0) != p.B)
    die(kUsage, "metadata: K batch differs from Q batch");
  if (p.Hkv == 0 || p.Hq % p.Hkv != 0)
    die(kUsage, "query heads (" + std::to_string(p.Hq) +
                    ") must be a multiple of key/value heads (" +
                    std::to_string(p.Hkv) + ")");
  if (p.B == 0 || p.Hq == 0 || p.Nq == 0)
    die(kUsage, "empty problem: batch, heads and query length must be > 0");
  if (p.B > 65535 || p.Hq > 65535)
    die(kUsage, "batch and heads must be at most 65535 (grid limits)");

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

  CUmodule module;
  check(cuda.cuModuleLoadData(&module, image.data()), "cuModuleLoadData");
  CUfunction kernel;
  std::string kernelName = meta["kernel"].asString();
  check(cuda.cuModuleGetFunction(&kernel, module, kernelName.c_str()),
        "cuModuleGetFunction");
  int64_t smem = meta["dynamic_shared_memory"].asInt();
  if (smem > smemOptin)
    die(kUsage, "the kernel needs " + std::to_string(smem) +
                    " bytes of shared memory; this GPU allows " +
                    std::to_string(smemOptin));
  check(cuda.cuFuncSetAttribute(kernel, kFuncAttrMaxDynamicShared,
                                static_cast<int>(smem)),
        "cuFuncSetAttribute");

  // Inputs: fresh random values, never zeros.
  int64_t qElems = p.B * p.Hq * p.Nq * p.D, kElems = p.B * p.Hkv * p.Nk * p.D;
  std::vector<uint16_t> q(qElems), k(kElems), v(kElems);
  {
    // splitmix64 and a sum of four 16-bit uniforms (Irwin-Hall, unit
    // variance): close enough to normal for attention inputs, and fast
    // enough for tensors of billions of elements.
    uint64_t state = opt.seed * 0x9e3779b97f4a7c15ull + 1;
    auto rng = [&]() {
      uint64_t z = (state += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      return z ^ (z >> 31);
    };
    auto normal = [&](decltype(rng) &gen) {
      uint64_t bits = gen();
      float sum = 0;
      for (int i = 0; i < 4; ++i)
        sum += static_cast<float>((bits >> (16 * i)) & 0xffff);
      return (sum / 65535.0f - 2.0f) * 1.7320508f; // var(sum of 4 U) = 1/3
    };
    float magnitude = opt.mode == "large" ? 8.0f : 1.0f;
    for (auto &x : q)
      x = p.round(normal(rng) * magnitude);
    for (auto &x : k)
      x = p.round(normal(rng) * magnitude);
    for (auto &x : v)
      x = p.round(normal(rng));
    if (opt.mode == "dominant") {
      // Each query row points at one visible key: one logit per row is far
      // above the rest.
      auto qs = p.strides(p.Hq, p.Nq), ks = p.strides(p.Hkv, p.Nk);
      for (int64_t b = 0; b < p.B; ++b)
        for (int64_t h = 0; h < p.Hq; ++h)
          for (int64_t i = 0; i < p.Nq; ++i) {
            int64_t end = p.visibleEnd(i);
            if (end == 0)
              continue;
            int64_t j = static_cast<int64_t>(rng() % end);
            int64_t kvh = h / (p.Hq / p.Hkv);
            for (int64_t d = 0; d < p.D; ++d)
              q[p.index(qs, b, h, i, d)] = p.round(
                  0.1f * normal(rng) +
                  3.0f * p.load(k, p.index(ks, b, kvh, j, d)));
          }
    }
  }

  // Buffers; for --bench, enough copies that the rotation defeats L2.
  size_t qBytes = qElems * 2, kBytes = kElems * 2,
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
  };
  std::vector<Set> buffers(sets);
  for (Set &s : buffers) {
    s.q = std::make_unique<DeviceBuffer>(qBytes);
    s.k = std::make_unique<DeviceBuffer>(kBytes);
    s.v = std::make_unique<DeviceBuffer>(kBytes);
    s.o = std::make_unique<DeviceBuffer>(qBytes);
    s.lse = std::make_unique<DeviceBuffer>(p.lse ? lseBytes : 16);
    check(cuda.cuMemcpyHtoD_v2(s.q->ptr, q.data(), qBytes), "cuMemcpyHtoD");
    check(cuda.cuMemcpyHtoD_v2(s.k->ptr, k.data(), kBytes), "cuMemcpyHtoD");
    check(cuda.cuMemcpyHtoD_v2(s.v->ptr, v.data(), kBytes), "cuMemcpyHtoD");
    // Poison: 0xff bytes are NaN in bf16, f16 and f32.
    check(cuda.cuMemsetD8_v2(s.o->ptr, 0xff, qBytes), "cuMemsetD8");
    if (p.lse)
      check(cuda.cuMemsetD8_v2(s.lse->ptr, 0xff, lseBytes), "cuMemsetD8");
  }

  // Kernel parameters: one expanded memref descriptor per argument.
  auto makeParams = [&](Set &s, std::vector<int64_t> &storage) {
    storage.clear();
    auto memref = [&](CUdeviceptr ptr, std::vector<int64_t> sizes,
                      std::vector<int64_t> strides) {
      storage.push_back(static_cast<int64_t>(ptr));
      storage.push_back(static_cast<int64_t>(ptr));
      storage.push_back(0);
      storage.insert(storage.end(), sizes.begin(), sizes.end());
      storage.insert(storage.end(), strides.begin(), strides.end());
    };
    memref(s.q->ptr, {p.B, p.Hq, p.Nq, p.D}, p.strides(p.Hq, p.Nq));
    memref(s.k->ptr, {p.B, p.Hkv, p.Nk, p.D}, p.strides(p.Hkv, p.Nk));
    memref(s.v->ptr, {p.B, p.Hkv, p.Nk, p.D}, p.strides(p.Hkv, p.Nk));
    memref(s.o->ptr, {p.B, p.Hq, p.Nq, p.D}, p.strides(p.Hq, p.Nq));
    if (p.lse)
      memref(s.lse->ptr, {p.B, p.Hq, p.Nq}, {p.Hq * p.Nq, p.Nq, 1});
  };
  if (static_cast<size_t>(p.lse ? 5 : 4) != args.array.size())
    die(kUsage, "metadata: argument count does not match the LSE flag");

  const Json &grid = meta["grid"];
  auto gridDim = [&](int i) -> unsigned {
    const Json &g = grid.array.at(i);
    int64_t arg = g["arg"].asInt(), dim = g["dim"].asInt();
    if (arg != 0)
      die(kUsage, "metadata: grid must be derived from q");
    int64_t sizes[4] = {p.B, p.Hq, p.Nq, p.D};
    int64_t value = sizes[dim];
    if (g.has("ceildiv"))
      value = (value + g["ceildiv"].asInt() - 1) / g["ceildiv"].asInt();
    return static_cast<unsigned>(value);
  };
  unsigned gx = gridDim(0), gy = gridDim(1), gz = gridDim(2);
  unsigned threads = static_cast<unsigned>(meta["block"].array[0].asInt());

  auto launch = [&](Set &s) {
    std::vector<int64_t> storage;
    makeParams(s, storage);
    std::vector<void *> params;
    for (int64_t &x : storage)
      params.push_back(&x);
    check(cuda.cuLaunchKernel(kernel, gx, gy, gz, threads, 1, 1,
                              static_cast<unsigned>(smem), nullptr,
                              params.data(), nullptr),
          "cuLaunchKernel");
  };

  launch(buffers[0]);
  check(cuda.cuCtxSynchronize(), "kernel execution");

  // --- check ---------------------------------------------------------------
  bool pass = true;
  double maxErr = 0, maxBase = 0, maxLseErr = 0;
  int64_t checkedRows = 0, nanCount = 0, maskedRowErrors = 0;
  std::string referenceKind = "none";
  if (opt.check) {
    if (opt.perturb) {
      // Control: corrupt one output element on the device; the check must
      // fail whichever reference runs.
      uint16_t x;
      CUdeviceptr at = buffers[0].o->ptr + (qElems / 2) * 2;
      check(cuda.cuMemcpyDtoH_v2(&x, at, 2), "cuMemcpyDtoH");
      x = p.round((p.bf16 ? fromBF16(x) : fromF16(x)) + 0.25f);
      check(cuda.cuMemcpyHtoD_v2(at, &x, 2), "cuMemcpyHtoD");
    }
    int64_t totalRows = p.B * p.Hq * p.Nq;
    double cost = double(totalRows) * double(p.Nk) * double(p.D);
    bool small = cost <= 2e9 || totalRows <= opt.checkRows;
    bool gpuReference = opt.reference == "gpu";
#ifdef FA_RUNNER_GPU_REFERENCE
    gpuReference |= opt.reference == "auto" && !small;
#endif
    if (gpuReference) {
      referenceKind = "gpu";
      checkOnGpu(p, *buffers[0].q, *buffers[0].k, *buffers[0].v,
                 *buffers[0].o, p.lse ? buffers[0].lse.get() : nullptr,
                 maxErr, maxBase, maxLseErr, nanCount, maskedRowErrors);
      checkedRows = totalRows;
    } else {
      referenceKind = small ? "cpu" : "cpu-sampled";
      std::vector<uint16_t> out(qElems);
      std::vector<float> lse(p.lse ? p.B * p.Hq * p.Nq : 0);
      check(cuda.cuMemcpyDtoH_v2(out.data(), buffers[0].o->ptr, qBytes),
            "cuMemcpyDtoH");
      if (p.lse)
        check(cuda.cuMemcpyDtoH_v2(lse.data(), buffers[0].lse->ptr, lseBytes),
              "cuMemcpyDtoH");
      // Every element written, none NaN (the poison is NaN).
      for (int64_t i = 0; i < qElems; ++i)
        nanCount += std::isnan(p.load(out, i));
      for (float x : lse)
        nanCount += std::isnan(x);

      // Rows to check: all when cheap, else edges plus a seeded sample.
      std::vector<int64_t> rows;
      if (small) {
        for (int64_t r = 0; r < totalRows; ++r)
          rows.push_back(r);
      } else {
        std::mt19937_64 pick(opt.seed ^ 0x9e3779b97f4a7c15ull);
        for (int64_t r = 0; r < std::min<int64_t>(64, p.Nq); ++r) {
          rows.push_back(r);
          rows.push_back(totalRows - 1 - r);
        }
        while (static_cast<int64_t>(rows.size()) < opt.checkRows)
          rows.push_back(static_cast<int64_t>(pick() % totalRows));
      }
      auto os = p.strides(p.Hq, p.Nq);
      for (int64_t r : rows) {
        int64_t i = r % p.Nq, h = (r / p.Nq) % p.Hq, b = r / (p.Nq * p.Hq);
        RowResult ref = referenceRow(p, q, k, v, b, h, i);
        std::vector<double> base = baselineRow(p, q, k, v, b, h, i);
        bool masked = p.visibleEnd(i) == 0;
        for (int64_t d = 0; d < p.D; ++d) {
          double got = p.load(out, p.index(os, b, h, i, d));
          if (masked && got != 0.0)
            ++maskedRowErrors;
          maxErr = std::max(maxErr, std::fabs(got - ref.out[d]));
          maxBase = std::max(maxBase, std::fabs(base[d] - ref.out[d]));
        }
        if (p.lse) {
          double got = lse[(b * p.Hq + h) * p.Nq + i];
          if (std::isinf(ref.lse)) {
            if (!(std::isinf(got) && got < 0))
              maxLseErr = std::numeric_limits<double>::infinity();
          } else {
            double tol = 1e-3 + 1e-4 * std::fabs(ref.lse);
            maxLseErr = std::max(maxLseErr, std::fabs(got - ref.lse) / tol);
          }
        }
        ++checkedRows;
      }
    }
    double bound = 2 * maxBase + 1e-5;
    pass = nanCount == 0 && maskedRowErrors == 0 && maxErr <= bound &&
           maxLseErr <= 1.0;
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
    double flops = 4.0 * p.B * p.Hq * double(p.Nq) * double(p.Nk) * p.D;
    if (p.causal)
      flops /= 2;
    tflops = flops / (medianMs * 1e-3) / 1e12;
  }

  const char *verdict = !opt.check ? "UNCHECKED" : pass ? "PASS" : "FAIL";
  char line[1024];
  if (opt.json) {
    std::snprintf(
        line, sizeof(line),
        "{\"verdict\": \"%s\", \"kernel\": \"%s\", \"device\": \"%s\", "
        "\"dtype\": \"%s\", \"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, "
        "\"Nq\": %lld, \"Nk\": %lld, \"D\": %lld, \"causal\": \"%s\", "
        "\"layout\": \"%s\", \"mode\": \"%s\", \"seed\": %llu, "
        "\"max_err\": %.3e, \"baseline_err\": %.3e, \"lse_err_over_tol\": "
        "%.3e, \"nan\": %lld, \"rows_checked\": %lld, \"reference\": "
        "\"%s\", \"median_ms\": %.4f, \"tflops\": %.1f}",
        verdict, kernelName.c_str(), deviceName, dtype.c_str(),
        (long long)p.B, (long long)p.Hq, (long long)p.Hkv, (long long)p.Nq,
        (long long)p.Nk, (long long)p.D, causal.c_str(), opt.layout.c_str(),
        opt.mode.c_str(), (unsigned long long)opt.seed, maxErr, maxBase,
        maxLseErr, (long long)nanCount, (long long)checkedRows,
        referenceKind.c_str(), medianMs, tflops);
  } else {
    std::snprintf(
        line, sizeof(line),
        "%s %s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld causal=%s "
        "layout=%s mode=%s: max_err=%.3e (bound 2*%.3e) lse_err/tol=%.2f "
        "nan=%lld masked_row_errors=%lld rows=%lld ref=%s",
        verdict, dtype.c_str(), (long long)p.B, (long long)p.Hq,
        (long long)p.Hkv, (long long)p.Nq, (long long)p.Nk, (long long)p.D,
        causal.c_str(), opt.layout.c_str(), opt.mode.c_str(), maxErr, maxBase,
        maxLseErr, (long long)nanCount, (long long)maskedRowErrors,
        (long long)checkedRows, referenceKind.c_str());
  }
  std::printf("%s", line);
  if (opt.bench && !opt.json)
    std::printf(" | %.4f ms, %.1f TFLOP/s (median of %d, %d rotating sets)",
                medianMs, tflops, opt.iterations, sets);
  std::printf("\n");
  return pass ? kPass : kWrong;
}
