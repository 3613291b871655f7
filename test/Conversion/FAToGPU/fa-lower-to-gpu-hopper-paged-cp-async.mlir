// paged-loads=cp-async on the hopper-ws strategy: the producer warpgroup
// gathers K and V from the pool [num_pages, page_size, Hkv, D] with cp.async
// instead of TMA pieces (fa-lower-to-gpu-hopper-paged.mlir), into the same
// 128-byte-swizzled slabs wgmma reads.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws paged-loads=cp-async" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto paged-loads=cp-async" | FileCheck %s
// auto gathers these pieces of 16 and 8 rows too
// (fa-lower-to-gpu-hopper-paged-loads-auto.mlir has its rule).
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws paged-loads=auto" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax --fa-lower-to-gpu=strategy=auto | FileCheck %s
// paged-loads=tma: no cp.async.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws paged-loads=tma" | FileCheck %s --check-prefix=TMA
// TMA-NOT:     nvvm.cp.async.shared.global
// TMA:         nvvm.cp.async.bulk.tensor.shared.cluster.global
// TMA-NOT:     nvvm.cp.async.shared.global
// A value it does not know, and the option on mma-sync (which gathers
// pages with cp.async anyway): one error each.
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws paged-loads=gather" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not fa-compile %s -o %t --format=ptx --paged-loads=gather 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: error: paged-loads must be auto, tma or cp-async, got 'gather'
// RUN: not fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=mma-sync paged-loads=tma" 2>&1 | FileCheck %s --check-prefix=MMA
// RUN: not fa-compile %s -o %t --format=ptx --strategy=mma-sync --paged-loads=cp-async 2>&1 | FileCheck %s --check-prefix=MMA
// MMA: error: paged-loads=tma and paged-loads=cp-async are options of the hopper-ws strategy; mma-sync kernels gather pages with cp.async
// Where auto builds mma-sync, the error says why: pages of 12 rows (the
// tile decides), or sm_80 (the options do).
// RUN: sed 's/x16x2x128/x12x2x128/g' %s | not fa-opt -split-input-file "--fa-tile-attention=defaults-for=auto" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=auto paged-loads=cp-async" 2>&1 | FileCheck %s --check-prefix=AUTO-MMA
// AUTO-MMA: error: paged-loads=tma and paged-loads=cp-async are options of the hopper-ws strategy; mma-sync kernels gather pages with cp.async; strategy=auto builds this tile with mma-sync: its pages hold 12 rows, not a multiple of 8
// RUN: not fa-compile %s -o %t --format=ptx --chip=sm_80 --paged-loads=tma 2>&1 | FileCheck %s --check-prefix=AUTO-SM80
// AUTO-SM80: error: paged-loads=tma is an option of the hopper-ws strategy; strategy=auto builds mma-sync kernels here: sm_80 has no wgmma

// Pages of 16 rows. All 128 producer threads run the block loop (no
// first-warp guard); thread t copies piece t / 16 (16 threads a piece),
// the page it read ahead: one 16-byte chunk of each 128-byte row slab of
// every other row, from the piece's first row (position % 16 of its page)
// on, zero-filling rows from the sequence's end on, swizzled as TMA writes
// (chunk c of row r at c ^ r % 8), and arrives on "K loaded" (128
// arrivals) once its copies landed. No expect-tx, no shuffle, no tail
// staging; the consumers fence the async proxy after each wait. The
// one-tile-per-block producer keeps 56 registers (the consumers 224).
// CHECK-LABEL: func.func @pages16
// CHECK:       gpu.func @{{.*}}_bm128_bn128_wg2_{{.*}}_paged16(%{{[a-z0-9]+}}: memref<?x8x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %[[KEYS:[a-z0-9]+]]: memref<?x16x2x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %[[VALUES:[a-z0-9]+]]: memref<?x16x2x128xbf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-SAME:    %[[TABLE:[a-z0-9]+]]: memref<?x?xi32, strided<[?, ?], offset: ?>>
// CHECK-SAME:    tensor_maps = [{argument = 0 : i64, box = [64, 128, 1, 1]}, {argument = 1 : i64, box = [64, 1, 16, 1]}, {argument = 2 : i64, box = [64, 1, 16, 1]}
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.*}}, %c128_i32{{.*}} : !llvm.ptr<3>, i32
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK-NOT:     scf.if
// CHECK:         %[[T:.*]] = arith.remui %thread_id_x, %c128{{.*}} : index
// CHECK-NEXT:    %[[LEADS:.*]] = arith.cmpi eq, %[[T]], %c0{{.*}} : index
// CHECK-NEXT:    scf.if %[[LEADS]] {
// CHECK:         %[[LAST:.*]] = arith.divui %{{.*}}, %c16{{.*}} : index
// CHECK:         %[[LANE:.*]] = arith.remui %thread_id_x, %c128{{.*}} : index
// CHECK:         %[[PIECE:.*]] = arith.divui %[[LANE]], %c16{{.*}} : index
// CHECK:         %[[MINE:.*]] = arith.minui %[[PIECE]], %[[LAST]] : index
// CHECK:         %[[PAGES:.*]] = memref.load %[[TABLE]][%block_id_z, %{{.*}}]
// CHECK:         nvvm.mbarrier.try_wait.parity
// CHECK-NOT:     nvvm.mbarrier.arrive.expect_tx
// The copies of two blocks ago (K and V: a group each) have landed.
// CHECK:         nvvm.cp.async.wait.group 3
// CHECK:         scf.if
// CHECK:           memref.extract_strided_metadata %[[KEYS]]
// CHECK:           arith.remui %{{.*}}, %c16{{.*}} : index
// CHECK:           arith.index_castui %[[PAGES]] : i32 to index
// CHECK:           memref.extract_aligned_pointer_as_index %[[KEYS]]
// CHECK:           scf.for %[[ROW:.*]] = %{{.*}} to %c16_i32 step %c2_i32{{.*}} iter_args(%[[SRC:.*]] = %{{.*}}) -> (i64)  : i32 {
// CHECK:             %[[IN:.*]] = arith.cmpi slt, %[[ROW]], %{{.*}} : i32
// CHECK-NEXT:        %[[BYTES:.*]] = arith.select %[[IN]], %c16_i32{{.*}}, %c0_i32{{.*}} : i32
// CHECK:             %[[PHASE:.*]] = arith.andi %[[ROW]], %c7_i32 : i32
// CHECK:             arith.xori %{{.*}}, %[[PHASE]] : i32
// CHECK:             nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg, %[[BYTES]]
// CHECK:             arith.addi %[[SRC]], %c128_i64 : i64
// CHECK:             arith.addi %{{.*}}, %c16384_i32 : i32
// CHECK:             nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg, %[[BYTES]]
// CHECK-NEXT:        %[[NEXT:.*]] = arith.addi %[[SRC]], %{{.*}} : i64
// CHECK-NEXT:        scf.yield %[[NEXT]] : i64
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// CHECK-NEXT:    nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK-NEXT:    nvvm.cp.async.commit.group
// V: the same pages, no table read, no tail staging.
// CHECK-NOT:     memref.load %[[TABLE]]
// CHECK:         memref.extract_strided_metadata %[[VALUES]]
// CHECK-NOT:     memref.load %[[TABLE]]
// CHECK:         nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK-NOT:     llvm.store %{{.*}} : vector<4xi32>, !llvm.ptr<3>
// CHECK:         nvvm.setmaxregister  increase 224
// Q loaded (by TMA, no fence); K loaded, then S = Q K^T; V loaded, then
// O += P V.
// CHECK:         nvvm.mbarrier.try_wait.parity
// CHECK-NOT:     wgmma.mma_async.sync.aligned
// CHECK:         nvvm.mbarrier.try_wait.parity
// CHECK-NEXT:    nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK:         wgmma.mma_async.sync.aligned
// CHECK:         nvvm.mbarrier.try_wait.parity
// CHECK-NEXT:    nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK:         wgmma.mma_async.sync.aligned
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

// Pages of 8 rows at D = 64: 16 pieces, 8 threads a piece, each one chunk
// of every row (one slab), unrolled (one period of the swizzle); the
// persistent producer keeps 56 registers.
// CHECK-LABEL: func.func @pages8_d64
// CHECK:       gpu.func @{{.*}}_cpasync_{{.*}}_paged8(
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK:         arith.divui %{{.*}}, %c8{{.*}} : index
// CHECK:         %[[WHOLE:.*]] = arith.cmpi sge, %{{.*}}, %c8_i32{{.*}} : i32
// CHECK-NEXT:    scf.if %[[WHOLE]] {
// CHECK-NOT:       scf.for
// CHECK-COUNT-8:   nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK-NEXT:    } else {
// CHECK-NOT:       scf.for
// CHECK-COUNT-8:   nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK-NEXT:    }
// CHECK:         nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK:         nvvm.setmaxregister  increase 224
func.func @pages8_d64(%q: tensor<?x8x?x64xf16>, %k: tensor<?x8x8x64xf16>, %v: tensor<?x8x8x64xf16>,
                      %o: tensor<?x8x?x64xf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> tensor<?x8x?x64xf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x64xf16>, tensor<?x8x8x64xf16>, tensor<?x8x8x64xf16>)
      outs(%o : tensor<?x8x?x64xf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      -> tensor<?x8x?x64xf16>
  return %r : tensor<?x8x?x64xf16>
}

// -----

// Unmasked at D = 128 (the persistent grid; its producer keeps 40
// registers): the rows of a whole piece unrolled over the swizzle's
// period, without byte counts; the others' with them. (Under a causal
// mask at D = 128, as @pages16, and at D = 256 the loop over rows stays:
// the unrolled periods ran slower there.)
// CHECK-LABEL: func.func @pages16_unmasked
// CHECK:       gpu.func @{{.*}}_cpasync_{{.*}}_paged16(
// CHECK:         nvvm.setmaxregister  decrease 40
// CHECK:         nvvm.cp.async.wait.group 3
// CHECK:         scf.if
// CHECK:           memref.extract_aligned_pointer_as_index
// Thread t's first row r0 = t % 16 / 8, and the shared address of its
// chunk there; row r's is that XOR (r % 8 ^ r0 % 8) * 16, plus 128 r.
// CHECK:           arith.andi %[[R0:.*]], %c7_i32 : i32
// CHECK:           %[[LEFT:.*]] = arith.subi
// CHECK-NEXT:      %[[VALID:.*]] = arith.index_cast %[[LEFT]] : index to i32
// A piece of 16 keys copies without byte counts, in a loop over the
// swizzle's period of 8 rows (4 rows of this thread, 8 copies, an
// iteration).
// CHECK:           %[[WHOLE:.*]] = arith.cmpi sge, %[[VALID]], %c16_i32{{.*}} : i32
// CHECK-NEXT:      scf.if %[[WHOLE]] {
// CHECK:             scf.for %{{.*}} = %[[R0]] to %c16_i32{{.*}} step %c8_i32{{.*}} iter_args(%[[SRC:.*]] = %{{.*}}, %[[DST:.*]] = %{{.*}}) -> (i64, i32)  : i32 {
// CHECK-NEXT:          llvm.inttoptr %[[SRC]] : i64 to !llvm.ptr<1>
// CHECK-NEXT:          llvm.inttoptr %[[DST]] : i32 to !llvm.ptr<3>
// CHECK-NEXT:          nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK:               arith.addi %[[DST]], %c16384_i32{{.*}} : i32
// CHECK:               nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK:               %[[X2:.*]] = arith.xori %[[DST]], %c32_i32 : i32
// CHECK:               arith.addi %[[X2]], %c256_i32 : i32
// CHECK-COUNT-2:       nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK:               %[[X4:.*]] = arith.xori %[[DST]], %c64_i32 : i32
// CHECK:               arith.addi %[[X4]], %c512_i32 : i32
// CHECK-COUNT-2:       nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK:               %[[X6:.*]] = arith.xori %[[DST]], %c96_i32 : i32
// CHECK:               arith.addi %[[X6]], %c768_i32 : i32
// CHECK-COUNT-2:       nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK-NOT:           nvvm.cp.async.shared.global
// CHECK:               %[[NEXT:.*]] = arith.addi %[[DST]], %c1024_i32 : i32
// CHECK-NEXT:          scf.yield %{{.*}}, %[[NEXT]] : i64, i32
// CHECK-NEXT:        }
// CHECK-NEXT:      } else {
// Else each row copies 16 bytes before the sequence's end and 0 (a
// zero-filled row) from it on.
// CHECK:             scf.for %[[ROW:.*]] = %[[R0]] to %c16_i32{{.*}} step %c8_i32
// CHECK:               %[[IN:.*]] = arith.cmpi slt, %[[ROW]], %[[VALID]] : i32
// CHECK:               %[[BYTES:.*]] = arith.select %[[IN]], %c16_i32{{.*}}, %c0_i32{{.*}} : i32
// CHECK-COUNT-2:       nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg, %[[BYTES]]
// CHECK:               %[[ROW2:.*]] = arith.addi %[[ROW]], %c2_i32 : i32
// CHECK:               %[[IN2:.*]] = arith.cmpi slt, %[[ROW2]], %[[VALID]] : i32
// CHECK:               %[[BYTES2:.*]] = arith.select %[[IN2]], %c16_i32{{.*}}, %c0_i32{{.*}} : i32
// CHECK-COUNT-2:       nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg, %[[BYTES2]]
// CHECK:               scf.yield
// CHECK-NEXT:        }
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// CHECK-NEXT:    nvvm.cp.async.mbarrier.arrive %{{.*}} {noinc = true}
// CHECK-NEXT:    nvvm.cp.async.commit.group
func.func @pages16_unmasked(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
                            %o: tensor<?x8x?x128xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>)
    -> tensor<?x8x?x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o : tensor<?x8x?x128xbf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      -> tensor<?x8x?x128xbf16>
  return %r : tensor<?x8x?x128xbf16>
}
