// fa-opt reports a diagnostic as its message and location, without the op
// printed in generic form after it (as fa-compile and the C API do);
// --mlir-print-op-on-diagnostic brings the op back.
// RUN: not fa-opt %s 2>&1 | FileCheck %s --implicit-check-not="see current operation"
// RUN: not fa-opt %s --mlir-print-op-on-diagnostic 2>&1 | FileCheck %s --check-prefix=OP

// CHECK: error: 'fa.attention' op expected query to have rank 4 [B, Hq, Nq, D], got rank 3
// OP: error: 'fa.attention' op expected query to have rank 4 [B, Hq, Nq, D], got rank 3
// OP: note: see current operation
func.func @f(%q: tensor<8x128x64xf16>, %k: tensor<2x2x128x64xf16>, %v: tensor<2x2x128x64xf16>, %o: tensor<2x8x128x64xf16>) {
  %r = fa.attention ins(%q, %k, %v : tensor<8x128x64xf16>, tensor<2x2x128x64xf16>, tensor<2x2x128x64xf16>) outs(%o : tensor<2x8x128x64xf16>) -> tensor<2x8x128x64xf16>
  return
}
