// The persistent option of fa-lower-to-gpu overrides the hopper-ws
// strategy's choice of the loop over tiles (chooseHopperSchedule): off
// builds one tile per block (the grid position names the tile, producer
// 24 registers, consumers 240), on loops wherever the loop is possible and
// the serial schedule's fragments fit beside the looping producer, and
// reports the kernels that cannot loop.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws persistent=off" | FileCheck %s --check-prefix=OFF
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws persistent=on" | FileCheck %s --check-prefix=ON
// auto is the default.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws persistent=auto" | FileCheck %s --check-prefix=AUTO
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws persistent=always" 2>&1 | FileCheck %s --check-prefix=VALUE
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=auto" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto chip=sm_80 persistent=on" 2>&1 | FileCheck %s --check-prefix=MMASYNC
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=auto" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto chip=sm_80 persistent=off" | FileCheck %s --check-prefix=MMASYNC-OFF

// VALUE: error: persistent must be auto, on or off, got 'always'
// MMASYNC: error: persistent=on is an option of the hopper-ws strategy; mma-sync kernels run one tile per block
// MMASYNC-OFF: strategy = "mma-sync"

// Plain D = 128: persistent by default (producer 40, consumers 232).
// OFF-LABEL: func.func @plain_d128
// OFF:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// OFF-NOT:     persistent
// OFF-SAME:    kernel
// OFF:         nvvm.setmaxregister  decrease 24
// OFF:         nvvm.setmaxregister  increase 240
// AUTO-LABEL: func.func @plain_d128
// AUTO:       persistent = true,
// AUTO:         nvvm.setmaxregister  decrease 40
// ON-LABEL:  func.func @plain_d128
// ON:        persistent = true,
// ON:          nvvm.setmaxregister  decrease 40
func.func @plain_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// D = 192 under a causal mask: one tile per block by default; on takes the
// pairs of a key-bound mask (producer 56, consumers 224).
// OFF-LABEL: func.func @causal_d192
// OFF-NOT:     persistent = true
// OFF:         nvvm.setmaxregister  decrease 24
// AUTO-LABEL: func.func @causal_d192
// AUTO-NOT:    persistent = true
// AUTO:        nvvm.setmaxregister  decrease 24
// ON-LABEL:  func.func @causal_d192
// ON:        persistent = true,
// ON:          nvvm.setmaxregister  decrease 56
// ON:          arith.ceildivui %{{.*}}, %c2_i32 : i32
// ON:          nvvm.setmaxregister  increase 224
func.func @causal_d192(%q: tensor<?x?x?x192xbf16>, %k: tensor<?x?x?x192xbf16>, %v: tensor<?x?x?x192xbf16>, %o: tensor<?x?x?x192xbf16>) -> tensor<?x?x?x192xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x192xbf16>, tensor<?x?x?x192xbf16>, tensor<?x?x?x192xbf16>) outs(%o : tensor<?x?x?x192xbf16>) causal = <top_left> -> tensor<?x?x?x192xbf16>
  return %0 : tensor<?x?x?x192xbf16>
}

// -----

// A window at D = 128: auto and on loop in pairs, a head's pairs side by
// side, beside a 56-register producer, with the overlapped softmax; off
// keeps one tile per block.
// OFF-LABEL: func.func @window_d128
// OFF:         nvvm.setmaxregister  decrease 24
// AUTO-LABEL: func.func @window_d128
// AUTO:       persistent = true,
// AUTO:        nvvm.setmaxregister  decrease 56
// AUTO:        %[[PAIRS:.*]] = arith.ceildivui %{{.*}}, %c2_i32 : i32
// AUTO:        arith.divui %{{.*}}, %[[PAIRS]] : i32
// AUTO:        nvvm.setmaxregister  increase 224
// ON-LABEL:  func.func @window_d128
// ON:        persistent = true,
// ON:          nvvm.setmaxregister  decrease 56
// ON:          %[[PAIRS:.*]] = arith.ceildivui %{{.*}}, %c2_i32 : i32
// ON:          arith.divui %{{.*}}, %[[PAIRS]] : i32
// ON:          nvvm.setmaxregister  increase 224
func.func @window_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 256 : index
        %lo = arith.subi %q_idx, %w : index
        %after = arith.cmpi sgt, %kv_idx, %lo : index
        %past = arith.cmpi sle, %kv_idx, %q_idx : index
        %in = arith.andi %after, %past : i1
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}
