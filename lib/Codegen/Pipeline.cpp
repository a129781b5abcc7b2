//===- Pipeline.cpp - the llmc compilation pipeline -----------------------===//
#include "llmc/Codegen/Pipeline.h"
#include "llmc/Conversion/Passes.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace llmc {

// Order matters: norms, gates and RoPE are raised before attention and
// linear layers so those patterns see the simplified graph.
static const char *kFunctionRaisingPasses =
    "llmc-raise-embedding,llmc-raise-rms-norm,llmc-raise-swiglu,llmc-raise-rotary,"
    "llmc-raise-attention,"
    "llmc-raise-linear";

static void addTextual(OpPassManager &pm, StringRef pipeline) {
  if (failed(parsePassPipeline(pipeline, pm, llvm::errs())))
    llvm::report_fatal_error("llmc: internal pipeline does not parse");
}

void buildRaisingPipeline(OpPassManager &pm, const PipelineOptions &opts) {
  std::string p = "canonicalize,cse";
  if (opts.raise)
    p += std::string(",llmc-raise-kv-cache,func.func(") + kFunctionRaisingPasses +
         "),canonicalize,cse";
  addTextual(pm, p);
}

void buildFrontendPipeline(OpPassManager &pm, const PipelineOptions &opts) {
  buildRaisingPipeline(pm, opts);
  std::string p = std::string("llmc-convert-llm-to-linalg{use-kernels=") +
                  (opts.useKernels ? "true" : "false") + "}";
  p += ",llmc-convert-onnx-to-linalg,canonicalize,cse,llmc-lower-function-abi,"
       "canonicalize,cse";
  addTextual(pm, p);
}

void buildBackendPipeline(OpPassManager &pm, const PipelineOptions &) {
  addTextual(pm,
             "one-shot-bufferize{unknown-type-conversion=identity-layout-map},"
             "canonicalize,llmc-externalize-weights,"
             "ownership-based-buffer-deallocation,canonicalize,"
             "buffer-deallocation-simplification,bufferization-lower-deallocations,"
             "cse,canonicalize,convert-linalg-to-loops,llmc-outline-loop-nests,"
             "expand-strided-metadata,"
             "lower-affine,convert-scf-to-cf,finalize-memref-to-llvm,"
             "convert-math-to-llvm,convert-math-to-libm,convert-arith-to-llvm,"
             "convert-cf-to-llvm,convert-func-to-llvm,convert-index-to-llvm,"
             "reconcile-unrealized-casts");
}

void registerPipelines() {
  PassPipelineRegistration<>(
      "llmc-frontend", "onnx -> llm -> linalg with the memref ABI entry",
      [](OpPassManager &pm) { buildFrontendPipeline(pm, PipelineOptions()); });
  PassPipelineRegistration<>(
      "llmc-backend", "bufferize and lower to the LLVM dialect",
      [](OpPassManager &pm) { buildBackendPipeline(pm, PipelineOptions()); });
}

} // namespace llmc
