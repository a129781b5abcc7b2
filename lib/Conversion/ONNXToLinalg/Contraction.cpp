//===- Contraction.cpp - ONNX MatMul/Gemm to linalg.generic ---------------===//
//
// The generic (reference) path for matrix products: a linalg.generic with
// broadcast batch dims. Products with a constant weight are normally raised
// to llm.linear first and reach the runtime's GEMM kernel instead.
//
//===----------------------------------------------------------------------===//
#include "LoweringUtils.h"

#include "llmc/Dialect/ONNX/ONNXDialect.h"

using namespace mlir;
using namespace llmc;
using namespace llmc::lowering;

namespace {

/// out[batch..., m, n] = sum_k a[batch_a..., m, k] * b[batch_b..., k, n]
/// for a rank >= 2, b rank >= 2 (rank-1 operands are reshaped by the caller).
Value batchedMatmul(OpBuilder &b, Location loc, Value a, Value bm,
                    RankedTensorType outType) {
  auto at = cast<RankedTensorType>(a.getType());
  auto bt = cast<RankedTensorType>(bm.getType());
  int64_t outRank = outType.getRank(), nb = outRank - 2;
  MLIRContext *ctx = b.getContext();
  int64_t loops = outRank + 1; // batch..., m, n, k
  auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  auto operandMap = [&](RankedTensorType t, bool isA) {
    SmallVector<AffineExpr> e;
    int64_t off = nb - (t.getRank() - 2);
    for (int64_t j = 0; j < t.getRank() - 2; ++j) {
      bool bcast = t.getDimSize(j) == 1 && outType.getDimSize(j + off) != 1;
      e.push_back(bcast ? getAffineConstantExpr(0, ctx) : d(j + off));
    }
    if (isA) {
      e.push_back(d(nb));
      e.push_back(d(nb + 2));
    } else {
      e.push_back(d(nb + 2));
      e.push_back(d(nb + 1));
    }
    return AffineMap::get(loops, 0, e, ctx);
  };
  SmallVector<Value> dims;
  for (int64_t i = 0; i < nb; ++i) {
    if (!outType.isDynamicDim(i)) {
      dims.push_back(indexConst(b, loc, outType.getDimSize(i)));
      continue;
    }
    Value v;
    int64_t ja = i - (nb - (at.getRank() - 2)), jb = i - (nb - (bt.getRank() - 2));
    if (ja >= 0 && at.getDimSize(ja) != 1) v = dimOf(b, loc, a, ja);
    else if (jb >= 0 && bt.getDimSize(jb) != 1) v = dimOf(b, loc, bm, jb);
    else v = indexConst(b, loc, 1);
    dims.push_back(v);
  }
  dims.push_back(dimOf(b, loc, a, at.getRank() - 2));
  dims.push_back(dimOf(b, loc, bm, bt.getRank() - 1));
  Type et = outType.getElementType();
  Value init = filledTensor(b, loc, outType, dims, scalarConst(b, loc, et, 0));
  SmallVector<AffineMap> maps{operandMap(at, true), operandMap(bt, false)};
  SmallVector<AffineExpr> outExprs;
  for (int64_t i = 0; i < outRank; ++i)
    outExprs.push_back(d(i));
  maps.push_back(AffineMap::get(loops, 0, outExprs, ctx));
  SmallVector<utils::IteratorType> iters(outRank, utils::IteratorType::parallel);
  iters.push_back(utils::IteratorType::reduction);
  return buildMulAccumulate(b, loc, outType, a, bm, init, maps, iters);
}

Value transpose2D(OpBuilder &b, Location loc, Value x) {
  auto t = cast<RankedTensorType>(x.getType());
  auto outType = RankedTensorType::get({t.getDimSize(1), t.getDimSize(0)},
                                       t.getElementType());
  Value init = emptyTensor(b, loc, outType,
                           {dimOf(b, loc, x, 1), dimOf(b, loc, x, 0)});
  return linalg::TransposeOp::create(b, loc, x, init, ArrayRef<int64_t>{1, 0})
      .getResult()[0];
}

struct MatMulLowering : public OpRewritePattern<onnx::MatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::MatMulOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value a = op.getA(), bm = op.getB();
    auto at = cast<RankedTensorType>(a.getType());
    auto bt = cast<RankedTensorType>(bm.getType());
    auto outType = cast<RankedTensorType>(op.getType());
    if (at.getElementType().isUnsignedInteger())
      return rewriter.notifyMatchFailure(op, "unsigned MatMul is not supported");
    // Promote rank-1 operands to matrices, as numpy does.
    SmallVector<int64_t> outShape(outType.getShape());
    if (at.getRank() == 1) {
      auto t = RankedTensorType::get({1, at.getDimSize(0)}, at.getElementType());
      a = reshapeTo(rewriter, loc, a, t, {indexConst(rewriter, loc, 1), dimOf(rewriter, loc, a, 0)});
      outShape.insert(outShape.end() - (bt.getRank() == 1 ? 0 : 1), 1);
    }
    if (bt.getRank() == 1) {
      auto t = RankedTensorType::get({bt.getDimSize(0), 1}, bt.getElementType());
      bm = reshapeTo(rewriter, loc, bm, t, {dimOf(rewriter, loc, bm, 0), indexConst(rewriter, loc, 1)});
      outShape.push_back(1);
    }
    auto fullType = RankedTensorType::get(outShape, outType.getElementType());
    Value r = batchedMatmul(rewriter, loc, a, bm, fullType);
    if (fullType != outType) {
      SmallVector<Value> dims;
      // Dropped unit dims: the remaining dims keep their order.
      auto ft = fullType;
      SmallVector<Value> all;
      for (int64_t i = 0; i < ft.getRank(); ++i)
        all.push_back(dimOf(rewriter, loc, r, i));
      int64_t skipA = at.getRank() == 1 ? ft.getRank() - 2 : -1;
      int64_t skipB = bt.getRank() == 1 ? ft.getRank() - 1 : -1;
      for (int64_t i = 0; i < ft.getRank(); ++i)
        if (i != skipA && i != skipB)
          dims.push_back(all[i]);
      r = reshapeTo(rewriter, loc, r, outType, dims);
    }
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct GemmLowering : public OpRewritePattern<onnx::GemmOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GemmOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value a = op.getA(), bm = op.getB();
    if (op.getTransA().value_or(0))
      a = transpose2D(rewriter, loc, a);
    if (op.getTransB().value_or(0))
      bm = transpose2D(rewriter, loc, bm);
    auto outType = cast<RankedTensorType>(op.getType());
    Type et = outType.getElementType();
    if (!isa<FloatType>(et))
      return rewriter.notifyMatchFailure(op, "Gemm supports float types only");
    Value r = batchedMatmul(rewriter, loc, a, bm, outType);
    double alpha = op.getAlpha() ? op.getAlpha()->convertToDouble() : 1.0;
    double beta = op.getBeta() ? op.getBeta()->convertToDouble() : 1.0;
    bool hasC = !isa<NoneType>(op.getC().getType());
    if (alpha != 1.0 || hasC) {
      SmallVector<Value> operands{r};
      if (hasC)
        operands.push_back(op.getC());
      r = buildElementwise(rewriter, loc, outType, operands,
                           [&](OpBuilder &b, Location l, ValueRange v) -> Value {
                             Value x = v[0];
                             if (alpha != 1.0)
                               x = arith::MulFOp::create(b, l, x, scalarConst(b, l, et, alpha));
                             if (v.size() > 1) {
                               Value c = v[1];
                               if (beta != 1.0)
                                 c = arith::MulFOp::create(b, l, c, scalarConst(b, l, et, beta));
                               x = arith::AddFOp::create(b, l, x, c);
                             }
                             return x;
                           });
    }
    rewriter.replaceOp(op, r);
    return success();
  }
};

} // namespace

void llmc::lowering::populateContractionPatterns(RewritePatternSet &patterns) {
  patterns.add<MatMulLowering, GemmLowering>(patterns.getContext());
}
