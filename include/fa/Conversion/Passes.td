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
    * on the host, `bufferization.to_buffer` of Q, K, V, O (and LSE), a
      `gpu.launch_func` with grid `(ceildiv(Nq, block_m), Hq, B)`, and
      `bufferization.to_tensor` of the outputs.

    The `mma-sync` strategy (sm_80 and newer) builds a FlashAttention-2
    kernel: `nvgpu.device_async_copy` (cp.async) K/V ring of `stages` slots
    in XOR-swizzled dynamic shared memory, `nvgpu.ldmatrix` (transposed for
    V), `nvgpu.mma.sync` m16n8k16 with f32 accumulators, P kept in
    registers (the A operand of P·V), Q too when it fits beside S and O
    (else re-read from shared memory in every block, which then also
    re-reads `%tid.x` through `llvm.inline_asm` so that LLVM recomputes its
    per-thread addresses in the loop instead of hoisting one register per
    address), row max/sum by two xor
    `gpu.shuffle`s, exp2 with scale·log2(e) folded into one FMA, the key
    loop split into unmasked blocks and the causal diagonal / ragged tail
    (`fa.kv_blocks = "unmasked" | "masked"`), zero-filled out-of-bounds
    rows, 64-bit (index) addressing, and dynamic B/H/N read from the memref
    arguments. Block sizes come from the tiling (`fa.attention_tile`); each
    warp owns 16 or 32 query rows.

    The kernel carries its launch configuration in the `fa.launch`
    attribute (block size, dynamic shared memory, tile config) for the
    metadata writer. Configurations the strategy cannot build (dtype, head
    dimension, tile sizes, register or shared-memory budget, chip) are
    rejected with a diagnostic.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90a\"",
           "target chip: sm_80, sm_86, sm_89, sm_90 or sm_90a">,
    Option<"strategy", "strategy", "std::string", /*default=*/"\"mma-sync\"",
           "kernel strategy: mma-sync (hopper-ws is reserved)">,
    Option<"warps", "warps", "int64_t", /*default=*/"0",
           "warps per block (0: 32 rows per warp when the score and "
           "output fragments fit in registers, else 16)">,
    Option<"stages", "stages", "int64_t", /*default=*/"2",
           "slots of the cp.async K/V ring in shared memory">
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
    other op to the upstream conversion. Run it before
    `convert-nvgpu-to-nvvm`.
  }];
  let dependentDialects = [
    "::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def FALowerMathToNVVM : Pass<"fa-lower-math-to-nvvm"> {
  let summary = "Lower the kernels' f32 math to NVVM intrinsics, not libdevice";
  let description = [{
    Upstream `convert-gpu-to-nvvm` lowers f32 `math.exp2`, `math.log`,
    `math.fma` and `arith.maxnumf` to libdevice calls, so a kernel's PTX has
    unresolved externs unless the CUDA toolkit's libdevice is linked, and
    `__nv_exp2f` keeps denormal results at the cost of extra instructions
    per call. This pass rewrites them first:

    * `math.exp2` with `afn` to `llvm.nvvm.ex2.approx.ftz.f32` (MUFU.EX2);
    * `math.log` with `afn` to `llvm.nvvm.lg2.approx.ftz.f` times ln 2;
    * `math.fma` to `llvm.intr.fma`, `arith.maxnumf` to `llvm.intr.maxnum`.

    `exp2`/`log` without the `afn` fast-math flag and non-f32 types are left
    to the upstream lowering. The attention kernels mark `afn` on the
    exponentials of the online softmax (arguments <= 0: results below
    2^-126 of the row maximum do not change the output) and on the log of
    the LSE. Run it before `convert-gpu-to-nvvm`.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // FA_CONVERSION_PASSES_TD
