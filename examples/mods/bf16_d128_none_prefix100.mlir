func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %p = arith.constant 100 : index
        %in_prefix = arith.cmpi slt, %kv_idx, %p : index
        %past = arith.cmpi sle, %kv_idx, %q_idx : index
        %keep = arith.ori %in_prefix, %past : i1
        fa.yield %keep : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
