// RUN: fa-opt %s -split-input-file -verify-diagnostics --fa-lower-tensor-map-arguments | FileCheck %s

// The trailing arguments that fa.tensor_maps counts become 128-byte
// by-value grid constants (CUtensorMap); the others keep their attributes
// and the count is dropped.
// CHECK-LABEL: llvm.func @kernel(
// CHECK-SAME:    %arg0: !llvm.ptr {llvm.noalias},
// CHECK-SAME:    %arg1: i64,
// CHECK-SAME:    %arg2: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant},
// CHECK-SAME:    %arg3: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
// CHECK-SAME:    attributes {nvvm.kernel}
// CHECK-NOT:     fa.tensor_maps
llvm.func @kernel(%data: !llvm.ptr {llvm.noalias}, %n: i64, %qmap: !llvm.ptr,
                  %kmap: !llvm.ptr) attributes {nvvm.kernel, fa.tensor_maps = 2 : i64} {
  llvm.return
}

// -----

// Functions without the attribute are left alone.
// CHECK-LABEL: llvm.func @plain(
// CHECK-SAME:    %{{.*}}: !llvm.ptr)
llvm.func @plain(%p: !llvm.ptr) attributes {nvvm.kernel} {
  llvm.return
}

// -----

// A marked argument must be a generic pointer.
// expected-error @below {{tensor-map argument 1 must be a generic !llvm.ptr, not '!llvm.ptr<3>'}}
llvm.func @shared(%a: !llvm.ptr, %b: !llvm.ptr<3>) attributes {nvvm.kernel, fa.tensor_maps = 1 : i64} {
  llvm.return
}

// -----

// A declaration (no body, no block arguments) is marked from its type.
// CHECK-LABEL: llvm.func @declared(!llvm.ptr, !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
llvm.func @declared(%a: !llvm.ptr, %b: !llvm.ptr) attributes {nvvm.kernel, fa.tensor_maps = 1 : i64}
