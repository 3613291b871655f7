// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=64 block-n=32" --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=64 block-n=32" --fa-fuse-online-softmax --fa-lower-to-gpu --canonicalize --cse | FileCheck %s --check-prefix=HOST

// Host side: memrefs of the operands, one launch, the outputs as tensors.
// HOST-LABEL: func.func @causal_gqa_lse
// HOST-SAME:      %[[Q:[a-z0-9]+]]: tensor<2x8x?x128xbf16>
// HOST-DAG:     %[[QM:.*]] = bufferization.to_buffer %[[Q]] : tensor<2x8x?x128xbf16> to memref<2x8x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
// HOST-DAG:     %[[NQ:.*]] = tensor.dim %[[Q]], %c2
// HOST-DAG:     %[[TILES:.*]] = arith.ceildivui %[[NQ]], %c64
// HOST:         gpu.launch_func @{{[a-z0-9_]+}}::@{{[a-z0-9_]+}} blocks in (%[[TILES]], %c8, %c2) threads in (%c64, %c1, %c1) dynamic_shared_memory_size %c49152_i32 args(%[[QM]] : {{.*}}, %{{.*}} : {{.*}}, %{{.*}} : {{.*}}, %[[OM:.*]] : {{.*}}, %[[LM:.*]] : memref<2x8x?xf32, strided<[?, ?, 1], offset: ?>>)
// HOST-DAG:     bufferization.to_tensor %[[OM]] restrict writable
// HOST-DAG:     bufferization.to_tensor %[[LM]] restrict writable
// HOST-NOT:     scf.forall
// HOST:       gpu.module

// The kernel: cp.async ring, ldmatrix, mma.sync, shuffles, exp2, split loop.
// CHECK-LABEL: func.func @causal_gqa_lse
// CHECK:       gpu.module @fa_attention_bf16_d128_bm64_bn32_w2_s2_causal_br_qsmem_lse
// CHECK:         gpu.func @fa_attention_bf16_d128_bm64_bn32_w2_s2_causal_br_qsmem_lse
// CHECK-SAME:      kernel
// CHECK-SAME:      fa.launch = {block_m = 64 : i64, block_n = 32 : i64, causal = "bottom_right", chip = "sm_90a", dynamic_shared_memory = 49152 : i64
// CHECK-SAME:      known_block_size = array<i32: 64, 1, 1>
// Causal: the longest (last) query tiles are scheduled first.
// CHECK:           %[[BX:.*]] = gpu.block_id  x
// CHECK:           %[[GX:.*]] = gpu.grid_dim  x
// CHECK:           %[[LAST:.*]] = arith.subi %[[GX]], %c1
// CHECK:           arith.subi %[[LAST]], %[[BX]]
// CHECK:           gpu.dynamic_shared_memory
// CHECK:           nvgpu.device_async_copy {{.*}} {bypassL1}
// CHECK:           nvvm.cp.async.commit.group
// CHECK:           nvvm.cp.async.wait.group 1
// The unmasked blocks first, then the causal diagonal and the tail.
// At D = 128 with 32 rows per warp, S and O leave no room for Q: it is not
// loaded into registers before the loop but re-read from shared memory in
// every block, and every block re-reads %tid.x so that its per-thread
// addresses are recomputed in the loop, not hoisted.
// CHECK-NOT:       nvgpu.ldmatrix
// One barrier per block: wait for this block, sync, then refill the slot
// every warp has finished with.
// CHECK:           scf.for
// CHECK-NEXT:        llvm.inline_asm has_side_effects "mov.u32 $0, %tid.x;", "=r"
// CHECK:             nvvm.cp.async.wait.group 0
// CHECK-NEXT:        gpu.barrier
// CHECK:             nvgpu.device_async_copy
// CHECK:             nvvm.cp.async.commit.group
// CHECK-NOT:         gpu.barrier
// CHECK:             nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK:             nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK-NOT:         arith.cmpi sge, {{.*}} : i32
// CHECK:             gpu.shuffle  xor
// CHECK:             math.exp2 {{.*}} fastmath<afn> : f32
// CHECK:             math.fma
// CHECK:             nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK:           } {fa.kv_blocks = "unmasked"}
// The masked blocks: a per-row i32 limit on this thread's key columns
// (tail and causal bound), then one compare with a constant per score.
// CHECK:           scf.for
// CHECK:             arith.minsi
// CHECK:             arith.index_cast {{.*}} : index to i32
// CHECK:             arith.cmpi sge, {{.*}} : i32
// CHECK:             arith.select
// CHECK:           } {fa.kv_blocks = "masked"}
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

// Non-causal f16, dynamic everything: the masked loop only covers the tail.
// HOST-LABEL: func.func @dynamic_f16
// HOST:         gpu.launch_func @fa_attention_f16_d64_bm64_bn32_w2_s2::@fa_attention_f16_d64_bm64_bn32_w2_s2
// CHECK-LABEL: func.func @dynamic_f16
// CHECK:         gpu.launch_func @fa_attention_f16_d64_bm64_bn32_w2_s2::@fa_attention_f16_d64_bm64_bn32_w2_s2
// CHECK:       gpu.func @fa_attention_f16_d64_bm64_bn32_w2_s2(%{{.*}}: memref<?x?x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-NOT:       gpu.grid_dim
// Q is loaded into registers once, before the key loop, which keeps the
// kernel entry's thread index.
// CHECK:           nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK:           scf.for
// CHECK-NOT:       llvm.inline_asm
// CHECK:           nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK-NOT:       llvm.inline_asm
// CHECK:           } {fa.kv_blocks = "unmasked"}
// CHECK:             arith.cmpi sge
// CHECK-NOT:         arith.cmpi sgt
// CHECK:           } {fa.kv_blocks = "masked"}
func.func @dynamic_f16(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>,
                       %v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>)
    -> tensor<?x?x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>)
                    outs(%o : tensor<?x?x?x64xf16>) -> tensor<?x?x?x64xf16>
  return %0 : tensor<?x?x?x64xf16>
}

// -----

// A non-default scale is part of the kernel name (the f32 bits the kernel
// bakes in), so two attentions that differ only in scale never share a
// name; the default scale (1/sqrt(D)) adds nothing.
// CHECK-LABEL: func.func @scales
// CHECK:         gpu.launch_func @fa_attention_f16_d64_bm64_bn32_w2_s2_scale3f000000::@fa_attention_f16_d64_bm64_bn32_w2_s2_scale3f000000
// CHECK:         gpu.launch_func @fa_attention_f16_d64_bm64_bn32_w2_s2_scale3e800000::@fa_attention_f16_d64_bm64_bn32_w2_s2_scale3e800000
// CHECK:         gpu.launch_func @fa_attention_f16_d64_bm64_bn32_w2_s2::@fa_attention_f16_d64_bm64_bn32_w2_s2
func.func @scales(%q: tensor<1x1x?x64xf16>, %o: tensor<1x1x?x64xf16>) -> (tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>) {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>) outs(%o : tensor<1x1x?x64xf16>) scale = 0.5 -> tensor<1x1x?x64xf16>
  %1 = fa.attention ins(%q, %q, %q : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>) outs(%o : tensor<1x1x?x64xf16>) scale = 0.25 -> tensor<1x1x?x64xf16>
  %2 = fa.attention ins(%q, %q, %q : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>) outs(%o : tensor<1x1x?x64xf16>) scale = 0.125 -> tensor<1x1x?x64xf16>
  return %0, %1, %2 : tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>
}
