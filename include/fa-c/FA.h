/*===- FA.h - fa-mlir C API ------------------------------------*- C -*-===*\
|*                                                                          *|
|* Part of fa-mlir. See README.md for the project overview.                 *|
|*                                                                          *|
|*===----------------------------------------------------------------------===*|
|*                                                                          *|
|* A small C API over the fa-mlir compiler, for ctypes (python/fa_mlir) and *|
|* other foreign callers: parse and print IR, run pass pipelines, compile   *|
|* fa.attention to PTX / cubin / launch metadata. One shared library        *|
|* (libFAMLIRCAPI.so) holds fa-mlir and the MLIR it needs: load exactly one *|
|* copy per process.                                                        *|
|*                                                                          *|
|* Every function that can fail returns 0 / NULL and records a message that *|
|* faGetLastError() returns (per thread). Strings returned as `const char*` *|
|* stay valid until the owning object is destroyed.                         *|
|*                                                                          *|
\*===----------------------------------------------------------------------===*/

#ifndef FA_C_FA_H
#define FA_C_FA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FA_CAPI_BUILD)
#define FA_CAPI_EXPORT __attribute__((visibility("default")))
#else
#define FA_CAPI_EXPORT
#endif

typedef struct FAContext FAContext;     /* an MLIRContext with fa registered */
typedef struct FAModule FAModule;       /* a parsed, verified module */
typedef struct FACompiled FACompiled;   /* the kernels of one compilation */

/* "fa-mlir <version> (MLIR <version>)": part of every cache key. */
FA_CAPI_EXPORT const char *faGetVersion(void);
/* The message of the last failure on this thread ("" if none). */
FA_CAPI_EXPORT const char *faGetLastError(void);
/* What the compiler targets, as JSON: "chips" (each with "chip",
   "capability" [major, minor], "max_shared_memory_per_block" and the
   "strategies" it runs), "head_dims" (D == Dv every strategy builds) and
   "options" (each faCompile option's "default", "help" and "kind": "int"
   (64-bit), "uint" (32-bit unsigned), "bool", "string", or "enum" with its
   "values"). The compiler's own tables: bindings read them instead of
   repeating them. */
FA_CAPI_EXPORT const char *faGetTargetInfo(void);

FA_CAPI_EXPORT FAContext *faContextCreate(void);
FA_CAPI_EXPORT void faContextDestroy(FAContext *context);

/* Parses and verifies `source`; NULL on error (see faGetLastError). */
FA_CAPI_EXPORT FAModule *faModuleParse(FAContext *context, const char *source);
FA_CAPI_EXPORT void faModuleDestroy(FAModule *module);
/* The module as text (generic form when `generic` is nonzero). */
FA_CAPI_EXPORT const char *faModulePrint(FAModule *module, int generic);
/* Runs a textual pass pipeline, e.g. "builtin.module(func.func(
   fa-tile-attention{block-m=64}),fa-fuse-online-softmax)" or the short
   "fa-tile-attention,fa-fuse-online-softmax" form; 1 on success. */
FA_CAPI_EXPORT int faModuleRunPipeline(FAModule *module, const char *pipeline);

/* Compiles every fa.attention of `source` with the fa-compile pipeline.
   `options` is the pipeline's option string, e.g. "chip=sm_90a block-n=64
   format=ptx" ("" for the defaults). NULL on error. */
FA_CAPI_EXPORT FACompiled *faCompile(FAContext *context, const char *source,
                      const char *options);
FA_CAPI_EXPORT void faCompiledDestroy(FACompiled *compiled);
FA_CAPI_EXPORT int faCompiledGetNumKernels(FACompiled *compiled);
FA_CAPI_EXPORT const char *faCompiledGetKernelName(FACompiled *compiled, int index);
FA_CAPI_EXPORT const char *faCompiledGetPTX(FACompiled *compiled, int index);
/* The cubin bytes (size in *size; empty with format=ptx). */
FA_CAPI_EXPORT const char *faCompiledGetCubin(FACompiled *compiled, int index, size_t *size);
/* Launch metadata, the JSON fa-compile writes beside the kernel. */
FA_CAPI_EXPORT const char *faCompiledGetMetadata(FACompiled *compiled, int index);

#ifdef __cplusplus
}
#endif

#endif /* FA_C_FA_H */
