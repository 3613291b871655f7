// Modified attention through tiling, fusion and the GPU mapping: captures
// become kernel arguments; the scores body is cloned per element, each value
// at the level it varies at.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=block-m=64 block-n=32" --fa-fuse-online-softmax --fa-lower-to-gpu --canonicalize --cse | FileCheck %s

// ALiBi: the slope of the block's head is loaded once per block of threads,
// before the key loop; the distance (kv_idx - q_idx) is an affine index, so
// its conversion to f32 is one integer and one float addition per score:
// the bits 0x4B400000 + lo + e are the float 1.5 * 2^23 + lo + e, and
// f32(hi - 1.5 * 2^23) is added (the conversions happen once per block, on
// the high and low parts of its base). The biased low part passes a move
// that names the block, so that LLVM keeps the additions of the whole and
// the masked block's branches in their branches.
// CHECK-LABEL: func.func @alibi
// CHECK:         gpu.launch_func @[[K:fa_attention_bf16_d64_bm64_bn32_w2_s2_[0-9a-f]+]]::@[[K]] {{.*}} args({{.*}}, %{{.*}} : memref<8xf32, strided<[?], offset: ?>>)
// CHECK:       gpu.func @[[K]]({{.*}}, %[[SLOPES:.*]]: memref<8xf32, strided<[?], offset: ?>>)
// CHECK:         %[[SLOPE:.*]] = memref.load %[[SLOPES]][%{{.*}}] : memref<8xf32, strided<[?], offset: ?>>
// CHECK-NOT:     memref.load %[[SLOPES]]
// CHECK:         scf.for
// CHECK:           %[[HIGH:.*]] = arith.andi %{{.*}}, %c-4096_i64 : i64
// CHECK:           %[[LOW:.*]] = arith.trunci %{{.*}} : i64 to i32
// CHECK:           %[[BIASED:.*]] = arith.addi %[[LOW]], %c1262485504_i32 : i32
// CHECK:           %[[KEPT:.*]] = llvm.inline_asm "mov.b32 $0, $1; // block {{[0-9]+}}", "=r,r" %[[BIASED]]
// CHECK:           %[[SHIFTED:.*]] = arith.subi %[[HIGH]], %c12582912_i64 : i64
// CHECK:           %[[C:.*]] = arith.sitofp %[[SHIFTED]] : i64 to f32
// CHECK:           %[[BITS:.*]] = arith.addi %[[KEPT]], %c1_i32 : i32
// CHECK:           %[[F:.*]] = arith.bitcast %[[BITS]] : i32 to f32
// CHECK:           %[[D:.*]] = arith.addf %[[F]], %[[C]] : f32
// CHECK:           %[[BIAS:.*]] = arith.mulf %[[SLOPE]], %[[D]] : f32
// CHECK:           arith.addf %{{.*}}, %[[BIAS]] : f32
// CHECK-NOT:       memref.load %[[SLOPES]]
// CHECK:         gpu.return
func.func @alibi(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x8x?x64xbf16>, %o: tensor<1x8x?x64xbf16>, %slopes: tensor<8xf32>) -> tensor<1x8x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>, tensor<1x8x?x64xbf16>) outs(%o : tensor<1x8x?x64xbf16>)
    captures(%slopes : tensor<8xf32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %sl: tensor<8xf32>):
      %slope = tensor.extract %sl[%h] : tensor<8xf32>
      %d = arith.subi %j, %i : index
      %di = arith.index_cast %d : index to i64
      %df = arith.sitofp %di : i64 to f32
      %bias = arith.mulf %slope, %df : f32
      %r = arith.addf %s, %bias : f32
      fa.yield %r : f32
    } -> tensor<1x8x?x64xbf16>
  return %0 : tensor<1x8x?x64xbf16>
}

// -----

// A document mask over a captured [B, N] tensor, with a causal mask. The
// classifier bounds the documents of the tile's rows once, in the prologue
// (the warp's lanes load them together and combine min and max with
// shuffles), then the documents of the keys of the blocks it considers:
// four searches (the visible range [lo, hi), the fully visible run in it),
// and in the key loop each masked block is skipped when no key shares a
// document with the rows. Each thread loads the documents of its own rows
// once (indices clamped into the capture) and those of its key columns per
// block.
// CHECK-LABEL: func.func @document
// CHECK:       gpu.func @{{.*}}({{.*}}, %[[DOC:.*]]: memref<2x?xi32, strided<[?, ?], offset: ?>>)
// CHECK:         gpu.lane_id
// CHECK:         scf.for %{{.*}} step %c32 iter_args
// CHECK:           memref.load %[[DOC]]
// CHECK-COUNT-10:  gpu.shuffle  xor %{{.*}} : i32
// CHECK-COUNT-4: memref.load %[[DOC]]
// CHECK-COUNT-4: scf.while
// CHECK-NOT:     scf.while
// CHECK:         scf.for %{{.*}} step %c1 iter_args
// CHECK:           gpu.lane_id
// CHECK:           scf.for %{{.*}} step %c32 iter_args
// CHECK:             memref.load %[[DOC]]
// CHECK:           memref.load %[[DOC]]
// CHECK:           arith.cmpi eq, %{{.*}}, %{{.*}} : i32
// CHECK:         gpu.return

func.func @document(%q: tensor<2x4x?x64xf16>, %k: tensor<2x4x?x64xf16>, %o: tensor<2x4x?x64xf16>, %doc: tensor<2x?xi32>) -> tensor<2x4x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<2x4x?x64xf16>, tensor<2x4x?x64xf16>, tensor<2x4x?x64xf16>) outs(%o : tensor<2x4x?x64xf16>)
    captures(%doc : tensor<2x?xi32>) causal = <top_left>
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index, %d: tensor<2x?xi32>):
      %dq = tensor.extract %d[%b, %i] : tensor<2x?xi32>
      %dk = tensor.extract %d[%b, %j] : tensor<2x?xi32>
      %same = arith.cmpi eq, %dq, %dk : i32
      fa.yield %same : i1
    } -> tensor<2x4x?x64xf16>
  return %0 : tensor<2x4x?x64xf16>
}

// -----

// Arithmetic on captured data (position ids) is checked: where the interval
// of pos[q] - pos[kv] may have wrapped in i32, the block is "maybe" (the
// sign test of the two operands and the difference), never misclassified.
// CHECK-LABEL: func.func @captured_positions
// CHECK:         gpu.lane_id
// CHECK:         %[[LO:.*]] = arith.subi %{{.*}}, %{{.*}} : i32
// CHECK:         %[[HI:.*]] = arith.subi %{{.*}}, %{{.*}} : i32
// CHECK:         %[[X:.*]] = arith.xori %{{.*}}, %[[HI]] : i32
// CHECK:         %[[Y:.*]] = arith.xori %{{.*}}, %{{.*}} : i32
// CHECK:         %[[BOTH:.*]] = arith.andi %[[Y]], %[[X]] : i32
// CHECK:         arith.cmpi slt, %[[BOTH]], %c0_i32 : i32
// CHECK:         gpu.return

func.func @captured_positions(%q: tensor<2x4x?x64xf16>, %k: tensor<2x4x?x64xf16>, %o: tensor<2x4x?x64xf16>, %pos: tensor<2x?xi32>) -> tensor<2x4x?x64xf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<2x4x?x64xf16>, tensor<2x4x?x64xf16>, tensor<2x4x?x64xf16>) outs(%o : tensor<2x4x?x64xf16>)
    captures(%pos : tensor<2x?xi32>)
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index, %p: tensor<2x?xi32>):
      %pq = tensor.extract %p[%b, %i] : tensor<2x?xi32>
      %pk = tensor.extract %p[%b, %j] : tensor<2x?xi32>
      %d = arith.subi %pq, %pk : i32
      %c0 = arith.constant 0 : i32
      %c256 = arith.constant 256 : i32
      %near = arith.cmpi slt, %d, %c256 : i32
      %after = arith.cmpi sge, %d, %c0 : i32
      %keep = arith.andi %near, %after : i1
      fa.yield %keep : i1
    } -> tensor<2x4x?x64xf16>
  return %0 : tensor<2x4x?x64xf16>
}
