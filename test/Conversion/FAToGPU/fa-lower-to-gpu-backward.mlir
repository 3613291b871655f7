// The backward pass on the GPU (mma-sync): the three stages of
// fa-tile-attention-backward become three kernels that take the same
// arguments (Q, K, V, O, dO, LSE, delta, dQ, dK, dV, captures) and three
// launches in the order delta, key_value, query. Untiled, the op is refused.
// RUN: fa-opt %s --fa-tile-attention-backward --fa-lower-to-gpu | FileCheck %s
// RUN: not fa-opt %s --fa-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=UNTILED
// dq=accumulate: delta (which also zeroes the f32 dQ accumulator, an extra
// argument after delta), fused (dK, dV, and dS K added to the accumulator
// with atomics; one block of 8 warps per 128-key tile of the IR's key
// tiles loop, the dq=accumulate default at D = 64), then
// dq_convert (dQ = scale * accumulator).
// RUN: fa-opt %s "--fa-tile-attention-backward=dq=accumulate" --fa-lower-to-gpu | FileCheck %s --check-prefix=FUSED
// RUN: fa-opt %s "--fa-tile-attention-backward=dq=accumulate" "--fa-lower-to-gpu=chip=sm_80" | FileCheck %s --check-prefix=SM80

// GQA 4:1, bottom-right causal, a softcap, scale 0.5, dynamic lengths, the
// default tiles (64 x 64 at D = 64).
// CHECK-LABEL: func.func @backward
// CHECK:       %[[Q:.*]] = bufferization.to_buffer %arg0
// CHECK:       bufferization.to_buffer %arg1
// CHECK:       bufferization.to_buffer %arg2
// CHECK:       bufferization.to_buffer %arg3
// CHECK:       bufferization.to_buffer %arg4
// CHECK:       %[[L:.*]] = bufferization.to_buffer %arg5
// CHECK:       %[[DELTA:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x8x?xf32> to memref<2x8x?xf32, strided<[?, ?, 1], offset: ?>>
// CHECK:       %[[DQ:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x8x?x64xbf16>
// CHECK:       %[[DK:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x2x?x64xbf16>
// CHECK:       %[[DV:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x2x?x64xbf16>
// CHECK:       gpu.launch_func @[[D:fa_attention_backward_delta_bf16_d64_bm64_bn64_[0-9a-f]+]]::@[[D]] blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%c128, {{.*}}) dynamic_shared_memory_size %c0_i32 args(%[[Q]] : [[T:.*]], %{{.*}}, %[[L]] : {{.*}}, %[[DELTA]] : {{.*}}, %[[DQ]] : {{.*}}, %[[DK]] : {{.*}}, %[[DV]] : [[TK:[^)]*]])
// CHECK:       gpu.launch_func @[[KV:fa_attention_backward_key_value_bf16_d64_bm64_bn64_s2_[0-9a-f]+]]::@[[KV]] {{.*}} threads in (%c128{{.*}}) dynamic_shared_memory_size %c49152_i32{{.*}} args(%[[Q]] : [[T]], %{{.*}}, %[[L]] : {{.*}}, %[[DELTA]] : {{.*}}, %[[DQ]] : {{.*}}, %[[DK]] : {{.*}}, %[[DV]] : [[TK]])
// CHECK:       gpu.launch_func @[[QS:fa_attention_backward_query_bf16_d64_bm64_bn64_s2_[0-9a-f]+]]::@[[QS]] {{.*}} args(%[[Q]] : [[T]], %{{.*}}, %[[L]] : {{.*}}, %[[DELTA]] : {{.*}}, %[[DQ]] : {{.*}}, %[[DK]] : {{.*}}, %[[DV]] : [[TK]])
// CHECK:       %[[GQ:.*]] = bufferization.to_tensor %[[DQ]]
// CHECK:       %[[GK:.*]] = bufferization.to_tensor %[[DK]]
// CHECK:       %[[GV:.*]] = bufferization.to_tensor %[[DV]]
// CHECK:       return %[[GQ]], %[[GK]], %[[GV]]

// delta: rowsum(dO * O), lanes of a row combined with shuffles.
// CHECK:       gpu.func @[[D]]({{.*}}) kernel attributes {fa.launch = {backward_stage = "delta"
// CHECK-DAG:     vector.load %arg4
// CHECK-DAG:     vector.load %arg3
// CHECK:         gpu.shuffle  xor
// CHECK:         memref.store %{{.*}}, %arg6

// key_value: fragments are (key, query); the causal bound is cloned with
// the key on the row (offset 0, 8) and the query on the column (0, 1, 8,
// 9, ...); P from the LSE of the column's query, dS with the softcap's
// derivative (1 - tanh^2), 0 where P is 0.
// CHECK:       gpu.func @[[KV]]({{.*}}) kernel attributes {fa.launch = {backward_stage = "key_value"
// CHECK:         scf.for
// CHECK:           nvgpu.mma.sync
// CHECK:           memref.load %arg5
// CHECK:           memref.load %arg6
// CHECK:           %[[T:.*]] = math.tanh
// CHECK:           arith.cmpi sle, %c0_i32, %[[CAUSAL:[0-9]+]] : i32
// CHECK:           %[[P:.*]] = math.exp2
// CHECK:           arith.cmpi sle, %c-1_i32, %[[CAUSAL]] : i32
// CHECK:           arith.cmpi sle, %c8_i32, %[[CAUSAL]] : i32
// P of every element, then dS (the wgmma kernel computes them while
// different MMAs run).
// CHECK:           %[[T2:.*]] = arith.mulf %[[T]], %[[T]] : f32
// CHECK:           %[[D1:.*]] = arith.subf %{{.*}}, %[[T2]] : f32
// CHECK:           %[[ZERO:.*]] = arith.cmpf oeq, %[[P]]
// CHECK:           arith.select %[[ZERO]]
// CHECK:           nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK:           nvgpu.mma.sync
// dK is scaled by 0.5 and stored to argument 8, dV to argument 9.
// CHECK:         arith.constant 5.000000e-01 : f32
// CHECK:         vector.store %{{.*}}, %arg8
// CHECK:         vector.store %{{.*}}, %arg9

// query: fragments are (query, key); the causal bound with the query on the
// row; dQ scaled by 0.5 into argument 7.
// CHECK:       gpu.func @[[QS]]({{.*}}) kernel attributes {fa.launch = {backward_stage = "query"
// CHECK:         memref.load %arg5
// CHECK:         scf.for
// CHECK:           math.tanh
// CHECK:           arith.cmpi sle, %c0_i32
// CHECK:           math.exp2
// CHECK:           nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true}
// CHECK:         vector.store %{{.*}}, %arg7

// FUSED-LABEL: func.func @backward
// FUSED:       %[[Q:.*]] = bufferization.to_buffer %arg0
// FUSED:       %[[DELTA:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x8x?xf32>
// FUSED:       %[[ACC:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x8x?x64xf32>
// FUSED:       %[[DQ:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x8x?x64xbf16>
// FUSED:       %[[DK:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x2x?x64xbf16>
// FUSED:       %[[DV:.*]] = bufferization.to_buffer %{{.*}} : tensor<2x2x?x64xbf16>
// FUSED:       gpu.launch_func @[[D:fa_attention_backward_delta_bf16_d64_bm64_bn128_[0-9a-f]+]]::@[[D]] blocks in (%[[QT:.*]], %[[HQ:.*]], %[[B:.*]]) threads in (%c128, {{.*}}) dynamic_shared_memory_size %c0_i32 args(%[[Q]] : [[T:.*]], %{{.*}}, %[[DELTA]] : {{.*}}, %[[ACC]] : {{.*}}, %[[DQ]] : {{.*}}, %[[DK]] : {{.*}}, %[[DV]] : [[TK:[^)]*]])
// FUSED:       %[[KT:.*]] = arith.ceildivui %[[NK:.*]], %c128
// FUSED:       gpu.launch_func @[[F:fa_attention_backward_fused_bf16_d64_bm64_bn128_s2_[0-9a-f]+]]::@[[F]] blocks in (%[[KT]], %[[HKV:.*]], %[[B]]) threads in (%c256{{.*}}) dynamic_shared_memory_size %c83968_i32{{.*}} args(%[[Q]] : [[T]], {{.*}}, %[[ACC]] : {{.*}}, %[[DV]] : [[TK]])
// FUSED:       gpu.launch_func @[[C:fa_attention_backward_dq_convert_bf16_d64_bm64_bn128_[0-9a-f]+]]::@[[C]] blocks in (%[[QT]], %[[HQ]], %[[B]]) {{.*}} args(%[[Q]] : [[T]], {{.*}}, %[[ACC]] : {{.*}}, %[[DV]] : [[TK]])
// FUSED:       %[[GQ:.*]] = bufferization.to_tensor %[[DQ]]
// FUSED:       %[[GK:.*]] = bufferization.to_tensor %[[DK]]
// FUSED:       %[[GV:.*]] = bufferization.to_tensor %[[DV]]
// FUSED:       return %[[GQ]], %[[GK]], %[[GV]]
// delta zeroes the accumulator's rows of its tile.
// FUSED:       gpu.func @[[D]]({{.*}}) kernel attributes {fa.launch = {backward_stage = "delta"
// FUSED:         gpu.shuffle  xor
// FUSED:         memref.store %{{.*}}, %arg6
// FUSED:         vector.store %cst{{.*}}, %arg7
// fused: the key_value kernel's body, then dS^T through shared memory and
// dQ += dS K added to argument 7 (sm_90: quads of a row gathered by a
// shuffle, one red.global.add.v4.f32 each; rows past Nq skipped); dK
// and dV stored as key_value stores them.
// FUSED:       gpu.func @[[F]]({{.*}}) kernel attributes {fa.launch = {backward_stage = "fused"
// FUSED:         scf.for
// FUSED:           math.tanh
// FUSED:           math.exp2
// FUSED:           vector.store %{{.*}}, %[[DST:view_[0-9]+]]
// FUSED:           gpu.barrier
// FUSED:           nvgpu.ldmatrix %[[DST]]{{.*}} {numTiles = 4 : i32, transpose = true}
// FUSED:           nvgpu.mma.sync
// FUSED:           gpu.shuffle  xor
// FUSED:           scf.if
// FUSED:             memref.extract_aligned_pointer_as_index %arg7
// FUSED:             llvm.inline_asm has_side_effects {{.*}}red.global.add.v4.f32
// (sm_80: one scalar atomic per element.)
// SM80:        gpu.func @{{.*}}fused{{.*}} kernel attributes {fa.launch = {backward_stage = "fused"
// SM80:             memref.atomic_rmw addf %{{.*}}, %arg7
// SM80-NOT:         red.global
// FUSED:         vector.store %{{.*}}, %arg9
// FUSED:         vector.store %{{.*}}, %arg10
// dq_convert: dQ = 0.5 * accumulator, rounded.
// FUSED:       gpu.func @[[C]]({{.*}}) kernel attributes {fa.launch = {backward_stage = "dq_convert"
// FUSED:         arith.constant 5.000000e-01 : f32
// FUSED:         vector.load %arg7
// FUSED:         arith.truncf %{{.*}} : vector<4xf32> to vector<4xbf16>
// FUSED:         vector.store %{{.*}}, %arg8

// UNTILED: :[[@LINE+5]]:{{[0-9]+}}: error: fa-lower-to-gpu maps a tiled backward: run fa-tile-attention-backward first
// UNTILED-NOT: see current operation
// UNTILED-NOT: gpu.launch_func
func.func @backward(%q: tensor<2x8x?x64xbf16>, %k: tensor<2x2x?x64xbf16>, %v: tensor<2x2x?x64xbf16>, %o: tensor<2x8x?x64xbf16>, %do: tensor<2x8x?x64xbf16>, %lse: tensor<2x8x?xf32>, %dq0: tensor<2x8x?x64xbf16>, %dk0: tensor<2x2x?x64xbf16>, %dv0: tensor<2x2x?x64xbf16>)
    -> (tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>) {
  %0:3 = fa.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x8x?x64xbf16>, tensor<2x8x?x64xbf16>, tensor<2x8x?xf32>)
      outs(%dq0, %dk0, %dv0 : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>) scale = 5.000000e-01 causal = <bottom_right>
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %cap = arith.constant 20.0 : f32
      %x = arith.divf %s, %cap : f32
      %t = math.tanh %x : f32
      %r = arith.mulf %cap, %t : f32
      fa.yield %r : f32
    }
      -> tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>
  return %0#0, %0#1, %0#2 : tensor<2x8x?x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>
}
