// paged-loads=auto on the hopper-ws strategy: the producer warpgroup
// gathers a paged tile's K and V with cp.async where a key block's pieces
// (rows in one page: gcd(page size, block-n)) are fewer than 32 rows and
// the scores body loads no captures; TMA loads the pieces otherwise
// (HopperConfig::gathersPages, chooseHopperSchedule).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws paged-loads=auto" | FileCheck %s

// Pages of 16 rows: 8 pieces of 16 rows a 128-key block, gathered.
// CHECK-LABEL: func.func @pages16
// CHECK:       gpu.func @{{.*}}_wgmma_cpasync_{{.*}}_paged16(
// CHECK:         nvvm.cp.async.shared.global
func.func @pages16(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
    %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}

// -----

// Pages of 24 rows: pieces of gcd(24, 128) = 8 rows, gathered.
// CHECK-LABEL: func.func @pages24
// CHECK:       gpu.func @{{.*}}_wgmma_cpasync_{{.*}}_paged24(
// CHECK:         nvvm.cp.async.shared.global
func.func @pages24(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x24x2x128xbf16>, %v: tensor<?x24x2x128xbf16>,
    %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x24x2x128xbf16>, tensor<?x24x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}

// -----

// Pages of 48 rows at D = 64: pieces of 16 rows, gathered.
// CHECK-LABEL: func.func @pages48_d64
// CHECK:       gpu.func @{{.*}}_wgmma_cpasync_{{.*}}_paged48(
// CHECK:         nvvm.cp.async.shared.global
func.func @pages48_d64(%q: tensor<?x8x?x64xf16>, %k: tensor<?x48x2x64xf16>, %v: tensor<?x48x2x64xf16>,
    %o: tensor<?x8x?x64xf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x?x64xf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x48x2x64xf16>, tensor<?x48x2x64xf16>)
      outs(%o : tensor<?x8x?x64xf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      -> tensor<?x8x?x64xf16>
  return %r : tensor<?x8x?x64xf16>
}

// -----

// D = 256 (64-key blocks) at pages of 16 rows: pieces of 16, gathered.
// CHECK-LABEL: func.func @pages16_d256
// CHECK:       gpu.func @{{.*}}_wgmma_cpasync_{{.*}}_paged16(
// CHECK:         nvvm.cp.async.shared.global
func.func @pages16_d256(%q: tensor<?x8x?x256xbf16>, %k: tensor<?x16x2x256xbf16>, %v: tensor<?x16x2x256xbf16>,
    %o: tensor<?x8x?x256xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x?x256xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x256xbf16>, tensor<?x16x2x256xbf16>, tensor<?x16x2x256xbf16>)
      outs(%o : tensor<?x8x?x256xbf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      -> tensor<?x8x?x256xbf16>
  return %r : tensor<?x8x?x256xbf16>
}

// -----

// A softcap and a window mask read no captures: gathered.
// CHECK-LABEL: func.func @softcap_window16
// CHECK:       gpu.func @{{.*}}_wgmma_cpasync_{{.*}}_paged16(
// CHECK:         nvvm.cp.async.shared.global
func.func @softcap_window16(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
    %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %i: index, %j: index):
        %cap = arith.constant 30.0 : f32
        %s = arith.divf %score, %cap : f32
        %t = math.tanh %s : f32
        %r = arith.mulf %t, %cap : f32
        fa.yield %r : f32
      }
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index):
        %w = arith.constant 256 : index
        %lo = arith.subi %i, %w : index
        %in = arith.cmpi sgt, %j, %lo : index
        fa.yield %in : i1
      }
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}

// -----

// Pages of 32 rows: pieces of 32, TMA (the gather ran 4-7 % slower
// bottom-right on the H100).
// CHECK-LABEL: func.func @pages32
// CHECK:       gpu.func @{{.*}}_wgmma_{{[0-9a-f]+}}_paged32(
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         gpu.return
func.func @pages32(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x32x2x128xbf16>, %v: tensor<?x32x2x128xbf16>,
    %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x32x2x128xbf16>, tensor<?x32x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}

// -----

// Pages of 64 rows: TMA.
// CHECK-LABEL: func.func @pages64
// CHECK:       gpu.func @{{.*}}_wgmma_{{[0-9a-f]+}}_paged64(
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         gpu.return
func.func @pages64(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x64x2x128xbf16>, %v: tensor<?x64x2x128xbf16>,
    %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x64x2x128xbf16>, tensor<?x64x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}

// -----

// ALiBi loads its slopes: TMA at 16-row pages (gathered, ptxas spilled
// 32 bytes at D = 128).
// CHECK-LABEL: func.func @alibi16
// CHECK:       gpu.func @{{.*}}_wgmma_{{[0-9a-f]+}}_paged16(
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         gpu.return
func.func @alibi16(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
    %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>, %slopes: tensor<?xf32>) -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      captures(%slopes : tensor<?xf32>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %i: index, %j: index, %s: tensor<?xf32>):
        %slope = tensor.extract %s[%h] : tensor<?xf32>
        %d = arith.subi %j, %i : index
        %di = arith.index_cast %d : index to i64
        %df = arith.sitofp %di : i64 to f32
        %bias = arith.mulf %slope, %df : f32
        %r = arith.addf %score, %bias : f32
        fa.yield %r : f32
      }
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}

// -----

// A document mask loads ids: TMA at 16-row pages.
// CHECK-LABEL: func.func @document16
// CHECK:       gpu.func @{{.*}}_wgmma_{{[0-9a-f]+}}_paged16(
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         gpu.return
func.func @document16(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
    %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>, %docs: tensor<?x?xi32>) -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      captures(%docs : tensor<?x?xi32>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index, %ids: tensor<?x?xi32>):
        %di = tensor.extract %ids[%b, %i] : tensor<?x?xi32>
        %dj = tensor.extract %ids[%b, %j] : tensor<?x?xi32>
        %same = arith.cmpi eq, %di, %dj : i32
        fa.yield %same : i1
      }
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}
