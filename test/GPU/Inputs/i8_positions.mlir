// A mask computed in integer types other than index (fa-lower-to-gpu-narrow-integers.mlir).
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
