func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
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
  return %out : tensor<?x?x?x128xbf16>
}
