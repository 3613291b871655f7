// RUN: fa-opt %s -split-input-file "--fa-tile-attention-backward=block-m=32 block-n=64" --canonicalize --cse | FileCheck %s
// The tiled form before canonicalization, and the defaults (64 x 64 up to
// D = 64, 32 x 64 up to D = 128, 32 x 32 beyond).
// RUN: fa-opt %s -split-input-file --fa-tile-attention-backward | FileCheck %s --check-prefix=RAW
// Blocks of 1 (canonicalization folds 'tile * 1' away) and gradient inits
// that are casts (which canonicalization folds into the foralls) keep the
// stage attributes.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention-backward=block-m=1 block-n=1" --canonicalize | FileCheck %s --check-prefix=BLOCK1
// dq=accumulate: one fused stage over (batch, key/value head).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention-backward=block-m=32 block-n=64 dq=accumulate" --canonicalize --cse | FileCheck %s --check-prefix=FUSED

// GQA 2:1, bottom-right causal, dynamic sequence lengths: delta, then dK/dV
// over (batch, key/value head, key tile) with the two query heads of the
// group and the query blocks from the first row that sees the tile, then dQ
// over (batch, query head, query tile) with the key blocks up to the last one
// the tile sees.
// CHECK-LABEL: func.func @causal
// CHECK-SAME:      (%[[Q:[^:]*]]: tensor<2x4x?x32xbf16>, %[[K:[^:]*]]: tensor<2x2x?x32xbf16>, %[[V:[^:]*]]: tensor<2x2x?x16xbf16>, %[[O:[^:]*]]: tensor<2x4x?x16xbf16>, %[[DO:[^:]*]]: tensor<2x4x?x16xbf16>, %[[LSE:[^:]*]]: tensor<2x4x?xf32>)
// CHECK-DAG:     %[[SCALE:.*]] = arith.constant 0.176776692 : f32
// CHECK-DAG:     %[[NQ:.*]] = tensor.dim %[[Q]], %c2
// CHECK-DAG:     %[[NK:.*]] = tensor.dim %[[K]], %c2
// CHECK:         %[[SHIFT:.*]] = arith.subi %[[NK]], %[[NQ]] : index
// CHECK:         %[[DELTA:.*]] = scf.forall ({{.*}}) in (2, 4, %{{.*}}) shared_outs({{.*}}) -> (tensor<2x4x?xf32>)
// CHECK:           linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x16xbf16>, tensor<?x16xbf16>) outs(%{{.*}} : tensor<?xf32>) attrs = {fa.role = "delta"}
// CHECK:         } {fa.attention_backward_tile = {block_m = 32 : i64, block_n = 64 : i64, stage = "delta"}
// CHECK:         %[[KV:.*]]:2 = scf.forall (%[[B:.*]], %[[HK:.*]], %[[T:.*]]) in (2, 2, %{{.*}}) shared_outs({{.*}}) -> (tensor<2x2x?x32xbf16>, tensor<2x2x?x16xbf16>)
// CHECK:           %[[COL:.*]] = arith.muli %[[T]], %c64
// CHECK:           %[[FROM:.*]] = arith.subi %[[COL]], %[[SHIFT]]
// CHECK:           %[[FIRST:.*]] = arith.maxsi %[[FROM]], %c0
// CHECK:           scf.for %[[G:.*]] = %c0 to %c2 step %c1
// CHECK:             %[[H0:.*]] = arith.muli %[[HK]], %c2
// CHECK:             %[[H:.*]] = arith.addi %[[H0]], %[[G]]
// CHECK:             scf.for %[[ROW:.*]] = %[[FIRST]] to %[[NQ]] step %c32
// CHECK:               tensor.extract_slice %[[Q]][%[[B]], %[[H]], %[[ROW]], 0]
// CHECK:               tensor.extract_slice %[[DO]][%[[B]], %[[H]], %[[ROW]], 0]
// CHECK:               tensor.extract_slice %[[LSE]][%[[B]], %[[H]], %[[ROW]]]
// CHECK:               tensor.extract_slice %[[DELTA]][%[[B]], %[[H]], %[[ROW]]]
// CHECK:               {fa.role = "qk"}
// CHECK:               {fa.role = "scores"}
// CHECK:                 arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK:                 arith.cmpi sle
// CHECK:                 arith.select
// CHECK:               {fa.role = "recomputed_probabilities"}
// CHECK:                 math.exp
// CHECK:               {fa.role = "grad_probabilities"}
// CHECK:               ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) {{.*}} {fa.role = "grad_scores"}
// CHECK:               {fa.role = "grad_key"}
// CHECK:               {fa.role = "grad_value"}
// CHECK:             } {fa.backward_loop = "query_blocks"}
// CHECK:           } {fa.backward_loop = "query_heads"}
// CHECK:           {fa.role = "scaled_store"}
// CHECK:             arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK:             arith.truncf
// CHECK:           {fa.role = "store"}
// CHECK:         } {fa.attention_backward_tile = {block_m = 32 : i64, block_n = 64 : i64, stage = "key_value"}
// CHECK:         %[[DQ:.*]] = scf.forall (%{{.*}}, %[[QH:.*]], %[[QT:.*]]) in (2, 4, %{{.*}}) shared_outs
// CHECK:           %[[KVH:.*]] = arith.divui %[[QH]], %c2
// CHECK:           %[[ROW0:.*]] = arith.muli %[[QT]], %c32
// CHECK:           %[[ROWS:.*]] = arith.minsi
// CHECK:           %[[END0:.*]] = arith.addi %[[ROW0]], %[[ROWS]]
// CHECK:           %[[END1:.*]] = arith.addi %[[END0]], %[[SHIFT]]
// CHECK:           %[[END2:.*]] = arith.maxsi %[[END1]], %c0
// CHECK:           %[[END:.*]] = arith.minsi %[[NK]], %[[END2]]
// CHECK:           scf.for %{{.*}} = %c0 to %[[END]] step %c64
// CHECK:             tensor.extract_slice %[[K]][%{{.*}}, %[[KVH]],
// CHECK:             {fa.role = "grad_scores"}
// CHECK:             {fa.role = "grad_query"}
// CHECK:           } {fa.backward_loop = "key_blocks"}
// CHECK:           {fa.role = "scaled_store"}
// CHECK:         } {fa.attention_backward_tile = {block_m = 32 : i64, block_n = 64 : i64, stage = "query"}
// CHECK:         return %[[DQ]], %[[KV]]#0, %[[KV]]#1
// RAW-LABEL: func.func @causal
// RAW:         fa.attention_backward_tile = {block_m = 64 : i64, block_n = 64 : i64, stage = "delta"}
// BLOCK1-LABEL: func.func @causal
// BLOCK1-COUNT-3: fa.attention_backward_tile = {block_m = 1 : i64, block_n = 1 : i64
// FUSED-LABEL: func.func @causal
// FUSED:         scf.forall ({{.*}}) in (2, 4, %{{.*}}) {{.*}} -> (tensor<2x4x?xf32>)
// FUSED:         } {fa.attention_backward_tile = {block_m = 32 : i64, block_n = 64 : i64, stage = "delta"}
// FUSED:         %[[F:.*]]:3 = scf.forall (%[[B:.*]], %[[HK:.*]]) in (2, 2) shared_outs({{.*}}) -> (tensor<2x2x?x32xbf16>, tensor<2x2x?x16xbf16>, tensor<2x4x?x32xbf16>)
// FUSED:           %[[DQ0:.*]] = linalg.fill {{.*}} -> tensor<2x?x32xf32>
// FUSED:           %[[T:.*]]:3 = scf.for %[[COL:.*]] = %c0 to %{{.*}} step %c64 iter_args(%{{.*}}, %{{.*}}, %{{.*}} = %[[DQ0]])
// FUSED:             scf.for %[[G:.*]] = %c0 to %c2
// FUSED:               scf.for %[[ROW:.*]] = %{{.*}} to %{{.*}} step %c32 iter_args(%{{.*}}, %{{.*}}, %[[ACC:.*]] = %{{.*}})
// FUSED:                 {fa.role = "grad_key"}
// FUSED:                 {fa.role = "grad_value"}
// FUSED:                 %[[ROWS:.*]] = tensor.extract_slice %[[ACC]][%[[G]], %[[ROW]], 0]
// FUSED:                 %[[ADDED:.*]] = linalg.generic {{.*}} outs(%[[ROWS]] : tensor<?x32xf32>) attrs = {fa.role = "grad_query"}
// FUSED:                 tensor.insert_slice %[[ADDED]] into %[[ACC]][%[[G]], %[[ROW]], 0]
// FUSED:               } {fa.backward_loop = "query_blocks"}
// FUSED:             } {fa.backward_loop = "query_heads"}
// FUSED:             tensor.insert_slice %{{.*}} into %{{.*}}[%[[COL]], 0]
// FUSED:           } {fa.backward_loop = "key_tiles"}
// FUSED:           %[[DQ:.*]] = linalg.generic {{.*}} ins(%[[T]]#2 : tensor<2x?x32xf32>) outs(%{{.*}} : tensor<2x?x32xbf16>) attrs = {fa.role = "scaled_store"}
// FUSED:           %[[H0:.*]] = arith.muli %[[HK]], %c2
// FUSED:           scf.forall.in_parallel
// FUSED:             tensor.parallel_insert_slice %[[DQ]] into %{{.*}}[%[[B]], %[[H0]], 0, 0] [1, 2, %{{.*}}, 32]
// FUSED:         } {fa.attention_backward_tile = {block_m = 32 : i64, block_n = 64 : i64, stage = "fused"}
// FUSED:         return %[[F]]#2, %[[F]]#0, %[[F]]#1
func.func @causal(%q: tensor<2x4x?x32xbf16>, %k: tensor<2x2x?x32xbf16>, %v: tensor<2x2x?x16xbf16>, %o: tensor<2x4x?x16xbf16>, %do: tensor<2x4x?x16xbf16>, %lse: tensor<2x4x?xf32>) -> (tensor<2x4x?x32xbf16>, tensor<2x2x?x32xbf16>, tensor<2x2x?x16xbf16>) {
  %c2 = arith.constant 2 : index
  %nq = tensor.dim %q, %c2 : tensor<2x4x?x32xbf16>
  %nk = tensor.dim %k, %c2 : tensor<2x2x?x32xbf16>
  %dq0 = tensor.empty(%nq) : tensor<2x4x?x32xbf16>
  %dk0 = tensor.empty(%nk) : tensor<2x2x?x32xbf16>
  %dv0 = tensor.empty(%nk) : tensor<2x2x?x16xbf16>
  %0:3 = fa.attention_backward ins(%q, %k, %v, %o, %do, %lse : tensor<2x4x?x32xbf16>, tensor<2x2x?x32xbf16>, tensor<2x2x?x16xbf16>, tensor<2x4x?x16xbf16>, tensor<2x4x?x16xbf16>, tensor<2x4x?xf32>)
      outs(%dq0, %dk0, %dv0 : tensor<2x4x?x32xbf16>, tensor<2x2x?x32xbf16>, tensor<2x2x?x16xbf16>) causal = <bottom_right>
      -> tensor<2x4x?x32xbf16>, tensor<2x2x?x32xbf16>, tensor<2x2x?x16xbf16>
  return %0#0, %0#1, %0#2 : tensor<2x4x?x32xbf16>, tensor<2x2x?x32xbf16>, tensor<2x2x?x16xbf16>
}

// -----

// A softcap: the scores op also yields d score_mod / d score = 1 - tanh^2,
// and dS multiplies it in (0 where P is 0).
// CHECK-LABEL: func.func @softcap
// CHECK:         %{{.*}}:2 = linalg.generic {{.*}} outs(%{{.*}}, %{{.*}} : tensor<?x?xf32>, tensor<?x?xf32>) attrs = {fa.role = "scores"}
// CHECK:           %[[X:.*]] = arith.divf
// CHECK:           %[[T:.*]] = math.tanh %[[X]]
// CHECK:           %[[T2:.*]] = arith.mulf %[[T]], %[[T]]
// CHECK:           arith.subf %cst{{.*}}, %[[T2]]
// CHECK:           %[[S:.*]] = arith.mulf %[[T]], %cst
// CHECK:           linalg.yield %[[S]], %{{.*}} : f32, f32
// CHECK:         ins(%{{.*}}, %{{.*}}, %{{.*}}#1, %{{.*}} : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) {{.*}} {fa.role = "grad_scores"}
// CHECK:           arith.cmpf oeq
// CHECK:           arith.select
// RAW-LABEL: func.func @softcap
// RAW:         fa.attention_backward_tile = {block_m = 32 : i64, block_n = 32 : i64, stage = "delta"}
func.func @softcap(%q: tensor<1x2x?x192xf16>, %o: tensor<1x2x?x192xf16>, %lse: tensor<1x2x?xf32>) -> tensor<1x2x?x192xf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x?x192xf16>, tensor<1x2x?x192xf16>, tensor<1x2x?x192xf16>, tensor<1x2x?x192xf16>, tensor<1x2x?x192xf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x192xf16>, tensor<1x2x?x192xf16>, tensor<1x2x?x192xf16>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
        %cap = arith.constant 30.0 : f32
        %x = arith.divf %s, %cap : f32
        %t = math.tanh %x : f32
        %r = arith.mulf %cap, %t : f32
        fa.yield %r : f32
      } -> tensor<1x2x?x192xf16>, tensor<1x2x?x192xf16>, tensor<1x2x?x192xf16>
  return %0#0 : tensor<1x2x?x192xf16>
}

// -----

// A division keeps its flags in its derivative: an `arcp` quotient licenses
// the same reciprocal in d(s / d) = 1 / d.
// RAW-LABEL: func.func @reciprocal_division
// RAW:         {fa.role = "scores"}
// RAW:           %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// RAW:           %[[D:.*]] = arith.sitofp
// RAW:           %[[R:.*]] = arith.divf %{{.*}}, %[[D]] fastmath<arcp,afn> : f32
// RAW:           %[[DR:.*]] = arith.divf %[[ONE]], %[[D]] fastmath<arcp,afn> : f32
// RAW:           linalg.yield %[[R]], %[[DR]] : f32, f32
func.func @reciprocal_division(%q: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>) -> tensor<1x2x?x64xf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
        %one = arith.constant 1 : index
        %n = arith.addi %i, %one : index
        %n64 = arith.index_cast %n : index to i64
        %d = arith.sitofp %n64 : i64 to f32
        %r = arith.divf %s, %d fastmath<arcp,afn> : f32
        fa.yield %r : f32
      } -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0 : tensor<1x2x?x64xf16>
}

// -----

// An scf.if that depends on the score yields its derivative as an extra
// result; ops on indices and captures (the floor of a captured value) need
// no derivative.
// RAW-LABEL: func.func @branch
// RAW:         {fa.role = "scores"}
// RAW:           %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// RAW:           %[[F:.*]] = math.floor
// RAW:           %[[IF:.*]]:2 = scf.if %{{.*}} -> (f32, f32) {
// RAW:             %[[Y:.*]] = arith.mulf %{{.*}}, %[[F]] : f32
// RAW:             %[[DY:.*]] = arith.mulf %[[ONE]], %[[F]] : f32
// RAW:             scf.yield %[[Y]], %[[DY]] : f32, f32
// RAW:           } else {
// RAW:             scf.yield %{{.*}}, %[[ONE]] : f32, f32
// RAW:           }
// RAW:           linalg.yield %[[IF]]#0, %[[IF]]#1 : f32, f32
// Canonicalization turns the derivative into a select.
// CHECK-LABEL: func.func @branch
// CHECK:         {fa.role = "scores"}
// CHECK:           %[[F:.*]] = math.floor
// CHECK:           %[[POS:.*]] = arith.cmpf ogt
// CHECK:           %[[D:.*]] = arith.select %[[POS]], %[[F]], %cst
// CHECK:           %[[R:.*]] = scf.if %[[POS]] -> (f32) {
// CHECK:           linalg.yield %[[R]], %[[D]] : f32, f32
func.func @branch(%q: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>, %w: tensor<2xf32>) -> tensor<1x2x?x64xf16> {
  %0:3 = fa.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?xf32>)
      outs(%q, %q, %q : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
      captures(%w : tensor<2xf32>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %wa: tensor<2xf32>):
        %wh = tensor.extract %wa[%h] : tensor<2xf32>
        %f = math.floor %wh : f32
        %zero = arith.constant 0.0 : f32
        %pos = arith.cmpf ogt, %s, %zero : f32
        %r = scf.if %pos -> (f32) {
          %y = arith.mulf %s, %f : f32
          scf.yield %y : f32
        } else {
          scf.yield %s : f32
        }
        fa.yield %r : f32
      } -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0 : tensor<1x2x?x64xf16>
}

// -----

// maxnumf takes the derivative of the operand it returns, also when the
// other is NaN (log10 of a negative score); ops on the score whose results
// are unused need no derivative.
// RAW-LABEL: func.func @maxnum
// RAW:         {fa.role = "scores"}
// RAW:           %[[S:.*]] = arith.mulf %{{.*}}, %{{.*}} fastmath<contract> : f32
// RAW:           math.round %[[S]]
// RAW:           %[[L:.*]] = math.log10 %[[S]]
// RAW:           %[[M:.*]] = arith.maxnumf %[[S]], %[[L]]
// RAW:           %[[FIRST:.*]] = arith.cmpf oeq, %[[M]], %[[S]]
// RAW:           %[[D:.*]] = arith.select %[[FIRST]]
// RAW:           linalg.yield %[[M]], %[[D]] : f32, f32
// A gradient init that is a cast (not read by the op) is not folded into
// the stage's forall, which would drop its attribute.
// BLOCK1-LABEL: func.func @maxnum
// BLOCK1-COUNT-3: fa.attention_backward_tile = {block_m = 1 : i64, block_n = 1 : i64
func.func @maxnum(%q: tensor<1x2x?x64xf16>, %o: tensor<1x2x?x64xf16>, %lse: tensor<1x2x?xf32>) -> (tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>) {
  %dq0 = tensor.empty() : tensor<1x2x8x64xf16>
  %dq = tensor.cast %dq0 : tensor<1x2x8x64xf16> to tensor<1x2x?x64xf16>
  %0:3 = fa.attention_backward ins(%q, %q, %q, %o, %o, %lse : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?xf32>)
      outs(%dq, %dq, %dq : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
        %unused = math.round %s : f32
        %l = math.log10 %s : f32
        %m = arith.maxnumf %s, %l : f32
        fa.yield %m : f32
      } -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
  return %0#0, %0#1, %0#2 : tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>
}
