// Paged tiles on the hopper-ws strategy: TMA reads K and V from the pool
// [num_pages, page_size, Hkv, D] through rank-4 tensor maps whose box is
// 64 columns x 1 head x a piece of the block's rows x 1 page. A block of
// 128 keys in pages of 16 rows is 8 pieces; the producer expects the bytes
// of the pieces that hold keys (min(8, ceildiv(keys left, 16)) x 4096) and
// loads each at the page block_table[b, position / 16], row position % 16,
// which lane `piece` of the producer warp read for K and V alike.
// The key count is cache_seqlens[b], as the IR reads it; the grid is
// (query tiles, Hq, B).
// paged-loads=tma (auto's choice from 32-row pieces on, and for a scores
// body that loads captures; it gathers smaller pieces with cp.async).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws paged-loads=tma" | FileCheck %s
// strategy=auto builds the same kernels on sm_90a.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto paged-loads=tma" | FileCheck %s
// (fa-lower-to-gpu-hopper-paged-refused.mlir: the paged tiles it refuses;
// fa-lower-to-gpu-hopper-paged-cp-async.mlir: paged-loads=cp-async;
// fa-lower-to-gpu-hopper-paged-loads-auto.mlir: what auto chooses.)

// CHECK-LABEL: func.func @pages16
// CHECK:       gpu.launch_func @[[K:fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_lse_[0-9a-f]+_paged16]]::@[[K]] blocks in (%{{.*}}, %c8{{.*}}, %{{.*}})
// CHECK:       gpu.func @[[K]](
// CHECK-SAME:    %[[TABLE:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[LENS:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %{{[a-z0-9]+}}: !llvm.ptr, %[[KMAP:[a-z0-9]+]]: !llvm.ptr, %[[VMAP:[a-z0-9]+]]: !llvm.ptr
// CHECK-SAME:    page_size = 16
// CHECK-SAME:    strategy = "hopper-ws", tensor_maps = [{argument = 0 : i64, box = [64, 128, 1, 1]}, {argument = 1 : i64, box = [64, 1, 16, 1]}, {argument = 2 : i64, box = [64, 1, 16, 1]}
// CHECK:         memref.load %[[LENS]][%{{.*}}]
// The producer warp reads the block's pages before it waits for the
// slot, one load: lane l piece l's page, the lanes past the last piece
// with keys that piece's.
// CHECK:         %[[LAST:.*]] = arith.divui %{{.*}}, %c16{{.*}} : index
// CHECK:         %[[LANE:.*]] = arith.remui %thread_id_x, %c32{{.*}} : index
// CHECK:         %[[MINE:.*]] = arith.minui %[[LANE]], %[[LAST]] : index
// CHECK:         %[[OFF:.*]] = arith.muli %[[MINE]], %c16{{.*}} : index
// CHECK:         %[[POS:.*]] = arith.addi %{{.*}}, %[[OFF]] : index
// CHECK:         %[[SLOT:.*]] = arith.divui %[[POS]], %c16{{.*}} : index
// CHECK:         %[[PAGES:.*]] = memref.load %[[TABLE]][%block_id_z, %[[SLOT]]]
// CHECK:         nvvm.mbarrier.try_wait.parity
// The K block: 8 pieces at most, each one page's; the leader issues.
// CHECK:         %[[LEFT:.*]] = arith.ceildivui %{{.*}}, %c16{{.*}} : index
// CHECK:         %[[PIECES:.*]] = arith.minui %[[LEFT]], %c8{{.*}} : index
// CHECK:         scf.if
// CHECK:           %[[BYTES:.*]] = arith.muli %{{.*}}, %c4096_i32 : i32
// CHECK:           nvvm.mbarrier.arrive.expect_tx %{{.*}}, %[[BYTES]]
// CHECK:         scf.for %[[P:.*]] = %c0{{.*}} to %[[PIECES]] step %c1
// CHECK:           %[[P32:.*]] = arith.index_cast %[[P]] : index to i32
// CHECK:           %[[PAGE:.*]], %{{.*}} = gpu.shuffle  idx %[[PAGES]], %[[P32]], %c32_i32 : i32
// CHECK:           scf.if
// CHECK:             %[[ROW:.*]] = arith.remui %{{.*}}, %c16{{.*}} : index
// CHECK:             %[[ROW32:.*]] = arith.index_cast %[[ROW]] : index to i32
// CHECK:             nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KMAP]], %{{.*}}, box[%c0_i32{{.*}}, %{{.*}}, %[[ROW32]], %[[PAGE]]]
// CHECK:             nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KMAP]], %{{.*}}, box[%c64_i32{{.*}}, %{{.*}}, %[[ROW32]], %[[PAGE]]]
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// V reads no table: the same pages.
// CHECK-NOT:     memref.load %[[TABLE]]
// CHECK:         gpu.shuffle  idx %[[PAGES]]
// CHECK-NOT:     memref.load %[[TABLE]]
// V alike; the last block's V waits on "V tail staged" and zeroes its
// rows past the keys before "V loaded".
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[VMAP]]
// CHECK:         llvm.store %{{.*}} : vector<4xi32>, !llvm.ptr<3>
// CHECK:         nvvm.fence.proxy
// CHECK:         gpu.return
func.func @pages16(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
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

// CHECK-LABEL: func.func @pages64
// CHECK:       gpu.launch_func @[[K:fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_lse_[0-9a-f]+_paged64]]::@[[K]] blocks in (%{{.*}}, %c8{{.*}}, %{{.*}})
// CHECK:       gpu.func @[[K]](
// CHECK-SAME:    %[[TABLE:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[LENS:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %{{[a-z0-9]+}}: !llvm.ptr, %[[KMAP:[a-z0-9]+]]: !llvm.ptr, %[[VMAP:[a-z0-9]+]]: !llvm.ptr
// CHECK-SAME:    page_size = 64
// CHECK-SAME:    strategy = "hopper-ws", tensor_maps = [{argument = 0 : i64, box = [64, 128, 1, 1]}, {argument = 1 : i64, box = [64, 1, 64, 1]}, {argument = 2 : i64, box = [64, 1, 64, 1]}
// CHECK:         memref.load %[[LENS]][%{{.*}}]
// The producer warp reads the block's pages before it waits for the
// slot, one load: lane l piece l's page, the lanes past the last piece
// with keys that piece's.
// CHECK:         %[[LAST:.*]] = arith.divui %{{.*}}, %c64{{.*}} : index
// CHECK:         %[[LANE:.*]] = arith.remui %thread_id_x, %c32{{.*}} : index
// CHECK:         %[[MINE:.*]] = arith.minui %[[LANE]], %[[LAST]] : index
// CHECK:         %[[OFF:.*]] = arith.muli %[[MINE]], %c64{{.*}} : index
// CHECK:         %[[POS:.*]] = arith.addi %{{.*}}, %[[OFF]] : index
// CHECK:         %[[SLOT:.*]] = arith.divui %[[POS]], %c64{{.*}} : index
// CHECK:         %[[PAGES:.*]] = memref.load %[[TABLE]][%block_id_z, %[[SLOT]]]
// CHECK:         nvvm.mbarrier.try_wait.parity
// The K block: 8 pieces at most, each one page's; the leader issues.
// CHECK:         %[[LEFT:.*]] = arith.ceildivui %{{.*}}, %c64{{.*}} : index
// CHECK:         %[[PIECES:.*]] = arith.minui %[[LEFT]], %c2{{.*}} : index
// CHECK:         scf.if
// CHECK:           %[[BYTES:.*]] = arith.muli %{{.*}}, %c16384_i32 : i32
// CHECK:           nvvm.mbarrier.arrive.expect_tx %{{.*}}, %[[BYTES]]
// CHECK:         scf.for %[[P:.*]] = %c0{{.*}} to %[[PIECES]] step %c1
// CHECK:           %[[P32:.*]] = arith.index_cast %[[P]] : index to i32
// CHECK:           %[[PAGE:.*]], %{{.*}} = gpu.shuffle  idx %[[PAGES]], %[[P32]], %c32_i32 : i32
// CHECK:           scf.if
// CHECK:             %[[ROW:.*]] = arith.remui %{{.*}}, %c64{{.*}} : index
// CHECK:             %[[ROW32:.*]] = arith.index_cast %[[ROW]] : index to i32
// CHECK:             nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KMAP]], %{{.*}}, box[%c0_i32{{.*}}, %{{.*}}, %[[ROW32]], %[[PAGE]]]
// CHECK:             nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KMAP]], %{{.*}}, box[%c64_i32{{.*}}, %{{.*}}, %[[ROW32]], %[[PAGE]]]
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// V reads no table: the same pages.
// CHECK-NOT:     memref.load %[[TABLE]]
// CHECK:         gpu.shuffle  idx %[[PAGES]]
// CHECK-NOT:     memref.load %[[TABLE]]
// V alike; the last block's V waits on "V tail staged" and zeroes its
// rows past the keys before "V loaded".
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[VMAP]]
// CHECK:         llvm.store %{{.*}} : vector<4xi32>, !llvm.ptr<3>
// CHECK:         nvvm.fence.proxy
// CHECK:         gpu.return
func.func @pages64(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x64x2x128xbf16>, %v: tensor<?x64x2x128xbf16>,
                   %o: tensor<?x8x?x128xbf16>, %lse: tensor<?x8x?xf32>,
                   %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %r, %l = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x64x2x128xbf16>, tensor<?x64x2x128xbf16>)
      outs(%o, %lse : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
  return %r, %l : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}

// -----

// Pages of 256 rows hold whole blocks: one piece of 128 rows (no loop),
// from row position % 256 of the block's page, which the leader read
// before it waited for the slot (D 64 without a mask: 192
// query rows, three consumer warpgroups: the 56-register producer has no
// loop over pieces here, and the consumers keep 152 registers).
// CHECK-LABEL: func.func @pages256
// CHECK:       gpu.func @{{.*}}_bm192_bn128_wg3_{{.*}}_paged256(
// CHECK-SAME:    tensor_maps = [{argument = 0 : i64, box = [64, 192, 1, 1]}, {argument = 1 : i64, box = [64, 1, 128, 1]}, {argument = 2 : i64, box = [64, 1, 128, 1]}
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK-NOT:     arith.minui
// CHECK:         %[[SLOT:.*]] = arith.divui %{{.*}}, %c256{{.*}} : index
// CHECK-NEXT:    %[[PAGE:.*]] = memref.load %{{.*}}[%{{.*}}, %[[SLOT]]]
// CHECK:         nvvm.mbarrier.try_wait.parity
// CHECK:         arith.remui %{{.*}}, %c256{{.*}} : index
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global {{.*}}, %[[PAGE]]]
// CHECK-NOT:     arith.minui
// CHECK-NOT:     gpu.shuffle  idx
// CHECK:         nvvm.setmaxregister  increase 152
// CHECK:         gpu.return
func.func @pages256(%q: tensor<?x8x?x64xf16>, %k: tensor<?x256x8x64xf16>, %v: tensor<?x256x8x64xf16>,
                    %o: tensor<?x8x?x64xf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> tensor<?x8x?x64xf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x256x8x64xf16>, tensor<?x256x8x64xf16>)
      outs(%o : tensor<?x8x?x64xf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      -> tensor<?x8x?x64xf16>
  return %r : tensor<?x8x?x64xf16>
}

// -----

// Pages smaller than the block at D = 64 take 128 query rows (two consumer
// warpgroups), not 192: beside three, the producer's loop over the pieces
// spills. The persistent paged producer keeps 56 registers, the consumers
// what 48 left them (224).
// CHECK-LABEL: func.func @pages16_d64
// CHECK:       gpu.func @{{.*}}_bm128_bn128_wg2_{{.*}}_paged16(
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK:         nvvm.setmaxregister  increase 224
func.func @pages16_d64(%q: tensor<?x8x?x64xf16>, %k: tensor<?x16x8x64xf16>, %v: tensor<?x16x8x64xf16>,
                       %o: tensor<?x8x?x64xf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> tensor<?x8x?x64xf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16>)
      outs(%o : tensor<?x8x?x64xf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      -> tensor<?x8x?x64xf16>
  return %r : tensor<?x8x?x64xf16>
}

// -----

// A mask that reads captures runs one tile per block; its producer walks
// the block table of visible blocks beside the pages with 48 registers.
// CHECK-LABEL: func.func @document
// CHECK:       gpu.func @{{.*}}_paged16(
// CHECK:         nvvm.setmaxregister  decrease 48
// CHECK:         nvvm.setmaxregister  increase 224
func.func @document(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
                    %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>,
                    %docs: tensor<?x?xi32>) -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      captures(%docs : tensor<?x?xi32>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index, %d: tensor<?x?xi32>):
        %di = tensor.extract %d[%b, %i] : tensor<?x?xi32>
        %dj = tensor.extract %d[%b, %j] : tensor<?x?xi32>
        %same = arith.cmpi eq, %di, %dj : i32
        fa.yield %same : i1
      }
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}
