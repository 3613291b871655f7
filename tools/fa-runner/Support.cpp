//===- Support.cpp - fa-runner's exit codes, files and 16-bit floats ------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Support.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

namespace fa_runner {

void die(int code, const std::string &message) {
  // Worker threads may die too: one message and one exit, whichever thread
  // comes first (the lock is never released; exit ends the others).
  static std::mutex dying;
  dying.lock();
  std::fflush(stdout);
  std::fprintf(stderr, "fa-runner: %s\n", message.c_str());
  std::exit(code);
}

void checkHostBytes(double bytes, const std::string &subject,
                    const std::string &detail) {
  constexpr double kLimitGiB = 32;
  double gib = bytes / double(1 << 30);
  if (gib > kLimitGiB)
    die(kUsage, subject + " would take " + std::to_string(int64_t(gib)) +
                    " GiB " + detail + "; fa-runner allows " +
                    std::to_string(int64_t(kLimitGiB)));
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

bool writeFile(const std::string &path, const void *data, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char *>(data),
            static_cast<std::streamsize>(bytes));
  return static_cast<bool>(out);
}

std::string strprintf(const char *format, ...) {
  va_list args, again;
  va_start(args, format);
  va_copy(again, args);
  int n = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string s(n > 0 ? n : 0, '\0');
  std::vsnprintf(s.data(), s.size() + 1, format, again);
  va_end(again);
  return s;
}

std::string joinInts(const std::vector<int64_t> &values,
                     const char *separator) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? separator : "") + std::to_string(values[i]);
  return s;
}

static float bitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
static uint32_t floatToBits(float f) {
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
float fromBF16(uint16_t h) {
  return bitsToFloat(static_cast<uint32_t>(h) << 16);
}

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

} // namespace fa_runner
