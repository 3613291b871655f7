//===- CAPI.cpp - fa-mlir C API -------------------------------------------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "fa-c/FA.h"

#include "fa/Conversion/FAToGPU/FAToGPU.h"
#include "fa/Pipelines/KernelArtifacts.h"
#include "fa/Registration.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

using namespace mlir;

namespace {
thread_local std::string lastError;

/// Collects the diagnostics of one call into lastError.
class ErrorCollector {
public:
  explicit ErrorCollector(MLIRContext &context)
      : handler(&context, [this](Diagnostic &diag) {
          if (diag.getSeverity() != DiagnosticSeverity::Error)
            return success();
          llvm::raw_string_ostream os(messages);
          if (!messages.empty())
            os << "\n";
          os << diag.getLocation() << ": error: " << diag;
          for (Diagnostic &note : diag.getNotes())
            os << "\n" << note.getLocation() << ": note: " << note;
          return success();
        }) {
    lastError.clear();
  }
  /// Records the collected diagnostics (or `fallback`) as the last error.
  void fail(StringRef fallback) {
    lastError = messages.empty() ? fallback.str() : messages;
  }

private:
  std::string messages;
  ScopedDiagnosticHandler handler;
};

} // namespace

struct FAContext {
  MLIRContext context;
  explicit FAContext(const DialectRegistry &registry) : context(registry) {
    context.loadAllAvailableDialects();
    // Diagnostics carry their location, not a dump of the op they are about
    // (FAError messages stay readable).
    context.printOpOnDiagnostic(false);
  }
};

struct FAModule {
  FAContext *context;
  OwningOpRef<ModuleOp> module;
  std::string printed;
};

struct FACompiled {
  std::vector<fa::KernelArtifacts> kernels;
};

/// A compile option's default as JSON.
template <typename T> static llvm::json::Value optionValue(const T &value) {
  return value;
}
/// What values an option of each type takes, for the options of
/// faGetTargetInfo: "int" (int64), "uint" (unsigned), "bool", "string", or
/// "enum" (one of "values").
static StringRef optionKind(int64_t) { return "int"; }
static StringRef optionKind(unsigned) { return "uint"; }
static StringRef optionKind(bool) { return "bool"; }
static StringRef optionKind(const std::string &) { return "string"; }

/// The names an enum option's parser takes.
template <typename OptionT>
static llvm::json::Array optionValues(OptionT &option) {
  llvm::json::Array values;
  auto &parser = option.getParser();
  for (unsigned i = 0, e = parser.getNumOptions(); i < e; ++i)
    values.push_back(parser.getOption(i).str());
  return values;
}

/// An enum option's value, by the name its parser gives it.
template <typename OptionT>
static llvm::json::Value enumOptionName(OptionT &option) {
  if (std::optional<StringRef> name =
          option.getParser().findArgStrForValue(option.getValue()))
    return name->str();
  return nullptr;
}

/// The problem with `value` for option `flag`, or "": integers, booleans
/// and enum names are checked here, because the option parser prints its
/// reason for them to stderr instead of returning it.
template <typename OptionT>
static std::string checkOptionValue(StringRef flag, StringRef value,
                                    OptionT &option) {
  using T = std::decay_t<decltype(option.getValue())>;
  std::string bad = "invalid value '" + value.str() + "' of " + flag.str();
  if constexpr (std::is_same_v<T, int64_t>) {
    int64_t unused;
    if (value.getAsInteger(10, unused))
      return bad + ": a 64-bit integer";
  } else if constexpr (std::is_same_v<T, unsigned>) {
    unsigned unused;
    if (value.getAsInteger(10, unused))
      return bad + ": an unsigned 32-bit integer";
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!llvm::is_contained(
            {"", "true", "TRUE", "True", "1", "false", "FALSE", "False", "0"},
            value))
      return bad + ": true or false";
  } else if constexpr (std::is_enum_v<T>) {
    auto &parser = option.getParser();
    std::string names;
    for (unsigned i = 0, e = parser.getNumOptions(); i < e; ++i) {
      if (parser.getOption(i) == value)
        return "";
      names += (i ? ", " : "") + parser.getOption(i).str();
    }
    return bad + ": one of " + names;
  }
  return "";
}

/// The first option of `options` ("key=value ...", values quoted or in
/// braces where they hold spaces) whose value checkOptionValue refuses,
/// or "".
static std::string checkOptionValues(StringRef options) {
  fa::FACompileOptions defaults;
  SmallVector<StringRef> tokens;
  size_t start = 0;
  int depth = 0;
  bool quoted = false;
  for (size_t i = 0; i <= options.size(); ++i) {
    char c = i < options.size() ? options[i] : ' ';
    if (c == '"')
      quoted = !quoted;
    else if (!quoted && c == '{')
      ++depth;
    else if (!quoted && c == '}')
      --depth;
    else if (!quoted && depth <= 0 && c == ' ') {
      if (i > start)
        tokens.push_back(options.slice(start, i));
      start = i + 1;
    }
  }
  for (StringRef token : tokens) {
    auto [key, value] = token.split('=');
    std::string problem;
#define FA_COMPILE_OPTION(TYPE, MEMBER, FLAG, HELP, DEFAULT)                   \
  if (key == FLAG)                                                             \
    problem = checkOptionValue(FLAG, value, defaults.MEMBER);
#include "fa/Pipelines/FACompileOptions.def"
    if (!problem.empty())
      return problem;
  }
  return "";
}

extern "C" {

const char *faGetVersion(void) {
  static const std::string version = fa::getFACompilerVersion();
  return version.c_str();
}

const char *faGetLastError(void) { return lastError.c_str(); }

const char *faGetTargetInfo(void) {
  static const std::string info = [] {
    llvm::json::Array chips;
    for (const fa::GPUTarget &target : fa::getKnownGPUTargets()) {
      llvm::json::Array strategies{"mma-sync"};
      if (fa::hasWgmma(target.chip))
        strategies.push_back("hopper-ws");
      chips.push_back(llvm::json::Object{
          {"chip", target.chip},
          {"capability",
           llvm::json::Array{target.smVersion / 10, target.smVersion % 10}},
          {"max_shared_memory_per_block", target.maxSharedMemoryPerBlock},
          {"strategies", std::move(strategies)}});
    }
    llvm::json::Object options;
    fa::FACompileOptions defaults;
#define FA_COMPILE_OPTION(TYPE, MEMBER, FLAG, HELP, DEFAULT)                   \
  options[FLAG] =                                                              \
      llvm::json::Object{{"default", optionValue(defaults.MEMBER.getValue())}, \
                         {"help", HELP},                                       \
                         {"kind", optionKind(defaults.MEMBER.getValue())}};
#define FA_COMPILE_ENUM_OPTION(TYPE, MEMBER, FLAG, HELP, DEFAULT, VALUES)      \
  options[FLAG] =                                                              \
      llvm::json::Object{{"default", enumOptionName(defaults.MEMBER)},         \
                         {"help", HELP},                                       \
                         {"kind", "enum"},                                     \
                         {"values", optionValues(defaults.MEMBER)}};
#include "fa/Pipelines/FACompileOptions.def"
    llvm::json::Object root{
        {"chips", std::move(chips)},
        {"head_dims", llvm::json::Array(fa::getSupportedHeadDims())},
        {"options", std::move(options)}};
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::json::Value(std::move(root));
    return text;
  }();
  return info.c_str();
}

FAContext *faContextCreate(void) {
  static std::once_flag registered;
  std::call_once(registered, [] { fa::registerAllFAPasses(); });
  DialectRegistry registry;
  fa::registerAllFADialects(registry);
  return new FAContext(registry);
}

void faContextDestroy(FAContext *context) { delete context; }

FAModule *faModuleParse(FAContext *context, const char *source) {
  if (!context || !source) {
    lastError = "faModuleParse: null argument";
    return nullptr;
  }
  if (std::string nesting = fa::checkSourceNesting(source); !nesting.empty()) {
    lastError = "input:" + nesting;
    return nullptr;
  }
  ErrorCollector errors(context->context);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(source, &context->context, "input");
  if (!module) {
    errors.fail("cannot parse the module");
    return nullptr;
  }
  return new FAModule{context, std::move(module), {}};
}

void faModuleDestroy(FAModule *module) { delete module; }

const char *faModulePrint(FAModule *module, int generic) {
  if (!module) {
    lastError = "faModulePrint: null module";
    return nullptr;
  }
  module->printed.clear();
  llvm::raw_string_ostream os(module->printed);
  OpPrintingFlags flags;
  if (generic)
    flags.printGenericOpForm();
  module->module->print(os, flags);
  return module->printed.c_str();
}

int faModuleRunPipeline(FAModule *module, const char *pipeline) {
  if (!module || !pipeline) {
    lastError = "faModuleRunPipeline: null argument";
    return 0;
  }
  // The pipeline parser recurses per nesting level too.
  if (std::string nesting = fa::checkSourceNesting(pipeline);
      !nesting.empty()) {
    lastError = "pipeline:" + nesting;
    return 0;
  }
  MLIRContext &context = module->context->context;
  ErrorCollector errors(context);
  // Accept both "builtin.module(p)" and the bare "p" nested in the module.
  StringRef text = StringRef(pipeline).trim();
  if (text.consume_front("builtin.module(") && text.consume_back(")"))
    text = text.trim();
  PassManager pm(&context, ModuleOp::getOperationName());
  std::string parseErrors;
  llvm::raw_string_ostream parseOs(parseErrors);
  if (failed(parsePassPipeline(text, pm, parseOs))) {
    lastError = "invalid pass pipeline '" + std::string(pipeline) +
                "': " + parseErrors;
    return 0;
  }
  if (failed(pm.run(*module->module))) {
    errors.fail("the pass pipeline failed");
    return 0;
  }
  return 1;
}

FACompiled *faCompile(FAContext *context, const char *source,
                      const char *options) {
  if (!context || !source || !options) {
    lastError = "faCompile: null argument";
    return nullptr;
  }
  MLIRContext &ctx = context->context;
  ErrorCollector errors(ctx);
  if (std::string problem = checkOptionValues(options); !problem.empty()) {
    lastError = "invalid fa-compile options: " + problem;
    return nullptr;
  }
  fa::FACompileOptions compileOptions;
  std::string optionErrors;
  llvm::raw_string_ostream optionOs(optionErrors);
  if (failed(compileOptions.parseFromString(options, optionOs))) {
    lastError = "invalid fa-compile options '" + std::string(options) +
                "'" + (optionErrors.empty() ? "" : ": " + optionErrors);
    return nullptr;
  }
  if (std::string nesting = fa::checkSourceNesting(source); !nesting.empty()) {
    lastError = "input:" + nesting;
    return nullptr;
  }
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &ctx,
                                                             "input");
  if (!module) {
    errors.fail("cannot parse the module");
    return nullptr;
  }
  FailureOr<std::vector<fa::KernelArtifacts>> kernels =
      fa::compileAttentionKernels(*module, compileOptions);
  if (failed(kernels)) {
    errors.fail("compilation failed");
    return nullptr;
  }
  return new FACompiled{std::move(*kernels)};
}

void faCompiledDestroy(FACompiled *compiled) { delete compiled; }

int faCompiledGetNumKernels(FACompiled *compiled) {
  return compiled ? static_cast<int>(compiled->kernels.size()) : 0;
}

static const fa::KernelArtifacts *kernelAt(FACompiled *compiled, int index) {
  if (!compiled || index < 0 ||
      index >= static_cast<int>(compiled->kernels.size())) {
    lastError = "kernel index out of range";
    return nullptr;
  }
  return &compiled->kernels[index];
}

const char *faCompiledGetKernelName(FACompiled *compiled, int index) {
  const fa::KernelArtifacts *k = kernelAt(compiled, index);
  return k ? k->kernelName.c_str() : nullptr;
}

const char *faCompiledGetPTX(FACompiled *compiled, int index) {
  const fa::KernelArtifacts *k = kernelAt(compiled, index);
  return k ? k->ptx.c_str() : nullptr;
}

const char *faCompiledGetCubin(FACompiled *compiled, int index, size_t *size) {
  const fa::KernelArtifacts *k = kernelAt(compiled, index);
  if (size)
    *size = k ? k->cubin.size() : 0;
  return k ? k->cubin.data() : nullptr;
}

const char *faCompiledGetMetadata(FACompiled *compiled, int index) {
  const fa::KernelArtifacts *k = kernelAt(compiled, index);
  return k ? k->metadataJson.c_str() : nullptr;
}

} // extern "C"
