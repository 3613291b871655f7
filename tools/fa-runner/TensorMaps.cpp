//===- TensorMaps.cpp - TMA tensor maps from the launch metadata ----------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The rules are cuTensorMapEncodeTiled's (cuda.h): a 16-byte aligned global
// address; dimensions of 1..2^32 elements; byte strides of dimensions 1 and
// up that are multiples of 16 and below 2^40 (dimension 0, the innermost,
// is contiguous); box entries of 1..256 elements whose innermost extent is
// a multiple of 16 bytes and, with a swizzle, at most the swizzle's span.
//
//===----------------------------------------------------------------------===//

#include "TensorMaps.h"
#include "Support.h"

#include <algorithm>
#include <cstdio>

namespace fa_runner {

namespace {

constexpr int64_t kMaxDim = int64_t(1) << 32;      // elements, inclusive
constexpr int64_t kStrideLimit = int64_t(1) << 40; // bytes, exclusive
constexpr int64_t kMaxBox = 256;

struct EnumValue {
  const char *name;
  uint32_t value;
};

constexpr EnumValue kInterleaves[] = {{"none", 0}};
constexpr EnumValue kSwizzles[] = {
    {"none", 0}, {"32B", 1}, {"64B", 2}, {"128B", 3}};
constexpr EnumValue kL2Promotions[] = {
    {"none", 0}, {"64B", 1}, {"128B", 2}, {"256B", 3}};
constexpr EnumValue kOobFills[] = {{"zeros", 0}, {"nan", 1}};

/// The bytes a swizzle mode spans (0: no swizzle).
int64_t swizzleBytes(uint32_t swizzle) {
  return swizzle == 0 ? 0 : int64_t(16) << swizzle;
}

std::string quoted(const std::string &key) { return "\"" + key + "\""; }

/// Reads the string member `key` of `entry` into `out`; "" or why not.
std::string readString(const Json &entry, const char *key, std::string &out) {
  if (!entry.has(key))
    return "lacks " + quoted(key);
  const Json &value = entry[key];
  if (value.kind != Json::String)
    return quoted(key) + " must be a string";
  out = value.string;
  return "";
}

std::string readInt(const Json &entry, const char *key, int64_t &out) {
  if (!entry.has(key))
    return "lacks " + quoted(key);
  const Json &value = entry[key];
  if (value.kind != Json::Number || !value.isInteger)
    return quoted(key) + " must be an integer";
  out = value.integer;
  return "";
}

template <size_t N>
std::string readEnum(const Json &entry, const char *key,
                     const EnumValue (&values)[N], uint32_t &out) {
  std::string text;
  if (std::string error = readString(entry, key, text); !error.empty())
    return error;
  std::string expected;
  for (size_t i = 0; i < N; ++i) {
    if (text == values[i].name) {
      out = values[i].value;
      return "";
    }
    if (i)
      expected += i + 1 == N ? " or " : ", ";
    expected += values[i].name;
  }
  return "unknown " + quoted(key) + " value '" + text + "' (expected " +
         expected + ")";
}

std::string hex(uint64_t value) {
  char text[32];
  std::snprintf(text, sizeof(text), "0x%llx", (unsigned long long)value);
  return text;
}

} // namespace

std::string parseTensorMapSpec(const Json &entry, TensorMapSpec &out) {
  if (entry.kind != Json::Object)
    return "must be an object";
  for (const std::string &error :
       {readString(entry, "operand", out.operand),
        readInt(entry, "argument", out.argument),
        readString(entry, "element_type", out.elementType),
        readInt(entry, "rank", out.rank)})
    if (!error.empty())
      return error;
  out.elementBytes = 2;
  if (out.elementType == "bf16") {
    out.dataType = 9; // CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
  } else if (out.elementType == "f16") {
    out.dataType = 6; // CU_TENSOR_MAP_DATA_TYPE_FLOAT16
  } else if (out.elementType == "f32") {
    out.dataType = 7; // CU_TENSOR_MAP_DATA_TYPE_FLOAT32
    out.elementBytes = 4;
  } else {
    return "unsupported tensor map element type '" + out.elementType +
           "' (bf16, f16 or f32)";
  }
  if (out.rank < 1 || out.rank > TensorMapEncoding::kMaxRank)
    return "\"rank\" is " + std::to_string(out.rank) + ", not in 1..5";
  for (const std::string &error :
       {readEnum(entry, "interleave", kInterleaves, out.interleave),
        readEnum(entry, "swizzle", kSwizzles, out.swizzle),
        readEnum(entry, "l2_promotion", kL2Promotions, out.l2Promotion),
        readEnum(entry, "oob_fill", kOobFills, out.oobFill)})
    if (!error.empty())
      return error;

  if (!entry.has("box") || entry["box"].kind != Json::Array)
    return "\"box\" must be an array of integers";
  out.box.clear();
  for (const Json &b : entry["box"].array) {
    if (b.kind != Json::Number || !b.isInteger)
      return "\"box\" must be an array of integers";
    out.box.push_back(b.integer);
  }
  if (static_cast<int64_t>(out.box.size()) != out.rank)
    return "\"box\" has " + std::to_string(out.box.size()) +
           " entries, but \"rank\" is " + std::to_string(out.rank);
  for (size_t i = 0; i < out.box.size(); ++i)
    if (out.box[i] < 1 || out.box[i] > kMaxBox)
      return "box[" + std::to_string(i) + "] = " + std::to_string(out.box[i]) +
             " is not in 1..256";
  int64_t innerBytes = out.box[0] * out.elementBytes;
  if (innerBytes % 16 != 0)
    return "box[0] = " + std::to_string(out.box[0]) + " elements is " +
           std::to_string(innerBytes) +
           " bytes, not a multiple of 16 (TMA boxes need 16-byte rows)";
  if (int64_t span = swizzleBytes(out.swizzle); span && innerBytes > span)
    return "box[0] = " + std::to_string(out.box[0]) + " elements is " +
           std::to_string(innerBytes) + " bytes, more than the " +
           std::to_string(span) + " bytes a " + std::to_string(span) +
           "B swizzle spans";
  return "";
}

std::string TensorMapEncoding::describe() const {
  std::vector<int64_t> dims(globalDim, globalDim + rank),
      strides(globalStrides, globalStrides + (rank ? rank - 1 : 0)),
      box(boxDim, boxDim + rank);
  return "dims [" + joinInts(dims) + "], byte strides [" + joinInts(strides) +
         "], box [" + joinInts(box) + "]";
}

std::string tensorMapEncoding(const TensorMapSpec &spec,
                              const std::vector<int64_t> &sizes,
                              const std::vector<int64_t> &strides,
                              uint64_t address, TensorMapEncoding &out) {
  std::string tensor = "tensor '" + spec.operand + "': ";
  int64_t rank = spec.rank;
  if (rank < 1 || rank > TensorMapEncoding::kMaxRank ||
      static_cast<int64_t>(spec.box.size()) != rank)
    return tensor + "its tensor map has rank " + std::to_string(rank) +
           " and a box of " + std::to_string(spec.box.size()) +
           " entries (1..5, one per dimension)";
  if (static_cast<int64_t>(sizes.size()) != rank ||
      static_cast<int64_t>(strides.size()) != rank)
    return tensor + "it has rank " + std::to_string(sizes.size()) +
           ", but its tensor map has rank " + std::to_string(rank);
  if (address % 16 != 0)
    return tensor + "its data pointer " + hex(address) +
           " is not 16-byte aligned (TMA tensor maps need 16-byte aligned "
           "addresses)";
  int64_t bytes = spec.elementBytes;
  bool empty = false; // then no stride is used
  for (int64_t d = 0; d < rank; ++d) {
    empty |= sizes[d] == 0;
    if (sizes[d] < 0)
      return tensor + "dimension " + std::to_string(d) + " has size " +
             std::to_string(sizes[d]);
    if (sizes[d] > kMaxDim)
      return tensor + "dimension " + std::to_string(d) + " has " +
             std::to_string(sizes[d]) +
             " elements, more than a TMA tensor map takes (2^32)";
  }
  if (!empty && sizes[rank - 1] > 1 && strides[rank - 1] != 1)
    return tensor + "the innermost dimension has stride " +
           std::to_string(strides[rank - 1]) +
           ", not 1 (TMA tensor maps need contiguous rows)";

  out = TensorMapEncoding();
  out.dataType = spec.dataType;
  out.rank = static_cast<uint32_t>(rank);
  out.globalAddress = address;
  out.interleave = spec.interleave;
  out.swizzle = spec.swizzle;
  out.l2Promotion = spec.l2Promotion;
  out.oobFill = spec.oobFill;
  for (int64_t i = 0; i < rank; ++i) {
    // TMA dimension i is the memref's dimension rank-1-i.
    out.globalDim[i] =
        static_cast<uint64_t>(std::max<int64_t>(sizes[rank - 1 - i], 1));
    out.boxDim[i] = static_cast<uint32_t>(spec.box[i]);
    out.elementStrides[i] = 1;
  }
  for (int64_t i = 0; i + 1 < rank; ++i) {
    int64_t d = rank - 2 - i; // the memref dimension of TMA dimension i + 1
    if (empty || sizes[d] <= 1) {
      // Never used: the next-inner dimension's extent, rounded up to 16.
      uint64_t inner =
          i == 0 ? static_cast<uint64_t>(bytes) : out.globalStrides[i - 1];
      uint64_t limit = static_cast<uint64_t>(kStrideLimit) - 16;
      out.globalStrides[i] = out.globalDim[i] <= limit / inner
                                 ? (out.globalDim[i] * inner + 15) / 16 * 16
                                 : 16;
      continue;
    }
    int64_t stride = strides[d];
    std::string which = "the stride of dimension " + std::to_string(d);
    if (stride < 0)
      return tensor + which + " is " + std::to_string(stride) +
             " elements (TMA tensor maps need non-negative strides)";
    if (stride >= kStrideLimit / bytes)
      return tensor + which + " is " + std::to_string(stride) +
             " elements, not below 2^40 bytes (the most a TMA tensor map "
             "takes)";
    if (stride * bytes % 16 != 0)
      return tensor + which + " is " + std::to_string(stride * bytes) +
             " bytes, not a multiple of 16 (TMA tensor maps need 16-byte "
             "strides)";
    out.globalStrides[i] = static_cast<uint64_t>(stride * bytes);
  }
  return "";
}

CUtensorMap encodeTensorMap(const TensorMapSpec &spec,
                            const std::vector<int64_t> &sizes,
                            const std::vector<int64_t> &strides,
                            CUdeviceptr address) {
  TensorMapEncoding e;
  if (std::string error = tensorMapEncoding(spec, sizes, strides, address, e);
      !error.empty())
    die(kUsage, error);
  if (!cuda.cuTensorMapEncodeTiled)
    die(kNoGpu, "the CUDA driver is too old for TMA kernels (no "
                "cuTensorMapEncodeTiled)");
  CUtensorMap map;
  std::string what = "cuTensorMapEncodeTiled for tensor '" + spec.operand +
                     "' (" + e.describe() + ")";
  check(cuda.cuTensorMapEncodeTiled(
            &map, e.dataType, e.rank, reinterpret_cast<void *>(e.globalAddress),
            e.globalDim, e.globalStrides, e.boxDim, e.elementStrides,
            e.interleave, e.swizzle, e.l2Promotion, e.oobFill),
        what.c_str());
  return map;
}

} // namespace fa_runner
