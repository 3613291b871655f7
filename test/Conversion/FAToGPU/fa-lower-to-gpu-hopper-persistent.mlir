// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s

// The persistent hopper-ws kernel (no mask): each block loops over tiles.
// The producer warp walks this block's tiles (x fastest in the grid:
// tiles block, block + blocks, ...; query tile, then head, then batch,
// decoded with 32-bit divisions). Tile t of the block has Q slot t % 2
// (two Q tiles fit in shared memory here) and tile slot t % 4. Per tile the
// producer waits until the consumers released the Q slot's previous tile
// ("Q released" of the slot, one arrival per consumer thread; phase
// parity t / 2 % 2, the opposite one awaited), writes the tile (index,
// head, batch) into its tile slot and loads Q into its Q slot, both
// published by the slot's "Q loaded"; then it loads the tile's K and V
// blocks, the ring count carried from tile to tile. So the next tile's Q
// loads while the consumers still compute this one. After the last tile
// it writes -1 into the next tile slot and arrives on "Q loaded" without
// a load. The consumers loop until they read a negative tile: wait for
// "Q loaded" of the tile's Q slot, read the tile slot, compute the tile
// with the Q slot's descriptor (slot 1: 32 KiB, 2048 16-byte units, on),
// release Q once its last S = Q K^T is done (before the last P V and the
// epilogue, which overlap the next tile's loads), and read the tile slot
// again for the epilogue.
// Shared memory: two Q slots and the rings (196608 bytes), 12 barriers
// and four tile slots (160 bytes), O's tile at the next 1024-byte
// boundary (197632), 32 KiB, and 1 KiB of alignment: 231424.

// CHECK-LABEL: func.func @plain_d128
// CHECK:       gpu.launch_func
// O is staged in a tile of the block's own (the default epilogue stores
// it by TMA; fa-lower-to-gpu-hopper-epilogue.mlir), 32 KiB after the
// control bytes.
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    dynamic_shared_memory = 231424 : i64, lse = false, persistent = true,
// Q loaded (one arrival), per stage K and V loaded and released, Q
// released (by every consumer thread), then Q loaded and Q released of
// the second Q slot.
// CHECK-COUNT-9: nvvm.mbarrier.init
// CHECK:         nvvm.mbarrier.init %{{.*}}, %c256_i32 :
// CHECK:         nvvm.mbarrier.init %{{.*}}, %c1_i32{{(_[0-9]+)?}} :
// CHECK:         nvvm.mbarrier.init %{{.*}}, %c256_i32{{(_[0-9]+)?}} :
// CHECK-NEXT:    nvvm.fence.mbarrier.init
// CHECK:         scf.if
// CHECK-NEXT:      nvvm.setmaxregister  decrease 40
// CHECK:           gpu.grid_dim  x
// CHECK:           %[[TILES:.*]]:2 = scf.for %[[UNIT:[a-z0-9]+]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[DONE:[a-z0-9]+]] = %{{.*}}, %[[LOADED:[a-z0-9]+]] = %{{.*}}) -> (i32, i32)  : i32 {
// CHECK:             arith.remui %[[UNIT]], %{{.*}} : i32
// CHECK:             arith.divui %[[UNIT]], %{{.*}} : i32
// CHECK:             %[[QSLOT32:[0-9]+]] = arith.andi %[[DONE]], %c1_i32{{(_[0-9]+)?}} : i32
// CHECK:             %[[QSLOT:[0-9]+]] = arith.index_castui %[[QSLOT32]] : i32 to index
// CHECK:             arith.shrui %[[DONE]], %c1_i32{{(_[0-9]+)?}} : i32
// CHECK:             nvvm.mbarrier.try_wait.parity
// CHECK:             scf.if
// CHECK:               arith.andi %[[DONE]], %c3_i32
// CHECK:               llvm.store volatile
// CHECK:               llvm.store volatile
// CHECK:               llvm.store volatile
// CHECK:               arith.muli %[[QSLOT]], %c32768 : index
// CHECK:               nvvm.mbarrier.arrive.expect_tx %[[QBAR:[0-9]+]], %c32768_i32
// CHECK:               nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %{{.*}}, %[[QBAR]]
// CHECK:             scf.for %{{.*}} iter_args(%{{.*}} = %[[LOADED]]) -> (i32) {
// CHECK:               nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:           nvvm.mbarrier.try_wait.parity
// CHECK:           scf.if
// CHECK:             llvm.store volatile %c-1_i32
// CHECK:             nvvm.mbarrier.arrive %{{.*}} : !llvm.ptr<3>
// CHECK:       } else {
// CHECK-NEXT:    nvvm.setmaxregister  increase 232
// CHECK:         scf.while (%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) : (index, i32) -> (index, i32) {
// CHECK:           nvvm.mbarrier.try_wait.parity
// CHECK:           %[[TILE:.*]] = llvm.load volatile
// CHECK:           %[[MORE:.*]] = arith.cmpi sge, %[[TILE]], %c0_i32
// CHECK:           scf.condition(%[[MORE]])
// CHECK:         } do {
// CHECK:           %[[CSLOT32:[0-9]+]] = arith.andi %{{.*}}, %c1_i32 : i32
// CHECK:           %[[CSLOT:[0-9]+]] = arith.index_castui %[[CSLOT32]] : i32 to index
// CHECK:           %[[CSLOT64:[0-9]+]] = arith.index_castui %[[CSLOT]] : index to i64
// CHECK:           arith.muli %[[CSLOT64]], %c2048_i64 : i64
// CHECK-COUNT-3:   llvm.load volatile
// CHECK:           wgmma.mma_async
// The loop over key blocks; after it, Q is released (barrier 9 = 1 + 4
// stages for Q slot 0, 11 for slot 1), then the last P V.
// CHECK:           %[[KEYS:[0-9]+]]:{{[0-9]+}} = scf.for
// CHECK:           %c9 = arith.constant 9 : index
// CHECK:           nvvm.mbarrier.arrive
// CHECK:           arith.subi %[[KEYS]]#
// CHECK:           wgmma.mma_async
// CHECK:         } else {
// CHECK:           nvvm.mbarrier.arrive
// The epilogue reads the tile from the slot again.
// CHECK:         %[[B32:[0-9]+]] = llvm.load volatile
// CHECK:         %[[B:[0-9]+]] = arith.index_cast %[[B32]]
// CHECK:         %[[H32:[0-9]+]] = llvm.load volatile
// CHECK:         %[[H:[0-9]+]] = arith.index_cast %[[H32]]
// CHECK:         llvm.load volatile
// The staging tile is written again once the last tile's boxes are read;
// the boxes of this one go to (column, row, head, batch) through O's map.
// CHECK:         nvvm.cp.async.bulk.wait_group 0 {read}
// CHECK:         %[[HI:[0-9]+]] = arith.index_cast %[[H]] : index to i32
// CHECK-NEXT:    %[[BI:[0-9]+]] = arith.index_cast %[[B]] : index to i32
// CHECK:         nvvm.cp.async.bulk.tensor.global.shared.cta %arg7, %{{.*}}, box[%c0_i32{{(_[0-9]+)?}}, %{{.*}}, %[[HI]], %[[BI]]]
// CHECK:         nvvm.cp.async.bulk.tensor.global.shared.cta %arg7, %{{.*}}, box[%c64_i32{{(_[0-9]+)?}}, %{{.*}}, %[[HI]], %[[BI]]]
// CHECK:       nvvm.cp.async.bulk.wait_group 0 {read}
// CHECK:       gpu.return
func.func @plain_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// A mask at D = 64: the blocks loop over tiles too. The producer keeps 64
// registers to search each tile's key blocks (the consumers 216, enough
// for the overlapped softmax). Tiles cost different amounts: the heads
// come in sections whose K and V fit 16 MiB (65536 keys of 256 bytes,
// over the key length), a section's query tiles run last to first across
// its heads, and the blocks take the units in waves that snake (odd waves
// right to left), skipping the units past the end.
// CHECK-LABEL: func.func @causal_d64
// CHECK:       gpu.func @fa_attention_bf16_d64_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true,
// CHECK:         nvvm.setmaxregister  decrease 64
// CHECK:           %[[TILES:[0-9]+]] = arith.ceildivui %{{.*}}, %c128{{.*}} : index
// CHECK:           %[[QT:[0-9]+]] = arith.index_castui %[[TILES]] : index to i32
// CHECK:           %[[HEADS:[0-9]+]] = arith.index_castui %dim{{.*}} : index to i32
// CHECK:           %[[BATCHES:[0-9]+]] = arith.index_castui %dim{{.*}} : index to i32
// CHECK:           %[[UNITS:[0-9]+]] = arith.muli %{{.*}}, %[[BATCHES]] : i32
// CHECK:           %[[ALL:[0-9]+]] = arith.muli %[[HEADS]], %[[BATCHES]] : i32
// CHECK:           %[[KEYS:[0-9]+]] = arith.maxui %{{.*}}, %c1_i32{{.*}} : i32
// CHECK:           %[[FIT:[0-9]+]] = arith.divui %c65536_i32{{(_[0-9]+)?}}, %[[KEYS]] : i32
// CHECK:           %[[ATLEAST:[0-9]+]] = arith.maxui %[[FIT]], %c1_i32 : i32
// CHECK:           %[[SECTION:[0-9]+]] = arith.minui %[[ATLEAST]], %[[ALL]] : i32
// CHECK:           %[[SUNITS:[0-9]+]] = arith.muli %[[SECTION]], %[[QT]] : i32
// CHECK:           %[[WAVES:[0-9]+]] = arith.ceildivui %[[UNITS]], %[[STRIDE:[0-9]+]] : i32
// CHECK:           scf.for %[[WAVE:[a-z0-9]+]] = %{{.*}} to %[[WAVES]] step %{{.*}} iter_args(%[[L:[a-z0-9]+]] = %{{.*}}, %[[D:[a-z0-9]+]] = %{{.*}}) -> (i32, i32)  : i32 {
// CHECK:             %[[ODD:[0-9]+]] = arith.trunci %[[WAVE]] : i32 to i1
// CHECK:             %[[LAST:[0-9]+]] = arith.subi %[[STRIDE]], %c1_i32
// CHECK:             %[[BACK:[0-9]+]] = arith.subi %[[LAST]], %[[FIRST:[0-9]+]] : i32
// CHECK:             %[[POS:[0-9]+]] = arith.select %[[ODD]], %[[BACK]], %[[FIRST]] : i32
// CHECK:             %[[BASE:[0-9]+]] = arith.muli %[[WAVE]], %[[STRIDE]] : i32
// CHECK:             %[[UNIT:[0-9]+]] = arith.addi %[[BASE]], %[[POS]] : i32
// CHECK:             %[[IN:[0-9]+]] = arith.cmpi ult, %[[UNIT]], %[[UNITS]] : i32
// CHECK:             scf.if %[[IN]] -> (i32, i32) {
// CHECK:               %[[SI:[0-9]+]] = arith.divui %[[UNIT]], %[[SUNITS]] : i32
// CHECK:               %[[R:[0-9]+]] = arith.remui %[[UNIT]], %[[SUNITS]] : i32
// CHECK:               %[[FH:[0-9]+]] = arith.muli %[[SI]], %[[SECTION]] : i32
// CHECK:               %[[REST:[0-9]+]] = arith.subi %[[ALL]], %[[FH]] : i32
// CHECK:               %[[WIDTH:[0-9]+]] = arith.minui %[[SECTION]], %[[REST]] : i32
// CHECK:               %[[HI:[0-9]+]] = arith.remui %[[R]], %[[WIDTH]] : i32
// CHECK:               %[[FLAT:[0-9]+]] = arith.addi %[[FH]], %[[HI]] : i32
// CHECK:               arith.remui %[[FLAT]], %[[HEADS]] : i32
// CHECK:               arith.divui %[[FLAT]], %[[HEADS]] : i32
// CHECK:               %[[RANK:[0-9]+]] = arith.divui %[[R]], %[[WIDTH]] : i32
// CHECK:               %[[QLAST:[0-9]+]] = arith.subi %[[QT]], %c1_i32
// CHECK:               arith.subi %[[QLAST]], %[[RANK]] : i32
// CHECK:               llvm.store volatile
// The units past the end: nothing, the loop's values unchanged.
// CHECK:               scf.yield %[[L]], %[[D]] : i32, i32
// CHECK:         nvvm.setmaxregister  increase 216
// CHECK:         scf.while
// CHECK:       gpu.return
func.func @causal_d64(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>, %o: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) outs(%o : tensor<?x?x?x64xbf16>) causal = <bottom_right> -> tensor<?x?x?x64xbf16>
  return %0 : tensor<?x?x?x64xbf16>
}

// -----

// A causal mask at D = 128: beside the 64-register producer of the masked
// order above, the consumers would be 7 registers short of their
// fragments. The mask is one comparison of the key with a bound of the
// row (key-bound): the producer finds each tile's key blocks with 56
// registers, the consumers keep 224 (1 to spare) and the overlapped
// softmax, and the tiles go in pairs: a unit is the n-th query tile from
// the end and the n-th from the start of one head (ceil(tiles / 2) units a
// head), two steps of the loop (steps = 2 x waves); the first step runs
// the tile from the end, the second the one from the start unless it is
// the same tile (the middle one of an odd count).
// CHECK-LABEL: func.func @causal_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true,
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK:           %[[TILES:[0-9]+]] = arith.ceildivui %{{.*}}, %c128{{.*}} : index
// CHECK:           %[[QT:[0-9]+]] = arith.index_castui %[[TILES]] : index to i32
// CHECK:           %[[HEADS:[0-9]+]] = arith.index_castui %dim{{.*}} : index to i32
// CHECK:           %[[BATCHES:[0-9]+]] = arith.index_castui %dim{{.*}} : index to i32
// CHECK:           %[[ALL:[0-9]+]] = arith.muli %[[HEADS]], %[[BATCHES]] : i32
// CHECK:           %[[SECTION:[0-9]+]] = arith.minui %{{.*}}, %[[ALL]] : i32
// CHECK:           %[[HU:[0-9]+]] = arith.ceildivui %[[QT]], %c2_i32 : i32
// CHECK:           %[[UNITS:[0-9]+]] = arith.muli %[[HU]], %[[ALL]] : i32
// CHECK:           %[[SUNITS:[0-9]+]] = arith.muli %[[SECTION]], %[[HU]] : i32
// CHECK:           %[[WAVES:[0-9]+]] = arith.ceildivui %[[UNITS]], %[[STRIDE:[0-9]+]] : i32
// CHECK:           %[[STEPS:[0-9]+]] = arith.muli %[[WAVES]], %c2_i32{{.*}} : i32
// CHECK:           scf.for %[[STEP:[a-z0-9]+]] = %{{.*}} to %[[STEPS]] step %{{.*}} iter_args(%[[L:[a-z0-9]+]] = %{{.*}}, %[[D:[a-z0-9]+]] = %{{.*}}) -> (i32, i32)  : i32 {
// CHECK:             %[[WAVE:[0-9]+]] = arith.divui %[[STEP]], %c2_i32{{.*}} : i32
// CHECK:             %[[ODD:[0-9]+]] = arith.trunci %[[WAVE]] : i32 to i1
// CHECK:             %[[POS:[0-9]+]] = arith.select %[[ODD]], %{{.*}}, %{{.*}} : i32
// CHECK:             %[[BASE:[0-9]+]] = arith.muli %[[WAVE]], %[[STRIDE]] : i32
// CHECK:             %[[UNIT:[0-9]+]] = arith.addi %[[BASE]], %[[POS]] : i32
// CHECK:             %[[IN:[0-9]+]] = arith.cmpi ult, %[[UNIT]], %[[UNITS]] : i32
// CHECK:             %[[R:[0-9]+]] = arith.remui %[[UNIT]], %[[SUNITS]] : i32
// CHECK:             %[[WIDTH:[0-9]+]] = arith.minui %[[SECTION]], %{{.*}} : i32
// CHECK:             %[[NONZERO:[0-9]+]] = arith.maxui %[[WIDTH]], %c1_i32{{.*}} : i32
// CHECK:             %[[RANK:[0-9]+]] = arith.divui %[[R]], %[[NONZERO]] : i32
// CHECK:             %[[QLAST:[0-9]+]] = arith.subi %[[QT]], %c1_i32{{.*}} : i32
// CHECK:             %[[FROMEND:[0-9]+]] = arith.subi %[[QLAST]], %[[RANK]] : i32
// CHECK:             %[[HALF:[0-9]+]] = arith.remui %[[STEP]], %c2_i32{{.*}} : i32
// CHECK:             %[[SECOND:[0-9]+]] = arith.trunci %[[HALF]] : i32 to i1
// CHECK:             %[[FIRSTOF:[0-9]+]] = arith.xori %[[SECOND]], %true : i1
// CHECK:             %[[DISTINCT:[0-9]+]] = arith.cmpi ult, %[[RANK]], %[[FROMEND]] : i32
// CHECK:             %[[RUNS:[0-9]+]] = arith.ori %[[FIRSTOF]], %[[DISTINCT]] : i1
// CHECK:             %[[LIVE:[0-9]+]] = arith.andi %[[IN]], %[[RUNS]] : i1
// CHECK:             scf.if %[[LIVE]] -> (i32, i32) {
// CHECK:               arith.select %[[SECOND]], %[[RANK]], %[[FROMEND]] : i32
// CHECK:               llvm.store volatile
// CHECK:               scf.yield %[[L]], %[[D]] : i32, i32
// CHECK:         nvvm.setmaxregister  increase 224
// CHECK:         scf.while
// CHECK:       gpu.return
func.func @causal_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>) causal = <top_left> -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// Key-bound is read from the IR, not from the causal attribute: a mask_mod
// that keeps the keys up to twice the query index loops in pairs.
// CHECK-LABEL: func.func @key_bound_mask_mod_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true,
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK:         arith.ceildivui %{{.*}}, %c2_i32 : i32
// CHECK:         nvvm.setmaxregister  increase 224
func.func @key_bound_mask_mod_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %two = arith.constant 2 : index
        %bound = arith.muli %q_idx, %two : index
        %in = arith.cmpi ule, %kv_idx, %bound : index
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// A band mask (a sliding window: the key bounded from below and above by
// the row) at D = 128 loops in pairs (a 56-register producer, the
// overlapped softmax's 224 registers), a head's pairs side by side: the
// unit's head and pair rank come from dividing it by the pairs per head,
// with no L2 sections (no max/min of the heads that fit).
// CHECK-LABEL: func.func @window_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK-NOT:     arith.maxui
// CHECK:         %[[PAIRS:.*]] = arith.ceildivui %{{.*}}, %c2_i32 : i32
// CHECK-NOT:     arith.maxui
// CHECK:         scf.for
// CHECK:         arith.divui %[[UNIT:.*]], %[[PAIRS]] : i32
// CHECK-NEXT:    arith.remui %[[UNIT]], %[[PAIRS]] : i32
// CHECK:         nvvm.setmaxregister  increase 224
func.func @window_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 256 : index
        %lo = arith.subi %q_idx, %w : index
        %after = arith.cmpi sgt, %kv_idx, %lo : index
        %past = arith.cmpi sle, %kv_idx, %q_idx : index
        %in = arith.andi %after, %past : i1
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// A symmetric band (not causal), one bound an unsigned comparison, the row
// on the left of both, next to a condition on the batch: a band too.
// CHECK-LABEL: func.func @symmetric_band_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK-NOT:     arith.maxui
// CHECK:         %[[PAIRS:.*]] = arith.ceildivui %{{.*}}, %c2_i32 : i32
// CHECK:         scf.for
// CHECK:         arith.divui %[[UNIT:.*]], %[[PAIRS]] : i32
// CHECK-NEXT:    arith.remui %[[UNIT]], %[[PAIRS]] : i32
// CHECK:         nvvm.setmaxregister  increase 224
func.func @symmetric_band_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 128 : index
        %hi = arith.addi %q_idx, %w : index
        %lo = arith.subi %q_idx, %w : index
        %below = arith.cmpi uge, %hi, %kv_idx : index
        %above = arith.cmpi sle, %lo, %kv_idx : index
        %c1 = arith.constant 1 : index
        %batch = arith.cmpi ult, %b, %c1 : index
        %band = arith.andi %below, %above : i1
        %in = arith.andi %band, %batch : i1
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// A window written as FlexAttention writes it, `q - kv <= W && kv <= q`:
// the difference bounds the key from below; a band.
// CHECK-LABEL: func.func @difference_window_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK-NOT:     arith.maxui
// CHECK:         %[[PAIRS:.*]] = arith.ceildivui %{{.*}}, %c2_i32 : i32
// CHECK:         scf.for
// CHECK:         arith.divui %[[UNIT:.*]], %[[PAIRS]] : i32
// CHECK-NEXT:    arith.remui %[[UNIT]], %[[PAIRS]] : i32
// CHECK:         nvvm.setmaxregister  increase 224
func.func @difference_window_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 256 : index
        %d = arith.subi %q_idx, %kv_idx : index
        %near = arith.cmpi sle, %d, %w : index
        %past = arith.cmpi sle, %kv_idx, %q_idx : index
        %in = arith.andi %near, %past : i1
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// One unsigned comparison of the difference, `q - kv <u W`: it also asks
// `q - kv >= 0`, a band.
// CHECK-LABEL: func.func @unsigned_difference_band_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK-NOT:     arith.maxui
// CHECK:         %[[PAIRS:.*]] = arith.ceildivui %{{.*}}, %c2_i32 : i32
// CHECK:         scf.for
// CHECK:         arith.divui %[[UNIT:.*]], %[[PAIRS]] : i32
// CHECK-NEXT:    arith.remui %[[UNIT]], %[[PAIRS]] : i32
// CHECK:         nvvm.setmaxregister  increase 224
func.func @unsigned_difference_band_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 64 : index
        %d = arith.subi %q_idx, %kv_idx : index
        %in = arith.cmpi ult, %d, %w : index
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// Causal as a difference, `q - kv >= 0`: one bound, pairs in L2 sections.
// CHECK-LABEL: func.func @causal_difference_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK:         arith.maxui
// CHECK:         arith.ceildivui %{{.*}}, %c2_i32 : i32
// CHECK:         scf.for
func.func @causal_difference_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %c0 = arith.constant 0 : index
        %d = arith.subi %q_idx, %kv_idx : index
        %in = arith.cmpi sge, %d, %c0 : index
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// `q - kv >u W` also holds for every key past the row (a negative
// difference): no bound, one tile per block.
// CHECK-LABEL: func.func @unsigned_difference_above_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:         nvvm.setmaxregister  decrease 24
func.func @unsigned_difference_above_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 64 : index
        %d = arith.subi %q_idx, %kv_idx : index
        %in = arith.cmpi ugt, %d, %w : index
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// A window beside a conjunct that varies with the key but bounds it from
// neither side (a dilated window): not a band (its softmax spilled 1856
// bytes beside the looping producer), one tile per block.
// CHECK-LABEL: func.func @dilated_window_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:         nvvm.setmaxregister  decrease 24
func.func @dilated_window_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 256 : index
        %c3 = arith.constant 3 : index
        %c0 = arith.constant 0 : index
        %lo = arith.subi %q_idx, %w : index
        %after = arith.cmpi sgt, %kv_idx, %lo : index
        %past = arith.cmpi sle, %kv_idx, %q_idx : index
        %d = arith.subi %q_idx, %kv_idx : index
        %r = arith.remui %d, %c3 : index
        %skip = arith.cmpi ne, %r, %c0 : index
        %band = arith.andi %after, %past : i1
        %in = arith.andi %band, %skip : i1
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// A key bounded from below only (a window without the causal bound) is one
// key-against-row bound: pairs in L2 sections, as causal.
// CHECK-LABEL: func.func @lower_bound_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK:         arith.maxui
// CHECK:         arith.ceildivui %{{.*}}, %c2_i32 : i32
// CHECK:         scf.for
// CHECK:         nvvm.setmaxregister  increase 224
func.func @lower_bound_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 256 : index
        %lo = arith.subi %q_idx, %w : index
        %after = arith.cmpi sgt, %kv_idx, %lo : index
        fa.yield %after : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// Other masks that are not one key-against-row bound keep one tile per
// block at D = 128 (beside a 56-register producer they spilled): a
// comparison of the sum of both indices, an equality (the diagonal: 144
// bytes of spills one tile per block, 248 in pairs), and a causal mask
// beside a score_mod that loads captures per key (a bias table read at
// each distance: 8-40 bytes in pairs).
// CHECK-LABEL: func.func @anti_diagonal_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:         nvvm.setmaxregister  decrease 24
func.func @anti_diagonal_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %n = arith.constant 1000 : index
        %sum = arith.addi %q_idx, %kv_idx : index
        %in = arith.cmpi ult, %sum, %n : index
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// A remainder of the key is no bound of it, whatever it is compared with
// (the key-bound and band classifications accept only the body's indices
// and the key loop's induction variable, through sums, differences, casts
// and products with constants).
// CHECK-LABEL: func.func @key_remainder_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:         nvvm.setmaxregister  decrease 24
func.func @key_remainder_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %c3 = arith.constant 3 : index
        %r = arith.remsi %kv_idx, %c3 : index
        %in = arith.cmpi slt, %r, %q_idx : index
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// A window beside ALiBi keeps one tile per block (in head pairs it
// spilled 64-84 bytes).
// CHECK-LABEL: func.func @window_alibi_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:         nvvm.setmaxregister  decrease 24
func.func @window_alibi_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>, %slopes: tensor<?xf32>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      captures(%slopes : tensor<?xf32>) causal = <bottom_right>
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index, %cap0: tensor<?xf32>):
        %slope = tensor.extract %cap0[%h] : tensor<?xf32>
        %d = arith.subi %kv_idx, %q_idx : index
        %di = arith.index_cast %d : index to i64
        %df = arith.sitofp %di : i64 to f32
        %bias = arith.mulf %slope, %df fastmath<contract> : f32
        %r = arith.addf %score, %bias fastmath<contract> : f32
        fa.yield %r : f32
      }
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index, %cap0: tensor<?xf32>):
        %w = arith.constant 256 : index
        %lo = arith.subi %q_idx, %w : index
        %after = arith.cmpi sgt, %kv_idx, %lo : index
        fa.yield %after : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// CHECK-LABEL: func.func @diagonal_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:         nvvm.setmaxregister  decrease 24
func.func @diagonal_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %in = arith.cmpi eq, %kv_idx, %q_idx : index
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// CHECK-LABEL: func.func @relative_bias_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:         nvvm.setmaxregister  decrease 24
func.func @relative_bias_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>, %table: tensor<?xf32>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      captures(%table : tensor<?xf32>) causal = <top_left>
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index, %cap0: tensor<?xf32>):
        %m = arith.constant 128 : index
        %d = arith.subi %kv_idx, %q_idx : index
        %lo = arith.constant -128 : index
        %c = arith.maxsi %d, %lo : index
        %i = arith.addi %c, %m : index
        %bias = tensor.extract %cap0[%i] : tensor<?xf32>
        %r = arith.addf %score, %bias : f32
        fa.yield %r : f32
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// A causal mask beside ALiBi (its slope loads once per tile) loops in
// pairs. Each key block's scores body is cloned into the branch of a whole
// block and into that of a masked one; the float conversions of the
// distances start from a move that names the branch's block, so that LLVM
// does not hoist the per-element integer additions of both branches above
// them (80 bytes of spills in pairs, ptxas -v).
// CHECK-LABEL: func.func @causal_alibi_d128
// CHECK:       gpu.func @fa_attention_bf16_d128_bm128_bn128_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-SAME:    persistent = true,
// CHECK:         nvvm.setmaxregister  decrease 56
// CHECK:         nvvm.setmaxregister  increase 224
// CHECK:           scf.if
// CHECK:             llvm.inline_asm "mov.b32 $0, $1; // block [[#WHOLE:]]", "=r,r"
// CHECK-NOT:         llvm.inline_asm "mov.b32 $0, $1; // block [[#WHOLE]]"
// CHECK:           } else {
// CHECK:             llvm.inline_asm "mov.b32 $0, $1; // block [[#WHOLE+1]]", "=r,r"
func.func @causal_alibi_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>, %slopes: tensor<?xf32>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      captures(%slopes : tensor<?xf32>) causal = <top_left>
      score_mod {
      ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index, %cap0: tensor<?xf32>):
        %slope = tensor.extract %cap0[%h] : tensor<?xf32>
        %d = arith.subi %kv_idx, %q_idx : index
        %di = arith.index_cast %d : index to i64
        %df = arith.sitofp %di : i64 to f32
        %bias = arith.mulf %slope, %df fastmath<contract> : f32
        %r = arith.addf %score, %bias fastmath<contract> : f32
        fa.yield %r : f32
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// D = 192 under a causal mask keeps one tile per block (in pairs it ran
// level on the H100), as does D = 256 (its fragments do not fit beside a
// looping producer).
// CHECK-LABEL: func.func @causal_d192
// CHECK:       gpu.func @fa_attention_bf16_d192_bm128_bn64_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:         nvvm.setmaxregister  decrease 24
func.func @causal_d192(%q: tensor<?x?x?x192xbf16>, %k: tensor<?x?x?x192xbf16>, %v: tensor<?x?x?x192xbf16>, %o: tensor<?x?x?x192xbf16>) -> tensor<?x?x?x192xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x192xbf16>, tensor<?x?x?x192xbf16>, tensor<?x?x?x192xbf16>) outs(%o : tensor<?x?x?x192xbf16>) causal = <bottom_right> -> tensor<?x?x?x192xbf16>
  return %0 : tensor<?x?x?x192xbf16>
}

// -----

// CHECK-LABEL: func.func @causal_d256
// CHECK:       gpu.func @fa_attention_bf16_d256_bm128_bn64_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:         nvvm.setmaxregister  decrease 24
func.func @causal_d256(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x256xbf16>, %o: tensor<?x?x?x256xbf16>) -> tensor<?x?x?x256xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>) outs(%o : tensor<?x?x?x256xbf16>) causal = <top_left> -> tensor<?x?x?x256xbf16>
  return %0 : tensor<?x?x?x256xbf16>
}

// -----

// D = 256: the consumers have 1 register to spare beyond their fragments,
// none for the loop over tiles: one tile per block.
// CHECK-LABEL: func.func @plain_d256
// CHECK:       gpu.func @fa_attention_bf16_d256_bm128_bn64_wg2_s2_wgmma_{{[0-9a-f]+}}(
// CHECK-NOT:     persistent
// CHECK-SAME:    kernel
// CHECK:       gpu.return
func.func @plain_d256(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x256xbf16>, %o: tensor<?x?x?x256xbf16>) -> tensor<?x?x?x256xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>) outs(%o : tensor<?x?x?x256xbf16>) -> tensor<?x?x?x256xbf16>
  return %0 : tensor<?x?x?x256xbf16>
}
