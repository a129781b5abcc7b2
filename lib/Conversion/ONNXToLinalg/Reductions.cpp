//===- Reductions.cpp - ONNX reductions and softmax to linalg -------------===//
#include "LoweringUtils.h"

#include "llmc/Dialect/ONNX/ONNXDialect.h"

#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace llmc;
using namespace llmc::lowering;

namespace {

/// Map from the input's loop nest to an output where the dims in `reduced`
/// are dropped (keepDims = false) or read at index 0 (keepDims = true).
AffineMap reducedMap(int64_t rank, ArrayRef<bool> reduced, bool keepDims,
                     MLIRContext *ctx) {
  SmallVector<AffineExpr> e;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      e.push_back(getAffineDimExpr(i, ctx));
    else if (keepDims)
      e.push_back(getAffineConstantExpr(0, ctx));
  }
  return AffineMap::get(rank, 0, e, ctx);
}

using Combine = llvm::function_ref<Value(OpBuilder &, Location, Value in,
                                         Value acc)>;

/// Reduces `x` over `reduced` dims into `outType`, starting from `init`.
Value reduce(OpBuilder &b, Location loc, Value x, ArrayRef<bool> reduced,
             bool keepDims, RankedTensorType outType, Value initValue,
             Combine combine, ValueRange extraInputs = {},
             ArrayRef<AffineMap> extraMaps = {}) {
  auto xt = cast<RankedTensorType>(x.getType());
  int64_t rank = xt.getRank();
  SmallVector<Value> outDims;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      outDims.push_back(dimOf(b, loc, x, i));
    else if (keepDims)
      outDims.push_back(indexConst(b, loc, 1));
  }
  Value init = filledTensor(b, loc, outType, outDims, initValue);
  SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(rank)};
  SmallVector<Value> inputs{x};
  for (auto [v, m] : llvm::zip(extraInputs, extraMaps)) {
    inputs.push_back(v);
    maps.push_back(m);
  }
  maps.push_back(reducedMap(rank, reduced, keepDims, b.getContext()));
  SmallVector<utils::IteratorType> iters;
  for (int64_t i = 0; i < rank; ++i)
    iters.push_back(reduced[i] ? utils::IteratorType::reduction
                               : utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{outType}, inputs, ValueRange{init}, maps, iters,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value in = args[0];
               if (args.size() > 2) // extra input: subtract it (softmax max)
                 in = math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, in, args[1]));
               linalg::YieldOp::create(nb, l, combine(nb, l, in, args.back()));
             })
      .getResult(0);
}

struct ReduceLowering : public RewritePattern {
  ReduceLowering(StringRef name, MLIRContext *ctx) : RewritePattern(name, 1, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    Location loc = op->getLoc();
    StringRef kind = op->getName().stripDialect();
    Value x = op->getOperand(0);
    auto xt = cast<RankedTensorType>(x.getType());
    auto outType = cast<RankedTensorType>(op->getResult(0).getType());
    Type et = xt.getElementType();
    if (et.isUnsignedInteger())
      return rewriter.notifyMatchFailure(op, "unsigned reductions are not supported");
    bool isF = isa<FloatType>(et);
    int64_t rank = xt.getRank();

    // Axes: attribute (old opsets) or constant input; the importer already
    // required them to be compile-time constants.
    SmallVector<int64_t> axes;
    bool haveAxes = false;
    if (auto a = op->getAttrOfType<ArrayAttr>("axes")) {
      haveAxes = true;
      for (auto v : a.getAsValueRange<IntegerAttr>())
        axes.push_back(v.getSExtValue());
    } else if (!isa<NoneType>(op->getOperand(1).getType())) {
      DenseIntElementsAttr da;
      if (!matchPattern(op->getOperand(1), m_Constant(&da)))
        return rewriter.notifyMatchFailure(op, "axes must be constant");
      haveAxes = true;
      for (const APInt &v : da.getValues<APInt>())
        axes.push_back(v.getSExtValue());
    }
    auto keepAttr = op->getAttrOfType<IntegerAttr>("keepdims");
    bool keep = !keepAttr || keepAttr.getInt() != 0;
    auto noopAttr = op->getAttrOfType<IntegerAttr>("noop_with_empty_axes");
    bool noop = noopAttr && noopAttr.getInt() != 0;
    SmallVector<bool> reduced(rank, false);
    if ((!haveAxes || axes.empty())) {
      if (noop) {
        rewriter.replaceOp(op, x);
        return success();
      }
      reduced.assign(rank, true);
    }
    for (int64_t a : axes)
      reduced[a < 0 ? a + rank : a] = true;

    auto add = [&](OpBuilder &b, Location l, Value in, Value acc) -> Value {
      return isF ? arith::AddFOp::create(b, l, in, acc).getResult()
                 : arith::AddIOp::create(b, l, in, acc).getResult();
    };
    Value init;
    Value r;
    if (kind == "ReduceMax" || kind == "ReduceMin") {
      bool mx = kind == "ReduceMax";
      init = mx ? lowestValue(rewriter, loc, et) : highestValue(rewriter, loc, et);
      r = reduce(rewriter, loc, x, reduced, keep, outType, init,
                 [&](OpBuilder &b, Location l, Value in, Value acc) -> Value {
                   if (isF)
                     return mx ? arith::MaximumFOp::create(b, l, in, acc).getResult()
                               : arith::MinimumFOp::create(b, l, in, acc).getResult();
                   if (et.isInteger(1)) // bool: true > false (unsigned order)
                     return mx ? arith::MaxUIOp::create(b, l, in, acc).getResult()
                               : arith::MinUIOp::create(b, l, in, acc).getResult();
                   return mx ? arith::MaxSIOp::create(b, l, in, acc).getResult()
                             : arith::MinSIOp::create(b, l, in, acc).getResult();
                 });
    } else if (kind == "ReduceProd") {
      r = reduce(rewriter, loc, x, reduced, keep, outType,
                 scalarConst(rewriter, loc, et, 1),
                 [&](OpBuilder &b, Location l, Value in, Value acc) -> Value {
                   return isF ? arith::MulFOp::create(b, l, in, acc).getResult()
                              : arith::MulIOp::create(b, l, in, acc).getResult();
                 });
    } else if (kind == "ReduceSumSquare" || kind == "ReduceL2") {
      r = reduce(rewriter, loc, x, reduced, keep, outType,
                 scalarConst(rewriter, loc, et, 0),
                 [&](OpBuilder &b, Location l, Value in, Value acc) -> Value {
                   Value sq = isF ? arith::MulFOp::create(b, l, in, in).getResult()
                                  : arith::MulIOp::create(b, l, in, in).getResult();
                   return add(b, l, sq, acc);
                 });
      if (kind == "ReduceL2") {
        if (!isF)
          return rewriter.notifyMatchFailure(op, "ReduceL2 needs floats");
        r = buildElementwise(rewriter, loc, outType, {r},
                             [&](OpBuilder &b, Location l, ValueRange v) -> Value {
                               return math::SqrtOp::create(b, l, v[0]);
                             });
      }
    } else { // ReduceSum, ReduceMean
      r = reduce(rewriter, loc, x, reduced, keep, outType,
                 scalarConst(rewriter, loc, et, 0), add);
      if (kind == "ReduceMean") {
        Value count = indexConst(rewriter, loc, 1);
        for (int64_t i = 0; i < rank; ++i)
          if (reduced[i])
            count = arith::MulIOp::create(rewriter, loc, count, dimOf(rewriter, loc, x, i));
        Value cnt64 = fromIndex(rewriter, loc, count, rewriter.getI64Type());
        Value cntE = isF ? arith::SIToFPOp::create(rewriter, loc, et, cnt64).getResult()
                         : castScalar(rewriter, loc, cnt64, et);
        r = buildElementwise(rewriter, loc, outType, {r},
                             [&](OpBuilder &b, Location l, ValueRange v) -> Value {
                               return isF ? arith::DivFOp::create(b, l, v[0], cntE).getResult()
                                          : arith::DivSIOp::create(b, l, v[0], cntE).getResult();
                             });
      }
    }
    rewriter.replaceOp(op, r);
    return success();
  }
};

template <typename OpTy, bool isLog>
struct SoftmaxLowering : public OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = cast<RankedTensorType>(x.getType());
    Type et = xt.getElementType();
    if (!isa<FloatType>(et))
      return rewriter.notifyMatchFailure(op, "softmax needs floats");
    int64_t rank = xt.getRank();
    int64_t axis = op.getAxis() ? *op.getAxis() : -1;
    if (axis < 0)
      axis += rank;
    SmallVector<bool> reduced(rank, false);
    reduced[axis] = true;
    SmallVector<int64_t> rshape;
    for (int64_t i = 0; i < rank; ++i)
      if (i != axis)
        rshape.push_back(xt.getDimSize(i));
    auto rtype = RankedTensorType::get(rshape, et);
    MLIRContext *ctx = rewriter.getContext();
    AffineMap toReduced = reducedMap(rank, reduced, false, ctx);
    Value mx = reduce(rewriter, loc, x, reduced, false, rtype,
                      lowestValue(rewriter, loc, et),
                      [](OpBuilder &b, Location l, Value in, Value acc) -> Value {
                        return arith::MaximumFOp::create(b, l, in, acc);
                      });
    Value sum = reduce(rewriter, loc, x, reduced, false, rtype,
                       scalarConst(rewriter, loc, et, 0),
                       [](OpBuilder &b, Location l, Value in, Value acc) -> Value {
                         return arith::AddFOp::create(b, l, in, acc);
                       },
                       ValueRange{mx}, {toReduced});
    SmallVector<Value> dims;
    for (int64_t i = 0; i < rank; ++i)
      dims.push_back(dimOf(rewriter, loc, x, i));
    Value init = emptyTensor(rewriter, loc, xt, dims);
    SmallVector<AffineMap> maps{rewriter.getMultiDimIdentityMap(rank), toReduced,
                                toReduced, rewriter.getMultiDimIdentityMap(rank)};
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    Value r = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{xt}, ValueRange{x, mx, sum},
                  ValueRange{init}, maps, iters,
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    Value shifted = arith::SubFOp::create(b, l, a[0], a[1]);
                    Value out;
                    if (isLog)
                      out = arith::SubFOp::create(b, l, shifted, math::LogOp::create(b, l, a[2]));
                    else
                      out = arith::DivFOp::create(b, l, math::ExpOp::create(b, l, shifted), a[2]);
                    linalg::YieldOp::create(b, l, out);
                  })
                  .getResult(0);
    rewriter.replaceOp(op, r);
    return success();
  }
};

} // namespace

void llmc::lowering::populateReductionPatterns(RewritePatternSet &patterns) {
  for (const char *n : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
                        "ReduceProd", "ReduceSumSquare", "ReduceL2"})
    patterns.add<ReduceLowering>(std::string("onnx.") + n, patterns.getContext());
  patterns.add<SoftmaxLowering<onnx::SoftmaxOp, false>,
               SoftmaxLowering<onnx::LogSoftmaxOp, true>>(patterns.getContext());
}
