// A variable-length tile without a mask on the hopper-ws strategy: a
// persistent kernel, as the fixed-length one. Its producer warp reads the
// query offsets once (a lane every 32 sequences, then a shuffle maximum)
// for the query tiles of the longest sequence, loops over (query tile,
// head, sequence), skips the tiles past their own sequence's end (not
// published, nothing loaded), and counts the V tails it stages, whose
// barrier's phase parity is that count's. With 48 registers: it reads the
// offsets per tile too.
// RUN: fa-opt %s "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax --fa-lower-to-gpu=strategy=hopper-ws | FileCheck %s

// CHECK:       gpu.func @{{fa_attention_bf16_d64_bm128_bn128_wg2_s2_wgmma_[0-9a-f]+_varlen}}
// CHECK-SAME:    persistent = true
// CHECK-SAME:    varlen = true
// CHECK:         nvvm.setmaxregister  decrease 48
// The longest sequence's query tiles.
// CHECK:         %[[EACH:.*]] = scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c32_i32 iter_args(%{{.*}} = %c0_i32{{.*}}) -> (i32)  : i32 {
// CHECK:           memref.load %arg4
// CHECK:           memref.load %arg4
// CHECK:           arith.maxsi
// CHECK:         gpu.shuffle  xor %[[EACH]], %c16_i32
// CHECK-COUNT-4: gpu.shuffle  xor
// CHECK:         arith.ceildivsi %{{.*}}, %c128_i32 : i32
// The units: tiles published, blocks loaded, tails staged.
// CHECK:         %[[LOOP:.*]]:3 = scf.for %{{.*}} iter_args(%[[DONE:.*]] = %c0_i32{{.*}}, %[[LOADED:.*]] = %c0_i32{{.*}}, %[[TAILS:.*]] = %c0_i32{{.*}}) -> (i32, i32, i32)  : i32 {
// (After the key blocks' plan, which visits none past the sequence.)
// CHECK:           arith.select
// CHECK:           %[[LIVE:.*]] = arith.cmpi sgt, %{{.*}}, %c0{{.*}} : index
// CHECK-NEXT:      %{{.*}}:3 = scf.if %[[LIVE]] -> (i32, i32, i32) {
// CHECK:             arith.andi %[[DONE]], %c1_i32
// CHECK:             nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:             scf.for %{{.*}} iter_args(%{{.*}} = %[[LOADED]], %[[T:.*]] = %[[TAILS]]) -> (i32, i32) {
// CHECK:               scf.if %{{.*}} -> (i32) {
// CHECK:                 arith.andi %[[T]], %c1_i32
// CHECK:                 nvvm.mbarrier.try_wait.parity
// CHECK:                 llvm.store %{{.*}} : vector<4xi32>, !llvm.ptr<3>
// CHECK:                 nvvm.fence.proxy
// CHECK:                 nvvm.mbarrier.arrive
// CHECK:                 arith.addi %[[T]], %c1_i32
// A skipped tile leaves the counts as they were.
// CHECK:             scf.yield %[[DONE]], %[[LOADED]], %[[TAILS]] : i32, i32, i32
// No tile left: the slot says so.
// CHECK:         llvm.store volatile %c-1_i32
// The consumers loop until then.
// CHECK:         nvvm.setmaxregister  increase 224
// CHECK:         scf.while
func.func @varlen(%q: tensor<?x8x64xbf16>, %k: tensor<?x2x64xbf16>, %v: tensor<?x2x64xbf16>,
                  %o: tensor<?x8x64xbf16>, %cq: tensor<?xi32>, %ck: tensor<?xi32>, %m: index)
    -> tensor<?x8x64xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>)
      outs(%o : tensor<?x8x64xbf16>)
      varlen(%cq, %ck : tensor<?xi32>, tensor<?xi32>) max_seqlen_q = %m
      -> tensor<?x8x64xbf16>
  return %r : tensor<?x8x64xbf16>
}
