// RUN: fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws chip=sm_90a" | FileCheck %s

// An unsigned comparison of positions (never negative) orders them as the
// signed one: each masked score is one i32 comparison of its column's
// constant with the block's bound (TileCloner::getSignedOrder), as `sle`
// compiles; no per-score unsigned index comparison is left.

// CHECK-LABEL: gpu.module
// CHECK-NOT: arith.cmpi ule
// CHECK: arith.cmpi sle, %c0_i32{{[_0-9]*}}, %[[BOUND:[0-9a-z_]+]] : i32
// CHECK-NEXT: arith.select
// CHECK-NOT: arith.cmpi ule
func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %in = arith.cmpi ule, %kv_idx, %q_idx : index
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}

// -----

// A difference of positions can be negative: `(q - kv) ult 64` keeps its
// unsigned comparison per score (a signed one would keep every key after
// the query).

// CHECK-LABEL: gpu.module
// CHECK-NOT: arith.cmpi slt, %c{{[-0-9]+}}_i32
// CHECK: arith.cmpi ult, %{{.*}}, %c64{{.*}} : index
func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 64 : index
        %d = arith.subi %q_idx, %kv_idx : index
        %in = arith.cmpi ult, %d, %w : index
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
