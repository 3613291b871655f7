func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %w = arith.constant 200 : index
        %hi = arith.addi %q_idx, %w : index
        %lo = arith.subi %q_idx, %w : index
        %below = arith.cmpi uge, %hi, %kv_idx : index
        %above = arith.cmpi sle, %lo, %kv_idx : index
        %in = arith.andi %below, %above : i1
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
