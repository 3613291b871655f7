// The hopper-ws backward (WgmmaBackwardBlock.cpp): the fused stage of a
// dq=accumulate backward tiled with hopper-ws's defaults and 64-query
// blocks (by 128 keys) becomes one kernel of two warpgroups whose five
// GEMMs per query block are warpgroup MMAs; delta and dq_convert stay the
// row-wise kernels.
// TMA loads the K and V tile and each block's Q and dO (thread 0 issues
// them through the tensor maps of arguments 0, 1, 2 and 4, completing on
// an mbarrier: the tile's, then one per ring slot); the LSE and delta of
// each block come through the ring by 4-byte cp.async. Nothing the
// threads copy is read by wgmma, so no proxy fence waits for the loads.
// Per block: the wait for this block's slot (phase it / stages mod 2; the
// LSE and delta copies arrive on the same barrier), S^T and dP^T (SS,
// K-major, 64 x 64 per warpgroup), then dV (RS: P^T from registers, dO
// N-major), dS^T to shared memory (double-buffered), fenced for the async
// proxy, the block's one barrier, the loads of the block stages - 1 ahead
// into the slot it freed, dQ (SS with dS M-major and K N-major), dK behind
// it (RS, Q N-major); once dQ is complete each warp stages its 16 rows of
// dQ in shared memory as 128-byte swizzled boxes of 32 columns, one TMA
// tensor reduction (through the dQ accumulator's tensor map, the kernel's
// last argument) per box, while dK runs.
// (At D = 64 the default is 128-query blocks,
// fa-lower-to-gpu-backward-wgmma-block-m128.mlir; this file asks for 64.)
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=auto defaults-for=hopper-ws block-m=64" "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s
// auto builds the same kernels on sm_90a.
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=auto defaults-for=auto block-m=64" "--fa-lower-to-gpu=strategy=auto" | FileCheck %s
// Three stages: at D = 64 the second dS^T buffer still fits (one barrier
// a block); at D = 128 it would need 232448 bytes, more than the 232432 of
// dynamic shared memory a block may have (the lowering's one-byte static
// symbol counts against the 232448), so each block keeps its start barrier
// and one dS^T buffer.
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=auto defaults-for=hopper-ws block-m=64" "--fa-lower-to-gpu=strategy=hopper-ws stages=3" | FileCheck %s --check-prefix=S3
// Every chain takes its moved descriptors as operands computed before the
// statement (DescriptorMoves::Operands): an add inside the statement is
// allocated beside all the accumulators (the D = 64 kernels spilled).
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=auto defaults-for=hopper-ws block-m=64" "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s --check-prefix=MOVES
// MOVES: gpu.module @fa_attention_backward
// MOVES-NOT: add.s64 {{a|b}}, $

// D = 64: each warpgroup takes 32 of dQ's columns over all 128 keys (8
// k-steps, N 32, the second from inside a swizzle atom).
// CHECK-LABEL: func.func @backward_d64
// CHECK: gpu.launch_func @fa_attention_backward_delta_bf16_d64_bm64_bn128_{{[0-9a-f]+}}::{{.*}} threads in (%c128
// CHECK-SAME: args(%[[Q:[0-9]+]] : memref<?x?x?x64xbf16, {{.*}}>, %[[K:[0-9]+]] : memref<?x?x?x64xbf16, {{.*}}>, %[[V:[0-9]+]] : memref<?x?x?x64xbf16, {{.*}}>, %{{[0-9]+}} : memref<?x?x?x64xbf16, {{.*}}>, %[[DO:[0-9]+]] : memref<?x?x?x64xbf16, {{.*}}>, %{{[0-9]+}} : memref<?x?x?xf32, {{.*}}>, %{{[0-9]+}} : memref<?x?x?xf32, {{.*}}>, %[[ACC:[0-9]+]] : memref<?x?x?x64xf32
// CHECK: %[[QMAP:.*]] = fa.tensor_map %[[Q]] box [64, 64, 1, 1] : memref<?x?x?x64xbf16, strided<[?, ?, ?, 1], offset: ?>> -> !llvm.ptr
// CHECK-NEXT: %[[KMAP:.*]] = fa.tensor_map %[[K]] box [64, 128, 1, 1]
// CHECK-NEXT: %[[VMAP:.*]] = fa.tensor_map %[[V]] box [64, 128, 1, 1]
// CHECK-NEXT: %[[DOMAP:.*]] = fa.tensor_map %[[DO]] box [64, 64, 1, 1]
// CHECK-NEXT: %[[MAP:.*]] = fa.tensor_map %[[ACC]] box [32, 16, 1, 1] : memref<?x?x?x64xf32, strided<[?, ?, ?, 1], offset: ?>> -> !llvm.ptr
// CHECK: gpu.launch_func @fa_attention_backward_fused_bf16_d64_bm64_bn128_s2_wgmma_{{[0-9a-f]+}}::{{.*}} threads in (%c256
// CHECK-SAME: %[[QMAP]] : !llvm.ptr, %[[KMAP]] : !llvm.ptr, %[[VMAP]] : !llvm.ptr, %[[DOMAP]] : !llvm.ptr, %[[MAP]] : !llvm.ptr)
// CHECK: gpu.launch_func @fa_attention_backward_dq_convert_bf16_d64_bm64_bn128_{{[0-9a-f]+}}
// CHECK: gpu.func @fa_attention_backward_fused_bf16_d64_bm64_bn128_s2_wgmma_
// CHECK-SAME: %arg11: !llvm.ptr, %arg12: !llvm.ptr, %arg13: !llvm.ptr, %arg14: !llvm.ptr, %arg15: !llvm.ptr)
// CHECK-SAME: strategy = "hopper-ws"
// CHECK-SAME: tensor_maps = [{argument = 0 : i64, box = [64, 64, 1, 1]}, {argument = 1 : i64, box = [64, 128, 1, 1]}, {argument = 2 : i64, box = [64, 128, 1, 1]}, {argument = 4 : i64, box = [64, 64, 1, 1]}, {argument = 7 : i64, box = [32, 16, 1, 1]}]
// CHECK-SAME: fa.tensor_maps = 5
// The load barriers, visible to the async proxy: the tile's (one arrival,
// with the bytes) and each ring slot's (also one per thread copying the
// LSE or delta: 1 + 2 x 64).
// CHECK: nvvm.mbarrier.init %{{.*}}, %c1_i32 : !llvm.ptr<3>, i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c129_i32{{.*}} : !llvm.ptr<3>, i32
// CHECK-NEXT: nvvm.fence.mbarrier.init
// CHECK: gpu.barrier
// The K and V tile (2 x 128 rows x 128 bytes), one slab each.
// CHECK: nvvm.mbarrier.arrive.expect_tx %[[TILE:[0-9]+]], %c32768_i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg12, %[[TILE]], box[%c0_i32{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}]
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg13, %[[TILE]], box[
// The first block's Q and dO (2 x 64 rows x 128 bytes), then its LSE and
// delta, each copy tracked by the slot's barrier.
// CHECK: nvvm.mbarrier.arrive.expect_tx %[[SLOT:[0-9]+]], %c16384_i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg11, %[[SLOT]], box[
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg14, %[[SLOT]], box[
// CHECK: nvgpu.device_async_copy %arg5[{{.*}}], 1, {{.*}} : memref<?x?x?xf32
// CHECK: nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK: nvgpu.device_async_copy %arg6[{{.*}}], 1, {{.*}} : memref<?x?x?xf32
// CHECK: nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK-NOT: nvvm.fence.proxy
// CHECK: nvvm.mbarrier.try_wait.parity
// A block: no barrier before its MMAs, only the wait for its slot.
// CHECK: scf.for
// CHECK-NOT: gpu.barrier
// CHECK-NOT: nvvm.fence.proxy
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK-NOT: gpu.barrier
// CHECK-NOT: nvvm.fence.proxy
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 0, 0;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 0, 0;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: math.exp2
// CHECK-NOT: memref<8192xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// dS^T into buffer it mod 2 (two 64 x 64 slabs each).
// CHECK: vector.store {{.*}} : memref<16384xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK-NEXT: gpu.barrier
// The block's only barrier frees the previous block's ring slot: the
// loads of the block stages - 1 ahead follow it.
// CHECK: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c16384_i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg11,
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg14,
// CHECK: nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK: nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK-NOT: gpu.barrier
// dQ, then dK behind it; dQ's reductions once dQ (and dV) are complete.
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-NOT: wgmma.mma_async
// CHECK-NOT: nvvm.fence.proxy
// CHECK: nvvm.cp.async.bulk.wait_group 0 {read}
// CHECK: nvvm.bar.warp.sync
// CHECK-COUNT-8: llvm.store {{.*}} : vector<2xf32>, !llvm.ptr<3>
// CHECK-NOT: llvm.store
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK: nvvm.bar.warp.sync
// CHECK: scf.if
// CHECK: nvvm.cp.async.bulk.tensor.reduce %arg15, %{{.*}}, box[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK-NEXT: nvvm.cp.async.bulk.commit.group
// CHECK-NEXT: }
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: scf.yield
// CHECK: nvvm.cp.async.bulk.wait_group 0{{$}}
// CHECK-NOT: red.global
// CHECK-NOT: nvgpu.mma.sync
// CHECK: gpu.module @fa_attention_backward_dq_convert
// S3-LABEL: func.func @backward_d64
// S3: gpu.launch_func @fa_attention_backward_fused_bf16_d64_bm64_bn128_s3_wgmma_{{.*}} dynamic_shared_memory_size %c134144_i32
// S3: gpu.func @fa_attention_backward_fused_bf16_d64_bm64_bn128_s3_wgmma_
// S3: scf.for
// S3-NOT: gpu.barrier
// S3: nvvm.mbarrier.try_wait.parity
// S3: vector.store {{.*}} : memref<16384xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
func.func @backward_d64(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>, %o: tensor<?x?x?x64xbf16>, %do: tensor<?x?x?x64xbf16>, %lse: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) {
  %0:3 = fa.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) outs(%q, %k, %v : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) causal = <bottom_right> -> tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>
  return %0#0, %0#1, %0#2 : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>
}

// -----

// D = 128: dV and dK are 64 x 128 per warpgroup; each warpgroup takes 64
// of dQ's columns over all 128 keys (8 k-steps).
// CHECK-LABEL: func.func @backward_d128
// CHECK: gpu.func @fa_attention_backward_fused_f16_d128_bm64_bn128_s2_wgmma_
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{[^;]*}}p, 1, 1, 0, 0;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{[^;]*}}p, 1, 1, 0, 0;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{[^;]*}}p, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: gpu.barrier
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{[^;]*}}p, 1, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{[^;]*}}p, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-NOT: wgmma.mma_async
// CHECK-COUNT-16: llvm.store {{.*}} : vector<2xf32>, !llvm.ptr<3>
// CHECK-NOT: llvm.store
// CHECK: nvvm.cp.async.bulk.tensor.reduce %arg15, %{{.*}}, box[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK: nvvm.cp.async.bulk.tensor.reduce %arg15, %{{.*}}, box[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK-NEXT: nvvm.cp.async.bulk.commit.group
// S3-LABEL: func.func @backward_d128
// S3: gpu.launch_func @fa_attention_backward_fused_f16_d128_bm64_bn128_s3_wgmma_{{.*}} dynamic_shared_memory_size %c216064_i32
// S3: gpu.func @fa_attention_backward_fused_f16_d128_bm64_bn128_s3_wgmma_
// S3: scf.for
// S3-NOT: nvvm.mbarrier.try_wait.parity
// S3: gpu.barrier
// S3: nvvm.mbarrier.arrive.expect_tx
// S3: nvvm.mbarrier.try_wait.parity
// S3: vector.store {{.*}} : memref<8192xf16, #gpu.address_space<workgroup>>, vector<2xf16>
func.func @backward_d128(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>, %v: tensor<?x?x?x128xf16>, %o: tensor<?x?x?x128xf16>, %do: tensor<?x?x?x128xf16>, %lse: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>) {
  %0:3 = fa.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?xf32>) outs(%q, %k, %v : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>) -> tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>
  return %0#0, %0#1, %0#2 : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>
}
