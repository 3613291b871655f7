//===- TensorMaps.h - TMA tensor maps from the launch metadata ------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Kernels that load operands with TMA (cp.async.bulk.tensor: the hopper-ws
// strategy) list one "tensor_maps" entry per such operand in their .json:
//
//   {"operand": "k", "argument": 1, "element_type": "bf16", "rank": 4,
//    "box": [64, 128, 1, 1], "swizzle": "128B", "interleave": "none",
//    "l2_promotion": "256B", "oob_fill": "zeros"}
//
// Each one becomes a 128-byte CUtensorMap that the host encodes with the
// driver's cuTensorMapEncodeTiled and passes by value after the expanded
// memref descriptors of all arguments, in the order of the list. "argument"
// indexes "arguments" (the memref the map describes); "box" is innermost
// first, as TMA counts dimensions.
//
// parseTensorMapSpec and tensorMapEncoding are pure (no driver): every rule
// of cuTensorMapEncodeTiled is checked with a message that names the tensor
// before the driver sees the arguments, and the checks run on machines
// without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_TENSORMAPS_H
#define FA_RUNNER_TENSORMAPS_H

#include "Driver.h"
#include "Json.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fa_runner {

/// One entry of "tensor_maps", with its strings turned into the driver's
/// enum values.
struct TensorMapSpec {
  std::string operand;     // the argument's name: q, k, v, o, do or dq_accum
  int64_t argument = 0;    // index into "arguments"
  std::string elementType; // bf16 | f16 | f32
  int64_t elementBytes = 2;
  uint32_t dataType = 0; // CUtensorMapDataType
  int64_t rank = 0;
  std::vector<int64_t> box; // innermost first
  uint32_t interleave = 0, swizzle = 0, l2Promotion = 0, oobFill = 0;
};

/// Reads one "tensor_maps" entry: its keys, types, enum strings, rank and
/// box. Returns "" and fills `out`, or says what is wrong (the caller adds
/// where). Does not look at "arguments" (Metadata.cpp matches them).
std::string parseTensorMapSpec(const Json &entry, TensorMapSpec &out);

/// The arguments of cuTensorMapEncodeTiled, innermost dimension first.
struct TensorMapEncoding {
  static constexpr int kMaxRank = 5;
  uint32_t dataType = 0, rank = 0;
  uint64_t globalAddress = 0;
  uint64_t globalDim[kMaxRank] = {};
  uint64_t globalStrides[kMaxRank - 1] = {}; // bytes, of dimensions 1..rank-1
  uint32_t boxDim[kMaxRank] = {};
  uint32_t elementStrides[kMaxRank] = {};
  uint32_t interleave = 0, swizzle = 0, l2Promotion = 0, oobFill = 0;

  /// "dims [...], byte strides [...], box [...]" for messages.
  std::string describe() const;
};

/// The encode arguments for the tensor of `spec` whose data starts at
/// `address` (the memref's aligned pointer + offset * element bytes), with
/// `sizes` and element `strides` outermost first, as in its memref
/// descriptor. A size of 0 is encoded as 1, and strides that are never used
/// (of a dimension of size 1; all of them when a size is 0: the kernel never
/// loads from an empty tensor) are replaced by valid ones. Returns "" and
/// fills `out`, or why TMA cannot read the tensor ("tensor 'k': ...").
std::string tensorMapEncoding(const TensorMapSpec &spec,
                              const std::vector<int64_t> &sizes,
                              const std::vector<int64_t> &strides,
                              uint64_t address, TensorMapEncoding &out);

/// Encodes the map with the loaded driver: dies with exit 2 when
/// tensorMapEncoding refuses the tensor, exit 3 when the driver has no
/// cuTensorMapEncodeTiled, exit 4 with the driver's message when it refuses.
CUtensorMap encodeTensorMap(const TensorMapSpec &spec,
                            const std::vector<int64_t> &sizes,
                            const std::vector<int64_t> &strides,
                            CUdeviceptr address);

} // namespace fa_runner

#endif // FA_RUNNER_TENSORMAPS_H
