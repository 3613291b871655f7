//===- HopperSchedule.cpp - Tiles and limits of the Hopper strategy -------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What the Hopper (wgmma) kernel can be built with: the shapes wgmma takes,
// the registers a consumer warpgroup's fragments need, and the shared
// memory of the Q tile and the K/V rings.
//
//===----------------------------------------------------------------------===//

#include "Wgmma.h"
#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::fa;
using namespace mlir::fa::detail;

/// Whether a consumer holds, beside S and O, registers the size of P
/// (block-n / 4): the pending P of the previous block under the overlapped
/// softmax, or in the serial schedule of a body that loads captures, the
/// loaded values and their temporaries (ptxas -v with 16 fewer: 8-416
/// bytes of spills for ALiBi, document and relative-bias kernels).
static bool holdsPendingShare(const HopperConfig &config) {
  return config.overlapSoftmax || config.loadsCaptures;
}

/// f32 accumulator registers per thread of S (block-n / 2) and O (Dv / 2),
/// and the share of P (holdsPendingShare). The serial schedule's P
/// replaces its S (the softmax packs S into P; P V is waited for before the
/// next S is issued).
static int64_t getFragmentRegisters(const AttentionKernelSpec &spec,
                                    const HopperConfig &config) {
  int64_t registers = config.blockN / 2 + spec.getValueHeadDim() / 2;
  if (holdsPendingShare(config))
    registers += config.blockN / 4;
  return registers;
}

/// Fragment registers beyond which ptxas spills: the registers a consumer
/// thread holds after `setmaxnreg`, minus those for the softmax state,
/// addresses and the scores body's temporaries: 63 beside the pending
/// share (ptxas -v at D = 128 and 256), 56 in the serial schedule of a
/// body that loads no captures, the loop over tiles included (ptxas -v of
/// every such bf16 tile the count admits that 63 and P refused, D 64-256,
/// block-m 64-192, with and without a causal mask and with a softcap: no
/// spill; with 48, 8 bytes at 192 x 160, D = 64 and 192 x 96, D = 128).
static int64_t getRegisterBudget(const HopperConfig &config) {
  return config.consumerRegisters() - (holdsPendingShare(config) ? 63 : 56);
}

/// Registers beyond the fragment budget that a masked softmax needs to
/// run beside an in-flight P V (ptxas -v: at D 256, 1 to spare, the
/// overlapped kernels with a mask_mod spilled 8-52 bytes; at D 128, 17 to
/// spare, none did).
static constexpr int64_t kOverlapHeadroom = 16;

/// Registers beyond the fragment budget that the consumers' loop over
/// tiles needs, with the persistent producer's share taken (ptxas -v: the
/// persistent D = 256 kernel, 1 to spare, spilled 68 bytes; D = 128, 9 to
/// spare, none).
static constexpr int64_t kPersistentHeadroom = 8;

/// Key blocks the block table of a capture-reading mask holds (4 KiB of
/// shared memory; 524288 keys at block-n 128): blocks past it run masked
/// (BlockClassifier::mayBeVisible).
static constexpr int64_t kBlockTableEntries = 4096;

void mlir::fa::chooseHopperSchedule(const AttentionKernelSpec &spec,
                                    const HopperScoreTraits &traits,
                                    HopperConfig &config) {
  // paged-loads=auto: the producer warpgroup gathers pieces of fewer than
  // 32 rows with cp.async (HopperConfig::gathersPages), where TMA's boxes
  // are small: at 16-row pages on the H100 the gather ran 10-31 % faster
  // than the TMA pieces (bf16, D 64-256, unmasked and bottom-right); at
  // 32-row pages 1-2 % faster unmasked but 4-7 % slower bottom-right, at
  // 64 7-14 % slower (D = 128; benchmarks/results/
  // 2026-12-07-h100-paged-warpgroup-gather.md). Not where the scores body
  // loads captures (ALiBi at D = 128 spilled 32 bytes beside the gathering
  // producer's 56 registers), nor where the consumers' fragments do not
  // fit beside them (ALiBi at D = 256).
  if (config.pageSize && config.pagedLoads == PagedLoads::Auto) {
    HopperConfig gathering = config;
    gathering.pagedLoads = PagedLoads::CpAsync;
    config.pagedLoads = PagedLoads::Tma;
    if (gathering.kvLoadRows() < 32 && !traits.loadsCaptures) {
      chooseHopperSchedule(spec, traits, gathering);
      if (getFragmentRegisters(spec, gathering) <=
          getRegisterBudget(gathering)) {
        config = gathering;
        return;
      }
    }
  }
  config.blockTableEntries = 0;
  // A block-m that is no whole number of 1-3 warpgroups has no schedule:
  // verifyHopperConfig names it (the budgets below divide by warpgroups).
  if (config.blockM % 64 != 0 || config.warpgroups() < 1 ||
      config.warpgroups() > 3)
    return;
  // The persistent grid and the producer's registers are chosen for the
  // overlapped schedule, which needs the most registers.
  config.overlapSoftmax = true;
  config.masked = traits.masks;
  config.loadsCaptures = traits.loadsCaptures;
  config.varlen = traits.varlen;
  // A persistent kernel needs registers for its loop over tiles in the
  // consumers, and, under a mask, keeps the overlapped softmax only with
  // kOverlapHeadroom more (the masked persistent producer keeps 64, so the
  // consumers have 216: D = 64 loops; D = 128 and 256 keep one tile per
  // block and all the registers, but for the key-bound and band masks in
  // pairs below). A mask that reads captures keeps one tile per block: all the
  // block's warps build its block table before the roles split.
  // Nor does a masked variable-length or paged tile (the masked order's
  // sections need one key length); an unmasked variable-length one loops
  // over the tiles of its longest sequence in each head and sequence, and
  // skips those past its own sequence's end; an unmasked paged one loops
  // as a fixed-length one, each tile with its sequence's key count.
  bool mayLoop = config.persistence != Persistence::Off;
  HopperConfig looping = config;
  looping.persistent = true;
  int64_t needed = kPersistentHeadroom + (traits.masks ? kOverlapHeadroom : 0);
  auto loops = [&]() {
    return getRegisterBudget(looping) - getFragmentRegisters(spec, looping) >=
           needed;
  };
  looping.roomyProducer = traits.varlen || traits.paged;
  if (!loops())
    looping.roomyProducer = false;
  // Nor does a variable-length tile against pages: its producer loops over
  // a sequence's page pieces and its tiles' offsets, and the persistent
  // kernels spilled 12-124 bytes (ptxas -v, bf16 D = 64 and 128, pages of
  // 16 and 64, gathered or by TMA) where one tile per block spills none.
  bool canLoop = !traits.visibilityReadsCaptures &&
                 !((traits.varlen || traits.paged) && traits.masks) &&
                 !(traits.varlen && traits.paged);
  config.persistent = mayLoop && canLoop && loops();
  config.roomyProducer = config.persistent && looping.roomyProducer;
  // A key-bound mask (causal) at D = 128 loops over tiles in pairs where
  // the rule above leaves one tile per block: its producer keeps 56
  // registers and the consumers need no headroom beyond the fragments
  // (ptxas -v: no spill with 1 register to spare, causal and causal with a
  // softcap, both dtypes and alignments, with and without LSE), with the
  // overlapped softmax. On the H200 it ran 13-14 % faster than one tile per
  // block at N = 1024 and level at 16384, on the H100 5-7 % and -1 to +1 %
  // (the sections order was 14-27 % slower), benchmarks/results/
  // 2026-12-05-h200-persistent-balance.md. Not taken: D = 64 keeps the
  // sections order (3 % faster there at the benchmark's shapes); D = 192
  // in pairs ran level (-2 to +2 %); other masks (a prefix beside the
  // causal test: +2-9 % in pairs on an H100, but which masks have costs
  // that grow with the tile needs a test that tells them from windows);
  // a score_mod that loads captures per key (a bias table read at each
  // distance) spilled 8-40 bytes beside the 56-register producer; with
  // three consumer warpgroups (block-m 192 at D = 64) the spills grew from
  // 40 to 96-104 bytes. A score_mod that loads captures once per tile
  // (ALiBi's slope of the head) takes pairs: no spill, bf16 and f16, both
  // alignments, with and without LSE (its 80 bytes were the distances'
  // conversions, hoisted above the whole/masked branch; a tagged move in
  // ScoreCloner.cpp).
  //
  // A band mask (a sliding window) at D = 128 loops in pairs too, a head's
  // pairs side by side (pairsByHead): its neighbouring tiles read mostly
  // the same K and V blocks. On an H100 (1024-key window, bf16) one tile
  // per block spent 38 % of its time once per tile, and pairs across the
  // heads of a section read twice as much from DRAM
  // (benchmarks/results/2026-12-07-h100-window-persistence.md). Not
  // beside a score_mod that loads captures: a window with ALiBi spilled
  // 64-84 bytes in head pairs (ptxas -v, bf16/f16, causal or not).
  bool bandPairs =
      traits.bandMask && spec.getHeadDim() == 128 && !traits.loadsCaptures;
  bool pairable = mayLoop && (traits.keyBoundMask || bandPairs) &&
                  !traits.varlen && !traits.paged && !traits.capturesPerKey &&
                  config.warpgroups() == 2;
  auto tryPaired = [&]() {
    HopperConfig paired = config;
    paired.persistent = true;
    paired.pairedTiles = true;
    paired.pairsByHead = bandPairs;
    paired.roomyProducer = false;
    if (getRegisterBudget(paired) >= getFragmentRegisters(spec, paired))
      config = paired;
  };
  if (!config.persistent && pairable && spec.getHeadDim() <= 128)
    tryPaired();
  // persistent=on: the loop wherever it is possible and the fragments of
  // the serial schedule fit beside the looping producer, without the
  // headroom the choices above keep; the overlap follows from what is left
  // (below). verifyHopperPersistence reports a kernel that cannot loop.
  if (config.persistence == Persistence::On && !config.persistent && canLoop) {
    if (pairable)
      tryPaired();
    if (!config.persistent) {
      HopperConfig forced = looping;
      forced.roomyProducer = false;
      forced.overlapSoftmax = false;
      if (getRegisterBudget(forced) >= getFragmentRegisters(spec, forced)) {
        config = forced;
        config.overlapSoftmax = true;
      }
    }
  }
  // A capture-reading mask is classified into the block table before the
  // roles split: the producer's loop reads the table, not the captures.
  if (traits.visibilityReadsCaptures)
    config.blockTableEntries = kBlockTableEntries;
  int64_t headroom =
      getRegisterBudget(config) - getFragmentRegisters(spec, config);
  config.overlapSoftmax =
      !traits.capturesPerKey &&
      headroom >= (traits.masks && !config.pairedTiles ? kOverlapHeadroom : 0);
  // A tile without the registers for the pending P at all (three
  // warpgroups at block-n 128) runs the serial schedule, which needs fewer;
  // without a mask it loops over tiles where those leave room for the
  // loop (192 x 128 at D = 64: on the H200 the persistent serial kernel ran
  // as fast as 128 x 128 at N = 1024, where one tile per block ran 7 %
  // slower; benchmarks/results/2026-12-04-h200-three-warpgroups.md).
  if (headroom < 0 && !traits.masks && !config.persistent) {
    HopperConfig serial = config;
    serial.overlapSoftmax = false;
    serial.persistent = mayLoop && canLoop;
    serial.roomyProducer = serial.persistent && (traits.varlen || traits.paged);
    if (getFragmentRegisters(spec, serial) <= getRegisterBudget(serial))
      config = serial;
  }
}

LogicalResult mlir::fa::verifyHopperPersistence(
    const AttentionKernelSpec &spec, const HopperScoreTraits &traits,
    const HopperConfig &config, function_ref<InFlightDiagnostic()> emitError) {
  if (config.persistence != Persistence::On || config.persistent)
    return success();
  if (traits.visibilityReadsCaptures) {
    emitError() << "persistent=on: a mask that reads captured data runs one "
                   "tile per block (all the block's warps build its block "
                   "table before the roles split)";
    return failure();
  }
  if (traits.varlen && traits.paged) {
    emitError() << "persistent=on: a variable-length tile against a paged "
                   "cache runs one tile per block (its producer has no "
                   "registers for the loop over tiles)";
    return failure();
  }
  if ((traits.varlen || traits.paged) && traits.masks) {
    emitError() << "persistent=on: a masked "
                << (traits.varlen ? "variable-length" : "paged")
                << " tile runs one tile per block (the masked tile order "
                   "needs one key length)";
    return failure();
  }
  HopperConfig looping = config;
  looping.persistent = true;
  looping.overlapSoftmax = false;
  emitError() << "persistent=on: a consumer thread has "
              << getRegisterBudget(looping)
              << " registers for its fragments beside a looping producer, "
                 "and this tile needs "
              << getFragmentRegisters(spec, looping) << " (block-m "
              << config.blockM << ", block-n " << config.blockN << ", D "
              << spec.getHeadDim()
              << "); use persistent=auto or a smaller tile";
  return failure();
}

/// Bytes of the Q tile, the K and V rings and the control bytes after them.
static int64_t getTilesAndControlBytes(const AttentionKernelSpec &spec,
                                       const HopperConfig &config) {
  int64_t q = config.querySlots * config.blockM * spec.getHeadDim();
  int64_t k = config.stages * config.blockN * spec.getHeadDim();
  int64_t v = config.stages * config.blockN * spec.getValueHeadDim();
  return 2 * (q + k + v) + config.controlBytes();
}

int64_t mlir::fa::getHopperOutputTileOffset(const AttentionKernelSpec &spec,
                                            const HopperConfig &config) {
  // A whole swizzle period: TMA stores read 128-byte-swizzled boxes from
  // 1024-byte boundaries.
  return llvm::alignTo(getTilesAndControlBytes(spec, config),
                       kSwizzlePeriodBytes);
}

int64_t mlir::fa::getHopperSharedMemoryBytes(const AttentionKernelSpec &spec,
                                             const HopperConfig &config) {
  int64_t bytes = getTilesAndControlBytes(spec, config);
  if (config.outputStaging == HopperConfig::OutputStaging::OwnTile)
    bytes = getHopperOutputTileOffset(spec, config) +
            2 * config.blockM * spec.getValueHeadDim();
  return bytes + kSwizzlePeriodBytes;
}

void mlir::fa::chooseHopperEpilogue(Epilogue epilogue, bool variableLength,
                                    HopperConfig &config) {
  if (epilogue == Epilogue::Auto && config.warpgroups() == 3)
    epilogue = Epilogue::Registers;
  config.stageOutput = epilogue != Epilogue::Registers;
  config.storeWithTma = epilogue == Epilogue::Tma ||
                        (epilogue == Epilogue::Auto && !variableLength);
}

void mlir::fa::chooseHopperOutputStaging(const AttentionKernelSpec &spec,
                                         HopperConfig &config,
                                         int64_t maxSharedMemory) {
  using Staging = HopperConfig::OutputStaging;
  config.outputStaging = Staging::Registers;
  if (!config.stageOutput)
    return;
  if (!config.persistent) {
    // O's rows of a warpgroup take the place of its Q rows.
    if (spec.getValueHeadDim() == spec.getHeadDim())
      config.outputStaging = Staging::QueryTile;
    return;
  }
  HopperConfig staged = config;
  staged.outputStaging = Staging::OwnTile;
  if (getHopperSharedMemoryBytes(spec, staged) <= maxSharedMemory)
    config.outputStaging = Staging::OwnTile;
}

void mlir::fa::chooseHopperQuerySlots(const AttentionKernelSpec &spec,
                                      HopperConfig &config,
                                      int64_t maxSharedMemory) {
  // Three consumer warpgroups that stage O (epilogue=staged or tma) keep
  // one: their 152 registers a thread leave none for the slot's selection
  // (ptxas -v: 8 bytes of spills at D = 64 with the LSE, staged).
  config.querySlots = 1;
  if (!config.persistent || (config.warpgroups() == 3 && config.stageOutput))
    return;
  HopperConfig twice = config;
  twice.querySlots = 2;
  if (getHopperSharedMemoryBytes(spec, twice) <= maxSharedMemory)
    config.querySlots = 2;
}

LogicalResult mlir::fa::verifyHopperConfig(
    const AttentionKernelSpec &spec, const HopperConfig &config,
    const GPUTarget &target, function_ref<InFlightDiagnostic()> emitError) {
  if (!hasWgmma(target.chip)) {
    emitError() << "the hopper-ws strategy needs sm_90a (wgmma), got '"
                << target.chip << "'; use strategy=mma-sync";
    return failure();
  }
  Type element = spec.getElementType();
  if (!element.isF16() && !element.isBF16()) {
    emitError() << "the hopper-ws strategy needs f16 or bf16 Q/K/V, got "
                << element;
    return failure();
  }
  int64_t headDim = spec.getHeadDim();
  if (failed(verifyHeadDims("the hopper-ws strategy", headDim,
                            spec.getValueHeadDim(), emitError)))
    return failure();
  if (config.blockM % 64 != 0 || config.warpgroups() < 1 ||
      config.warpgroups() > 3) {
    emitError() << "block-m must be 64, 128 or 192 for the hopper-ws "
                   "strategy (64 rows per consumer warpgroup, at most "
                   "three), got "
                << config.blockM;
    return failure();
  }
  if (config.blockN % 16 != 0 || config.blockN < 16 || config.blockN > 256) {
    emitError() << "block-n must be a multiple of 16 in [16, 256] for "
                   "wgmma, got "
                << config.blockN;
    return failure();
  }
  if (config.stages < 2 || config.stages > 4) {
    emitError() << "stages must be in [2, 4], got " << config.stages;
    return failure();
  }
  if (failed(verifyExp2Emulation(config.emulatedExp2, emitError)))
    return failure();
  int64_t registers = getFragmentRegisters(spec, config);
  int64_t budget = getRegisterBudget(config);
  if (registers > budget) {
    emitError() << "tile too large for registers: block-m=" << config.blockM
                << " block-n=" << config.blockN << " at D=" << headDim
                << " needs " << registers << " fragment registers per thread"
                << (config.overlapSoftmax ? "" : " in the serial schedule")
                << " (budget " << budget << " for each of the "
                << config.threads() - 128
                << " consumer threads); use a smaller block-n or block-m";
    return failure();
  }
  int64_t smem = getHopperSharedMemoryBytes(spec, config);
  if (smem > target.getMaxDynamicSharedMemory()) {
    emitError() << "the tile needs " << smem
                << " bytes of shared memory, more than the "
                << target.getMaxDynamicSharedMemory() << " a block of "
                << target.chip << " can have; use fewer stages or smaller "
                << "tiles";
    return failure();
  }
  return success();
}
