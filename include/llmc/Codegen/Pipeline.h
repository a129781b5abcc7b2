//===- Pipeline.h - the llmc compilation pipeline ---------------*- C++ -*-===//
#ifndef LLMC_CODEGEN_PIPELINE_H
#define LLMC_CODEGEN_PIPELINE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

#include <set>
#include <string>
#include <vector>

namespace llmc {

struct PipelineOptions {
  /// Run the raising passes (llm dialect); off = generic lowering only.
  bool raise = true;
  /// Call runtime micro-kernels for llm.linear / llm.attention.
  bool useKernels = true;
  /// llm-level optimizations switched off by name (`llmc compile --disable`):
  /// fuse-rms-norm, fuse-gate-up, fuse-qkv, fuse-epilogue, pack-weights.
  std::set<std::string> disabled;
  /// Element type of packed weights: "f32" or "bf16".
  std::string precision = "f32";
  /// Weight quantization (llmc-quantize-weights): bits 0 = off, 8 or 4.
  int64_t quantBits = 0;
  int64_t quantGroup = 0;
  bool quantSymmetric = true;
  bool quantKeepLmHead = false;
  /// 8: int8 activations on the int8 linears (W8A8); 0: f32 activations.
  int64_t quantActBits = 0;
  /// "rtn", "gptq" or "awq" (both read the statistics file `quantCalibration`);
  /// the LM head's and the embedding table's precision ("" for the head =
  /// like the other layers; "f32", "int8", "int4"); the JSON report file.
  std::string quantMethod = "rtn";
  std::string quantCalibration;
  std::string quantLmHead;
  std::string quantEmbedding = "f32";
  std::string quantReport;
  /// GPTQ variants (llmc-quantize-weights act-order / clip-search).
  bool quantActOrder = true;
  bool quantClipSearch = true;
  /// Instead of quantizing, insert llm.observe before each quantization
  /// candidate (the instrumented first compile of `--calibration`).
  bool instrumentLinears = false;
  /// Pruning (llmc-prune-weights + llmc-pack-sparse-weights): pattern ""
  /// = off, "2:4" or "unstructured" (dropping `sparsity` of each column);
  /// method "magnitude" or "wanda" (input norms from `pruneStats`).
  std::string sparsityPattern;
  double sparsity = 0.5;
  std::string pruneMethod = "magnitude";
  std::string pruneStats;
  /// Compress pruned weights for the sparse kernels (false: keep them in
  /// the dense layout, the same weights on the dense kernels, for A/B runs).
  bool sparseKernels = true;
  /// Magnitude pruning scores the RMSNorm-gain-folded weights (llmc-prune-weights
  /// norm-gain; off by default: docs/Sparsity.md has the measurement).
  bool pruneNormGain = false;
  /// Compute the `logits` output for the last position only.
  bool logitsLast = false;
  /// Element type of the KV cache rows (llmc-quantize-kv-cache): "f32",
  /// "int8" (D codes + a f32 scale per token and KV head) or "bf16".
  std::string kvCache = "f32";
  /// Add the `llmc_step` entry (ragged batch over a paged KV cache) to
  /// decoders with a KV cache (llmc-batch-step; `llmc serve` uses it).
  bool batchStep = true;
  /// Columns per packed weight panel (32 for AVX-512 targets, 16 for AVX2).
  int64_t panel = 32;

  bool enabled(const std::string &name) const { return !disabled.count(name); }
};

/// Packed-weight panel width for a CPU name ("host" = this machine): 32
/// columns (two 512-bit registers) with AVX-512, else 16 (two AVX2 ones).
int64_t preferredPanelWidth(const std::string &cpu);

/// Names accepted by PipelineOptions::disabled, in pipeline order.
const std::vector<std::string> &optimizationNames();

/// onnx dialect -> llm dialect (cleanup, the raising passes and the
/// llm-level fusions and weight packing).
void buildRaisingPipeline(mlir::OpPassManager &pm, const PipelineOptions &opts);
/// onnx dialect -> llm dialect -> linalg/tensor with the memref ABI entry.
void buildFrontendPipeline(mlir::OpPassManager &pm, const PipelineOptions &opts);
/// tensors -> buffers -> LLVM dialect (weights externalized).
void buildBackendPipeline(mlir::OpPassManager &pm, const PipelineOptions &opts);
/// Registers `llmc-frontend` and `llmc-backend` pipelines for llmc-opt.
void registerPipelines();

} // namespace llmc

#endif
