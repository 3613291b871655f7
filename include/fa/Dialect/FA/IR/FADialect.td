//===- FADialect.td - The fa dialect -----------------------*- tablegen -*-===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#ifndef FA_DIALECT_FA_IR_FADIALECT_TD
#define FA_DIALECT_FA_IR_FADIALECT_TD

include "mlir/IR/OpBase.td"

def FA_Dialect : Dialect {
  let name = "fa";
  let cppNamespace = "::mlir::fa";
  let summary = "Attention at the level of an ML compiler";
  let description = [{
    The `fa` dialect holds scaled dot-product attention as one op,
    `fa.attention`, with tensor semantics. It is the entry point of the
    fa-mlir pipeline, which lowers it through tiling, online-softmax fusion
    and a tensor-core GPU mapping down to NVVM, PTX and cubin.

    The op is meant to be emitted by an ML compiler (or written by hand): it
    carries everything that changes the kernel (shapes, element types, the
    softmax scale, the causal mask and its alignment, grouped-query heads, the
    optional log-sum-exp output) and nothing about how it is computed.
  }];
  // The ops the score_mod / mask_mod regions of fa.attention may hold.
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
  let useDefaultAttributePrinterParser = 1;
  // The fa.* attributes of tiled IR (TileAttributes.h).
  let hasOperationAttrVerify = 1;
}

class FA_Op<string mnemonic, list<Trait> traits = []>
    : Op<FA_Dialect, mnemonic, traits>;

#endif // FA_DIALECT_FA_IR_FADIALECT_TD
