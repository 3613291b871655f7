//===- Captures.cpp - The --capture flag: shapes and seeded fills ---------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Captures.h"
#include "Support.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace fa_runner {

CaptureFlag parseCaptureFlag(const std::string &text) {
  CaptureFlag f;
  f.text = text;
  size_t first = text.find(':');
  size_t second =
      first == std::string::npos ? first : text.find(':', first + 1);
  if (second == std::string::npos)
    die(kUsage, "--capture takes I:SHAPE:FILL, got '" + text + "'");
  std::string index = text.substr(0, first);
  char *end = nullptr;
  errno = 0;
  long i = std::strtol(index.c_str(), &end, 10);
  if (index.empty() || *end || i < 0 || i > INT32_MAX || errno == ERANGE)
    die(kUsage, "--capture '" + text +
                    "': I must be a capture number (0, "
                    "1, ...)");
  f.index = static_cast<int>(i);
  f.shape = text.substr(first + 1, second - first - 1);
  f.fill = text.substr(second + 1);
  return f;
}

ModCapture HostCapture::view(const void *data) const {
  ModCapture c{};
  c.data = data;
  c.type = type.element;
  c.rank = static_cast<int32_t>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    c.sizes[d] = shape[d];
    c.strides[d] = strides[d];
  }
  return c;
}

namespace {

/// splitmix64: the same small generator as Q/K/V, one stream per capture.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * 0x1.0p-53; } // [0, 1)
  /// Uniform in [lo, hi], hi >= lo.
  int64_t between(int64_t lo, int64_t hi) {
    uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    uint64_t r = span == ~0ull ? next() : next() % (span + 1);
    return static_cast<int64_t>(static_cast<uint64_t>(lo) + r);
  }
};

class Filler {
public:
  Filler(HostCapture &c, const CaptureFlag &flag, Rng rng)
      : c(c), flag(flag), rng(rng), type(c.type.element),
        isFloat(modIsFloat(type)) {}

  void fill() {
    int64_t n = static_cast<int64_t>(c.bytes.size()) / modElementBytes(type);
    std::string kind = flag.fill.substr(0, flag.fill.find(':'));
    std::string args = kind.size() < flag.fill.size()
                           ? flag.fill.substr(kind.size() + 1)
                           : std::string();
    if (kind == "uniform") {
      size_t colon = args.find(':');
      if (colon == std::string::npos)
        fail("uniform takes LO:HI");
      std::string lo = args.substr(0, colon), hi = args.substr(colon + 1);
      if (isFloat) {
        double a = real(lo), b = real(hi);
        if (!(a <= b))
          fail("uniform needs LO <= HI");
        for (int64_t k = 0; k < n; ++k)
          storeFloat(k, a + (b - a) * rng.uniform());
      } else {
        int64_t a = integer(lo), b = integer(hi);
        if (a > b)
          fail("uniform needs LO <= HI");
        checkFits(a), checkFits(b);
        for (int64_t k = 0; k < n; ++k)
          storeInt(k, rng.between(a, b));
      }
    } else if (kind == "alibi") {
      if (!isFloat || c.shape.size() != 1 || !args.empty())
        fail("alibi fills a 1-D float capture and takes no argument");
      // The slopes of the ALiBi paper for n heads: 2^(-8 (i + 1) / n).
      for (int64_t k = 0; k < n; ++k)
        storeFloat(k, std::exp2(-8.0 * double(k + 1) / double(n)));
    } else if (kind == "segments") {
      if (isFloat || c.shape.empty())
        fail("segments fills an integer capture of rank >= 1");
      int64_t maxLength = integer(args);
      if (maxLength < 1)
        fail("segments:MAXLEN needs MAXLEN >= 1");
      // Packed documents: along the last dimension, ids 0, 0, 1, 1, 1, 2...
      // with seeded lengths in [1, MAXLEN], afresh for each leading index.
      int64_t last = c.shape.back();
      for (int64_t row = 0; last && row < n / last; ++row) {
        int64_t id = 0, left = rng.between(1, maxLength);
        for (int64_t k = 0; k < last; ++k) {
          if (left == 0) {
            ++id;
            left = rng.between(1, maxLength);
          }
          checkFits(id);
          storeInt(row * last + k, id);
          --left;
        }
      }
    } else if (kind == "arange") {
      if (!args.empty())
        fail("arange takes no argument");
      for (int64_t k = 0; k < n; ++k) {
        if (isFloat) {
          storeFloat(k, double(k));
        } else {
          checkFits(k);
          storeInt(k, k);
        }
      }
    } else if (kind == "const") {
      if (isFloat) {
        double v = real(args);
        for (int64_t k = 0; k < n; ++k)
          storeFloat(k, v);
      } else {
        int64_t v = integer(args);
        checkFits(v);
        for (int64_t k = 0; k < n; ++k)
          storeInt(k, v);
      }
    } else {
      fail("FILL must be uniform:LO:HI, alibi, segments:MAXLEN, arange or "
           "const:V");
    }
  }

private:
  [[noreturn]] void fail(const std::string &message) {
    die(kUsage, "--capture " + flag.text + ": " + message + " (" + c.name +
                    " is " + tensorTypeName(c.type) + ")");
  }
  double real(const std::string &text) {
    char *end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end)
      fail("'" + text + "' is not a number");
    return v;
  }
  int64_t integer(const std::string &text) {
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end || errno == ERANGE)
      fail("'" + text + "' is not a 64-bit integer");
    return v;
  }
  void checkFits(int64_t v) {
    int w = modWidth(type);
    bool fits = type == kTyI1 ? v == 0 || v == 1
                              : w == 64 || (v >= -(int64_t(1) << (w - 1)) &&
                                            v < (int64_t(1) << (w - 1)));
    if (!fits)
      fail(std::to_string(v) + " does not fit in " + typeName(type));
  }
  void storeInt(int64_t k, int64_t v) {
    int bytes = modElementBytes(type);
    uint64_t bits = static_cast<uint64_t>(v); // little-endian: low bytes
    std::memcpy(&c.bytes[k * bytes], &bits, bytes);
  }
  void storeFloat(int64_t k, double v) {
    // The capture holds values of its type: round once, to nearest even.
    double r = modRoundTo(v, type);
    switch (type) {
    case kTyF16: {
      uint16_t h = toF16(static_cast<float>(r));
      std::memcpy(&c.bytes[2 * k], &h, 2);
      break;
    }
    case kTyBF16: {
      uint16_t h = toBF16(static_cast<float>(r));
      std::memcpy(&c.bytes[2 * k], &h, 2);
      break;
    }
    case kTyF32: {
      float f = static_cast<float>(r);
      std::memcpy(&c.bytes[4 * k], &f, 4);
      break;
    }
    default:
      std::memcpy(&c.bytes[8 * k], &r, 8);
    }
  }

  HostCapture &c;
  const CaptureFlag &flag;
  Rng rng;
  uint8_t type;
  bool isFloat;
};

} // namespace

std::vector<HostCapture> makeCaptures(const std::vector<TensorType> &types,
                                      const std::vector<CaptureFlag> &flags,
                                      const SizeOfSymbol &sizeOf,
                                      uint64_t seed) {
  std::vector<const CaptureFlag *> byIndex(types.size(), nullptr);
  for (const CaptureFlag &f : flags) {
    if (f.index >= static_cast<int>(types.size()))
      die(kUsage, "--capture " + f.text + ": the kernel has " +
                      std::to_string(types.size()) + " capture(s)");
    if (byIndex[f.index])
      die(kUsage, "--capture " + f.text + ": capture " +
                      std::to_string(f.index) + " given twice");
    byIndex[f.index] = &f;
  }
  std::vector<HostCapture> captures(types.size());
  for (size_t k = 0; k < types.size(); ++k) {
    HostCapture &c = captures[k];
    c.name = "capture" + std::to_string(k);
    c.type = types[k];
    const CaptureFlag *flag = byIndex[k];
    if (!flag)
      die(kUsage,
          "the kernel takes " + c.name + " of type " + tensorTypeName(c.type) +
              " (element type " + typeName(c.type.element) + ", rank " +
              std::to_string(c.type.shape.size()) + "): pass --capture " +
              std::to_string(k) + ":SHAPE:FILL (see --help)");
    // SHAPE: comma-separated sizes or symbols; empty for rank 0.
    std::vector<std::string> dims;
    for (size_t pos = 0; !flag->shape.empty();) {
      size_t comma = flag->shape.find(',', pos);
      dims.push_back(flag->shape.substr(pos, comma - pos));
      if (comma == std::string::npos)
        break;
      pos = comma + 1;
    }
    if (dims.size() != c.type.shape.size())
      die(kUsage, "--capture " + flag->text + ": shape of rank " +
                      std::to_string(dims.size()) + ", but " + c.name + " is " +
                      tensorTypeName(c.type) + " (rank " +
                      std::to_string(c.type.shape.size()) + ")");
    if (dims.size() > static_cast<size_t>(kModMaxRank))
      die(kUsage, c.name + ": fa-runner handles captures of rank <= " +
                      std::to_string(kModMaxRank));
    int64_t elements = 1;
    for (size_t d = 0; d < dims.size(); ++d) {
      const std::string &dim = dims[d];
      int64_t size;
      // (Tq and Tk: the token rows of packed sequences, which only the
      // sizeOf of a varlen or varlen-paged kernel knows.)
      if (dim == "B" || dim == "Hq" || dim == "Hkv" || dim == "Nq" ||
          dim == "Nk" || dim == "Tq" || dim == "Tk") {
        size = sizeOf(dim);
      } else {
        char *end = nullptr;
        long long n = std::strtoll(dim.c_str(), &end, 10);
        if (dim.empty() || *end || n < 0)
          die(kUsage, "--capture " + flag->text + ": size '" + dim +
                          "' is not an integer >= 0 or one of B, Hq, Hkv, "
                          "Nq, Nk, Tq, Tk");
        size = n;
      }
      if (c.type.shape[d] >= 0 && c.type.shape[d] != size)
        die(kUsage, "--capture " + flag->text + ": dimension " +
                        std::to_string(d) + " is " + std::to_string(size) +
                        ", but " + c.name + " is " + tensorTypeName(c.type));
      c.shape.push_back(size);
      if (size && elements > (int64_t(1) << 34) / size)
        die(kUsage, "--capture " + flag->text + ": too large");
      elements *= size;
    }
    c.strides.assign(c.shape.size(), 1);
    for (int d = static_cast<int>(c.shape.size()) - 2; d >= 0; --d)
      c.strides[d] = c.strides[d + 1] * c.shape[d + 1];
    c.bytes.assign(elements * modElementBytes(c.type.element), 0);
    Rng rng{seed * 0xd1b54a32d192ed03ull + 0x632be59bd9b4e019ull * (k + 1)};
    Filler(c, *flag, rng).fill();
  }
  return captures;
}

SizeOfSymbol sizesOfSymbols(std::vector<SizeSymbol> sizes,
                            const std::string &kernel) {
  return [sizes, kernel](const std::string &symbol) -> int64_t {
    std::string known;
    for (const SizeSymbol &s : sizes) {
      if (symbol == s.name) {
        if (s.value < 0)
          die(kUsage, "a --capture shape uses " + symbol +
                          ", which is unknown here; pass " + s.flags);
        return s.value;
      }
      known += (known.empty() ? "" : ", ") + std::string(s.name);
    }
    die(kUsage, "unknown size symbol " + symbol + " (" + kernel + " knows " +
                    known + ")");
  };
}

static std::vector<ModCapture> viewsOf(const std::vector<HostCapture> &c) {
  std::vector<ModCapture> views;
  for (const HostCapture &capture : c)
    views.push_back(capture.view(capture.bytes.data()));
  return views;
}

HostCaptures::HostCaptures(const std::vector<TensorType> &types,
                           const std::vector<CaptureFlag> &flags,
                           const SizeOfSymbol &sizeOf, uint64_t seed,
                           const ModRegion *score, const ModRegion *mask)
    : captures(makeCaptures(types, flags, sizeOf, seed)),
      views(viewsOf(captures)), evaluator(score, mask, views),
      mods(score || mask ? &evaluator : nullptr) {}

} // namespace fa_runner
