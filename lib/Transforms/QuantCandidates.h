//===- QuantCandidates.h - which linears quantization considers -*- C++ -*-===//
//
// llmc-quantize-weights and llmc-instrument-linears must agree on the
// linears they number (calibration statistics are matched by that number),
// so both take the candidates from here: linears with a constant rank-2 f32
// weight that is not packed, in walk order.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_TRANSFORMS_QUANTCANDIDATES_H
#define LLMC_TRANSFORMS_QUANTCANDIDATES_H

#include "ConstantWeights.h"
#include "llmc/Dialect/LLM/LLMDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/SmallVector.h"

namespace llmc::quantcand {

inline bool isCandidate(llm::LinearOp op) {
  return !op.isPacked() && weights::isReadableF32Constant(op.getWeight()) &&
         mlir::cast<mlir::RankedTensorType>(op.getWeight().getType()).getRank() == 2;
}

/// The candidates of `fn` in walk order (their index is the linear's id).
inline llvm::SmallVector<llm::LinearOp> candidates(mlir::func::FuncOp fn) {
  llvm::SmallVector<llm::LinearOp> out;
  fn.walk([&](llm::LinearOp op) {
    if (isCandidate(op))
      out.push_back(op);
  });
  return out;
}

/// (K, N) of a candidate's logical weight; N counts both halves of a gated one.
inline std::pair<int64_t, int64_t> weightShape(llm::LinearOp op) {
  auto wt = mlir::cast<mlir::RankedTensorType>(op.getWeight().getType());
  bool tr = op.getTransposeWeight();
  return {tr ? wt.getDimSize(1) : wt.getDimSize(0), tr ? wt.getDimSize(0) : wt.getDimSize(1)};
}

/// True if `op` produces the function's `logits` result.
inline bool feedsLogits(llm::LinearOp op) {
  auto fn = op->getParentOfType<mlir::func::FuncOp>();
  for (mlir::OpOperand &use : op.getResult().getUses())
    if (mlir::isa<mlir::func::ReturnOp>(use.getOwner()))
      if (auto name = fn.getResultAttrOfType<mlir::StringAttr>(use.getOperandNumber(), "llmc.name"))
        if (name.getValue() == "logits")
          return true;
  return false;
}

} // namespace llmc::quantcand

#endif
