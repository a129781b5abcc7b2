//===- LMHead.h - find and re-aim the layer producing `logits` --*- C++ -*-===//
//
// --logits=last and the batch step both compute the LM head (the largest
// GEMM of a prefill) for a few rows only: they pick rows of the head's
// [batch, seq, hidden] input and clone the head onto them. That is valid
// when the head is row-wise: operand 0 is the hidden state and every other
// operand is a constant (weights, scales, bias; no residual). Any linear
// form qualifies (llm.linear, packed, quantized, ...), so these passes can
// run after fusion, quantization and packing.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_TRANSFORMS_LMHEAD_H
#define LLMC_TRANSFORMS_LMHEAD_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Matchers.h"

#include <optional>
#include <string>

namespace llmc::lmhead {

/// Index of the result of `fn` named `logits`, if any.
inline std::optional<unsigned> logitsResult(mlir::func::FuncOp fn) {
  for (unsigned r = 0; r < fn.getNumResults(); ++r)
    if (auto name = fn.getResultAttrOfType<mlir::StringAttr>(r, "llmc.name"))
      if (name.getValue() == "logits")
        return r;
  return std::nullopt;
}

/// The op producing result `r` of `fn` if it is a row-wise head of a rank-3
/// state; otherwise null with the reason in `why`.
inline mlir::Operation *rowwiseHead(mlir::func::FuncOp fn, unsigned r, std::string &why) {
  auto ret = mlir::cast<mlir::func::ReturnOp>(fn.front().getTerminator());
  mlir::Operation *head = ret.getOperand(r).getDefiningOp();
  if (!head || head->getNumOperands() == 0 || head->getNumResults() != 1 ||
      head->getDialect()->getNamespace() != "llm") {
    why = "the `logits` output is not produced by an llm op";
    return nullptr;
  }
  auto in = mlir::dyn_cast<mlir::RankedTensorType>(head->getOperand(0).getType());
  auto out = mlir::dyn_cast<mlir::RankedTensorType>(head->getResult(0).getType());
  if (!in || !out || in.getRank() != 3 || out.getRank() != 3) {
    why = "the LM head does not map a [batch, seq, hidden] state to [batch, seq, vocab]";
    return nullptr;
  }
  for (mlir::Value v : head->getOperands().drop_front())
    if (!mlir::matchPattern(v, mlir::m_Constant())) {
      why = "the LM head has a non-constant operand besides its input (e.g. a residual)";
      return nullptr;
    }
  return head;
}

/// A clone of `head` reading `rows` ([B', S', hidden]) instead of its input.
inline mlir::Value cloneHeadOnRows(mlir::OpBuilder &b, mlir::Operation *head, mlir::Value rows) {
  auto out = mlir::cast<mlir::RankedTensorType>(head->getResult(0).getType());
  auto rt = mlir::cast<mlir::RankedTensorType>(rows.getType());
  mlir::Operation *clone = b.clone(*head);
  clone->setOperand(0, rows);
  clone->getResult(0).setType(mlir::RankedTensorType::get(
      {rt.getDimSize(0), rt.getDimSize(1), out.getDimSize(2)}, out.getElementType()));
  return clone->getResult(0);
}

} // namespace llmc::lmhead

#endif
