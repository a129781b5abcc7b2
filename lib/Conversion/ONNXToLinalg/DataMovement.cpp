//===- DataMovement.cpp - ONNX shape and data movement ops to tensor ------===//
//
// Shape operands (reshape targets, slice bounds, ...) are read at run time
// with tensor.extract; the importer already turned the ones it could compute
// into constants, and canonicalization folds those reads away.
//
//===----------------------------------------------------------------------===//
#include "LoweringUtils.h"

#include "llmc/Dialect/ONNX/ONNXDialect.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace llmc;
using namespace llmc::lowering;

namespace {

Value i64Const(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
}

Value extractI64(OpBuilder &b, Location loc, Value tensor, int64_t i) {
  auto t = cast<RankedTensorType>(tensor.getType());
  SmallVector<Value> idx;
  if (t.getRank() == 1)
    idx.push_back(indexConst(b, loc, i));
  Value v = tensor::ExtractOp::create(b, loc, tensor, idx);
  return castScalar(b, loc, v, b.getI64Type());
}

Value selectI(OpBuilder &b, Location loc, Value c, Value x, Value y) {
  return arith::SelectOp::create(b, loc, c, x, y);
}
Value cmpI(OpBuilder &b, Location loc, arith::CmpIPredicate p, Value x, Value y) {
  return arith::CmpIOp::create(b, loc, p, x, y);
}

struct IdentityLowering : public OpRewritePattern<onnx::IdentityOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::IdentityOp op, PatternRewriter &r) const override {
    r.replaceOp(op, op.getX());
    return success();
  }
};

struct ReshapeLowering : public OpRewritePattern<onnx::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ReshapeOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getData();
    auto xt = cast<RankedTensorType>(x.getType());
    auto outType = cast<RankedTensorType>(op.getType());
    bool allowZero = op.getAllowzero().value_or(0);
    int64_t n = outType.getRank();
    Value total = i64Const(rw, loc, 1);
    for (int64_t i = 0; i < xt.getRank(); ++i)
      total = arith::MulIOp::create(rw, loc, total,
                                    fromIndex(rw, loc, dimOf(rw, loc, x, i), rw.getI64Type()));
    SmallVector<Value> raw;
    for (int64_t i = 0; i < n; ++i) {
      if (!outType.isDynamicDim(i)) {
        raw.push_back(i64Const(rw, loc, outType.getDimSize(i)));
        continue;
      }
      Value v = extractI64(rw, loc, op.getShape(), i);
      if (!allowZero && i < xt.getRank()) {
        Value inDim = fromIndex(rw, loc, dimOf(rw, loc, x, i), rw.getI64Type());
        v = selectI(rw, loc, cmpI(rw, loc, arith::CmpIPredicate::eq, v, i64Const(rw, loc, 0)),
                    inDim, v);
      }
      raw.push_back(v);
    }
    SmallVector<Value> dims;
    for (int64_t i = 0; i < n; ++i) {
      if (!outType.isDynamicDim(i)) {
        dims.push_back(indexConst(rw, loc, outType.getDimSize(i)));
        continue;
      }
      Value others = i64Const(rw, loc, 1);
      for (int64_t j = 0; j < n; ++j)
        if (j != i)
          others = arith::MulIOp::create(rw, loc, others, raw[j]);
      Value inferred = arith::DivSIOp::create(rw, loc, total, others);
      Value isNeg = cmpI(rw, loc, arith::CmpIPredicate::eq, raw[i], i64Const(rw, loc, -1));
      dims.push_back(toIndex(rw, loc, selectI(rw, loc, isNeg, inferred, raw[i])));
    }
    rw.replaceOp(op, reshapeTo(rw, loc, x, outType, dims));
    return success();
  }
};

/// Unsqueeze, Squeeze and Flatten only insert/drop/merge dims: compute the
/// output dims from the input's and reshape.
template <typename OpTy>
struct ShapeOnlyLowering : public OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op->getOperand(0);
    auto xt = cast<RankedTensorType>(x.getType());
    auto outType = cast<RankedTensorType>(op->getResult(0).getType());
    SmallVector<Value> dims;
    if constexpr (std::is_same_v<OpTy, onnx::FlattenOp>) {
      int64_t axis = op.getAxis().value_or(1);
      if (axis < 0)
        axis += xt.getRank();
      Value p0 = indexConst(rw, loc, 1), p1 = indexConst(rw, loc, 1);
      for (int64_t i = 0; i < xt.getRank(); ++i) {
        Value &p = i < axis ? p0 : p1;
        p = arith::MulIOp::create(rw, loc, p, dimOf(rw, loc, x, i));
      }
      dims = {p0, p1};
    } else {
      // Non-unit input dims map in order onto the non-unit output dims;
      // unit dims are constants.
      SmallVector<Value> inDims;
      for (int64_t i = 0; i < xt.getRank(); ++i)
        if (xt.getDimSize(i) != 1)
          inDims.push_back(dimOf(rw, loc, x, i));
      size_t k = 0;
      for (int64_t i = 0; i < outType.getRank(); ++i) {
        if (outType.getDimSize(i) == 1)
          dims.push_back(indexConst(rw, loc, 1));
        else if (k < inDims.size())
          dims.push_back(inDims[k++]);
        else
          return rw.notifyMatchFailure(op, "cannot map dims");
      }
    }
    rw.replaceOp(op, reshapeTo(rw, loc, x, outType, dims));
    return success();
  }
};

struct TransposeLowering : public OpRewritePattern<onnx::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::TransposeOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getData();
    auto xt = cast<RankedTensorType>(x.getType());
    SmallVector<int64_t> perm;
    if (auto p = op.getPerm())
      for (auto v : p->getAsValueRange<IntegerAttr>())
        perm.push_back(v.getSExtValue());
    else
      for (int64_t i = xt.getRank() - 1; i >= 0; --i)
        perm.push_back(i);
    SmallVector<Value> dims;
    for (int64_t p : perm)
      dims.push_back(dimOf(rw, loc, x, p));
    Value init = emptyTensor(rw, loc, cast<RankedTensorType>(op.getType()), dims);
    rw.replaceOp(op, linalg::TransposeOp::create(rw, loc, x, init, perm).getResult()[0]);
    return success();
  }
};

struct ConcatLowering : public OpRewritePattern<onnx::ConcatOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ConcatOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto outType = cast<RankedTensorType>(op.getType());
    int64_t rank = outType.getRank();
    int64_t axis = op.getAxis();
    if (axis < 0)
      axis += rank;
    Value first = op.getInputs()[0];
    SmallVector<Value> dims;
    for (int64_t i = 0; i < rank; ++i)
      dims.push_back(dimOf(rw, loc, first, i));
    Value total = indexConst(rw, loc, 0);
    for (Value v : op.getInputs())
      total = arith::AddIOp::create(rw, loc, total, dimOf(rw, loc, v, axis));
    dims[axis] = total;
    Value acc = emptyTensor(rw, loc, outType, dims);
    Value offset = indexConst(rw, loc, 0);
    for (Value v : op.getInputs()) {
      SmallVector<OpFoldResult> offs(rank, rw.getIndexAttr(0)), sizes, strides(rank, rw.getIndexAttr(1));
      offs[axis] = offset;
      for (int64_t i = 0; i < rank; ++i)
        sizes.push_back(getAsOpFoldResult(dimOf(rw, loc, v, i)));
      acc = tensor::InsertSliceOp::create(rw, loc, v, acc, offs, sizes, strides);
      offset = arith::AddIOp::create(rw, loc, offset, dimOf(rw, loc, v, axis));
    }
    rw.replaceOp(op, acc);
    return success();
  }
};

struct SliceLowering : public OpRewritePattern<onnx::SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::SliceOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getData();
    auto xt = cast<RankedTensorType>(x.getType());
    auto outType = cast<RankedTensorType>(op.getType());
    int64_t rank = xt.getRank();
    int64_t n = cast<RankedTensorType>(op.getStarts().getType()).getDimSize(0);
    SmallVector<int64_t> axes, steps(n, 1);
    DenseIntElementsAttr attr;
    if (!isa<NoneType>(op.getAxes().getType())) {
      if (!matchPattern(op.getAxes(), m_Constant(&attr)))
        return rw.notifyMatchFailure(op, "axes must be constant");
      for (const APInt &v : attr.getValues<APInt>())
        axes.push_back(v.getSExtValue() < 0 ? v.getSExtValue() + rank : v.getSExtValue());
    } else {
      for (int64_t i = 0; i < n; ++i)
        axes.push_back(i);
    }
    if (!isa<NoneType>(op.getSteps().getType())) {
      if (!matchPattern(op.getSteps(), m_Constant(&attr)))
        return rw.notifyMatchFailure(op, "steps must be constant");
      steps.clear();
      for (const APInt &v : attr.getValues<APInt>())
        steps.push_back(v.getSExtValue());
    }
    SmallVector<Value> offs, sizes;
    SmallVector<int64_t> strides(rank, 1);
    for (int64_t i = 0; i < rank; ++i) {
      offs.push_back(indexConst(rw, loc, 0));
      sizes.push_back(dimOf(rw, loc, x, i));
    }
    bool negative = false;
    auto clamp = [&](Value v, Value lo, Value hi) {
      Value a = arith::MaxSIOp::create(rw, loc, v, lo);
      return arith::MinSIOp::create(rw, loc, a, hi).getResult();
    };
    for (int64_t k = 0; k < n; ++k) {
      int64_t ax = axes[k], step = steps[k];
      Value d = fromIndex(rw, loc, dimOf(rw, loc, x, ax), rw.getI64Type());
      Value s = extractI64(rw, loc, op.getStarts(), k);
      Value e = extractI64(rw, loc, op.getEnds(), k);
      Value zero = i64Const(rw, loc, 0);
      Value isNegS = cmpI(rw, loc, arith::CmpIPredicate::slt, s, zero);
      Value isNegE = cmpI(rw, loc, arith::CmpIPredicate::slt, e, zero);
      s = selectI(rw, loc, isNegS, arith::AddIOp::create(rw, loc, s, d), s);
      e = selectI(rw, loc, isNegE, arith::AddIOp::create(rw, loc, e, d), e);
      Value size;
      if (step > 0) {
        s = clamp(s, zero, d);
        e = clamp(e, zero, d);
        Value diff = arith::SubIOp::create(rw, loc, e, s);
        size = arith::CeilDivSIOp::create(rw, loc, diff, i64Const(rw, loc, step));
      } else {
        Value dm1 = arith::SubIOp::create(rw, loc, d, i64Const(rw, loc, 1));
        s = clamp(s, zero, dm1);
        e = clamp(e, i64Const(rw, loc, -1), dm1);
        Value diff = arith::SubIOp::create(rw, loc, s, e);
        size = arith::CeilDivSIOp::create(rw, loc, diff, i64Const(rw, loc, -step));
        negative = true;
      }
      size = arith::MaxSIOp::create(rw, loc, size, zero);
      offs[ax] = toIndex(rw, loc, s);
      sizes[ax] = toIndex(rw, loc, size);
      strides[ax] = step;
    }
    for (int64_t i = 0; i < rank; ++i)
      if (!outType.isDynamicDim(i))
        sizes[i] = indexConst(rw, loc, outType.getDimSize(i));
    if (!negative) {
      SmallVector<OpFoldResult> o = getAsOpFoldResult(ValueRange(offs)),
                                sz = getAsOpFoldResult(ValueRange(sizes)), st;
      for (int64_t s : strides)
        st.push_back(rw.getIndexAttr(s));
      auto slice = tensor::ExtractSliceOp::create(rw, loc, outType, x, o, sz, st);
      rw.replaceOp(op, slice.getResult());
      return success();
    }
    // Negative steps: gather element by element.
    Value init = emptyTensor(rw, loc, outType, sizes);
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    Value r = linalg::GenericOp::create(
                  rw, loc, TypeRange{outType}, ValueRange{}, ValueRange{init},
                  SmallVector<AffineMap>{rw.getMultiDimIdentityMap(rank)}, iters,
                  [&](OpBuilder &b, Location l, ValueRange) {
                    SmallVector<Value> idx;
                    for (int64_t i = 0; i < rank; ++i) {
                      Value iv = linalg::IndexOp::create(b, l, i);
                      Value scaled = arith::MulIOp::create(b, l, iv, indexConst(b, l, strides[i]));
                      idx.push_back(arith::AddIOp::create(b, l, offs[i], scaled));
                    }
                    linalg::YieldOp::create(b, l, tensor::ExtractOp::create(b, l, x, idx).getResult());
                  })
                  .getResult(0);
    rw.replaceOp(op, r);
    return success();
  }
};

struct GatherLowering : public OpRewritePattern<onnx::GatherOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GatherOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value data = op.getData(), ids = op.getIndices();
    auto dt = cast<RankedTensorType>(data.getType());
    auto it = cast<RankedTensorType>(ids.getType());
    auto outType = cast<RankedTensorType>(op.getType());
    int64_t r = dt.getRank(), q = it.getRank();
    int64_t axis = op.getAxis().value_or(0);
    if (axis < 0)
      axis += r;
    SmallVector<Value> dims;
    for (int64_t i = 0; i < axis; ++i)
      dims.push_back(dimOf(rw, loc, data, i));
    for (int64_t i = 0; i < q; ++i)
      dims.push_back(dimOf(rw, loc, ids, i));
    for (int64_t i = axis + 1; i < r; ++i)
      dims.push_back(dimOf(rw, loc, data, i));
    Value init = emptyTensor(rw, loc, outType, dims);
    int64_t outRank = outType.getRank();
    SmallVector<AffineExpr> idExprs;
    for (int64_t i = 0; i < q; ++i)
      idExprs.push_back(rw.getAffineDimExpr(axis + i));
    SmallVector<AffineMap> maps{AffineMap::get(outRank, 0, idExprs, rw.getContext()),
                                rw.getMultiDimIdentityMap(outRank)};
    SmallVector<utils::IteratorType> iters(outRank, utils::IteratorType::parallel);
    Value axisDim = dimOf(rw, loc, data, axis);
    Value res = linalg::GenericOp::create(
                    rw, loc, TypeRange{outType}, ValueRange{ids}, ValueRange{init}, maps, iters,
                    [&](OpBuilder &b, Location l, ValueRange args) {
                      Value id = toIndex(b, l, args[0]);
                      Value zero = indexConst(b, l, 0);
                      Value isNeg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, id, zero);
                      id = arith::SelectOp::create(b, l, isNeg, arith::AddIOp::create(b, l, id, axisDim), id);
                      // Out-of-range ids are clamped rather than read out of bounds.
                      Value hi = arith::SubIOp::create(b, l, axisDim, indexConst(b, l, 1));
                      id = arith::MaxSIOp::create(b, l, arith::MinSIOp::create(b, l, id, hi), zero);
                      SmallVector<Value> idx;
                      for (int64_t i = 0; i < axis; ++i)
                        idx.push_back(linalg::IndexOp::create(b, l, i));
                      idx.push_back(id);
                      for (int64_t i = axis + 1; i < r; ++i)
                        idx.push_back(linalg::IndexOp::create(b, l, i + q - 1));
                      linalg::YieldOp::create(b, l, tensor::ExtractOp::create(b, l, data, idx).getResult());
                    })
                    .getResult(0);
    rw.replaceOp(op, res);
    return success();
  }
};

struct ExpandLowering : public OpRewritePattern<onnx::ExpandOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ExpandOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = cast<RankedTensorType>(x.getType());
    auto outType = cast<RankedTensorType>(op.getType());
    int64_t rank = outType.getRank(), off = rank - xt.getRank();
    int64_t shapeLen = cast<RankedTensorType>(op.getShape().getType()).getDimSize(0);
    SmallVector<Value> dims;
    for (int64_t i = 0; i < rank; ++i) {
      if (!outType.isDynamicDim(i)) {
        dims.push_back(indexConst(rw, loc, outType.getDimSize(i)));
        continue;
      }
      int64_t j = i - off;
      if (j >= 0 && xt.getDimSize(j) != 1) {
        dims.push_back(dimOf(rw, loc, x, j));
        continue;
      }
      int64_t s = i - (rank - shapeLen);
      dims.push_back(s >= 0 ? extractIndex(rw, loc, op.getShape(), s)
                            : indexConst(rw, loc, 1));
    }
    Value init = emptyTensor(rw, loc, outType, dims);
    SmallVector<AffineMap> maps{broadcastMap(outType, x), rw.getMultiDimIdentityMap(rank)};
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    Value r = linalg::GenericOp::create(
                  rw, loc, TypeRange{outType}, ValueRange{x}, ValueRange{init}, maps, iters,
                  [](OpBuilder &b, Location l, ValueRange a) { linalg::YieldOp::create(b, l, a[0]); })
                  .getResult(0);
    rw.replaceOp(op, r);
    return success();
  }
};

struct ShapeLowering : public OpRewritePattern<onnx::ShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ShapeOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getData();
    int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
    int64_t start = op.getStart().value_or(0), end = op.getEnd().value_or(rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, 0, rank);
    SmallVector<Value> elems;
    for (int64_t i = start; i < end; ++i)
      elems.push_back(fromIndex(rw, loc, dimOf(rw, loc, x, i), rw.getI64Type()));
    rw.replaceOp(op, tensor::FromElementsOp::create(rw, loc, op.getType(), elems).getResult());
    return success();
  }
};

struct SizeLowering : public OpRewritePattern<onnx::SizeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::SizeOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getData();
    Value p = indexConst(rw, loc, 1);
    for (int64_t i = 0; i < cast<RankedTensorType>(x.getType()).getRank(); ++i)
      p = arith::MulIOp::create(rw, loc, p, dimOf(rw, loc, x, i));
    Value v = fromIndex(rw, loc, p, rw.getI64Type());
    rw.replaceOp(op, tensor::FromElementsOp::create(rw, loc, op.getType(), ValueRange{v}).getResult());
    return success();
  }
};

struct ConstantOfShapeLowering : public OpRewritePattern<onnx::ConstantOfShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::ConstantOfShapeOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto outType = cast<RankedTensorType>(op.getType());
    SmallVector<Value> dims;
    for (int64_t i = 0; i < outType.getRank(); ++i)
      dims.push_back(outType.isDynamicDim(i) ? extractIndex(rw, loc, op.getInput(), i)
                                             : indexConst(rw, loc, outType.getDimSize(i)));
    Type et = outType.getElementType();
    Value fill;
    if (auto v = op.getValue()) {
      auto dense = dyn_cast<DenseElementsAttr>(*v);
      if (!dense)
        return rw.notifyMatchFailure(op, "value must be dense");
      if (isa<FloatType>(et))
        fill = arith::ConstantOp::create(rw, loc, rw.getFloatAttr(et, (*dense.getValues<APFloat>().begin()).convertToDouble()));
      else
        fill = arith::ConstantOp::create(rw, loc, rw.getIntegerAttr(et, *dense.getValues<APInt>().begin()));
    } else {
      fill = scalarConst(rw, loc, et, 0);
    }
    rw.replaceOp(op, filledTensor(rw, loc, outType, dims, fill));
    return success();
  }
};

struct RangeLowering : public OpRewritePattern<onnx::RangeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::RangeOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto outType = cast<RankedTensorType>(op.getType());
    Type et = outType.getElementType();
    auto scalar = [&](Value t) {
      auto tt = cast<RankedTensorType>(t.getType());
      SmallVector<Value> idx(tt.getRank(), indexConst(rw, loc, 0));
      return tensor::ExtractOp::create(rw, loc, t, idx).getResult();
    };
    Value start = scalar(op.getStart()), limit = scalar(op.getLimit()), delta = scalar(op.getDelta());
    bool isF = isa<FloatType>(et);
    Value n;
    if (!outType.isDynamicDim(0)) {
      n = indexConst(rw, loc, outType.getDimSize(0));
    } else if (isF) {
      Value q = arith::DivFOp::create(rw, loc, arith::SubFOp::create(rw, loc, limit, start), delta);
      Value c = math::CeilOp::create(rw, loc, q);
      Value ci = arith::FPToSIOp::create(rw, loc, rw.getI64Type(), c);
      n = toIndex(rw, loc, arith::MaxSIOp::create(rw, loc, ci, i64Const(rw, loc, 0)));
    } else {
      Value l = castScalar(rw, loc, limit, rw.getI64Type());
      Value s = castScalar(rw, loc, start, rw.getI64Type());
      Value d = castScalar(rw, loc, delta, rw.getI64Type());
      Value q = arith::CeilDivSIOp::create(rw, loc, arith::SubIOp::create(rw, loc, l, s), d);
      n = toIndex(rw, loc, arith::MaxSIOp::create(rw, loc, q, i64Const(rw, loc, 0)));
    }
    Value init = emptyTensor(rw, loc, outType, {n});
    Value r = linalg::GenericOp::create(
                  rw, loc, TypeRange{outType}, ValueRange{}, ValueRange{init},
                  SmallVector<AffineMap>{rw.getMultiDimIdentityMap(1)},
                  SmallVector<utils::IteratorType>{utils::IteratorType::parallel},
                  [&](OpBuilder &b, Location l, ValueRange) {
                    Value i = linalg::IndexOp::create(b, l, 0);
                    Value iv = castScalar(b, l, fromIndex(b, l, i, b.getI64Type()), et);
                    Value v = isF ? arith::AddFOp::create(b, l, start, arith::MulFOp::create(b, l, iv, delta)).getResult()
                                  : arith::AddIOp::create(b, l, start, arith::MulIOp::create(b, l, iv, delta)).getResult();
                    linalg::YieldOp::create(b, l, v);
                  })
                  .getResult(0);
    rw.replaceOp(op, r);
    return success();
  }
};

struct TriluLowering : public OpRewritePattern<onnx::TriluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::TriluOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto outType = cast<RankedTensorType>(op.getType());
    int64_t rank = outType.getRank();
    if (rank < 2)
      return rw.notifyMatchFailure(op, "Trilu needs rank >= 2");
    bool upper = op.getUpper().value_or(1);
    Value k = isa<NoneType>(op.getK().getType()) ? i64Const(rw, loc, 0)
                                                  : extractI64(rw, loc, op.getK(), 0);
    SmallVector<Value> dims;
    for (int64_t i = 0; i < rank; ++i)
      dims.push_back(dimOf(rw, loc, x, i));
    Value init = emptyTensor(rw, loc, outType, dims);
    Type et = outType.getElementType();
    SmallVector<AffineMap> maps(2, rw.getMultiDimIdentityMap(rank));
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    Value r = linalg::GenericOp::create(
                  rw, loc, TypeRange{outType}, ValueRange{x}, ValueRange{init}, maps, iters,
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    Value row = fromIndex(b, l, linalg::IndexOp::create(b, l, rank - 2), b.getI64Type());
                    Value col = fromIndex(b, l, linalg::IndexOp::create(b, l, rank - 1), b.getI64Type());
                    Value diff = arith::SubIOp::create(b, l, col, row);
                    Value keep = arith::CmpIOp::create(b, l, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle, diff, k);
                    linalg::YieldOp::create(b, l, arith::SelectOp::create(b, l, keep, a[0], scalarConst(b, l, et, 0)).getResult());
                  })
                  .getResult(0);
    rw.replaceOp(op, r);
    return success();
  }
};

struct TileLowering : public OpRewritePattern<onnx::TileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::TileOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto outType = cast<RankedTensorType>(op.getType());
    int64_t rank = outType.getRank();
    SmallVector<Value> inDims, dims;
    for (int64_t i = 0; i < rank; ++i) {
      inDims.push_back(dimOf(rw, loc, x, i));
      dims.push_back(outType.isDynamicDim(i)
                         ? arith::MulIOp::create(rw, loc, inDims[i], extractIndex(rw, loc, op.getRepeats(), i)).getResult()
                         : indexConst(rw, loc, outType.getDimSize(i)));
    }
    Value init = emptyTensor(rw, loc, outType, dims);
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    Value r = linalg::GenericOp::create(
                  rw, loc, TypeRange{outType}, ValueRange{}, ValueRange{init},
                  SmallVector<AffineMap>{rw.getMultiDimIdentityMap(rank)}, iters,
                  [&](OpBuilder &b, Location l, ValueRange) {
                    SmallVector<Value> idx;
                    for (int64_t i = 0; i < rank; ++i)
                      idx.push_back(arith::RemUIOp::create(b, l, linalg::IndexOp::create(b, l, i), inDims[i]));
                    linalg::YieldOp::create(b, l, tensor::ExtractOp::create(b, l, x, idx).getResult());
                  })
                  .getResult(0);
    rw.replaceOp(op, r);
    return success();
  }
};

} // namespace

void llmc::lowering::populateDataMovementPatterns(RewritePatternSet &patterns) {
  patterns.add<IdentityLowering, ReshapeLowering, ShapeOnlyLowering<onnx::UnsqueezeOp>,
               ShapeOnlyLowering<onnx::SqueezeOp>, ShapeOnlyLowering<onnx::FlattenOp>,
               TransposeLowering, ConcatLowering, SliceLowering, GatherLowering,
               ExpandLowering, ShapeLowering, SizeLowering, ConstantOfShapeLowering,
               RangeLowering, TriluLowering, TileLowering>(patterns.getContext());
}
