//===- Support.h - fa-runner's exit codes, files and 16-bit floats --------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Small pieces every part of fa-runner uses. Errors end the process through
// die(): fa-runner is a command-line checker, and every error is final.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_SUPPORT_H
#define FA_RUNNER_SUPPORT_H

#include <cstdint>
#include <string>
#include <vector>

namespace fa_runner {

enum ExitCode { kPass = 0, kWrong = 1, kUsage = 2, kNoGpu = 3, kCudaError = 4 };

[[noreturn]] void die(int code, const std::string &message);

/// Dies (exit 2) when `bytes` of host buffers exceed the 32 GiB fa-runner
/// allows: "<subject> would take N GiB <detail>; fa-runner allows 32".
void checkHostBytes(double bytes, const std::string &subject,
                    const std::string &detail);

bool readFile(const std::string &path, std::string &out);
bool writeFile(const std::string &path, const void *data, size_t bytes);

/// printf into a string.
std::string strprintf(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

/// Joins integers as "a, b, c" (for shapes and indices in messages).
std::string joinInts(const std::vector<int64_t> &values,
                     const char *separator = ", ");

// 16-bit floats, rounded to nearest even.
uint16_t toBF16(float f);
float fromBF16(uint16_t h);
uint16_t toF16(float f);
float fromF16(uint16_t h);

} // namespace fa_runner

#endif // FA_RUNNER_SUPPORT_H
