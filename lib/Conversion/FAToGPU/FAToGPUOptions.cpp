//===- FAToGPUOptions.cpp - Options and targets of fa-lower-to-gpu --------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//
//
// The named option values, the chips fa-mlir builds for, and the checks
// of option values that every strategy shares; fa-lower-to-gpu and
// fa-compile's option check report through them alike.
//
//===----------------------------------------------------------------------===//

#include "fa/Conversion/FAToGPU/FAToGPU.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::fa;

std::optional<Persistence> mlir::fa::parsePersistence(StringRef name) {
  return llvm::StringSwitch<std::optional<Persistence>>(name)
      .Case("auto", Persistence::Auto)
      .Case("on", Persistence::On)
      .Case("off", Persistence::Off)
      .Default(std::nullopt);
}

std::optional<Epilogue> mlir::fa::parseEpilogue(StringRef name) {
  return llvm::StringSwitch<std::optional<Epilogue>>(name)
      .Case("auto", Epilogue::Auto)
      .Case("registers", Epilogue::Registers)
      .Case("staged", Epilogue::Staged)
      .Case("tma", Epilogue::Tma)
      .Default(std::nullopt);
}

std::optional<PagedLoads> mlir::fa::parsePagedLoads(StringRef name) {
  return llvm::StringSwitch<std::optional<PagedLoads>>(name)
      .Case("auto", PagedLoads::Auto)
      .Case("tma", PagedLoads::Tma)
      .Case("cp-async", PagedLoads::CpAsync)
      .Default(std::nullopt);
}

ArrayRef<GPUTarget> mlir::fa::getKnownGPUTargets() {
  // Opt-in dynamic shared memory per block (CUDA programming guide, table
  // of compute capabilities).
  static const GPUTarget known[] = {
      {"sm_80", 80, 166912}, {"sm_86", 86, 101376}, {"sm_87", 87, 166912},
      {"sm_89", 89, 101376}, {"sm_90", 90, 232448}, {"sm_90a", 90, 232448}};
  return known;
}

LogicalResult
mlir::fa::verifyHeadDims(StringRef kernel, int64_t headDim,
                         int64_t valueHeadDim,
                         function_ref<InFlightDiagnostic()> emitError) {
  if (headDim == valueHeadDim &&
      llvm::is_contained(getSupportedHeadDims(), headDim))
    return success();
  InFlightDiagnostic diag = emitError();
  diag << kernel << " supports D == Dv in {";
  llvm::interleaveComma(getSupportedHeadDims(), diag);
  diag << "}, got D = " << headDim << ", Dv = " << valueHeadDim;
  return failure();
}

LogicalResult
mlir::fa::verifyExp2Emulation(int64_t exp2Emulation,
                              function_ref<InFlightDiagnostic()> emitError) {
  if (exp2Emulation >= 0 && exp2Emulation <= kExp2EmulationPeriod)
    return success();
  emitError() << "exp2-emulation must be in [0, " << kExp2EmulationPeriod
              << "] (exponentials of every " << kExp2EmulationPeriod
              << " computed on the FMA pipe), got " << exp2Emulation;
  return failure();
}

FailureOr<GPUTarget>
mlir::fa::parseGPUTarget(StringRef chip,
                         function_ref<InFlightDiagnostic()> emitError) {
  if (const GPUTarget *target = lookupGPUTarget(chip))
    return *target;
  return emitError() << getUnsupportedChipMessage(chip);
}

const GPUTarget *mlir::fa::lookupGPUTarget(StringRef chip) {
  ArrayRef<GPUTarget> known = getKnownGPUTargets();
  const GPUTarget *target =
      llvm::find_if(known, [&](const GPUTarget &t) { return t.chip == chip; });
  return target == known.end() ? nullptr : target;
}

std::string mlir::fa::getUnsupportedChipMessage(StringRef chip) {
  std::string message;
  llvm::raw_string_ostream os(message);
  os << "unsupported chip '" << chip << "': fa-mlir builds kernels for ";
  llvm::interleaveComma(getKnownGPUTargets(), os,
                        [&](const GPUTarget &t) { os << t.chip; });
  return message;
}
