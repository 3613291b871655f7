//===- Passes.td - fa-mlir conversion passes ---------------*- tablegen -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#ifndef FA_CONVERSION_PASSES_TD
#define FA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def FALowerToGPU : Pass<"fa-lower-to-gpu", "ModuleOp"> {
  let summary = "Map fused attention tiles onto tensor-core GPU kernels";
  let description = [{
    Replaces every fused attention tile (the `scf.forall` of
    `fa-tile-attention` after `fa-fuse-online-softmax`) by

    * a `gpu.module` holding one `gpu.func` kernel built from upstream
      `gpu`, `nvgpu`, `nvvm`, `vector` and `scf` ops, and
    * on the host, `bufferization.to_buffer` of Q, K, V, O (and LSE) and of
      the captures, a `gpu.launch_func` with grid `(ceildiv(Nq, block_m),
      Hq, B)` (a packed GQA tile, `pack_gqa = G`: `(ceildiv(Nq, block_m /
      G), Hkv, B)`), and `bufferization.to_tensor` of the outputs.

    The kernel is a function of the IR it is given. The tile is read and
    checked op by op (`matchFusedAttentionTile`): the slices, the two
    contractions, the online softmax and the epilogue must be what the tile
    passes build (an edited softmax body is refused, naming it); the
    element-wise `scores` body (scale, `score_mod`, causal mask,
    `mask_mod`), the key/value head the slices read and the key loop's
    upper bound are cloned into the kernel. The scores body is cloned per
    MMA accumulator element, each value at the level it varies at: once per
    block of threads (a per-head ALiBi slope), per fragment row (a query's
    document id), per key block or column, or per element; index
    expressions stay affine in the fragment offsets, so a comparison of
    positions (causal, windows) is one clamped i32 per row and block and
    one compare with an immediate per score. Tensors the body reads become
    kernel arguments (`tensor.extract` becomes a load, its indices clamped
    into the capture since the kernel also evaluates padding positions).
    A body op or value a kernel cannot evaluate is refused with a
    diagnostic that names it, before any kernel IR is built.

    The key blocks a tile visits come from its mask: the visibility
    predicate of the scores body is evaluated in interval arithmetic over
    (the tile's rows) x (a range of key blocks), in the kernel, so the tile
    runs blocks [lo, hi) that may be visible (binary searches), takes the
    unmasked path for the fully visible run [fullLo, fullHi) and the masked
    path for the others, and neither loads nor computes a block invisible
    to all its rows. Causal, sliding-window, chunked, prefix-LM and sink
    masks get their ideal block counts; a mask that reads data (document
    ids) is "maybe" everywhere: every block it does not rule out by index
    runs masked.

    The `mma-sync` strategy (sm_80 and newer) builds a FlashAttention-2
    kernel: `nvgpu.device_async_copy` (cp.async) K/V ring of `stages` slots
    in XOR-swizzled dynamic shared memory, `nvgpu.ldmatrix` (transposed for
    V), `nvgpu.mma.sync` m16n8k16 with f32 accumulators, P kept in
    registers (the A operand of P·V), Q too when it fits beside S and O
    (else re-read from shared memory in every block, which then also
    re-reads `%tid.x` through `llvm.inline_asm` so that LLVM recomputes its
    per-thread addresses in the loop instead of hoisting one register per
    address), row max/sum by two xor `gpu.shuffle`s, exp2 with the kept
    score's constant factor (scale·log2(e)) folded into one FMA, masked
    query tiles scheduled longest first, zero-filled out-of-bounds rows,
    64-bit (index) addressing, and dynamic B/H/N read from the memref
    arguments. Block sizes come from the tiling (`fa.attention_tile`); each
    warp owns 16 or 32 query rows. The pieces a second strategy reuses
    (the cloner, the block classifier, the register-level softmax, the
    kernel ABI and launch metadata) live beside it. A variable-length tile
    views its sequence's rows as a fixed-length attention; a paged tile
    copies each K/V block through its block table (`fa.paged_rows`): one
    table lookup per block when a page holds whole blocks, else per group
    of rows a page holds, else per row (docs/PagedKV.md). hopper-ws
    builds variable-length tiles too (TMA at the sequence's rows of the
    packed tensors). Paged tiles: both strategies; hopper-ws reads the
    pages with TMA, in pieces of gcd(page size, block-n) rows, so it
    takes pages of a multiple of 8 rows and queries of fixed length
    (auto picks mma-sync for the others).

    The `hopper-ws` strategy (sm_90a; first increment, see
    docs/HopperStrategy.md) reuses those pieces with a warpgroup schedule:
    one consumer warpgroup per 64 query rows, the Q tile and the K/V ring
    in 128-byte-swizzled slabs (cp.async, then `nvvm.fence.proxy` for the
    async proxy), S = Q K^T as `wgmma.mma_async` from shared-memory
    descriptors and O += P V with P from registers and V N-major (both
    `llvm.inline_asm`: upstream has no register-A form), with
    `nvvm.wgmma.fence/commit.group/wait.group` around them. Its default
    tiles come from `fa-tile-attention defaults-for=hopper-ws`.

    The kernel carries its launch configuration in the `fa.launch`
    attribute (block size, dynamic shared memory, tile config, LSE) for the
    metadata writer; its name ends in a hash of its body. Configurations
    the strategy cannot build (dtype, head dimension, tile sizes, register
    or shared-memory budget, chip) are rejected with a diagnostic.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90a\"",
           "target chip: sm_80, sm_86, sm_87, sm_89, sm_90 or sm_90a">,
    Option<"strategy", "strategy", "std::string", /*default=*/"\"mma-sync\"",
           "kernel strategy: auto (hopper-ws on sm_90a for f16/bf16 with "
           "D == Dv in {64, 128, 192, 256} unless warps, a block-m not a "
           "multiple of 64 or stages other than 2 are given, else "
           "mma-sync), mma-sync "
           "(sm_80+) or hopper-ws (wgmma, "
           "sm_90a)">,
    Option<"warps", "warps", "int64_t", /*default=*/"0",
           "warps per block of the forward kernels (0: mma-sync: 32 rows "
           "per warp when the score and output fragments fit in "
           "registers, else 16; hopper-ws: 4 per 64 rows, the only "
           "choice; fa.attention_backward's kernels take theirs from "
           "their tiles)">,
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "slots of the K/V ring in shared memory, 2 to 4 (0: the "
           "strategy's choice: mma-sync 3 for key-split tiles where they "
           "fit, else 2; hopper-ws and the backward 2)">,
    Option<"keyWarps", "key-warps", "int64_t", /*default=*/"0",
           "mma-sync: groups of warps that split each key block and merge "
           "their softmax states at the end (0: the strategy's choice, 4 "
           "warps in all for tiles of fewer than 64 rows; 1: none)">,
    Option<"exp2Emulation", "exp2-emulation", "int64_t", /*default=*/"0",
           "of every 8 exponentials of a forward kernel's softmax, how many "
           "are computed by a polynomial on the FMA pipe instead of the "
           "MUFU unit, 0 (the default) to 8; both strategies">,
    Option<"columnIntervals", "column-intervals", "bool", /*default=*/"false",
           "forward kernels: a masked block decides each score "
           "against one interval of visible keys per row (causal, windows "
           "and the padding folded together) instead of the mask cloned "
           "per score; off by default (slower on an H100 at N = 8192)">,
    Option<"persistent", "persistent", "std::string", /*default=*/"\"auto\"",
           "hopper-ws forward kernels: whether a block loops over tiles "
           "on a grid of one block per multiprocessor: auto (the default, "
           "the strategy's choice), on (wherever the loop is possible and "
           "fits the registers, else an error) or off (one tile per "
           "block)">,
    Option<"epilogue", "epilogue", "std::string", /*default=*/"\"auto\"",
           "hopper-ws forward kernels: how the consumers store O: auto "
           "(the default: tma; staged for variable-length batches; "
           "registers for three consumer warpgroups and for mma-sync "
           "kernels), registers (pairs of columns from the accumulators), "
           "staged (through shared memory, 16-byte pieces of whole rows; "
           "O's base and strides 16-byte multiples) or tma (staged, then "
           "stored by TMA through a tensor map of O; not for "
           "variable-length batches)">,
    Option<"pagedLoads", "paged-loads", "std::string", /*default=*/"\"auto\"",
           "hopper-ws kernels against a paged KV cache: how the producer "
           "loads K and V: auto (the default: cp-async for pieces of fewer "
           "than 32 rows whose scores body loads no captures, else tma), "
           "tma (one TMA load per 64-column slab of each piece of a key "
           "block that lies in one page) or cp-async (the producer "
           "warpgroup gathers the block's rows with cp.async, 16 bytes a "
           "thread, zero-filling those past the keys)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect", "::mlir::math::MathDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect", "::mlir::scf::SCFDialect",
    "::mlir::ub::UBDialect", "::mlir::vector::VectorDialect"
  ];
}

def FALowerBF16MmaSync : Pass<"fa-lower-bf16-mma-sync"> {
  let summary = "Lower bf16 nvgpu.mma.sync to nvvm.mma.sync";
  let description = [{
    Upstream `convert-nvgpu-to-nvvm` (MLIR 22) cannot deduce PTX types for
    `nvgpu.mma.sync` on bf16 operands. This pass rewrites each bf16
    m16n8k16 `nvgpu.mma.sync` with f32 accumulators into `nvvm.mma.sync`
    (`multiplicandAPtxType = bf16`) on packed i32 registers, leaving every
    other op to the upstream conversion. Each A/B fragment is unpacked into
    registers once, right after its definition, and shared by every
    mma.sync that reads it. Run it before `convert-nvgpu-to-nvvm`.
  }];
  let dependentDialects = [
    "::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def FALowerTensorMapArguments : Pass<"fa-lower-tensor-map-arguments"> {
  let summary = "Pass a kernel's TMA tensor maps by value, as grid constants";
  let description = [{
    A kernel that loads with TMA (`cp.async.bulk.tensor`) takes one
    128-byte `CUtensorMap` per operand it loads. The kernel builder gives
    them as trailing `!llvm.ptr` arguments and says how many in the
    kernel's `fa.tensor_maps` attribute (an integer), because `gpu.func`
    has no by-value aggregate argument and its lowering drops argument
    attributes. After `convert-gpu-to-nvvm`, this pass marks those
    arguments of each `llvm.func` kernel `llvm.byval = !llvm.array<128 x
    i8>`, `llvm.align = 64` and `nvvm.grid_constant`: the PTX parameter is
    `.param .align 64 .b8 [128]` and the kernel reads the map where the
    launch put it (`cvta.param`), as CUDA's `__grid_constant__ const
    CUtensorMap` does. No copy to global memory, no fence.

    The runtimes pass the maps after the expanded memref descriptors, as the
    launch JSON's `tensor_maps` says. A count larger than the arguments, or
    a marked argument that is not `!llvm.ptr`, is an error.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect"];
}

def FALowerMathToNVVM : Pass<"fa-lower-math-to-nvvm"> {
  let summary = "Lower the kernels' math to NVVM/LLVM intrinsics and "
                "polynomials, never libdevice";
  let description = [{
    Upstream `convert-gpu-to-nvvm` lowers most math ops to libdevice calls,
    so a kernel's PTX has unresolved externs unless the CUDA toolkit's
    libdevice is linked. The kernels and the score_mod regions cloned into
    them may use any math op of the regions' allow-list; this pass lowers
    them all first:

    * with `afn`, f32: `exp2`, `exp`, `log`, `log2`, `tanh`, `sin`, `cos`
      to the MUFU approximations (`llvm.nvvm.ex2.approx.ftz.f32`,
      `lg2.approx.ftz`, `tanh.approx.f32`, `sin/cos.approx.ftz`);
    * otherwise `tanh`, `exp`, `log`, `log2`, `log1p`, `expm1`, `erf`,
      `atan`, `atan2`, `sin`, `cos` to upstream's polynomial approximations
      (f16/bf16 computed in f32; tanh's one division, by a denominator in
      [4.9e-3, 0.95], as `rcp.approx` and a Newton step, without
      `div.rn`'s range check and slow path), `sinh`, `cosh`, `tan`, `powf` to their
      expansions, and `exp2`, `sqrt`, `rsqrt`, `absf`, `absi`, `floor`,
      `ceil`, `trunc`, `round`, `roundeven`, `copysign`, `fma` and
      `arith.maxnumf` to LLVM intrinsics that NVPTX implements.

    A math op left after that (e.g. an f64 transcendental) is an error that
    names it. The attention kernels mark `afn` on the exponentials of the
    online softmax (arguments <= 0: results below 2^-126 of the row maximum
    do not change the output) and on the log of the LSE. Run it before
    `convert-gpu-to-nvvm`.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def FAConvertGPUToNVVM : Pass<"fa-convert-gpu-to-nvvm",
                               "::mlir::gpu::GPUModuleOp"> {
  let summary = "convert-gpu-to-nvvm whose pre-pass does not simplify the "
                "kernel's regions";
  let description = [{
    Upstream's `convert-gpu-to-nvvm` (index bitwidth 64, no rollback) with
    one difference: the greedy pre-pass that applies its in-dialect
    rewrites (`gpu.all_reduce`, `gpu.global_id`, 64-bit `gpu.shuffle`, n-D
    `vector.from_elements`) and folds the kernel does not simplify regions
    (erase unreachable blocks, merge identical ones, drop unused block
    arguments). On a kernel's unrolled CFG that took about 2 ms of a 90 ms
    compile; LLVM's simplifycfg does it again, and the PTX of the 114
    kernels of `benchmarks/kernel_family.sh` is the same either way. The
    folding and constant CSE stay: without the folding 1 of those kernels,
    without the whole pre-pass 5, get other machine code. The conversion
    is upstream's: its GPU to NVVM patterns, every loaded dialect's
    ConvertToLLVM patterns but math's (`fa-lower-math-to-nvvm` runs
    before), its WMMA patterns and its legality.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

def FACheckLoweredToLLVM : Pass<"fa-check-lowered-to-llvm", "ModuleOp"> {
  let summary = "Fail, naming it, on the first op left outside the LLVM "
                "dialect";
  let description = [{
    The last step of `fa-lower-to-cpu`. Upstream's `convert-*-to-llvm`
    passes are partial conversions: an op they have no pattern for (a
    `gpu.launch_func`, an `fa.tensor_map`, a math function without an LLVM
    intrinsic) stays, with `builtin.unrealized_conversion_cast`s around it,
    and the pipeline would succeed with IR that `mlir-runner` rejects far
    from the cause. This pass makes that an error at the op's location:
    anything but `builtin.module` and LLVM-dialect ops fails it. It changes
    nothing.

    With `kernels-only` it runs first instead, and fails only on what no
    step of the CPU lowering handles (GPU-dialect ops, such as the
    `gpu.module` and `gpu.launch_func` of `fa-lower-to-gpu`'s output, and
    `fa.tensor_map`): bufferizing such IR first would end in a verifier
    error far from the cause.

    With `gpu-modules` it checks the kernels instead, as the last step of
    the GPU lowering (`fa-gpu-to-nvvm-pipeline`, fa-compile and the C API,
    before the serialization): inside
    each `gpu.module`, anything but LLVM- and NVVM-dialect ops fails it. An
    op in a hand-edited kernel that no conversion handles is then reported
    by name at its location, rather than as an
    `unrealized_conversion_cast` that the translation to LLVM IR cannot
    take.
  }];
  let options = [
    Option<"kernelsOnly", "kernels-only", "bool", /*default=*/"false",
           "fail only on GPU-dialect ops and fa.tensor_map (the check "
           "before the CPU lowering)">,
    Option<"gpuModules", "gpu-modules", "bool", /*default=*/"false",
           "check the contents of gpu.module ops, where NVVM ops are allowed "
           "too (the check after the GPU lowering)">
  ];
}

#endif // FA_CONVERSION_PASSES_TD
