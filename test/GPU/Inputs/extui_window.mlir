// A mask computed in integer types other than index (fa-lower-to-gpu-narrow-integers.mlir).
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
