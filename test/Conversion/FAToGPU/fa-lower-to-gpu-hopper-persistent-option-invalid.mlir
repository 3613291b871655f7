// persistent=on for kernels that cannot loop over tiles: one diagnostic
// that says why, and the pass fails.
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws persistent=on" 2>&1 | FileCheck %s
// RUN: not fa-opt %s -split-input-file "--fa-tile-attention=defaults-for=hopper-ws block-n=128" --fa-fuse-online-softmax "--fa-lower-to-gpu=strategy=hopper-ws persistent=on" 2>&1 | FileCheck %s --check-prefix=REGS

// A mask that reads captured data: all the block's warps build its block
// table before the roles split.
// CHECK: error: persistent=on: a mask that reads captured data runs one tile per block (all the block's warps build its block table before the roles split)
func.func @document(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %o: tensor<?x?x?x128xbf16>, %doc: tensor<?x?xi32>) -> tensor<?x?x?x128xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) outs(%o : tensor<?x?x?x128xbf16>)
      captures(%doc : tensor<?x?xi32>)
      mask_mod {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index, %ids: tensor<?x?xi32>):
        %dq = tensor.extract %ids[%b, %q_idx] : tensor<?x?xi32>
        %dk = tensor.extract %ids[%b, %kv_idx] : tensor<?x?xi32>
        %in = arith.cmpi eq, %dq, %dk : i32
        fa.yield %in : i1
      }
      -> tensor<?x?x?x128xbf16>
  return %0 : tensor<?x?x?x128xbf16>
}

// -----

// D = 256 with 128-key blocks: the serial schedule's fragments (64 of S,
// 128 of O) do not fit the 176 registers beside a looping producer.
// (With its default 64-key blocks it loops, in the serial schedule.)
// REGS: error: persistent=on: a consumer thread has 176 registers for its fragments beside a looping producer, and this tile needs 192 (block-m 128, block-n 128, D 256); use persistent=auto or a smaller tile
func.func @plain_d256(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x256xbf16>, %o: tensor<?x?x?x256xbf16>) -> tensor<?x?x?x256xbf16> {
  %0 = fa.attention ins(%q, %k, %v : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>) outs(%o : tensor<?x?x?x256xbf16>) -> tensor<?x?x?x256xbf16>
  return %0 : tensor<?x?x?x256xbf16>
}
