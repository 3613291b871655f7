// Block classification (IntervalEmitter) of masks that compute in integer
// types other than index: what a block may hold is evaluated as intervals
// of the mask's own types, and a block is skipped or run unmasked only
// where every pair of it is invisible or visible.
// RUN: fa-opt %s -split-input-file --fa-tile-attention --fa-fuse-online-softmax --fa-lower-to-gpu | FileCheck %s
// RUN: fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws" | FileCheck %s

// Zero extension of a possibly negative i16 gives [0, 65535] in i32 (it
// gave [0, -1]: no pair visible and none hidden, so blocks wholly in the
// future ran unmasked).
// CHECK-LABEL: func.func @extui_window
// CHECK-LABEL: gpu.module @fa_attention
// CHECK-NOT: arith.constant -1 : i32
// CHECK: %[[MAX:.*]] = arith.constant 65535 : i32
// CHECK-NEXT: arith.select %{{.*}}, %{{.*}}, %[[MAX]] : i32
func.func @extui_window(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>, %v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>) -> tensor<?x?x?x64xf16> {
  %out = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>) outs(%o : tensor<?x?x?x64xf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %d = arith.subi %q_idx, %kv_idx : index
        %d16 = arith.index_cast %d : index to i16
        %u = arith.extui %d16 : i16 to i32
        %w = arith.constant 64 : i32
        %keep = arith.cmpi slt, %u, %w : i32
        fa.yield %keep : i1
      } -> tensor<?x?x?x64xf16>
  return %out : tensor<?x?x?x64xf16>
}

// -----

// index_castui to i32 truncates, as index_cast does: the interval of the
// difference when it fits i32, else all of i32 (it was taken for a zero
// extension to [0, -1]).
// CHECK-LABEL: func.func @castui_window
// CHECK-LABEL: gpu.module @fa_attention
// CHECK-NOT: arith.constant -1 : i32
// CHECK: arith.constant -2147483648 : i32
func.func @castui_window(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>, %v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>) -> tensor<?x?x?x64xf16> {
  %out = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>) outs(%o : tensor<?x?x?x64xf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %d = arith.subi %q_idx, %kv_idx : index
        %di = arith.index_castui %d : index to i32
        %w = arith.constant 64 : i32
        %keep = arith.cmpi ult, %di, %w : i32
        fa.yield %keep : i1
      } -> tensor<?x?x?x64xf16>
  return %out : tensor<?x?x?x64xf16>
}

// -----

// Positions in i8 wrap at 128: the bounds of q - kv are checked for
// wrapping (sign tests with xori), and a block whose bounds wrapped is
// evaluated per pair instead of skipped (key 129 is visible to query 0).
// CHECK-LABEL: func.func @i8_positions
// CHECK-LABEL: gpu.module @fa_attention
// CHECK: arith.subi %{{.*}}, %{{.*}} : i8
// CHECK: arith.xori %{{.*}}, %{{.*}} : i8
func.func @i8_positions(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x64xf16>, %v: tensor<?x?x?x64xf16>, %o: tensor<?x?x?x64xf16>) -> tensor<?x?x?x64xf16> {
  %out = fa.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>) outs(%o : tensor<?x?x?x64xf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %q8 = arith.index_cast %q_idx : index to i8
        %k8 = arith.index_cast %kv_idx : index to i8
        %d = arith.subi %q8, %k8 : i8
        %z = arith.constant 0 : i8
        %keep = arith.cmpi sge, %d, %z : i8
        fa.yield %keep : i1
      } -> tensor<?x?x?x64xf16>
  return %out : tensor<?x?x?x64xf16>
}
