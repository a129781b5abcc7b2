//===- FuseEpilogue.cpp - residual/bias adds into the producing linear ----===//
//
// The residual stream add after the attention output and down projections
// re-reads and re-writes a [M, dim] tensor; done in the GEMM's store it is
// free. Only adds that cannot broadcast are fused: the fused kernel adds
// element by element.
//
//===----------------------------------------------------------------------===//
#include "LinearUtils.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace llmc {
#define GEN_PASS_DEF_FUSEEPILOGUE
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

/// A linear whose only use is this add and that has no epilogue yet.
llm::LinearOp fusableProducer(Value v) {
  auto lin = v.getDefiningOp<llm::LinearOp>();
  if (!lin || !lin->hasOneUse() || lin.getResidual() || lin.isPacked())
    return {};
  return lin;
}

/// A constant of N elements shaped [N] or [1, ..., 1, N].
bool isColumnVector(Value c, int64_t n) {
  auto t = dyn_cast<RankedTensorType>(c.getType());
  if (!t || !t.hasStaticShape() || t.getRank() == 0 || t.getShape().back() != n ||
      !weights::isReadableF32Constant(c))
    return false;
  return t.getNumElements() == n;
}

struct AddIntoLinear : public OpRewritePattern<onnx::AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::AddOp add, PatternRewriter &rw) const override {
    auto resultType = cast<RankedTensorType>(add.getType());
    for (int side = 0; side < 2; ++side) {
      Value a = side == 0 ? add.getA() : add.getB();
      Value other = side == 0 ? add.getB() : add.getA();
      llm::LinearOp lin = fusableProducer(a);
      if (!lin || lin.getType() != resultType)
        continue;
      int64_t n = resultType.getShape().back();
      // Bias: a constant column vector, on a linear without one.
      if (!lin.getBias() && !lin.getGated() && !ShapedType::isDynamic(n) &&
          isColumnVector(other, n)) {
        auto vec = weights::readF32(other);
        rw.setInsertionPoint(lin); // the linear stays where it is
        Value bias = weights::createConstant(rw, add.getLoc(),
                                             RankedTensorType::get({n}, rw.getF32Type()),
                                             weights::nameOf(other, "bias"), [&](void *p) {
                                               std::copy(vec->begin(), vec->end(),
                                                         static_cast<float *>(p));
                                             });
        rw.modifyOpInPlace(lin, [&] { lin.getBiasMutable().assign(bias); });
        rw.replaceOp(add, lin.getResult());
        return success();
      }
      // Residual: provably the same shape as the result.
      bool sameShape = (resultType.hasStaticShape() && other.getType() == resultType) ||
                       (add->hasAttr("llmc.same_shape") && other.getType() == resultType);
      if (!sameShape)
        continue;
      // The fused op is created at the add, where both x and r dominate.
      auto fused = llm::LinearOp::create(rw, add.getLoc(), resultType, lin.getInput(),
                                         lin.getWeight(), lin.getBias(), other,
                                         lin.getTransposeWeightAttr(), lin.getRmsEpsilonAttr(),
                                         lin.getGatedAttr(), lin.getPackedPanelAttr());
      rw.replaceOp(add, fused.getResult());
      rw.eraseOp(lin);
      return success();
    }
    return rw.notifyMatchFailure(add, "no fusable linear operand");
  }
};

struct FuseEpiloguePass : public llmc::impl::FuseEpilogueBase<FuseEpiloguePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<AddIntoLinear>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
