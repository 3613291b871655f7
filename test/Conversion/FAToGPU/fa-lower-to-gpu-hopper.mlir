// RUN: fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s

// The hopper-ws strategy (first increment): two consumer warpgroups of 64
// rows over 128-key blocks. Per block: the cp.async ring made visible to
// wgmma (fence.proxy.async), S = Q K^T as eight m64n128k16 wgmmas from
// shared-memory descriptors (the first overwrites, scale-d = 0), the
// scores body and the online softmax on the accumulators, then O += P V as
// eight wgmmas with P from registers and V N-major (trans-b = 1).

// CHECK:       gpu.launch_func @[[K:fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_lse_[0-9a-f]+]]::@[[K]] blocks in ({{.*}}) threads in (%c256, {{.*}}) dynamic_shared_memory_size %c164864_i32
// CHECK:       gpu.func @[[K]](
// CHECK-SAME:    fa.launch = {block_m = 128 : i64, block_n = 128 : i64, chip = "sm_90a", dynamic_shared_memory = 164864 : i64, lse = true, stages = 2 : i64, strategy = "hopper-ws", threads = 256 : i64, warps = 8 : i64}
// CHECK-SAME:    known_block_size = array<i32: 256, 1, 1>
// CHECK:         memref.extract_aligned_pointer_as_index
// CHECK:         scf.for
// CHECK:           nvvm.cp.async.wait.group 0
// CHECK-NEXT:      nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT:      gpu.barrier
// CHECK:           nvvm.wgmma.fence.aligned
// CHECK:           llvm.inline_asm has_side_effects "{\0A.reg .pred p;\0Asetp.ne.b32 p, $130, 0;\0Awgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{.*}}, $63}, $128, $129, p, 1, 1, 0, 0;\0A}"
// CHECK-SAME:        "=f,{{.*}},=f,0,1,{{.*}},63,l,l,r"
// CHECK-COUNT-7:   wgmma.mma_async.sync.aligned.m64n128k16
// CHECK:           nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT:      nvvm.wgmma.wait.group.sync.aligned 0
// The causal mask of the fused IR, per accumulator element.
// CHECK:           arith.cmpi
// CHECK:           nvvm.wgmma.fence.aligned
// CHECK:           wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {$0, {{.*}}, $63}, {$128, $129, $130, $131}, $132, p, 1, 1, 1;
// CHECK-SAME:        "=f,{{.*}},63,r,r,r,r,l,r"
// CHECK-COUNT-7:   wgmma.mma_async.sync.aligned.m64n128k16
// CHECK:           nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT:      nvvm.wgmma.wait.group.sync.aligned 0

func.func @attention(%q: tensor<2x8x?x128xbf16>, %k: tensor<2x2x?x128xbf16>,
                     %v: tensor<2x2x?x128xbf16>, %o: tensor<2x8x?x128xbf16>,
                     %lse: tensor<2x8x?xf32>)
    -> (tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>) {
  %out, %logsumexp = fa.attention
      ins(%q, %k, %v : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16>,
                       tensor<2x2x?x128xbf16>)
      outs(%o, %lse : tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>)
      causal = <bottom_right>
      -> tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>
  return %out, %logsumexp : tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>
}
