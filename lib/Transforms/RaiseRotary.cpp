//===- RaiseRotary.cpp - rotate-half RoPE to llm.rotary -------------------===//
#include "MatchUtils.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <climits>

namespace llmc {
#define GEN_PASS_DEF_RAISEROTARY
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;
using namespace llmc::match;

namespace {

/// Slice of the last axis of `x` with step 1: returns (x, start, end).
std::optional<std::tuple<Value, int64_t, int64_t>> lastAxisSlice(Value v) {
  auto slice = def<onnx::SliceOp>(v);
  if (!slice)
    return std::nullopt;
  Value x = slice.getData();
  int64_t rank = rankOf(x);
  auto starts = intConstants(slice.getStarts()), ends = intConstants(slice.getEnds());
  if (!starts || !ends || starts->size() != 1 || ends->size() != 1)
    return std::nullopt;
  if (!isa<NoneType>(slice.getAxes().getType())) {
    auto axes = intConstants(slice.getAxes());
    if (!axes || !isLastAxis(*axes, rank))
      return std::nullopt;
  } else if (rank != 1) {
    return std::nullopt;
  }
  if (!isa<NoneType>(slice.getSteps().getType())) {
    auto steps = intConstants(slice.getSteps());
    if (!steps || steps->size() != 1 || (*steps)[0] != 1)
      return std::nullopt;
  }
  int64_t d = cast<RankedTensorType>(x.getType()).getShape().back();
  int64_t s = (*starts)[0], e = (*ends)[0];
  if (s < 0) s += d;
  if (e < 0) e += d;
  e = std::min(e, d);
  return std::make_tuple(x, s, e);
}

/// Concat(Neg(x[..., D/2:]), x[..., :D/2]) on the last axis -> x
Value matchRotateHalf(Value v) {
  auto cat = def<onnx::ConcatOp>(v);
  if (!cat || cat.getInputs().size() != 2)
    return {};
  int64_t rank = rankOf(cat.getResult());
  if (cat.getAxis() != -1 && cat.getAxis() != rank - 1)
    return {};
  auto neg = def<onnx::NegOp>(cat.getInputs()[0]);
  if (!neg)
    return {};
  auto second = lastAxisSlice(neg.getX()), first = lastAxisSlice(cat.getInputs()[1]);
  if (!second || !first)
    return {};
  auto [x2, s2, e2] = *second;
  auto [x1, s1, e1] = *first;
  int64_t d = cast<RankedTensorType>(x1.getType()).getShape().back();
  if (x1 != x2 || ShapedType::isDynamic(d) || d % 2 || s1 != 0 || e1 != d / 2 ||
      s2 != d / 2 || e2 != d)
    return {};
  return x1;
}

struct RotaryPattern : public OpRewritePattern<onnx::AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::AddOp op, PatternRewriter &rw) const override {
    auto outType = cast<RankedTensorType>(op.getType());
    auto mulA = def<onnx::MulOp>(op.getA()), mulB = def<onnx::MulOp>(op.getB());
    if (!mulA || !mulB)
      return rw.notifyMatchFailure(op, "not a sum of two products");
    for (auto [cosMul, sinMul] : {std::make_pair(mulA, mulB), std::make_pair(mulB, mulA)})
      for (auto [rot, sin] : {std::make_pair(sinMul.getA(), sinMul.getB()),
                              std::make_pair(sinMul.getB(), sinMul.getA())}) {
        Value x = matchRotateHalf(rot);
        if (!x || x.getType() != outType)
          continue;
        Value cos;
        if (cosMul.getA() == x)
          cos = cosMul.getB();
        else if (cosMul.getB() == x)
          cos = cosMul.getA();
        else
          continue;
        auto ct = cast<RankedTensorType>(cos.getType()), st = cast<RankedTensorType>(sin.getType());
        int64_t d = outType.getShape().back();
        if (ct.getShape().back() != d || st.getShape().back() != d ||
            ct.getRank() > outType.getRank() || st.getRank() > outType.getRank())
          continue;
        rw.replaceOpWithNewOp<llm::RotaryOp>(op, outType, x, cos, sin, rw.getBoolAttr(false));
        return success();
      }
    return rw.notifyMatchFailure(op, "not x*cos + rotate_half(x)*sin");
  }
};

struct RaiseRotaryPass : public llmc::impl::RaiseRotaryBase<RaiseRotaryPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RotaryPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
