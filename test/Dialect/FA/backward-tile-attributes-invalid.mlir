// The contract of the tiled backward pass (fa-tile-attention-backward) is
// verified against the IR it annotates.
// RUN: fa-opt %s -split-input-file -verify-diagnostics

func.func @not_forall(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{'fa.attention_backward_tile' belongs on an scf.forall over (batch, head, tile) or, fused, (batch, key/value head)}}
  scf.for %i = %c0 to %n step %c1 {
  } {fa.attention_backward_tile = {block_m = 64 : i64, block_n = 64 : i64, stage = "query"}}
  return
}

// -----

func.func @bad_stage(%n: index) {
  // expected-error @+1 {{'fa.attention_backward_tile' must be {block_m = M : i64, block_n = N : i64, stage = S} with positive M and N and S one of "delta", "key_value", "query", "fused"}}
  scf.forall (%b, %h, %t) in (1, 2, %n) {
  } {fa.attention_backward_tile = {block_m = 64 : i64, block_n = 64 : i64, stage = "dq"}}
  return
}

// -----

// A key/value tile's first key is the tile index times block_n.
func.func @wrong_block(%n: index) {
  scf.forall (%b, %h, %t) in (1, 2, %n) {
    %c32 = arith.constant 32 : index
    // expected-error @+1 {{uses the key tile index of a backward tile with block_n = 64; expected only 'tile * 64'}}
    %start = arith.muli %t, %c32 : index
  } {fa.attention_backward_tile = {block_m = 32 : i64, block_n = 64 : i64, stage = "key_value"}}
  return
}

// -----

// The query loop of a key/value tile steps by block_m.
func.func @wrong_step(%n: index) {
  scf.forall (%b, %h, %t) in (1, 2, %n) {
    %c0 = arith.constant 0 : index
    %c16 = arith.constant 16 : index
    // expected-error @+1 {{query loop of a backward tile with block_m = 32 must step by 32}}
    scf.for %i = %c0 to %n step %c16 {
    } {fa.backward_loop = "query_blocks"}
  } {fa.attention_backward_tile = {block_m = 32 : i64, block_n = 64 : i64, stage = "key_value"}}
  return
}

// -----

func.func @bad_loop(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{'fa.backward_loop' must be one of "query_heads", "query_blocks", "key_blocks", "key_tiles" on an scf.for}}
  scf.for %i = %c0 to %n step %c1 {
  } {fa.backward_loop = "rows"}
  return
}

// -----

func.func @bad_role(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'fa.role' must name a tile role on a linalg.generic}}
  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} outs(%x : tensor<4xf32>) attrs = {fa.role = "grad_bogus"} {
  ^bb0(%o: f32):
    linalg.yield %o : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// The fused stage is over (batch, key/value head); its key-tile loop steps
// by block_n.
func.func @fused_rank(%n: index) {
  // expected-error @+1 {{a backward tile of stage "fused" belongs on an scf.forall of rank 2}}
  scf.forall (%b, %h, %t) in (1, 2, %n) {
  } {fa.attention_backward_tile = {block_m = 32 : i64, block_n = 64 : i64, stage = "fused"}}
  return
}

// -----

func.func @fused_step(%n: index) {
  scf.forall (%b, %h) in (1, 2) {
    %c0 = arith.constant 0 : index
    %c32 = arith.constant 32 : index
    // expected-error @+1 {{key loop of a backward tile with block_n = 64 must step by 64}}
    scf.for %i = %c0 to %n step %c32 {
    } {fa.backward_loop = "key_tiles"}
  } {fa.attention_backward_tile = {block_m = 32 : i64, block_n = 64 : i64, stage = "fused"}}
  return
}
