//===- consumer.cpp - An outside compiler embedding fa-mlir ---------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// Builds an fa.attention with the C++ API and the backward op of another
// (fa::buildAttentionBackward, as a compiler that differentiates a graph
// would), parses one from text, runs a pass pipeline given as a string (so
// it goes through the pass registry that registerAllFAPasses filled) and
// prints the modules.
//
//===----------------------------------------------------------------------===//

#include "fa/Dialect/FA/IR/FAOps.h"
#include "fa/Pipelines/Pipelines.h"
#include "fa/Registration.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

int main() {
  fa::registerAllFAPasses();
  DialectRegistry registry;
  fa::registerAllFADialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  // Built through the C++ API: 4 query heads over 1 key/value head.
  OpBuilder builder(&context);
  Location loc = builder.getUnknownLoc();
  auto module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module.getBody());
  Type f16 = builder.getF16Type();
  auto qType = RankedTensorType::get({1, 4, 64, 32}, f16);
  auto kvType = RankedTensorType::get({1, 1, 80, 32}, f16);
  auto fnType =
      builder.getFunctionType({qType, kvType, kvType, qType}, {qType});
  auto fn = func::FuncOp::create(builder, loc, "built", fnType);
  Block *body = fn.addEntryBlock();
  builder.setInsertionPointToEnd(body);
  auto attention = fa::AttentionOp::create(
      builder, loc, body->getArgument(0), body->getArgument(1),
      body->getArgument(2), body->getArgument(3), /*lseOutput=*/Value(),
      /*scale=*/std::nullopt, fa::CausalAlignment::TopLeft);
  func::ReturnOp::create(builder, loc, attention.getResult());
  if (failed(verify(module))) {
    llvm::errs() << "consumer: the built module does not verify\n";
    return 1;
  }
  llvm::outs() << "effective scale: " << attention.getEffectiveScale() << "\n";

  // A forward op without its LSE has no backward op: a diagnostic.
  {
    ScopedDiagnosticHandler handler(&context, [](Diagnostic &diag) {
      llvm::outs() << "no backward: " << diag.str() << "\n";
      return success();
    });
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPoint(body->getTerminator());
    if (succeeded(fa::buildAttentionBackward(builder, attention,
                                             attention.getResult())))
      return 1;
  }

  // The backward op of a softcapped forward that returns its LSE.
  auto lseType = RankedTensorType::get({1, 4, 64}, builder.getF32Type());
  auto trainType = builder.getFunctionType(
      {qType, kvType, kvType, qType, lseType, qType}, {qType, kvType, kvType});
  builder.setInsertionPointToEnd(module.getBody());
  auto train = func::FuncOp::create(builder, loc, "differentiated", trainType);
  Block *trainBody = train.addEntryBlock();
  builder.setInsertionPointToEnd(trainBody);
  ValueRange args = trainBody->getArguments();
  auto forward = fa::AttentionOp::create(
      builder, loc, args[0], args[1], args[2], args[3], args[4],
      /*scale=*/0.25, fa::CausalAlignment::BottomRight);
  forward.buildScoreMod(builder, [](OpBuilder &b, Location l, ValueRange a) {
    return math::TanhOp::create(b, l, a[0]).getResult();
  });
  FailureOr<fa::AttentionBackwardOp> backward =
      fa::buildAttentionBackward(builder, forward, args[5]);
  if (failed(backward))
    return 1;
  func::ReturnOp::create(builder, loc, backward->getResults());
  if (failed(verify(module))) {
    llvm::errs() << "consumer: the differentiated module does not verify\n";
    return 1;
  }
  // A score_mod the compiler cannot differentiate has no backward op: a
  // diagnostic that names the op.
  {
    ScopedDiagnosticHandler handler(&context, [](Diagnostic &diag) {
      llvm::outs() << "not differentiable: " << diag.str() << "\n";
      return success();
    });
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPoint(trainBody->getTerminator());
    auto floored = fa::AttentionOp::create(builder, loc, args[0], args[1],
                                           args[2], args[3], args[4],
                                           /*scale=*/std::nullopt,
                                           /*causal=*/std::nullopt);
    floored.buildScoreMod(builder, [](OpBuilder &b, Location l, ValueRange a) {
      return math::FloorOp::create(b, l, a[0]).getResult();
    });
    bool built =
        succeeded(fa::buildAttentionBackward(builder, floored, args[5]));
    floored.erase();
    if (built)
      return 1;
  }
  // The installed pipeline header (and the option table it includes).
  fa::FACompileOptions compileOptions;
  llvm::outs() << "default strategy: " << compileOptions.strategy.getValue()
               << "\n";

  // Parsed from text, with an LSE nobody reads: canonicalize drops it.
  const char *text = R"mlir(
    func.func @parsed(%q: tensor<1x2x16x16xf32>, %o: tensor<1x2x16x16xf32>,
                      %l: tensor<1x2x16xf32>) -> tensor<1x2x16x16xf32> {
      %0, %1 = fa.attention ins(%q, %q, %q : tensor<1x2x16x16xf32>,
          tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>)
          outs(%o, %l : tensor<1x2x16x16xf32>, tensor<1x2x16xf32>)
          -> tensor<1x2x16x16xf32>, tensor<1x2x16xf32>
      return %0 : tensor<1x2x16x16xf32>
    })mlir";
  OwningOpRef<ModuleOp> parsed = parseSourceString<ModuleOp>(text, &context);
  if (!parsed) {
    llvm::errs() << "consumer: parsing failed\n";
    return 1;
  }
  PassManager pm(&context);
  if (failed(parsePassPipeline("canonicalize,cse", pm)) ||
      failed(pm.run(*parsed))) {
    llvm::errs() << "consumer: the pass pipeline failed\n";
    return 1;
  }
  module.print(llvm::outs());
  parsed->print(llvm::outs());
  module->erase();
  return 0;
}
