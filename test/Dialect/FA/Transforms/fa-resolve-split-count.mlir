// RUN: fa-opt %s "--fa-resolve-split-count=slots=132" --canonicalize | FileCheck %s
// RUN: not fa-opt %s "--fa-resolve-split-count=slots=0" 2>&1 | FileCheck %s --check-prefix=BAD

// The rule of include/fa/Runtime/KVSplits.h: 1 when the tiles fill the
// slots (or there is no tile, or one key block), else min(slots / tiles,
// blocks, max): the parts that fit in one wave.
// CHECK-LABEL: func.func @rule
// CHECK-DAG:     %[[C33:.*]] = arith.constant 33 : index
// CHECK-DAG:     %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG:     %[[C10:.*]] = arith.constant 10 : index
// CHECK-DAG:     %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG:     %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG:     %[[C3:.*]] = arith.constant 3 : index
// CHECK:         return %[[C33]], %[[C1]], %[[C1]], %[[C1]], %[[C10]], %[[C8]], %[[C2]], %[[C1]], %[[C3]]
// BAD: slots must be at least 1, got 0
func.func @rule() -> (index, index, index, index, index, index, index, index, index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c10 = arith.constant 10 : index
  %c66 = arith.constant 66 : index
  %c100 = arith.constant 100 : index
  %c132 = arith.constant 132 : index
  %c200 = arith.constant 200 : index
  %a = fa.split_count %c4, %c100 max = 128
  %b = fa.split_count %c200, %c100 max = 128
  %c = fa.split_count %c4, %c1 max = 128
  %d = fa.split_count %c0, %c100 max = 128
  %e = fa.split_count %c1, %c10 max = 128
  %f = fa.split_count %c1, %c100 max = 8
  %g = fa.split_count %c66, %c100 max = 128
  %h = fa.split_count %c132, %c100 max = 128
  %c40 = arith.constant 40 : index
  %i = fa.split_count %c40, %c100 max = 128
  return %a, %b, %c, %d, %e, %f, %g, %h, %i : index, index, index, index, index, index, index, index, index
}
