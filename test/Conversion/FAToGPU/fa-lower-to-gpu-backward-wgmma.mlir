// The hopper-ws backward (WgmmaBackwardBlock.cpp): the fused stage of a
// dq=accumulate backward tiled with hopper-ws's defaults and 64-query
// blocks (by 128 keys) becomes one kernel of two warpgroups whose five
// GEMMs per query block are warpgroup MMAs; delta and dq_convert stay the
// row-wise kernels.
// Per block: a barrier, S^T and dP^T (SS, K-major, 64 x 64 per
// warpgroup), then dV (RS: P^T from registers, dO N-major), dS^T to shared
// memory, a barrier, dQ (SS with dS M-major and K N-major), dK behind it
// (RS, Q N-major); once dQ is complete the next block's copies are waited
// for and fenced for the async proxy (before, not after, this block's dQ
// traffic, which the fence would wait for), and each warp stages its 16
// rows of dQ in shared memory as 128-byte swizzled boxes of 32 columns,
// one TMA tensor reduction (through the dQ accumulator's tensor map, the
// kernel's last argument) per box, while dK runs. The LSE and delta of
// each block come through the ring (4-byte cp.async), not registers.
// (At D = 64 the default is 128-query blocks,
// fa-lower-to-gpu-backward-wgmma-block-m128.mlir; this file asks for 64.)
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=auto defaults-for=hopper-ws block-m=64" "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s
// auto builds the same kernels on sm_90a.
// RUN: fa-opt %s --split-input-file "--fa-tile-attention-backward=dq=auto defaults-for=auto block-m=64" "--fa-lower-to-gpu=strategy=auto" | FileCheck %s

// D = 64: each warpgroup takes 32 of dQ's columns over all 128 keys (8
// k-steps, N 32, the second from inside a swizzle atom).
// CHECK-LABEL: func.func @backward_d64
// CHECK: gpu.launch_func @fa_attention_backward_delta_bf16_d64_bm64_bn128_{{[0-9a-f]+}}::{{.*}} threads in (%c128
// CHECK: %[[MAP:.*]] = fa.tensor_map %{{.*}} box [32, 16, 1, 1] : memref<?x?x?x64xf32, strided<[?, ?, ?, 1], offset: ?>> -> !llvm.ptr
// CHECK: gpu.launch_func @fa_attention_backward_fused_bf16_d64_bm64_bn128_s2_wgmma_{{[0-9a-f]+}}::{{.*}} threads in (%c256
// CHECK-SAME: %[[MAP]] : !llvm.ptr)
// CHECK: gpu.launch_func @fa_attention_backward_dq_convert_bf16_d64_bm64_bn128_{{[0-9a-f]+}}
// CHECK: gpu.func @fa_attention_backward_fused_bf16_d64_bm64_bn128_s2_wgmma_
// CHECK-SAME: %arg11: !llvm.ptr)
// CHECK-SAME: strategy = "hopper-ws"
// CHECK-SAME: tensor_maps = [{argument = 7 : i64, box = [32, 16, 1, 1]}]
// CHECK-SAME: fa.tensor_maps = 1
// CHECK: nvgpu.device_async_copy %arg5[{{.*}}], 1, {{.*}} : memref<?x?x?xf32
// CHECK: nvgpu.device_async_copy %arg6[{{.*}}], 1, {{.*}} : memref<?x?x?xf32
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK: scf.for
// CHECK-NOT: nvvm.cp.async.wait.group
// CHECK: gpu.barrier
// S^T and dP^T in two groups; P^T once S^T is complete, then dV issued;
// dS^T once dP^T is complete (dV may still run).
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}p, 1, 1, 0, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}p, 1, 1, 0, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: math.exp2
// CHECK-NOT: memref<8192xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}p, 1, 1, 1;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: vector.store {{.*}} : memref<8192xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK-NEXT: gpu.barrier
// dQ, then dK behind it; dQ's reductions once dQ (and dV) are complete.
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {{.*}}p, 1, 1, 1, 1;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}p, 1, 1, 1;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK: nvvm.cp.async.bulk.wait_group 0 {read}
// CHECK: nvvm.bar.warp.sync
// CHECK-COUNT-8: llvm.store {{.*}} : vector<2xf32>, !llvm.ptr<3>
// CHECK-NOT: llvm.store
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK: nvvm.bar.warp.sync
// CHECK: scf.if
// CHECK: nvvm.cp.async.bulk.tensor.reduce %arg11, %{{.*}}, box[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK-NEXT: nvvm.cp.async.bulk.commit.group
// CHECK-NEXT: }
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: scf.yield
// CHECK: nvvm.cp.async.bulk.wait_group 0{{$}}
// CHECK-NOT: red.global
// CHECK-NOT: nvgpu.mma.sync
// CHECK: gpu.module @fa_attention_backward_dq_convert
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
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}p, 1, 1, 0, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}p, 1, 1, 0, 0;
// CHECK: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}p, 1, 1, 1;
// CHECK: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: gpu.barrier
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}p, 1, 1, 1, 1;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{.*}}p, 1, 1, 1;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-NOT: wgmma.mma_async
// CHECK-COUNT-16: llvm.store {{.*}} : vector<2xf32>, !llvm.ptr<3>
// CHECK-NOT: llvm.store
// CHECK: nvvm.cp.async.bulk.tensor.reduce %arg11, %{{.*}}, box[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK: nvvm.cp.async.bulk.tensor.reduce %arg11, %{{.*}}, box[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK-NEXT: nvvm.cp.async.bulk.commit.group
func.func @backward_d128(%q: tensor<?x?x?x128xf16>, %k: tensor<?x?x?x128xf16>, %v: tensor<?x?x?x128xf16>, %o: tensor<?x?x?x128xf16>, %do: tensor<?x?x?x128xf16>, %lse: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>) {
  %0:3 = fa.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?xf32>) outs(%q, %k, %v : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>) -> tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>
  return %0#0, %0#1, %0#2 : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>
}
