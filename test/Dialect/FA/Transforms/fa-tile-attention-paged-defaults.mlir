// The hopper-ws defaults against a paged cache: a mask that reads
// captures (a document mask) at D = 256 takes 32-key blocks, since the
// consumers' serial schedule beside the producer that walks the visible
// blocks' table holds 161 fragment registers and 64 keys need 176; a
// mask that reads none, or D = 128, keeps the default. Packed queries
// against pages under such a mask take 64-key blocks at D = 128 (128
// spilled 52 bytes under a causal mask, 292 with a causal test inside the
// mask_mod). An explicit block-n wins.
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws block-n=64" | FileCheck %s --check-prefix=EXPLICIT
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws block-n=128" | FileCheck %s --check-prefix=EXPLICIT128

// CHECK-LABEL: func.func @document_d256
// CHECK:         fa.attention_tile = {block_m = 128 : i64, block_n = 32 : i64
// EXPLICIT-LABEL: func.func @document_d256
// EXPLICIT:         fa.attention_tile = {block_m = 128 : i64, block_n = 64 : i64
func.func @document_d256(%q: tensor<?x8x?x256xbf16>, %k: tensor<?x16x2x256xbf16>, %v: tensor<?x16x2x256xbf16>,
    %o: tensor<?x8x?x256xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>, %docs: tensor<?x?xi32>) -> tensor<?x8x?x256xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x256xbf16>, tensor<?x16x2x256xbf16>, tensor<?x16x2x256xbf16>)
      outs(%o : tensor<?x8x?x256xbf16>)
      captures(%docs : tensor<?x?xi32>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index, %ids: tensor<?x?xi32>):
        %di = tensor.extract %ids[%b, %i] : tensor<?x?xi32>
        %dj = tensor.extract %ids[%b, %j] : tensor<?x?xi32>
        %same = arith.cmpi eq, %di, %dj : i32
        fa.yield %same : i1
      }
      -> tensor<?x8x?x256xbf16>
  return %r : tensor<?x8x?x256xbf16>
}

// -----

// A window reads no captures.
// CHECK-LABEL: func.func @window_d256
// CHECK:         fa.attention_tile = {block_m = 128 : i64, block_n = 64 : i64
func.func @window_d256(%q: tensor<?x8x?x256xbf16>, %k: tensor<?x16x2x256xbf16>, %v: tensor<?x16x2x256xbf16>,
    %o: tensor<?x8x?x256xbf16>, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>) -> tensor<?x8x?x256xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x?x256xbf16>, tensor<?x16x2x256xbf16>, tensor<?x16x2x256xbf16>)
      outs(%o : tensor<?x8x?x256xbf16>)
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index):
        %d = arith.subi %i, %j : index
        %c16 = arith.constant 16 : index
        %near = arith.cmpi ult, %d, %c16 : index
        fa.yield %near : i1
      }
      -> tensor<?x8x?x256xbf16>
  return %r : tensor<?x8x?x256xbf16>
}

// -----

// CHECK-LABEL: func.func @document_d128
// CHECK:         fa.attention_tile = {block_m = 128 : i64, block_n = 128 : i64
func.func @document_d128(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
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

// -----

// CHECK-LABEL: func.func @varlen_causal_document_d128
// CHECK:         fa.attention_tile = {block_m = 128 : i64, block_n = 64 : i64
// EXPLICIT128-LABEL: func.func @varlen_causal_document_d128
// EXPLICIT128:         fa.attention_tile = {block_m = 128 : i64, block_n = 128 : i64
func.func @varlen_causal_document_d128(%q: tensor<?x8x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
    %o: tensor<?x8x128xbf16>, %cu_q: tensor<?xi32>, %max_q: index, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>,
    %docs: tensor<?x?xi32>) -> tensor<?x8x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o : tensor<?x8x128xbf16>)
      captures(%docs : tensor<?x?xi32>)
      varlen(%cu_q : tensor<?xi32>) max_seqlen_q = %max_q
      paged(%table, %lengths : tensor<?x?xi32>, tensor<?xi32>)
      causal = <bottom_right>
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index, %ids: tensor<?x?xi32>):
        %di = tensor.extract %ids[%b, %i] : tensor<?x?xi32>
        %dj = tensor.extract %ids[%b, %j] : tensor<?x?xi32>
        %same = arith.cmpi eq, %di, %dj : i32
        fa.yield %same : i1
      }
      -> tensor<?x8x128xbf16>
  return %r : tensor<?x8x128xbf16>
}

// -----

// CHECK-LABEL: func.func @varlen_document_d128
// CHECK:         fa.attention_tile = {block_m = 128 : i64, block_n = 64 : i64
func.func @varlen_document_d128(%q: tensor<?x8x128xbf16>, %k: tensor<?x16x2x128xbf16>, %v: tensor<?x16x2x128xbf16>,
    %o: tensor<?x8x128xbf16>, %cu_q: tensor<?xi32>, %max_q: index, %table: tensor<?x?xi32>, %lengths: tensor<?xi32>,
    %docs: tensor<?x?xi32>) -> tensor<?x8x128xbf16> {
  %r = fa.attention ins(%q, %k, %v : tensor<?x8x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>)
      outs(%o : tensor<?x8x128xbf16>)
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
      -> tensor<?x8x128xbf16>
  return %r : tensor<?x8x128xbf16>
}
