func.func @attention(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>) {
  %out = fa.attention
      ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
      outs(%o : tensor<?x?x?x128xbf16>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %c16 = arith.constant 16 : index
        %c8 = arith.constant 8 : index
        %hw = arith.muli %h, %c16 : index
        %w = arith.addi %hw, %c8 : index
        %lo = arith.subi %q_idx, %w : index
        %a = arith.cmpi sgt, %kv_idx, %lo : index
        %past = arith.cmpi sle, %kv_idx, %q_idx : index
        %in = arith.andi %a, %past : i1
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %out : tensor<?x?x?x128xbf16>
}
