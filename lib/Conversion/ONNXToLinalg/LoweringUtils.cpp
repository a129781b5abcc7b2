//===- LoweringUtils.cpp - helpers shared by the ONNX lowerings -----------===//
#include "LoweringUtils.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

namespace llmc::lowering {

Value indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value dimOf(OpBuilder &b, Location loc, Value tensor, int64_t i) {
  auto t = cast<RankedTensorType>(tensor.getType());
  if (!t.isDynamicDim(i))
    return indexConst(b, loc, t.getDimSize(i));
  return tensor::DimOp::create(b, loc, tensor, i);
}

SmallVector<Value> dynamicDims(RankedTensorType type, ArrayRef<Value> allDims) {
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      dyn.push_back(allDims[i]);
  return dyn;
}

Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type,
                  ArrayRef<Value> allDims) {
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 dynamicDims(type, allDims));
}

Value filledTensor(OpBuilder &b, Location loc, RankedTensorType type,
                   ArrayRef<Value> allDims, Value fillValue) {
  Value empty = emptyTensor(b, loc, type, allDims);
  return linalg::FillOp::create(b, loc, fillValue, empty).getResult(0);
}

Value toIndex(OpBuilder &b, Location loc, Value v) {
  if (v.getType().isIndex())
    return v;
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

Value fromIndex(OpBuilder &b, Location loc, Value idx, Type intType) {
  return arith::IndexCastOp::create(b, loc, intType, idx);
}

Value extractIndex(OpBuilder &b, Location loc, Value tensor, int64_t i) {
  auto t = cast<RankedTensorType>(tensor.getType());
  SmallVector<Value> idx;
  if (t.getRank() == 1)
    idx.push_back(indexConst(b, loc, i));
  Value v = tensor::ExtractOp::create(b, loc, tensor, idx);
  return toIndex(b, loc, v);
}

Value scalarConst(OpBuilder &b, Location loc, Type t, double v) {
  if (auto ft = dyn_cast<FloatType>(t))
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(ft, v));
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(t, (int64_t)v));
}

Value lowestValue(OpBuilder &b, Location loc, Type t) {
  if (auto ft = dyn_cast<FloatType>(t))
    return arith::ConstantOp::create(
        b, loc, b.getFloatAttr(ft, APFloat::getInf(ft.getFloatSemantics(), true)));
  unsigned w = t.getIntOrFloatBitWidth();
  return arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(t, w == 1 ? APInt(1, 0) : APInt::getSignedMinValue(w)));
}

Value highestValue(OpBuilder &b, Location loc, Type t) {
  if (auto ft = dyn_cast<FloatType>(t))
    return arith::ConstantOp::create(
        b, loc, b.getFloatAttr(ft, APFloat::getInf(ft.getFloatSemantics(), false)));
  unsigned w = t.getIntOrFloatBitWidth();
  return arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(t, w == 1 ? APInt(1, 1) : APInt::getSignedMaxValue(w)));
}

SmallVector<Value> broadcastOutputDims(OpBuilder &b, Location loc,
                                       RankedTensorType outType,
                                       ValueRange operands) {
  int64_t rank = outType.getRank();
  SmallVector<Value> dims;
  for (int64_t i = 0; i < rank; ++i) {
    if (!outType.isDynamicDim(i)) {
      dims.push_back(indexConst(b, loc, outType.getDimSize(i)));
      continue;
    }
    // Candidates: operand dims aligned with i that are not statically 1.
    SmallVector<Value> candidates;
    for (Value v : operands) {
      auto t = cast<RankedTensorType>(v.getType());
      int64_t j = i - (rank - t.getRank());
      if (j < 0 || t.getDimSize(j) == 1)
        continue;
      candidates.push_back(dimOf(b, loc, v, j));
    }
    if (candidates.empty()) {
      dims.push_back(indexConst(b, loc, 1));
      continue;
    }
    for (size_t c = 1; c < candidates.size(); ++c) {
      Value eq = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                       candidates[0], candidates[c]);
      cf::AssertOp::create(b, loc, eq,
                           "llmc: dynamic dims of a broadcasting op differ");
    }
    dims.push_back(candidates[0]);
  }
  // Static output dims against dynamic operand dims.
  for (Value v : operands) {
    auto t = cast<RankedTensorType>(v.getType());
    for (int64_t j = 0; j < t.getRank(); ++j) {
      int64_t i = j + (rank - t.getRank());
      if (t.isDynamicDim(j) && !outType.isDynamicDim(i) &&
          outType.getDimSize(i) != 1) {
        Value d = dimOf(b, loc, v, j);
        Value eq = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, d,
                                         dims[i]);
        cf::AssertOp::create(
            b, loc, eq,
            "llmc: a dynamic dim is broadcast against a static one (only "
            "equal sizes are supported)");
      }
    }
  }
  return dims;
}

AffineMap broadcastMap(RankedTensorType outType, Value operand) {
  auto t = cast<RankedTensorType>(operand.getType());
  int64_t rank = outType.getRank(), off = rank - t.getRank();
  SmallVector<AffineExpr> exprs;
  MLIRContext *ctx = outType.getContext();
  for (int64_t j = 0; j < t.getRank(); ++j) {
    bool bcast = t.getDimSize(j) == 1 && outType.getDimSize(j + off) != 1;
    exprs.push_back(bcast ? getAffineConstantExpr(0, ctx)
                          : getAffineDimExpr(j + off, ctx));
  }
  return AffineMap::get(rank, 0, exprs, ctx);
}

Value buildElementwise(OpBuilder &b, Location loc, RankedTensorType outType,
                       ValueRange operands, ScalarBuilder body) {
  SmallVector<Value> dims = broadcastOutputDims(b, loc, outType, operands);
  Value init = emptyTensor(b, loc, outType, dims);
  SmallVector<AffineMap> maps;
  for (Value v : operands)
    maps.push_back(broadcastMap(outType, v));
  maps.push_back(b.getMultiDimIdentityMap(outType.getRank()));
  SmallVector<utils::IteratorType> iters(outType.getRank(),
                                         utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{outType}, operands, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value r = body(nb, nl, args.drop_back());
        linalg::YieldOp::create(nb, nl, r);
      });
  return generic.getResult(0);
}

Value reshapeTo(OpBuilder &b, Location loc, Value x, RankedTensorType outType,
                ArrayRef<Value> outDims) {
  auto inType = cast<RankedTensorType>(x.getType());
  if (inType == outType)
    return x;
  SmallVector<Value> elems;
  for (int64_t i = 0; i < outType.getRank(); ++i)
    elems.push_back(outType.isDynamicDim(i)
                        ? outDims[i]
                        : indexConst(b, loc, outType.getDimSize(i)));
  auto shapeType = RankedTensorType::get({outType.getRank()}, b.getIndexType());
  Value shape = tensor::FromElementsOp::create(b, loc, shapeType, elems);
  return tensor::ReshapeOp::create(b, loc, outType, x, shape);
}

Value buildMulAccumulate(OpBuilder &b, Location loc, RankedTensorType outType, Value lhs,
                         Value rhs, Value init, ArrayRef<AffineMap> maps,
                         ArrayRef<utils::IteratorType> iterators) {
  bool isF = isa<FloatType>(outType.getElementType());
  return linalg::GenericOp::create(
             b, loc, TypeRange{outType}, ValueRange{lhs, rhs}, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &nb, Location l, ValueRange a) {
               Value p = isF ? arith::MulFOp::create(nb, l, a[0], a[1]).getResult()
                             : arith::MulIOp::create(nb, l, a[0], a[1]).getResult();
               Value s = isF ? arith::AddFOp::create(nb, l, a[2], p).getResult()
                             : arith::AddIOp::create(nb, l, a[2], p).getResult();
               linalg::YieldOp::create(nb, l, s);
             })
      .getResult(0);
}

MemRefType stridedMemRefType(RankedTensorType t) {
  SmallVector<int64_t> strides(t.getRank(), ShapedType::kDynamic);
  auto layout = StridedLayoutAttr::get(t.getContext(), ShapedType::kDynamic, strides);
  return MemRefType::get(t.getShape(), t.getElementType(), layout);
}

Value castScalar(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  auto ff = dyn_cast<FloatType>(from);
  auto ft = dyn_cast<FloatType>(to);
  if (ff && ft) {
    if (ff.getWidth() == ft.getWidth()) // bf16 <-> f16: through f32
      v = arith::ExtFOp::create(b, loc, b.getF32Type(), v);
    return cast<FloatType>(v.getType()).getWidth() < ft.getWidth()
               ? arith::ExtFOp::create(b, loc, to, v).getResult()
               : arith::TruncFOp::create(b, loc, to, v).getResult();
  }
  if (ff && to.isInteger(1)) {
    Value zero = scalarConst(b, loc, from, 0);
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v, zero);
  }
  if (ff)
    return arith::FPToSIOp::create(b, loc, to, v);
  if (ft)
    return from.isInteger(1) ? arith::UIToFPOp::create(b, loc, to, v).getResult()
                             : arith::SIToFPOp::create(b, loc, to, v).getResult();
  unsigned wf = from.getIntOrFloatBitWidth(), wt = to.getIntOrFloatBitWidth();
  if (wt == 1) {
    Value zero = scalarConst(b, loc, from, 0);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero);
  }
  if (wf < wt)
    return wf == 1 ? arith::ExtUIOp::create(b, loc, to, v).getResult()
                   : arith::ExtSIOp::create(b, loc, to, v).getResult();
  return arith::TruncIOp::create(b, loc, to, v);
}

} // namespace llmc::lowering
