//===- LinearUtils.h - shared checks of the linear-layer fusions -*- C++ -*-===//
#ifndef LLMC_TRANSFORMS_LINEARUTILS_H
#define LLMC_TRANSFORMS_LINEARUTILS_H

#include "ConstantWeights.h"
#include "llmc/Dialect/LLM/LLMDialect.h"

namespace llmc::linear {

/// A plain linear layer whose weight the fusions may rewrite: constant f32
/// 2-D weight, not yet packed, gated or given a residual.
inline bool isPlainConstantLinear(llm::LinearOp op) {
  return op && !op.isPacked() && !op.getGated() && !op.getResidual() &&
         weights::isReadableF32Constant(op.getWeight()) &&
         mlir::cast<mlir::RankedTensorType>(op.getWeight().getType()).getRank() == 2;
}

/// Logical [K, N] columns of a linear's constant weight, appended column
/// block by column block into `out` ([K, total] row-major, total columns).
inline void copyColumns(llm::LinearOp op, const std::vector<float> &w, int64_t colOffset,
                        int64_t totalCols, float *out) {
  auto wt = mlir::cast<mlir::RankedTensorType>(op.getWeight().getType());
  bool tr = op.getTransposeWeight();
  int64_t k = tr ? wt.getDimSize(1) : wt.getDimSize(0);
  int64_t n = tr ? wt.getDimSize(0) : wt.getDimSize(1);
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c)
      out[r * totalCols + colOffset + c] = tr ? w[c * k + r] : w[r * n + c];
}

/// Output columns N of a linear's weight.
inline int64_t weightColumns(llm::LinearOp op) {
  auto wt = mlir::cast<mlir::RankedTensorType>(op.getWeight().getType());
  return op.getTransposeWeight() ? wt.getDimSize(0) : wt.getDimSize(1);
}

/// Same normalization prologue (none, or the same epsilon).
inline bool sameNormalization(llm::LinearOp a, llm::LinearOp b) {
  return a.getRmsEpsilon() == b.getRmsEpsilon();
}

} // namespace llmc::linear

#endif
