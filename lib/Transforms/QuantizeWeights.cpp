//===- QuantizeWeights.cpp - int8/int4 weights at compile time ------------===//
//
// Decode streams every weight byte once per token, so bytes per weight set
// its speed: int8 reads 4x and int4 8x fewer bytes than f32. Constant
// linear weights are quantized round-to-nearest (include/llmc/QuantLayout.h)
// into the panel layout the runtime's quantized kernels read; the fused
// prologue/epilogues of the linear carry over. `keep-lm-head` leaves the
// layer producing the `logits` output in full precision (it is the most
// sensitive one and, with tied embeddings, the embedding table stays f32).
//
//===----------------------------------------------------------------------===//
#include "ConstantWeights.h"
#include "llmc/QuantLayout.h"
#include "llmc/Transforms/Passes.h"

namespace llmc {
#define GEN_PASS_DEF_QUANTIZEWEIGHTS
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

/// True if `op` produces the function's `logits` result.
bool feedsLogits(llm::LinearOp op) {
  auto fn = op->getParentOfType<func::FuncOp>();
  for (OpOperand &use : op.getResult().getUses())
    if (isa<func::ReturnOp>(use.getOwner()))
      if (auto name = fn.getResultAttrOfType<StringAttr>(use.getOperandNumber(), "llmc.name"))
        if (name.getValue() == "logits")
          return true;
  return false;
}

struct QuantizeWeightsPass : public llmc::impl::QuantizeWeightsBase<QuantizeWeightsPass> {
  using QuantizeWeightsBase::QuantizeWeightsBase;

  void runOnOperation() override {
    quant::Scheme scheme{int(bits), group, symmetric};
    if (std::string e = quant::validate(scheme); !e.empty()) {
      getOperation().emitError("llmc-quantize-weights: ") << e;
      return signalPassFailure();
    }
    SmallVector<llm::LinearOp> todo;
    getOperation().walk([&](llm::LinearOp op) {
      if (!op.isPacked() && weights::isReadableF32Constant(op.getWeight()) &&
          cast<RankedTensorType>(op.getWeight().getType()).getRank() == 2 &&
          !(keepLmHead && feedsLogits(op)))
        todo.push_back(op);
    });
    for (llm::LinearOp op : todo)
      if (failed(quantize(op, scheme)))
        return signalPassFailure();
  }

  LogicalResult quantize(llm::LinearOp op, const quant::Scheme &scheme) {
    auto wt = cast<RankedTensorType>(op.getWeight().getType());
    bool tr = op.getTransposeWeight();
    int64_t k = tr ? wt.getDimSize(1) : wt.getDimSize(0);
    int64_t cols = tr ? wt.getDimSize(0) : wt.getDimSize(1);
    int64_t n = op.getGated() ? cols / 2 : cols;
    int64_t nr = panel;
    if (op.getGated() && n % nr != 0)
      return success(); // the gated quantized kernel pairs whole panels; stays f32
    std::string error;
    quant::Layout l = quant::makeLayout(scheme, k, cols, nr, &error);
    if (!error.empty())
      return op.emitError("cannot quantize: ") << error;
    auto w = weights::readF32(op.getWeight());
    std::vector<uint8_t> codes(l.codeBytes()), zeros(l.numParams());
    std::vector<uint16_t> scales(l.numParams());
    error = quant::quantizeRTN(w->data(), tr, l, codes.data(), scales.data(),
                               scheme.symmetric ? nullptr : zeros.data());
    if (!error.empty())
      return op.emitError("cannot quantize: ") << error;
    OpBuilder b(op);
    Location loc = op.getLoc();
    auto bytesConst = [&](ArrayRef<uint8_t> data, StringRef suffix) {
      auto t = RankedTensorType::get({(int64_t)data.size()}, b.getIntegerType(8, false));
      return weights::createConstant(b, loc, t, weights::nameOf(op.getWeight(), suffix),
                                     [&](void *p) { std::memcpy(p, data.data(), data.size()); });
    };
    Value codesV = bytesConst(codes, "codes");
    auto st = RankedTensorType::get({(int64_t)scales.size()}, b.getIntegerType(16));
    Value scalesV = weights::createConstant(b, loc, st, weights::nameOf(op.getWeight(), "scales"),
                                            [&](void *p) {
                                              std::memcpy(p, scales.data(), scales.size() * 2);
                                            });
    Value zerosV = scheme.symmetric ? Value() : bytesConst(zeros, "zeros");
    auto q = llm::QuantizedLinearOp::create(
        b, loc, op.getType(), op.getInput(), codesV, scalesV, zerosV, op.getBias(),
        op.getResidual(), b.getI64IntegerAttr(scheme.bits), b.getI64IntegerAttr(scheme.group),
        b.getI64IntegerAttr(nr), b.getBoolAttr(scheme.symmetric), op.getRmsEpsilonAttr(),
        op.getGatedAttr());
    op.getResult().replaceAllUsesWith(q.getResult());
    op.erase();
    return success();
  }
};
} // namespace
