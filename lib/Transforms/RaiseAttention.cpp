//===- RaiseAttention.cpp - SDPA subgraphs to llm.attention ---------------===//
#include "MatchUtils.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace llmc {
#define GEN_PASS_DEF_RAISEATTENTION
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;
using namespace llmc::match;

namespace {

/// repeat_kv: Reshape(Expand(Unsqueeze(kv [B,KVH,T,D], axis 2) -> [B,KVH,n,T,D])
/// -> [B, KVH*n, T, D]) -> kv. Any other value is returned unchanged.
Value stripRepeatKV(Value v) {
  auto reshape = def<onnx::ReshapeOp>(v);
  if (!reshape)
    return v;
  auto expand = def<onnx::ExpandOp>(reshape.getData());
  if (!expand)
    return v;
  auto unsq = def<onnx::UnsqueezeOp>(expand.getInput());
  if (!unsq)
    return v;
  Value kv = unsq.getData();
  auto kt = cast<RankedTensorType>(kv.getType());
  auto ut = cast<RankedTensorType>(unsq.getType());
  auto et = cast<RankedTensorType>(expand.getType());
  auto rt = cast<RankedTensorType>(reshape.getType());
  if (kt.getRank() != 4 || ut.getRank() != 5 || et.getRank() != 5 || rt.getRank() != 4)
    return v;
  // The new axis must be axis 2 and the expansion only along it.
  if (ut.getDimSize(2) != 1 || ut.getDimSize(1) != kt.getDimSize(1) ||
      ut.getDimSize(4) != kt.getDimSize(3))
    return v;
  int64_t kvh = kt.getDimSize(1), n = et.getDimSize(2), h = rt.getDimSize(1);
  if (ShapedType::isDynamic(kvh) || ShapedType::isDynamic(n) || ShapedType::isDynamic(h) ||
      et.getDimSize(1) != kvh || et.getDimSize(4) != kt.getDimSize(3) || h != kvh * n ||
      rt.getDimSize(3) != kt.getDimSize(3))
    return v;
  return kv;
}

struct AttentionPattern : public OpRewritePattern<onnx::MatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::MatMulOp op, PatternRewriter &rw) const override {
    auto outType = cast<RankedTensorType>(op.getType());
    if (outType.getRank() != 4 || !outType.getElementType().isF32())
      return failure();
    auto softmax = def<onnx::SoftmaxOp>(op.getA());
    if (!softmax || (softmax.getAxis() && *softmax.getAxis() != -1 && *softmax.getAxis() != 3))
      return rw.notifyMatchFailure(op, "left operand is not Softmax over the last axis");
    Value scores = softmax.getInput();
    Value mask;
    if (auto add = def<onnx::AddOp>(scores)) {
      auto parts = ordered(add.getA(), add.getB(), [](Value x) {
        return def<onnx::DivOp>(x) || def<onnx::MulOp>(x) || def<onnx::MatMulOp>(x);
      });
      if (!parts)
        return failure();
      scores = parts->first;
      mask = parts->second;
    }
    double scale = 1.0;
    Value qk = scores;
    if (auto div = def<onnx::DivOp>(scores)) {
      auto c = scalarConstant(div.getB());
      if (!c || *c == 0)
        return failure();
      scale = 1.0 / *c;
      qk = div.getA();
    } else if (auto mul = def<onnx::MulOp>(scores)) {
      auto parts = ordered(mul.getA(), mul.getB(), [](Value x) { return (bool)scalarConstant(x); });
      if (!parts)
        return failure();
      scale = *scalarConstant(parts->first);
      qk = parts->second;
    }
    auto qkMul = def<onnx::MatMulOp>(qk);
    if (!qkMul)
      return rw.notifyMatchFailure(op, "no Q K^T product");
    auto kT = def<onnx::TransposeOp>(qkMul.getB());
    if (!kT || !kT.getPerm())
      return failure();
    SmallVector<int64_t> perm;
    for (auto p : kT.getPerm()->getAsValueRange<IntegerAttr>())
      perm.push_back(p.getSExtValue());
    if (perm != SmallVector<int64_t>{0, 1, 3, 2})
      return rw.notifyMatchFailure(op, "K is not transposed on its last two axes");
    Value q = qkMul.getA();
    Value k = stripRepeatKV(kT.getData()), v = stripRepeatKV(op.getB());
    auto qt = cast<RankedTensorType>(q.getType());
    auto kt = cast<RankedTensorType>(k.getType()), vt = cast<RankedTensorType>(v.getType());
    if (qt.getRank() != 4 || kt.getRank() != 4 || vt.getRank() != 4 ||
        !qt.getElementType().isF32())
      return failure();
    int64_t h = qt.getDimSize(1), kvh = kt.getDimSize(1);
    if (ShapedType::isDynamic(h) || ShapedType::isDynamic(kvh) || kvh != vt.getDimSize(1) ||
        h % kvh != 0)
      return rw.notifyMatchFailure(op, "head counts are not static multiples");
    if (mask) {
      auto mt = cast<RankedTensorType>(mask.getType());
      if (!mt.getElementType().isF32() || mt.getRank() > 4)
        return failure();
    }
    auto result = llm::AttentionOp::create(rw, op.getLoc(), outType, q, k, v, mask,
                                           rw.getF32FloatAttr(scale), rw.getBoolAttr(false));
    if (failed(verify(result))) {
      rw.eraseOp(result);
      return failure();
    }
    rw.replaceOp(op, result.getResult());
    return success();
  }
};

struct RaiseAttentionPass : public llmc::impl::RaiseAttentionBase<RaiseAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<AttentionPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
