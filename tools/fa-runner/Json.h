//===- Json.h - A small JSON reader for kernel metadata -------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// fa-runner links nothing but libc/libstdc++, so it reads the .json that
// fa-compile writes with this reader. Integers keep their exact value (the
// regions of programmable attention carry 64-bit constants, which a double
// would round); every error exits 2 with a message prefixed "metadata:".
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_JSON_H
#define FA_RUNNER_JSON_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fa_runner {

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  /// For a Number written without fraction or exponent: its exact value
  /// (two's complement bits when it only fits in uint64).
  bool isInteger = false;
  int64_t integer = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  /// The member `key`; dies when this is not an object or lacks it.
  const Json &operator[](const std::string &key) const;
  bool has(const std::string &key) const {
    return kind == Object && object.count(key);
  }
  /// An integral Number; dies otherwise.
  int64_t asInt() const;
  const std::string &asString() const;
  /// A Bool; dies otherwise.
  bool asBool() const;
};

/// Parses `text`; dies with "metadata: malformed JSON (...) at offset N".
Json parseJson(const std::string &text);

} // namespace fa_runner

#endif // FA_RUNNER_JSON_H
