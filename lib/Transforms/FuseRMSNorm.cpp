//===- FuseRMSNorm.cpp - fold RMSNorm into its consumer linear layers -----===//
//
// rms_norm(x, g) @ W == (x / rms(x)) @ (diag(g) W): the gain moves into the
// weight at compile time and the per-row 1/rms becomes a scale the GEMM
// kernel applies to its output tile, so the normalized activations are
// never written to memory.
//
//===----------------------------------------------------------------------===//
#include "ConstantWeights.h"
#include "llmc/Transforms/Passes.h"

namespace llmc {
#define GEN_PASS_DEF_FUSERMSNORM
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

/// The linear layers reading `norm` as their input, or nothing if any use
/// is something else or cannot take the folded gain.
SmallVector<llm::LinearOp> foldableConsumers(llm::RMSNormOp norm) {
  SmallVector<llm::LinearOp> out;
  for (OpOperand &use : norm.getResult().getUses()) {
    auto lin = dyn_cast<llm::LinearOp>(use.getOwner());
    if (!lin || use.getOperandNumber() != 0 || lin.getRmsEpsilon() || lin.isPacked() ||
        !weights::isReadableF32Constant(lin.getWeight()))
      return {};
    out.push_back(lin);
  }
  return out;
}

struct FuseRMSNormPass : public llmc::impl::FuseRMSNormBase<FuseRMSNormPass> {
  void runOnOperation() override {
    SmallVector<llm::RMSNormOp> norms;
    getOperation().walk([&](llm::RMSNormOp op) { norms.push_back(op); });
    for (llm::RMSNormOp norm : norms) {
      auto gain = weights::readF32(norm.getWeight());
      auto xt = cast<RankedTensorType>(norm.getInput().getType());
      if (!gain || !xt.getElementType().isF32() ||
          (int64_t)gain->size() != xt.getShape().back())
        continue;
      SmallVector<llm::LinearOp> consumers = foldableConsumers(norm);
      if (consumers.empty())
        continue;
      for (llm::LinearOp lin : consumers) {
        auto wt = cast<RankedTensorType>(lin.getWeight().getType());
        auto w = weights::readF32(lin.getWeight());
        bool tr = lin.getTransposeWeight();
        OpBuilder b(lin);
        Value scaled = weights::createConstant(
            b, lin.getLoc(), wt, weights::nameOf(lin.getWeight(), "rmsfold"), [&](void *p) {
              float *out = static_cast<float *>(p);
              for (int64_t r = 0; r < wt.getDimSize(0); ++r)
                for (int64_t c = 0; c < wt.getDimSize(1); ++c) {
                  int64_t kk = tr ? c : r;
                  out[r * wt.getDimSize(1) + c] = (*w)[r * wt.getDimSize(1) + c] * (*gain)[kk];
                }
            });
        lin.getInputMutable().assign(norm.getInput());
        lin.getWeightMutable().assign(scaled);
        lin.setRmsEpsilonAttr(b.getF32FloatAttr(norm.getEpsilon().convertToFloat()));
      }
      norm.erase();
    }
  }
};
} // namespace
