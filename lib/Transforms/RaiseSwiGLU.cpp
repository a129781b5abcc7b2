//===- RaiseSwiGLU.cpp - g * sigmoid(g) * up to llm.swiglu ----------------===//
#include "MatchUtils.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace llmc {
#define GEN_PASS_DEF_RAISESWIGLU
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;
using namespace llmc::match;

namespace {

/// g * Sigmoid(g) (either order) -> g
Value matchSiLU(Value v) {
  auto mul = def<onnx::MulOp>(v);
  if (!mul)
    return {};
  for (auto [g, s] : {std::make_pair(mul.getA(), mul.getB()), std::make_pair(mul.getB(), mul.getA())})
    if (auto sig = def<onnx::SigmoidOp>(s); sig && sig.getX() == g)
      return g;
  return {};
}

struct SwiGLUPattern : public OpRewritePattern<onnx::MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::MulOp op, PatternRewriter &rw) const override {
    Type t = op.getType();
    for (auto [act, up] : {std::make_pair(op.getA(), op.getB()), std::make_pair(op.getB(), op.getA())}) {
      Value g = matchSiLU(act);
      if (g && g.getType() == t && up.getType() == t) {
        rw.replaceOpWithNewOp<llm::SwiGLUOp>(op, t, g, up);
        return success();
      }
    }
    return rw.notifyMatchFailure(op, "not silu(g) * up with equal shapes");
  }
};

struct RaiseSwiGLUPass : public llmc::impl::RaiseSwiGLUBase<RaiseSwiGLUPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<SwiGLUPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
