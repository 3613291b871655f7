// The hopper-ws backward (WgmmaBackwardBlock.cpp) with 128-query blocks at
// D = 64 (FlashAttention-3's tile there): S^T and dP^T are 64 x 128 per
// warpgroup, dV and dK take 8 k-steps over the block's queries, and
// warpgroup w computes dQ of queries 64w.. (the second dS^T slab is its A)
// with all 64 columns, then stages and adds those rows. D = 128 does not
// fit (fa-lower-to-gpu-backward-invalid.mlir). These are hopper-ws's (and
// auto's) default tiles at D = 64.
// RUN: fa-opt %s "--fa-tile-attention-backward=dq=accumulate block-m=128 block-n=128" "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention-backward=dq=auto defaults-for=hopper-ws" "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s
// RUN: fa-opt %s "--fa-tile-attention-backward=dq=auto defaults-for=auto" "--fa-lower-to-gpu=strategy=auto" | FileCheck %s
// With only block-n = 64 asked for (one warpgroup), the default block-m is
// 64.
// RUN: fa-opt %s "--fa-tile-attention-backward=dq=auto defaults-for=hopper-ws block-n=64" "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s --check-prefix=BN64
// BN64: gpu.func @fa_attention_backward_fused_bf16_d64_bm64_bn64_s2_wgmma_

// CHECK-LABEL: func.func @backward_d64
// CHECK: gpu.func @fa_attention_backward_fused_bf16_d64_bm128_bn128_s2_wgmma_
// CHECK-SAME: tensor_maps = [{argument = 0 : i64, box = [64, 128, 1, 1]}, {argument = 1 : i64, box = [64, 128, 1, 1]}, {argument = 2 : i64, box = [64, 128, 1, 1]}, {argument = 4 : i64, box = [64, 128, 1, 1]}, {argument = 7 : i64, box = [32, 16, 1, 1]}]
// A ring slot's barrier expects 1 + 2 x 128 arrivals. With 128-query
// blocks a block starts with a CTA barrier and the loads of Q and dO of
// the block ahead (2 x 128 rows x 128 bytes), then waits for its slot;
// dS^T has one buffer.
// CHECK: nvvm.mbarrier.init %{{.*}}, %c257_i32
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg11,
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %arg14,
// CHECK: nvvm.mbarrier.try_wait.parity
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 0, 0;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 0, 0;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: vector.store {{.*}} : memref<16384xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK: gpu.barrier
// CHECK-NOT: nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{[^;]*}}p, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-COUNT-16: llvm.store {{.*}} : vector<2xf32>, !llvm.ptr<3>
// CHECK-NOT: llvm.store
// A warpgroup's rows over all of D: boxes at columns 0 and 32.
// CHECK: nvvm.cp.async.bulk.tensor.reduce %arg15, %{{.*}}, box[%c0_i32{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK: nvvm.cp.async.bulk.tensor.reduce %arg15, %{{.*}}, box[%c32_i32{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK-NEXT: nvvm.cp.async.bulk.commit.group
func.func @backward_d64(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>, %o: tensor<?x?x?x64xbf16>, %do: tensor<?x?x?x64xbf16>, %lse: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) {
  %0:3 = fa.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) outs(%q, %k, %v : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) causal = <bottom_right> -> tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>
  return %0#0, %0#1, %0#2 : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>
}

