// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=64 block-n=32" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=64 block-n=32" --fa-fuse-online-softmax --fa-lower-to-gpu --canonicalize --cse | FileCheck %s --check-prefix=HOST

// Host side: memrefs of the operands, one launch, the outputs as tensors.
// HOST-LABEL: func.func @causal_gqa_lse
// HOST-SAME:      %[[Q:[a-z0-9]+]]: tensor<2x8x?x128xbf16>
// HOST-DAG:     %[[QM:.*]] = bufferization.to_buffer %[[Q]] : tensor<2x8x?x128xbf16> to memref<2x8x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
// HOST-DAG:     %[[NQ:.*]] = tensor.dim %[[Q]], %c2
// HOST-DAG:     %[[TILES:.*]] = arith.ceildivui %[[NQ]], %c64
// HOST:         gpu.launch_func @[[K:fa_attention_bf16_d128_bm64_bn32_w2_s2_qsmem_lse_[0-9a-f]+]]::@[[K]] blocks in (%[[TILES]], %c8, %c2) threads in (%c64, %c1, %c1) dynamic_shared_memory_size %c49152_i32 args(%[[QM]] : {{.*}}, %{{.*}} : {{.*}}, %{{.*}} : {{.*}}, %[[OM:.*]] : {{.*}}, %[[LM:.*]] : memref<2x8x?xf32, strided<[?, ?, 1], offset: ?>>)
// HOST-DAG:     bufferization.to_tensor %[[OM]] restrict writable
// HOST-DAG:     bufferization.to_tensor %[[LM]] restrict writable
// HOST-NOT:     scf.forall
// HOST:       gpu.module @[[K]]

// The kernel: its name ends in a hash of its body, its launch attribute
// says how it is scheduled (what it computes is the body itself).
// CHECK-LABEL: func.func @causal_gqa_lse
// CHECK:       gpu.module @[[K:fa_attention_bf16_d128_bm64_bn32_w2_s2_qsmem_lse_[0-9a-f]+]]
// CHECK:         gpu.func @[[K]](
// CHECK-SAME:      kernel
// CHECK-SAME:      fa.launch = {block_m = 64 : i64, block_n = 32 : i64, chip = "sm_90a", dynamic_shared_memory = 49152 : i64, lse = true, stages = 2 : i64, strategy = "mma-sync", threads = 64 : i64, warps = 2 : i64}
// CHECK-SAME:      known_block_size = array<i32: 64, 1, 1>
// With a mask the longest (last) query tiles are scheduled first.
// CHECK:           %[[BX:.*]] = gpu.block_id  x
// CHECK:           %[[GX:.*]] = gpu.grid_dim  x
// CHECK:           %[[LAST:.*]] = arith.subi %[[GX]], %c1
// CHECK:           arith.subi %[[LAST]], %[[BX]]
// The K/V head is the tile's (h / (Hq / Hkv), cloned from the IR).
// CHECK:           arith.divui %{{.*}}block_id_y
// The tile's block ranges, from the causal mask in interval arithmetic:
// binary searches for the first and last visible block, a scan for the
// first fully visible one, a search for the end of that run.
// CHECK:           scf.while
// CHECK:           scf.while
// CHECK:           scf.while
// CHECK:           scf.while
// CHECK:           gpu.dynamic_shared_memory
// CHECK:           nvgpu.device_async_copy {{.*}} {bypassL1}
// CHECK:           nvvm.cp.async.commit.group
// CHECK:           nvvm.cp.async.wait.group 1
// At D = 128 with 32 rows per warp, S and O leave no room for Q: it is not
// loaded into registers before the loop but re-read from shared memory in
// every block, and every block re-reads %tid.x so that its per-thread
// addresses are recomputed in the loop, not hoisted.
// CHECK-NOT:       nvgpu.ldmatrix
// One loop over the tile's blocks; one barrier per block: wait for this
// block, sync, then refill the slot every warp has finished with (unless
// the block to load is invisible to the tile).
// CHECK:           scf.for
// CHECK-NEXT:        llvm.inline_asm has_side_effects "mov.u32 $0, %tid.x;", "=r"
// CHECK:             nvvm.cp.async.wait.group 0
// CHECK-NEXT:        gpu.barrier
// CHECK:             scf.if
// CHECK:               scf.if
// CHECK:                 nvgpu.device_async_copy
// CHECK:             nvvm.cp.async.commit.group
// CHECK-NOT:         gpu.barrier
// Fully visible blocks take the unmasked path: no compare per score.
// CHECK:             scf.if
// CHECK:               nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK:               nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK-NOT:           arith.cmpi {{.*}} : i32
// CHECK:               gpu.shuffle  xor
// CHECK:               math.exp2 {{.*}} fastmath<afn> : f32
// CHECK:               math.fma
// CHECK:               nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// The others: skipped when invisible, else masked. The causal mask,
// cloned from the scores body, is one i32 per row (the clamped difference
// of the affine row and key bases) compared with a constant per score, and
// the padding past the last key is one more.
// CHECK:             } else {
// CHECK:               scf.if
// CHECK:                 arith.maxsi
// CHECK:                 arith.minsi
// CHECK:                 arith.index_cast {{.*}} : index to i32
// CHECK:                 arith.cmpi sle, %c{{[0-9-]+}}_i32, %{{.*}} : i32
// CHECK:                 arith.select
// CHECK:                 arith.cmpi sge, %c{{[0-9]+}}_i32{{(_[0-9]+)?}}, %{{.*}} : i32
// CHECK:                 arith.select
// CHECK:           gpu.shuffle  xor
// CHECK:           arith.divf
// CHECK:           vector.store {{.*}} {alignment = 4 : i64}
// CHECK:           math.log
// CHECK:           memref.store
// CHECK:           gpu.return
func.func @causal_gqa_lse(%q: tensor<2x8x?x128xbf16>, %k: tensor<2x2x?x128xbf16>,
                          %v: tensor<2x2x?x128xbf16>, %o: tensor<2x8x?x128xbf16>,
                          %lse: tensor<2x8x?xf32>)
    -> (tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>) {
  %0, %1 = fa.attention ins(%q, %k, %v : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>, tensor<2x2x?x128xbf16>)
                        outs(%o, %lse : tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>)
                        causal = <bottom_right> -> tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>
  return %0, %1 : tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>
}

// -----

// Non-causal f16, dynamic everything: the masked path only covers the
// padding of the last block; no mask to search, no tile reordering.
// HOST-LABEL: func.func @dynamic_f16
// HOST:         gpu.launch_func @[[K:fa_attention_f16_d64_bm64_bn32_w2_s2_[0-9a-f]+]]::@[[K]]
// CHECK-LABEL: func.func @dynamic_f16
// CHECK:         gpu.launch_func @[[K:fa_attention_f16_d64_bm64_bn32_w2_s2_[0-9a-f]+]]::@[[K]]
// CHECK:       gpu.func @[[K]](%{{.*}}: memref<?x?x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-NOT:       gpu.grid_dim
// CHECK-NOT:       scf.while
// Q is loaded into registers once, before the key loop, which keeps the
// kernel entry's thread index.
// CHECK:           nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK:           scf.for
// CHECK-NOT:       llvm.inline_asm
// CHECK:           nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK-NOT:       llvm.inline_asm
// CHECK:           } else {
// CHECK:             arith.cmpi sge
// CHECK-NOT:         arith.cmpi sle
// CHECK:           gpu.return
func.func @dynamic_f16(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>,
                       %v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>)
    -> tensor<?x?x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>)
                    outs(%o : tensor<?x?x?x64xf16>) -> tensor<?x?x?x64xf16>
  return %0 : tensor<?x?x?x64xf16>
}

// -----

// The scale is part of the scores body (times log2(e), folded into one
// constant by fa-fuse-online-softmax), so each kernel computes its own, and
// the hash in the name tells them apart.
// CHECK-LABEL: func.func @scales
// CHECK:         gpu.launch_func @[[K0:fa_attention_f16_d64_bm64_bn32_w2_s2_[0-9a-f]+]]::
// CHECK:         gpu.launch_func @[[K1:fa_attention_f16_d64_bm64_bn32_w2_s2_[0-9a-f]+]]::
// CHECK:         gpu.launch_func @[[K2:fa_attention_f16_d64_bm64_bn32_w2_s2_[0-9a-f]+]]::
// CHECK:       gpu.module @[[K0]]
// CHECK:         arith.constant 0.72134751 : f32
// CHECK:       gpu.module @[[K1]]
// CHECK:         arith.constant 0.360673755 : f32
// CHECK:       gpu.module @[[K2]]
// CHECK:         arith.constant 0.180336878 : f32
func.func @scales(%q: tensor<1x1x?x64xf16>, %o: tensor<1x1x?x64xf16>) -> (tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>) {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>) outs(%o : tensor<1x1x?x64xf16>) scale = 0.5 -> tensor<1x1x?x64xf16>
  %1 = fa.attention ins(%q, %q, %q : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>) outs(%o : tensor<1x1x?x64xf16>) scale = 0.25 -> tensor<1x1x?x64xf16>
  %2 = fa.attention ins(%q, %q, %q : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>) outs(%o : tensor<1x1x?x64xf16>) scale = 0.125 -> tensor<1x1x?x64xf16>
  return %0, %1, %2 : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>
}
