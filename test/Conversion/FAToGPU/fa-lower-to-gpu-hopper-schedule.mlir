// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s

// Which schedule the hopper-ws consumers run. Overlapped: the softmax of
// block j runs while the P V of block j - 1 does (`wait_group 1` after both
// are issued, `wait_group 0` after the softmax). Serial: S, its softmax,
// then its P V, when the registers the overlap needs are not there.

// No mask: overlapped, also at D = 256 (block-n 64, O is 128 registers).
// The peeled first block branches on its class too (its S waits with
// `wait_group 0`, then the softmax is an `scf.if` before the loop).
// CHECK-LABEL: func.func @plain_d256
// CHECK:       gpu.func @fa_attention_bf16_d256_bm128_bn64_wg2_s2_wgmma
// CHECK:         nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NOT:     scf.for
// CHECK:         = scf.if %{{.*}} -> (f32
// CHECK:         scf.for {{.*}} -> (f32
// CHECK:         nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:         gpu.return
func.func @plain_d256(%q: tensor<1x8x?x256xbf16>, %k: tensor<1x8x?x256xbf16>, %o: tensor<1x8x?x256xbf16>) -> tensor<1x8x?x256xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x256xbf16>, tensor<1x8x?x256xbf16>, tensor<1x8x?x256xbf16>) outs(%o : tensor<1x8x?x256xbf16>) -> tensor<1x8x?x256xbf16>
  return %0 : tensor<1x8x?x256xbf16>
}

// -----

// A causal mask at D = 256: the masked softmax beside an in-flight P V
// would spill; serial.
// CHECK-LABEL: func.func @causal_d256
// CHECK:       gpu.func @fa_attention_bf16_d256_bm128_bn64_wg2_s2_wgmma
// CHECK-NOT:     nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:         gpu.return
func.func @causal_d256(%q: tensor<1x8x?x256xbf16>, %k: tensor<1x8x?x256xbf16>, %o: tensor<1x8x?x256xbf16>) -> tensor<1x8x?x256xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x256xbf16>, tensor<1x8x?x256xbf16>, tensor<1x8x?x256xbf16>) outs(%o : tensor<1x8x?x256xbf16>) causal = <top_left> -> tensor<1x8x?x256xbf16>
  return %0 : tensor<1x8x?x256xbf16>
}

// -----

// ALiBi reads its capture per head only (hoisted out of the key loop):
// overlapped.
// CHECK-LABEL: func.func @alibi
// CHECK:       gpu.func @fa_attention_f16_d128
// CHECK:         nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:         gpu.return
func.func @alibi(%q: tensor<1x8x?x128xf16>, %k: tensor<1x8x?x128xf16>, %o: tensor<1x8x?x128xf16>, %slopes: tensor<8xf32>) -> tensor<1x8x?x128xf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>) outs(%o : tensor<1x8x?x128xf16>)
    captures(%slopes : tensor<8xf32>) causal = <top_left>
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %sl: tensor<8xf32>):
      %m = tensor.extract %sl[%h] : tensor<8xf32>
      %ii = arith.index_cast %i : index to i64
      %jj = arith.index_cast %j : index to i64
      %d = arith.subi %jj, %ii : i64
      %df = arith.sitofp %d : i64 to f32
      %bias = arith.mulf %m, %df : f32
      %r = arith.addf %s, %bias : f32
      fa.yield %r : f32
    } -> tensor<1x8x?x128xf16>
  return %0 : tensor<1x8x?x128xf16>
}

// -----

// A document mask loads a document id per key: serial.
// CHECK-LABEL: func.func @document
// CHECK:       gpu.func @fa_attention_f16_d128
// CHECK-NOT:     nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:         gpu.return
func.func @document(%q: tensor<2x4x?x128xf16>, %k: tensor<2x4x?x128xf16>, %o: tensor<2x4x?x128xf16>, %doc: tensor<2x?xi32>) -> tensor<2x4x?x128xf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<2x4x?x128xf16>, tensor<2x4x?x128xf16>, tensor<2x4x?x128xf16>) outs(%o : tensor<2x4x?x128xf16>)
    captures(%doc : tensor<2x?xi32>)
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index, %d: tensor<2x?xi32>):
      %dq = tensor.extract %d[%b, %i] : tensor<2x?xi32>
      %dk = tensor.extract %d[%b, %j] : tensor<2x?xi32>
      %same = arith.cmpi eq, %dq, %dk : i32
      fa.yield %same : i1
    } -> tensor<2x4x?x128xf16>
  return %0 : tensor<2x4x?x128xf16>
}

// -----

// A bias table by distance, read per (query, key): serial, though nothing
// masks.
// CHECK-LABEL: func.func @relative_bias
// CHECK:       gpu.func @fa_attention_f16_d128
// CHECK-NOT:     nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:         gpu.return
func.func @relative_bias(%q: tensor<1x8x?x128xf16>, %k: tensor<1x8x?x128xf16>, %o: tensor<1x8x?x128xf16>, %table: tensor<?xf32>) -> tensor<1x8x?x128xf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>) outs(%o : tensor<1x8x?x128xf16>)
    captures(%table : tensor<?xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %t: tensor<?xf32>):
      %c4096 = arith.constant 4096 : index
      %p = arith.addi %j, %c4096 : index
      %at = arith.subi %p, %i : index
      %bias = tensor.extract %t[%at] : tensor<?xf32>
      %r = arith.addf %s, %bias : f32
      fa.yield %r : f32
    } -> tensor<1x8x?x128xf16>
  return %0 : tensor<1x8x?x128xf16>
}
