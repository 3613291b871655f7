// (The last function is refused: `not`.)
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws block-m=192" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws block-m=192 block-n=64" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s --check-prefix=NARROW
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws block-m=192" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" 2>&1 | FileCheck %s --check-prefix=ERR

// Three consumer warpgroups (192 x 128, FlashAttention-3's tile at D = 64,
// the default there without a mask or a mod): 160 registers a consumer,
// or 152 beside a producer that loops over tiles. S and O take 96; the
// pending P of the overlapped softmax would take 32 more, so the consumers
// run the serial schedule (no `wait_group 1`), which needs fewer registers
// beside its fragments (chooseHopperSchedule, verifyHopperConfig).

// No mask: serial, and persistent (producer 40, consumers 152). With
// 64-key blocks the registers for the pending P are there: overlapped,
// and persistent.
// NARROW-LABEL: func.func @plain_d64
// NARROW:       gpu.func @fa_attention_bf16_d64_bm192_bn64_wg3_s2_wgmma_{{[0-9a-f]+}}(
// NARROW-SAME:    persistent = true
// NARROW:         nvvm.wgmma.wait.group.sync.aligned 1
// NARROW:         gpu.return
// CHECK-LABEL: func.func @plain_d64
// CHECK:       gpu.func @fa_attention_bf16_d64_bm192_bn128_wg3_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true
// CHECK-SAME:    threads = 512
// CHECK:         nvvm.setmaxregister  decrease 40
// CHECK:         nvvm.setmaxregister  increase 152
// CHECK-NOT:     nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:         gpu.return
func.func @plain_d64(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x8x?x64xbf16>, %o: tensor<1x8x?x64xbf16>) -> tensor<1x8x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>) outs(%o : tensor<1x8x?x64xbf16>) -> tensor<1x8x?x64xbf16>
  return %0 : tensor<1x8x?x64xbf16>
}

// -----

// A causal mask: serial, one tile per block (producer 32, consumers 160).
// CHECK-LABEL: func.func @causal_d64
// CHECK:       gpu.func @fa_attention_f16_d64_bm192_bn128_wg3_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK:         nvvm.setmaxregister  decrease 32
// CHECK:         nvvm.setmaxregister  increase 160
// CHECK-NOT:     nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:         gpu.return
func.func @causal_d64(%q: tensor<1x8x?x64xf16>, %k: tensor<1x8x?x64xf16>, %o: tensor<1x8x?x64xf16>) -> tensor<1x8x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>) outs(%o : tensor<1x8x?x64xf16>) causal = <bottom_right> -> tensor<1x8x?x64xf16>
  return %0 : tensor<1x8x?x64xf16>
}

// -----

// A score_mod that loads captures (ALiBi's slopes) needs the registers of
// the pending P in the serial schedule too (ptxas spilled 20 bytes without
// them): refused at 192 x 128.
// ERR: error: tile too large for registers: block-m=192 block-n=128 at D=64 needs 128 fragment registers per thread in the serial schedule (budget 97 for each of the 384 consumer threads); use a smaller block-n or block-m
func.func @alibi_d64(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x8x?x64xbf16>, %o: tensor<1x8x?x64xbf16>, %slopes: tensor<8xf32>) -> tensor<1x8x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>) outs(%o : tensor<1x8x?x64xbf16>)
    captures(%slopes : tensor<8xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %qi: index, %ki: index, %sl: tensor<8xf32>):
      %m = tensor.extract %sl[%h] : tensor<8xf32>
      %qf = arith.index_cast %qi : index to i64
      %kf = arith.index_cast %ki : index to i64
      %d = arith.subi %kf, %qf : i64
      %df = arith.sitofp %d : i64 to f32
      %bias = arith.mulf %m, %df : f32
      %r = arith.addf %s, %bias : f32
      fa.yield %r : f32
    } -> tensor<1x8x?x64xbf16>
  return %0 : tensor<1x8x?x64xbf16>
}
