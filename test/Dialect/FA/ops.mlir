// Round trip of fa.attention through the custom and the generic form.
// RUN: fa-opt %s -split-input-file | fa-opt -split-input-file | FileCheck %s
// RUN: fa-opt %s -split-input-file -mlir-print-op-generic | fa-opt -split-input-file | FileCheck %s
// RUN: fa-opt %s -emit-bytecode | fa-opt | FileCheck %s --check-prefix=BYTECODE

// CHECK-LABEL: func.func @static_mha
// CHECK:         %[[O:.*]] = fa.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>) outs(%{{.*}} : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
// CHECK-NOT:     scale
// CHECK-NOT:     causal
// CHECK:         return %[[O]]
// BYTECODE-LABEL: func.func @static_mha
// BYTECODE:         fa.attention
func.func @static_mha(%q: tensor<2x8x128x64xf16>, %k: tensor<2x8x128x64xf16>,
                      %v: tensor<2x8x128x64xf16>, %o: tensor<2x8x128x64xf16>)
    -> tensor<2x8x128x64xf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>, tensor<2x8x128x64xf16>)
                    outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return %0 : tensor<2x8x128x64xf16>
}

// -----

// GQA (8 query heads over 2 key/value heads), an explicit scale, a causal
// mask with the FlashAttention alignment, and the log-sum-exp output.
// CHECK-LABEL: func.func @gqa_causal_lse
// CHECK:         %{{.*}}, %{{.*}} = fa.attention ins({{.*}} : tensor<4x8x100x128xbf16>, tensor<4x2x300x128xbf16>, tensor<4x2x300x128xbf16>) outs({{.*}} : tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>) scale = 1.250000e-01 causal = <bottom_right> -> tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>
func.func @gqa_causal_lse(%q: tensor<4x8x100x128xbf16>, %k: tensor<4x2x300x128xbf16>,
                          %v: tensor<4x2x300x128xbf16>, %o: tensor<4x8x100x128xbf16>,
                          %l: tensor<4x8x100xf32>)
    -> (tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>) {
  %0, %1 = fa.attention ins(%q, %k, %v : tensor<4x8x100x128xbf16>, tensor<4x2x300x128xbf16>, tensor<4x2x300x128xbf16>)
                        outs(%o, %l : tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>)
                        scale = 0.125 causal = <bottom_right>
                        -> tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>
  return %0, %1 : tensor<4x8x100x128xbf16>, tensor<4x8x100xf32>
}

// -----

// Dynamic batch, heads and sequence lengths; the head dimensions are static
// and may differ between Q/K (D) and V/O (Dv). Multi-query: one K/V head.
// CHECK-LABEL: func.func @dynamic_mqa
// CHECK:         fa.attention ins({{.*}} : tensor<?x?x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x32xf32>) outs({{.*}} : tensor<?x?x?x32xf32>) causal = <top_left> -> tensor<?x?x?x32xf32>
func.func @dynamic_mqa(%q: tensor<?x?x?x64xf32>, %k: tensor<?x1x?x64xf32>,
                       %v: tensor<?x1x?x32xf32>, %o: tensor<?x?x?x32xf32>)
    -> tensor<?x?x?x32xf32> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x32xf32>)
                    outs(%o : tensor<?x?x?x32xf32>) causal = <top_left> -> tensor<?x?x?x32xf32>
  return %0 : tensor<?x?x?x32xf32>
}

// -----

// The causal attribute in its long form and attributes in the dictionary
// parse to the same op.
// CHECK-LABEL: func.func @attribute_spellings
// CHECK:         fa.attention {{.*}} scale = 5.000000e-01 causal = <top_left> -> tensor<1x1x16x16xf16>
func.func @attribute_spellings(%q: tensor<1x1x16x16xf16>, %o: tensor<1x1x16x16xf16>)
    -> tensor<1x1x16x16xf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>, tensor<1x1x16x16xf16>)
                    outs(%o : tensor<1x1x16x16xf16>)
                    {causal = #fa.causal<top_left>, scale = 0.5 : f32} -> tensor<1x1x16x16xf16>
  return %0 : tensor<1x1x16x16xf16>
}

// -----

// score_mod (logit softcap) and mask_mod (sliding window) with no captures,
// composed with a causal mask.
// CHECK-LABEL: func.func @softcap_window
// CHECK:         fa.attention ins({{.*}}) outs({{.*}}) causal = <top_left> score_mod {
// CHECK-NEXT:    ^bb0(%[[S:.*]]: f32, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index):
// CHECK:           %[[T:.*]] = math.tanh
// CHECK:           fa.yield %{{.*}} : f32
// CHECK-NEXT:    } mask_mod {
// CHECK-NEXT:    ^bb0(%{{.*}}: index, %{{.*}}: index, %[[I:.*]]: index, %[[J:.*]]: index):
// CHECK:           arith.cmpi sgt, %[[J]]
// CHECK:           fa.yield %{{.*}} : i1
// CHECK-NEXT:    } -> tensor<1x4x?x64xbf16>
// BYTECODE-LABEL: func.func @softcap_window
// BYTECODE:         score_mod
// BYTECODE:         mask_mod
func.func @softcap_window(%q: tensor<1x4x?x64xbf16>, %o: tensor<1x4x?x64xbf16>)
    -> tensor<1x4x?x64xbf16> {
  %0 = fa.attention ins(%q, %q, %q : tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>)
                    outs(%o : tensor<1x4x?x64xbf16>) causal = <top_left>
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
      %cap = arith.constant 30.0 : f32
      %x = arith.divf %s, %cap : f32
      %t = math.tanh %x : f32
      %r = arith.mulf %t, %cap : f32
      fa.yield %r : f32
    }
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index):
      %w = arith.constant 256 : index
      %lo = arith.subi %i, %w : index
      %in = arith.cmpi sgt, %j, %lo : index
      fa.yield %in : i1
    } -> tensor<1x4x?x64xbf16>
  return %0 : tensor<1x4x?x64xbf16>
}

// -----

// Captures: ALiBi slopes per head (f32) and document ids per token (i32)
// reach both regions as trailing block arguments; scf.if guards a read.
// CHECK-LABEL: func.func @captures
// CHECK:         fa.attention ins({{.*}}) outs({{.*}}) captures(%{{.*}}, %{{.*}} : tensor<?xf32>, tensor<?x?xi32>) score_mod {
// CHECK-NEXT:    ^bb0(%{{.*}}: f32, %{{.*}}: index, %[[H:.*]]: index, %{{.*}}: index, %{{.*}}: index, %[[SL:.*]]: tensor<?xf32>, %{{.*}}: tensor<?x?xi32>):
// CHECK:           tensor.extract %[[SL]][%[[H]]] : tensor<?xf32>
// CHECK:         } mask_mod {
// CHECK-NEXT:    ^bb0(%[[B:.*]]: index, %{{.*}}: index, %[[I:.*]]: index, %[[J:.*]]: index, %{{.*}}: tensor<?xf32>, %[[DOC:.*]]: tensor<?x?xi32>):
// CHECK:           tensor.dim %[[DOC]]
// CHECK:           scf.if
// CHECK:             tensor.extract %[[DOC]][%[[B]], %[[J]]] : tensor<?x?xi32>
func.func @captures(%q: tensor<?x8x?x128xf16>, %k: tensor<?x2x?x128xf16>,
                    %o: tensor<?x8x?x128xf16>, %slopes: tensor<?xf32>,
                    %doc: tensor<?x?xi32>) -> tensor<?x8x?x128xf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<?x8x?x128xf16>, tensor<?x2x?x128xf16>, tensor<?x2x?x128xf16>)
                    outs(%o : tensor<?x8x?x128xf16>)
                    captures(%slopes, %doc : tensor<?xf32>, tensor<?x?xi32>)
    score_mod {
    ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %sl: tensor<?xf32>, %d: tensor<?x?xi32>):
      %slope = tensor.extract %sl[%h] : tensor<?xf32>
      %dist = arith.subi %j, %i : index
      %di = arith.index_cast %dist : index to i64
      %df = arith.sitofp %di : i64 to f32
      %bias = arith.mulf %slope, %df : f32
      %r = arith.addf %s, %bias : f32
      fa.yield %r : f32
    }
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index, %sl: tensor<?xf32>, %d: tensor<?x?xi32>):
      %c1 = arith.constant 1 : index
      %n = tensor.dim %d, %c1 : tensor<?x?xi32>
      %inside = arith.cmpi slt, %j, %n : index
      %same = scf.if %inside -> (i1) {
        %dq = tensor.extract %d[%b, %i] : tensor<?x?xi32>
        %dk = tensor.extract %d[%b, %j] : tensor<?x?xi32>
        %eq = arith.cmpi eq, %dq, %dk : i32
        scf.yield %eq : i1
      } else {
        %false = arith.constant false
        scf.yield %false : i1
      }
      fa.yield %same : i1
    } -> tensor<?x8x?x128xf16>
  return %0 : tensor<?x8x?x128xf16>
}

// -----

// CHECK-LABEL: func.func @tensor_map
// CHECK:         fa.tensor_map %{{.*}} box [64, 128, 1, 1] : memref<2x2x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>> -> !llvm.ptr
func.func @tensor_map(%k: memref<2x2x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) -> !llvm.ptr {
  %map = fa.tensor_map %k box [64, 128, 1, 1] : memref<2x2x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>> -> !llvm.ptr
  return %map : !llvm.ptr
}

// -----

// CHECK-LABEL: func.func @split_count
// CHECK: fa.split_count %{{.*}}, %{{.*}} max = 64
func.func @split_count(%tiles: index, %blocks: index) -> index {
  %s = fa.split_count %tiles, %blocks max = 64
  return %s : index
}

// -----

// A variable-length batch: packed operands, the LSE [Hq, Tq], the offsets.
// CHECK-LABEL: func.func @varlen
// CHECK:         fa.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x8x128xbf16>, tensor<?x2x128xbf16>, tensor<?x2x128xbf16>) outs(%{{.*}}, %{{.*}} : tensor<?x8x128xbf16>, tensor<8x?xf32>) varlen(%{{.*}}, %{{.*}} : tensor<?xi32>, tensor<?xi32>) max_seqlen_q = %{{.*}} causal = <bottom_right>
func.func @varlen(%q: tensor<?x8x128xbf16>, %k: tensor<?x2x128xbf16>, %v: tensor<?x2x128xbf16>,
                  %o: tensor<?x8x128xbf16>, %lse: tensor<8x?xf32>,
                  %cq: tensor<?xi32>, %ck: tensor<?xi32>, %m: index)
    -> (tensor<?x8x128xbf16>, tensor<8x?xf32>) {
  %r, %l = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x2x128xbf16>, tensor<?x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x128xbf16>, tensor<8x?xf32>)
      varlen(%cq, %ck : tensor<?xi32>, tensor<?xi32>) max_seqlen_q = %m
      causal = <bottom_right>
      -> tensor<?x8x128xbf16>, tensor<8x?xf32>
  return %r, %l : tensor<?x8x128xbf16>, tensor<8x?xf32>
}

// -----

// A paged KV cache: pools [num_pages, page_size, Hkv, D], a block table and
// the key count of every sequence; Q, O and LSE keep the fixed layout.
// CHECK-LABEL: func.func @paged
// CHECK:         fa.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>) outs(%{{.*}}, %{{.*}} : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) paged(%{{.*}}, %{{.*}} : tensor<?x?xi32>, tensor<?xi32>) causal = <bottom_right>
func.func @paged(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
                 %o: tensor<?x8x?x128xbf16>, %lse: tensor<?x8x?xf32>,
                 %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %r, %l = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
  return %r, %l : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}

// -----

// Packed queries against a paged cache: varlen with the query offsets only
// (the key counts are cache_seqlens), and paged.
// CHECK-LABEL: func.func @varlen_paged
// CHECK:         fa.attention ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x8x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>) outs(%{{.*}}, %{{.*}} : tensor<?x8x128xbf16>, tensor<8x?xf32>) varlen(%{{[^ ]*}} : tensor<?xi32>) max_seqlen_q = %{{.*}} paged(%{{.*}}, %{{.*}} : tensor<?x?xi32>, tensor<?xi32>) causal = <bottom_right>
func.func @varlen_paged(%q: tensor<?x8x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
                        %o: tensor<?x8x128xbf16>, %lse: tensor<8x?xf32>, %cu_q: tensor<?xi32>, %max_q: index,
                        %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> (tensor<?x8x128xbf16>, tensor<8x?xf32>) {
  %r, %l = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x128xbf16>, tensor<8x?xf32>)
      varlen(%cu_q : tensor<?xi32>) max_seqlen_q = %max_q
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x128xbf16>, tensor<8x?xf32>
  return %r, %l : tensor<?x8x128xbf16>, tensor<8x?xf32>
}

// -----

// The rows of one sequence's block read through its pages.
// CHECK-LABEL: func.func @paged_rows
// CHECK:         fa.paged_rows %{{.*}}[%{{.*}}, %{{.*}}] pages(%{{.*}}) rows(%{{.*}}, %{{.*}}) : tensor<?x16x2x64xf16>, tensor<?x?xi32> -> tensor<?x64xf16>
func.func @paged_rows(%k: tensor<?x16x2x64xf16>, %table: tensor<?x?xi32>, %b: index, %h: index,
                      %start: index, %count: index) -> tensor<?x64xf16> {
  %t = fa.paged_rows %k[%b, %h] pages(%table) rows(%start, %count)
      : tensor<?x16x2x64xf16>, tensor<?x?xi32> -> tensor<?x64xf16>
  return %t : tensor<?x64xf16>
}
