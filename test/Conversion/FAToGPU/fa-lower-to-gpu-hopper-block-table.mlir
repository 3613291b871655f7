// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s

// A mask that reads captured data (a document mask) costs a memory latency
// per block classification. The hopper-ws kernel classifies the tile's key
// blocks into a table in shared memory once, before the roles split, in
// groups of 8 lanes: the documents of the tile's 128 rows are bounded in
// the prologue (each lane of a group loads 16 of them at once, the group
// combines min and max with three shuffle steps); each of the 12 warps
// classifies 4 blocks per step (one per group: the documents of its 128
// keys, 16 loads in flight per lane), 48 per step of the loop, and the
// group's first lane stores the block's entry; a barrier; every warp reads
// lo, hi and the fully visible run from the table, 32 entries at a time.
// The producer's and the consumers' key loops look their blocks up in the
// table (no capture loads in the producer, which keeps 24 registers); the
// consumers still read the documents per element of a masked block. Q's
// TMA load does not depend on the table: it is issued first (one thread),
// and the producer does not issue it again.
// CHECK-LABEL: func.func @document
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}({{.*}}, %[[DOC:.*]]: memref<2x?xi32, strided<[?, ?], offset: ?>>
// CHECK:         gpu.barrier
// CHECK:         nvvm.mbarrier.arrive.expect_tx %[[QLOADED:[0-9]+]]
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[QMAP:.*]], %[[QLOADED]], box
// CHECK-NOT:     memref.load
// CHECK:         arith.remui %{{.*}}, %c8
// CHECK:         scf.for %{{.*}} step %c128{{.*}} iter_args
// CHECK-COUNT-16:  memref.load %[[DOC]]
// CHECK-NOT:       memref.load
// CHECK:           scf.yield
// CHECK-COUNT-6: gpu.shuffle  xor %{{.*}} : i32
// CHECK-NOT:     gpu.shuffle  xor %{{.*}}, %c8_i32
// CHECK:         scf.for %{{.*}} step %c48 {
// CHECK:           scf.for %{{.*}} step %c128{{.*}} iter_args
// CHECK-COUNT-16:    memref.load %[[DOC]]
// CHECK:           llvm.store %{{.*}}, %{{.*}} : i8, !llvm.ptr<3>
// CHECK:         gpu.barrier
// CHECK:         scf.for %{{.*}} step %c32{{.*}} iter_args
// CHECK:           llvm.load %{{.*}} : !llvm.ptr<3> -> i8
// CHECK:         scf.for %{{.*}} step %c32{{.*}} iter_args
// CHECK:           llvm.load %{{.*}} : !llvm.ptr<3> -> i8
// CHECK:         nvvm.setmaxregister  decrease 24
// CHECK-NOT:     memref.load %[[DOC]]
// CHECK-NOT:     %[[QMAP]]
// CHECK:         scf.for
// CHECK:           llvm.load %{{.*}} : !llvm.ptr<3> -> i8
// CHECK-NOT:     %[[QMAP]]
// CHECK:         nvvm.setmaxregister  increase 240
// CHECK:         scf.for
// CHECK:           llvm.load %{{.*}} : !llvm.ptr<3> -> i8
// CHECK:           memref.load %[[DOC]]
// CHECK:         gpu.return
func.func @document(%q: tensor<2x4x?x128xbf16>, %k: tensor<2x4x?x128xbf16>, %o: tensor<2x4x?x128xbf16>, %doc: tensor<2x?xi32>) -> tensor<2x4x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<2x4x?x128xbf16>, tensor<2x4x?x128xbf16>, tensor<2x4x?x128xbf16>) outs(%o : tensor<2x4x?x128xbf16>)
    captures(%doc : tensor<2x?xi32>) causal = <bottom_right>
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index, %d: tensor<2x?xi32>):
      %dq = tensor.extract %d[%b, %i] : tensor<2x?xi32>
      %dk = tensor.extract %d[%b, %j] : tensor<2x?xi32>
      %same = arith.cmpi eq, %dq, %dk : i32
      fa.yield %same : i1
    } -> tensor<2x4x?x128xbf16>
  return %0 : tensor<2x4x?x128xbf16>
}

// -----

// A mask of index arithmetic only (a sliding window) is classified by
// interval arithmetic on positions, in the key loop: no table, no barrier
// after the mbarriers' initialization.
// CHECK-LABEL: func.func @window
// CHECK:       gpu.func @fa_attention_bf16_d128_
// CHECK:         gpu.barrier
// CHECK-NOT:     gpu.barrier
// CHECK-NOT:     !llvm.ptr<3> -> i8
// CHECK:         gpu.return
func.func @window(%q: tensor<2x4x?x128xbf16>, %k: tensor<2x4x?x128xbf16>, %o: tensor<2x4x?x128xbf16>) -> tensor<2x4x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %k : tensor<2x4x?x128xbf16>, tensor<2x4x?x128xbf16>, tensor<2x4x?x128xbf16>) outs(%o : tensor<2x4x?x128xbf16>)
    causal = <bottom_right>
    mask_mod {
    ^bb0(%b: index, %h: index, %i: index, %j: index):
      %d = arith.subi %i, %j : index
      %c = arith.constant 256 : index
      %in = arith.cmpi slt, %d, %c : index
      fa.yield %in : i1
    } -> tensor<2x4x?x128xbf16>
  return %0 : tensor<2x4x?x128xbf16>
}
