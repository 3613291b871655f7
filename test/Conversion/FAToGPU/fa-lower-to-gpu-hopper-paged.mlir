// Paged tiles on the hopper-ws strategy: TMA reads K and V from the pool
// [num_pages, page_size, Hkv, D] through rank-4 tensor maps whose box is
// 64 columns x 1 head x a piece of the block's rows x 1 page. A block of
// 128 keys in pages of 16 rows is 8 pieces; the producer expects the bytes
// of the pieces that hold keys (min(8, ceildiv(keys left, 16)) x 4096) and
// loads each at the page block_table[b, position / 16], row position % 16.
// The key count is cache_seqlens[b], as the IR reads it; the grid is
// (query tiles, Hq, B).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s
// strategy=auto builds the same kernels on sm_90a.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto" | FileCheck %s
// (fa-lower-to-gpu-hopper-paged-refused.mlir: the paged tiles it refuses.)

// CHECK-LABEL: func.func @pages16
// CHECK:       gpu.launch_func @[[K:fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_lse_[0-9a-f]+_paged16]]::@[[K]] blocks in (%{{.*}}, %c8{{.*}}, %{{.*}})
// CHECK:       gpu.func @[[K]](
// CHECK-SAME:    %[[TABLE:[a-z0-9]+]]: memref<?x?xi32, {{.*}}>, %[[LENS:[a-z0-9]+]]: memref<?xi32, {{.*}}>, %{{[a-z0-9]+}}: !llvm.ptr, %[[KMAP:[a-z0-9]+]]: !llvm.ptr, %[[VMAP:[a-z0-9]+]]: !llvm.ptr
// CHECK-SAME:    page_size = 16
// CHECK-SAME:    strategy = "hopper-ws", tensor_maps = [{argument = 0 : i64, box = [64, 128, 1, 1]}, {argument = 1 : i64, box = [64, 1, 16, 1]}, {argument = 2 : i64, box = [64, 1, 16, 1]}
// CHECK:         memref.load %[[LENS]][%{{.*}}]
// The producer's K block: 8 pieces at most, each one page's.
// CHECK:         %[[LEFT:.*]] = arith.ceildivui %{{.*}}, %c16{{.*}} : index
// CHECK:         %[[PIECES:.*]] = arith.minui %[[LEFT]], %c8{{.*}} : index
// CHECK:         %[[BYTES:.*]] = arith.muli %{{.*}}, %c4096_i32 : i32
// CHECK:         nvvm.mbarrier.arrive.expect_tx %{{.*}}, %[[BYTES]]
// CHECK:         scf.for %[[P:.*]] = %c0{{.*}} to %[[PIECES]] step %c1
// CHECK:           %[[POS:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK:           %[[SLOT:.*]] = arith.divui %[[POS]], %c16{{.*}} : index
// CHECK:           %[[PAGE:.*]] = memref.load %[[TABLE]][%block_id_z, %[[SLOT]]]
// CHECK:           %[[ROW:.*]] = arith.remui %[[POS]], %c16{{.*}} : index
// CHECK:           %[[ROW32:.*]] = arith.index_cast %[[ROW]] : index to i32
// CHECK:           nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KMAP]], %{{.*}}, box[%c0_i32{{.*}}, %{{.*}}, %[[ROW32]], %[[PAGE]]]
// CHECK:           nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KMAP]], %{{.*}}, box[%c64_i32{{.*}}, %{{.*}}, %[[ROW32]], %[[PAGE]]]
// CHECK-NEXT:    }
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

// Pages of 256 rows hold whole blocks: one piece of 128 rows (no loop),
// from row position % 256 of the block's page (D 64 without a mask: 192
// query rows, three consumer warpgroups).
// CHECK-LABEL: func.func @pages256
// CHECK:       gpu.func @{{.*}}_paged256(
// CHECK-SAME:    tensor_maps = [{argument = 0 : i64, box = [64, 192, 1, 1]}, {argument = 1 : i64, box = [64, 1, 128, 1]}, {argument = 2 : i64, box = [64, 1, 128, 1]}
// CHECK-NOT:     arith.minui
// CHECK:         %[[SLOT:.*]] = arith.divui %{{.*}}, %c256{{.*}} : index
// CHECK-NEXT:    %[[PAGE:.*]] = memref.load %{{.*}}[%{{.*}}, %[[SLOT]]]
// CHECK:         arith.remui %{{.*}}, %c256{{.*}} : index
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global {{.*}}, %[[PAGE]]]
// CHECK-NOT:     arith.minui
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
