//===- AwqScaling.h - AWQ's per-input scales, folded into the producers -*- C++ -*-===//
//
// For llmc-quantize-weights{method=awq}: before any weight is quantized,
// each linear whose input comes from a place that can absorb a per-input
// factor gets the scales s of include/llmc/Awq.h: its weight rows are
// multiplied by s and the producer divides by s instead, so the function is
// unchanged in exact arithmetic. Producers that can absorb 1 / s:
//   * an llm.rms_norm with a constant gain (gain / s), when every user of
//     its output is a linear that is quantized the same way: those share one
//     s (the fused QKV projection; q, k and v when not fused);
//   * a gated (SwiGLU) linear without bias or residual whose only user is
//     this linear (the down projection): silu(gate) * up / s, i.e. the up
//     half of its weight columns divided by s.
// Everything else (the attention output projection, whose input is
// attention's; the LM head, whose scaling would untie it from the
// embedding table) is rounded to nearest, and the report says why, as the
// reference implementation does for grouped-query attention.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_TRANSFORMS_AWQSCALING_H
#define LLMC_TRANSFORMS_AWQSCALING_H

#include "llmc/Awq.h"
#include "llmc/CalibrationStats.h"
#include "llmc/Dialect/LLM/LLMDialect.h"
#include "llmc/QuantLayout.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <optional>
#include <string>
#include <vector>

namespace llmc::awqfold {

/// What AWQ did to one candidate linear.
struct Choice {
  std::vector<float> scales; ///< s (K); empty: not scaled
  double alpha = 0, error = 0, rtnError = 0;
  std::string note; ///< why it was not scaled
};

/// Scales the candidates (numbered as calibration statistics entries) that
/// have a foldable producer, rewriting their weights and the producers'
/// gains / weights in place. `schemeOf(i)` is candidate i's scheme, or
/// nullopt if it is not quantized by AWQ (stays f32, or is the LM head).
/// Fills `choices` (one per candidate).
mlir::LogicalResult applyScales(llvm::ArrayRef<llm::LinearOp> candidates, calib::Reader &stats,
                                llvm::function_ref<std::optional<quant::Scheme>(size_t)> schemeOf,
                                const awq::Options &options, std::vector<Choice> &choices);

} // namespace llmc::awqfold

#endif
