//===- Launch.h - Loading, launching and timing one forward kernel --------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// What the runs of a batch of sequences share (Varlen.h: packed sequences;
// Paged.h: a paged KV cache; VarlenPaged.h: packed queries against a paged
// cache): the checks of their flags and sizes, the problem every sequence
// shares, the kernel's arguments as expanded memref descriptors, the grid
// read from the metadata, the driver and the module, the parameters of a
// launch (descriptors, then the tensor maps), --bench timing, the
// read-only checks of the inputs and the captures, the verdict, and the
// run itself from the driver to the output line (runSequences).
//
//===----------------------------------------------------------------------===//

#ifndef FA_RUNNER_LAUNCH_H
#define FA_RUNNER_LAUNCH_H

#include "Captures.h"
#include "Driver.h"
#include "GpuReference.h"
#include "Metadata.h"
#include "Options.h"
#include "Reference.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fa_runner {

class SplitKVPair;

/// A kernel argument as the launch passes it (an expanded memref
/// descriptor: the pointer twice, offset 0, sizes, element strides).
struct LaunchArg {
  CUdeviceptr ptr = 0;
  std::vector<int64_t> sizes, strides;
};

/// A size from the metadata (static) or the flag (dynamic): dies when they
/// differ, or when both are unknown and the size is `required`; else -1
/// when unknown.
int64_t resolveSize(int64_t flag, int64_t fromMetadata, const char *name,
                    const char *option, bool required);

/// Dimension `dim` of argument `argument` of the kernel of `meta` (-1:
/// dynamic).
int64_t argumentSize(const KernelMetadata &meta, int64_t argument, size_t dim);

/// What checkSequenceFlags says of a kernel of a batch of sequences.
struct SequenceFlags {
  const char *kernel;    // "a paged kernel"
  bool fixedGiven;       // whether fixed-length flags it refuses were given
  const char *fixed;     // those flags, "--batch and --nk"
  const char *sequences; // what gives its sequences instead
  const char *operands;  // its operands' layout (no --layout applies)
  bool sized;            // whether the flags give the sequences
  const char *pass;      // what to pass when they do not
};

/// Dies (exit 2) on the fixed-length flags and --layout, on missing sizes
/// where a launch or --reference-only needs them, and on a kernel that
/// cannot be checked where it would be; returns whether sizes are needed.
bool checkSequenceFlags(const Options &opt, const KernelMetadata &meta,
                        const SequenceFlags &flags);

/// The heads of `base` from --hq and --hkv or the metadata (K's at
/// dimension `kvHeadsDim`); dies when `required` and one is unknown.
void resolveHeads(Problem &base, const Options &opt, const KernelMetadata &meta,
                  size_t kvHeadsDim, bool required);

/// Dies (exit 2) unless each (argument, dimension) of `headDims` is `D` or
/// dynamic.
void checkHeadDims(const KernelMetadata &meta, int64_t D,
                   const std::vector<std::array<int64_t, 2>> &headDims);

/// --eval: evaluates each REGION:ARGS; whether the run ends there (without
/// --reference-only).
bool evaluateOnly(const Options &opt, HostCaptures &host);

/// What the sequences of a batch share (dtype, head dim, scale, causal
/// alignment, LSE): a problem of one sequence (B = 1) in the `bshd` or bhsd
/// layout, its heads and lengths still 0.
Problem sequenceBase(const KernelMetadata &meta, bool bshd);

/// Dies (exit 2) unless Hq is in [1, 65535] and a multiple of Hkv.
void checkHeads(const Problem &base);

/// Whether the GPU reference, which runs one sequence at a time as a batch
/// of one, can check the kernel of `meta`: "" or why not (the regions do
/// not fit it, or they read the sequence index). Dies (exit 2) when
/// --reference gpu insists and it cannot.
std::string sequenceGpuReferenceWhyNot(const KernelMetadata &meta,
                                       const Options &opt);

/// --perturb: adds 0.25 to the element of O at `at` (a control: the check
/// must fail).
void perturbElement(const Problem &p, CUdeviceptr at);

/// The elements of `host` that `device` no longer holds (compared bit for
/// bit, a chunk at a time: the pools may be large).
template <typename T>
int64_t countChanged(const std::vector<T> &host, const DeviceBuffer &device) {
  constexpr size_t kChunk = (64 << 20) / sizeof(T);
  std::vector<T> now(std::min(host.size(), kChunk));
  int64_t changed = 0;
  for (size_t first = 0; first < host.size(); first += kChunk) {
    size_t count = std::min(kChunk, host.size() - first);
    check(cuda.cuMemcpyDtoH_v2(now.data(), device.ptr + first * sizeof(T),
                               count * sizeof(T)),
          "cuMemcpyDtoH");
    for (size_t i = 0; i < count; ++i)
      changed += now[i] != host[first + i];
  }
  return changed;
}

/// The verdict of a batch of sequences: no NaN, no nonzero row that sees
/// no key, the rule on O, the LSE within its tolerance, nothing outside
/// the outputs changed and no capture written.
bool sequencesPass(const CheckStats &stats, int64_t outsideErrors,
                   int64_t capturesWritten);

/// Whether a region reads its batch index (the GPU reference, which runs
/// one sequence as a batch of one, would pass 0).
bool readsBatch(const ModRegion *region);

/// The grid from the metadata: an argument's size or the launch scalar
/// "max_seqlen_q" (`maxSeqlenQ`; -1 where the kernel has none), less
/// "minus", divided by "ceildiv" rounding up. Dies (exit 2) on an entry
/// that names what the kernel does not have or a size beyond the grid's
/// limits.
void gridOf(const Json &grid, const std::vector<LaunchArg> &args,
            int64_t maxSeqlenQ, unsigned dims[3]);

/// Checks the tensor maps of `meta` against `args` before any GPU work
/// (the buffers, 256-byte aligned by cuMemAlloc, come later).
void checkTensorMaps(const KernelMetadata &meta,
                     const std::vector<LaunchArg> &args);

/// The kernel of `meta` loaded from `image` on device 0.
struct LoadedKernel {
  CUdevice device = 0;
  std::string deviceName, name;
  CUfunction function = nullptr;
  int64_t smem = 0;
  unsigned threads = 0;
};

/// Initializes the driver and makes device 0's primary context current
/// (a kernel-less LoadedKernel: its device and name); `smemOptin` is the
/// device's opt-in shared memory per block. Dies (exit 3) without a GPU.
LoadedKernel openDevice(int &smemOptin);

/// Loads the driver (exit 3 without one, or without a device), the module
/// and the kernel, and sets its dynamic shared memory (exit 2 when the GPU
/// has less than it needs).
LoadedKernel loadKernel(const KernelMetadata &meta, const std::string &image);

/// A persistent kernel ("persistent" in the metadata): as many blocks as
/// stay resident, at most one per tile, in grid[0].
void persistentGrid(const LoadedKernel &kernel, const KernelMetadata &meta,
                    unsigned grid[3]);

/// The parameters of one launch: a descriptor per argument (pointers set),
/// then one CUtensorMap per "tensor_maps" entry, encoded once.
class Launch {
public:
  Launch(const LoadedKernel &kernel, const KernelMetadata &meta,
         const std::vector<LaunchArg> &args, const unsigned grid[3]);
  Launch(const Launch &) = delete;
  Launch &operator=(const Launch &) = delete;

  /// Launches on the default stream (nothing for an empty grid).
  void operator()();

private:
  const LoadedKernel &kernel;
  unsigned grid[3];
  std::vector<int64_t> storage;
  std::vector<CUtensorMap> maps;
  std::vector<void *> params;
};

/// The captures on the device: one buffer each, and the views the GPU
/// reference reads them through.
struct DeviceCaptures {
  std::vector<std::unique_ptr<DeviceBuffer>> buffers;
  std::vector<ModCapture> views;

  explicit DeviceCaptures(const std::vector<HostCapture> &captures);
};

/// Points `args` at the buffers in the kernel's argument order: `operands`
/// (q, k, v, o, then the LSE, the offsets or table; null entries skipped),
/// then the captures.
void bindArguments(std::vector<LaunchArg> &args,
                   const std::vector<const DeviceBuffer *> &operands,
                   const DeviceCaptures &captures);

/// How many captures the kernel changed (each named on stderr): they are
/// read-only arguments.
int64_t countWrittenCaptures(const std::vector<HostCapture> &captures,
                             const DeviceCaptures &device);

/// --bench: opt.warmup launches, then the median of opt.iterations, each
/// timed with CUDA events (milliseconds).
double medianLaunchMs(const Options &opt, const std::function<void()> &launch);

/// --bench's work of `sequences` (each with its problem `p`): 4 Hq D flops
/// per (query, key) pair the causal mask keeps (a mask_mod's skipped pairs
/// are counted).
template <typename Sequences>
double keptPairFlops(const Sequences &sequences, int64_t Hq, int64_t D) {
  double pairs = 0;
  for (const auto &s : sequences)
    for (int64_t i = 0; i < s.p.Nq; ++i)
      pairs += double(s.p.visibleEnd(i));
  return 4.0 * Hq * pairs * D;
}

/// The host side of a batch of sequences' operands, in the kernel's order.
struct SequenceInputs {
  SequenceInputs(const std::vector<uint16_t> &q, const std::vector<uint16_t> &k,
                 const std::vector<uint16_t> &v)
      : q(&q), k(&k), v(&v) {}
  const std::vector<uint16_t> *q, *k, *v; // contiguous
  std::vector<uint16_t> o;                // O before the launch
  std::vector<uint32_t> lse; // the LSE before it (empty without one)
  /// The i32 operands after the LSE: offsets, the table, the lengths.
  std::vector<const std::vector<int32_t> *> indices;
  int64_t perturbAt = -1; // the element of O --perturb changes (-1: none)
};

/// The operands of a batch of sequences on the device: q, k, v, o, the LSE,
/// then the i32 ones.
using DeviceOperands = std::vector<CUdeviceptr>;

/// What runSequences takes from a kind of batch of sequences.
struct SequenceRun {
  /// The kernel's arguments (runSequences sets the pointers) and grid.
  std::vector<LaunchArg> args;
  unsigned grid[3] = {0, 0, 0};
  /// A split-KV pair to launch instead of the kernel of the metadata.
  SplitKVPair *split = nullptr;
  /// Why the GPU reference cannot check the kernel ("": it can).
  std::string gpuReferenceWhyNot;
  /// The inputs the kernel must leave as they were: none, K, V and the i32
  /// operands, or Q too.
  enum { kNone, kKeysAndIndices, kAll } unchanged = kNone;
  /// Makes the inputs (the driver loaded).
  std::function<SequenceInputs()> inputs;
  /// The elements of O and the LSE (on the host) outside every sequence
  /// that changed; null when there are none (O and the LSE then come back
  /// to the host for the CPU reference only).
  std::function<int64_t(const std::vector<uint16_t> &,
                        const std::vector<float> &)>
      outside;
  /// Whether the CPU reference affords every row.
  std::function<bool()> small;
  /// The GPU reference and the CPU one (every row when `small`).
  std::function<void(const DeviceOperands &, const std::vector<ModCapture> &,
                     CheckStats &)>
      gpuCheck;
  std::function<void(bool small, const std::vector<uint16_t> &,
                     const std::vector<float> &, CheckStats &)>
      cpuCheck;
  /// --bench's work, in flops.
  std::function<double()> flops;
  /// The sizes in the output line, as JSON members and as text, and the
  /// bytes the line may take (with its NUL).
  std::string sizesJson, sizesText;
  size_t lineBytes = 2048;
};

/// Appends the captures' arguments to `run.args`, reads the grid (with the
/// launch scalar `maxSeqlenQ`; -1: none) and checks the tensor maps (a
/// split pair sizes its own grids and takes none), then finds whether the
/// GPU reference can check the kernel (--reference gpu insists before any
/// GPU work).
void prepareLaunch(SequenceRun &run, const Options &opt,
                   const KernelMetadata &meta, const HostCaptures &host,
                   int64_t maxSeqlenQ);

/// Loads the kernel (or `run.split`), makes the inputs, launches, checks
/// (with --bench times) and prints the output line; returns the exit code.
int runSequences(const Options &opt, const KernelMetadata &meta,
                 const std::string &image, const Problem &base,
                 const HostCaptures &host, SequenceRun &run);

} // namespace fa_runner

#endif // FA_RUNNER_LAUNCH_H
