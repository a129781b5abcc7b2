//===- RaiseLinear.cpp - MatMul/Gemm with constant weights to llm.linear --===//
#include "llmc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace llmc {
#define GEN_PASS_DEF_RAISELINEAR
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

bool isConstantMatrix(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getRank() == 2 && t.hasStaticShape() && matchPattern(v, m_Constant());
}

struct MatMulToLinear : public OpRewritePattern<onnx::MatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::MatMulOp op, PatternRewriter &rw) const override {
    auto xt = cast<RankedTensorType>(op.getA().getType());
    if (xt.getRank() < 2 || !isConstantMatrix(op.getB()))
      return rw.notifyMatchFailure(op, "needs x of rank >= 2 and a constant 2-D weight");
    if (!isa<FloatType>(xt.getElementType()))
      return failure();
    rw.replaceOpWithNewOp<llm::LinearOp>(op, op.getType(), op.getA(), op.getB(), Value(),
                                         /*transposeWeight=*/false);
    return success();
  }
};

struct GemmToLinear : public OpRewritePattern<onnx::GemmOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GemmOp op, PatternRewriter &rw) const override {
    if (op.getTransA().value_or(0) || (op.getAlpha() && op.getAlpha()->convertToDouble() != 1.0) ||
        (op.getBeta() && op.getBeta()->convertToDouble() != 1.0))
      return rw.notifyMatchFailure(op, "scaled or transA Gemm");
    if (!isConstantMatrix(op.getB()))
      return rw.notifyMatchFailure(op, "weight is not a constant matrix");
    Value bias;
    if (!isa<NoneType>(op.getC().getType())) {
      auto ct = cast<RankedTensorType>(op.getC().getType());
      auto outT = cast<RankedTensorType>(op.getType());
      // Only a per-column bias [N] (or [1, N]) is a linear bias.
      if (ct.getRank() == 2 && ct.getDimSize(0) == 1 && ct.hasStaticShape()) {
        auto bt = RankedTensorType::get({ct.getDimSize(1)}, ct.getElementType());
        DenseElementsAttr attr;
        if (!matchPattern(op.getC(), m_Constant(&attr)))
          return failure();
        bias = arith::ConstantOp::create(rw, op.getLoc(), attr.reshape(bt));
      } else if (ct.getRank() == 1 && ct.getDimSize(0) == outT.getDimSize(1)) {
        bias = op.getC();
      } else {
        return rw.notifyMatchFailure(op, "bias is not per output feature");
      }
    }
    bool transB = op.getTransB().value_or(0);
    rw.replaceOpWithNewOp<llm::LinearOp>(op, op.getType(), op.getA(), op.getB(), bias, transB);
    return success();
  }
};

struct RaiseLinearPass : public llmc::impl::RaiseLinearBase<RaiseLinearPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<MatMulToLinear, GemmToLinear>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
