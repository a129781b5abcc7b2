//===- Pipeline.cpp - the llmc compilation pipeline -----------------------===//
#include "llmc/Codegen/Pipeline.h"
#include "llmc/Conversion/Passes.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/X86TargetParser.h"

#include <algorithm>

using namespace mlir;

namespace llmc {

// Order matters: norms, gates and RoPE are raised before attention and
// linear layers so those patterns see the simplified graph. The causal-mask
// recognition (after attention) can be switched off for the ablation.
static std::string functionRaisingPasses(const PipelineOptions &opts) {
  return std::string("llmc-raise-embedding,llmc-raise-rms-norm,llmc-raise-swiglu,"
                     "llmc-raise-rotary,llmc-raise-attention,") +
         (opts.enabled("causal-mask") ? "llmc-raise-causal-mask," : "") + "llmc-raise-linear";
}

static void addTextual(OpPassManager &pm, StringRef pipeline) {
  if (failed(parsePassPipeline(pipeline, pm, llvm::errs())))
    llvm::report_fatal_error("llmc: internal pipeline does not parse");
}

int64_t preferredPanelWidth(const std::string &cpu) {
  bool avx512 = false;
  if (cpu == "host") {
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    avx512 = features.lookup("avx512f");
  } else {
    llvm::SmallVector<llvm::StringRef> features;
    llvm::X86::getFeaturesForCPU(cpu, features, /*NeedPlus=*/false);
    avx512 = llvm::is_contained(features, "avx512f");
  }
  return avx512 ? 32 : 16;
}

const std::vector<std::string> &optimizationNames() {
  static const std::vector<std::string> names{"fuse-rms-norm", "fuse-gate-up", "fuse-qkv",
                                              "fuse-epilogue", "pack-weights", "plan-memory",
                                              "fuse-rope", "causal-mask"};
  return names;
}

/// Fusions, then packing (which must see the final, fused weights). The
/// gate/up fusion runs before the horizontal one, which would otherwise
/// merge the two projections without the SwiGLU epilogue.
static std::string optimizationPasses(const PipelineOptions &opts) {
  std::vector<std::string> passes;
  auto add = [&](const char *name) {
    if (opts.enabled(name))
      passes.push_back(std::string("llmc-") + name);
  };
  // Quantization sees the weights without folded RMSNorm gains: a gain
  // scales whole rows of W, so folding first would put rows of very
  // different magnitude into one quantization group (measured on SmolLM2,
  // int4 group 32, first 5 WikiText-2 chunks: PPL 36.5 folded, 29.2 not).
  // The norms of quantized layers then stay separate ops.
  bool quantize = opts.useKernels && (opts.quantBits || opts.instrumentLinears);
  // Pruning runs where quantization does (before the gain folding), so
  // Wanda's input statistics are those of the model's own linear inputs and
  // magnitude sees the stored weights (scoring the gain-folded ones was
  // worse on SmolLM2: 2:4 PPL 25384 vs 3716, docs/Sparsity.md).
  bool prune = opts.useKernels && !opts.sparsityPattern.empty();
  if (!quantize && !prune)
    add("fuse-rms-norm");
  add("fuse-gate-up");
  add("fuse-qkv");
  add("fuse-epilogue");
  add("fuse-rope"); // independent of the linear-layer passes around it
  if (prune) {
    std::string o = "llmc-prune-weights{pattern=" + opts.sparsityPattern +
                    " sparsity=" + std::to_string(opts.sparsity) + " method=" + opts.pruneMethod +
                    " norm-gain=" + (opts.pruneNormGain ? "true" : "false");
    if (!opts.pruneStats.empty())
      o += " stats=\"" + opts.pruneStats + "\"";
    passes.push_back(o + "}");
    if (!quantize)
      add("fuse-rms-norm");
    // Sparse panels: the dense panel width for 2:4 (whole vectors of
    // columns), half of it for unstructured (less padding per panel).
    // With --quantize=int4 the 2:4 layers keep int4 values (before the
    // quantizer, which takes what is left dense: the LM head).
    if (opts.sparseKernels)
      passes.push_back("llmc-pack-sparse-weights{panel=" + std::to_string(opts.panel) +
                       " unstructured-panel=" + std::to_string(std::max<int64_t>(1, opts.panel / 2)) +
                       " bits=" + (quantize && opts.quantBits == 4 ? "4" : "32") + "}");
  }
  if (quantize && opts.instrumentLinears) {
    passes.push_back("llmc-instrument-linears");
    add("fuse-rms-norm");
  } else if (quantize) {
    std::string q = "llmc-quantize-weights{bits=" + std::to_string(opts.quantBits) +
                    " group=" + std::to_string(opts.quantGroup) +
                    " symmetric=" + (opts.quantSymmetric ? "true" : "false") +
                    " panel=" + std::to_string(opts.panel) +
                    " keep-lm-head=" + (opts.quantKeepLmHead ? "true" : "false") +
                    " method=" + opts.quantMethod + " embedding=" + opts.quantEmbedding +
                    " act-order=" + (opts.quantActOrder ? "true" : "false") +
                    " clip-search=" + (opts.quantClipSearch ? "true" : "false") +
                    " act-bits=" + std::to_string(opts.quantActBits);
    if (!opts.quantLmHead.empty())
      q += " lm-head=" + opts.quantLmHead;
    if (!opts.quantCalibration.empty())
      q += " calibration=\"" + opts.quantCalibration + "\"";
    if (!opts.quantReport.empty())
      q += " report=\"" + opts.quantReport + "\"";
    passes.push_back(q + "}");
    add("fuse-rms-norm");
  }
  if (opts.useKernels && opts.enabled("pack-weights"))
    passes.push_back("llmc-pack-weights{panel=" + std::to_string(opts.panel) +
                     " precision=" + opts.precision + "}");
  std::string p;
  for (const std::string &pass : passes)
    p += (p.empty() ? "" : ",") + pass;
  return p;
}

void buildRaisingPipeline(OpPassManager &pm, const PipelineOptions &opts) {
  std::string p = "canonicalize,cse";
  if (opts.raise) {
    p += ",llmc-raise-kv-cache,func.func(" + functionRaisingPasses(opts) + "),canonicalize,cse";
    std::string opt = optimizationPasses(opts);
    if (!opt.empty())
      p += ",func.func(" + opt + "),canonicalize,cse";
    // Before the batch step, whose KV pools take the cache's row type.
    if (opts.kvCache != "f32")
      p += ",llmc-quantize-kv-cache{dtype=" + opts.kvCache + "}";
    // After packing, so @step shares @main's packed weights; before
    // logits-last, which changes @main's head.
    if (opts.batchStep && opts.useKernels)
      p += ",llmc-batch-step";
    if (opts.logitsLast)
      p += ",llmc-logits-last";
    if ((opts.batchStep && opts.useKernels) || opts.logitsLast)
      p += ",canonicalize,cse";
  }
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

void buildBackendPipeline(OpPassManager &pm, const PipelineOptions &opts) {
  addTextual(pm, "one-shot-bufferize{unknown-type-conversion=identity-layout-map},canonicalize");
  if (opts.enabled("plan-memory"))
    // No canonicalize before ownership-based deallocation: it could rebuild
    // an arena's alloc without the manual-deallocation mark (PlanMemory.cpp).
    addTextual(pm, "llmc-plan-memory");
  addTextual(pm,
             "llmc-externalize-weights,"
             "ownership-based-buffer-deallocation,canonicalize,"
             "buffer-deallocation-simplification,bufferization-lower-deallocations,"
             "cse,canonicalize,convert-linalg-to-loops,llmc-outline-loop-nests,"
             "expand-strided-metadata,"
             "lower-affine,convert-scf-to-cf,finalize-memref-to-llvm{use-generic-functions},"
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
