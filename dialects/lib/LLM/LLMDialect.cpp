//===- LLMDialect.cpp - the llm dialect and its verifiers -----------------===//
#include "llmc/Dialect/LLM/LLMDialect.h"
#include "llmc/QuantLayout.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace llmc::llm;

#include "llmc/Dialect/LLM/LLMOpsDialect.cpp.inc"

void LLMDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "llmc/Dialect/LLM/LLMOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "llmc/Dialect/LLM/LLMOps.cpp.inc"

static int64_t lastDim(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape().back();
}

// Two dims agree unless both are static and differ.
static bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

LogicalResult EmbeddingOp::verify() {
  auto table = cast<RankedTensorType>(getTable().getType());
  auto ids = cast<RankedTensorType>(getIds().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (table.getRank() != 2)
    return emitOpError("table must be rank 2 [vocab, embedding], got rank ")
           << table.getRank();
  if (!ids.getElementType().isInteger())
    return emitOpError("ids must be integers");
  if (result.getRank() != ids.getRank() + 1 ||
      !dimsCompatible(result.getShape().back(), table.getShape()[1]))
    return emitOpError("result must be ids.shape + [embedding]");
  return success();
}

LogicalResult RMSNormOp::verify() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  if (w.getRank() != 1)
    return emitOpError("weight must be rank 1, got rank ") << w.getRank();
  if (!dimsCompatible(w.getShape()[0], lastDim(getInput())))
    return emitOpError("weight length must equal the normalized axis");
  if (getInput().getType() != getResult().getType())
    return emitOpError("result type must equal the input type");
  return success();
}

int64_t LinearOp::getWeightColumns() {
  int64_t n = lastDim(getResult());
  if (ShapedType::isDynamic(n))
    return n;
  return getGated() ? 2 * n : n;
}

LogicalResult LinearOp::verify() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  int64_t k = lastDim(getInput()), n = lastDim(getResult());
  if (isPacked()) {
    if (w.getRank() != 1)
      return emitOpError("packed weight must be rank 1, got rank ") << w.getRank();
    if (getTransposeWeight())
      return emitOpError("packed weight cannot be transposed");
    if (*getPackedPanel() < 1)
      return emitOpError("packed_panel must be >= 1");
    if (ShapedType::isDynamic(k) || ShapedType::isDynamic(n))
      return emitOpError("packed weight needs static K and N");
    Type et = w.getElementType();
    if (!et.isF32() && !et.isBF16())
      return emitOpError("packed weight must be f32 or bf16");
    int64_t nr = *getPackedPanel();
    int64_t panels = (n + nr - 1) / nr * (getGated() ? 2 : 1);
    int64_t rows = et.isBF16() ? (k + 1) / 2 * 2 : k;
    if (w.hasStaticShape() && w.getDimSize(0) != panels * nr * rows)
      return emitOpError("packed weight has ") << w.getDimSize(0) << " elements, expected "
                                               << panels * nr * rows;
  } else {
    if (w.getRank() != 2)
      return emitOpError("weight must be rank 2, got rank ") << w.getRank();
    int64_t wk = getTransposeWeight() ? w.getShape()[1] : w.getShape()[0];
    int64_t wn = getTransposeWeight() ? w.getShape()[0] : w.getShape()[1];
    if (!dimsCompatible(wk, k))
      return emitOpError("input features (") << k << ") do not match the weight (" << wk << ")";
    if (!dimsCompatible(wn, getWeightColumns()))
      return emitOpError("result features do not match the weight")
             << (getGated() ? " (a gated weight has 2N columns)" : "");
  }
  if (getGated() && getBias())
    return emitOpError("a gated linear cannot have a bias");
  if (getBias()) {
    auto b = cast<RankedTensorType>(getBias().getType());
    if (b.getRank() != 1 || !dimsCompatible(b.getShape()[0], n))
      return emitOpError("bias must be [N]");
  }
  if (getResidual()) {
    auto r = cast<RankedTensorType>(getResidual().getType());
    auto y = cast<RankedTensorType>(getResult().getType());
    if (r.getRank() != y.getRank())
      return emitOpError("residual must have the result's shape");
    for (int64_t i = 0; i < r.getRank(); ++i)
      if (!dimsCompatible(r.getDimSize(i), y.getDimSize(i)))
        return emitOpError("residual must have the result's shape");
  }
  return success();
}

LogicalResult QuantizedLinearOp::verify() {
  int64_t k = lastDim(getInput()), n = lastDim(getResult());
  if (ShapedType::isDynamic(k) || ShapedType::isDynamic(n))
    return emitOpError("needs static K and N");
  llmc::quant::Scheme scheme{int(getBits()), int64_t(getGroup()), getSymmetric()};
  int64_t nw = getGated() ? 2 * n : n;
  if (getGated() && n % int64_t(getPanel()) != 0)
    return emitOpError("a gated weight needs N to be a multiple of the panel");
  std::string error;
  llmc::quant::Layout l = llmc::quant::makeLayout(scheme, k, nw, int64_t(getPanel()), &error);
  if (!error.empty())
    return emitOpError(error);
  auto size = [](Value v) { return cast<RankedTensorType>(v.getType()).getNumElements(); };
  if (size(getCodes()) != l.codeBytes())
    return emitOpError("codes hold ") << size(getCodes()) << " bytes, expected " << l.codeBytes();
  if (size(getScales()) != l.numParams())
    return emitOpError("expected ") << l.numParams() << " scales";
  if (!getSymmetric() && (!getZeros() || size(getZeros()) != l.numParams()))
    return emitOpError("an asymmetric scheme needs ") << l.numParams() << " zero points";
  if (getGated() && getBias())
    return emitOpError("a gated linear cannot have a bias");
  return success();
}

LogicalResult AttentionOp::verify() {
  auto q = cast<RankedTensorType>(getQuery().getType());
  auto k = cast<RankedTensorType>(getKey().getType());
  auto v = cast<RankedTensorType>(getValue().getType());
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4)
    return emitOpError("query, key and value must be rank 4 [B, heads, seq, D]");
  int64_t h = q.getShape()[1], kvh = k.getShape()[1];
  if (!ShapedType::isDynamic(h) && !ShapedType::isDynamic(kvh) &&
      (kvh == 0 || h % kvh != 0))
    return emitOpError("query heads (") << h
           << ") must be a multiple of key/value heads (" << kvh << ")";
  if (!dimsCompatible(q.getShape()[3], k.getShape()[3]))
    return emitOpError("query and key head sizes differ");
  if (getResult().getType() != RankedTensorType::get(
          {q.getShape()[0], q.getShape()[1], q.getShape()[2], v.getShape()[3]},
          q.getElementType()))
    return emitOpError("result must be [B, H, S, Dv]");
  return success();
}
