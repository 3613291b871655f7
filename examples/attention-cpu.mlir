// One fa.attention run on the CPU: 2 heads of 4 queries and 4 keys, head
// dimension 4, f32, top-left causal (query i sees keys 0..i), with the
// log-sum-exp. @main builds the inputs, calls @attention and prints O
// [1, 2, 4, 4] and LSE [1, 2, 4].
//
//   build/bin/fa-opt --fa-lower-to-cpu examples/attention-cpu.mlir |
//     /usr/lib/llvm-22/bin/mlir-runner -e main -entry-point-result=void \
//       -shared-libs=/usr/lib/llvm-22/lib/libmlir_c_runner_utils.so,/usr/lib/llvm-22/lib/libmlir_runner_utils.so
//
// (README.md, "Run on the CPU", shows the output.) Rows to check by hand:
// query 0 sees key 0 only, so O[h, 0] = V[h, 0] and LSE[h, 0] = 0.5 q0.k0
// (0.5 and -0.75); in head 1, query 1 scores both its keys 1 (O = the mean
// of V rows 0 and 1, LSE = 1 + ln 2) and query 3 is the zero vector, which
// scores every key 0 (O = the mean of the four V rows, LSE = ln 4).

func.func @attention(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>,
                     %v: tensor<1x2x4x4xf32>, %o: tensor<1x2x4x4xf32>,
                     %lse: tensor<1x2x4xf32>)
    -> (tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) {
  %out, %logsumexp = fa.attention
      ins(%q, %k, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>,
                       tensor<1x2x4x4xf32>)
      outs(%o, %lse : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
      scale = 0.5 causal = <top_left>
      -> tensor<1x2x4x4xf32>, tensor<1x2x4xf32>
  return %out, %logsumexp : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>
}

func.func private @printMemrefF32(tensor<*xf32>)
    attributes {llvm.emit_c_interface}

func.func @main() {
  %q = arith.constant dense<[[[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0],
                               [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]],
                              [[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0],
                               [-2.0, 0.5, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]]]]>
      : tensor<1x2x4x4xf32>
  %k = arith.constant dense<[[[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0],
                               [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
                              [[1.0, 2.0, 0.0, -1.0], [0.0, 0.0, 1.0, 1.0],
                               [2.0, -1.0, 0.5, 0.0], [-1.0, 1.0, 1.0, 0.0]]]]>
      : tensor<1x2x4x4xf32>
  %v = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0],
                               [9.0, 10.0, 11.0, 12.0],
                               [13.0, 14.0, 15.0, 16.0]],
                              [[0.0, 1.0, 0.0, -1.0], [2.0, 0.0, -2.0, 0.0],
                               [1.0, 1.0, 1.0, 1.0], [-3.0, 0.0, 3.0, 0.5]]]]>
      : tensor<1x2x4x4xf32>
  // Destinations: every element is overwritten.
  %o0 = tensor.empty() : tensor<1x2x4x4xf32>
  %lse0 = tensor.empty() : tensor<1x2x4xf32>
  %o, %lse = func.call @attention(%q, %k, %v, %o0, %lse0)
      : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>,
         tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
      -> (tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
  %o_print = tensor.cast %o : tensor<1x2x4x4xf32> to tensor<*xf32>
  func.call @printMemrefF32(%o_print) : (tensor<*xf32>) -> ()
  %lse_print = tensor.cast %lse : tensor<1x2x4xf32> to tensor<*xf32>
  func.call @printMemrefF32(%lse_print) : (tensor<*xf32>) -> ()
  return
}
