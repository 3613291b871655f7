// strategy=hopper-ws on packed variable-length queries against a paged
// cache: the kernel takes the query offsets, the block table and the key
// counts (no key offsets); TMA reads its sequence's Q rows from the packed
// tensor (a [64, 1, 128] box at the sequence's first row), the producer
// reads K and V through the table's row of the sequence (gathered at
// 16-row pages, TMA pieces at 64), and the epilogue stores at the
// sequence's rows (V past the keys zeroed by the gather or, after TMA
// pieces, by the producer). Each block runs one tile (no persistent loop: the
// producer has no registers for it), and persistent=on says so. A mask
// that reads captures gives the producer 56 registers. strategy=auto
// builds these tiles with hopper-ws too (pages of 12 rows, which TMA's
// swizzle cannot take, with mma-sync: fa-lower-to-gpu-hopper-paged-refused.mlir).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws persistent=on" 2>&1 | FileCheck %s --check-prefix=PERSISTENT
// RUN: fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto" | FileCheck %s --check-prefix=AUTO

// CHECK-LABEL: func.func @pages16
// CHECK:       gpu.func @{{.*}}_wgmma_cpasync_lse_{{[0-9a-f]+}}_varlen_paged16(
// CHECK-SAME:    %{{[a-z0-9]+}}: memref<8x?xf32, {{.*}}>, %[[CQ:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %[[TABLE:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[LEN:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %{{[a-z0-9]+}}: !llvm.ptr, %{{[a-z0-9]+}}: !llvm.ptr, %{{[a-z0-9]+}}: !llvm.ptr)
// CHECK-NOT:     persistent
// CHECK-SAME:    tensor_maps = [{argument = 0 : i64, box = [64, 1, 128]}, {argument = 1 : i64, box = [64, 1, 16, 1]}, {argument = 2 : i64, box = [64, 1, 16, 1]}]
// CHECK-SAME:    varlen = true
// The gathered pages zero-fill V past the keys: no "V tail staged" barrier
// (the last one initialized is Q released, of both warpgroups).
// CHECK:         nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK-NOT:     nvvm.mbarrier.init
// CHECK:         nvvm.fence.mbarrier.init
// CHECK:         memref.load %[[CQ]]
// CHECK:         memref.load %[[CQ]]
// CHECK:         memref.load %[[LEN]]
// CHECK:         nvvm.setmaxregister decrease 56
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:         memref.load %[[TABLE]][%block_id_z,
// CHECK:         nvvm.cp.async.shared.global
// CHECK:         nvvm.setmaxregister increase 224
// PERSISTENT:  error: persistent=on: a variable-length tile against a paged cache runs one tile per block (its producer has no registers for the loop over tiles)
// AUTO-LABEL:  func.func @pages16
// AUTO:        gpu.func @{{.*}}_wgmma_{{.*}}_varlen_paged16(
// AUTO-SAME:     strategy = "hopper-ws"
func.func @pages16(%q: tensor<?x8x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
                   %o: tensor<?x8x128xbf16>, %lse: tensor<8x?xf32>, %cu_q: tensor<?xi32>, %max_q: index,
                   %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> (tensor<?x8x128xbf16>, tensor<8x?xf32>) {
  %r:2 = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x128xbf16>, tensor<8x?xf32>)
      varlen(%cu_q : tensor<?xi32>) max_seqlen_q = %max_q
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x128xbf16>, tensor<8x?xf32>
  return %r#0, %r#1 : tensor<?x8x128xbf16>, tensor<8x?xf32>
}

// -----

// Pages of 64 rows: TMA pieces at (column, head, row in the page, page).
// CHECK-LABEL: func.func @pages64
// CHECK:       gpu.func @{{.*}}_wgmma_{{[0-9a-f]+}}_varlen_paged64(
// CHECK-SAME:    %[[CQ:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %[[TABLE:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[LEN:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %{{[a-z0-9]+}}: !llvm.ptr, %{{[a-z0-9]+}}: !llvm.ptr, %[[KMAP:[a-z0-9]+]]: !llvm.ptr)
// CHECK-SAME:    tensor_maps = [{argument = 0 : i64, box = [64, 1, 128]}, {argument = 1 : i64, box = [64, 1, 64, 1]}, {argument = 2 : i64, box = [64, 1, 64, 1]}]
// TMA pieces: the producer zeroes V past the keys, on its "V tail staged"
// barrier (one arrival).
// CHECK:         nvvm.mbarrier.init %{{.*}}, %c256_i32
// CHECK-NOT:     nvvm.mbarrier.init
// CHECK:         nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK-NEXT:    nvvm.fence.mbarrier.init
// CHECK:         nvvm.setmaxregister decrease 24
// CHECK:         memref.load %[[TABLE]][%block_id_z,
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KMAP]], %{{.*}}, box[%{{.*}}, %{{.*}}, %{{.*}}, %shuffleResult]
// PERSISTENT:  error: persistent=on: a variable-length tile against a paged cache runs one tile per block
// AUTO-LABEL:  func.func @pages64
// AUTO:        gpu.func @{{.*}}_wgmma_{{.*}}_varlen_paged64(
// AUTO-SAME:     strategy = "hopper-ws"
func.func @pages64(%q: tensor<?x8x64xf16>, %k: tensor<?x64x2x64xf16>, %v: tensor<?x64x2x64xf16>,
                   %o: tensor<?x8x64xf16>, %cu_q: tensor<?xi32>, %max_q: index,
                   %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x64xf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xf16>, tensor<?x64x2x64xf16>, tensor<?x64x2x64xf16>)
      outs(%o : tensor<?x8x64xf16>)
      varlen(%cu_q : tensor<?xi32>) max_seqlen_q = %max_q
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      -> tensor<?x8x64xf16>
  return %r : tensor<?x8x64xf16>
}

// -----

// A document mask loads ids: TMA pieces, and the producer, which walks
// the visible blocks' table beside the pages, keeps 56 registers.
// CHECK-LABEL: func.func @document16
// CHECK:       gpu.func @{{.*}}_wgmma_{{[0-9a-f]+}}_varlen_paged16(
// CHECK-SAME:    %[[CQ:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %[[TABLE:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[LEN:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %[[DOCS:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %{{[a-z0-9]+}}: !llvm.ptr
// CHECK:         memref.load %[[DOCS]]
// CHECK:         nvvm.setmaxregister decrease 56
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         memref.load %[[TABLE]][%block_id_z,
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK:         nvvm.setmaxregister increase 224
// PERSISTENT:  error: persistent=on:
// AUTO-LABEL:  func.func @document16
// AUTO:        gpu.func @{{.*}}_wgmma_{{.*}}_varlen_paged16(
// AUTO-SAME:     strategy = "hopper-ws"
func.func @document16(%q: tensor<?x8x64xbf16>, %k: tensor<?x16x2x64xbf16>, %v: tensor<?x16x2x64xbf16>,
                      %o: tensor<?x8x64xbf16>, %cu_q: tensor<?xi32>, %max_q: index,
                      %table: tensor<?x?xi32>, %lengths: tensor<?xi32>, %docs: tensor<?x?xi32>) -> tensor<?x8x64xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xbf16>, tensor<?x16x2x64xbf16>, tensor<?x16x2x64xbf16>)
      outs(%o : tensor<?x8x64xbf16>)
      captures(%docs : tensor<?x?xi32>)
      varlen(%cu_q : tensor<?xi32>) max_seqlen_q = %max_q
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index, %ids: tensor<?x?xi32>):
        %di = tensor.extract %ids[%b, %i] : tensor<?x?xi32>
        %dj = tensor.extract %ids[%b, %j] : tensor<?x?xi32>
        %same = arith.cmpi eq, %di, %dj : i32
        fa.yield %same : i1
      }
      -> tensor<?x8x64xbf16>
  return %r : tensor<?x8x64xbf16>
}
