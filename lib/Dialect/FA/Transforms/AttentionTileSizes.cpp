//===- AttentionTileSizes.cpp - fa-tile-attention's tile sizes ------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The tile sizes of fa-tile-attention: their limits, the defaults of each
// strategy (and of split tiles), and the split-kv option.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::fa;

LogicalResult
mlir::fa::verifyAttentionTileSizes(const AttentionTileSizes &sizes,
                                   function_ref<InFlightDiagnostic()> emitError,
                                   StringRef blockMName, StringRef blockNName) {
  if (sizes.blockM < 0 || sizes.blockN < 0) {
    emitError() << "tile sizes must be positive (or 0 for the default), got "
                << blockMName << "=" << sizes.blockM << " " << blockNName << "="
                << sizes.blockN;
    return failure();
  }
  // Far beyond any useful tile; keeps index arithmetic trivially in range.
  constexpr int64_t kMaxBlock = 1 << 16;
  if (sizes.kvSplits < kAutoKVSplits || sizes.kvSplits > kMaxKVSplits) {
    emitError() << getOptionValueError("split-kv", getKVSplitsValues(),
                                       std::to_string(sizes.kvSplits));
    return failure();
  }
  if (sizes.blockM > kMaxBlock || sizes.blockN > kMaxBlock) {
    emitError() << "tile sizes must be at most " << kMaxBlock << ", got "
                << blockMName << "=" << sizes.blockM << " " << blockNName << "="
                << sizes.blockN;
    return failure();
  }
  return success();
}

ArrayRef<int64_t> mlir::fa::getSupportedHeadDims() {
  static const int64_t dims[] = {64, 128, 192, 256};
  return dims;
}

bool mlir::fa::isWgmmaCandidate(Type elementType, int64_t headDim,
                                int64_t valueHeadDim) {
  return (elementType.isF16() || elementType.isBF16()) &&
         headDim == valueHeadDim &&
         llvm::is_contained(getSupportedHeadDims(), headDim);
}

bool mlir::fa::isWgmmaPaging(int64_t pageSize) {
  return pageSize > 0 && pageSize % 8 == 0;
}

AttentionTileSizes mlir::fa::getDefaultAttentionTileSizes(int64_t headDim,
                                                          bool wgmma,
                                                          bool plain) {
  AttentionTileSizes sizes;
  sizes.blockM = 128;
  if (wgmma)
    sizes.blockN = headDim <= 128 ? 128 : 64;
  else
    sizes.blockN = headDim <= 64 ? 64 : headDim <= 128 ? 48 : 32;
  // Three consumer warpgroups at D = 64 (FlashAttention-3's 192 x 128):
  // on the H200, without a mask, 0.99x 128 x 128 at N = 1024 and
  // 1.03-1.10x from 2048 on. A causal mask wastes more on the tile's
  // rows past the diagonal (0.88x at N = 1024) and a variable-length batch
  // on the rows past each sequence; a score_mod that loads captures does
  // not fit three warpgroups' registers, and a softcap ran 0.78-0.82x (its
  // tanh no longer overlaps a P V in the serial schedule). Those keep 128
  // rows (benchmarks/results/2026-12-04-h200-three-warpgroups.md).
  if (wgmma && plain && headDim == 64)
    sizes.blockM = 192;
  sizes.wgmmaDefaults = wgmma;
  return sizes;
}

AttentionTileSizes
mlir::fa::resolveAttentionTileSizes(const AttentionTileSizes &sizes,
                                    int64_t headDim, bool plain) {
  AttentionTileSizes defaults =
      getDefaultAttentionTileSizes(headDim, sizes.wgmmaDefaults, plain);
  // Split tiles are for decoding (a few query rows against many keys),
  // bound by reading K and V: 16 rows, whose warps split each key block
  // (the mma-sync strategy's key-split warps: 4 warps on 64-key blocks up
  // to D = 128, 2 on 32-key blocks beyond). On the H200 (bf16, Nq 1,
  // benchmarks/results/2026-12-02-h200-decode-key-warps.md):
  // - D = 64: 1.03-1.14x the 64 x 64 tile (packed GQA, B 8, Hq 32, Hkv 8);
  // - D = 128: as fast as 64 x 64 in short runs (fa-runner), and steady
  //   under CUDA graphs, where the 64-row tile (60 of its 64 rows padding
  //   in the tensor cores) slowed from 487 to 547 us a call over five
  //   rounds (Nk 65536) while this one stayed at 489-491;
  // - D = 256: 1.23-1.26x one warp (MHA, B 8).
  // A packed tile's block-m grows to hold its group (tileAttention).
  if (sizes.kvSplits != 0 && !sizes.wgmmaDefaults) {
    defaults.blockM = 16;
    if (headDim <= 128)
      defaults.blockN = 64;
  }
  AttentionTileSizes resolved = sizes;
  resolved.blockM = sizes.blockM ? sizes.blockM : defaults.blockM;
  resolved.blockN = sizes.blockN ? sizes.blockN : defaults.blockN;
  // Three warpgroups' registers hold at most 128 keys a block at D = 64.
  if (!sizes.blockM && resolved.blockM == 192 && resolved.blockN > 128)
    resolved.blockM = 128;
  return resolved;
}

std::string mlir::fa::getKVSplitsValues() {
  return "none, auto or a count in [1, " + std::to_string(kMaxKVSplits) + "]";
}

std::string mlir::fa::getOptionValueError(StringRef option, StringRef accepted,
                                          StringRef value) {
  return (option + " must be " + accepted + ", got '" + value + "'").str();
}

std::optional<GPUStrategyKind> mlir::fa::parseGPUStrategy(StringRef name) {
  return llvm::StringSwitch<std::optional<GPUStrategyKind>>(name)
      .Case("mma-sync", GPUStrategyKind::MmaSync)
      .Case("hopper-ws", GPUStrategyKind::HopperWarpSpecialized)
      .Case("auto", GPUStrategyKind::Auto)
      .Default(std::nullopt);
}

std::optional<int64_t> mlir::fa::parseKVSplits(StringRef text) {
  if (text == "none")
    return 0;
  if (text == "auto")
    return kAutoKVSplits;
  int64_t count = 0;
  if (text.getAsInteger(10, count) || count < 1 || count > kMaxKVSplits)
    return std::nullopt;
  return count;
}
