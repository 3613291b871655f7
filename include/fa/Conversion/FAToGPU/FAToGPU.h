//===- FAToGPU.h - Map tiled attention onto GPU kernels ---------*- C++ -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The GPU mapping of a fused attention tile. A *strategy* turns one tile
// (FusedAttentionTile, read and checked from the IR) into a gpu.func kernel
// plus a gpu.launch_func on the host side. The strategy supplies the
// schedule (copies, MMAs, barriers, warp roles); the pieces every strategy
// shares live beside it in lib/Conversion/FAToGPU: cloning the scores body
// onto fragments (ScoreCloner), classifying key blocks from the mask
// (BlockClassifier, planKeyBlocks), the register-level online softmax
// (RegisterSoftmax), the output rows (KernelEpilogue), the block's tile
// (KernelGrid), cp.async row tiles (AsyncCopy), and the kernel ABI,
// skeleton and launch metadata
// (KernelABI). Two strategies: `mma-sync` (Ampere-style tensor cores, sm_80
// and newer) and `hopper-ws` (wgmma on sm_90a; TMA and warp
// specialization are being added, docs/HopperStrategy.md).
//
//===----------------------------------------------------------------------===//

#ifndef FA_CONVERSION_FATOGPU_FATOGPU_H
#define FA_CONVERSION_FATOGPU_FATOGPU_H

#include "fa/Dialect/FA/Transforms/Transforms.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <string>

namespace mlir::fa {

/// Whether a hopper-ws forward kernel loops over tiles on a grid of one
/// block per multiprocessor (HopperConfig::persistent).
enum class Persistence {
  /// chooseHopperSchedule's choice.
  Auto,
  /// Wherever the loop is possible and its registers fit; else an error.
  On,
  /// One tile per block.
  Off,
};

/// "auto", "on" or "off".
std::optional<Persistence> parsePersistence(StringRef name);
inline constexpr StringLiteral kPersistenceValues = "auto, on or off";

/// How a hopper-ws forward kernel's consumers store O
/// (HopperConfig::stageOutput, HopperConfig::storeWithTma).
enum class Epilogue {
  /// The strategy's choice (chooseHopperEpilogue): Tma, Staged for
  /// variable-length tiles, Registers for three consumer warpgroups;
  /// mma-sync kernels store from the registers.
  Auto,
  /// Pairs of columns from the accumulators.
  Registers,
  /// Through shared memory, as 16-byte pieces of whole rows.
  Staged,
  /// Through shared memory, then by TMA through a tensor map of O.
  Tma,
};

/// "auto", "registers", "staged" or "tma".
std::optional<Epilogue> parseEpilogue(StringRef name);
inline constexpr StringLiteral kEpilogueValues =
    "auto, registers, staged or tma";

/// How a hopper-ws kernel's producer loads K and V from a paged cache
/// (HopperConfig::gathersPages).
enum class PagedLoads {
  /// The strategy's choice: cp-async for pieces of fewer than 32 rows
  /// whose scores body loads no captures and whose fragments fit beside
  /// the gathering producer, else TMA (chooseHopperSchedule).
  Auto,
  /// One TMA per slab of each piece of a block that lies in one page.
  Tma,
  /// The producer warpgroup gathers the block's rows with cp.async.
  CpAsync,
};

/// "auto", "tma" or "cp-async".
std::optional<PagedLoads> parsePagedLoads(StringRef name);
inline constexpr StringLiteral kPagedLoadsValues = "auto, tma or cp-async";

/// What the kernel may use on the target chip.
struct GPUTarget {
  std::string chip = "sm_90a";
  int64_t smVersion = 90;
  /// Shared memory one block may opt into (static and dynamic), in bytes.
  int64_t maxSharedMemoryPerBlock = 232448;

  /// The most dynamic shared memory a kernel may ask for: the GPU lowering
  /// declares the dynamic base as a static one-byte symbol aligned to 16,
  /// which counts against the same limit (a kernel asking for all of
  /// maxSharedMemoryPerBlock fails to launch).
  int64_t getMaxDynamicSharedMemory() const {
    return maxSharedMemoryPerBlock - 16;
  }
};

/// The chips the compiler builds kernels for, in order: the one table that
/// parseGPUTarget, the tools' help and the C API (faGetTargetInfo, which
/// Python reads) describe.
ArrayRef<GPUTarget> getKnownGPUTargets();

/// The entry of getKnownGPUTargets for `chip`, or null if it has none.
const GPUTarget *lookupGPUTarget(StringRef chip);

/// "unsupported chip '<chip>': fa-mlir builds kernels for <the known ones>".
std::string getUnsupportedChipMessage(StringRef chip);

/// Whether `chip` has wgmma (the hopper-ws strategy's chip).
inline bool hasWgmma(StringRef chip) { return chip == "sm_90a"; }

/// Checks that the head dimensions of Q/K (`headDim`) and V (`valueHeadDim`)
/// are ones the GPU kernels are built for: equal, and in
/// getSupportedHeadDims(). The message names `kernel` (e.g. "the hopper-ws
/// backward").
LogicalResult verifyHeadDims(StringRef kernel, int64_t headDim,
                             int64_t valueHeadDim,
                             function_ref<InFlightDiagnostic()> emitError);

/// Parses a chip of getKnownGPUTargets; fails (through `emitError`) for
/// anything else.
FailureOr<GPUTarget> parseGPUTarget(StringRef chip,
                                    function_ref<InFlightDiagnostic()> emitError);

/// The depth of a K/V ring that `stages = 0` leaves to a strategy without
/// a rule of its own (hopper-ws, the backward), and mma-sync's where its
/// rule does not deepen it.
inline constexpr int64_t kDefaultStages = 2;

/// The options of the GPU mapping that are not fixed by the tiling.
struct FAToGPUOptions {
  GPUTarget target;
  GPUStrategyKind strategy = GPUStrategyKind::MmaSync;
  /// Warps per block; 0 picks block_m / 16.
  int64_t warps = 0;
  /// Depth of the cp.async K/V ring in shared memory (0: the strategy's
  /// choice: chooseMmaSyncSchedule's, hopper-ws and the backward
  /// kDefaultStages).
  int64_t stages = 0;
  /// mma-sync: warps that split each key block (0: the strategy's choice).
  int64_t keyWarps = 0;
  /// Of every kExp2EmulationPeriod (8) exponentials of the forward
  /// softmax, how many run on the FMA pipe instead of MUFU.EX2
  /// (HopperConfig::emulatedExp2).
  int64_t exp2Emulation = 0;
  /// Whether masked blocks test each score against a per-row interval
  /// (HopperConfig::columnIntervals, MmaSyncConfig::columnIntervals).
  bool columnIntervals = false;
  /// Whether hopper-ws forward kernels loop over tiles
  /// (HopperConfig::persistence).
  Persistence persistence = Persistence::Auto;
  /// How hopper-ws forward kernels store O; mma-sync kernels take only
  /// Auto and Registers.
  Epilogue epilogue = Epilogue::Auto;
  /// How hopper-ws kernels load a paged cache; mma-sync kernels take only
  /// Auto (they gather with cp.async).
  PagedLoads pagedLoads = PagedLoads::Auto;
};

/// The period of FAToGPUOptions::exp2Emulation: element i of a softmax row
/// piece is emulated where i mod 8 < exp2Emulation, so 8 is also the
/// largest value (every exponential).
inline constexpr int64_t kExp2EmulationPeriod = 8;

/// Reports (through `emitError`) and fails unless `exp2Emulation` is in
/// [0, kExp2EmulationPeriod].
LogicalResult verifyExp2Emulation(int64_t exp2Emulation,
                                  function_ref<InFlightDiagnostic()> emitError);

/// One attention kernel's static description: the tensor types of its
/// arguments, independent of how it is scheduled. What it computes per
/// element comes from the tile's scores body.
struct AttentionKernelSpec {
  RankedTensorType queryType, keyType, valueType, outputType, lseType;
  /// Variable-length tiles: the sequence offsets of the queries and the
  /// keys (i32 [B + 1]), kernel arguments after the LSE; null otherwise.
  RankedTensorType cuSeqlensQType, cuSeqlensKType;
  /// Paged tiles: the block table (i32 [B, max_pages]) and the key counts
  /// (i32 [B]), kernel arguments after the LSE; null otherwise. K and V are
  /// then caches [num_pages, page_size, Hkv, D].
  RankedTensorType blockTableType, cacheSeqlensType;
  /// The captures, kernel arguments after the LSE and the offsets or the
  /// block table.
  SmallVector<RankedTensorType> captureTypes;

  Type getElementType() const { return queryType.getElementType(); }
  int64_t getHeadDim() const { return queryType.getShape().back(); }
  int64_t getValueHeadDim() const { return valueType.getShape().back(); }
  bool isVarlen() const { return static_cast<bool>(cuSeqlensQType); }
  bool isPaged() const { return static_cast<bool>(blockTableType); }
};

/// The schedule of an mma.sync kernel.
struct MmaSyncConfig {
  int64_t blockM = 128, blockN = 64, warps = 8, stages = 2;
  /// Keep the Q fragments in registers for the whole key loop; otherwise
  /// ldmatrix them from shared memory in every block (FlashAttention-2's
  /// choice at 32 rows per warp, where registers are short).
  bool queryInRegisters = true;
  /// Key-split warps: the warps of a block form `keyWarps` groups of
  /// rowWarps() warps; the groups take the same rows and each a slice of
  /// block-n / keyWarps keys of every block, keep their own softmax state,
  /// and merge through shared memory after the key loop (for tiles of few
  /// rows, as decoding's: the tensor cores then compute keys rather than
  /// padding rows). 0 before chooseMmaSyncSchedule: its choice.
  int64_t keyWarps = 1;
  /// Whether chooseMmaSyncSchedule took keyWarps from the warps given
  /// (warps beyond block-m's 16-row warps split the keys), for messages.
  bool keyWarpsFromWarps = false;
  int64_t threads() const { return warps * 32; }
  /// Warps of one key group, which split the block's rows.
  /// (At least 1, so that a config verifyMmaSyncConfig refuses still has
  /// row tiles to count.)
  int64_t rowWarps() const {
    return std::max<int64_t>(warps / std::max<int64_t>(keyWarps, 1), 1);
  }
  /// Keys of a block that one key group computes.
  int64_t keySlice() const { return blockN / std::max<int64_t>(keyWarps, 1); }
  /// 16-row MMA tiles each warp owns.
  int64_t rowTilesPerWarp() const { return blockM / (16 * rowWarps()); }
  /// Exponentials of every 8 emulated on the FMA pipe (0: none;
  /// HopperConfig::emulatedExp2).
  int64_t emulatedExp2 = 0;
  /// Whether a masked block tests each score against its row's interval
  /// of visible keys (HopperConfig::columnIntervals).
  bool columnIntervals = false;
};

/// The schedule of a Hopper (wgmma) kernel: consumer warpgroups of 64 query
/// rows each, over K/V blocks of block-n keys in a ring of `stages`.
struct HopperConfig {
  int64_t blockM = 128, blockN = 128, stages = 2;
  /// Consumer warpgroups (64 query rows each); one producer warpgroup
  /// follows them.
  int64_t warpgroups() const { return blockM / 64; }
  int64_t threads() const { return 128 * (warpgroups() + 1); }
  /// Entries (bytes) of the block table in shared memory: a mask that reads
  /// captured data is classified once per tile, each key block by a group
  /// of lanes of the block's warps, before the roles split (BlockTable);
  /// 0: none.
  int64_t blockTableEntries = 0;
  /// Whether a masked block tests each score against its row's interval
  /// of visible keys (TileCloner::visibleColumns) where the mask has one,
  /// instead of the mask cloned per score and a padding test.
  bool columnIntervals = false;
  /// Whether a consumer's softmax of block j runs while its P V of block
  /// j - 1 does (the pending P then stays live under the softmax).
  bool overlapSoftmax = true;
  /// Whether a block loops over tiles (a persistent grid, tiles handed out
  /// by the producer; KernelGrid's emitPersistentTileLoop) rather than
  /// computing the one its grid position names. The producer then computes
  /// each tile's key blocks with its few registers.
  bool persistent = true;
  /// Whether the scores body has a visibility predicate: the producer then
  /// classifies key blocks (searches the tile's ranges, tests the masked
  /// blocks) rather than loading them all.
  bool masked = false;
  /// Whether the scores body loads captured data (ALiBi slopes, document
  /// ids, a bias table): the serial schedule then needs the registers the
  /// overlapped one gives the pending P (chooseHopperSchedule).
  bool loadsCaptures = false;
  /// Whether the tile is one of a packed variable-length batch: TMA reads
  /// the packed [T, H, D] tensors at the sequence's rows. The rows of a
  /// sequence's last K/V block past its keys belong to the next sequence (or to
  /// none): the producer zeroes them in the V slot before the consumers read it
  /// (0 * NaN would be NaN), through one more mbarrier.
  bool varlen = false;
  /// Of a tile against a paged cache: its page size (0: none). TMA reads
  /// K and V from the pool [num_pages, page_size, H, D] at the pages the
  /// block table names, in pieces of kvLoadRows() rows. The rows of a
  /// sequence's last block past its keys hold other data (or, where its
  /// pages end, what the slot held before): the producer zeroes them in
  /// the V slot as for a variable-length tile.
  int64_t pageSize = 0;
  /// Rows of one K or V load: the block, or of a paged tile the rows from
  /// each multiple of gcd(page size, block-n), which lie in one page.
  int64_t kvLoadRows() const {
    return pageSize ? std::gcd(pageSize, blockN) : blockN;
  }
  /// What the options ask of gathersPages(); chooseHopperSchedule
  /// resolves auto to tma or cp-async.
  PagedLoads pagedLoads = PagedLoads::Auto;
  /// Whether the producer warpgroup gathers K and V of a paged tile with
  /// cp.async, each thread 16-byte chunks of whole rows, instead of TMA
  /// (`paged-loads=cp-async`, or auto's choice). The chunks land 128-byte
  /// swizzled as TMA's would, rows past the keys zero-filled; each
  /// thread's cp.async arrival counts on "K/V loaded". Meant for pages
  /// much smaller than the block, whose TMA pieces are small (16-row pages
  /// ran at 0.66-0.83x of the contiguous cache with TMA on the H200;
  /// docs/PagedKV.md).
  bool gathersPages() const {
    return pageSize && pagedLoads == PagedLoads::CpAsync;
  }
  /// Threads of the producer warpgroup that run its block loop: all 128
  /// where it gathers pages (gathersPages; the copies are as many
  /// instructions as 16-byte chunks, 4096 a 128-key block at D = 128, too
  /// many for one warp to issue while two consumer warpgroups compute),
  /// else its first warp (one lane issues each TMA).
  int64_t producerThreads() const { return gathersPages() ? 128 : 32; }
  /// Whether the producer zeroes the V rows past a sequence's keys in its
  /// last block, through one more mbarrier: variable-length and paged
  /// tiles loaded by TMA. Gathered pages zero-fill them, packed queries
  /// against them too (their K and V are the pages'; the barrier counts
  /// one arrival, not the gathering warpgroup's).
  bool zeroesValueTails() const {
    return pageSize > 0 ? !gathersPages() : varlen;
  }
  /// Of every 8 exponentials of the softmax, how many the consumers
  /// compute on the FMA pipe (a polynomial, SoftmaxOptions::emulatedExp2)
  /// instead of MUFU.EX2. MUFU takes 16 a cycle per SM against 4096 bf16
  /// MMA FLOPs: a block's exponentials need as long as its MMAs at D = 64,
  /// or at D = 128 with a tanh in the scores body. Yet on the H200 no share
  /// made those kernels faster: they wait on latencies, not on MUFU, and
  /// the emulation's instructions lengthen the softmax
  /// (docs/HopperStrategy.md). None is the default; the option keeps the
  /// balance tunable.
  int64_t emulatedExp2 = 0;
  /// What the options ask of `persistent`: chooseHopperSchedule's choice,
  /// the loop wherever it fits (buildHopperAttentionKernel reports a kernel
  /// that cannot loop), or one tile per block.
  Persistence persistence = Persistence::Auto;
  /// Whether the masked persistent grid takes its query tiles in pairs,
  /// the n-th from the end and the n-th from the start of a head
  /// (MaskedTileOrder::Pairs of emitPersistentTileLoop, or HeadPairs with
  /// pairsByHead): under a causal mask every pair costs the same. Chosen for
  /// key-bound masks (causal) and band masks (sliding windows) at D = 128,
  /// which only loop this way (chooseHopperSchedule); their producer finds each
  /// tile's key blocks with 56 registers.
  bool pairedTiles = false;
  /// Whether the pairs of a head run side by side
  /// (MaskedTileOrder::HeadPairs) rather than a pair rank across the heads
  /// of an L2 section: for band masks, whose neighbouring tiles read mostly
  /// the same K and V blocks.
  bool pairsByHead = false;
  /// Whether a persistent variable-length or paged producer keeps 48
  /// registers rather than 40 (it also reads each tile's offsets or pages
  /// and zeroes V tails;
  /// ptxas spilled 32 bytes at D = 64 with 40), when the consumers can
  /// spare them; a paged one 56, for its block's pages and its loop over
  /// the pieces (with 48, ALiBi at D = 128 spilled 32 bytes, and D = 64
  /// beside three consumer warpgroups 48-56): the consumers keep what they
  /// kept beside 48 (224 for two, 152 for three; they get the rest in
  /// units of 8).
  bool roomyProducer = false;
  /// Where the consumers stage O for the epilogue (with stageOutput, else
  /// the registers): each warpgroup writes its normalized rows into shared
  /// memory (swizzled as Q's tile), then stores them as whole 16-byte row
  /// pieces (docs/HopperStrategy.md). One tile per block stages into its
  /// own rows of the Q tile, free once its last S = Q K^T is done; a
  /// persistent block, whose producer loads the next Q there, into a tile
  /// of its own after the control bytes where shared memory has room
  /// (chooseHopperOutputStaging), else stores O from the registers as
  /// pairs of columns.
  enum class OutputStaging { Registers, QueryTile, OwnTile };
  OutputStaging outputStaging = OutputStaging::Registers;
  /// Whether the options ask for the staged epilogue (`epilogue=staged`
  /// or `tma`); without, O is stored from the registers.
  bool stageOutput = false;
  /// With stageOutput (`epilogue=tma`): one thread of each warpgroup
  /// stores the warpgroup's staged rows with TMA (cp.async.bulk.tensor,
  /// one box of 64 rows and 64 columns per slab, through a tensor map of
  /// O; rows past Nq are outside the map) instead of its threads storing
  /// 16-byte pieces. Not for variable-length tiles, whose rows past a
  /// sequence are the next sequence's.
  bool storeWithTma = false;
  /// Whether the kernel stores O by TMA: storeWithTma where the epilogue
  /// is staged (it takes O's tensor map then).
  bool storesOutputWithTma() const {
    return storeWithTma && outputStaging != OutputStaging::Registers;
  }
  /// Registers a producer thread keeps after `setmaxnreg` (FlashAttention-3
  /// gives it 24, or 32 beside three consumer warpgroups). A persistent
  /// producer decodes tiles and finds their key blocks in its loop: 40
  /// (ptxas spilled 8 bytes with 32 at D = 128 with dynamic shapes), and
  /// 64 when it searches a mask's block ranges for every tile (with 40,
  /// 44-68 bytes of spills for causal; with 56, 8 for bottom-right causal
  /// with a window), 56 for the comparisons of a key-bound or band mask in
  /// pairs (with 48, 8-40 bytes of spills for causal at D = 128).
  /// One tile per block: 48 for a paged tile whose mask reads captures
  /// (it walks the block table of visible blocks beside the pages; with
  /// 24, 84-96 bytes of spills at D = 64 and 128 under a document mask;
  /// those consumers run the serial schedule, which 224 registers hold),
  /// 56 for packed queries (with 48, 8-12 bytes of spills at D = 64; the
  /// consumers keep 224);
  /// 56 where it gathers pages (gathersPages; with 24-40, 8-212 bytes of
  /// spills at D = 64 and 128; the consumers keep 224).
  int64_t producerRegisters() const {
    if (persistent && masked)
      return pairedTiles ? 56 : 64;
    if (persistent && roomyProducer)
      return pageSize ? 56 : 48;
    if (persistent)
      return 40;
    if (gathersPages())
      return 56;
    if (pageSize && blockTableEntries)
      return varlen ? 56 : 48;
    return warpgroups() == 3 ? 32 : 24;
  }
  /// Registers the block holds from its launch: its threads times the
  /// registers per thread of `.maxntid` (the file's 64K over the threads,
  /// in units of 8). `setmaxnreg` only moves registers within them: the
  /// consumers' increase waits forever for registers the producer did not
  /// give back.
  int64_t blockRegisters() const {
    return threads() * std::min<int64_t>(255, 65536 / threads() / 8 * 8);
  }
  /// Registers a consumer thread holds: the rest of the block's registers
  /// in units of 8, at most 240. One consumer warpgroup has 255 with no
  /// `setmaxnreg` (there is nothing to move).
  int64_t consumerRegisters() const {
    if (warpgroups() == 1)
      return 255;
    int64_t rest =
        (blockRegisters() - 128 * producerRegisters()) / (128 * warpgroups());
    return std::min<int64_t>(240, rest / 8 * 8);
  }
  /// Q tiles in shared memory: 2 where a persistent block has room for a
  /// second (chooseHopperQuerySlots), so that the producer loads the next
  /// tile's Q while the consumers still compute with this one's, else 1.
  /// Tile t uses slot t % querySlots.
  int64_t querySlots = 1;
  /// mbarriers in shared memory: Q loaded, per ring stage K loaded, V
  /// loaded, K released and V released by the consumers, Q released, for
  /// a variable-length or TMA-paged tile "V tail staged" (the last block's V,
  /// loaded for the producer to zero its rows past the sequence), and Q
  /// loaded and Q released of the second Q slot.
  int64_t barriers() const {
    return 2 + 4 * stages + (zeroesValueTails() ? 1 : 0) + 2 * (querySlots - 1);
  }
  /// i32 words of a tile slot (tile index, head, batch, padding): the
  /// producer hands the consumers their next tile through twice as many
  /// slots as there are Q slots (a slot is rewritten once the Q of the tile
  /// after its tile is released, after its tile's epilogue read it).
  static constexpr int64_t kTileSlotWords = 4;
  int64_t tileSlots() const { return 2 * querySlots; }
  /// Bytes of the barriers, the tile slots and the block table, after the
  /// tiles.
  int64_t controlBytes() const {
    return barriers() * 8 + tileSlots() * 4 * kTileSlotWords +
           blockTableEntries;
  }
};

/// A kernel's TMA tensor maps are its last arguments, `!llvm.ptr` until
/// fa-lower-tensor-map-arguments makes them 128-byte by-value grid
/// constants; this kernel attribute counts them.
inline constexpr StringLiteral kTensorMapsAttrName = "fa.tensor_maps";
inline constexpr int64_t kTensorMapBytes = 128;
inline constexpr int64_t kTensorMapAlignment = 64;

/// One TMA tensor map a kernel takes: of which memref argument (0 Q, 1 K,
/// 2 V, 3 O; a backward's dO and dQ accumulator), with which box
/// (innermost first, in elements). The 128-byte swizzle, zero fill out of
/// bounds and 256-byte L2 promotion are fixed.
struct TensorMapInfo {
  int64_t argument = 0;
  SmallVector<int64_t> box;
};

/// How to launch a kernel built by a strategy. Recorded on the gpu.func as
/// the `fa.launch` attribute (see getKernelLaunchInfo).
struct KernelLaunchInfo {
  static constexpr StringLiteral attrName = "fa.launch";
  std::string strategy;
  std::string chip;
  int64_t blockM = 0, blockN = 0, warps = 0, stages = 0;
  int64_t threads = 0;
  int64_t dynamicSharedMemory = 0;
  /// Whether argument 4 is the LSE output (the captures follow it).
  bool lse = false;
  /// The tensor maps the kernel takes after its memref arguments.
  SmallVector<TensorMapInfo> tensorMaps;
  /// Whether its blocks loop over the tiles (HopperConfig::persistent):
  /// any grid computes every tile once, and one of min(tiles,
  /// multiprocessors x resident blocks) blocks is the fast one.
  bool persistent = false;
  /// The backward stage the kernel computes (BackwardTileAttr: delta,
  /// key_value, query or fused; or kGradQueryConvertStage); empty for a
  /// forward kernel.
  std::string backwardStage;
  /// The kernel of a split-KV attention (kSplitPartialStage or
  /// kSplitCombineStage); empty otherwise.
  std::string splitStage;
  /// With splitStage: the split count when fixed at compile time, else 0
  /// (the launcher picks it with fa.split_count's rule, at most
  /// maxSplits).
  int64_t splits = 0, maxSplits = 0;
  /// The query heads a tile packs (fa.attention_tile's pack_gqa; 1: none).
  /// A combine kernel keeps its partial kernel's (its own grid is over
  /// query heads).
  int64_t packedHeads = 1;
  /// A variable-length kernel: grid = (ceildiv(max_seqlen_q, blockM), Hq,
  /// B), B + 1 the size of the cu_seqlens_q argument and max_seqlen_q a
  /// launch scalar (the longest query sequence).
  bool varlen = false;
  /// A paged kernel: K and V rows are read through the block_table
  /// argument, pages of `pageSize` rows (0: not paged). Its grid is the
  /// fixed-length one.
  int64_t pageSize = 0;
  /// grid = (ceildiv(Nq, blockM), Hq, B): Nq, Hq and B are dimensions 2, 1
  /// and 0 of the query argument. Packed: (ceildiv(Nq, blockM /
  /// packedHeads), Hkv, B), Hkv dimension 1 of the key argument.
  DictionaryAttr toAttr(MLIRContext *ctx) const;
  static FailureOr<KernelLaunchInfo> fromAttr(DictionaryAttr attr);
};

/// KernelLaunchInfo::splitStage of the two kernels of a split-KV attention:
/// the partial results of every split, then their combination.
inline constexpr StringLiteral kSplitPartialStage = "partial";
inline constexpr StringLiteral kSplitCombineStage = "combine";

/// Threads per block of the combine kernel.
inline constexpr int64_t kSplitCombineThreads = 128;
/// Splits the combine kernel reads per step of its loops (their loads are
/// in flight together).
inline constexpr int64_t kSplitCombineUnroll = 8;

/// The kernel that merges the partial results of a split-KV attention
/// (`combine`, matched by matchSplitCombine): one block of
/// kSplitCombineThreads threads per (query tile, head, batch), grid
/// (ceildiv(Nq, block_m), Hq, B). It takes (partial O, partial LSE, O[,
/// LSE]) and reads the split count from the partial LSE's first dimension.
/// `info` is the partial kernel's; the kernel's is derived from it.
FailureOr<gpu::GPUFuncOp>
buildSplitCombineKernel(OpBuilder &builder, gpu::GPUModuleOp module,
                        const SplitCombineTile &combine,
                        const KernelLaunchInfo &partialInfo, Location loc);

/// Picks warps when config.warps == 0 (32 rows per warp when the S and O
/// fragments of two row tiles fit the register budget, else 16), key-split
/// warps when config.keyWarps == 0, whether Q stays in registers (when it
/// fits beside them; else it is re-read from shared memory in every block)
/// and, when config.stages == 0, the depth of the K/V ring: 3 for key-split
/// tiles (decoding's, bound by reading K and V) where it fits the target's
/// shared memory, else 2.
void chooseMmaSyncSchedule(const AttentionKernelSpec &spec,
                           const GPUTarget &target, MmaSyncConfig &config);

/// What the scores body of a Hopper kernel does, as far as its schedule
/// cares.
struct HopperScoreTraits {
  /// It has a visibility predicate (a causal mask, a mask_mod): masked
  /// blocks run a longer softmax.
  bool masks = false;
  /// The visibility predicate reads captures: the producer classifies
  /// blocks from loaded data.
  bool visibilityReadsCaptures = false;
  /// Some capture data is loaded per key (a document id, a bias by
  /// distance): the softmax holds it in registers.
  bool capturesPerKey = false;
  /// Some capture data is loaded at all (also per row or head: ALiBi's
  /// slopes).
  bool loadsCaptures = false;
  /// The tile is one of a packed variable-length batch
  /// (HopperConfig::varlen).
  bool varlen = false;
  /// The tile reads a paged cache (HopperConfig::pageSize).
  bool paged = false;
  /// The visibility predicate bounds the key from one side by values of
  /// the row: one ordering comparison of the key with values of the row,
  /// reading no captures; a causal mask of either alignment
  /// (HopperConfig::pairedTiles).
  bool keyBoundMask = false;
  /// The visibility predicate's conjuncts bound the key from below and from
  /// above by values of the row, the others do not vary with the key, and
  /// nothing reads captures: a sliding window, `q - W < kv <= q` or
  /// `q - kv < W` (HopperConfig::pairsByHead).
  bool bandMask = false;
};

/// Completes the schedule of `config` for a scores body with `traits`:
/// - paged-loads=auto becomes cp-async for a paged tile's pieces of fewer
///   than 32 rows whose scores body loads no captures and whose fragments
///   fit beside the gathering producer, else tma;
/// - the blocks loop over tiles (`persistent`) when the consumers keep
///   registers for the loop (and, under a mask, for the overlapped softmax
///   beside a producer that searches each tile's key blocks), unless the
///   mask reads captures or a masked tile is variable-length (one tile per
///   block: its grid covers the longest sequence, and blocks past their
///   sequence's end return);
/// - a producer warpgroup whose block classification reads captures gets
///   the registers to do it without spilling when the consumers' fragments
///   still fit beside it (else it keeps the minimum and may spill in its
///   loop);
/// - the softmax of a block overlaps the P V of the previous one when the
///   registers allow: not when it loads capture data per key, nor for a
///   masked body with less than kOverlapHeadroom registers to spare (the
///   pending P and the mask's temporaries would spill), nor where the
///   pending P does not fit at all (three warpgroups at block-n 128); the
///   last, without a mask, loops over tiles when its serial schedule
///   leaves the registers.
void chooseHopperSchedule(const AttentionKernelSpec &spec,
                          const HopperScoreTraits &traits,
                          HopperConfig &config);

/// Reports (through `emitError`) and fails when the options asked for the
/// loop over tiles (Persistence::On) and the completed schedule `config`
/// has none, saying why.
LogicalResult verifyHopperPersistence(
    const AttentionKernelSpec &spec, const HopperScoreTraits &traits,
    const HopperConfig &config, function_ref<InFlightDiagnostic()> emitError);

/// Bytes of dynamic shared memory an mma.sync kernel needs: its Q tile and
/// K/V ring, or (key-split warps) the f32 states the key groups merge
/// through after the key loop, whichever is larger.
int64_t getMmaSyncSharedMemoryBytes(const AttentionKernelSpec &spec,
                                    const MmaSyncConfig &config);
/// The f32 values of one thread's softmax state that a key group hands to
/// the first (its output accumulators, its rows' maxima and sums).
int64_t getMmaSyncMergeFloats(const AttentionKernelSpec &spec,
                              const MmaSyncConfig &config);

/// Checks that the mma.sync strategy can build `spec` with `config` on
/// `target`; every refusal names the offending value and what would work.
LogicalResult verifyMmaSyncConfig(const AttentionKernelSpec &spec,
                                  const MmaSyncConfig &config,
                                  const GPUTarget &target,
                                  function_ref<InFlightDiagnostic()> emitError);

/// Builds the mma.sync kernel of `tile` at the end of `module` and names
/// it (getAttentionKernelName). The kernel takes (Q, K, V, O[, LSE],
/// captures...) as strided memrefs; Q, K, V, O and LSE have innermost
/// stride 1. Fails with a diagnostic, building nothing, when the tile's
/// scores body cannot be evaluated on fragments.
FailureOr<gpu::GPUFuncOp>
buildMmaSyncAttentionKernel(OpBuilder &builder, gpu::GPUModuleOp module,
                            const FusedAttentionTile &tile,
                            const AttentionKernelSpec &spec,
                            const MmaSyncConfig &config,
                            const GPUTarget &target, Location loc);

/// Bytes of dynamic shared memory a Hopper kernel needs (the Q tile, the
/// K and V rings, the control bytes, O's own staging tile if it has one,
/// and 1 KiB to align them to the 128-byte swizzle's 1024-byte period).
int64_t getHopperSharedMemoryBytes(const AttentionKernelSpec &spec,
                                   const HopperConfig &config);

/// Byte offset of O's own staging tile (HopperConfig::OutputStaging::OwnTile)
/// from the aligned start of shared memory: after the control bytes, at a
/// 128-byte boundary.
int64_t getHopperOutputTileOffset(const AttentionKernelSpec &spec,
                                  const HopperConfig &config);

/// Sets `config.stageOutput` and `config.storeWithTma` from the epilogue
/// the options ask for. Auto stages O and stores it by TMA, except: a
/// variable-length tile stores 16-byte pieces (TMA's boxes would overwrite
/// the next sequence's rows), and three consumer warpgroups (block-m 192)
/// store from the registers: their 152 registers a thread beside a
/// persistent producer leave none for O's map (ptxas spills it).
void chooseHopperEpilogue(Epilogue epilogue, bool variableLength,
                          HopperConfig &config);

/// Sets `config.outputStaging` for a completed schedule: with
/// `config.stageOutput`, the Q tile with one tile per block (D = Dv), an
/// own tile for a persistent block where `maxSharedMemory` has room for it;
/// else the registers.
void chooseHopperOutputStaging(const AttentionKernelSpec &spec,
                               HopperConfig &config, int64_t maxSharedMemory);

/// Sets `config.querySlots` for a completed schedule and epilogue: 2 for
/// a persistent block where `maxSharedMemory` has room for a second Q tile
/// beside everything else, but for three consumer warpgroups that stage
/// O; else 1.
void chooseHopperQuerySlots(const AttentionKernelSpec &spec,
                            HopperConfig &config, int64_t maxSharedMemory);

/// Checks that the Hopper strategy can build `spec` with `config` on
/// `target` (sm_90a, tile shapes wgmma can take, registers, shared
/// memory); every refusal names the value and what would work.
LogicalResult verifyHopperConfig(const AttentionKernelSpec &spec,
                                 const HopperConfig &config,
                                 const GPUTarget &target,
                                 function_ref<InFlightDiagnostic()> emitError);

/// Builds the Hopper (wgmma) kernel of `tile` at the end of `module` and
/// names it; the same ABI as buildMmaSyncAttentionKernel.
FailureOr<gpu::GPUFuncOp> buildHopperAttentionKernel(
    OpBuilder &builder, gpu::GPUModuleOp module, const FusedAttentionTile &tile,
    const AttentionKernelSpec &spec, const HopperConfig &config,
    const GPUTarget &target, Location loc);

/// A stable, descriptive kernel name, e.g.
/// `fa_attention_bf16_d128_bm128_bn48_w4_s2_qsmem_lse`: the configuration.
/// fa-lower-to-gpu adds the tile's kind (`_varlen`, `_paged64`, ...) and
/// then the hash of the finished kernel (appendKernelHash).
std::string getAttentionKernelName(const AttentionKernelSpec &spec,
                                   const MmaSyncConfig &config);
/// The same for a Hopper kernel:
/// `fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma[_lse]`.
std::string getAttentionKernelName(const AttentionKernelSpec &spec,
                                   const HopperConfig &config);

/// Appends `_`, 8 hex digits of a hash of the finished kernel's IR (all of
/// it but its name: the body, the attributes, fa.launch included, and the
/// argument types) and `suffix` (the tile's kind: `_varlen`, `_splitkv`,
/// ...), so that two kernels computing different things (another scale,
/// mask or score_mod) never share a name, and a runtime that caches
/// kernels by name never mixes two.
void appendKernelHash(gpu::GPUFuncOp kernel, StringRef suffix = "");

/// For a kernel given as GPU-level input, which may have been edited after
/// fa-lower-to-gpu named it: when the hash in its name (its last part of 8
/// hex digits) is not that of its IR, renames it to the name with its own
/// hash, its gpu.module alike where the module is named after it (uniqued
/// within `top`), and every reference under `top`. A name without a hash
/// is left alone. Returns whether it renamed.
bool renameEditedKernel(gpu::GPUFuncOp kernel, Operation *top);

/// Replaces a fused attention tile (the scf.forall of tileAttention after
/// fuseOnlineSoftmax) by a kernel in a new gpu.module and a gpu.launch_func
/// on memrefs of the operands. Returns the launch.
FailureOr<gpu::LaunchFuncOp> lowerAttentionTileToGPU(RewriterBase &rewriter,
                                                     scf::ForallOp forall,
                                                     const FAToGPUOptions &options);

/// Refuses captures that a kernel also writes: a capture that is, or is a
/// view of (extract_slice, cast, reshapes), the tensor one of `written`
/// (the init tensors of the outputs) is or views. Its buffer is the output's,
/// which other blocks overwrite while this one reads the init value the IR asks
/// for. Errors at `loc`.
LogicalResult verifyCapturesNotWritten(Location loc, ValueRange captures,
                                       ValueRange written);

/// The memref type a kernel argument of tensor type `type` takes: the same
/// shape, any strides, innermost stride 1 (`unitInnermostStride`, for Q, K,
/// V, O and LSE, which are read in 16-byte rows) or any (captures).
MemRefType getKernelArgumentType(RankedTensorType type,
                                 bool unitInnermostStride = true);

/// The kernel argument types of `spec`: Q, K, V, O[, LSE], captures.
SmallVector<Type> getKernelArgumentTypes(const AttentionKernelSpec &spec);

/// A kernel with an empty body at the end of `module`, as every strategy
/// starts one: the arguments of getKernelArgumentTypes, `gpu.kernel`, the
/// known block size `info.threads` and `info` as `fa.launch`. The strategy
/// emits the body, then names it (getAttentionKernelName).
gpu::GPUFuncOp createAttentionKernel(OpBuilder &builder,
                                     gpu::GPUModuleOp module,
                                     const AttentionKernelSpec &spec,
                                     const KernelLaunchInfo &info,
                                     Location loc);

/// The spec of a matched tile's kernel.
AttentionKernelSpec getAttentionKernelSpec(const FusedAttentionTile &tile);

/// The arguments every kernel of a backward pass takes, in order: Q, K, V,
/// O, dO, the LSE, delta (f32 [B, Hq, Nq], written by the delta stage and
/// read by the others), with dq=accumulate the dQ accumulator (f32 [B, Hq,
/// Nq, D], zeroed by the delta kernel, added to by the fused kernel, read
/// by the dq_convert kernel), dQ, dK, dV, then the captures of the scores
/// body. Each stage reads and writes its own subset: a runtime passes the
/// same list to the three kernels.
struct BackwardKernelSpec {
  RankedTensorType query, key, value, output, gradOutput, lse, delta,
      gradQueryAccumulator, gradQuery, gradKey, gradValue;
  SmallVector<RankedTensorType> captures;
  SmallVector<Type> getArgumentTypes() const;
};

/// The kernel of dq=accumulate that runs after the fused stage: dQ = scale
/// * the f32 accumulator, tiled as the delta stage tiles the rows of Q. It
/// is no stage of the tiled IR (the fused stage's last op is its source):
/// a BackwardStageTile of this `stage` names it, with the delta stage's
/// forall and block_m and the fused stage's dQ factor as gradientScale.
inline constexpr StringLiteral kGradQueryConvertStage = "dq_convert";

/// The schedule of the backward kernels: the depth of the ring the
/// streamed operands go through, and which tensor-core instructions the
/// key-tiled stage runs.
struct BackwardConfig {
  int64_t stages = 2;
  /// The fused stage's five GEMMs as warpgroup MMAs (wgmma.mma_async;
  /// sm_90a, the hopper-ws strategy): a warpgroup per 64 keys of the tile,
  /// blocks of 64 queries. Otherwise mma.sync, 16 tile rows per warp.
  bool wgmma = false;
  /// wgmma fused: one CTA barrier a block (after its dS^T stores; the loads
  /// of the block stages - 1 ahead follow it) rather than two (one more at
  /// its start, then those loads). dS^T is double-buffered: a warpgroup may
  /// store a block's while another's dQ MMAs of the previous block still
  /// read the other buffer. Needs 64-query blocks
  /// (selectWgmmaBackwardBarriers).
  bool singleBarrier = false;
};

/// Threads of the kernel of a backward stage: 16 tile rows per warp (128 for
/// delta and dq_convert).
int64_t getBackwardThreads(const BackwardStageTile &stage);

/// Bytes of dynamic shared memory the kernel of a backward stage needs.
int64_t getBackwardSharedMemoryBytes(const BackwardStageTile &stage,
                                     const BackwardKernelSpec &spec,
                                     const BackwardConfig &config);

/// Sets config.singleBarrier for the wgmma fused kernel of `stage`: one
/// barrier a block where blocks are 64 queries and the second dS^T buffer
/// fits in shared memory (H200, D = 128: 5-7 % faster than two). With
/// 128-query blocks (less work per byte loaded; D = 64 causal: 9 % slower)
/// or no room, two.
void selectWgmmaBackwardBarriers(const BackwardStageTile &stage,
                                 const BackwardKernelSpec &spec,
                                 BackwardConfig &config,
                                 const GPUTarget &target);

/// Checks that the configured strategy can build the kernel of `stage`
/// (element type, head dimension, tile shape, registers, shared memory;
/// with wgmma also the chip and the stage).
LogicalResult
verifyBackwardConfig(const BackwardStageTile &stage,
                     const BackwardKernelSpec &spec,
                     const BackwardConfig &config, const GPUTarget &target,
                     function_ref<InFlightDiagnostic()> emitError);

/// Builds the kernel of one backward stage at the end of `module` and names
/// it (getBackwardKernelName); `captures` are the tensors behind the spec's
/// capture arguments, in order. Fails with a diagnostic, building nothing,
/// when the stage's scores body cannot be evaluated on fragments.
FailureOr<gpu::GPUFuncOp> buildBackwardKernel(
    OpBuilder &builder, gpu::GPUModuleOp module, const BackwardStageTile &stage,
    const BackwardKernelSpec &spec, ArrayRef<Value> captures,
    const BackwardConfig &config, const GPUTarget &target, Location loc);

/// e.g. `fa_attention_backward_query_bf16_d128_bm32_bn64_s2`; the builder
/// appends the kernel's hash (appendKernelHash).
std::string getBackwardKernelName(const BackwardStageTile &stage,
                                  const BackwardKernelSpec &spec,
                                  const BackwardConfig &config);

/// Lowers the stages of one tiled fa.attention_backward to three kernels
/// and their launches, in that order, at the last stage: with dq=stage the
/// delta forall and the key_value and query foralls that read its result;
/// with dq=accumulate delta, the fused forall (its key tiles in parallel,
/// dQ added in f32 with atomics) and dq_convert.
/// Fails with a diagnostic when a stage is not the tiling's or cannot be
/// built.
LogicalResult lowerAttentionBackwardToGPU(RewriterBase &rewriter,
                                          scf::ForallOp delta,
                                          const FAToGPUOptions &options);

} // namespace mlir::fa

#endif // FA_CONVERSION_FATOGPU_FATOGPU_H
