//===- RaiseRMSNorm.cpp - decomposed RMSNorm to llm.rms_norm --------------===//
#include "MatchUtils.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace llmc {
#define GEN_PASS_DEF_RAISERMSNORM
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;
using namespace llmc::match;

namespace {

/// mean(x^2, last axis, keepdims) -> x
Value matchMeanOfSquares(Value v) {
  auto mean = def<onnx::ReduceMeanOp>(v);
  if (!mean || !mean->hasOneUse())
    return {};
  if (mean.getKeepdims() && *mean.getKeepdims() == 0)
    return {};
  Value sq = mean.getData();
  int64_t rank = rankOf(sq);
  auto axes = axesOf(mean.getAxes(), mean.getAxesInput());
  if (!axes || !isLastAxis(*axes, rank))
    return {};
  if (auto pow = def<onnx::PowOp>(sq)) {
    auto e = scalarConstant(pow.getB());
    return e && *e == 2.0 ? pow.getA() : Value();
  }
  if (auto mul = def<onnx::MulOp>(sq))
    return mul.getA() == mul.getB() ? mul.getA() : Value();
  return {};
}

/// sqrt(mean(x^2) + eps) -> (x, eps)
std::optional<std::pair<Value, double>> matchRms(Value v) {
  auto sqrt = def<onnx::SqrtOp>(v);
  if (!sqrt)
    return std::nullopt;
  auto add = def<onnx::AddOp>(sqrt.getX());
  if (!add)
    return std::nullopt;
  auto parts = ordered(add.getA(), add.getB(), [](Value x) { return (bool)scalarConstant(x); });
  if (!parts)
    return std::nullopt;
  double eps = *scalarConstant(parts->first);
  Value x = matchMeanOfSquares(parts->second);
  if (!x || eps < 0)
    return std::nullopt;
  return std::make_pair(x, eps);
}

/// x * (1 / rms) or x / rms with the same x -> (x, eps)
std::optional<std::pair<Value, double>> matchNormalized(Value v) {
  if (auto div = def<onnx::DivOp>(v)) {
    auto r = matchRms(div.getB());
    if (r && r->first == div.getA())
      return r;
    return std::nullopt;
  }
  auto mul = def<onnx::MulOp>(v);
  if (!mul)
    return std::nullopt;
  for (auto [x, inv] : {std::make_pair(mul.getA(), mul.getB()), std::make_pair(mul.getB(), mul.getA())}) {
    Value rmsValue;
    if (auto rec = def<onnx::ReciprocalOp>(inv))
      rmsValue = rec.getX();
    else if (auto d = def<onnx::DivOp>(inv); d && scalarConstant(d.getA()) == 1.0)
      rmsValue = d.getB();
    auto r = rmsValue ? matchRms(rmsValue) : std::nullopt;
    if (r && r->first == x)
      return r;
  }
  return std::nullopt;
}

struct RMSNormPattern : public OpRewritePattern<onnx::MulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::MulOp op, PatternRewriter &rw) const override {
    auto outType = cast<RankedTensorType>(op.getType());
    if (outType.getRank() == 0)
      return failure();
    int64_t d = outType.getShape().back();
    if (ShapedType::isDynamic(d) || !isa<FloatType>(outType.getElementType()))
      return failure();
    auto isWeight = [&](Value w) {
      auto t = cast<RankedTensorType>(w.getType());
      return t.getRank() == 1 && t.getDimSize(0) == d && matchPattern(w, m_Constant());
    };
    auto parts = ordered(op.getA(), op.getB(), isWeight);
    if (!parts)
      return rw.notifyMatchFailure(op, "no constant [D] weight operand");
    auto norm = matchNormalized(parts->second);
    if (!norm || norm->first.getType() != outType)
      return rw.notifyMatchFailure(op, "not x / sqrt(mean(x^2, -1) + eps)");
    rw.replaceOpWithNewOp<llm::RMSNormOp>(op, outType, norm->first, parts->first,
                                          rw.getF32FloatAttr(norm->second));
    return success();
  }
};

struct RaiseRMSNormPass : public llmc::impl::RaiseRMSNormBase<RaiseRMSNormPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RMSNormPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
