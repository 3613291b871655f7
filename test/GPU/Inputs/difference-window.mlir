func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 300 : index
        %d = arith.subi %q_idx, %kv_idx : index
        %near = arith.cmpi sle, %d, %w : index
        %past = arith.cmpi sle, %kv_idx, %q_idx : index
        %in = arith.andi %near, %past : i1
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
